"""Samples from a JSONL of completions (chat or prompt/completion form) or a folder of .py files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from dagcore import AirflowVersion, VersionError
from dageval.exceptions import InputError
from dageval.models import Sample


def _from_row(row: dict[str, Any], index: int, where: str) -> Sample:
    sample_id = str(row.get("id") or row.get("sample_id") or f"s{index:06d}")
    finish = row.get("finish_reason")
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages or messages[-1].get("role") != "assistant":
            raise InputError(f"{where}: `messages` must end with the assistant's answer")
        completion = str(messages[-1].get("content", ""))
        prompt = "\n".join(str(m.get("content", "")) for m in messages[:-1] if m.get("role") == "user")
    elif "completion" in row:
        raw = row["completion"]
        completion = raw[-1]["content"] if isinstance(raw, list) else str(raw)
        prompt = row.get("prompt", "")
        prompt = "\n".join(str(m.get("content", "")) for m in prompt) if isinstance(prompt, list) else str(prompt)
    else:
        raise InputError(f"{where}: a sample needs `messages` (chat) or `prompt` and `completion`")
    prompt_id = str(row.get("prompt_id") or row.get("dag_id") or prompt[:200] or sample_id)
    return Sample(
        id=sample_id,
        completion=completion,
        prompt_id=prompt_id,
        finish_reason=str(finish) if finish else None,
        airflow_version=row_version(row, prompt, where),
        expect=row.get("expect") or None,
        tags=[str(t) for t in row.get("tags") or []],
    )


def row_version(row: dict[str, Any], prompt: str, where: str) -> AirflowVersion | None:
    """A row's `airflow_version` field; for a prompt set made elsewhere without one, the version its prompt
    names, read here once (records made by airflow-net always carry the field)."""
    value = row.get("airflow_version")
    if value in (None, ""):
        return AirflowVersion.find(prompt)
    try:
        return AirflowVersion(str(value))
    except VersionError as e:
        raise InputError(f"{where}: airflow_version: {e}") from e


def _read_file(path: Path) -> str:
    """A regular file's text, never a link's target: O_NOFOLLOW also holds if the file is swapped meanwhile."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as e:
        raise InputError(
            f"{path}: a symbolic link, refused (samples are read as they are, links are not followed)"
        ) from e
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise InputError(f"{path}: not a regular file")
        return f.read().decode("utf-8", errors="replace")


def read_samples(path: str | Path) -> list[Sample]:
    """Samples from a folder of .py files (links refused), one .py file, or a JSONL file."""
    source = Path(path)
    if source.is_dir():
        files = sorted(source.rglob("*.py"))
        if not files:
            raise InputError(f"no .py file in {source}")
        links = [
            f for f in files if any(p.is_symlink() for p in [f, *f.parents] if p != source and source in p.parents)
        ]
        if links:
            names = ", ".join(str(f.relative_to(source)) for f in links[:5])
            raise InputError(f"{source}: symbolic links are refused, not followed: {names}")
        return [Sample(id=str(f.relative_to(source)), completion=_read_file(f)) for f in files]
    if not source.is_file():
        raise InputError(f"{source} does not exist")
    if source.suffix == ".py":
        return [Sample(id=source.name, completion=source.read_text(encoding="utf-8", errors="replace"))]
    samples = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{source}:{number}: not JSON ({e.msg})") from e
        samples.append(_from_row(row, number, f"{source}:{number}"))
    return samples
