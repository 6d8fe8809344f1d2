"""One llama.cpp model and context, through llama-cpp-python's low-level binding.

`llama_cpp.Llama` is not used: it allocates a logits matrix and a batch sized for one sequence, and its
sampling and evaluation assume a single sequence. The engine needs one context shared by several sequences.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path
from typing import Any

import llama_cpp

from dagserve.exceptions import ModelLoadError

_backend_ready = False


def quiet_llama() -> None:
    """llama.cpp logs every tensor on load; keep only its errors (the binding routes them to this logger)."""
    logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)


class LlamaRuntime:
    """A loaded model and one context with `n_seq_max` sequences of `n_ctx_seq` tokens each."""

    def __init__(
        self,
        path: Path,
        *,
        n_ctx_seq: int,
        n_seq_max: int,
        n_threads: int,
        n_batch: int,
        gpu_layers: int = -1,
    ) -> None:
        global _backend_ready
        quiet_llama()
        if not _backend_ready:
            llama_cpp.llama_backend_init()
            _backend_ready = True
        self.path = path
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = gpu_layers
        self.model: Any = llama_cpp.llama_model_load_from_file(str(path).encode(), mparams)
        if not self.model:
            raise ModelLoadError(f"llama.cpp could not load {path} (not a GGUF model it supports?)")
        self.ctx: Any = None
        try:
            self.vocab: Any = llama_cpp.llama_model_get_vocab(self.model)
            self.n_vocab: int = llama_cpp.llama_vocab_n_tokens(self.vocab)
            self.n_ctx_train: int = llama_cpp.llama_model_n_ctx_train(self.model)
            self.metadata = self._read_metadata()
            n_ctx_seq = min(n_ctx_seq, self.n_ctx_train) if self.n_ctx_train > 0 else n_ctx_seq
            cparams = llama_cpp.llama_context_default_params()
            # Each sequence gets its own stretch of the KV cache (kv_unified=False), so a request that fits its
            # context always finishes, and attention never scans the other sequences' cells.
            cparams.n_ctx = n_ctx_seq * n_seq_max
            cparams.n_seq_max = n_seq_max
            cparams.kv_unified = False
            cparams.n_batch = n_batch
            cparams.n_ubatch = n_batch
            cparams.n_threads = n_threads
            cparams.n_threads_batch = n_threads
            cparams.no_perf = True
            self.ctx = llama_cpp.llama_init_from_model(self.model, cparams)
            if not self.ctx:
                raise ModelLoadError(
                    f"llama.cpp could not make a context of {n_seq_max} x {n_ctx_seq} tokens for {path} "
                    "(out of memory? try a smaller --ctx or --parallel)"
                )
            self.memory: Any = llama_cpp.llama_get_memory(self.ctx)
            self.n_ctx_seq: int = llama_cpp.llama_n_ctx_seq(self.ctx)
            self.n_seq_max = n_seq_max
            self.n_batch = n_batch
            self.eog = frozenset(t for t in range(self.n_vocab) if llama_cpp.llama_vocab_is_eog(self.vocab, t))
            self.add_bos: bool = llama_cpp.llama_vocab_get_add_bos(self.vocab)
            self.bos: int = llama_cpp.llama_vocab_bos(self.vocab)
            self.bos_text = self._special_text(self.bos)
            self.eos_text = self._special_text(llama_cpp.llama_vocab_eos(self.vocab))
            self.n_params: int = llama_cpp.llama_model_n_params(self.model)
            self.size: int = llama_cpp.llama_model_size(self.model)
        except BaseException:
            self.close()
            raise
        self._piece_buf = ctypes.create_string_buffer(256)

    def tokenize(self, text: str, *, add_special: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        n_max = len(data) + 8
        tokens = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self.vocab, data, len(data), tokens, n_max, add_special, parse_special)
        if n < 0:  # only if a tokenizer made more tokens than bytes: retry with the size it asked for
            n_max = -n
            tokens = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self.vocab, data, len(data), tokens, n_max, add_special, parse_special)
        return list(tokens[:n])

    def scan_vocab(self) -> tuple[dict[str, tuple[int, int]], int]:
        """The tokens `parse_special` turns on (control and unknown; text -> (token, attributes)), and the most
        bytes of prompt text one token can stand for (its text as stored, which is never shorter)."""
        control: dict[str, tuple[int, int]] = {}
        longest = 1
        toggled = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        for token in range(self.n_vocab):
            raw: bytes | None = llama_cpp.llama_vocab_get_text(self.vocab, token)
            longest = max(longest, len(raw or b""))
            attr: int = llama_cpp.llama_vocab_get_attr(self.vocab, token)
            if attr & toggled and raw:
                control.setdefault(raw.decode("utf-8", errors="replace"), (token, attr))
        return control, longest

    def piece(self, token: int) -> bytes:
        """The bytes of one token (special tokens render empty). Engine thread only: shares one buffer."""
        buf = self._piece_buf
        n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self.vocab, token, buf, len(buf), 0, False)
        return buf.raw[:n]

    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: bytes | None = llama_cpp.llama_vocab_get_text(self.vocab, token)
        return text.decode("utf-8", errors="replace") if text else ""

    def _read_metadata(self) -> dict[str, str]:
        """Every scalar GGUF key as a string (llama.cpp does not return arrays)."""
        out: dict[str, str] = {}
        size = 1024
        buf = ctypes.create_string_buffer(size)
        for i in range(llama_cpp.llama_model_meta_count(self.model)):
            key = _grow(lambda b, n, i=i: llama_cpp.llama_model_meta_key_by_index(self.model, i, b, n), buf)
            val = _grow(lambda b, n, i=i: llama_cpp.llama_model_meta_val_str_by_index(self.model, i, b, n), buf)
            out[key] = val
        return out

    def close(self) -> None:
        if self.ctx:
            llama_cpp.llama_free(self.ctx)
            self.ctx = None
        if self.model:
            llama_cpp.llama_model_free(self.model)
            self.model = None


def _grow(read: Any, buf: ctypes.Array[ctypes.c_char]) -> str:
    n = read(buf, len(buf))
    if n >= len(buf):
        buf = ctypes.create_string_buffer(n + 1)
        n = read(buf, len(buf))
    return buf.raw[:n].decode("utf-8", errors="replace")
