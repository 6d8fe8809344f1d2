"""Reading Python distributions' members: wheels and zip sdists (zip), and tar sdists, one way for every stage."""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

ARCHIVE_ERRORS: tuple[type[Exception], ...] = (OSError, zipfile.BadZipFile, tarfile.TarError)
"""What reading a broken or unreadable archive raises: callers say which file and what to do."""


def archive_members(path: Path) -> Iterator[tuple[str, int, bytes]]:
    """Each file in the zip or tar archive at `path` (its kind read from its content, not its name): member name,
    size and bytes. Raises one of `ARCHIVE_ERRORS`."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if not info.is_dir():
                    yield info.filename, info.file_size, archive.read(info)
    else:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                if member.isfile():
                    handle = archive.extractfile(member)
                    if handle is not None:
                        yield member.name, member.size, handle.read()
