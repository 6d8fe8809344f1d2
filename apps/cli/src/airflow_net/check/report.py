"""The check as a report people read (markdown for a PR comment, HTML for a browser); `--json` is the model."""

from __future__ import annotations

import html as _html

from airflow_net.check.models import CheckReport, FileCheck


def _rule(row: FileCheck) -> str:
    if row.rule is None:
        # Not what the error names, but a rule that says the file breaks on Airflow 3 is still the place to look.
        flagged = [f for f in row.findings if f.code in ("AIR301", "AIR302")] if row.breaks else []
        return (
            f"(the error names no rule; also flagged) {flagged[0].code} (line {flagged[0].line}): "
            + (flagged[0].message)
            if flagged
            else ""
        )
    fix = f" Fix: {row.rule.fix}" + (" (safe: `ruff check --select AIR --preview --fix`)" if row.rule.fix_safe else "")
    return f"{row.rule.code} (line {row.rule.line}): {row.rule.message}" + (fix if row.rule.fix else "")


def _cell(text: str | None) -> str:
    return (text or "").replace("|", "\\|").replace("\n", " ")


def markdown(report: CheckReport) -> str:
    c = report.counts
    lines = [
        f"# Migration check: Airflow {report.from_version} -> {report.to_version}",
        "",
        f"`{report.folder}`: {c['files']} DAG files checked in {report.seconds:.1f} s "
        f"({report.files_per_second:.2f} files/s). {c['load_before']} load in {report.from_version}, "
        f"{c['load_after']} in {report.to_version}; **{c['break']} break** ({c['explained_by_a_rule']} explained by "
        f"a ruff AIR rule), {c['fixed']} load only in {report.to_version}.",
        "",
    ]
    if report.breaking:
        lines += [
            f"## Break in {report.to_version}",
            "",
            f"| file | error in {report.to_version} | ruff rule and fix |",
            "|---|---|---|",
        ]
        lines += [f"| `{r.path}` | {_cell(r.error_after)} | {_cell(_rule(r))} |" for r in report.breaking]
        lines.append("")
    lines += [
        "## Every file",
        "",
        f"| file | {report.from_version} | {report.to_version} | AIR3xx findings |",
        "|---|---|---|---|",
    ]
    for r in report.files:
        codes = ", ".join(sorted({f.code for f in r.findings}))
        before = "loads" if r.loads_before else _cell(r.error_before)
        after = "loads" if r.loads_after else _cell(r.error_after)
        lines.append(f"| `{r.path}` | {before} | {after} | {codes} |")
    return "\n".join(lines) + "\n"


def html(report: CheckReport) -> str:
    c = report.counts
    esc = _html.escape

    def row(r: FileCheck) -> str:
        style = ' class="breaks"' if r.breaks else ""
        before = "loads" if r.loads_before else esc(r.error_before or "")
        after = "loads" if r.loads_after else esc(r.error_after or "")
        cells = f"<td><code>{esc(r.path)}</code></td><td>{before}</td><td>{after}</td><td>{esc(_rule(r))}</td>"
        return f"<tr{style}>{cells}</tr>"

    rows = "\n".join(row(r) for r in report.files)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Airflow {esc(report.from_version)} -> {esc(report.to_version)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:4px 8px;vertical-align:top}}tr.breaks{{background:#fde8e8}}</style></head><body>
<h1>Migration check: Airflow {esc(report.from_version)} &rarr; {esc(report.to_version)}</h1>
<p><code>{esc(report.folder)}</code>: {c["files"]} DAG files in {report.seconds:.1f} s
({report.files_per_second:.2f} files/s); {c["load_before"]} load in {esc(report.from_version)},
{c["load_after"]} in {esc(report.to_version)}; <strong>{c["break"]} break</strong>
({c["explained_by_a_rule"]} explained by a ruff AIR rule).</p>
<table><tr><th>file</th><th>{esc(report.from_version)}</th><th>{esc(report.to_version)}</th>
<th>ruff rule and fix</th></tr>
{rows}
</table></body></html>
"""
