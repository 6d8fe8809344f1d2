"""`dageval judge FILE...`: is each an Airflow DAG that loads? `dageval runtime install|list|remove|providers`: the
isolated Airflow runtimes the import level uses.

`runtime_app` is mounted as is by `airflow-net eval runtime`, so both commands are the same code.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from dagcore.cli import one_line_errors
from dageval import providers as allowlist
from dageval.evaluate import evaluate
from dageval.models import Level, Sample
from dageval.runtime import Runtime, RuntimeInfo, installed_runtimes, provider_distribution, resolve_version

app = typer.Typer(
    name="dageval",
    help="Is this an Airflow DAG that loads? `dageval judge FILE`; the Airflow runtimes of its import level.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
runtime_app = typer.Typer(help="The isolated Airflow runtimes of the import level.", no_args_is_help=True)
app.add_typer(runtime_app, name="runtime")

Root = Annotated[
    Path | None, typer.Option(help="Where runtimes live (default: $AIRFLOW_NET_CACHE/runtimes).", show_default=False)
]


@app.command("judge")
@one_line_errors
def judge(
    files: Annotated[list[Path], typer.Argument(help="Python files, each judged on its own.")],
    airflow: Annotated[str, typer.Option(help="The Airflow version to judge for: 3.1, 2.10.5, ...")] = "3.1",
    level: Annotated[str, typer.Option(help="Up to: extract, syntax, structure, lint, import.")] = "import",
    as_json: Annotated[bool, typer.Option("--json", help="One verdict per line, as JSON.")] = False,
) -> None:
    """Judge DAG files level by level, up to a real import in a sandboxed Airflow (made on first use, minutes);
    exit 1 when one fails."""
    target = Level.from_label(level, "--level")
    if target == Level.INTENT:
        raise typer.BadParameter("intent needs a request's expectations: use `airflow-net eval`", param_hint="--level")
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise typer.BadParameter(f"no such file: {', '.join(missing)}", param_hint="FILES")
    samples = [Sample(id=str(f), completion=f.read_text(encoding="utf-8", errors="replace")) for f in files]
    verdicts = evaluate(samples, level=target, airflow_version=airflow, import_workers=1)
    for verdict in verdicts:
        failure = verdict.failure
        if as_json:
            typer.echo(verdict.model_dump_json(exclude={"code"}))
        elif failure is None:
            last = verdict.results[-1]
            found = last.message or "ok"
            typer.echo(f"{verdict.sample_id}: valid up to {last.level.label} in Airflow {airflow} ({found})")
        else:
            typer.echo(f"{verdict.sample_id}: fails at {failure.level.label}: {failure.category}: {failure.message}")
    if any(v.failure is not None for v in verdicts):
        raise typer.Exit(1)


@runtime_app.command("install")
@one_line_errors
def install(
    versions: Annotated[list[str], typer.Argument(help="3.1.x (newest 3.1), 2.10.5 (exact), ...")],
    constraints: Annotated[
        str | None, typer.Option(help="A constraints file or URL (default: Airflow's published one).")
    ] = None,
    providers: Annotated[
        list[str] | None,
        typer.Option("--provider", help="Also install this provider, checked like the rest (repeatable): google."),
    ] = None,
    root: Root = None,
) -> None:
    """Install Airflow versions (uv venvs, cached), checked before use."""
    for spec in versions:
        version = resolve_version(spec)
        typer.echo(f"Airflow {version}: installing (uv, cached under {root or 'the default cache'})")
        runtime = Runtime(version, root, constraints=constraints)
        info = runtime.ensure()
        if providers:
            asked = {provider_distribution(p.replace("-", ".")) for p in providers}
            refused = sorted(asked - runtime.allowed_providers())
            if refused:
                typer.echo(f"Airflow {version}: not providers Airflow publishes, refused: {', '.join(refused)}")
            found = runtime.add_providers(asked)
            info = runtime.ensure()
            missing = sorted(d for d, ok in found.items() if not ok)
            if missing:
                typer.echo(f"Airflow {version}: not installable for this release: {', '.join(missing)}")
        typer.echo(f"Airflow {version}: ready at {info.python.parent.parent} ({_how(info)})")
        for distribution, why in sorted(info.broken_providers.items()):
            typer.echo(f"Airflow {version}: {distribution} is broken here (files that need it are not judged): {why}")


def _how(info: RuntimeInfo) -> str:
    if info.constraints:
        return f"constraints from {info.constraints}"
    if info.exclude_newer:
        return f"no constraints file could be fetched: resolved as of the release, --exclude-newer {info.exclude_newer}"
    return "no constraints file could be fetched, and the index gave no release date: resolved as of today"


@runtime_app.command("list")
@one_line_errors
def list_(root: Root = None) -> None:
    """The installed runtimes."""
    found = installed_runtimes(root)
    if not found:
        typer.echo("no Airflow runtime installed: `dageval runtime install 3.1.x`")
    for info in found:
        providers = sorted(name for name, ok in info.providers.items() if ok)
        typer.echo(f"{info.version}\t{info.python.parent.parent}\tproviders: {', '.join(providers) or '-'}")


@runtime_app.command("remove")
@one_line_errors
def remove(
    versions: Annotated[list[str], typer.Argument(help="Exact versions or series (3.1.x).")],
    root: Root = None,
) -> None:
    """Delete runtimes."""
    for spec in versions:
        Runtime(resolve_version(spec), root).remove()
        typer.echo(f"Airflow {spec}: removed")


@runtime_app.command("providers")
@one_line_errors
def providers_(
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Write the installed runtimes' own lists into dageval's bundled file.")
    ] = False,
    root: Root = None,
) -> None:
    """The providers the import level may install: those Airflow publishes (each runtime's own list, and
    the lists bundled with dageval). Nothing else is ever installed."""
    lists = {info.version: allowlist.listed_by(info.python) for info in installed_runtimes(root)}
    if refresh:
        written = allowlist.refresh(lists)
        typer.echo(f"{allowlist.BUNDLED}: lists of Airflow {', '.join(written)}")
    for version, names in sorted(lists.items()):
        typer.echo(f"{version}\t{len(allowlist.allowed(names))} allowed ({len(names)} listed by Airflow {version})")
    if not lists:
        typer.echo(f"bundled: {len(allowlist.allowed([]))} allowed (no runtime installed)")


def main(argv: list[str] | None = None) -> int:
    """The `dageval` console script; returns the exit code, so `sys.exit(main())` and tests read it alike."""
    try:
        app(args=argv, prog_name="dageval")
    except SystemExit as e:  # a typer app always ends by exiting, on success too
        return e.code if isinstance(e.code, int) else int(e.code is not None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
