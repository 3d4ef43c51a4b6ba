"""The `overt` command on a real SQLite file (the CLI is the composition root)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli import main, service_app


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("OVERT_REDIS_URL", "OVERT_SECRET_KEY", "OVERT_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OVERT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/overt.db")
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    assert main(["migrate"]) == 0
    return tmp_path


def test_site_add_then_key_create(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["site", "add", "https://www.Example.com/blog", "--json"]) == 0
    site = json.loads(capsys.readouterr().out)
    assert site["domain"] == "example.com"
    assert site["script_tag"] == (
        f'<script defer src="http://127.0.0.1:8000/overt.js" data-site="{site["id"]}"></script>'
    )
    assert main(["key", "create", "--site", site["id"], "--scope", "stats:read", "--json"]) == 0
    key = json.loads(capsys.readouterr().out)
    assert key["key"].startswith("ovt_")
    assert key["scopes"] == ["stats:read"]


def test_duplicate_site_and_unknown_site_are_clear_errors(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["site", "add", "example.com"]) == 0
    assert main(["site", "add", "example.com"]) == 1
    assert "already registered" in capsys.readouterr().err
    assert main(["key", "create", "--site", "nope", "--scope", "stats:read"]) == 1
    assert "no site" in capsys.readouterr().err
    assert main(["site", "add", "not a domain"]) == 1
    assert main(["site", "add", "example.org", "--timezone", "Mars/Olympus"]) == 1
    assert "time zone" in capsys.readouterr().err


def test_wrong_setting_fails_at_start_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OVERT_DATABASE_URL", "mysql://root@localhost/overt")
    assert main(["migrate"]) == 2
    assert "OVERT_DATABASE_URL" in capsys.readouterr().err


def test_split_collector_needs_redis(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "worker"]) == 2
    assert "OVERT_REDIS_URL" in capsys.readouterr().err
    from shared.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="OVERT_REDIS_URL"):
        service_app(Settings(), "collector")
    api_paths = set(service_app(Settings(), "api").openapi()["paths"])
    assert {
        "/v1/query",
        "/v1/sites/{site_id}/contacts",
        "/v1/sites/{site_id}/definitions",
        "/v1/reports/after-the-click",
        "/v1/reports/funnel",
        "/v1/reports/retention",
        "/healthz",
        "/readyz",
    } <= api_paths
    per_process = {"/healthz", "/readyz", "/metrics"}
    assert all(path.startswith("/v1/") for path in api_paths - per_process)
    consent_paths = set(service_app(Settings(), "consent").openapi()["paths"])
    assert "/v1/query" not in consent_paths
    assert "/.well-known/gpc.json" in consent_paths


def test_partitions_command_is_idempotent(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On SQLite there are no partitions; retention still runs and reports what it removed."""
    capsys.readouterr()
    assert main(["partitions"]) == 0
    out = capsys.readouterr().out
    assert "partitions created: none" in out
    assert "deleted 0 events" in out
