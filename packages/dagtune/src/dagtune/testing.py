"""A tiny Qwen2-shaped model with a Qwen-style BPE tokenizer trained on the spot: for tests and offline demos.

Nothing is downloaded. The model has random weights (2 layers, 64 wide); what it writes is noise, but every
stage that handles a real model (training, merging, GGUF export, quantisation, serving) runs on it for real.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dagdata import CHATML_TEMPLATE, DEFAULT_CONTRACT
from dagtune.gguf_export import QWEN2_REGEX

SAMPLE_CODE = [
    'from airflow import DAG\nfrom airflow.operators.bash import BashOperator\n\nwith DAG(dag_id="daily_bash", '
    'schedule="@daily") as dag:\n    BashOperator(task_id="hello", bash_command="echo hello")\n',
    'from airflow.decorators import dag, task\n\n\n@dag(schedule="@hourly")\ndef etl():\n    @task\n'
    "    def extract():\n        return 1\n\n    @task\n    def load(x):\n        print(x)\n\n"
    "    load(extract())\n\n\netl()\n",
]


def train_tokenizer(folder: Path, corpus: Sequence[str] = (), vocab_size: int = 600) -> None:
    """A byte-level BPE with Qwen2's pre-tokenizer and ChatML specials, saved into `folder`."""
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
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    texts = [*(list(corpus) or SAMPLE_CODE)] * 20 + [
        DEFAULT_CONTRACT.system,
        "Target: Apache Airflow 2.10 3.1 café 日本",
    ]
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>", bos_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    fast.save_pretrained(folder)


def make_tiny_model(folder: Path, corpus: Sequence[str] = (), *, seed: int = 0) -> Path:
    """A 2-layer Qwen2 with random weights and its tokenizer, saved as a local folder (a `base_model`)."""
    import torch
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    folder.mkdir(parents=True, exist_ok=True)
    train_tokenizer(folder, corpus)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
        initializer_range=0.2,  # peaked logits: greedy decoding is not a coin toss between near-equal tokens
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    return folder
