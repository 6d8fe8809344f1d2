"""The prompt contract: one definition of how a request becomes a conversation, shared with training and serving."""

from __future__ import annotations

import pytest

from dagcore import AirflowVersion, VersionError, extract_code, series
from dagdata import CHATML_TEMPLATE, DEFAULT_CONTRACT, PromptContract

CODE = "from airflow import DAG\n\nwith DAG(dag_id='x') as dag:\n    pass\n"


def test_messages_shape_with_and_without_an_answer() -> None:
    messages = DEFAULT_CONTRACT.messages("  Load the files.  ", "2.10.3", CODE)
    assert [m["role"] for m in messages] == ["system", "user", "assistant"]
    assert all(set(m) == {"role", "content"} for m in messages)
    assert messages[0]["content"] == DEFAULT_CONTRACT.system_message("2.10.3")
    assert messages[1]["content"] == "Load the files.\n\nTarget: Apache Airflow 2.10"
    assert messages[2]["content"] == DEFAULT_CONTRACT.answer(CODE)

    prompt = DEFAULT_CONTRACT.messages("Load the files.", "2.10.3")
    assert [m["role"] for m in prompt] == ["system", "user"]
    assert prompt == messages[:2]


@pytest.mark.parametrize(
    ("version", "stated"),
    [("2.10.3", "2.10"), ("2.10", "2.10"), ("3.0.0rc1", "3.0"), (None, "latest")],
)
def test_user_states_the_target_major_minor(version: str | None, stated: str) -> None:
    assert series(AirflowVersion.of(version)) == stated
    assert DEFAULT_CONTRACT.user("Do it", version).endswith(f"Target: Apache Airflow {stated}")


@pytest.mark.parametrize("version", ["3", "", "latest"])
def test_a_version_that_is_none_is_refused_not_guessed(version: str) -> None:
    with pytest.raises(VersionError):
        DEFAULT_CONTRACT.user("Do it", version)


def test_user_states_airflow_2_10_for_2_10_3() -> None:
    assert DEFAULT_CONTRACT.user("Load the files.", "2.10.3") == "Load the files.\n\nTarget: Apache Airflow 2.10"


def test_answer_fences_the_code_once() -> None:
    assert DEFAULT_CONTRACT.answer(CODE) == "```python\n" + CODE.rstrip("\n") + "\n```"
    assert DEFAULT_CONTRACT.answer(CODE + "\n\n") == DEFAULT_CONTRACT.answer(CODE)
    assert DEFAULT_CONTRACT.answer(CODE).count("```") == 2


@pytest.mark.parametrize(
    "code",
    [CODE, "x = 1\n", "def f():\n    return '''a\n\nb'''\n", "# only a comment\n"],
)
def test_the_judges_rule_reads_back_every_answer_the_dataset_writes(code: str) -> None:
    assert extract_code(DEFAULT_CONTRACT.answer(code)) == code


def test_metadata_round_trips() -> None:
    metadata = DEFAULT_CONTRACT.metadata()
    assert set(metadata) == {
        "airflow_net.prompt.version",
        "airflow_net.prompt.system",
        "airflow_net.prompt.notes",
        "airflow_net.prompt.notes_header",
        "airflow_net.prompt.user_template",
        "airflow_net.prompt.answer_template",
    }
    assert all(isinstance(v, str) for v in metadata.values())
    assert PromptContract.from_metadata(metadata) == DEFAULT_CONTRACT

    custom = PromptContract(version="9", system="Be brief.", user_template="{request} [{airflow_version}]")
    fields = {"general.name": "airflow-net", **custom.metadata()}  # other GGUF keys are ignored
    restored = PromptContract.from_metadata(fields)
    assert restored == custom
    assert restored.user("Go", "3.0.2") == "Go [3.0]"


def test_from_metadata_without_prompt_fields_is_the_default() -> None:
    assert PromptContract.from_metadata({}) == DEFAULT_CONTRACT
    assert PromptContract.from_metadata({"general.name": "x"}) == DEFAULT_CONTRACT


def test_contract_is_frozen() -> None:
    with pytest.raises(ValueError, match="frozen"):
        DEFAULT_CONTRACT.system = "changed"  # type: ignore[misc]


def test_chatml_template_renders_with_a_tokenizer(tokenizer: object) -> None:
    tokenizer.chat_template = CHATML_TEMPLATE  # type: ignore[attr-defined]
    messages = DEFAULT_CONTRACT.messages("Load the files.", "2.10.3", CODE)
    text = tokenizer.apply_chat_template(messages, tokenize=False)  # type: ignore[attr-defined]
    assert text == "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages)
    prompt = tokenizer.apply_chat_template(messages[:2], tokenize=False, add_generation_prompt=True)  # type: ignore[attr-defined]
    assert prompt.endswith("<|im_start|>assistant\n")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    assert ids.count(tokenizer.convert_tokens_to_ids("<|im_start|>")) == 3  # type: ignore[attr-defined]
