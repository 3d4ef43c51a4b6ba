"""`make bench`: /e single's cost as instructions per request, against the same baseline.

`bench.run`'s req/s ratios move with this shared machine: its speed changed by 2x between
sessions and by tens of percent between rounds minutes apart, which hides a 5% change.
Instructions executed per request do not: each server runs under callgrind (valgrind), with
counting switched on only for a load after a warm-up, and the program's instruction total
divided by the requests wrk completed meanwhile. Repeats agree within 1-2%, and the ratio
of the two counts tracks the req/s ratio of quiet runs (both servers make the same system
calls per request: one read, one write). It counts user-space instructions only, so it is a
companion to the wall-clock ratio, not its replacement.

Under valgrind a server runs about 50x slower, so the load is wrk with 64 connections for
LOAD_SECONDS after WARMUP_SECONDS of the same load: a few thousand requests, enough that the
per-request figure settles (the first-request costs stay in the warm-up).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import redis

from bench.run import (
    REDIS_URL,
    ROOT,
    add_site,
    baseline_server,
    drop_keys,
    free_port,
    overt,
    overt_env,
    pg_database,
    scratch_database_url,
    stop,
)

WARMUP_SECONDS = 10
LOAD_SECONDS = 10


def load(port: int, site: str, seconds: int) -> int:
    """Requests wrk completed in `seconds` of /e single's load; non-2xx answers refused."""
    out = subprocess.run(
        ["wrk", "-t2", "-c64", "--timeout", "10s", f"-d{seconds}s", "-s",
         str(ROOT / "bench" / "event.lua"), f"http://127.0.0.1:{port}"],
        env={**os.environ, "SITE": site, "BATCH": "1"},
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"RESULT requests=(\d+) duration_us=\d+ errors=(\d+)", out)
    assert match, out
    requests, errors = int(match[1]), int(match[2])
    if errors:
        raise RuntimeError(f"{errors} of {requests} requests failed under callgrind")
    return requests


def answers(port: int) -> bool:
    """The server answers HTTP (any status): listening is not enough, its app may be starting."""
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).close()
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


def instructions_per_request(
    args: list[str], env: dict[str, str], port: int, site: str, out: Path
) -> float:
    """The server's instructions per request, counted only during the measured load."""
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
         *args],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 300  # a start under valgrind takes tens of seconds
        while not answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{args} did not start under valgrind")
            time.sleep(1)
        load(port, site, WARMUP_SECONDS)
        subprocess.run(["callgrind_control", "-i", "on", str(proc.pid)], check=True,
                       capture_output=True)  # fmt: skip
        requests = load(port, site, LOAD_SECONDS)
        subprocess.run(["callgrind_control", "-i", "off", str(proc.pid)], check=True,
                       capture_output=True)  # fmt: skip
    finally:
        stop(proc, 120)  # valgrind writes its counts on the way out
    summary = subprocess.run(
        ["callgrind_annotate", "--threshold=100", str(out)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    match = re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", summary, re.MULTILINE)
    assert match, summary[:2000]
    return int(match[1].replace(",", "")) / requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keep", help="a folder to keep the callgrind files in (to diff them)")
    options = parser.parse_args()
    for tool in ("valgrind", "callgrind_control", "callgrind_annotate", "wrk"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is missing: apt-get install valgrind wrk (make bench does)")
    tmp = Path(options.keep or tempfile.mkdtemp(prefix="overt-instructions-"))
    tmp.mkdir(parents=True, exist_ok=True)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    pg_name = f"overt_bench_{uuid.uuid4().hex[:8]}"
    pg_url = scratch_database_url(pg_name)
    asyncio.run(pg_database(pg_name))
    try:
        port, base_port = free_port(), free_port()
        env = overt_env(pg_url, REDIS_URL, port, prefix)
        overt("migrate", env=env)
        site = add_site(env)
        baseline = instructions_per_request(
            *baseline_server(base_port), base_port, "x", tmp / "baseline.out"
        )
        single = instructions_per_request(
            [sys.executable, "-m", "services.cli", "serve", "collector"],
            env, port, site, tmp / "single.out",
        )  # fmt: skip
    finally:
        client = redis.Redis.from_url(REDIS_URL)
        drop_keys(client, prefix)
        client.close()
        asyncio.run(pg_database(pg_name, drop=True))
        if not options.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    print(
        f"instructions per request under callgrind (wrk -c64, {LOAD_SECONDS} s after "
        f"{WARMUP_SECONDS} s of warm-up):\n"
        f"  baseline: bare ASGI, 204: {baseline:,.0f}\n"
        f"  /e single, Redis:         {single:,.0f}\n"
        f"goal single >= 0.50x baseline, by instructions: {baseline / single:.3f}x"
    )


if __name__ == "__main__":
    main()
