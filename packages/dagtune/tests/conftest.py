"""A tiny Qwen2-shaped model made from a config, with a Qwen-style BPE tokenizer trained here, and a
small dataset in dagdata's format. Nothing is downloaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from dagdata import CHATML_TEMPLATE, DEFAULT_CONTRACT
from dagtune.gguf_export import QWEN2_REGEX

DAGS = [
    (
        "Run a bash command every day.",
        'from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n\nwith DAG(dag_id="daily_bash", '
        'schedule="@daily") as dag:\n    BashOperator(task_id="hello", bash_command="echo hello")\n',
    ),
    (
        "Two Python tasks, extract then load, hourly.",
        'from airflow.decorators import dag, task\n\n\n@dag(schedule="@hourly")\ndef etl():\n    @task\n'
        "    def extract():\n        return 1\n\n    @task\n    def load(x):\n        print(x)\n\n"
        "    load(extract())\n\n\netl()\n",
    ),
    (
        "Wait for a file, then copy it.",
        'from airflow import DAG\nfrom airflow.sensors.filesystem import FileSensor\n\nwith DAG(dag_id="wait_copy") '
        'as dag:\n    FileSensor(task_id="wait", filepath="/data/in.csv")\n',
    ),
]


def _train_tokenizer(folder: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    # Qwen2's own pre-tokenization: its split regex, then byte-level without GPT-2's regex.
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_REGEX), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    corpus = [code for _, code in DAGS] * 20 + [DEFAULT_CONTRACT.system, "Target: Apache Airflow 2.10 3.1 café 日本"]
    tok.train_from_iterator(corpus, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(folder)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer Qwen2 with random weights, saved as a local folder: `base_model` for training."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path_factory.mktemp("tiny-qwen2")
    _train_tokenizer(folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
        initializer_range=0.2,  # peaked logits: greedy decoding is not a coin toss between near-equal tokens
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dagdata's on-disk form: a DatasetDict of ChatML `messages` (built directly, with the same contract)."""
    from datasets import Dataset, DatasetDict

    folder = tmp_path_factory.mktemp("dataset")
    rows = [
        {"id": f"r{i}", "messages": DEFAULT_CONTRACT.messages(request, "2.10.3", code)}
        for i, (request, code) in enumerate(DAGS * 8)
    ]
    DatasetDict({"train": Dataset.from_list(rows[:20]), "test": Dataset.from_list(rows[20:])}).save_to_disk(
        str(folder / "hf")
    )
    return folder
