"""Private Redis and PostgreSQL servers for fault tests: the machine's binaries, other ports.

The shared servers on 5432/6379 are never stopped; these are, by the tests that own them.
Redis runs with AOF and appendfsync always (what Overt's deployment uses), so a kill -9
keeps every acknowledged XADD. PostgreSQL refuses to run as root: as root, the cluster
belongs to the `postgres` user and its commands run through runuser.
"""

from __future__ import annotations

import asyncio
import glob
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import redis.asyncio

from tests.helpers.backends import free_port


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise FileNotFoundError(f"PostgreSQL's {name} is not installed")
    return path


def available() -> str | None:
    """Why private servers cannot run here, or None when they can."""
    if shutil.which("redis-server") is None:
        return "redis-server is not installed"
    try:
        _pg_bin("initdb")
    except FileNotFoundError as exc:
        return str(exc)
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser (PostgreSQL refuses root)"
    return None


@dataclass
class PrivateRedis:
    """redis-server on its own port and directory, AOF with fsync at every write."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(  # noqa: ASYNC220 (a daemon: nothing to await)
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--dir", str(self.directory), "--save", ""),
                *("--appendonly", "yes", "--appendfsync", "always"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        client = redis.asyncio.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            async with asyncio.timeout(20):
                while True:
                    try:
                        if await client.ping():
                            return
                    except redis.RedisError:  # refused, or still loading the AOF
                        await asyncio.sleep(0.05)
        finally:
            await client.aclose()

    def kill(self) -> None:
        """kill -9: no shutdown save; only what the AOF already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster made by initdb in a temporary directory, run by pg_ctl."""

    directory: Path
    port: int = field(default_factory=free_port)

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run(
            [*prefix, *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            _pg_bin("initdb"),
            *("-D", str(self.data), "-U", "postgres", "-A", "trust"),
            *("--no-sync", "--no-instructions", "-E", "UTF8"),
        )

    async def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        await asyncio.to_thread(
            self._run,
            _pg_bin("pg_ctl"),
            *("-D", str(self.data), "-o", options, "-l", str(self.directory / "pg.log")),
            *("-w", "-t", "30", "start"),
        )

    async def stop(self, mode: str = "immediate") -> None:
        """Stop the server; `immediate` is a crash (recovery from WAL at the next start)."""
        await asyncio.to_thread(
            self._run, _pg_bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"
        )

    async def create_database(self, name: str) -> None:
        conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{self.port}/postgres")
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
