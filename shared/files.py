"""Files of the embedded mode that only the owner may read (the SQLite database, the server
secret): created 0600 from their first byte, in a directory Overt creates 0700."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def private_dir(path: Path) -> None:
    """Create `path` (and missing parents) if absent; the directory Overt makes is 0700.
    An existing directory is left as the operator set it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=PRIVATE_DIR)


def create_private(path: Path) -> bool:
    """Create an empty 0600 file at `path` unless one exists; returns whether it was made."""
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def read_or_publish(path: Path, content: bytes) -> bytes:
    """The content of `path`; if there is none yet, `content`, written there 0600 and durably.

    The file appears whole or not at all: `content` goes to a 0600 temporary file in the same
    directory, is fsynced, then hard-linked to `path`, which fails if another process got
    there first; that process's content is then read and returned. So concurrent first
    starts all end with the same content, and no reader ever sees a partial file."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes()
    private_dir(path.parent)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            return path.read_bytes()
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return content
    finally:
        os.unlink(temporary)
