"""Does a model read the target version? Its likelihood of version twins, asked for each major.

    uv run python bench/version_sensitivity.py out/laptop/dataset before=/path/to/merged after=out/laptop/export/merged

A version twin is one composed design written for Airflow 2 and for Airflow 3 (dagsynth): the same request, files
that differ only where the majors do. For each twin pair of the dataset's train split, each model (a Hugging Face
folder) scores both files under both targets, prompted by its own contract (the folder's `contract.json`, as dagtune
writes it beside a model; else the one the dataset was built with):

    gap = [log p(file2 | ask 2) - log p(file2 | ask 3)] + [log p(file3 | ask 3) - log p(file3 | ask 2)]

in nats per pair: 0 when the model writes the same whatever version is asked; large when the version decides which
file it writes. `right` is the share of twin files the model finds likelier under their own target than under the
other (50% = blind). Training files, so this measures whether the version is used at all, not generalisation.
Writes bench/results/version_sensitivity.json.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from dagcore import PromptContract
from dagdata import dataset_contract

Pair = tuple[dict[str, Any], dict[str, Any]]


def twin_pairs(dataset: Path, limit: int) -> list[Pair]:
    """(Airflow 2 row, Airflow 3 row) of composed designs that the split holds for both majors, in file order."""
    by_request: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for line in (dataset / "train.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row.get("source") == "composed":
            by_request[row["request"]].setdefault(str(row["airflow_version"])[0], row)
    pairs = [(rows["2"], rows["3"]) for rows in by_request.values() if {"2", "3"} <= rows.keys()]
    return pairs[:limit]


def code_of(row: dict[str, Any]) -> str:
    return str(row["messages"][-1]["content"]).removeprefix("```python\n").removesuffix("\n```")


class Scorer:
    def __init__(self, folder: str, contract: PromptContract) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        self.model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
        self.contract = contract

    def logprob(self, request: str, version: str, code: str) -> float:
        """log p(answer | system, request stated for `version`), summed over the answer's tokens."""
        full = self.tokenizer.apply_chat_template(self.contract.messages(request, version, code), tokenize=False)
        prompt = self.tokenizer.apply_chat_template(
            self.contract.messages(request, version), tokenize=False, add_generation_prompt=True
        )
        ids = self.tokenizer(full, return_tensors="pt")["input_ids"]
        start = len(self.tokenizer(prompt)["input_ids"])
        with torch.no_grad():
            logits = self.model(ids).logits[0, :-1]
        token_lp = torch.log_softmax(logits, -1).gather(1, ids[0, 1:, None])[:, 0]
        return float(token_lp[start - 1 :].sum())


def measure(scorer: Scorer, pairs: list[Pair]) -> dict[str, float]:
    gaps: list[float] = []
    right = 0
    for two, three in pairs:
        request = str(two["request"])
        v2, v3 = str(two["airflow_version"]), str(three["airflow_version"])
        c2, c3 = code_of(two), code_of(three)
        own2, other2 = scorer.logprob(request, v2, c2), scorer.logprob(request, v3, c2)
        own3, other3 = scorer.logprob(request, v3, c3), scorer.logprob(request, v2, c3)
        gaps.append((own2 - other2) + (own3 - other3))
        right += (own2 > other2) + (own3 > other3)
    return {"pairs": len(pairs), "gap_nats": sum(gaps) / len(gaps), "right": right / (2 * len(pairs))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path, help="a dagdata folder (train.jsonl, manifest.json)")
    parser.add_argument("models", nargs="+", help="name=hf_folder")
    parser.add_argument("--pairs", type=int, default=24)
    parser.add_argument("--out", type=Path, default=Path("bench/results/version_sensitivity.json"))
    args = parser.parse_args()
    pairs = twin_pairs(args.dataset, args.pairs)
    if not pairs:
        raise SystemExit(f"{args.dataset}/train.jsonl holds no version twins: compose with dagsynth first")
    rows: dict[str, dict[str, Any]] = {}
    for spec in args.models:
        name, _, folder = spec.partition("=")
        if not folder:
            raise SystemExit(f"{spec!r}: give each model as name=folder")
        own = Path(folder) / "contract.json"
        contract = (
            PromptContract.model_validate_json(own.read_text(encoding="utf-8"))
            if own.is_file()
            else dataset_contract(args.dataset)
        )
        rows[name] = {**measure(Scorer(folder, contract), pairs), "contract": contract.version}
    print(f"version twins: {len(pairs)} pairs from {args.dataset}")
    print(f"{'model':<20} {'contract':>8} {'gap (nats/pair)':>16} {'right':>8}")
    for name, row in rows.items():
        print(f"{name:<20} {row['contract']:>8} {row['gap_nats']:>16.2f} {row['right']:>8.0%}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"dataset": str(args.dataset), "models": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
