"""The safe body reader on its own: ASGI messages in, a JSON value or a `BodyError` with its status out.

The servers' own tests (dagserve, the app) send the same bodies over real HTTP."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest

from dagcore import BodyError, BodyLimits, ClientGone, parse_json_body, read_body, read_json_body

LIMITS = BodyLimits(max_bytes=1000, max_depth=4, max_values=50)


def _receive(messages: Iterable[dict[str, Any]]) -> Any:
    pending = iter(messages)

    async def receive() -> dict[str, Any]:
        return next(pending)

    return receive


def _chunks(*parts: bytes) -> list[dict[str, Any]]:
    return [{"type": "http.request", "body": p, "more_body": i < len(parts) - 1} for i, p in enumerate(parts)]


def test_a_body_in_chunks_is_joined_and_parsed() -> None:
    receive = _receive(_chunks(b'{"a": [1, ', b'2], "b": "\\u00e9"}'))
    assert asyncio.run(read_json_body(receive, None, LIMITS)) == {"a": [1, 2], "b": "é"}


def test_the_limit_holds_while_reading_and_before_it() -> None:
    read: list[int] = []

    def endless() -> Iterable[dict[str, Any]]:
        while True:
            read.append(400)
            yield {"type": "http.request", "body": b" " * 400, "more_body": True}

    with pytest.raises(BodyError) as error:
        asyncio.run(read_body(_receive(endless()), None, LIMITS))
    assert (error.value.status, error.value.code, sum(read)) == (413, "body_too_large", 1200)
    for length in ("1001", "9" * 5000):  # refused from the header alone; 5000 digits never reach int()
        with pytest.raises(BodyError, match="over 1000 bytes"):
            asyncio.run(read_body(_receive([]), length, LIMITS))
    with pytest.raises(ClientGone):
        asyncio.run(read_body(_receive([*_chunks(b"{", b"")[:1], {"type": "http.disconnect"}]), "10", LIMITS))


@pytest.mark.parametrize(
    ("body", "code", "words"),
    [
        (b'{"n": ' + b"9" * 5000 + b"}", "invalid_json", "number too long"),
        (b'{"s": "\\ud800"}', "invalid_json", "surrogate"),
        (b'{"\\udfff": 1}', "invalid_json", "surrogate"),
        (b"\xed\xa0\x80", "invalid_json", "not valid JSON"),
        (b"[" * 100_000, "body_too_complex", "nests deeper"),
        (b"[[[[[1]]]]]", "body_too_complex", "nests deeper"),
        (json.dumps([0] * 51).encode(), "body_too_complex", "more than 50"),
        (b'{"t": NaN}', "invalid_json", "NaN is not JSON"),
        (b"{not json", "invalid_json", "not valid JSON"),
    ],
)
def test_hostile_json_is_a_400_with_a_reason(body: bytes, code: str, words: str) -> None:
    with pytest.raises(BodyError) as error:
        parse_json_body(body, LIMITS)
    assert (error.value.status, error.value.code) == (400, code)
    assert words in str(error.value) and "\n" not in str(error.value)


def test_a_surrogate_pair_is_text() -> None:
    assert parse_json_body(b'["\\ud83d\\ude00"]', LIMITS) == ["\U0001f600"]
