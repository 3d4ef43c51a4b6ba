"""Settings: defaults that run with nothing installed, and errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OVERT_DATABASE_URL", "OVERT_REDIS_URL", "OVERT_PORT"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(Settings)
    assert settings.database_url == "sqlite+aiosqlite:///./var/overt.db"
    assert settings.redis_url is None
    assert settings.port == 8000


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("OVERT_DATABASE_URL", "mysql://root@localhost/x", "OVERT_DATABASE_URL"),
        ("OVERT_REDIS_URL", "memcached://x", "OVERT_REDIS_URL"),
        ("OVERT_PORT", "99999", "OVERT_PORT"),
        ("OVERT_PORT", "eighty", "OVERT_PORT"),
        ("OVERT_SECRET_KEY", "short", "OVERT_SECRET_KEY"),
        ("OVERT_LOG_FORMAT", "xml", "OVERT_LOG_FORMAT"),
    ],
)
def test_a_wrong_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=named):
        load_settings(Settings)


def test_empty_redis_url_means_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OVERT_REDIS_URL", "")
    assert load_settings(Settings).redis_url is None


def test_embedded_secret_is_generated_once_and_private(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/db/overt.db")
    first = settings.secret()
    assert len(first) >= 32
    assert settings.secret() == first
    assert (tmp_path / "db" / "secret.key").stat().st_mode & 0o777 == 0o600


def test_postgres_needs_an_explicit_secret() -> None:
    settings = Settings(database_url="postgresql+asyncpg://postgres@127.0.0.1/test")
    with pytest.raises(SettingsError, match="OVERT_SECRET_KEY"):
        settings.secret()
