"""The eval stage: serve each GGUF with dagserve, answer the held-out prompts, judge, compare."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dageval
from airflow_net.pipeline.config import EvalSection
from airflow_net.pipeline.runner import Report
from airflow_net.pipeline.stages import environ
from dagserve import ServeConfig, start_server, stop_server


def _generate(
    section: EvalSection, prompts: list[dageval.Prompt], gguf: Path, folder: Path, name: str, report: Report
) -> list[dageval.Sample]:
    """A private dagserve for this model (its own state folder), stopped whatever happens."""
    with environ(DAGSERVE_HOME=str(folder / "server")):
        info = start_server(ServeConfig(model=str(gguf), port=0, parallel=section.parallel, ctx=section.ctx))
        try:
            config = dageval.GenerateConfig(
                endpoint=f"{info.url}/v1",
                n=section.n,
                max_tokens=section.max_tokens,
                temperature=section.temperature,
                concurrency=section.parallel,
                extra=section.sampling,
            )
            return dageval.generate(
                prompts, config, folder / "completions.jsonl", progress=lambda d, t: report(f"{name}: generating", d, t)
            )
        finally:
            stop_server()


def run_eval(
    section: EvalSection, prompts_file: Path, models: dict[str, Path], folder: Path, report: Report
) -> dict[str, Any]:
    target = dageval.Level.from_label(section.level, "eval.level")
    prompts = dageval.read_prompts(prompts_file)
    if section.max_prompts:
        prompts = prompts[: section.max_prompts]
    verdicts: dict[str, list[dageval.Verdict]] = {}
    rates: dict[str, dict[str, float]] = {}
    for name, gguf in models.items():
        sub = folder / name
        sub.mkdir(parents=True, exist_ok=True)
        samples = _generate(section, prompts, gguf, sub, name, report)

        def step(stage: str, done: int, total: int, name: str = name) -> None:
            report(f"{name}: {stage}", done, total)

        judged = dageval.evaluate(
            samples,
            level=target,
            progress=step,
            import_workers=section.workers,
            install_providers=section.install_providers,
        )
        summary = dageval.summarize(judged, target)
        (sub / "verdicts.jsonl").write_text("".join(v.model_dump_json() + "\n" for v in judged), encoding="utf-8")
        (sub / "summary.json").write_text(summary.model_dump_json(indent=2), encoding="utf-8")
        dageval.write_report(sub, summary, title=f"{name} model")
        verdicts[name] = judged
        rates[name] = {row.level: row.rate for row in summary.levels}
    comparisons = [
        dageval.compare(verdicts["base"], verdicts["tuned"], level) for level in dageval.Level if level <= target
    ]
    (folder / "comparison.json").write_text(
        "[\n" + ",\n".join(c.model_dump_json(indent=2) for c in comparisons) + "\n]\n", encoding="utf-8"
    )
    dageval.write_report(folder, dageval.summarize(verdicts["tuned"], target), comparisons, title="base vs tuned")
    return {
        "prompts": len(prompts),
        "samples_per_prompt": section.n,
        "rates": rates,
        "comparison": [c.model_dump(mode="json") for c in comparisons],
    }
