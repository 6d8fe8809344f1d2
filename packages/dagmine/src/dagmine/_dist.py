"""Python distributions: wheels and sdists, e.g. those `pip download apache-airflow==X` fetches.

Airflow ships `example_dags` in its wheels (`apache-airflow`, `apache-airflow-core` for 3.x),
providers ship theirs in provider wheels, and recent provider sdists carry `tests/system/`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from email.parser import Parser
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name, parse_sdist_filename, parse_wheel_filename

from dagcore import AirflowVersion, VersionError
from dagcore.archives import ARCHIVE_ERRORS, archive_members
from dagmine.exceptions import RefError, SourceError
from dagmine.models import Ref
from dagmine.sources import Entry, content_key, ref_order

_CORE = {"apache-airflow", "apache-airflow-core"}
_SDIST_SUFFIXES = (".tar.gz", ".zip")


def _name_version(path: Path) -> tuple[str, str]:
    try:
        if path.name.endswith(".whl"):
            name, version, _, _ = parse_wheel_filename(path.name)
        else:
            name, version = parse_sdist_filename(path.name)
    except ValueError as e:
        raise SourceError(f"{path} is not a wheel or sdist file name (name-version.whl / .tar.gz): {e}") from e
    return str(name), str(version)


class _Archive:
    """A distribution's members (dagcore.archive_members), a broken archive a SourceError naming it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def members(self) -> Iterator[tuple[str, int, bytes]]:
        try:
            yield from archive_members(self.path)
        except ARCHIVE_ERRORS as e:
            raise SourceError(f"cannot read distribution {self.path}: {e}") from e


def _strip_sdist_root(name: str, is_sdist: bool) -> str:
    # sdists hold everything under `name-version/`; wheels are already rooted at the import package.
    return name.split("/", 1)[1] if is_sdist and "/" in name else name


def _airflow_floor(metadata: str) -> str | None:
    """The lowest `apache-airflow` version a provider requires, from its METADATA / PKG-INFO."""
    message = Parser().parsestr(metadata)
    for line in message.get_all("Requires-Dist") or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        if canonicalize_name(req.name) in _CORE and req.marker is None:
            floors = [s.version for s in req.specifier if s.operator in (">=", "==", "~=")]
            if floors:
                return min(floors, key=ref_order)
    return None


def _as_version(text: str | None) -> AirflowVersion | None:
    """A release or floor that is not a plain Airflow version (`2.10.0.dev0`) tags nothing rather than fail."""
    try:
        return AirflowVersion.of(text)
    except VersionError:
        return None


class DistributionSource:
    """Wheel and sdist files (or folders of them); each distribution file is one ref: `name==version`."""

    kind = "distribution"

    def __init__(self, *paths: str | Path) -> None:
        files: list[Path] = []
        for raw in paths:
            path = Path(raw).expanduser()
            if path.is_dir():
                files.extend(p for p in sorted(path.iterdir()) if _is_distribution(p))
            elif path.is_file() and _is_distribution(path):
                files.append(path)
            elif path.exists():
                raise SourceError(f"{path} is not a wheel (.whl) or sdist (.tar.gz, .zip)")
            else:
                raise SourceError(f"{path} does not exist")
        if not files:
            raise SourceError(
                f"no wheel or sdist in {', '.join(map(str, paths))}: `pip download --no-deps` fetches them"
            )
        self.files = files
        self._by_ref: dict[str, Path] = {}
        for file in files:
            name, version = _name_version(file)
            ref = f"{name}=={version}"
            if file.name.endswith(".whl") or ref not in self._by_ref:  # a wheel wins over its own sdist
                self._by_ref[ref] = file
        self._locations: dict[str, tuple[Path, str]] = {}

    @property
    def location(self) -> str:
        return ", ".join(str(f.resolve()) for f in self.files)

    def resolve(self, refs: Sequence[str] | None = None, pattern: str | None = None) -> list[Ref]:
        import hashlib
        import re

        names = sorted(self._by_ref, key=lambda r: (r.split("==")[0], ref_order(r.split("==")[1])))
        if refs:
            unknown = [r for r in refs if r not in self._by_ref]
            if unknown:
                raise RefError(f"unknown distribution ref(s) {unknown}; known: {names}")
            names = [n for n in names if n in refs]
        elif pattern:
            names = [n for n in names if re.search(pattern, n)]
            if not names:
                raise RefError(f"no distribution matches {pattern!r}; known: {self.files}")
        result: list[Ref] = []
        for name in names:
            file = self._by_ref[name]
            dist, version = name.split("==")
            airflow = _as_version(version if dist in _CORE else self._provider_floor(file))
            digest = hashlib.sha256(file.read_bytes()).hexdigest()
            result.append(Ref(name=name, airflow_version=airflow, revision=digest))
        return result

    def _provider_floor(self, file: Path) -> str | None:
        for member, _, data in _Archive(file).members():
            if member.endswith((".dist-info/METADATA", "PKG-INFO")) and member.count("/") <= 1:
                return _airflow_floor(data.decode("utf-8", "replace"))
        return None

    def entries(self, refs: Sequence[Ref]) -> Iterator[Entry]:
        for ref in refs:
            file = self._by_ref[ref.name]
            is_sdist = file.name.endswith(_SDIST_SUFFIXES)
            for member, size, data in _Archive(file).members():
                if member.endswith(".py"):
                    key = content_key(data)
                    self._locations.setdefault(key, (file, member))
                    yield Entry(ref=ref.name, path=_strip_sdist_root(member, is_sdist), key=key, size=size)

    def read(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        by_file: dict[Path, set[str]] = defaultdict(set)
        for key in dict.fromkeys(keys):
            file, member = self._locations[key]
            by_file[file].add(member)
        for file, members in by_file.items():
            for member, _, data in _Archive(file).members():
                if member in members:
                    yield content_key(data), data


def _is_distribution(path: Path) -> bool:
    return path.is_file() and (path.name.endswith(".whl") or path.name.endswith(_SDIST_SUFFIXES))
