"""How a server is configured (kept apart from the server so the CLI and daemon load fast)."""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def cpu_threads() -> int:
    """The CPUs this process may run on (llama.cpp would otherwise pick fewer)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class ServeConfig(BaseModel):
    """How to serve: which model, where, and how many requests at once."""

    model_config = ConfigDict(frozen=True)

    model: str | None = None
    """A GGUF path or a name in the models folder; None serves the bundled SmolLM2-135M-Instruct."""
    host: str = DEFAULT_HOST
    port: int = Field(DEFAULT_PORT, ge=0, le=65535)
    """0 picks a free port."""
    api_key: str | None = None
    """When set, /v1 requests need `Authorization: Bearer <key>`."""
    ctx: int = Field(4096, ge=16)
    """Context per request (prompt + answer), in tokens; the KV cache holds `ctx * parallel`."""
    threads: int = Field(default_factory=cpu_threads, ge=1)
    gpu_layers: int = -1
    """Layers to offload to a GPU (-1: all; ignored by a CPU-only llama.cpp)."""
    parallel: int = Field(4, ge=1, le=256)
    """Requests decoded together (slots)."""
    queue: int = Field(64, ge=0)
    """Requests that may wait for a slot; past that the server answers 503."""
    batch: int = Field(512, ge=16)
    """Tokens per llama_decode call (prompt chunks plus one token per running request)."""
    stream_interval: float = Field(0.02, ge=0.0, le=1.0)
    """Seconds between streamed chunks of one request (the first comes at once); 0 sends every token."""
    stop_repeats: int = Field(3, ge=0, le=16)
    """End an answer as cut once its last 96+ tokens are one block written this many times (0: never), for
    requests that do not say (`stop_repeats`): a looping small model would otherwise write until max_tokens."""
