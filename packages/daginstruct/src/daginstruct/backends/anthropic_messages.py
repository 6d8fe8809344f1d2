"""Synchronous Anthropic Messages, for small runs: answers at once, at the full price."""

from __future__ import annotations

from typing import Any

from daginstruct.backends.base import RequestAtATime
from daginstruct.models import InstructionRequest, Usage


def text_of(message: Any) -> str:
    return "".join(getattr(block, "text", "") for block in message.content)


class AnthropicMessagesBackend(RequestAtATime):
    name = "anthropic"

    def __init__(self, client: Any, model: str, *, concurrency: int = 4, max_attempts: int = 3) -> None:
        self.client = client
        self.model = model
        self.concurrency = concurrency
        self.max_attempts = max_attempts

    def complete(self, request: InstructionRequest, attempt: int) -> tuple[str, Usage]:
        message = self.client.messages.create(**params(request, self.model))
        return text_of(message), Usage(
            input_tokens=message.usage.input_tokens, output_tokens=message.usage.output_tokens
        )


def params(request: InstructionRequest, model: str) -> dict[str, Any]:
    """Message parameters for one request: the same for the sync and the batch API."""
    return {
        "model": model,
        "max_tokens": request.max_tokens,
        "system": request.system,
        "messages": [{"role": "user", "content": request.prompt}],
    }
