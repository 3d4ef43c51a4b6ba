"""Property tests of the transfer parsers: whatever bytes an upload holds (a CSV, a zip, a
broken zip), reading it yields checked rows or refuses it with a BadUpload, never another
exception; rows Overt writes read back as the same values."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.api.transfer.archive import CsvFile, csv_files, safe_entry_name
from services.api.transfer.exceptions import BadUpload
from services.api.transfer.plausible import parse_value, report_rows
from services.api.transfer.reports import REPORTS, TEXT_LENGTH, Kind, report_of_filename
from services.api.transfer.service import check_upload
from services.api.transfer.umami import UmamiAggregate
from shared.storable import storable

PURE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
MAX = 10_000_000


def read(path: Path, filename: str, data_format: str | None) -> tuple[str, int] | str:
    """What reading an upload gives: (format, rows), or the refusal's detail."""
    try:
        chosen, rows, _, _ = check_upload(
            path, filename=filename, data_format=data_format, timezone="UTC", max_bytes=MAX
        )
    except BadUpload as refused:
        detail = refused.detail
        status = refused.status
    else:
        return chosen, rows
    assert status in (413, 422)
    assert detail
    return detail


csv_text = st.lists(
    st.lists(st.text(max_size=12), min_size=1, max_size=8), min_size=0, max_size=6
).map(lambda rows: "\n".join(",".join(row) for row in rows))
headers = st.sampled_from(
    [
        "date,visitors,pageviews,bounces,visits,visit_duration",
        "date,visitors",
        "session_id,created_at,url_path,event_type,event_name,visit_id",
        "visitors,date,date",
        "",
    ]
)


@PURE
@given(header=headers, body=csv_text, data_format=st.sampled_from([None, "plausible", "umami"]))
def test_any_csv_text_is_read_or_refused(
    tmp_path: Path, header: str, body: str, data_format: str | None
) -> None:
    path = tmp_path / "upload"
    path.write_text(header + "\n" + body, encoding="utf-8")
    read(path, "imported_visitors_20260101_20260131.csv", data_format)


@PURE
@given(data=st.binary(max_size=2000))
def test_any_bytes_are_read_or_refused(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "upload"
    path.write_bytes(data)
    read(path, "imported_visitors_20260101_20260131.csv", None)
    path.write_bytes(b"PK\x03\x04" + data)  # looks like a zip, is not one
    assert isinstance(read(path, "upload.zip", None), str)


@PURE
@given(
    # zipfile itself cuts a name at a NUL (safe_entry_name's own test has those)
    names=st.lists(
        st.text(min_size=1, max_size=30).filter(lambda name: "\x00" not in name),
        min_size=1,
        max_size=4,
        unique=True,
    ),
    flip=st.integers(min_value=0, max_value=10_000),
)
def test_any_zip_is_read_or_refused(tmp_path: Path, names: list[str], flip: int) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in names:
            archive.writestr(name, "date,visitors\n2026-01-01,1\n")
    data = bytearray(out.getvalue())
    path = tmp_path / "upload"
    path.write_bytes(bytes(data))
    read(path, "upload.zip", None)
    data[flip % len(data)] ^= 0xFF  # one damaged byte anywhere
    path.write_bytes(bytes(data))
    read(path, "upload.zip", None)


@PURE
@given(name=st.text(max_size=40))
def test_entry_names_never_leave_the_archive(name: str) -> None:
    try:
        safe = safe_entry_name(name)
    except BadUpload:
        return
    assert ".." not in safe.split("/")
    assert not safe.startswith("/")
    assert "\\" not in safe
    assert "/" not in safe.rstrip("/")


def values(report_name: str) -> st.SearchStrategy[dict[str, Any]]:
    """A row of a report: any text Overt keeps, any count."""
    text = st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00\r\n"),
        max_size=40,
    ).map(str.strip)
    kinds: dict[Kind, st.SearchStrategy[Any]] = {
        Kind.day: st.dates(min_value=date(1970, 1, 1), max_value=date(9998, 12, 31)),
        Kind.text: text,
        Kind.number: st.integers(min_value=0, max_value=10**18 - 1),
        Kind.optional_count: st.none() | st.integers(min_value=0, max_value=10**18 - 1),
        Kind.code: st.integers(min_value=0, max_value=10**18 - 1),
    }
    report = REPORTS[report_name]
    return st.fixed_dictionaries({column: kinds[kind] for column, kind in report.columns})


