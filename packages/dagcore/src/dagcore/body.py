"""One safe reader of JSON request bodies for every airflow-net HTTP server (dagserve, the app).

A body from the network is hostile until read: it may never end, nest deeper than Python recurses, hold an
integer Python refuses to convert, a lone UTF-16 surrogate that no encoder takes, or thousands of tiny values
that each cost work later. This module reads it straight from the ASGI `receive` callable (no web framework
needed) and turns each of those into a `BodyError` with the HTTP status to answer, before any model sees it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict

from dagcore.exceptions import DagcoreError

Receive = Callable[[], Awaitable[Mapping[str, Any]]]
"""The ASGI `receive` callable (Starlette's and FastAPI's `request.receive`)."""

_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyLimits(BaseModel):
    """How much of a request body a server reads and how much structure it accepts."""

    model_config = ConfigDict(frozen=True)

    max_bytes: int = 8 * 1024 * 1024
    """Refused with 413 as soon as this many bytes arrived (a chunked body has no length to check first)."""
    max_depth: int = 32
    """Nesting of arrays and objects; request schemas need a handful of levels."""
    max_values: int = 10_000
    """Arrays, objects, strings, numbers and constants all told: bounds the work validation does later."""


class BodyError(DagcoreError):
    """A request body refused before validation; `status` and `code` are what the server answers."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        """400 for a body that is not acceptable JSON, 413 for one over `max_bytes`."""
        self.code = code
        """`body_too_large`, `invalid_json` or `body_too_complex`."""


class ClientGone(DagcoreError):
    """The client hung up before its body had arrived: nobody is left to answer."""


def too_large(limits: BodyLimits) -> BodyError:
    return BodyError(413, "body_too_large", f"request body over {limits.max_bytes} bytes")


async def read_body(receive: Receive, content_length: str | None, limits: BodyLimits) -> bytes:
    """The body's bytes; raises `BodyError` (413) once more than `max_bytes` arrived, `ClientGone` on a hang-up."""
    # The server has checked the header's form; a length of many digits is refused before int() has to read it.
    length = (content_length or "").strip()
    if length.isascii() and length.isdigit() and (len(length) > 18 or int(length) > limits.max_bytes):
        raise too_large(limits)
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone("the client disconnected before sending its whole body")
        if message["type"] != "http.request":
            continue
        body += message.get("body", b"")
        if len(body) > limits.max_bytes:
            raise too_large(limits)
        if not message.get("more_body", False):
            return bytes(body)


def parse_json_body(body: bytes, limits: BodyLimits) -> Any:
    """The JSON value of `body` (strict UTF-8, standard JSON only), within `limits`; else `BodyError` (400)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_no_constant)
    except RecursionError as e:
        raise _complex(f"the body nests deeper than {limits.max_depth} levels") from e
    except (json.JSONDecodeError, UnicodeDecodeError, _NotJson) as e:
        raise BodyError(400, "invalid_json", f"the body is not valid JSON: {_one_line(e)}") from e
    except ValueError as e:  # the only other one: an integer over the digits Python converts (4300)
        raise BodyError(400, "invalid_json", "the body holds a number too long to read") from e
    _check(value, limits)
    return value


async def read_json_body(receive: Receive, content_length: str | None, limits: BodyLimits | None = None) -> Any:
    """`read_body` then `parse_json_body`: the one call a request handler makes."""
    limits = limits or BodyLimits()
    return parse_json_body(await read_body(receive, content_length, limits), limits)


def _check(value: Any, limits: BodyLimits) -> None:
    """Depth, count and text checks, iteratively: the value may be as deep as json.loads recursed."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    count = 1
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _text(item)
            continue
        if not isinstance(item, dict | list):
            continue
        if depth >= limits.max_depth:
            raise _complex(f"the body nests deeper than {limits.max_depth} levels")
        count += len(item)
        if count > limits.max_values:
            raise _complex(f"the body holds more than {limits.max_values} JSON values")
        if isinstance(item, dict):
            for key, child in item.items():
                _text(key)
                stack.append((child, depth + 1))
        else:
            stack.extend((child, depth + 1) for child in item)


def _text(text: str) -> None:
    # JSON's \ud800 escape yields a lone surrogate: a str no encoder accepts, so it fails wherever it goes next.
    if not text.isascii() and _SURROGATE.search(text):
        raise BodyError(400, "invalid_json", "the body holds a lone UTF-16 surrogate (like \\ud800), which is not text")


class _NotJson(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def _complex(message: str) -> BodyError:
    return BodyError(400, "body_too_complex", message)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:200]
