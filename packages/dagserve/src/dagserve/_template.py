"""Chat messages to prompt text with the model's own Jinja chat template (`tokenizer.chat_template`)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
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


# Stand-ins for message content while rendering the template's own text: private-use characters, never markers.
_SENTINEL = re.compile("\ue000([0-9]+)\ue001")


@dataclass(frozen=True)
class Rendered:
    """A rendered prompt, and which of its text came from the messages rather than from the template."""

    text: str
    contents: tuple[str, ...]
    """Each message's content, as given."""
    pieces: tuple[tuple[str, bool], ...] | None
    """`(text, from_a_message)` spans that join to `text`; None when the template changes content as it renders
    it (trims it, splits it, branches on it), so the spans cannot be told apart."""


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

    def render_pieces(self, messages: list[dict[str, str]]) -> Rendered:
        """The prompt, and its spans of message content: what the tokenizer must read as text, never as markers."""
        text = self.render(messages)
        contents = tuple(m["content"] for m in messages)
        stand_ins = [{**m, "content": f"\ue000{i}\ue001"} for i, m in enumerate(messages)]
        try:
            skeleton = _SENTINEL.split(self.render(stand_ins))
        except ValueError:
            return Rendered(text, contents, None)
        # split() alternates the template's text with the index of the message whose content stood there.
        pieces: list[tuple[str, bool]] = []
        for i, part in enumerate(skeleton):
            if i % 2:
                pieces.append((contents[int(part)], True))
            elif part:
                pieces.append((part, False))
        # The stand-ins must give the same prompt once the content is put back; else the template treated the
        # content as more than text, and where it starts and ends is not known.
        if "".join(piece for piece, _ in pieces) != text:
            return Rendered(text, contents, None)
        return Rendered(text, contents, tuple(pieces))

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