@PURE
@given(data=st.data(), report_name=st.sampled_from(sorted(REPORTS)))
def test_report_rows_written_as_csv_read_back_the_same(
    tmp_path: Path, data: st.DataObject, report_name: str
) -> None:
    report = REPORTS[report_name]
    rows = data.draw(st.lists(values(report_name), max_size=5))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([column for column, _ in report.columns])
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c, _ in report.columns])
    filename = report.filename(date(2026, 1, 1), date(2026, 1, 31))
    assert report_of_filename(filename) == (report, date(2026, 1, 1), date(2026, 1, 31))
    path = tmp_path / "upload"
    path.write_text(out.getvalue(), encoding="utf-8")
    files = csv_files(path, filename=filename, max_bytes=MAX)
    back = [row for _, row in report_rows(report, next(files))]
    files.close()
    assert back == rows
    assert all(len(v) <= TEXT_LENGTH for row in back for v in row.values() if isinstance(v, str))


# Any text a cell may hold once read: NUL, lone surrogates (none comes out of strict UTF-8,
# but the parser must not rely on it), control and non-ASCII characters.
cells = st.lists(
    st.characters() | st.sampled_from(["\x00", "\ud800", "\udfff", "\x7f", "\u2028"]),
    max_size=60,
).map("".join)


def parsed(kind: Kind, raw: str) -> tuple[Any, str | None]:
    """A cell of the column `referrer` as its kind: (value, None), or (None, the refusal)."""
    try:
        return parse_value(kind, "referrer", raw), None
    except ValueError as refused:
        return None, str(refused)


@PURE
@given(kind=st.sampled_from(list(Kind)), raw=cells)
def test_a_cell_is_a_storable_value_of_its_kind_or_refused_by_its_column(
    kind: Kind, raw: str
) -> None:
    value, refusal = parsed(kind, raw)
    if refusal is not None:
        assert refusal.startswith("referrer: ")
        assert storable(raw) or kind is not Kind.text or "NUL" in refusal
    elif kind is Kind.text:
        assert value == raw
        assert storable(value)
        assert len(value) <= 2048
    elif kind is Kind.day:
        assert isinstance(value, date)
    else:
        assert value is None or (isinstance(value, int) and value >= 0)


UMAMI_ROW = {
    "session_id": "s1",
    "created_at": "2026-01-01 10:00:00",
    "url_path": "/",
    "event_type": "2",
    "event_name": "Signup",
    "os": "Linux",
}


def umami_cell(column: str, raw: str) -> tuple[UmamiAggregate, str | None]:
    """A one-row Umami export whose `column` holds `raw`, read: (its aggregate, the refusal)."""
    row = {**UMAMI_ROW, column: raw}
    lines = iter([(2, list(row.values()))])
    file = CsvFile("website_event.csv", list(row), lines, io.TextIOWrapper(io.BytesIO()))
    aggregate = UmamiAggregate("UTC")
    try:
        assert list(aggregate.add_file(file)) == [2]
    except BadUpload as refused:
        return aggregate, str(refused.detail)
    return aggregate, None


@PURE
@given(column=st.sampled_from(list(UMAMI_ROW)), raw=cells)
def test_an_umami_cell_is_taken_storable_or_refused_naming_file_line_and_column(
    column: str, raw: str
) -> None:
    aggregate, refusal = umami_cell(column, raw)
    if refusal is not None:
        assert refusal.startswith("website_event.csv line 2: ")
        if not storable(raw):
            assert refusal.startswith(f"website_event.csv line 2: {column}: ")
        return
    assert storable(raw)
    for _, stored in aggregate.rows():
        assert all(storable(value) for value in stored.values() if isinstance(value, str))
