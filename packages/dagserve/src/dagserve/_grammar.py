"""Constrained decoding: OpenAI's `response_format` and llama.cpp's `grammar` field, both as one GBNF grammar.

llama.cpp samples under a GBNF grammar (its grammar sampler masks every token that cannot continue the text).
A JSON schema becomes a grammar through llama-cpp-python's port of llama.cpp's own converter, so a schema means
here what it means to llama.cpp's server: properties in the schema's order, required ones always written.
"""

from __future__ import annotations

import functools
import json
from typing import Any

import llama_cpp
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

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
