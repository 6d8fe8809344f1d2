"""Git history at the blob level: `ls-tree` per ref, then each distinct blob read once via `cat-file --batch`."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import git

from dagmine.exceptions import RefError, SourceError
from dagmine.models import Ref
from dagmine.sources import RELEASE_TAGS, Entry, airflow_version_of_tag, ref_order


class GitSource:
    """A local git repository, bare or not. Nothing is checked out."""

    kind = "git"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self._repo = git.Repo(self.path)
        except git.NoSuchPathError as e:
            raise SourceError(f"{self.path} does not exist: give the path of a git repository") from e
        except git.InvalidGitRepositoryError as e:
            raise SourceError(
                f"{self.path} is not a git repository: give a clone (bare or not), or use a folder source"
            ) from e
        self._git_dir = Path(self._repo.git_dir)

    @property
    def location(self) -> str:
        return str(self.path.resolve())

    def _git(self, *args: str) -> str:
        try:
            return str(self._repo.git.execute(["git", f"--git-dir={self._git_dir}", *args]))
        except git.GitCommandError as e:
            stderr = str(e.stderr)
            if "dubious ownership" in stderr:
                raise SourceError(
                    f"git refuses to read {self.location}: it belongs to another user. If you trust it, run "
                    f"`git config --global --add safe.directory {self._git_dir}`"
                ) from e
            raise

    def _tags(self) -> dict[str, str]:
        """Every tag and the commit it points to (annotated tags peeled), in one git call."""
        listing = self._git("for-each-ref", "refs/tags", "--format=%(refname:strip=2)%00%(objectname)%00%(*objectname)")
        tags: dict[str, str] = {}
        for line in listing.splitlines():
            name, target, peeled = line.split("\0")
            tags[name] = peeled or target
        return tags

    def resolve(self, refs: Sequence[str] | None = None, pattern: str | None = None) -> list[Ref]:
        tags = self._tags()
        if refs:
            names = sorted(dict.fromkeys(refs), key=ref_order)
        else:
            regex = re.compile(pattern or RELEASE_TAGS)
            names = sorted((name for name in tags if regex.search(name)), key=ref_order)
            if not names:
                raise RefError(
                    f"no tag of {self.location} matches {regex.pattern!r}: "
                    "pass --tags with another pattern, or explicit --refs"
                )
        commits: list[str] = []
        for name in names:
            if name in tags:
                commits.append(tags[name])
                continue
            try:
                commits.append(self._git("rev-parse", "--verify", "--end-of-options", f"{name}^{{commit}}").strip())
            except git.GitCommandError as e:
                raise RefError(f"unknown ref {name!r} in {self.location}: see `git tag` and `git branch -a`") from e
        return [
            Ref(name=name, airflow_version=airflow_version_of_tag(name), revision=sha)
            for name, sha in zip(names, commits, strict=True)
        ]

    def entries(self, refs: Sequence[Ref]) -> Iterator[Entry]:
        for ref in refs:
            listing = self._git("ls-tree", "-r", "-l", "-z", "--full-tree", ref.revision or ref.name)
            for record in listing.split("\0"):
                if not record:
                    continue
                meta, _, path = record.partition("\t")
                mode, kind, sha, size = meta.split()
                # Only regular files (not symlinks or submodules) that Python would import.
                if kind == "blob" and mode.startswith("100") and path.endswith(".py"):
                    yield Entry(ref=ref.name, path=path, key=sha, size=int(size))

    def read(self, keys: Iterable[str]) -> Iterator[tuple[str, bytes]]:
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return
        proc = subprocess.Popen(
            ["git", f"--git-dir={self._git_dir}", "cat-file", "--batch"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None and proc.stdout is not None
        stdin = proc.stdin

        def feed() -> None:
            # A writer thread: git answers while we still send, so neither pipe fills up and blocks.
            try:
                stdin.write(("\n".join(wanted) + "\n").encode())
            finally:
                stdin.close()

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        try:
            for _ in wanted:
                header = proc.stdout.readline().split()
                if len(header) != 3:
                    raise SourceError(f"git cat-file gave an unexpected answer {header!r} in {self.location}")
                sha, size = header[0].decode(), int(header[2])
                data = proc.stdout.read(size)
                proc.stdout.read(1)  # the newline after each object
                yield sha, data
        finally:
            writer.join()
            proc.stdout.close()
            proc.wait()
