"""Constrained decoding: OpenAI's `response_format` and llama.cpp's `grammar` field, both as one GBNF grammar.

llama.cpp samples under a GBNF grammar (its grammar sampler masks every token that cannot continue the text).
A JSON schema becomes a grammar through llama-cpp-python's port of llama.cpp's own converter, so a schema means
here what it means to llama.cpp's server: properties in the schema's order, required ones always written.
"""

from __future__ import annotations

import ctypes
import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llama_cpp
import numpy as np
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from dagserve._llama import quiet_llama
from dagserve._version_guard import Guard
from dagserve.exceptions import ModelLoadError
from dagserve.schemas import ResponseFormat


class GrammarError(ValueError):
    """A grammar or schema the server cannot decode under; the message says which and why."""


def grammar_for(response_format: ResponseFormat | None, grammar: str | None) -> str | None:
    """The GBNF grammar a request decodes under, or None for free text."""
    if grammar is not None:
        return grammar
    if response_format is None or response_format.type == "text":
        return None
    if response_format.type == "json_object":
        return JSON_GBNF
    assert response_format.json_schema is not None  # the request model checks this
    return _schema_grammar(json.dumps(response_format.json_schema.schema_, sort_keys=False))


@functools.lru_cache(maxsize=64)
def _schema_grammar(schema: str) -> str:
    # Clients send the same schema with every request: convert it once.
    try:
        return str(json_schema_to_gbnf(schema))
    except Exception as e:  # the converter raises bare Exceptions, ValueErrors and KeyErrors alike
        raise GrammarError(f"response_format.json_schema: this JSON schema cannot be decoded under: {e}") from e


def init_grammar_sampler(vocab: Any, grammar: str) -> Any:
    """llama.cpp's grammar sampler for `grammar`; raises GrammarError when llama.cpp cannot parse it."""
    sampler = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
    if not sampler:
        raise GrammarError(
            "llama.cpp could not parse the grammar (GBNF, with a `root` rule: "
            "https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md)"
        )
    return sampler


_PARSED: set[str] = set()
"""Grammars llama.cpp has parsed (parsing does not depend on the vocabulary): checked once, not per request."""


def check_grammar(vocab: Any, grammar: str) -> None:
    """Raise GrammarError now, before a request is queued, when llama.cpp would not decode under `grammar`."""
    if grammar in _PARSED:
        return
    llama_cpp.llama_sampler_free(init_grammar_sampler(vocab, grammar))
    if len(_PARSED) >= 64:
        _PARSED.clear()
    _PARSED.add(grammar)


_TOKEN = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])
"""llama.cpp's `llama_token_data`, for filling a candidate array from the logits in one copy."""


class _OneToken:
    """A one-candidate array: whether a grammar sampler, in its current state, allows one token (the check
    `GuidedSampler` makes before each pick, and `GrammarChecker` for each token of a text)."""

    def __init__(self) -> None:
        self._buf = (llama_cpp.llama_token_data * 1)()
        self._arr = llama_cpp.llama_token_data_array(self._buf, 1, -1, False)

    def allowed(self, grammar: Any, token: int) -> bool:
        arr, cell = self._arr, self._buf[0]
        cell.id = llama_cpp.llama_token(token)
        cell.logit, cell.p = 1.0, 0.0
        arr.data, arr.size, arr.selected, arr.sorted = self._buf, 1, -1, False
        llama_cpp.llama_sampler_apply(grammar, ctypes.byref(arr))
        return bool(np.isfinite(arr.data[0].logit))


