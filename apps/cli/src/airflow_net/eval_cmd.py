"""`airflow-net eval`: judge generated DAGs level by level; `eval compare`: base vs tuned, paired."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

import dageval
from airflow_net._ui import StageBars, console, progress_bars, summary_table
from dagcore.cli import one_line_errors
from dageval.cli import runtime_app as dageval_runtime_app


class _RunByDefault(TyperGroup):
    """`airflow-net eval FILE ...` means `airflow-net eval run FILE ...`."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: typer vendors its own click
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["run", *args]
        return super().parse_args(ctx, args)


app = typer.Typer(
    cls=_RunByDefault,
    help="Is generated code a valid DAG? Syntax, structure, Airflow lint, real import. "
    "`airflow-net eval FILE` is `airflow-net eval run FILE`.",
    no_args_is_help=True,
)


def _level(name: str) -> dageval.Level:
    return dageval.Level.from_label(name, "--level")


@app.command("run")
@one_line_errors
def run(
    samples: Annotated[
        Path | None,
        typer.Argument(
            help="JSONL of completions (chat or prompt/completion) or a .py folder; with --endpoint, a prompt set: "
            "request rows {id, request, airflow_version, tags, expect}, the dataset's test.jsonl, or none for the "
            "bundled request benchmark."
        ),
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("out/eval"),
    airflow: Annotated[str | None, typer.Option(help="Airflow version for samples that do not name one.")] = None,
    level: Annotated[
        str,
        typer.Option(help="Highest level: extract, syntax, structure, lint, import (a real Airflow), intent."),
    ] = "intent",
    workers: Annotated[int, typer.Option(help="Airflow worker processes (import level).")] = 2,
    providers: Annotated[bool, typer.Option(help="Install the providers the files import (import level).")] = True,
    endpoint: Annotated[
        str | None, typer.Option(help="Generate first: an OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1.")
    ] = None,
    model: Annotated[str, typer.Option(help="Model name sent to --endpoint.")] = "default",
    n: Annotated[int, typer.Option("--n", help="Samples per prompt (pass@k for k <= n).")] = 1,
    temperature: Annotated[float | None, typer.Option(help="Default: 0 for n=1, 0.8 for n>1.")] = None,
    max_tokens: Annotated[int, typer.Option(help="Token limit per completion.")] = 1024,
    concurrency: Annotated[int, typer.Option(help="Requests in flight to --endpoint.")] = 4,
    repairs: Annotated[
        int, typer.Option(help="With --endpoint: run generate-validate-repair with up to N repairs per sample.")
    ] = 0,
) -> None:
    """Write verdicts.jsonl and summary.json (and completions.jsonl when generating)."""
    target = _level(level)
    if samples is None and not endpoint:
        raise dageval.InputError("give SAMPLES to judge, or --endpoint to generate for the request benchmark")
    source = samples or dageval.benchmark_file()
    judge = dageval.Validator(min(target, dageval.Level.IMPORT)) if endpoint and repairs else None
    with progress_bars() as progress, judge or contextlib.nullcontext():
        if endpoint:
            config = dageval.GenerateConfig(
                endpoint=endpoint,
                model=model,
                n=n,
                temperature=temperature,
                max_tokens=max_tokens,
                concurrency=concurrency,
                api_key=os.environ.get("OPENAI_API_KEY"),
                repairs=repairs,
            )
            bar = progress.add_task("generating", total=None)
            items = dageval.generate(
                dageval.read_prompts(source),
                config,
                out / "completions.jsonl",
                progress=lambda done, total: progress.update(bar, completed=done, total=total),
                judge=judge,
            )
        else:
            items = dageval.read_samples(source)
        verdicts = dageval.evaluate(
            items,
            level=target,
            airflow_version=airflow,
            progress=StageBars(progress, {"static": "parsing", "lint": "ruff AIR rules"}),
            import_workers=workers,
            install_providers=providers,
        )
    summary = dageval.summarize(verdicts, target)
    out.mkdir(parents=True, exist_ok=True)
    (out / "verdicts.jsonl").write_text("".join(v.model_dump_json() + "\n" for v in verdicts), encoding="utf-8")
    (out / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
    page = dageval.write_report(out, summary, title=f"dageval: {source.name}")
    rows: list[tuple[str, object]] = [("samples", summary.samples)]
    for row in summary.levels:
        top = ", ".join(f"{k}={v}" for k, v in list(row.categories.items())[:3])
        rows.append((f"{row.level} passed", f"{row.passed:,} ({row.rate:.0%})" + (f"  [{top}]" if top else "")))
    console.print(summary_table("dageval", rows))
    if repairs and endpoint:
        table = dageval.repair_table(items, repairs, min(target, dageval.Level.IMPORT))
        (out / "repairs.json").write_text(json.dumps([r.model_dump() for r in table], indent=2), encoding="utf-8")
        rates = [(f"after {r.repairs} repair(s)", "  ".join(f"{k} {v:.0%}" for k, v in r.rates.items())) for r in table]
        console.print(summary_table("validity after repairs", rates))
    console.print(f"report: {page}")


@app.command("compare")
@one_line_errors
def compare(
    base: Annotated[Path, typer.Argument(help="verdicts.jsonl (or its folder) of the base model.")],
    tuned: Annotated[Path, typer.Argument(help="verdicts.jsonl (or its folder) of the tuned model.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write comparison.json here.")] = None,
) -> None:
    """Paired difference in validity per level, with a bootstrap 95% CI and McNemar's test."""

    def load(path: Path) -> list[dageval.Verdict]:
        file = path / "verdicts.jsonl" if path.is_dir() else path
        if not file.is_file():
            raise dageval.InputError(f"{file} does not exist: run `airflow-net eval run` first")
        return [dageval.Verdict.model_validate_json(line) for line in file.read_text().splitlines() if line.strip()]

    before, after = load(base), load(tuned)
    # As deep as either run got: a base that never passed structure must not hide the tuned model's import level.
    deepest = max((r.level for v in [*before, *after] for r in v.results), default=dageval.Level.LINT)
    results = [dageval.compare(before, after, level) for level in dageval.Level if level <= deepest]
    rows = [
        (
            r.level,
            f"{r.base_rate:.1%} -> {r.tuned_rate:.1%}  diff {r.difference:+.1%} "
            f"[{r.ci_low:+.1%}, {r.ci_high:+.1%}]  McNemar p={r.mcnemar_p:.3g}",
        )
        for r in results
    ]
    console.print(summary_table(f"base vs tuned ({results[0].pairs} pairs)", rows))
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "comparison.json").write_text(json.dumps([r.model_dump() for r in results], indent=2))
        page = dageval.write_report(out, dageval.summarize(after, deepest), results, title="base vs tuned")
        console.print(f"report: {page}")


# One set of runtime commands: dageval's own, so `airflow-net eval runtime` and `dageval runtime` cannot drift.
app.add_typer(dageval_runtime_app, name="runtime")
