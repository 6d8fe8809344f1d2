"""The dataset card (README.md) and its plots (PNG)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from dagcore import series
from dagdata.models import Conversation, DatasetConfig, FilterCounts


def plots(out: Path, train: Sequence[Conversation], test: Sequence[Conversation]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []

    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.hist([c.n_tokens for c in train], bins=40, alpha=0.7, label="train")
    ax.hist([c.n_tokens for c in test], bins=40, alpha=0.7, label="test")
    ax.set_xlabel("tokens per conversation")
    ax.set_ylabel("conversations")
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "lengths.png", dpi=110)
    plt.close(fig)
    written.append("plots/lengths.png")

    mined_train = [c for c in train if c.source == "airflow"]  # replay rows ask for no Airflow version
    versions = sorted({series(c.airflow_version) for c in [*mined_train, *test]}, key=_series_key)
    counts_train = Counter(series(c.airflow_version) for c in mined_train)
    counts_test = Counter(series(c.airflow_version) for c in test)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.35 * len(versions) + 2), 3.5))
    ax.bar(versions, [counts_train[v] for v in versions], label="train")
    ax.bar(versions, [counts_test[v] for v in versions], bottom=[counts_train[v] for v in versions], label="test")
    ax.set_xlabel("Airflow version asked for")
    ax.set_ylabel("conversations")
    ax.tick_params(axis="x", rotation=60)
    ax.legend()
    fig.tight_layout()
    fig.savefig(folder / "versions.png", dpi=110)
    plt.close(fig)
    written.append("plots/versions.png")
    return written


def card(
    train: Sequence[Conversation],
    test: Sequence[Conversation],
    filters: FilterCounts,
    config: DatasetConfig,
    max_similarity: float,
    replay: int,
) -> str:
    everything = [*train, *test]
    lengths = sorted(c.n_tokens for c in everything)

    def quantile(q: float) -> int:
        return lengths[min(len(lengths) - 1, int(q * len(lengths)))] if lengths else 0

    mined = [c for c in everything if c.source == "airflow"]  # replay rows ask for no Airflow version
    versions = sorted({series(c.airflow_version) for c in mined}, key=_series_key)
    by_train = Counter(series(c.airflow_version) for c in train if c.source == "airflow")
    by_test = Counter(series(c.airflow_version) for c in test if c.source == "airflow")
    operators = Counter(op for c in everything if c.source == "airflow" for op in c.operators)
    styles = Counter(c.style for c in everything)
    lines = [
        "---",
        "license: apache-2.0",
        "task_categories: [text-generation]",
        "language: [en]",
        "tags: [airflow, code, dag, chatml]",
        "---",
        "",
        "# Airflow DAG instructions (airflow-net)",
        "",
        "Pairs of a data engineer's request and the Apache Airflow DAG file that answers it, as ChatML",
        "conversations (system, user, assistant). DAGs are mined from Apache Airflow's own code (example",
        "DAGs and system tests, cleaned of test scaffolding) by `dagmine`; requests are written by `daginstruct`.",
        "",
        f"- train: **{len(train):,}** conversations ({replay:,} of them general replay), test: **{len(test):,}**",
        f"- real vs composed: {sum(c.source == 'airflow' for c in train):,} train conversations on mined files, "
        f"{sum(c.source == 'composed' for c in train):,} on composed ones (dagsynth, each loaded in a real Airflow of "
        "its version before it was kept; composed files never enter test)",
        f"- repair lessons: {sum(c.is_repair for c in train):,} of the composed conversations show a "
        "broken answer and the error a real Airflow gave for it before the file (loss on the file only)",
        f"- prompt contract v{config.contract.version}; tokenizer `{config.tokenizer}`; whole conversations of at most "
        f"{config.max_tokens:,} tokens (longer ones are dropped, never truncated)",
        f"- tokens per conversation: median {quantile(0.5):,}, 90th percentile {quantile(0.9):,}, "
        f"max {lengths[-1] if lengths else 0:,}",
        f"- split: {config.test_fraction:.0%} test by groups (a file's lineage across versions joined with its near"
        f" duplicates at Jaccard >= {config.near_dup_threshold}); seed {config.seed}; largest train/test code "
        f"similarity found: {max_similarity:.2f}",
        "",
        "## Filters",
        "",
        "| step | conversations |",
        "|---|---:|",
        f"| joined (request + DAG) | {filters.joined:,} |",
        f"| requests for unknown DAGs | {filters.missing_dag:,} |",
        f"| dropped: imports Airflow test internals | {filters.test_internals:,} |",
        f"| dropped: exact duplicates | {filters.exact_duplicates:,} |",
        f"| dropped: near duplicates ({config.near_dup_policy}) | {filters.near_duplicates:,} |",
        f"| dropped: request (nearly) in an evaluation set | {filters.evaluation_overlap:,} |",
        f"| dropped: longer than {config.max_tokens:,} tokens | {filters.too_long:,} |",
        f"| kept | {filters.kept:,} |",
        "",
        "## Airflow versions",
        "",
        "| version | train | test |",
        "|---|---:|---:|",
        *(f"| {v} | {by_train[v]:,} | {by_test[v]:,} |" for v in versions),
        "",
        "![versions](plots/versions.png)",
        "",
        "## Lengths",
        "",
        "![lengths](plots/lengths.png)",
        "",
        "## Most used operators",
        "",
        "| operator | conversations |",
        "|---|---:|",
        *(f"| `{op}` | {n:,} |" for op, n in operators.most_common(20)),
        "",
        "## Request styles",
        "",
        *(f"- {style}: {n:,}" for style, n in sorted(styles.items())),
        "",
        "## Licence",
        "",
        "The DAG code comes from Apache Airflow, licensed under the Apache License 2.0; this dataset is",
        "distributed under the same licence. Requests were written by a language model or by templates.",
        "",
    ]
    return "\n".join(lines)


def _series_key(text: str) -> tuple[int, ...]:
    """`2.9` before `2.10`; `latest` (no version known) last."""
    return tuple(int(p) for p in text.split(".")) if text[0].isdigit() else (10**6,)