class GuidedSampler:
    """One sequence's sampling under a grammar and/or a name guard, checked before a pick is applied, as llama.cpp's
    `common_sampler` does.

    Masking the whole vocabulary with the grammar costs more than the model's forward pass on a small model (49k
    candidates per token). So the token is first picked without the grammar; only when the grammar (or the guard)
    refuses it is the pick redone with the grammar applied first. A greedy pick is the same either way (the best
    token the grammar allows is the best token whenever it allows the best); a sampled pick keeps a token the grammar
    allows with its unconstrained probability, as llama.cpp's own server samples by default. `first`: the grammar
    masks every pick (llama.cpp's `grammar_first`): sampled picks then follow the constrained distribution exactly.

    `guard` (`dagserve._names.NameGuard`, `dagserve._version_guard.VersionGuard`, or both as `Guards`) reads each
    token's text: a redone pick takes the best of the grammar's `GUARD_CANDIDATES` most likely tokens that the guard
    allows too, or else of its `GUARD_WIDER` (a greedy pick is then exact, as above). When none is allowed the guard
    lets the identifier (or the statement) through and the grammar alone decides.
    """

    QUICK_CANDIDATES = 64
    """A refused greedy pick is redone by checking the likeliest tokens one by one, best first: the first that the
    grammar and the guard both allow is the token masking would pick (see `_first_allowed`). One token's grammar check
    costs about 0.05 ms; masking Qwen2.5's 151,936 tokens 40-80 ms, as long as decoding a batch of 8 slots on a 2-core
    CPU. Only when none of these is allowed is the vocabulary masked. 0 masks every time."""
    GUARD_CANDIDATES = 64
    GUARD_WIDER = 1024
    """Where none of the 64 likeliest is allowed, the next search before the guard gives up: a model that took `def`
    for `deferrable` in `DAG(...)` finds `ault` (for `default_args`) below its 64 likeliest."""
    SLOW_ACCEPT_S = 0.25
    """A grammar accept slower than this means llama.cpp's parse stacks are exploding: an ambiguous rule under
    brackets nested deeper and deeper (measured: the untuned base model writing `TaskGroup[` inside `TaskGroup[`,
    each level doubling the time, 22 s for one token at the eighth). `stalled` then asks the engine to cut the
    answer there, as it cuts a loop: it would otherwise hold every slot of the server for minutes."""

    def __init__(
        self,
        vocab: Any,
        n_vocab: int,
        chain: Any,
        grammar: str | None,
        *,
        first: bool = False,
        guard: Guard | None = None,
        piece: Callable[[int], bytes] | None = None,
        greedy: bool = False,
    ) -> None:
        self.first = first and grammar is not None
        self.greedy = greedy
        """`chain` picks the best raw logit (no bias, no penalty, no sampling): a refused pick may then be redone
        by `_first_allowed`."""
        self.chain = chain
        """The request's other samplers; the caller owns it (and frees it)."""
        self.grammar = init_grammar_sampler(vocab, grammar) if grammar is not None else None
        self.guard = guard
        if guard is not None and piece is None:
            raise ValueError("a name guard reads the tokens' text: give `piece`")
        self._piece = piece
        self.n_vocab = n_vocab
        self.refused = 0
        """Tokens the grammar or the guard refused, so the pick was redone."""
        self.refused_names = 0
        """Of those, tokens the guard refused (an undefined name, an import the target version lacks)."""
        self.stalled = False
        """The last grammar accept took over `SLOW_ACCEPT_S`."""
        self._buf = (llama_cpp.llama_token_data * n_vocab)()
        self._view = np.frombuffer(memoryview(self._buf), dtype=_TOKEN)  # the same memory: filled in place
        self._ids = np.arange(n_vocab, dtype=np.int32)
        self._arr = llama_cpp.llama_token_data_array(self._buf, n_vocab, -1, False)
        self._one = _OneToken()

    def _text(self, token: int) -> str:
        assert self._piece is not None
        return self._piece(token).decode("utf-8", errors="ignore")  # a split character is never part of a name

    def _fill(self, logits: np.ndarray[Any, Any], constrained: bool) -> None:
        view, arr = self._view, self._arr
        view["id"] = self._ids  # samplers sort the array in place: every pick starts from the logits again
        view["logit"] = logits
        view["p"] = 0.0
        arr.data, arr.size, arr.selected, arr.sorted = self._buf, self.n_vocab, -1, False
        if constrained and self.grammar is not None:
            llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(arr))

    def _choose(self) -> int:
        arr = self._arr
        arr.data, arr.size, arr.selected, arr.sorted = self._buf, self.n_vocab, -1, False
        llama_cpp.llama_sampler_apply(self.chain, ctypes.byref(arr))
        return int(arr.data[arr.selected].id)  # samplers may move `data`: read through the array's own pointer

    def _guard_mask(self, guard: Guard) -> None:
        """Keep, of the grammar's most likely tokens, those the guard allows (all of the grammar's when none is)."""
        logits = self._view["logit"]  # by token id: the grammar masks in place and never reorders
        k = min(self.GUARD_WIDER, self.n_vocab)
        top = np.argpartition(logits, -k)[-k:]
        top = top[np.argsort(logits[top])[::-1]]  # the likeliest first
        keep: list[int] = []
        for window in (top[: self.GUARD_CANDIDATES], top[self.GUARD_CANDIDATES :]):  # the 64, then the rest
            keep = [int(t) for t in window if np.isfinite(logits[t]) and guard.allows(self._text(int(t)))]
            if keep:
                break
        if not keep:
            guard.give_up()
            return
        masked = np.full(self.n_vocab, -np.inf, dtype=np.float32)
        masked[keep] = logits[keep]
        self._view["logit"] = masked

    def _first_allowed(self, logits: np.ndarray[Any, Any]) -> int | None:
        """The likeliest of the `QUICK_CANDIDATES` likeliest tokens that the grammar and the guard allow, or None.

        It is the greedy pick of the masked path: every likelier token is refused by one of the two, and it ranks
        among the grammar's `GUARD_CANDIDATES` likeliest, where the guard's mask looks first. Ties go to the lower
        id, as llama.cpp's greedy sampler breaks them."""
        k = min(self.QUICK_CANDIDATES, self.n_vocab)
        if k <= 0:
            return None
        top = np.argpartition(logits, -k)[-k:]
        for token in (int(t) for t in top[np.lexsort((top, -logits[top]))]):
            if not np.isfinite(logits[token]):
                return None
            if self.grammar is not None and not self._one.allowed(self.grammar, token):
                continue
            if self.guard is not None and not self.guard.allows(self._text(token)):
                continue
            return token
        return None

    def _allowed(self, token: int) -> bool:
        if self.grammar is not None and not self._one.allowed(self.grammar, token):
            return False
        if self.guard is not None and not self.guard.allows(self._text(token)):
            self.refused_names += 1
            return False
        return True

    def sample(self, ctx: Any, idx: int) -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, idx), shape=(self.n_vocab,))
        self._fill(logits, constrained=self.first)
        token = self._choose()
        if not self._allowed(token):
            self.refused += 1
            quick = self._first_allowed(logits) if self.greedy else None
            if quick is not None:
                token = quick
            else:
                self._fill(logits, constrained=True)
                if self.guard is not None:
                    self._guard_mask(self.guard)
                token = self._choose()
        if self.grammar is not None:
            start = time.perf_counter()
            llama_cpp.llama_sampler_accept(self.grammar, token)
            self.stalled = time.perf_counter() - start > self.SLOW_ACCEPT_S
        llama_cpp.llama_sampler_accept(self.chain, token)
        if self.guard is not None:
            self.guard.accept(self._text(token))
        return token

    def free(self) -> None:
        if self.grammar:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None


