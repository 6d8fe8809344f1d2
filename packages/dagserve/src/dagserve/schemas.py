"""The OpenAI request bodies the server accepts (fields it does not know are ignored, as OpenAI's own SDKs expect)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_MESSAGES = 1024
"""More than any conversation that fits a context; each message costs template and tokenizer work."""


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Request):
    """One part of a message's content; only text is understood."""

    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    """One message of a conversation."""

    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = None

    def as_template_input(self) -> dict[str, str]:
        content = self.content
        if isinstance(content, list):
            content = "".join(part.text for part in content)
        # Templates know `system`; OpenAI's newer `developer` role means the same.
        role = "system" if self.role == "developer" else self.role
        return {"role": role, "content": content or ""}


class StreamOptions(_Request):
    include_usage: bool = False
    """Send one more chunk with the token usage before `[DONE]`."""


class JsonSchemaFormat(_Request):
    """OpenAI's `response_format.json_schema`: the answer is JSON that the schema accepts."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    name: str = "response"
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None
    """Accepted for compatibility: the answer always follows the schema (it is decoded under its grammar)."""


class ResponseFormat(_Request):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None

    @model_validator(mode="after")
    def _schema_given(self) -> ResponseFormat:
        if self.type == "json_schema" and self.json_schema is None:
            raise ValueError('type "json_schema" needs `json_schema: {"name": ..., "schema": {...}}`')
        return self


class _Sampling(_Request):
    model: str | None = None
    """Accepted for compatibility; the server has one model."""
    temperature: float = Field(1.0, ge=0.0, le=2.0)
    """0 is greedy."""
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1)
    logit_bias: dict[int, float] | None = None
    """Token id -> bias added to its logit (-100 bans it, as with OpenAI)."""
    ignore_eos: bool = False
    """dagserve extension: never stop at an end-of-generation token (for benchmarks)."""
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    repeat_penalty: float = Field(1.0, ge=0.5, le=2.0)
    """llama.cpp's extension: divide the logits of the last `repeat_last_n` tokens (1.0: off)."""
    repeat_last_n: int = Field(64, ge=0, le=4096)
    response_format: ResponseFormat | None = None
    """`json_object` or `json_schema`: the answer is decoded under a grammar, so it is JSON (the schema's)."""
    grammar: str | None = Field(None, min_length=1, max_length=262_144)
    """llama.cpp's extension: a GBNF grammar (a `root` rule) the answer is decoded under."""
    name_guard: bool = False
    """dagserve extension: where the answer's ```` ``` ````-fenced Python code runs at import (module level, a `with
    DAG` block, a `@dag` function), a name it loads must be one it defined or imported before, a builtin or a
    keyword; `>>` must join tasks without a cycle; a task id is used once. Tokens that would break this are refused,
    as a grammar refuses (monitor-guided decoding: `dagserve._names`)."""
    version_guard: str | None = Field(None, pattern=r"^\d+\.\d+(\.\d+)?$")
    """dagserve extension: the Airflow version (`3.1`, `2.10.5`) the answer targets. Where its code imports from
    `airflow`, each module and name must exist in that series, and a `trigger_rule=` must be one it has (a real
    install's, bundled: `dagcore.modules`), and a keyword argument passed to an operator, a sensor, `DAG`, `Asset`
    or `TaskGroup` must be one its class takes there; tokens that would break this are refused. A version of a major
    the table lacks checks nothing."""
    version_guard_keywords: bool = True
    """dagserve extension: with `version_guard`, check keyword arguments too (False: imports and trigger rules
    only, as before 2026-12-07's keyword table)."""
    stop_repeats: int | None = Field(None, ge=0, le=16)
    """dagserve extension: end the answer, as cut (`finish_reason: length`), once its last tokens (at least 96) are
    one block written this many times in a row: a model caught in a loop would write it until max_tokens. 0 never
    does; left out, the server's `--stop-repeats` decides."""
    cache_prompt: bool = True
    """llama.cpp's option: start from the longest prefix of this prompt a slot already holds. False evaluates the
    whole prompt afresh: a cached prefix was computed in another batch, whose numbers differ in the last bits, and a
    greedy answer can flip on them; with one slot and no cache, the same request gets the same answer."""
    grammar_first: bool = False
    """llama.cpp's option: apply the grammar before every pick, not only when the free pick breaks it. Greedy answers
    are the same either way; sampled ones then follow the constrained distribution exactly, at the grammar's cost
    on every token."""

    @model_validator(mode="after")
    def _one_constraint(self) -> _Sampling:
        if self.grammar is not None and self.response_format is not None and self.response_format.type != "text":
            raise ValueError("give `grammar` or a JSON `response_format`, not both")
        if self.ignore_eos and (self.grammar is not None or self.response_format is not None):
            raise ValueError("ignore_eos cannot go with a grammar: a finished grammar allows only the end token")
        return self

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > 16 or any(not s for s in stops):
            raise ValueError("stop takes up to 16 non-empty strings")
        return value

    @field_validator("logit_bias")
    @classmethod
    def _bias(cls, value: dict[int, float] | None) -> dict[int, float] | None:
        if value and any(not -100.0 <= v <= 100.0 for v in value.values()):
            raise ValueError("logit_bias values must be between -100 and 100")
        return value

    def stops(self) -> tuple[str, ...]:
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop or ())


class ChatCompletionRequest(_Sampling):
    """`POST /v1/chat/completions`."""

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    """OpenAI's newer name for `max_tokens`."""


class CompletionRequest(_Sampling):
    """`POST /v1/completions`."""

    prompt: str | list[str]
    max_tokens: int | None = Field(16, ge=1)
    """16 when left out, as OpenAI's completions endpoint does; null means up to the context."""

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("give one prompt (a string, or a list of one string)")
        return value

    def text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]
