"""Where results go the moment they arrive: append-only JSONL, flushed and fsynced line by line.

A run killed at any point loses nothing it had received; the next run reads the store back and
asks only for what is missing.
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from pathlib import Path

from daginstruct.models import Instruction, Outcome

RESULTS = "results.jsonl"
REJECTS = "rejects.jsonl"


def _read_lines(path: Path) -> list[str]:
    if not path.is_file():
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    # A kill mid-write can leave a torn last line: it is dropped, and that request asked again.
    return [line for line in lines if line.strip().endswith("}")]


class Store:
    def __init__(self, work_dir: Path) -> None:
        self.dir = work_dir
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.instructions: dict[str, Instruction] = {}
        for line in _read_lines(self.dir / RESULTS):
            try:
                record = Instruction.model_validate_json(line)
            except ValueError:
                continue
            self.instructions.setdefault(record.custom_id, record)
        self.failures: Counter[str] = Counter()
        self.reject_reasons: Counter[str] = Counter()
        self._seen: set[tuple[str, str]] = set()
        for line in _read_lines(self.dir / REJECTS):
            try:
                outcome = Outcome.model_validate_json(line)
            except ValueError:
                continue
            self._count(outcome)

    def _count(self, outcome: Outcome) -> bool:
        if outcome.source:
            key = (outcome.source, outcome.custom_id)
            if key in self._seen:
                return False
            self._seen.add(key)
        self.failures[outcome.custom_id] += 1
        self.reject_reasons[outcome.reason] += 1
        return True

    def _append(self, name: str, line: str) -> None:
        with self._lock, (self.dir / name).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def done(self, custom_id: str) -> bool:
        return custom_id in self.instructions

    def attempts(self, custom_id: str) -> int:
        """Attempts already spent on a request (failed ones, plus the one that succeeded)."""
        return self.failures[custom_id] + (1 if custom_id in self.instructions else 0)

    def add(self, instruction: Instruction) -> None:
        if instruction.custom_id in self.instructions:
            return  # a duplicate result (an adopted batch, a retried request that both answered)
        self._append(RESULTS, instruction.model_dump_json())
        self.instructions[instruction.custom_id] = instruction

    def reject(self, outcome: Outcome) -> None:
        with self._lock:
            counted = self._count(outcome)
        if counted:
            self._append(REJECTS, outcome.model_dump_json())

    def reject_counts(self) -> dict[str, int]:
        return dict(sorted(self.reject_reasons.items()))


def write_json_atomic(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True, default=str)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
