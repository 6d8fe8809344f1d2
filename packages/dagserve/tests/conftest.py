"""A tiny llama-architecture GGUF written here with `gguf` (random weights, a byte-level BPE vocabulary, a ChatML
template and a prompt contract), and real servers on free loopback ports. Nothing is downloaded."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import gguf
import httpx
import numpy as np
import pytest
import uvicorn

from dagserve.app import create_app
from dagserve.config import ServeConfig
from dagserve.server import bind, load_service

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CONTRACT = {
    "airflow_net.prompt.version": "1",
    "airflow_net.prompt.system": "You write Airflow DAGs for tests.",
    "airflow_net.prompt.user_template": "Request: {request}\nAirflow: {airflow_version}",
    "airflow_net.prompt.answer_template": "```python\n{code}\n```",
}
MERGES = ["Ġ t", "h e", "Ġt he", "i n", "a n", "e r", "Ġ a", "o n", "Ġ d", "a g", "Ġd ag", "r e", "Ġ s", "o r"]
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-in for each byte, as byte-level BPE vocabularies spell them."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in keep:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def write_tiny_gguf(path: Path, *, seed: int = 0, chat_template: str = CHATML) -> Path:
    """A 2-layer llama with a ~270-token vocabulary.

    The output layer makes letters (and merges of letters) win: greedy text is one long identifier, which is
    valid Python, so code extraction and validation have something real to work on. Other tokens keep small
    logits, so sampling at a high temperature still emits them (multi-byte UTF-8 split across tokens).
    """
    rng = np.random.default_rng(seed)
    tokens = _byte_chars() + [m.replace(" ", "") for m in MERGES] + SPECIALS
    types = [gguf.TokenType.NORMAL] * (len(tokens) - len(SPECIALS)) + [gguf.TokenType.CONTROL] * len(SPECIALS)
    n_vocab, n_embd, n_head, n_head_kv, n_ff, n_layer = len(tokens), 64, 4, 2, 128, 2
    head_dim = n_embd // n_head
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_context_length(8192)
    writer.add_embedding_length(n_embd)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(n_ff)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_head_kv)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(chat_template)
    for key, value in CONTRACT.items():
        writer.add_string(key, value)

    def weight(name: str, *shape: int, scale: float) -> None:
        writer.add_tensor(name, (rng.standard_normal(shape) * scale).astype(np.float32))

    weight("token_embd.weight", n_vocab, n_embd, scale=1.0)
    for i in range(n_layer):
        writer.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, np.float32))
        weight(f"blk.{i}.attn_q.weight", n_embd, n_embd, scale=0.3)
        weight(f"blk.{i}.attn_k.weight", head_dim * n_head_kv, n_embd, scale=0.3)
        weight(f"blk.{i}.attn_v.weight", head_dim * n_head_kv, n_embd, scale=0.3)
        weight(f"blk.{i}.attn_output.weight", n_embd, n_embd, scale=0.1)
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, np.float32))
        weight(f"blk.{i}.ffn_gate.weight", n_ff, n_embd, scale=0.2)
        weight(f"blk.{i}.ffn_up.weight", n_ff, n_embd, scale=0.2)
        weight(f"blk.{i}.ffn_down.weight", n_embd, n_ff, scale=0.1)
    writer.add_tensor("output_norm.weight", np.ones(n_embd, np.float32))
    letters = {i for i, t in enumerate(tokens) if t.isascii() and t.isalpha()}
    scale = np.array([1.0 if i in letters else 0.15 for i in range(n_vocab)], np.float32)[:, None]
    writer.add_tensor("output.weight", (rng.standard_normal((n_vocab, n_embd)) * scale).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_gguf(tmp_path_factory.mktemp("model") / "tiny.gguf")


@contextmanager
def running_server(model: Path, **settings: object) -> Iterator[str]:
    """A real dagserve server on a free loopback port, in a thread of this process; yields its base URL."""
    config = ServeConfig.model_validate({"model": str(model), "port": 0, "threads": 1, **settings})
    service = load_service(config)
    sock = bind(config.host, 0)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    server = uvicorn.Server(uvicorn.Config(create_app(service), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
        service.runtime.close()


@pytest.fixture(scope="session")
def server(tiny_gguf: Path) -> Iterator[str]:
    """The shared server: 4 slots, a queue of 16."""
    with running_server(tiny_gguf, ctx=8192, parallel=4, queue=16) as url:
        yield url


@pytest.fixture
def serve_tiny(tiny_gguf: Path) -> Callable[..., AbstractContextManager[str]]:
    """`with serve_tiny(parallel=1, queue=0) as url:` a server of its own, for settings the shared one lacks."""
    return functools.partial(running_server, tiny_gguf)


@pytest.fixture
def idle() -> Callable[[str], dict[str, int]]:
    return wait_idle


def wait_idle(url: str, timeout: float = 10.0) -> dict[str, int]:
    """Wait until no slot is busy and nothing waits; returns the last /health."""
    deadline = time.monotonic() + timeout
    while True:
        health = httpx.get(f"{url}/health").json()
        if health["slots_busy"] == 0 and health["queued"] == 0:
            return dict(health)
        if time.monotonic() > deadline:
            raise AssertionError(f"server still busy: {health}")
        time.sleep(0.02)


def ask_under_grammar(server: str, grammar: str, *, max_tokens: int = 64, **body: Any) -> str:
    """One chat answer from `server` decoded under `grammar` (and `body`'s further fields: a guard, a seed)."""
    reply = httpx.post(
        f"{server}/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "a DAG"}], "max_tokens": max_tokens, "grammar": grammar, **body},
        timeout=60,
    )
    reply.raise_for_status()
    return str(reply.json()["choices"][0]["message"]["content"])


@pytest.fixture
def ask() -> Callable[..., str]:
    """`ask(server, grammar, **fields)`: `ask_under_grammar`."""
    return ask_under_grammar
