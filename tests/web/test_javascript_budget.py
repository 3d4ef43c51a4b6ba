"""The web app ships at most 60 KB of JavaScript, gzip -9, in total: every script under
services/api/web/static (vendored htmx and uPlot, Overt's own), whether or not a page loads
it. The test prints the figure with its budget."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

import services.api.web

STATIC = Path(services.api.web.__file__).parent / "static"
BUDGET = 60 * 1024


def gzipped(path: Path) -> int:
    return len(gzip.compress(path.read_bytes(), compresslevel=9, mtime=0))


def test_total_javascript_shipped_is_within_the_budget(capsys: pytest.CaptureFixture[str]) -> None:
    scripts = sorted(STATIC.rglob("*.js"))
    assert STATIC / "dashboard.js" in scripts
    sizes = {path.relative_to(STATIC).as_posix(): gzipped(path) for path in scripts}
    total = sum(sizes.values())
    with capsys.disabled():
        for name, size in sizes.items():
            print(f"\n  {name}: {size:,} B gzip -9", end="")
        print(f"\n  JavaScript shipped: {total:,} B gzip -9 of a {BUDGET:,} B budget")
    assert total <= BUDGET, f"{total} B of JavaScript (gzip -9) is over the {BUDGET} B budget"
