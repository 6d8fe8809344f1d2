"""A sequence's tokens as text: bytes joined into UTF-8 across tokens, stop strings held back until decided."""

from __future__ import annotations

import codecs


class TextTail:
    """Incremental text of one request.

    A token may end in the middle of a UTF-8 character; its bytes wait for the rest. Text that could be the
    start of a stop string is held back until the next tokens show whether it is one, so a stop string is
    never streamed to the client.
    """

    def __init__(self, stops: tuple[str, ...] = ()) -> None:
        self.stops = stops
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""

    def push(self, piece: bytes) -> tuple[str, bool]:
        """Text safe to emit now, and whether a stop string ended the text (what precedes it is emitted)."""
        text = self._decoder.decode(piece)
        if not self.stops:
            return text, False
        held = self._held + text
        first = min((i for i in (held.find(s) for s in self.stops) if i >= 0), default=-1)
        if first >= 0:
            self._held = ""
            return held[:first], True
        keep = 0
        for stop in self.stops:
            for k in range(min(len(stop) - 1, len(held)), keep, -1):
                if held.endswith(stop[:k]):
                    keep = k
                    break
        self._held = held[len(held) - keep :] if keep else ""
        return held[: len(held) - keep], False

    def flush(self) -> str:
        """What is left when the text ends without a stop string (an incomplete character becomes U+FFFD)."""
        rest = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return rest
