"""Reading an upload safely: a zip of CSV files or one CSV file, never trusted.

An upload comes from outside, so every bound is checked before or while it is read, and
nothing is ever written to disk under a name from the archive:

- a zip: at most MAX_ENTRIES files; names are only matched against the report names (a name
  with a path, `..`, a backslash or a NUL is refused, never extracted); encrypted entries are
  refused; each entry's uncompressed size (declared, and counted while reading, which stops
  at the declared size) is bounded in all by `max_bytes` and each by MAX_RATIO times its
  compressed size (zip bombs);
- CSV text: UTF-8 (a byte-order mark allowed), decoded strictly; a line longer than
  MAX_LINE_CHARS or a field longer than the csv module's limit is refused, so a row never
  holds more than that in memory;
- a cell: text both databases store (`storable_cell`), else the upload is refused, as
  any other bad cell is, rather than cleaned: an import is checked whole before it is
  kept and its sender can be told, and a cleaned key ("/a\x00b" as "/ab") could fold one
  group's rows into another's.

Every refusal is a `BadUpload` naming the file and line.
"""

from __future__ import annotations

import csv
import io
import zipfile
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.api.transfer.exceptions import BadUpload
from shared.storable import storable

MAX_ENTRIES = 64
MAX_RATIO = 200
MAX_LINE_CHARS = 64 * 1024
MAX_FIELDS = 64
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


@dataclass(frozen=True, slots=True)
class CsvFile:
    name: str  # its name in the archive (or the upload's name)
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (line number, fields)
    text: io.TextIOWrapper

    def release(self) -> None:
        """Let go of the underlying file (whose owner closes it) without closing it."""
        if not self.text.closed:
            self.text.detach()


def storable_cell(column: str, raw: str) -> str:
    """`raw`, a cell of `column` (as the file names it), if both databases can store it;
    ValueError otherwise (PostgreSQL's text holds no NUL: SQLite's does, so an import that
    kept one would be counted on one backend and fail on the other)."""
    if not storable(raw):
        raise ValueError(f"{column}: holds a NUL character (or an unpaired surrogate)")
    return raw


def is_zip(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) in ZIP_MAGIC


def safe_entry_name(name: str) -> str:
    """The file name of a zip entry, refusing any name that reaches outside the archive."""
    if (
        not name
        or "\x00" in name
        or "\\" in name
        or name.startswith("/")
        or ".." in name.split("/")
        or (len(name) > 1 and name[1] == ":")
    ):
        raise BadUpload(f"the archive holds a file named {name[:80]!r}: refused")
    if "/" in name.rstrip("/"):
        raise BadUpload(f"{name[:80]!r}: the archive's files must be at its top level")
    return name


def bounded_lines(text: IO[str], *, name: str) -> Iterator[str]:
    """The lines of `text`, each at most MAX_LINE_CHARS long (else refused)."""
    while True:
        try:
            line = text.readline(MAX_LINE_CHARS + 1)
        except UnicodeDecodeError as exc:
            raise BadUpload(f"{name}: not UTF-8 text ({exc.reason})") from None
        if not line:
            return
        if len(line) > MAX_LINE_CHARS:
            raise BadUpload(f"{name}: a line is longer than {MAX_LINE_CHARS} characters")
        yield line


def read_csv(binary: IO[bytes], *, name: str) -> CsvFile:
    """A CSV file's header and its rows, read as they are iterated (bounded memory)."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", errors="strict", newline="")
    reader = csv.reader(bounded_lines(text, name=name), strict=True)

    def rows() -> Iterator[tuple[int, list[str]]]:
        try:
            for fields in reader:
                if len(fields) > MAX_FIELDS:
                    raise BadUpload(f"{name} line {reader.line_num}: more than {MAX_FIELDS} fields")
                if fields:
                    yield reader.line_num, fields
        except csv.Error as exc:
            raise BadUpload(f"{name} line {reader.line_num}: {exc}") from None
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise BadUpload(f"{name}: cannot be unpacked ({exc})") from None

    iterator = rows()
    header = next(iterator, None)
    if header is None:
        raise BadUpload(f"{name}: empty, a CSV file starts with its header")
    return CsvFile(name, [h.strip() for h in header[1]], iterator, text)


class _CountingReader(io.RawIOBase):
    """A zip entry's stream that refuses to give more than `budget` bytes in all."""

    def __init__(self, inner: IO[bytes], budget: list[int], name: str) -> None:
        self.inner, self.budget, self.name = inner, budget, name

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.inner.read(len(buffer))
        self.budget[0] -= len(data)
        if self.budget[0] < 0:
            raise BadUpload(f"{self.name}: the archive unpacks to more than the limit", status=413)
        buffer[: len(data)] = data
        return len(data)


def csv_files(path: Path, *, filename: str, max_bytes: int) -> Generator[CsvFile, None, None]:
    """Each CSV file of an upload (a zip of them, or one), read lazily in order.

    Files in a zip that are not CSV (a README) are skipped."""
    if not is_zip(path):
        with path.open("rb") as binary:
            yield from _released(read_csv(binary, name=filename))
        return
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        raise BadUpload(f"{filename}: not a readable zip ({exc})") from None
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ENTRIES:
            raise BadUpload(f"the archive holds {len(entries)} files, at most {MAX_ENTRIES}")
        declared = 0
        for entry in entries:
            safe_entry_name(entry.filename)
            if entry.flag_bits & 0x1:
                raise BadUpload(f"{entry.filename}: encrypted files are refused")
            if entry.file_size > MAX_RATIO * max(entry.compress_size, 1024):
                raise BadUpload(
                    f"{entry.filename}: unpacks to more than {MAX_RATIO} times its size "
                    "(a zip bomb?)",
                    status=413,
                )
            declared += entry.file_size
        if declared > max_bytes:
            raise BadUpload(f"the archive unpacks to more than {max_bytes} bytes", status=413)
        budget = [max_bytes]
        for entry in entries:
            if entry.is_dir() or not entry.filename.lower().endswith(".csv"):
                continue
            try:
                with archive.open(entry) as raw:
                    counted = io.BufferedReader(_CountingReader(raw, budget, entry.filename))
                    yield from _released(read_csv(counted, name=entry.filename))
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
                raise BadUpload(f"{entry.filename}: cannot be unpacked ({exc})") from None


def _released(file: CsvFile) -> Iterator[CsvFile]:
    try:
        yield file
    finally:
        file.release()
