"""Optional parts of dagtune, checked before the work that needs them starts."""

from __future__ import annotations

import importlib.util

from dagtune.exceptions import MissingExtraError

EXPORT_INSTALL = "pip install 'dagtune[export]'"
UNSLOTH_INSTALL = "pip install 'dagtune[unsloth]'"


def require_export(purpose: str = "GGUF export", modules: tuple[str, ...] = ("gguf", "llama_cpp")) -> None:
    """GGUF files are read and written with `gguf`; quantising and verifying run llama.cpp (llama-cpp-python).

    Both are the `export` extra: llama-cpp-python compiles llama.cpp on install, which training does not need."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise MissingExtraError(
            f"{purpose} needs {' and '.join(missing)}, which `dagtune` alone does not install: `{EXPORT_INSTALL}`"
        )
