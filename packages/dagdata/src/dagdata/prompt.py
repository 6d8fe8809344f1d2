"""The prompt contract: how a request becomes a conversation, defined once for data, training and serving.

It travels as data, not as copies of this code: every dataset record carries its `contract` fields,
dagtune writes them into the GGUF metadata, and dagserve reads them back from the model file, so a
model made here is prompted exactly the way it was trained.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

CONTRACT_VERSION = "1"
_FENCE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.DOTALL)


class PromptContract(BaseModel):
    """The system prompt, how the target version is stated, and how the answer is formatted."""

    model_config = ConfigDict(frozen=True)

    version: str = CONTRACT_VERSION
    system: str = (
        "You are an expert Apache Airflow engineer. Write one complete, working Airflow DAG file that does "
        "what the user asks, for the Airflow version they target: import only what that version provides, "
        "and never import Airflow's test helpers. Reply with the Python file only, in a single ```python block."
    )
    user_template: str = "{request}\n\nTarget: Apache Airflow {airflow_version}"
    """`{request}` is the user's words; `{airflow_version}` is `major.minor` (e.g. `2.10`)."""
    answer_template: str = "```python\n{code}\n```"

    def user(self, request: str, airflow_version: str | None) -> str:
        return self.user_template.format(request=request.strip(), airflow_version=major_minor(airflow_version))

    def answer(self, code: str) -> str:
        return self.answer_template.format(code=code.rstrip("\n"))

    def messages(self, request: str, airflow_version: str | None, code: str | None = None) -> list[dict[str, str]]:
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
        return {f"airflow_net.prompt.{k}": v for k, v in self.model_dump().items()}

    @classmethod
    def from_metadata(cls, fields: dict[str, str]) -> PromptContract:
        prefix = "airflow_net.prompt."
        found = {k.removeprefix(prefix): v for k, v in fields.items() if k.startswith(prefix)}
        return cls.model_validate(found) if found else cls()


def major_minor(version: str | None) -> str:
    """`2.10.3` -> `2.10`; None -> `2` is not a guess we make: `latest`."""
    if not version:
        return "latest"
    return ".".join(version.split(".")[:2])


def version_key(version: str | None) -> tuple[int, ...]:
    """Sort key for Airflow versions (`2.10` after `2.9`); missing versions sort first."""
    if not version:
        return (-1,)
    return tuple(int(p) if p.isdigit() else 0 for p in version.split("."))


def extract_code(completion: str) -> str:
    """The code of an answer in the contract's format: the first ```python block, else the text itself."""
    match = _FENCE.search(completion)
    return match.group(1).rstrip() + "\n" if match else completion


DEFAULT_CONTRACT = PromptContract()

# A ChatML template for tokenizers that ship none (the test tokenizers, some base models).
CHATML_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
