"""Plausible's CSV export in: each row of a report file checked and typed (a pure parser).

Columns are matched by name; columns a report gained in later Plausible versions (a
browser's version, pageviews per device, an exit page's bounces...) may be missing and read
as 0 or empty; `date` and `visitors` are required. Unknown columns are ignored.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from services.api.transfer.archive import CsvFile, storable_cell
from services.api.transfer.exceptions import BadUpload
from services.api.transfer.reports import TEXT_LENGTH, TEXT_LENGTHS, Kind, Report

DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
COUNT = re.compile(r"\d{1,18}")
REQUIRED = ("date", "visitors")

Row = dict[str, Any]


def column_positions(report: Report, header: list[str], *, name: str) -> dict[str, int]:
    """Where each of the report's columns is in a file's header (checked)."""
    if len(set(header)) != len(header):
        raise BadUpload(f"{name}: a column is named twice in the header")
    positions = {column: header.index(column) for column, _ in report.columns if column in header}
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        raise BadUpload(f"{name}: the header lacks {', '.join(missing)}")
    return positions


def parse_value(kind: Kind, column: str, raw: str) -> Any:
    """One field as its column's type; ValueError says what is wrong."""
    if kind is Kind.day:
        if not DAY.fullmatch(raw):
            raise ValueError(f"{column}: {raw[:40]!r} is not a YYYY-MM-DD day")
        return date.fromisoformat(raw)
    if kind is Kind.text:
        storable_cell(column, raw)
        limit = TEXT_LENGTHS.get(column, TEXT_LENGTH)
        if len(raw) > limit:
            raise ValueError(f"{column}: longer than {limit} characters")
        return raw
    if raw == "" and kind in (Kind.optional_count, Kind.code):
        return None if kind is Kind.optional_count else 0
    if not COUNT.fullmatch(raw):
        raise ValueError(f"{column}: {raw[:40]!r} is not a whole number from 0")
    return int(raw)


def default(kind: Kind) -> Any:
    return "" if kind is Kind.text else None if kind is Kind.optional_count else 0


def report_rows(report: Report, file: CsvFile) -> Iterator[tuple[int, Row]]:
    """The typed rows of one report file, with their line numbers; a bad row is refused."""
    positions = column_positions(report, file.header, name=file.name)
    width = len(file.header)
    for line, fields in file.rows:
        if len(fields) != width:
            raise BadUpload(
                f"{file.name} line {line}: {len(fields)} fields, the header has {width}"
            )
        row: Row = {}
        for column, kind in report.columns:
            position = positions.get(column)
            if position is None:
                row[column] = default(kind)
                continue
            try:
                row[column] = parse_value(kind, column, fields[position].strip())
            except ValueError as exc:
                raise BadUpload(f"{file.name} line {line}: {exc}") from None
        yield line, row
