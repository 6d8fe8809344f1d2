"""The prompt contract, read back from a model's GGUF metadata, and the code out of an answer.

dagdata defines the contract and dagtune writes it into the GGUF as `airflow_net.prompt.*`. dagserve imports
neither: it reads those keys from the model file, and falls back to a copy of dagdata's default (a test keeps
the two equal) so any other GGUF is prompted sensibly too.
"""

from __future__ import annotations

import ast
import re

from pydantic import BaseModel, ConfigDict

METADATA_PREFIX = "airflow_net.prompt."
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"python", "py", "python3"}


class PromptContract(BaseModel):
    """The system prompt, how the target version is stated, and how the answer is formatted."""

    model_config = ConfigDict(frozen=True)

    version: str = "1"
    """Version of the contract's format."""
    system: str = (
        "You are an expert Apache Airflow engineer. Write one complete, working Airflow DAG file that does "
        "what the user asks, for the Airflow version they target: import only what that version provides, "
        "and never import Airflow's test helpers. Reply with the Python file only, in a single ```python block."
    )
    """The system message."""
    user_template: str = "{request}\n\nTarget: Apache Airflow {airflow_version}"
    """`{request}` is the user's words; `{airflow_version}` is `major.minor` (e.g. `2.10`)."""
    answer_template: str = "```python\n{code}\n```"
    """How a training answer wraps the code."""

    def user(self, request: str, airflow_version: str | None) -> str:
        return self.user_template.format(request=request.strip(), airflow_version=major_minor(airflow_version))

    def messages(self, request: str, airflow_version: str | None) -> list[dict[str, str]]:
        """The system and user messages for one request."""
        return [
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user(request, airflow_version)},
        ]

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> PromptContract:
        """The contract stored in GGUF metadata, or the default when the model carries none."""
        found = {k.removeprefix(METADATA_PREFIX): v for k, v in metadata.items() if k.startswith(METADATA_PREFIX)}
        known = {k: v for k, v in found.items() if k in cls.model_fields}
        return cls.model_validate(known) if known else cls()


DEFAULT_CONTRACT = PromptContract()


def major_minor(version: str | None) -> str:
    """`2.10.3` -> `2.10`; no version -> `latest` (as dagdata states it in training data)."""
    if not version:
        return "latest"
    return ".".join(version.split(".")[:2])


def extract_code(completion: str) -> str | None:
    """The Python code in an answer: the largest ```python block (the first on a tie), else the largest
    untagged block, else the whole text when it parses. A block cut off by the token limit counts up to the end.
    None when there is no code."""
    tagged: list[str] = []
    untagged: list[str] = []
    for match in _FENCE.finditer(completion):
        tag, body = match.group(1).lower(), match.group(2)
        if tag in _PYTHON_TAGS:
            tagged.append(body)
        elif not tag:
            untagged.append(body)
    for blocks in (tagged, untagged):
        if blocks:
            best = max(blocks, key=len)  # max keeps the first of equals
            return best.rstrip() + "\n"
    text = completion.strip()
    if not text:
        return None
    try:
        ast.parse(text)
    except SyntaxError:
        return None
    return text + "\n"
