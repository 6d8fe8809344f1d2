"""The asyncio side of one request: text as the engine makes it, then how it ended."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator


class Stream:
    """Fed on the event loop (the engine hands updates over with `call_soon_threadsafe`), read by one handler.

    Text that arrives while the reader is busy is joined into one chunk, so a slow client costs one write per
    wake-up, not one per token.
    """

    def __init__(self, prompt_tokens: int, *, live: bool = True) -> None:
        self.prompt_tokens = prompt_tokens
        self.live = live
        """Streamed to the client as it comes; otherwise the engine hands the text over once, at the end."""
        self.completion_tokens = 0
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.cancelled = False
        """Set by the handler when its client is gone; the engine frees the slot at its next step."""
        self.t_submit = time.perf_counter()
        self.t_first: float | None = None
        self.t_end: float | None = None
        self._parts: list[str] = []
        self._text: list[str] = []
        self._wake = asyncio.Event()

    @property
    def done(self) -> bool:
        return self.finish_reason is not None or self.error is not None

    def feed(self, text: str, completion_tokens: int, finish_reason: str | None, error: str | None) -> None:
        if self.done:
            return
        now = time.perf_counter()
        if self.t_first is None and completion_tokens:
            self.t_first = now
        if text:
            self._parts.append(text)
            self._text.append(text)
        self.completion_tokens = completion_tokens
        if finish_reason is not None or error is not None:
            self.finish_reason, self.error, self.t_end = finish_reason, error, now
        self._wake.set()

    def cancel(self) -> None:
        self.cancelled = True

    async def chunks(self) -> AsyncIterator[str]:
        """Text as it comes (possibly several tokens joined), ending when the request ends."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._parts:
                text = "".join(self._parts)
                self._parts.clear()
                yield text
            if self.done:
                return

    async def wait(self) -> str:
        """The whole text, once the request has ended."""
        while not self.done:
            await self._wake.wait()
            self._wake.clear()
        self._parts.clear()
        return "".join(self._text)

    def timings(self) -> dict[str, float | int]:
        end = self.t_end or time.perf_counter()
        first = self.t_first or end
        predicted_s = max(end - first, 1e-9)
        return {
            "prompt_n": self.prompt_tokens,
            "predicted_n": self.completion_tokens,
            "ttft_ms": round((first - self.t_submit) * 1000, 2),
            "predicted_ms": round(predicted_s * 1000, 2),
            "predicted_per_second": round(max(self.completion_tokens - 1, 0) / predicted_s, 2),
        }
