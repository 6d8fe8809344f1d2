"""The prompt contract: how a request becomes a conversation, for data, training, serving and judging alike.

It is defined here once and travels as data: dagdata writes the contract a dataset was built with into its
manifest and records, dagtune writes it into the GGUF's metadata (`airflow_net.prompt.*`), and dagserve reads
it back from the model file, so a model made here is prompted exactly the way it was trained. A GGUF made
elsewhere carries none and gets `DEFAULT_CONTRACT`.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, model_validator

from dagcore.names import import_notes
from dagcore.version import AirflowVersion, series

METADATA_PREFIX = "airflow_net.prompt."


class PromptContract(BaseModel):
    """The system prompt, how the target version is stated, and how the answer is formatted."""

    model_config = ConfigDict(frozen=True)

    version: str = "2"
    """Version of the contract's format (2: the system message carries the target major's import lines)."""
    system: str = (
        "You are an expert Apache Airflow engineer. Write one complete, working Airflow DAG file that does "
        "what the user asks, for the Airflow version they target: import only what that version provides, "
        "and never import Airflow's test helpers. Reply with the Python file only, in a single ```python block."
    )
    """The system message."""
    notes: dict[str, str] = {str(major): import_notes(major) for major in (2, 3)}
    """What the system message adds for a target major (`"2"`, `"3"`; `"3"` when the version is unknown): the import
    lines of the names most DAGs use, as that major has them, under `notes_header`. Empty: nothing is added (as in
    contract 1, and in every contract read from a model file that carries none)."""
    notes_header: str = "Apache Airflow {major} imports them like this:"
    """The line before the notes; `{major}` is the target's major version."""
    user_template: str = "{request}\n\nTarget: Apache Airflow {airflow_version}"
    """`{request}` is the user's words; `{airflow_version}` is the series (`2.10`), or `latest` when unknown."""
    answer_template: str = "```python\n{code}\n```"
    """How a training answer wraps the code."""

    @property
    def stop(self) -> list[str]:
        """Where an answer is over: what `answer_template` puts after the code (the closing fence) and the line break
        a model writes next when it goes on past its file. Sent as the stop string, the model ends there instead of
        writing on to the token limit; the line break keeps an opening fence after a preamble (`Here:\n```python`)
        from matching."""
        _, found, tail = self.answer_template.partition("{code}")
        return [tail + "\n"] if found and tail.strip() else []

    def system_message(self, airflow_version: AirflowVersion | str | None) -> str:
        """The system message for a target version: `system`, then the notes of its major where there are any."""
        version = AirflowVersion.of(airflow_version)
        major = str(version.major) if version is not None else max(self.notes, default="3")
        note = self.notes.get(major)
        if not note:
            return self.system
        return f"{self.system}\n\n{self.notes_header.format(major=major)}\n{note}"

    def user(self, request: str, airflow_version: AirflowVersion | str | None) -> str:
        stated = series(AirflowVersion.of(airflow_version))
        return self.user_template.format(request=request.strip(), airflow_version=stated)

    def answer(self, code: str) -> str:
        return self.answer_template.format(code=code.rstrip("\n"))

    def messages(
        self, request: str, airflow_version: AirflowVersion | str | None, code: str | None = None
    ) -> list[dict[str, str]]:
        """ChatML messages: system, user and, for training, the assistant's answer."""
        messages = [
            {"role": "system", "content": self.system_message(airflow_version)},
            {"role": "user", "content": self.user(request, airflow_version)},
        ]
        if code is not None:
            messages.append({"role": "assistant", "content": self.answer(code)})
        return messages

    def metadata(self) -> dict[str, str]:
        """Flat string fields for GGUF metadata (`airflow_net.prompt.*`); `notes` as JSON."""
        fields = self.model_dump()
        fields["notes"] = json.dumps(fields["notes"], sort_keys=True)
        return {f"{METADATA_PREFIX}{k}": v for k, v in fields.items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> PromptContract:
        """The contract stored in GGUF metadata (unknown keys ignored), or the default when it carries none."""
        found = {k.removeprefix(METADATA_PREFIX): v for k, v in metadata.items() if k.startswith(METADATA_PREFIX)}
        known: dict[str, object] = {k: v for k, v in found.items() if k in cls.model_fields}
        if not known:
            return cls()
        if "notes" in known:
            known["notes"] = json.loads(str(known["notes"]))
        return cls.model_validate(known)

    @model_validator(mode="before")
    @classmethod
    def _contract_1_had_no_notes(cls, data: Any) -> Any:
        """A contract stored before notes existed (version 1: a model file's metadata, a dataset's manifest) is read
        back as the model was trained, without them, not with today's default."""
        if isinstance(data, dict) and data.get("version") == "1" and "notes" not in data:
            return {**data, "notes": {}}
        return data


DEFAULT_CONTRACT = PromptContract()
