"""`overt user add|list|reset` on a real SQLite file, and what the new password opens."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from services.api.web.accounts.service import (
    authenticate_password,
    session_user,
    start_session,
)
from services.cli import main
from shared.db import create_engine
from shared.settings import Settings


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    for name in ("OVERT_REDIS_URL", "OVERT_SECRET_KEY", "OVERT_PORT"):
        monkeypatch.delenv(name, raising=False)
    url = f"sqlite+aiosqlite:///{tmp_path}/overt.db"
    monkeypatch.setenv("OVERT_DATABASE_URL", url)
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    assert main(["migrate"]) == 0
    return Settings(database_url=url)


def password_opens(settings: Settings, email: str, password: str) -> bool:
    async def check() -> bool:
        engine = create_engine(settings)
        try:
            return (
                await authenticate_password(engine=engine, email=email, password=password)
                is not None
            )
        finally:
            await engine.dispose()

    return asyncio.run(check())


def test_user_add_list_and_reset(
    embedded: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["site", "add", "example.com", "--json"]) == 0
    site = json.loads(capsys.readouterr().out)
    assert main(["user", "add", "Ann@Example.com", "--site", site["id"], "--json"]) == 0
    added = json.loads(capsys.readouterr().out)
    assert added["email"] == "ann@example.com"
    assert len(added["password"]) >= 16
    assert password_opens(embedded, "ann@example.com", added["password"])

    monkeypatch.setattr("sys.stdin", io.StringIO("a password of mine\n"))
    assert (
        main(
            [
                "user",
                "add",
                "bob@example.com",
                "--site",
                site["id"],
                "--role",
                "viewer",
                "--password-stdin",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "user bob@example.com added (viewer of site" in out
    assert "shown once" not in out
    assert password_opens(embedded, "bob@example.com", "a password of mine")

    assert main(["user", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(u["email"], u["sites"]) for u in listed] == [
        ("ann@example.com", {site["id"]: "owner"}),
        ("bob@example.com", {site["id"]: "viewer"}),
    ]
    assert all("password" not in json.dumps(u) and "hash" not in json.dumps(u) for u in listed)
    assert main(["user", "list"]) == 0
    assert f"bob@example.com  viewer of {site['id']}" in capsys.readouterr().out

    async def session_of_bob() -> str:
        engine = create_engine(embedded)
        try:
            return await start_session(engine=engine, user_id=listed[1]["id"])
        finally:
            await engine.dispose()

    token = asyncio.run(session_of_bob())
    assert main(["user", "reset", "BOB@example.com", "--json"]) == 0
    reset = json.loads(capsys.readouterr().out)
    assert password_opens(embedded, "bob@example.com", reset["password"])
    assert not password_opens(embedded, "bob@example.com", "a password of mine")

    async def still_signed_in() -> bool:
        engine = create_engine(embedded)
        try:
            return await session_user(engine=engine, token=token) is not None
        finally:
            await engine.dispose()

    assert not asyncio.run(still_signed_in())  # a reset ends the user's sessions


def test_user_commands_refuse_clearly(
    embedded: Settings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["user", "add", "ann@example.com"]) == 0
    capsys.readouterr()
    assert main(["user", "add", "ANN@example.com"]) == 1
    assert "already a user ann@example.com" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["user", "add", "bob@example.com", "--password-stdin"]) == 1
    assert "at least 10 characters" in capsys.readouterr().err
    assert main(["user", "add", "bob@example.com", "--site", "nope"]) == 1
    assert "no site with id 'nope'" in capsys.readouterr().err
    assert main(["user", "reset", "nobody@example.com"]) == 1
    assert "no user nobody@example.com" in capsys.readouterr().err
    assert main(["user", "list", "--json"]) == 0
    assert [u["email"] for u in json.loads(capsys.readouterr().out)] == ["ann@example.com"]
