"""Any OpenAI-compatible chat endpoint: a local dagserve, llama.cpp's or vLLM's server, a hosted API.

The wire format and the retries (429, 5xx, 529, Retry-After) are dagcore's `ChatClient`, the same client the
judge's generator and dagserve's DAG client use.
"""

from __future__ import annotations

import os

from dagcore import ChatClient, ChatError
from daginstruct.backends.base import RequestAtATime
from daginstruct.exceptions import BackendError
from daginstruct.models import InstructionRequest, Usage


class OpenAICompatBackend(RequestAtATime):
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 4,
        max_attempts: int = 3,
        max_retries: int = 4,
        timeout: float = 120.0,
        temperature: float = 0.7,
    ) -> None:
        self.model = model
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.temperature = temperature
        key = os.environ.get(api_key_env)  # read from the environment only, never stored
        self.client = ChatClient(base_url, api_key=key, model=model, timeout=timeout, retries=max_retries)

    def complete(self, request: InstructionRequest, attempt: int) -> tuple[str, Usage]:
        messages = [{"role": "system", "content": request.system}, {"role": "user", "content": request.prompt}]
        # A rejected answer is asked again a little hotter, so the retry is not the same answer.
        temperature = self.temperature if attempt == 0 else min(1.0, self.temperature + 0.2 * attempt)
        try:
            answer = self.client.chat(messages, max_tokens=request.max_tokens, temperature=temperature)
        except ChatError as e:
            status = f" answered HTTP {e.status}" if e.status is not None else ""
            raise BackendError(f"{self.client.base_url}{status}: {e}") from e
        usage = Usage(input_tokens=answer.usage.prompt_tokens, output_tokens=answer.usage.completion_tokens)
        return answer.text, usage
