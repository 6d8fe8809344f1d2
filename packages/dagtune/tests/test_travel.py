"""The prompt contract travels from the dataset's manifest through the run folder into the GGUF; each step is a
no-op when run again on the same inputs; GGUF export is an extra that says how to install it."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

import dagtune
from dagdata import DEFAULT_CONTRACT, PromptContract
from dagtune import TrainConfig

CUSTOM = PromptContract(
    system="You only write Airflow DAGs, nothing else.",
    user_template="Airflow {airflow_version} please: {request}",
)


@pytest.fixture(scope="module")
def custom_dataset(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny dataset with a dagdata-style manifest naming a contract other than the default."""
    folder = tmp_path_factory.mktemp("custom") / "dataset"
    shutil.copytree(tiny_dataset, folder)
    manifest = {"stage": "dataset", "fingerprint": "custom-1", "config": {"contract": CUSTOM.model_dump()}}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def _config(tiny_model: Path, dataset: Path, out: Path, **overrides: Any) -> TrainConfig:
    settings: dict[str, Any] = {
        "base_model": str(tiny_model),
        "dataset": dataset,
        "output_dir": out,
        "backend": "hf",
        "max_seq_length": 512,
        "lora_r": 8,
        "per_device_train_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_steps": 2,
        "logging_steps": 1,
        "eval_steps": 100,
        "save_steps": 100,
        "max_eval_samples": 2,
    }
    return TrainConfig.model_validate(settings | overrides)


def test_dataset_contract_is_read_from_the_manifest(custom_dataset: Path, tiny_dataset: Path) -> None:
    assert dagtune.dataset_contract(custom_dataset) == CUSTOM
    assert dagtune.dataset_contract(tiny_dataset) == DEFAULT_CONTRACT  # no manifest: a dataset made elsewhere
    broken = custom_dataset.parent / "broken"
    broken.mkdir()
    (broken / "manifest.json").write_text(json.dumps({"config": {"contract": {"system": 3}}}))
    with pytest.raises(dagtune.ConfigError, match="no valid prompt contract"):
        dagtune.dataset_contract(broken)


def test_train_records_the_contract_and_export_writes_it(
    tiny_model: Path, custom_dataset: Path, tmp_path: Path
) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    settings = _config(tiny_model, custom_dataset, tmp_path / "run")
    trained = dagtune.train(settings)
    assert not trained.skipped and trained.contract == CUSTOM
    moved = custom_dataset.with_name("moved")
    custom_dataset.rename(moved)  # the run folder's copy is what export reads
    try:
        exported = dagtune.export(trained.run_dir, out_dir=tmp_path / "export", quant="q8_0", verify_tokens=2)
    finally:
        moved.rename(custom_dataset)
    assert exported.contract == CUSTOM and exported.gguf == tmp_path / "export" / "model-q8_0.gguf"
    assert PromptContract.from_metadata(dagtune.read_metadata(exported.gguf)) == CUSTOM
    assert dagtune.train(settings).skipped
    again = dagtune.export(trained.run_dir, out_dir=tmp_path / "export", quant="q8_0", verify_tokens=2)
    assert again.skipped and again.gguf == exported.gguf
    other = tmp_path / "other"
    override = dagtune.export(trained.run_dir, out_dir=other, quant="f16", contract=DEFAULT_CONTRACT, verify_tokens=2)
    assert PromptContract.from_metadata(dagtune.read_metadata(override.gguf)) == DEFAULT_CONTRACT
    changed = dagtune.train(settings.model_copy(update={"learning_rate": 1e-3}))
    assert not changed.skipped and not dagtune.resumable(settings)


def test_materialize_and_export_model_are_no_ops_the_second_time(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    hf = dagtune.materialize(str(tiny_model), tmp_path / "base" / "hf")
    assert not hf.skipped and (hf.hf_dir / "config.json").is_file()
    assert dagtune.materialize(str(tiny_model), tmp_path / "base" / "hf").skipped
    gguf = dagtune.export_model(hf.hf_dir, tmp_path / "base", contract=CUSTOM, quant="q8_0", name="base")
    assert gguf.gguf == tmp_path / "base" / "model-q8_0.gguf" and not gguf.skipped
    assert PromptContract.from_metadata(dagtune.read_metadata(gguf.gguf)) == CUSTOM
    assert sorted(p.name for p in (tmp_path / "base").iterdir()) == ["hf", "manifest.json", "model-q8_0.gguf"]
    assert dagtune.export_model(hf.hf_dir, tmp_path / "base", contract=CUSTOM, quant="q8_0", name="base").skipped
    assert not dagtune.export_model(hf.hf_dir, tmp_path / "base", quant="q8_0", name="base").skipped


def test_export_without_the_extra_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llama_cpp" else real(name, *a))
    with pytest.raises(dagtune.MissingExtraError, match=r"pip install 'dagtune\[export\]'") as error:
        dagtune.export(tmp_path)
    assert isinstance(error.value, ImportError) and isinstance(error.value, dagtune.DagtuneError)
