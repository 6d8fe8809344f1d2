"""The pipeline's report: data counts, the training curve, base vs tuned per level with 95% CIs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from airflow_net.pipeline.config import PipelineConfig
from airflow_net.pipeline.runner import read_record
from dageval.report import html_page


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _num(x: object) -> str:
    return f"{x:.3f}" if isinstance(x, float) else str(x)


def headline(comparison: list[dict[str, Any]]) -> list[str]:
    """The base-vs-tuned table, as Markdown lines (also written to README.md)."""
    lines = [
        "| level | base | tuned | difference (tuned - base) | 95% CI | McNemar p |",
        "|---|---:|---:|---:|---|---:|",
    ]
    for row in comparison:
        lines.append(
            f"| {row['level']} | {_pct(row['base_rate'])} | {_pct(row['tuned_rate'])} | "
            f"{100 * row['difference']:+.1f} pts | [{100 * row['ci_low']:+.1f}, {100 * row['ci_high']:+.1f}] | "
            f"{row['mcnemar_p']:.3g} |"
        )
    return lines


def _categories(folder: Path) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for name in ("base", "tuned"):
        summary = json.loads((folder / name / "summary.json").read_text())
        # The deepest level counts every failure once, under the category of the level where it failed.
        found[name] = dict(summary["levels"][-1]["categories"]) if summary["levels"] else {}
    return found


def write_pipeline_report(config: PipelineConfig, folder: Path) -> Path:
    out = config.out
    records = {
        name: read_record(out / name) for name in ("mine", "instruct", "base", "dataset", "train", "export", "eval")
    }
    summary = {name: (r.summary if r else {}) for name, r in records.items()}
    seconds = {name: (r.seconds if r else 0.0) for name, r in records.items()}
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    lines = [f"# airflow-net pipeline: {config.name}", ""]
    lines += ["## Data", ""]
    mine, instruct, dataset = summary["mine"], summary["instruct"], summary["dataset"]
    excluded = ", ".join(f"{k}={v}" for k, v in (mine.get("excluded") or {}).items() if k != "not_dag") or "none"
    filters = dataset.get("filters") or {}
    lines += [
        "| stage | count |",
        "|---|---:|",
        f"| DAG records mined ({mine.get('refs', 0)} refs; excluded: {excluded}) | {mine.get('records', 0)} |",
        f"| requests written ({instruct.get('backend', '?')}, {instruct.get('model', '?')}) "
        f"| {instruct.get('written', 0)} |",
    ]
    for key, value in filters.items():
        lines.append(f"| dataset filter: {key} | {value} |")
    lines += [
        f"| train conversations | {dataset.get('train', 0)} |",
        f"| test conversations | {dataset.get('test', 0)} |",
        "",
    ]
    train = summary["train"]
    lines += ["## Training", ""]
    lines += [
        f"Base model {Path(summary['base'].get('source', '?')).name}, backend {train.get('backend', '?')}, "
        f"{train.get('steps', 0)} steps: "
        f"train loss {_num(train.get('first_loss'))} -> {_num(train.get('last_loss'))}, "
        f"eval loss {_num(train.get('eval_loss'))}.",
        "",
    ]
    if train.get("loss_plot") and Path(train["loss_plot"]).is_file():
        shutil.copyfile(train["loss_plot"], folder / "plots" / "loss.png")
        lines += ["![training loss](plots/loss.png)", ""]
    evaluation = summary["eval"]
    lines += ["## Base vs tuned", ""]
    lines += [
        f"{evaluation.get('prompts', 0)} held-out prompts, {evaluation.get('samples_per_prompt', 1)} sample(s) each; "
        f"both models quantised alike ({config.base.quant} / {config.export.quant}) and served by dagserve; "
        "validity per level as judged by dageval (the import level loads each file in a real Airflow of the version "
        "its prompt asks for). Differences are paired by prompt; the CI is a paired bootstrap.",
        "",
        *headline(evaluation.get("comparison", [])),
        "",
    ]
    eval_dir = out / "eval"
    if (eval_dir / "plots").is_dir():
        for plot in (eval_dir / "plots").glob("*.png"):
            shutil.copyfile(plot, folder / "plots" / f"eval-{plot.name}")
        if (folder / "plots" / "eval-comparison.png").is_file():
            lines += ["![base vs tuned](plots/eval-comparison.png)", ""]
    if (eval_dir / "base" / "summary.json").is_file():
        categories = _categories(eval_dir)
        names = sorted(set(categories["base"]) | set(categories["tuned"]), key=lambda n: -categories["base"].get(n, 0))
        lines += ["## Why samples failed", "", "| category | base | tuned |", "|---|---:|---:|"]
        lines += [f"| {n} | {categories['base'].get(n, 0)} | {categories['tuned'].get(n, 0)} |" for n in names]
        lines.append("")
    lines += ["## Time", "", "| stage | seconds |", "|---|---:|"]
    lines += [f"| {name} | {s:,.0f} |" for name, s in seconds.items()]
    lines.append("")
    md = "\n".join(lines)
    (folder / "report.md").write_text(md, encoding="utf-8")
    page = folder / "report.html"
    page.write_text(html_page(md, f"airflow-net pipeline: {config.name}"), encoding="utf-8")
    return page
