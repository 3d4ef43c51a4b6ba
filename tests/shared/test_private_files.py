"""The embedded mode's files are the owner's only: the SQLite database (with its -wal and
-shm) and the generated server secret are created 0600, and two first starts that race end
with one secret."""

from __future__ import annotations

import os
import secrets
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from shared.db import create_engine
from shared.settings import Settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """The usual 022 umask, under which a file created without a mode is world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
async def test_a_new_sqlite_database_and_its_wal_are_private(tmp_path: Path) -> None:
    path = tmp_path / "var" / "overt.db"
    engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:
            # While a connection is open in WAL mode, the -wal and -shm files exist.
            assert (await conn.execute(text("SELECT x FROM t"))).scalar() == 1
            files = [path, path.with_name("overt.db-wal"), path.with_name("overt.db-shm")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await engine.dispose()
    assert mode(path.parent) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_the_generated_secret_is_private_from_its_first_byte(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/var/overt.db")
    key = settings.secret()
    assert len(key) >= 32
    assert settings.secret() == key
    assert mode(tmp_path / "var" / "secret.key") == 0o600
    assert mode(tmp_path / "var") == 0o700
    # Nothing is left behind by the way it was written.
    assert sorted(p.name for p in (tmp_path / "var").iterdir()) == ["secret.key"]


def test_two_first_starts_that_race_end_with_one_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Start A finds no key and is held while it makes one; start B, meanwhile, makes and
    keeps its own. When A goes on it must use B's key (the one on disk), not overwrite it:
    otherwise what A signed no longer verifies after a restart."""
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/var/overt.db")
    real = secrets.token_urlsafe
    a_generating, b_done = threading.Event(), threading.Event()
    calls = 0

    def held_first(nbytes: int | None = None) -> str:
        nonlocal calls
        calls += 1
        if calls == 1:
            a_generating.set()
            assert b_done.wait(timeout=30)
        return real(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", held_first)
    got: dict[str, bytes] = {}
    start_a = threading.Thread(target=lambda: got.update(a=settings.secret()))
    start_a.start()
    try:
        assert a_generating.wait(timeout=30)
        got["b"] = settings.secret()
    finally:
        b_done.set()
        start_a.join(timeout=30)
    assert got["a"] == got["b"]
    assert (tmp_path / "var" / "secret.key").read_bytes().strip() == got["b"]
