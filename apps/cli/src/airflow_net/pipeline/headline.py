"""The headline: base vs tuned on both prompt sets, single-shot with paired CIs and after repairs, as Markdown.

It opens the pipeline's report, and it is what the report stage writes into the README's results block.
"""

from __future__ import annotations

import dageval
from airflow_net.pipeline.stages import Evaluation


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _repairs(n: int) -> str:
    return f"{n} repair" if n == 1 else f"{n} repairs"


def repairs_of(experiment: dageval.Experiment) -> int:
    """N, when each model's validity after 0..N repairs was measured; 0 otherwise."""
    return max(len(experiment.base.repairs) - 1, 0)


def comparison_table(experiment: dageval.Experiment) -> list[str]:
    """Per level: base, tuned, the paired difference with its 95% bootstrap CI and McNemar's p, single-shot; then
    each model's validity after N repairs, where the loop's judge reached that level (it stops at import)."""
    repairs = repairs_of(experiment)
    head = "| level | base | tuned | tuned - base | 95% CI | McNemar p |"
    rule = "|---|---:|---:|---:|---|---:|"
    if repairs:
        head += f" base after {_repairs(repairs)} | tuned after {_repairs(repairs)} |"
        rule += "---:|---:|"
    lines = [head, rule]
    base_after = experiment.base.repairs[-1].rates if repairs else {}
    tuned_after = experiment.tuned.repairs[-1].rates if repairs else {}
    for row in experiment.comparisons:
        line = (
            f"| {row.level} | {_pct(row.base_rate)} | {_pct(row.tuned_rate)} | {100 * row.difference:+.1f} pts | "
            f"[{100 * row.ci_low:+.1f}, {100 * row.ci_high:+.1f}] | {row.mcnemar_p:.3g} |"
        )
        if repairs:
            line += f" {_pct(base_after.get(row.level))} | {_pct(tuned_after.get(row.level))} |"
        lines.append(line)
    return lines


def describe(experiment: dageval.Experiment) -> str:
    """How many prompts, to which level, and how the repairs were judged."""
    base = experiment.base
    deepest = experiment.comparisons[-1].level
    text = f"{base.prompts} prompts, {base.samples_per_prompt} sample(s) each, judged single-shot up to {deepest}"
    if repairs := repairs_of(experiment):
        judged = base.repairs[-1].rates
        text += f"; after up to {_repairs(repairs)} fed with the judge's verdict, up to {list(judged)[-1]}"
    return text + "."


def headline(evaluation: Evaluation, about: str) -> list[str]:
    """`about` (the run: date, model, data), then one table per prompt set."""
    lines = [about, ""]
    for title, experiment in evaluation.sets().items():
        lines += [f"**{title}**: {describe(experiment)}", "", *comparison_table(experiment), ""]
    return lines
