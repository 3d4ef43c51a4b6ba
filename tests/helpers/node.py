"""Node.js for the tests that build or lint with an npm package pinned by a lock file."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers.backends import unavailable


def node_and_npm() -> tuple[str, str]:
    """The paths of `node` and `npm` (a failure in CI when either is missing)."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        unavailable("node/npm", "not on PATH (apt-get install nodejs npm)")
    assert npm is not None
    assert node is not None
    return node, npm


def npm_ci(work: Path, timeout: float = 300) -> None:
    """`npm ci` in `work` (its package.json and package-lock.json), quietly."""
    _, npm = node_and_npm()
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=work,
        check=True,
        capture_output=True,
        timeout=timeout,
    )
