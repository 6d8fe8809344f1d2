"""Chat messages to prompt text with the model's own Jinja chat template (`tokenizer.chat_template`)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

# For models that ship no template (dagdata uses the same one for its test tokenizers).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


class _IgnoreGeneration(jinja2.ext.Extension):
    """HF templates mark assistant spans with `{% generation %}`; rendering ignores the marker."""

    tags = {"generation"}  # noqa: RUF012 - jinja2 declares it an instance attribute

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(x: Any, ensure_ascii: bool = False, indent: int | None = None, **kwargs: Any) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, **kwargs)


def _raise(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    """Renders like transformers' `apply_chat_template` and llama_cpp's `Jinja2ChatFormatter`."""

    def __init__(self, source: str | None, *, bos_token: str, eos_token: str) -> None:
        self.source = source or CHATML_TEMPLATE
        self.from_model = bool(source)
        env = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(),
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[_IgnoreGeneration, jinja2.ext.loopcontrols],
        )
        env.filters["tojson"] = _tojson
        self._template = env.from_string(self.source)
        self.bos_token, self.eos_token = bos_token, eos_token

    def render(self, messages: list[dict[str, str]]) -> str:
        """Prompt text ending where the assistant's answer starts. Raises ValueError for messages it refuses."""
        try:
            return self._template.render(
                messages=messages,
                bos_token=self.bos_token,
                eos_token=self.eos_token,
                add_generation_prompt=True,
                raise_exception=_raise,
                strftime_now=lambda f: datetime.now().strftime(f),
            )
        except jinja2.TemplateError as e:
            raise ValueError(f"the model's chat template failed: {e}") from e
