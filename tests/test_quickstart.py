"""The README's quick start, run as printed in a fresh clone of the repository.

The commands are read out of README.md's two marked blocks (`<!-- quickstart:serve -->`,
`<!-- quickstart:steps -->`), never restated here. The README's example values (site id,
key, port 8000) are replaced by what the commands before printed, as a reader would; the
`# ...` lines under a command are its expected output. The server runs on a free port (set
with OVERT_PORT, as the README says), and the second terminal's commands get no OVERT_
variable: the tag they print must carry the running server's URL on their own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.helpers.backends import free_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The README's example values, replaced by what the commands print.
EXAMPLE_SITE = "3f9c0a1b2c4d"
EXAMPLE_KEY_ID = "5e1f0c2a9b3d"
EXAMPLE_KEY = f"ovt_{EXAMPLE_KEY_ID}_..."
EXAMPLE_ADDRESS = "127.0.0.1:8000"
READY_WITHIN = 400.0  # a fresh clone installs its virtualenv first (from uv's cache)


@dataclass
class Step:
    command: str
    expected: list[str] = field(default_factory=list)


def readme_block(name: str) -> list[Step]:
    """The shell block after `<!-- quickstart:NAME -->`: commands (continuation lines
    joined, comments after a command are its expected output)."""
    text = README.read_text()
    marker = f"<!-- quickstart:{name} -->\n```sh\n"
    assert marker in text, f"README.md has no {name} quick-start block"
    block = text.split(marker, 1)[1].split("\n```", 1)[0]
    steps: list[Step] = []
    pending = ""
    for line in block.splitlines():
        if pending:
            pending += "\n" + line
        elif line.startswith("# "):
            steps[-1].expected.append(line[2:])
            continue
        else:
            pending = line
        if not pending.endswith("\\"):
            steps.append(Step(pending))
            pending = ""
    return steps


def uv_directory() -> Path | None:
    """Where `uv` is, so `make run` in the clone need not bootstrap it from PyPI."""
    found = shutil.which("uv")
    if found:
        return Path(found).parent
    common = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--path-format=absolute", "--git-common-dir"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    for checkout in (ROOT, Path(common).parent):
        if (checkout / ".tools" / "bin" / "uv").exists():
            return checkout / ".tools" / "bin"
    return None


def _environment(uv: Path | None) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OVERT_") and name not in ("VIRTUAL_ENV", "CI")
    }
    if uv is not None:
        env["PATH"] = f"{uv}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.mark.timeout(900)
def test_readme_quick_start_as_printed(tmp_path: Path) -> None:
    serve = readme_block("serve")
    steps = readme_block("steps")
    assert [step.command.split("#")[0].strip() for step in serve] == ["make run"]
    clone = tmp_path / "overt"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = _environment(uv_directory())
    port = free_port()
    log = tmp_path / "make-run.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            ["bash", "-c", serve[0].command],
            cwd=clone,
            env={**env, "OVERT_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # make and overt in one group, stopped together
        )
    try:
        _wait_ready(server, port, log)
        installed = subprocess.run(
            [str(clone / ".venv" / "bin" / "python"), "-c", "import pytest"],
            capture_output=True,
            check=False,
        )
        assert installed.returncode != 0, "make run installed the test tools"
        values = {EXAMPLE_ADDRESS: f"127.0.0.1:{port}"}
        answers: list[str] = []
        for step in steps:
            command = _replace(step.command, values)
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
            _learn(done.stdout, values)
            if step.expected:
                expected = [_replace(line, values) for line in step.expected]
                assert done.stdout.splitlines() == expected, command
            answers.append(done.stdout)
    finally:
        os.killpg(server.pid, signal.SIGINT)  # the foreground group, as Ctrl-C does
        server.wait(timeout=60)
    # Ctrl-C, as in a terminal: make dies of the signal once overt has drained and exited.
    assert server.returncode in (0, -signal.SIGINT), log.read_text()
    assert "Application shutdown complete" in log.read_text()
    # The site's tag named the running server, the pageview was accepted (202) and counted.
    assert f'src="http://127.0.0.1:{port}/overt.js"' in answers[0]
    answer = json.loads(answers[-1])
    assert answer["results"] == [{"dimensions": [], "metrics": [1, 1]}], answer


def _replace(text: str, values: dict[str, str]) -> str:
    for example, real in values.items():
        text = text.replace(example, real)
    return text


def _learn(output: str, values: dict[str, str]) -> None:
    """The site id and key a command printed, in place of the README's examples (the whole
    key before its id, which it contains)."""
    if found := re.search(r"registered with id ([0-9a-f]+)", output):
        values[EXAMPLE_SITE] = found.group(1)
    if found := re.search(r"^(ovt_([0-9a-f]+)_\S+)$", output, re.MULTILINE):
        values.update({EXAMPLE_KEY: found.group(1), EXAMPLE_KEY_ID: found.group(2)})


def _wait_ready(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"make run exited {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"make run was not ready within {READY_WITHIN} s:\n{log.read_text()}")
