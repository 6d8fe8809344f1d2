"""Load a model and serve it over HTTP, in the foreground."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import uvicorn

from dagcore import PromptContract
from dagserve._llama import LlamaRuntime
from dagserve._template import ChatTemplate
from dagserve.app import Service, create_app
from dagserve.config import ServeConfig
from dagserve.engine import Engine
from dagserve.exceptions import ServerError
from dagserve.resolve import resolve_model


def load_service(config: ServeConfig) -> Service:
    path = resolve_model(config.model)
    runtime = LlamaRuntime(
        path,
        n_ctx_seq=config.ctx,
        n_seq_max=config.parallel,
        n_threads=config.threads,
        n_batch=config.batch,
        gpu_layers=config.gpu_layers,
    )
    meta = runtime.metadata
    template = ChatTemplate(meta.get("tokenizer.chat_template"), bos_token=runtime.bos_text, eos_token=runtime.eos_text)
    engine = Engine(
        runtime, queue_size=config.queue, stream_interval=config.stream_interval, stop_repeats=config.stop_repeats
    )
    return Service(
        runtime=runtime,
        engine=engine,
        template=template,
        contract=PromptContract.from_metadata(meta),
        model_id=path.stem,
        api_key=config.api_key,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound before the server starts so the port is known (and taken) at once."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        reason = e.strerror or str(e)
        raise ServerError(f"cannot listen on {host}:{port}: {reason} (another server there? try --port)") from e
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def serve(config: ServeConfig, *, on_listening: Callable[[int, Path], None] | None = None) -> None:
    """Serve until SIGINT/SIGTERM. The model is loaded before the port opens, so /health means ready."""
    service = load_service(config)
    try:
        sock = bind(config.host, config.port)
        port = sock.getsockname()[1]
        if on_listening is not None:
            on_listening(port, service.runtime.path)
        server = uvicorn.Server(
            uvicorn.Config(
                create_app(service),
                log_level="warning",
                access_log=False,
                timeout_graceful_shutdown=5,
                lifespan="on",
            )
        )
        server.run(sockets=[sock])
    finally:
        service.runtime.close()
