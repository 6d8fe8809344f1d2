"""The prompt contract: how a request becomes a conversation, for data, training, serving and judging alike.

It is defined here once and travels as data: dagdata writes the contract a dataset was built with into its
manifest and records, dagtune writes it into the GGUF's metadata (`airflow_net.prompt.*`), and dagserve reads
it back from the model file, so a model made here is prompted exactly the way it was trained. A GGUF made
elsewhere carries none and gets `DEFAULT_CONTRACT`.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from dagcore.version import AirflowVersion, series

METADATA_PREFIX = "airflow_net.prompt."


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
            {"role": "system", "content": self.system},
            {"role": "user", "content": self.user(request, airflow_version)},
        ]
        if code is not None:
            messages.append({"role": "assistant", "content": self.answer(code)})
        return messages

    def metadata(self) -> dict[str, str]:
        """Flat string fields for GGUF metadata (`airflow_net.prompt.*`)."""
        return {f"{METADATA_PREFIX}{k}": v for k, v in self.model_dump().items()}

    @classmethod
    def from_metadata(cls, metadata: dict[str, str]) -> PromptContract:
        """The contract stored in GGUF metadata (unknown keys ignored), or the default when it carries none."""
        found = {k.removeprefix(METADATA_PREFIX): v for k, v in metadata.items() if k.startswith(METADATA_PREFIX)}
        known = {k: v for k, v in found.items() if k in cls.model_fields}
        return cls.model_validate(known) if known else cls()


DEFAULT_CONTRACT = PromptContract()
