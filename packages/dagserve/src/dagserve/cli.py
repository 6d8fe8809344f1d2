"""The `dagserve` command: serve (in the foreground or detached), stop, status."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from dagcore.cli import fail, one_line_errors
from dagserve.config import DEFAULT_HOST, DEFAULT_PORT, ServeConfig, cpu_threads
from dagserve.daemon import ServerInfo, clear_state, server_status, start_server, stop_server, write_state

app = typer.Typer(
    name="dagserve",
    help="A local OpenAI-compatible server for GGUF models, decoding parallel requests together.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command("serve")
@one_line_errors
def serve_cmd(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="GGUF path or name in $DAGSERVE_MODELS (default: SmolLM2-135M).")
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = DEFAULT_HOST,
    port: Annotated[int, typer.Option(help="Port (0 picks a free one).")] = DEFAULT_PORT,
    api_key: Annotated[
        str | None, typer.Option(envvar="DAGSERVE_API_KEY", help="Require `Authorization: Bearer KEY` on /v1.")
    ] = None,
    ctx: Annotated[int, typer.Option(help="Context per request, in tokens.")] = 4096,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: all this process may use).")] = None,
    gpu_layers: Annotated[int, typer.Option(help="Layers offloaded to a GPU (-1: all).")] = -1,
    parallel: Annotated[int, typer.Option(help="Requests decoded together.")] = 4,
    queue: Annotated[int, typer.Option(help="Requests that may wait for a slot before 503.")] = 64,
    batch: Annotated[int, typer.Option(help="Tokens per decode call.")] = 512,
    stream_interval: Annotated[
        float, typer.Option(help="Seconds between streamed chunks of a request (0: every token).")
    ] = 0.02,
    stop_repeats: Annotated[
        int, typer.Option(help="Cut an answer once its last 96+ tokens are one block this many times (0: never).")
    ] = 3,
    detach: Annotated[bool, typer.Option(help="Run in the background; `dagserve stop` ends it.")] = False,
    state_dir: Annotated[Path | None, typer.Option(hidden=True, help="Set by --detach for its child.")] = None,
) -> None:
    """Serve a model: /v1/chat/completions, /v1/completions, /v1/models, /health."""
    config = _config(
        model=model,
        host=host,
        port=port,
        api_key=api_key,
        ctx=ctx,
        threads=threads or cpu_threads(),
        gpu_layers=gpu_layers,
        parallel=parallel,
        queue=queue,
        batch=batch,
        stream_interval=stream_interval,
        stop_repeats=stop_repeats,
    )
    try:
        if detach:
            info = start_server(config)
            typer.echo(f"dagserve: serving {Path(info.model).name} at {info.url} (pid {info.pid}, log {info.log})")
            return
        from dagserve.server import serve  # loads llama.cpp: only when serving

        serve(config, on_listening=_announce(config, state_dir))
    finally:
        if state_dir is not None:
            clear_state(os.getpid())


@app.command("stop")
@one_line_errors
def stop_cmd() -> None:
    """Stop the background server."""
    info = stop_server()
    typer.echo("dagserve: no server recorded" if info is None else f"dagserve: stopped pid {info.pid} ({info.url})")


@app.command("status")
@one_line_errors
def status_cmd() -> None:
    """Is a background server running? Exit 0 if so, 1 for a stale pid file, 3 when none is recorded."""
    status = server_status()
    info = status.info
    if info is None:
        typer.echo("dagserve: not running")
        raise typer.Exit(3)
    if status.state == "stale":
        typer.echo(f"dagserve: stale pid file: pid {info.pid} is gone (`dagserve stop` removes the record)")
        raise typer.Exit(1)
    health = "healthy" if status.healthy else "not answering /health"
    typer.echo(f"dagserve: running, pid {info.pid}, {info.url}, model {info.model}, {health}")


def _config(**fields: object) -> ServeConfig:
    try:
        return ServeConfig.model_validate(fields)
    except ValidationError as e:  # named as the options are, which one_line_errors cannot know
        raise fail("; ".join(f"--{'-'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors())) from None


def _announce(config: ServeConfig, state_dir: Path | None) -> Callable[[int, Path], None]:
    def on_listening(port: int, model: Path) -> None:
        if state_dir is not None:
            os.environ["DAGSERVE_HOME"] = str(state_dir)
            info = ServerInfo(
                pid=os.getpid(),
                host=config.host,
                port=port,
                model=str(model),
                started_at=time.time(),
                api_key_set=bool(config.api_key),
                log=str(state_dir / "server.log"),
            )
            write_state(info)
        typer.echo(f"dagserve: serving {model.name} on http://{config.host}:{port} ({config.parallel} slots)", err=True)

    return on_listening


def main() -> None:
    app()
