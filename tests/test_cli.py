"""The `overt` command on a real SQLite file (the CLI is the composition root)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select

from services.api.transfer.models import TransferJob
from services.cli import main, public_url, running_file, service_app
from shared.db import create_engine, table_of
from shared.mail import MailSettings
from shared.settings import Settings, SettingsError, check_environment, known_variables
from tests.helpers.backends import PG_ADMIN_URL, free_port


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


def test_rollups_command_reports_what_it_rebuilt(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing stored, nothing dirty: nothing rebuilt, and it says so."""
    capsys.readouterr()
    assert main(["rollups"]) == 0
    assert capsys.readouterr().out.strip() == "daily rollups rebuilt: 0 site-days"


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == "overt 0.1.0"


def _new_site(domain: str, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["site", "add", domain, "--json"]) == 0
    site_id: str = json.loads(capsys.readouterr().out)["id"]
    return site_id


def test_scopes_given_as_a_list_or_repeated(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = _new_site("example.com", capsys)
    spaced = ["--scope", "stats:read", "definitions:write"]
    repeated = ["--scope", "stats:read", "--scope", "definitions:write"]
    for scopes in (spaced, repeated):
        assert main(["key", "create", "--site", site_id, *scopes, "--json"]) == 0
        key = json.loads(capsys.readouterr().out)
        assert key["scopes"] == ["definitions:write", "stats:read"]
    with pytest.raises(SystemExit) as refused:
        main(["key", "create", "--site", site_id, "--scope", "stats:read", "everything"])
    assert refused.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err


def test_key_list_shows_keys_never_their_secret(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = _new_site("example.com", capsys)
    other = _new_site("example.org", capsys)
    assert main(["key", "create", "--site", site_id, "--scope", "stats:read", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["key", "create", "--site", other, "--scope", "events:write", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert main(["key", "revoke", first["id"]]) == 0
    capsys.readouterr()
    assert main(["key", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(k["id"], k["scopes"], k["revoked_at"] is None) for k in listed] == [
        (first["id"], ["stats:read"], False),
        (second["id"], ["events:write"], True),
    ]
    assert main(["key", "list", "--site", other]) == 0
    text = capsys.readouterr().out
    assert second["id"] in text
    assert "live" in text
    assert first["id"] not in text
    assert first["key"] not in text
    assert second["key"] not in text
    assert main(["key", "list", "--site", "nope"]) == 1
    assert "no site with id 'nope'" in capsys.readouterr().err


def test_site_list_and_set(embedded: Path, capsys: pytest.CaptureFixture[str]) -> None:
    site_id = _new_site("example.com", capsys)
    assert main(["site", "list", "--json"]) == 0
    (before,) = json.loads(capsys.readouterr().out)
    assert (before["domain"], before["timezone"], before["k"]) == ("example.com", "UTC", 5)
    assert before["raw_retention_months"] == 25
    assert before["extra_hosts"] == []
    assert before["consent_required"] is False
    changed = [
        "site",
        "set",
        site_id,
        "--timezone",
        "Europe/Paris",
        "--retention-months",
        "13",
        "--rollup-retention-months",
        "36",
        "--extra-host",
        "https://shop.example.net/x",
        "localhost",
        "--k",
        "10",
        "--consent-required",
        "--json",
    ]
    assert main(changed) == 0
    after = json.loads(capsys.readouterr().out)
    assert main(["site", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [after]
    assert (after["timezone"], after["k"], after["raw_retention_months"]) == (
        "Europe/Paris",
        10,
        13,
    )
    assert after["rollup_retention_months"] == 36
    assert after["extra_hosts"] == ["shop.example.net", "localhost"]
    assert after["consent_required"] is True
    assert main(["site", "list"]) == 0
    assert f'data-site="{site_id}" data-consent="required"></script>' in capsys.readouterr().out
    # Only what is given changes; k is a new definition version, the others stay.
    cleared = ["--keep-rollups", "--no-extra-hosts", "--no-consent-required", "--json"]
    assert main(["site", "set", site_id, *cleared]) == 0
    last = json.loads(capsys.readouterr().out)
    assert (last["rollup_retention_months"], last["extra_hosts"], last["k"]) == (None, [], 10)
    assert last["consent_required"] is False
    assert last["timezone"] == "Europe/Paris"
    assert main(["site", "list"]) == 0
    assert f"{site_id}  example.com  Europe/Paris  k 10" in capsys.readouterr().out


def test_site_set_names_the_controller_and_the_alert_cool_down(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = _new_site("example.com", capsys)
    assert main(["site", "list", "--json"]) == 0
    (before,) = json.loads(capsys.readouterr().out)
    assert (before["controller"], before["privacy_url"]) == (None, None)
    assert before["alert_cooldown_hours"] == 24
    named = ["--controller", "  Example  GmbH ", "--privacy-url", "https://example.com/privacy"]
    assert main(["site", "set", site_id, *named, "--alert-cooldown-hours", "72", "--json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert (after["controller"], after["privacy_url"]) == (
        "Example GmbH",
        "https://example.com/privacy",
    )
    assert after["alert_cooldown_hours"] == 72
    # "" clears a name or a link; what is not given stays.
    assert main(["site", "set", site_id, "--controller", "", "--json"]) == 0
    cleared = json.loads(capsys.readouterr().out)
    assert (cleared["controller"], cleared["privacy_url"]) == (None, "https://example.com/privacy")
    assert cleared["alert_cooldown_hours"] == 72


def test_site_set_words_the_widget_per_language(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = _new_site("example.com", capsys)
    texts = ["--widget-text", "de.title=Ihre Wahl bei uns", "--widget-text", "fr.accept=Oui"]
    assert main(["site", "set", site_id, *texts, "--json"]) == 0
    worded = json.loads(capsys.readouterr().out)["widget_strings"]
    assert worded == {"de": {"title": "Ihre Wahl bei uns"}, "fr": {"accept": "Oui"}}
    # One more, and one back to the shipped words; the others stay.
    more = ["--widget-text", "de.save=Speichern", "--widget-text", "fr.accept="]
    assert main(["site", "set", site_id, *more, "--json"]) == 0
    worded = json.loads(capsys.readouterr().out)["widget_strings"]
    assert worded == {"de": {"title": "Ihre Wahl bei uns", "save": "Speichern"}}
    for bad in ("pt.title=Olá", "de.nope=x", "de.title", "title=x"):
        assert main(["site", "set", site_id, "--widget-text", bad]) == 1
        assert "LANG.KEY=TEXT" in capsys.readouterr().err


def test_site_set_words_the_preference_page_per_language(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["site", "page-keys"]) == 0
    assert "responsible_for_your_data\tResponsible for your data" in capsys.readouterr().out
    site_id = _new_site("example.com", capsys)
    texts = [
        "--page-text",
        "de.allow=Ja, gerne",
        "--page-text",
        "nl.responsible_for_your_data=Verantwoordelijk: <strong>%(controller)s</strong>",
    ]
    assert main(["site", "set", site_id, *texts, "--json"]) == 0
    worded = json.loads(capsys.readouterr().out)["page_strings"]
    assert worded == {
        "de": {"allow": "Ja, gerne"},
        "nl": {"responsible_for_your_data": "Verantwoordelijk: <strong>%(controller)s</strong>"},
    }
    assert main(["site", "set", site_id, "--page-text", "de.allow=", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["page_strings"] == {
        "nl": {"responsible_for_your_data": "Verantwoordelijk: <strong>%(controller)s</strong>"}
    }
    for bad in (
        "pt.allow=Sim",  # an unknown language
        "de.nope=x",  # an unknown key
        "de.allow",  # no text
        "de.responsible_for_your_data=Verantwortlich: %(controller)s",  # markup dropped
        "de.your_privacy_choices_for=Ihre Wahl",  # placeholder dropped
        "de.allow=<b>Ja</b>",  # markup of its own
        "de.allow=Ja\x07",  # a control character
        "de.allow=" + "x" * 1001,  # too long
        "de.receipts=Belege (%(count)s) 100%",  # a stray %
    ):
        assert main(["site", "set", site_id, "--page-text", bad]) == 1
        err = capsys.readouterr().err
        assert "--page-text" in err, err
        assert err.count("\n") == 1, err


@pytest.mark.parametrize(
    ("flags", "said"),
    [
        (["--retention-months", "26"], "raw_retention_months"),
        (["--k", "51"], "k"),
        (["--timezone", "Mars/Olympus"], "unknown time zone"),
        (["--extra-host", "not a host"], "not a domain name"),
        (["--privacy-url", "http://example.com/privacy"], "privacy policy URL must be https"),
        (["--controller", " "], "controller's name takes 1 to 120"),
        (["--alert-cooldown-hours", "0"], "alert_cooldown_hours"),
    ],
)
def test_site_set_refuses_bad_values_and_keeps_the_site(
    embedded: Path, capsys: pytest.CaptureFixture[str], flags: list[str], said: str
) -> None:
    site_id = _new_site("example.com", capsys)
    assert main(["site", "list", "--json"]) == 0
    before = capsys.readouterr().out
    assert main(["site", "set", site_id, *flags]) == 1
    assert said in capsys.readouterr().err
    assert main(["site", "list", "--json"]) == 0
    assert capsys.readouterr().out == before
    assert main(["site", "set", "nope", "--k", "3"]) == 1
    assert "no site with id 'nope'" in capsys.readouterr().err


def test_a_misspelled_variable_is_named_with_the_closest_setting(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OVERT_PUBLIC_ULR", "https://overt.example.com")
    monkeypatch.setenv("OVERT_SMTP_HOTS", "mail.example.com")
    assert main(["site", "list"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "overt: invalid setting: OVERT_PUBLIC_ULR is not an Overt setting: did you mean "
        "OVERT_PUBLIC_URL?; OVERT_SMTP_HOTS is not an Overt setting: did you mean "
        "OVERT_SMTP_HOST?"
    ]


KNOWN = sorted(known_variables(Settings, MailSettings))


@given(
    known=st.lists(st.sampled_from(KNOWN), unique=True),
    other=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_0123456789", min_size=1, max_size=30),
)
def test_only_unknown_overt_variables_are_refused(known: list[str], other: str) -> None:
    environ = {name: "x" for name in known} | {"PATH": "/bin", "OVERTURE": "1"}
    check_environment(environ, Settings, MailSettings)  # every known name is accepted
    name = "OVERT_" + other
    environ[name] = "x"
    if name in KNOWN or name.startswith(("OVERT_TEST_", "OVERT_BENCH_", "OVERT_FUZZ_")):
        check_environment(environ, Settings, MailSettings)
    else:
        with pytest.raises(SettingsError, match=f"^{name} is not an Overt setting"):
            check_environment(environ, Settings, MailSettings)


def test_a_missing_postgres_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    monkeypatch.setenv("OVERT_DATABASE_URL", f"{base}/overt_never_created")
    monkeypatch.setenv("OVERT_SECRET_KEY", "s" * 40)
    assert main(["up", "--port", str(free_port())]) == 1
    captured = capsys.readouterr()
    assert "Overt is up" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line.startswith('overt: PostgreSQL at 127.0.0.1:5432 has no database "overt_never')
    assert "createdb -h 127.0.0.1 -p 5432" in line


def test_an_unreachable_postgres_is_one_line_without_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()  # nothing listens there
    monkeypatch.setenv(
        "OVERT_DATABASE_URL", f"postgresql+asyncpg://overt:hunter2@127.0.0.1:{port}/overt"
    )
    monkeypatch.setenv("OVERT_SECRET_KEY", "s" * 40)
    assert main(["migrate"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"overt: cannot reach PostgreSQL at 127.0.0.1:{port} (database overt)")
    assert "hunter2" not in line


def test_a_port_in_use_fails_before_anything_claims_to_be_up(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        capsys.readouterr()
        assert main(["up", "--port", str(port)]) == 1
        assert main(["serve", "api", "--port", str(port)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    expected = (
        f"overt: port {port} is already in use on 127.0.0.1 (another Overt?): stop that server "
        f"or choose another port (--port {port + 1} or OVERT_PORT={port + 1})"
    )
    assert lines == [expected, expected]


def test_backup_restores(
    embedded: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    site_id = _new_site("example.com", capsys)
    assert main(["consent", "secret", "--site", site_id]) == 0
    assertion_secret = capsys.readouterr().out
    assert main(["key", "create", "--site", site_id, "--scope", "stats:read"]) == 0
    salt = _todays_salt(embedded / "overt.db")
    capsys.readouterr()
    assert main(["site", "list", "--json"]) == 0
    assert main(["key", "list", "--json"]) == 0
    listed = capsys.readouterr().out
    target = embedded / "backups" / "today"
    assert main(["backup", str(target)]) == 0
    assert "secret key copied" in capsys.readouterr().out
    assert {p.name: p.stat().st_mode & 0o777 for p in target.iterdir()} == {
        "overt.db": 0o600,
        "secret.key": 0o600,
    }
    assert main(["backup", str(target)]) == 1  # never over an earlier backup
    assert "exists" in capsys.readouterr().err
    with sqlite3.connect(target / "overt.db") as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        # The day's visitor salt is never kept in a copy, nor its bytes in free pages.
        assert copy.execute("SELECT count(*) FROM visitor_salts").fetchone() == (0,)
    assert salt not in (target / "overt.db").read_bytes()
    # Restored: the copied directory is a working database with the same sites, keys and
    # sealed secrets (the generated secret key travels with it).
    restored = embedded / "restored"
    target.rename(restored)
    monkeypatch.setenv("OVERT_DATABASE_URL", f"sqlite+aiosqlite:///{restored}/overt.db")
    assert main(["site", "list", "--json"]) == 0
    assert main(["key", "list", "--json"]) == 0
    assert capsys.readouterr().out == listed
    assert main(["consent", "secret", "--site", site_id]) == 0
    assert capsys.readouterr().out == assertion_secret
    assert main(["migrate"]) == 0


def _todays_salt(database: Path) -> bytes:
    """Make the embedded mode's salt of today, as the collector does, and return it."""
    import asyncio

    from services.collector.salts import DatabaseSalts
    from shared.db import create_engine

    async def make() -> bytes:
        engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{database}"))
        try:
            return await DatabaseSalts(engine=engine).salt_of(datetime.now(UTC).date())
        finally:
            await engine.dispose()

    salt = asyncio.run(make())
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM visitor_salts").fetchone() == (1,)
    return salt


def test_an_unmigrated_database_says_to_migrate(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OVERT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    monkeypatch.delenv("OVERT_SECRET_KEY", raising=False)
    assert main(["site", "list"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"overt: the database {tmp_path}/empty.db has no Overt schema yet")
    assert line.endswith("migrate` first")


def test_an_unknown_postgres_role_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    host = PG_ADMIN_URL.split("@", 1)[1].rsplit("/", 1)[0]
    monkeypatch.setenv("OVERT_DATABASE_URL", f"postgresql+asyncpg://no_such_role@{host}/test")
    monkeypatch.setenv("OVERT_SECRET_KEY", "s" * 40)
    assert main(["key", "list"]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        f'overt: PostgreSQL at {host} refused the login: role "no_such_role" does not exist; '
        "fix OVERT_DATABASE_URL"
    )


@given(content=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_a_garbled_running_file_falls_back_to_the_settings(content: bytes) -> None:
    """var/overt-up.json is read by every `site add`: whatever it holds, the tag falls back
    to OVERT_HOST / OVERT_PORT unless it names a live process and its URL."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        settings = Settings(database_url=f"sqlite+aiosqlite:///{directory}/overt.db")
        running = running_file(settings)
        assert running is not None
        running.write_bytes(content)
        try:
            told = json.loads(content)
            live = isinstance(told, dict) and told.get("pid") == os.getpid()
        except ValueError:
            live = False
        if not live:
            assert public_url(settings) == "http://127.0.0.1:8000"
        running.write_text(json.dumps({"url": "http://127.0.0.1:9/", "pid": os.getpid()}))
        assert public_url(settings) == "http://127.0.0.1:9"
        for dead in (2**22 + 7, 0, 1, True, "1", None):  # no such process, or none of ours
            running.write_text(json.dumps({"url": "http://127.0.0.1:9/", "pid": dead}))
            assert public_url(settings) == "http://127.0.0.1:8000"
        running.write_text(json.dumps({"url": "javascript:alert(1)", "pid": os.getpid()}))
        assert public_url(settings) == "http://127.0.0.1:8000"
        with_public = settings.model_copy(update={"public_url": "https://overt.example.com/"})
        assert public_url(with_public) == "https://overt.example.com"


def test_file_names_that_are_not_utf8_are_stored_readably(
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A local file name is bytes: those that are not UTF-8 reach Python as lone surrogates,
    which PostgreSQL refuses. Both commands store such a name with U+FFFD in their place."""
    import zipfile

    for name in ("OVERT_REDIS_URL", "OVERT_SECRET_KEY", "OVERT_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OVERT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("OVERT_SECRET_KEY", "s" * 40)
    monkeypatch.setenv("OVERT_LOG_FORMAT", "text")
    assert main(["site", "add", "example.com", "--json"]) == 0
    site_id = json.loads(capsys.readouterr().out)["id"]
    visits = "date,visitors,pageviews,bounces,visits,visit_duration\n2026-01-01,3,4,1,3,20\n"
    upload = Path(os.fsdecode(bytes(tmp_path) + b"/plausible-\xff.zip"))
    with zipfile.ZipFile(upload, "w") as archive:
        archive.writestr("imported_visitors_20260101_20260101.csv", visits)
    member = Path(os.fsdecode(bytes(tmp_path) + b"/imported_visitors_20260102_20260102\xe9.csv"))
    member.write_text(visits)
    output = Path(os.fsdecode(bytes(tmp_path) + b"/export-\xff.zip"))

    assert main(["import", "--site", site_id, str(upload), "--json"]) == 0
    # Packed into one zip with the others; a name Plausible would not give it is refused.
    assert main(["import", "--site", site_id, str(upload), str(member)]) == 1
    assert "imported_visitors_20260102_20260102\ufffd.csv" in capsys.readouterr().err
    args = ["export", "--site", site_id, "--from", "2026-01-01", "--to", "2026-01-02"]
    assert main([*args, "-o", str(output)]) == 0
    assert f"rows written to {tmp_path}/export-\ufffd.zip" in capsys.readouterr().out
    assert main([*args, "-o", str(output.with_name("missing-\udcff") / "x.zip")]) == 1
    assert capsys.readouterr().err.endswith("missing-\ufffd/x.zip\n")
    assert asyncio.run(_job_filenames(settings)) == ["export-\ufffd.zip", "plausible-\ufffd.zip"]
    with zipfile.ZipFile(output) as exported:
        assert "imported_visitors_20260101_20260102.csv" in exported.namelist()


async def _job_filenames(settings: Settings) -> list[str]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as conn:
            found = await conn.execute(select(table_of(TransferJob).c.filename))
            return sorted(found.scalars())
    finally:
        await engine.dispose()


def test_import_then_export_show_progress(
    embedded: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import zipfile

    assert main(["site", "add", "example.com", "--json"]) == 0
    site_id = json.loads(capsys.readouterr().out)["id"]
    visitors = embedded / "imported_visitors_20260101_20260102.csv"
    visitors.write_text(
        "date,visitors,pageviews,bounces,visits,visit_duration\n"
        "2026-01-01,3,4,1,3,20\n2026-01-02,2,2,2,2,0\n"
    )
    devices = embedded / "imported_devices_20260101_20260102.csv"
    devices.write_text(
        "date,device,visitors,visits,visit_duration,bounces,pageviews\n"
        "2026-01-01,Desktop,3,3,20,1,4\n"
    )
    assert main(["import", "--site", site_id, str(visitors), str(devices), "--json"]) == 0
    out = capsys.readouterr()
    assert json.loads(out.out)["rows"] == 3
    assert "3 of 3 rows stored" in out.err

    bad = embedded / "imported_visitors_20260101_20260101.csv"
    bad.write_text("date,visitors\n2026-01-01,many\n")
    assert main(["import", "--site", site_id, str(bad)]) == 1
    assert "line 2" in capsys.readouterr().err
    assert main(["import", "--site", "nope", str(visitors)]) == 1
    assert "no site" in capsys.readouterr().err

    output = embedded / "export.zip"
    args = ["export", "--site", site_id, "--from", "2026-01-01", "--to", "2026-01-02"]
    assert main([*args, "-o", str(output)]) == 0
    out = capsys.readouterr()
    assert "rows written" in out.err
    assert str(output) in out.out
    names = zipfile.ZipFile(output).namelist()
    assert "imported_visitors_20260101_20260102.csv" in names
    assert len(names) == 11
