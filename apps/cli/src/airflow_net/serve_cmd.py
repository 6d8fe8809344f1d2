"""`airflow-net serve|stop|status` (dagserve's own commands), `generate` and `app`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.syntax import Syntax

import dageval
from airflow_net._ui import console, summary_table
from dagcore import FIX_IMPORTS_BY_DEFAULT, GRAMMAR_BY_DEFAULT, RETRY_BY_DEFAULT, Retry, load_user_config
from dagcore.cli import one_line_errors
from dagserve import Client, ServeConfig, generate_valid_dag, start_server
from dagserve.cli import serve_cmd, status_cmd, stop_cmd
from dagsynth.spec import spec_loop_args

__all__ = ["app_cmd", "generate", "serve_cmd", "status_cmd", "stop_cmd"]


@one_line_errors
def generate(
    request: Annotated[str, typer.Argument(help="What the DAG should do, in words.")],
    airflow_version: Annotated[str | None, typer.Option(help="Target Airflow version, e.g. 2.10 or 3.1.")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the DAG file here.")] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path or name (default: the bundled SmolLM2).")] = None,
    endpoint: Annotated[str | None, typer.Option(help="Use this OpenAI-compatible server instead.")] = None,
    attempts: Annotated[int, typer.Option(help="Generations: the first, then retries while validation fails.")] = 3,
    level: Annotated[str, typer.Option(help="Validate up to: extract, syntax, structure, lint, import.")] = "import",
    max_tokens: Annotated[int, typer.Option(help="Token limit per answer.")] = 1024,
    fix_imports: Annotated[
        bool,
        typer.Option(
            help="Move Airflow imports to where the target version has them, and make a string's bare inner "
            "double quotes single where they stop the file parsing, before validating "
            "(measured: never cost an answer a level, doubled the laptop model's import rate)."
        ),
    ] = FIX_IMPORTS_BY_DEFAULT,
    feedback: Annotated[
        bool,
        typer.Option(
            "--feedback/--afresh",
            help="Retries show the model its rejected answer and the error, or ask the request afresh "
            "(measured on the laptop model: afresh fixed 5 of 17 failures, feedback none).",
        ),
    ] = RETRY_BY_DEFAULT.feedback,
    retry_temperature: Annotated[
        float | None, typer.Option(min=0, help="Sampling temperature of the retries (the first answer is greedy).")
    ] = RETRY_BY_DEFAULT.temperature,
    retry_grammar: Annotated[
        bool,
        typer.Option(
            "--retry-grammar/--free-retries",
            help="Decode the retries under the Python answer grammar, so a sampled retry always parses (measured on "
            "96 written dev requests: 21 of 59 failures fixed, free retries 16 of 61).",
        ),
    ] = RETRY_BY_DEFAULT.grammar,
    spec: Annotated[
        bool,
        typer.Option(
            "--spec",
            help="Ask for a DAG spec (JSON decoded under its schema: operators, arguments, schedule, order) and "
            "write the file for the target version from it, instead of asking for the file. Any model; needs a "
            "server that takes `response_format` (dagserve does).",
        ),
    ] = False,
    spec_tuned: Annotated[
        bool,
        typer.Option(
            "--spec-tuned",
            help="--spec for a model trained on specs (bench/spec_mode.py): ask with the one-line task it learned, "
            "not the guide and worked example.",
        ),
    ] = False,
    grammar: Annotated[
        bool,
        typer.Option(
            "--grammar/--free",
            help="Decode the first answer under the Python answer grammar too: one block of Python that parses "
            "(unless cut at --max-tokens). Needs a llama.cpp-based server (dagserve is one). Measured on 200 written "
            "dev requests with the laptop model: import 38.5% free, 45.0% under the grammar. A spec keeps its schema.",
        ),
    ] = GRAMMAR_BY_DEFAULT,
) -> None:
    """Write a DAG with the local model (a server is started if none runs), validate it, repair it.

    The Airflow version, model and server URL default to `airflow-net config`'s; a flag overrides them."""
    target = dageval.Level.from_label(level, "--level")
    saved = load_user_config()
    airflow_version = airflow_version or (str(saved.airflow_version) if saved.airflow_version else None)
    model = model or saved.model
    endpoint = endpoint or saved.server_url
    if endpoint:
        client = Client(endpoint, model=model)
    else:
        with console.status("starting the model server (dagserve)"):
            client = Client(start_server(ServeConfig(model=model, port=0)).url)
    with client, dageval.Validator(target) as validator, console.status("writing and checking the DAG"):
        # How the loop asks: for a spec, under the spec's schema (the grammar then stays out).
        asked: dict[str, Any] = {}
        if spec or spec_tuned:
            asked = spec_loop_args(request, airflow_version, guide=not spec_tuned)
        result = generate_valid_dag(
            client,
            validator,
            request,
            airflow_version,
            max_attempts=attempts,
            max_tokens=max_tokens,
            fix_imports=fix_imports and not (spec or spec_tuned),  # the renderer puts imports where they belong
            retry=Retry(feedback=feedback, temperature=retry_temperature, grammar=retry_grammar),
            grammar=grammar,
            **asked,
        )
    final = result.final
    if final.generation.code:
        console.print(Syntax(final.generation.code, "python", line_numbers=False))
    else:
        console.print(final.generation.completion)
    rows: list[tuple[str, object]] = [
        (
            f"attempt {a.number}",
            ("valid" if a.verdict.ok else f"{a.verdict.level}/{a.verdict.category}: {a.verdict.message}")
            + (f" (imports fixed: {'; '.join(a.fixes)})" if a.fixes else ""),
        )
        for a in result.attempts
    ]
    console.print(summary_table("validation", rows))
    if out is not None and final.generation.code:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(final.generation.code, encoding="utf-8")
        tmp.replace(out)
        console.print(f"written: {out}")
    if not result.ok:
        raise typer.Exit(2)


def app_cmd(
    port: Annotated[int, typer.Option(help="Port of the app.")] = 8780,
    endpoint: Annotated[
        str | None, typer.Option(help="An OpenAI-compatible server (default: a local dagserve).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="GGUF path or name for the local dagserve.")] = None,
    attempts: Annotated[int, typer.Option(help="Generations per request, repairs included.")] = 3,
    install_runtimes: Annotated[bool, typer.Option(help="Install missing Airflow runtimes on first use.")] = False,
) -> NoReturn:
    """The web app: generate -> validate -> repair, with a page at http://127.0.0.1:PORT/.

    The app reads `airflow-net config` itself (model, server URL, the version offered first); a flag overrides it."""
    # The app is another app: it runs as its own program (`airflow-net-server`), never imported. Exec, not a
    # child process, so Ctrl-C and the exit code are the server's own.
    command = [sys.executable, "-m", "airflow_net_server", "--port", str(port), "--max-attempts", str(attempts)]
    command += ["--endpoint", endpoint] if endpoint else []
    command += ["--model", model] if model else []
    command += ["--install-runtimes"] if install_runtimes else []
    sys.stdout.flush()
    os.execv(sys.executable, command)
