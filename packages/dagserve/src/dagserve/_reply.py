"""OpenAI response bodies: whole answers, and streamed chunks as server-sent events."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from dagserve._stream import Stream


async def sse_events(stream: Stream, reply: Reply, usage: bool) -> AsyncIterator[str]:
    try:
        if reply.chat:
            yield reply.chunk_json({"role": "assistant", "content": ""}, None)
        async for text in stream.chunks():
            yield reply.text_chunk(text)
        if stream.error is not None:
            body = {"error": {"message": stream.error, "type": "server_error", "code": "generation_failed"}}
            yield f"data: {json.dumps(body)}\n\n"
        else:
            yield reply.chunk_json({} if reply.chat else "", stream.finish_reason)
            if usage:
                yield f"data: {json.dumps(reply.envelope([], usage=usage_of(stream)))}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        if not stream.done:  # the client went away mid-stream
            stream.cancel()


class Reply:
    """Builds the response bodies; a streamed chunk is a fixed prefix, the JSON-escaped text and a fixed suffix."""

    def __init__(self, model_id: str, *, chat: bool) -> None:
        self.chat = chat
        self.id = f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex[:24]}"
        self.model_id, self.created = model_id, int(time.time())
        self.object = "chat.completion" if chat else "text_completion"
        marker = "\x00TEXT\x00"
        head, tail = json.dumps(self.envelope([self._choice(marker, None)])).split(json.dumps(marker))
        self._prefix, self._suffix = f"data: {head}", f"{tail}\n\n"

    def envelope(self, choices: list[Any], *, streaming: bool = True, usage: Any = None) -> dict[str, Any]:
        obj = self.object + (".chunk" if streaming and self.chat else "")
        body = {"id": self.id, "object": obj, "created": self.created, "model": self.model_id, "choices": choices}
        if usage is not None:
            body["usage"] = usage
        return body

    def _choice(self, content: Any, finish_reason: str | None) -> dict[str, Any]:
        if self.chat:
            delta = content if isinstance(content, dict) else {"content": content}
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {"index": 0, "text": content, "logprobs": None, "finish_reason": finish_reason}

    def text_chunk(self, text: str) -> str:
        return self._prefix + json.dumps(text) + self._suffix

    def chunk_json(self, content: Any, finish_reason: str | None) -> str:
        return f"data: {json.dumps(self.envelope([self._choice(content, finish_reason)]))}\n\n"

    def whole(self, text: str, stream: Stream) -> dict[str, Any]:
        if self.chat:
            choice: dict[str, Any] = {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": stream.finish_reason,
            }
        else:
            choice = {"index": 0, "text": text, "logprobs": None, "finish_reason": stream.finish_reason}
        body = self.envelope([choice], streaming=False, usage=usage_of(stream))
        body["timings"] = stream.timings()
        return body


def usage_of(stream: Stream) -> dict[str, int]:
    return {
        "prompt_tokens": stream.prompt_tokens,
        "completion_tokens": stream.completion_tokens,
        "total_tokens": stream.prompt_tokens + stream.completion_tokens,
    }
