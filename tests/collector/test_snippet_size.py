"""The served snippet: within its size budget, and reproducible from its source."""

from __future__ import annotations

import gzip
import io
import shutil
import subprocess
from pathlib import Path

from tests.helpers.node import node_and_npm, npm_ci

COLLECTOR = Path(__file__).resolve().parents[2] / "services" / "collector"
SERVED = COLLECTOR / "static" / "overt.js"
SOURCE = COLLECTOR / "snippet"
GZIP_BUDGET = 2000  # bytes after gzip -9 (Plausible's full tracker: 2,694; Umami's: 2,225)


def gzip_9_size(path: Path) -> int:
    """Bytes of `gzip -9 -c PATH`: deflate level 9 plus a header that names the file."""
    out = io.BytesIO()
    with gzip.GzipFile(path.name, "wb", compresslevel=9, fileobj=out, mtime=0) as packed:
        packed.write(path.read_bytes())
    return len(out.getvalue())


def test_served_snippet_fits_the_gzip_budget() -> None:
    size = gzip_9_size(SERVED)
    assert size <= GZIP_BUDGET, f"overt.js is {size} bytes gzipped, the budget is {GZIP_BUDGET}"


def test_served_snippet_is_the_wire_v1_build_not_the_source() -> None:
    served = SERVED.read_text()
    assert served.startswith("/* Overt snippet; source: services/collector/snippet */\n")
    assert "ACTIVE_WINDOW_MS" not in served  # minified: the source's names are gone
    for marker in ('"engagement"', '"pageview"', "sendBeacon", "keepalive"):
        assert marker in served


def test_snippet_rebuilds_byte_identical_from_source(tmp_path: Path) -> None:
    node, _ = node_and_npm()
    work = tmp_path / "snippet"
    work.mkdir()
    for name in ("package.json", "package-lock.json", "build.mjs"):
        shutil.copy(SOURCE / name, work / name)
    shutil.copytree(SOURCE / "src", work / "src")
    npm_ci(work, timeout=100)
    rebuilt = tmp_path / "overt.js"
    subprocess.run(
        [node, "build.mjs", str(rebuilt)], cwd=work, check=True, capture_output=True, timeout=60
    )
    assert rebuilt.read_bytes() == SERVED.read_bytes(), "run `make snippet` and commit the result"
