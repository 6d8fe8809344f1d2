"""Reports in Markdown and HTML, with plots: validity per level, failure categories, base vs tuned, validity after
repairs and per tag."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path

from dageval.repairs import RepairRow
from dageval.stats import Comparison, Summary, TagRate


def _plots(out: Path, summary: Summary, comparisons: Sequence[Comparison] = ()) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # files only
    import matplotlib.pyplot as plt

    folder = out / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    fig, ax = plt.subplots(figsize=(6, 3.2))
    ax.bar([row.level for row in summary.levels], [100 * row.rate for row in summary.levels], color="#4c72b0")
    ax.set_ylabel("% of samples valid")
    ax.set_ylim(0, 100)
    fig.tight_layout()
    fig.savefig(folder / "validity.png", dpi=110)
    plt.close(fig)
    written.append("plots/validity.png")
    deepest = summary.levels[-1].categories if summary.levels else {}
    if deepest:
        names = list(deepest)[:12]
        fig, ax = plt.subplots(figsize=(6, 0.35 * len(names) + 1.2))
        ax.barh(names[::-1], [deepest[n] for n in names[::-1]], color="#c44e52")
        ax.set_xlabel("samples")
        fig.tight_layout()
        fig.savefig(folder / "failures.png", dpi=110)
        plt.close(fig)
        written.append("plots/failures.png")
    if comparisons:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        levels = [c.level for c in comparisons]
        diffs = [100 * c.difference for c in comparisons]
        errors = [
            [100 * (c.difference - c.ci_low) for c in comparisons],
            [100 * (c.ci_high - c.difference) for c in comparisons],
        ]
        ax.bar(levels, diffs, yerr=errors, capsize=4, color="#55a868")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_ylabel("tuned - base (points, 95% CI)")
        fig.tight_layout()
        fig.savefig(folder / "comparison.png", dpi=110)
        plt.close(fig)
        written.append("plots/comparison.png")
    return written


def repair_lines(rows: Sequence[RepairRow]) -> list[str]:
    """A repair table (`repair_table`) as Markdown: one row per number of repairs, one column per level."""
    if not rows:
        return []
    labels = list(rows[0].rates)
    lines = ["| repairs | " + " | ".join(labels) + " |", "|---:|" + "---:|" * len(labels)]
    for row in rows:
        lines.append(f"| {row.repairs} | " + " | ".join(f"{row.rates[label]:.1%}" for label in labels) + " |")
    return lines


def tag_lines(tags: Sequence[TagRate]) -> list[str]:
    """Per-tag rates (`tag_rates`) as Markdown, in their order (the most frequent tags first)."""
    if not tags:
        return []
    lines = ["| tag | n | base | tuned | tuned - base |", "|---|---:|---:|---:|---:|"]
    for row in tags:
        diff = row.tuned_rate - row.base_rate
        lines.append(f"| {row.tag} | {row.n} | {row.base_rate:.1%} | {row.tuned_rate:.1%} | {diff:+.1%} |")
    return lines


def markdown(
    summary: Summary,
    comparisons: Sequence[Comparison] = (),
    title: str = "dageval report",
    *,
    repairs: Mapping[str, Sequence[RepairRow]] | None = None,
    tags: Sequence[TagRate] = (),
) -> str:
    """`repairs`: a repair table per model name; `tags`: per-tag rates at the deepest level of `comparisons`."""
    lines = [
        f"# {title}",
        "",
        f"{summary.samples:,} samples.",
        "",
        "| level | passed | failed | valid | top failures |",
        "|---|---:|---:|---:|---|",
    ]
    for row in summary.levels:
        top = ", ".join(f"{k} {v}" for k, v in list(row.categories.items())[:4])
        lines.append(f"| {row.level} | {row.passed:,} | {row.failed:,} | {row.rate:.1%} | {top} |")
    lines += ["", "![validity](plots/validity.png)", ""]
    if summary.levels and summary.levels[-1].categories:
        lines += ["![failures](plots/failures.png)", ""]
    if summary.pass_at_k:
        lines += [
            "## pass@k",
            "",
            "| level | " + " | ".join(next(iter(summary.pass_at_k.values()))) + " |",
            "|---|" + "---:|" * len(next(iter(summary.pass_at_k.values()))),
        ]
        for level, values in summary.pass_at_k.items():
            lines.append(f"| {level} | " + " | ".join(f"{v:.3f}" for v in values.values()) + " |")
        lines.append("")
    if comparisons:
        lines += [
            "## Base vs tuned (paired)",
            "",
            "| level | pairs | base | tuned | difference | 95% CI | McNemar p |",
            "|---|---:|---:|---:|---:|---|---:|",
        ]
        for c in comparisons:
            lines.append(
                f"| {c.level} | {c.pairs} | {c.base_rate:.1%} | {c.tuned_rate:.1%} | {c.difference:+.1%} | "
                f"[{c.ci_low:+.1%}, {c.ci_high:+.1%}] | {c.mcnemar_p:.3g} |"
            )
        lines += ["", "![comparison](plots/comparison.png)", ""]
    for name, rows in (repairs or {}).items():
        if rows:
            lines += [f"## {name}: validity after repairs", "", *repair_lines(rows), ""]
    if tags:
        deepest = comparisons[-1].level if comparisons else "the deepest level"
        lines += [f"## Per tag, at {deepest}", "", *tag_lines(tags), ""]
    return "\n".join(lines) + "\n"


def html_page(md: str, title: str) -> str:
    """The small Markdown these reports use (headings, tables, images, paragraphs) as a standalone page."""
    """A small self-contained HTML page from the Markdown above (tables, images, headings)."""
    body: list[str] = []
    table: list[list[str]] = []

    def flush() -> None:
        if table:
            head, *rows = table
            body.append("<table><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in head) + "</tr>")
            body.extend("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
            body.append("</table>")
            table.clear()

    for line in md.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if not all(set(c) <= set("-:") for c in cells):
                table.append(cells)
            continue
        flush()
        if line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("!["):
            src = line[line.index("(") + 1 : -1]
            body.append(f'<img src="{html.escape(src)}" alt="{html.escape(src)}">')
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush()
    style = (
        "body{font-family:system-ui,sans-serif;max-width:860px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px}img{max-width:100%}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def write_report(
    out: str | Path,
    summary: Summary,
    comparisons: Sequence[Comparison] = (),
    title: str = "dageval report",
    *,
    repairs: Mapping[str, Sequence[RepairRow]] | None = None,
    tags: Sequence[TagRate] = (),
) -> Path:
    """report.md, report.html and plots/*.png in `out`; returns the HTML path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _plots(folder, summary, comparisons)
    md = markdown(summary, comparisons, title, repairs=repairs, tags=tags)
    (folder / "report.md").write_text(md, encoding="utf-8")
    page = folder / "report.html"
    page.write_text(html_page(md, title), encoding="utf-8")
    return page
