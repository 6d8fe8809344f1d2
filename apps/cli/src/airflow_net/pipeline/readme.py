"""A README's results block: the text between `<!-- results:NAME:start -->` and `<!-- results:NAME:end -->`.

The report stage owns that block and nothing else in the file: the prose around it stays the writer's.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dageval import InputError


def markers(name: str) -> tuple[str, str]:
    return f"<!-- results:{name}:start -->", f"<!-- results:{name}:end -->"


def _split(path: Path, name: str) -> tuple[str, str, str]:
    """(up to and including the start marker, the block, from the end marker on)."""
    start, end = markers(name)
    try:
        text = path.read_bytes().decode("utf-8")  # bytes: line endings outside the block stay as they are
    except OSError as e:
        raise InputError(f"cannot read {path} to write the results into: {e}") from e
    head, found_start, rest = text.partition(start)
    block, found_end, tail = rest.partition(end)
    if not found_start or not found_end:
        raise InputError(f"{path} has no {start} ... {end} block to write the results into")
    if start in tail or end in tail:
        raise InputError(f"{path} has more than one {start} block: which one is the results?")
    return head + start, block, end + tail


def read_block(path: Path, name: str) -> str:
    """The block's text, without the newlines next to its markers."""
    return _split(path, name)[1].strip("\n")


def write_block(path: Path, name: str, text: str) -> bool:
    """Replace the block by `text`, atomically (a reader sees the old file or the new one); False when it already
    held `text`, and then the file is left untouched."""
    head, block, tail = _split(path, name)
    body = text.strip("\n")
    if block.strip("\n") == body:
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(f"{head}\n{body}\n{tail}".encode())
    shutil.copymode(path, tmp)
    tmp.replace(path)
    return True
