"""The headline: base vs tuned on both prompt sets, single-shot with paired CIs and after repairs, as Markdown.

It opens the pipeline's report, and it is what the report stage writes into the README's results block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dageval
from airflow_net.pipeline.stages import Evaluation
from dagcore import Retry


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _repairs(n: int, retry: Retry) -> str:
    # A retry that shows the model its error is a repair; one that asks afresh is a retry.
    if retry.feedback:
        return "1 repair" if n == 1 else f"{n} repairs"
    return "1 retry" if n == 1 else f"{n} retries"


def grammar_words(extra: Mapping[str, Any]) -> str:
    """What an answer decoded under the answer grammar is held to, as `dagcore.with_answer_grammar` sends it and
    `extra` (the eval section's request fields) leaves it: `the answer grammar, the name guard and the version
    guard`."""
    guards = [words for field, words in _GUARDS if extra.get(field, True) not in (None, False)]
    if not guards:
        return "the answer grammar"
    return "the answer grammar" + (", " if len(guards) > 1 else " and ") + " and ".join(guards)


_GUARDS = (("name_guard", "the name guard"), ("version_guard", "the version guard"))


def retry_words(retry: Retry, extra: Mapping[str, Any] | None = None) -> str:
    """How the loop asked again, in words (`the request asked afresh, sampled at temperature 0.8`)."""
    how = "the judge's verdict fed back" if retry.feedback else "the request asked afresh"
    heat = "as the first answer" if retry.temperature is None else f"at temperature {retry.temperature}"
    grammar = f" under {grammar_words(extra or {})}" if retry.grammar else ""
    return f"{how}, sampled {heat}{grammar}"


def repairs_of(experiment: dageval.Experiment) -> int:
    """N, when the tuned model's validity after 0..N repairs was measured; 0 otherwise. The base's may be fewer
    (eval.base_repairs): its column then says after how many."""
    return max(len(experiment.tuned.repairs) - 1, 0)


def comparison_table(experiment: dageval.Experiment, retry: Retry | None = None) -> list[str]:
    """Per level: base, tuned, the paired difference with its 95% bootstrap CI and McNemar's p, single-shot; then
    each model's validity after N repairs (or retries: `retry`, how the loop asked again), where the loop's judge
    reached that level (it stops at import)."""
    repairs = repairs_of(experiment)
    retry = retry or Retry()
    head = "| level | base | tuned | tuned - base | 95% CI | McNemar p |"
    rule = "|---|---:|---:|---:|---|---:|"
    base_repairs = max(len(experiment.base.repairs) - 1, 0)
    if repairs:
        base_head = f"base after {_repairs(base_repairs, retry)}" if base_repairs else "base, retries not judged"
        head += f" {base_head} | tuned after {_repairs(repairs, retry)} |"
        rule += "---:|---:|"
    lines = [head, rule]
    base_after = experiment.base.repairs[-1].rates if base_repairs else {}
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


def describe(experiment: dageval.Experiment, retry: Retry | None = None, extra: Mapping[str, Any] | None = None) -> str:
    """How many prompts, to which level, and how the repairs (`retry`) were asked for and judged."""
    retry = retry or Retry()
    base, tuned = experiment.base, experiment.tuned
    deepest = experiment.comparisons[-1].level
    text = f"{base.prompts} prompts, {base.samples_per_prompt} sample(s) each, judged single-shot up to {deepest}"
    if repairs := repairs_of(experiment):
        judged = tuned.repairs[-1].rates
        text += f"; after up to {_repairs(repairs, retry)} ({retry_words(retry, extra)}), up to {list(judged)[-1]}"
        if len(base.repairs) < len(tuned.repairs):
            fewer = max(len(base.repairs) - 1, 0)
            base_after = f"after up to {_repairs(fewer, retry)}" if fewer else "single-shot only"
            text += f"; the base {base_after} (eval.base_repairs)"
    return text + "."


def headline(
    evaluation: Evaluation, about: str, retry: Retry | None = None, extra: Mapping[str, Any] | None = None
) -> list[str]:
    """`about` (the run: date, model, data), then one table per prompt set; `retry`: how the loop asked again."""
    lines = [about, ""]
    for title, experiment in evaluation.sets().items():
        lines += [f"**{title}**: {describe(experiment, retry, extra)}", "", *comparison_table(experiment, retry), ""]
    return lines