class GrammarChecker:
    """Which texts a grammar accepts, token by token as the sampler meets them, in one model's vocabulary (only the
    vocabulary is loaded). Checks a grammar against a corpus before answers are decoded under it."""

    def __init__(self, model: str | Path, grammar: str) -> None:
        quiet_llama()
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        self._model: Any = llama_cpp.llama_model_load_from_file(str(model).encode(), params)
        if not self._model:
            raise ModelLoadError(f"llama.cpp could not read the vocabulary of {model} (not a GGUF model?)")
        self._vocab: Any = llama_cpp.llama_model_get_vocab(self._model)
        self.grammar = grammar
        llama_cpp.llama_sampler_free(init_grammar_sampler(self._vocab, grammar))  # a GrammarError now, not later
        self._end = llama_cpp.llama_vocab_eos(self._vocab)
        self._buf = ctypes.create_string_buffer(256)

    def refusal(self, text: str, *, complete: bool = True) -> int | None:
        """Where the grammar first refuses `text`: the offset (in characters) of the token it refused, `len(text)`
        when it accepts the text but not its end (`complete`: the grammar must be finished, as when an answer
        stops); None when it accepts all of it."""
        tokens = self._tokens(text)
        sampler = init_grammar_sampler(self._vocab, self.grammar)
        one = _OneToken()
        done = b""
        try:
            for token in [*tokens, self._end] if complete else tokens:
                if not one.allowed(sampler, token):
                    return len(done.decode("utf-8", errors="replace"))
                llama_cpp.llama_sampler_accept(sampler, token)
                done += self._piece(token)
        finally:
            llama_cpp.llama_sampler_free(sampler)
        return None

    def _tokens(self, text: str) -> list[int]:
        data = text.encode("utf-8")
        tokens = (llama_cpp.llama_token * (len(data) + 8))()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), tokens, len(tokens), False, False)
        return list(tokens[:n])

    def _piece(self, token: int) -> bytes:
        n = llama_cpp.llama_token_to_piece(self._vocab, token, self._buf, len(self._buf), 0, False)
        return self._buf.raw[: max(n, 0)]

    def close(self) -> None:
        if self._model:
            llama_cpp.llama_model_free(self._model)
            self._model = None

    def __enter__(self) -> GrammarChecker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
