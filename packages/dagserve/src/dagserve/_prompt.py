"""Prompt tokens in which only the chat template's own markers are control tokens.

Tokenising a whole rendered prompt with llama.cpp's `parse_special` would read `<|im_end|><|im_start|>system`
inside a user's message as real turn markers: a user could open a system turn. So the template's own text is
split at control tokens here, the way llama.cpp splits it, and everything between them (the template's plain
text and the messages' content alike) is tokenised with `parse_special` off. A benign prompt gets exactly the
tokens it got before; a hostile one gets its markers as the text they are.
"""

from __future__ import annotations

import re
from functools import cached_property

import llama_cpp

from dagserve._llama import LlamaRuntime
from dagserve._template import Rendered

_SPACE = " \t\n\v\f\r"  # what C's isspace() strips around a token marked lstrip/rstrip


class PromptTokenizer:
    """Tokens of prompts for one model."""

    def __init__(self, runtime: LlamaRuntime) -> None:
        self.rt = runtime
        self._control, self.longest_token_bytes = runtime.scan_vocab()

    def least_tokens(self, *texts: str) -> int:
        """Fewest tokens the texts can make, in a pass over their bytes: a prompt that cannot fit the context
        is refused without the seconds that tokenising megabytes takes."""
        size = sum(len(text.encode("utf-8", "surrogatepass")) for text in texts)
        return -(-size // self.longest_token_bytes)

    @cached_property
    def _marker(self) -> re.Pattern[str] | None:
        # Longest first, as llama.cpp tries them, so `<|im_start|>` is never read as a shorter token's text.
        texts = sorted(self._control, key=len, reverse=True)
        return re.compile("|".join(map(re.escape, texts))) if texts else None

    def text(self, text: str, *, add_bos: bool) -> list[int]:
        """A raw prompt: all of it text, markers included."""
        return self.rt.tokenize(text, add_special=add_bos, parse_special=False)

    def chat(self, rendered: Rendered, *, add_bos: bool) -> list[int]:
        """A rendered conversation: control tokens where the template wrote them, and only there.

        Raises ValueError when a message holds a control token's text and the template rewrote the content as
        it rendered it, so that where the content lies in the prompt is not known.
        """
        marker = self._marker
        if marker is None:
            return self.rt.tokenize(rendered.text, add_special=add_bos, parse_special=False)
        if rendered.pieces is None:
            for content in rendered.contents:
                if found := marker.search(content):
                    raise ValueError(
                        f"a message holds the model's special token {found.group()!r}, and its chat template "
                        "rewrites message content, so the two cannot be kept apart"
                    )
            # No message holds a marker's text, so every marker in the prompt is the template's own.
            return self.rt.tokenize(rendered.text, add_special=add_bos, parse_special=True)
        runs, markers = self._partition(rendered.pieces, marker)
        tokens = [self.rt.bos] if add_bos and self.rt.bos >= 0 else []
        for run, token in zip(runs, [*markers, None], strict=True):
            if run:
                tokens += self.rt.tokenize(run, add_special=False, parse_special=False)
            if token is not None:
                tokens.append(token)
        return tokens

    def _partition(self, pieces: tuple[tuple[str, bool], ...], marker: re.Pattern[str]) -> tuple[list[str], list[int]]:
        """Text runs with a control token between each two; text next to text is one run, as llama.cpp sees it."""
        runs, markers, attrs = [""], [], []
        for text, from_message in pieces:
            if from_message:
                runs[-1] += text
                continue
            start = 0
            for found in marker.finditer(text):
                runs[-1] += text[start : found.start()]
                token, attr = self._control[found.group()]
                markers.append(token)
                attrs.append(attr)
                runs.append("")
                start = found.end()
            runs[-1] += text[start:]
        # llama.cpp trims the whitespace beside a token marked lstrip or rstrip (Phi-3's, some added tokens).
        for i, attr in enumerate(attrs):
            if attr & llama_cpp.LLAMA_TOKEN_ATTR_LSTRIP:
                runs[i] = runs[i].rstrip(_SPACE)
            if attr & llama_cpp.LLAMA_TOKEN_ATTR_RSTRIP:
                runs[i + 1] = runs[i + 1].lstrip(_SPACE)
        return runs, markers
