"""The `overt` command: the one place that composes the services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import time
import zipfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any, TypeVar

import uvicorn
from fastapi import FastAPI
from prometheus_client import write_to_textfile
from sqlalchemy import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.api.app import api_parts
from services.api.app import create_app as create_api_app
from services.api.days import check_date_range
from services.api.engagement.service import change_k, current_definition
from services.api.keys.service import create_key, list_keys, revoke_key
from services.api.stats.daily import refresh_daily
from services.api.transfer.service import (
    Job,
    accept_upload,
    create_job,
    get_job,
    job_file,
    run_job,
)
from services.api.web.accounts.service import (
    ROLES,
    Account,
    create_user,
    grant_role,
    issue_setup_token,
    list_users,
    set_password,
)
from services.api.web.views.service import LedgerStatus, register_ledger_verifier
from services.collector.app import collector_parts, create_worker_app, worker_parts
from services.collector.app import create_app as create_collector_app
from services.collector.deadletter import (
    ReplayReport,
    drop_dead_letters,
    get_dead_letter,
    list_dead_letters,
    payload_records,
    replay_dead_letters,
)
from services.consent.app import consent_parts
from services.consent.app import create_app as create_consent_app
from services.consent.assets import WIDGET_STRINGS
from services.consent.languages import LANGUAGES
from services.consent.ledger.service import VerifyReport, ledger_sites, verify_site
from services.consent.notices.service import (
    MAX_LIFETIME,
    NoticeChange,
    publish_notice,
    set_lifetime,
)
from services.consent.preferences.service import PAGE_KEYS, check_page_text
from services.consent.receipts.service import read_evidence
from services.consent.rights.service import list_requests
from services.consent.sites.service import ensure_site, site_assertion_secret
from shared.app import AppParts, app_from_parts, asgi_app
from shared.db import create_engine
from shared.deadletter import DeadLetterEntry
from shared.errors import ProblemError
from shared.keys import KeyScope
from shared.logging import configure_logging
from shared.mail import MailSettings
from shared.metrics import ledger_verification
from shared.migrate import upgrade_head
from shared.models import visitor_salts
from shared.partitions import RetentionReport, maintain
from shared.runtime import Resources, open_resources, tune_gc
from shared.server import bounded_http_protocol
from shared.settings import Settings, SettingsError, check_environment, load_settings, sqlite_path
from shared.sites import (
    Site,
    SiteError,
    SiteSettings,
    check_strings,
    create_site,
    get_site,
    list_sites,
    script_tag,
    update_site,
)


async def ledger_status(engine: AsyncEngine, secret: bytes, site_id: str) -> LedgerStatus:
    """The consent service's ledger verification, as the dashboard's consent view shows it."""
    report = await verify_site(engine=engine, secret=secret, site_id=site_id)
    return LedgerStatus(
        intact=report.ok,
        rows=report.rows,
        checkpoints=report.checkpoints,
        problems=list(report.problems),
        checked_at=datetime.now(UTC),
    )


# The API never imports the consent service: here, where the services meet, its dashboard
# gets the one ledger verifier there is (in `overt up` and in `overt serve api` alike).
register_ledger_verifier(ledger_status)

# `overt serve SERVICE`: each service's own app, as its app.py describes it.
SERVICE_APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "collector": create_collector_app,
    "consent": create_consent_app,
    "api": create_api_app,
    "worker": create_worker_app,
}
SERVICES = tuple(SERVICE_APPS)
T = TypeVar("T")
MAX_HEAD_BYTES = 32 * 1024


# `overt up` on SQLite writes where it serves next to the database, so `overt site add` on
# the same database prints tags with the running server's URL (not its own environment's).
RUNNING_FILE = "overt-up.json"


class CannotStart(Exception):
    """The process cannot serve (its port is taken, ...); the message says why and what to do."""


def invocation() -> str:
    """How the user ran this command, to print next steps that work as printed: `overt` when
    that is the program on PATH, else its path from here (e.g. `.venv/bin/overt`)."""
    program = Path(sys.argv[0])
    on_path = shutil.which("overt")
    if program.name != "overt" or (on_path and Path(on_path).resolve() == program.resolve()):
        return "overt"
    try:
        return str(program.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(program)


def running_file(settings: Settings) -> Path | None:
    """Where `overt up` on this SQLite database says where it serves (None on PostgreSQL)."""
    return sqlite_path(settings.database_url).parent / RUNNING_FILE if settings.is_sqlite else None


def public_url(settings: Settings) -> str:
    """The base URL of script tags: OVERT_PUBLIC_URL, else the URL of the `overt up` serving
    this database right now, else OVERT_HOST / OVERT_PORT."""
    if settings.public_url:
        return settings.base_url
    path = running_file(settings)
    with contextlib.suppress(OSError, ValueError):
        running = json.loads(path.read_bytes()) if path is not None else None
        if isinstance(running, dict):
            pid, url = running.get("pid"), running.get("url")
            if type(pid) is int and pid > 1 and isinstance(url, str) and url.startswith("http"):
                os.kill(pid, 0)  # still alive (OSError if not)
                return url.rstrip("/")
    return settings.base_url


def all_in_one_app(settings: Settings) -> FastAPI:
    """Collector, consent, API and ingest worker in one process (`overt up`)."""

    async def announce(resources: Resources) -> None:
        known = await list_sites(engine=resources.engine)
        backend = "SQLite" if settings.is_sqlite else "PostgreSQL"
        queue = "Redis Streams" if settings.redis_url else "in-process queue"
        base = settings.base_url
        lines = [
            f"Overt is up ({backend}, {queue}). Ctrl-C stops it after draining the queue.",
            f"  collector  {base}/e            snippet {base}/overt.js",
            f"  consent    {base}/consent/widget.js",
            f"             {base}/consent/sites/SITE_ID/preferences",
            f"  api        {base}/v1/query     docs    {base}/docs",
            f"  health     {base}/healthz      {base}/readyz",
        ]
        if known:
            lines.append("Script tags:")
            lines += [f"  {site.domain}: {script_tag(base, site)}" for site in known]
        else:
            lines.append(
                f"No site yet: `{invocation()} site add example.com` prints its script tag "
                f"(`{invocation()} site add localhost` to try it on a page served from here)."
            )
        setup = await issue_setup_token(engine=resources.engine)
        lines.append(f"Dashboard: {base}/app/")
        if setup is not None:
            # Printed, never logged: the link makes the first owner account.
            lines.append(
                f"No user yet: open this one-time link to set Overt up (valid 24 h):\n"
                f"  {base}/app/setup?token={setup}"
            )
        print("\n".join(lines), flush=True)

    everything = collector_parts() + worker_parts() + consent_parts() + api_parts()
    return app_from_parts("Overt", settings, everything + AppParts(startup=(announce,)))


def service_app(settings: Settings, service: str) -> FastAPI:
    """One service per process (production); the queue between them must be Redis."""
    return SERVICE_APPS[service](settings)


def server_config(app: FastAPI, settings: Settings) -> uvicorn.Config:
    """How every Overt process serves HTTP (tests run servers with this same config)."""
    return uvicorn.Config(
        asgi_app(app),
        host=settings.host,
        port=settings.port,
        access_log=False,  # it would log client IPs
        log_config=None,
        server_header=False,
        # The client IP is shared.clients' rule alone (OVERT_CLIENT_IP_HEADER, else the
        # peer): uvicorn's default would also take X-Forwarded-For from a loopback peer.
        proxy_headers=False,
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,  # an idle connection is closed after 5 s
        # Request heads: 431 past 32 KiB; a head or a body slower than the read timeout: 408.
        http=bounded_http_protocol(
            max_head_bytes=MAX_HEAD_BYTES, read_seconds=settings.read_timeout_seconds
        ),
    )


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound before anything else starts (or says it is up)."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((settings.host, settings.port))
    except OSError as exc:
        sock.close()
        where = f"{settings.host}:{settings.port}"
        if exc.errno == errno.EADDRINUSE:
            raise CannotStart(
                f"port {settings.port} is already in use on {settings.host} (another Overt?): "
                f"stop that server or choose another port (--port {settings.port + 1} or "
                f"OVERT_PORT={settings.port + 1})"
            ) from None
        raise CannotStart(
            f"cannot listen on {where}: {exc.strerror}; check OVERT_HOST and OVERT_PORT"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(app: FastAPI, settings: Settings, sock: socket.socket | None = None) -> None:
    """Run until SIGINT or SIGTERM; both stop intake, drain, and exit 0."""
    sock = sock or bind(settings)
    config = server_config(app, settings)
    tune_gc()
    # uvicorn re-raises the signal once it has shut down; after a clean drain that is success.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run(sockets=[sock])
    finally:
        # Drained. A repeated Ctrl-C or SIGTERM while the interpreter exits would otherwise
        # kill it with the signal (exit -2 or -15) and make a clean stop look like a crash.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


async def _site_add(
    settings: Settings, domain: str, timezone: str, site_settings: SiteSettings
) -> Site:
    engine = create_engine(settings)
    try:
        return await create_site(
            engine=engine, domain=domain, timezone=timezone, settings=site_settings
        )
    finally:
        await engine.dispose()


async def _key_create(
    settings: Settings, site_id: str, scopes: Sequence[str], rate_limit: int | None
) -> tuple[str, str]:
    engine = create_engine(settings)
    try:
        key, secret = await create_key(
            engine=engine,
            site_id=site_id,
            scopes=[KeyScope(s) for s in scopes],
            rate_limit=rate_limit,
        )
    finally:
        await engine.dispose()
    return key.id, secret


async def _key_revoke(settings: Settings, key_id: str) -> bool:
    engine = create_engine(settings)
    try:
        return await revoke_key(engine=engine, key_id=key_id)
    finally:
        await engine.dispose()


async def _ledger_verify(
    settings: Settings, site_id: str | None, kept: list[str] | None = None
) -> tuple[list[VerifyReport], list[str]]:
    """Every site's report, and the problems of the kept file (lines refused, unknown sites)."""
    evidence, refused = read_evidence(kept or [])
    engine = create_engine(settings)
    try:
        known = await ledger_sites(engine=engine)
        if site_id and site_id not in known:
            raise LookupError(f"no site with id {site_id!r}")
        site_ids = [site_id] if site_id else known
        if not site_id:
            refused += sorted(
                {
                    f"{claim.source}: site {claim.site_id} is not registered here"
                    for claim in evidence
                    if claim.site_id not in known
                }
            )
        reports = [
            await verify_site(
                engine=engine, secret=settings.secret(), site_id=one, evidence=evidence
            )
            for one in site_ids
        ]
        return reports, refused
    finally:
        await engine.dispose()


async def _consent_secret(settings: Settings, site_id: str) -> str:
    engine = create_engine(settings)
    try:
        if await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        return await site_assertion_secret(engine=engine, secret=settings.secret(), site_id=site_id)
    finally:
        await engine.dispose()


async def _consent_requests(settings: Settings, site_id: str) -> list[dict[str, object]]:
    engine = create_engine(settings)
    try:
        if await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        return list(await list_requests(engine=engine, site_id=site_id))
    finally:
        await engine.dispose()


async def _consent_lifetime(
    settings: Settings, site_id: str, purpose: str, days: int | None
) -> int:
    engine = create_engine(settings)
    try:
        if await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        await ensure_site(engine=engine, secret=settings.secret(), site_id=site_id)
        lifetime = await set_lifetime(engine=engine, site_id=site_id, purpose=purpose, days=days)
        return lifetime.days
    finally:
        await engine.dispose()


async def _consent_notice(settings: Settings, site_id: str, texts: dict[str, str]) -> NoticeChange:
    engine = create_engine(settings)
    try:
        if await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        await ensure_site(engine=engine, secret=settings.secret(), site_id=site_id)
        return await publish_notice(engine=engine, site_id=site_id, texts=texts)
    finally:
        await engine.dispose()


async def _rollups(settings: Settings) -> int:
    engine = create_engine(settings)
    try:
        return await refresh_daily(engine, include_today=True)
    finally:
        await engine.dispose()


async def _partitions(settings: Settings) -> tuple[list[str], RetentionReport]:
    engine = create_engine(settings)
    try:
        return await maintain(engine)
    finally:
        await engine.dispose()


async def _dead_letters(settings: Settings, action: str, entry_ids: list[str] | None) -> Any:
    async with open_resources(settings) as resources:
        if action == "list":
            return await list_dead_letters(resources=resources)
        if action == "show":
            assert entry_ids
            return await get_dead_letter(resources=resources, entry_id=entry_ids[0])
        if action == "replay":
            return await replay_dead_letters(resources=resources, entry_ids=entry_ids)
        return await drop_dead_letters(resources=resources, entry_ids=entry_ids)


def text_path(path: str | bytes | os.PathLike[str]) -> str:
    """A local path as text every stream and database takes: bytes that are not UTF-8, which
    Python keeps as lone surrogates (PostgreSQL and a UTF-8 terminal refuse them), become
    U+FFFD."""
    return os.fsencode(path).decode("utf-8", "replace")


def text_name(path: Path) -> str:
    """A local file's name as text_path has it."""
    return text_path(path.name)


async def _import(
    settings: Settings, site_id: str, files: list[Path], data_format: str | None
) -> tuple[str, int]:
    """Check the files, store them as one import of the site, with a progress line."""
    engine = create_engine(settings)
    try:
        await existing_site(engine, site_id)
        with tempfile.TemporaryDirectory(prefix="overt-import-") as folder:
            upload, filename = files[0], text_name(files[0])
            if len(files) > 1:  # several CSV files: one upload, as Plausible's zip
                upload, filename = Path(folder) / "upload.zip", "upload.zip"
                with zipfile.ZipFile(upload, "w") as archive:
                    for file in files:
                        archive.write(file, arcname=text_name(file))
            print(f"checking {filename} ...", file=sys.stderr)
            job = await accept_upload(
                engine=engine,
                site_id=site_id,
                upload=upload,
                filename=filename,
                data_format=data_format,
                max_bytes=settings.import_max_unpacked_bytes,
                claimed=True,
            )
        job = await _run_here(settings, engine, job, progress_line("stored", job.total))
    finally:
        await engine.dispose()
    return job.id, job.progress


async def _export(
    settings: Settings, site_id: str, first: date, last: date, output: Path
) -> tuple[str, int]:
    """Export the site's days into a zip at `output`, with a progress line."""
    check_date_range(first, last)
    engine = create_engine(settings)
    try:
        await existing_site(engine, site_id)
        # Opened first: a path that cannot be written costs no job (and leaves none behind).
        with output.open("wb") as file:
            try:
                job_id = await create_job(
                    engine=engine,
                    site_id=site_id,
                    kind="export",
                    data_format="plausible",
                    filename=text_name(output),
                    first_day=first,
                    last_day=last,
                    claimed=True,
                )
                started = await get_job(
                    engine=engine, site_id=site_id, job_id=job_id, kind="export"
                )
                job = await _run_here(settings, engine, started, progress_line("written", None))
                async for chunk in job_file(engine=engine, job_id=job_id):
                    file.write(chunk)
            except BaseException:
                # No half-written export left to be taken whole (a file we opened: a small,
                # local unlink, not worth a thread).
                os.unlink(output)
                raise
    finally:
        await engine.dispose()
    return job_id, job.progress


async def _run_here(
    settings: Settings, engine: AsyncEngine, job: Job, report: Callable[[int], None]
) -> Job:
    """Run a job this process claimed, showing its progress; refuse it if it failed."""
    await run_job(
        engine=engine,
        job_id=job.id,
        max_bytes=settings.import_max_unpacked_bytes,
        timeout_s=settings.query_timeout_s,
        report=report,
    )
    print(file=sys.stderr)
    done = await get_job(engine=engine, site_id=job.site_id, job_id=job.id, kind=job.kind)
    if done.status != "completed":
        raise ValueError(f"{job.kind} {job.id} failed: {done.error}")
    return done


async def existing_site(engine: AsyncEngine, site_id: str) -> None:
    if await get_site(engine=engine, site_id=site_id) is None:
        raise LookupError(f"no site with id {site_id!r}")


def progress_line(verb: str, total: int | None) -> Callable[[int], None]:
    """Rows done so far, rewritten in place on stderr."""

    def show(rows: int) -> None:
        of = f" of {total}" if total else ""
        print(f"\r{rows}{of} rows {verb}", end="", file=sys.stderr, flush=True)

    return show


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="overt", description=__doc__)
    root.add_argument("--version", action="version", version=f"overt {package_version('overt')}")
    commands = root.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="everything in one process (runs migrations first)")
    up.add_argument("--port", type=int, help="port to bind (default OVERT_PORT or 8000)")
    up.add_argument("--host", help="address to bind (default OVERT_HOST or 127.0.0.1)")
    up.set_defaults(func=command_up)

    serve_cmd = commands.add_parser("serve", help="one service per process")
    serve_cmd.add_argument("service", choices=SERVICES)
    serve_cmd.add_argument("--port", type=int)
    serve_cmd.add_argument("--host")
    serve_cmd.set_defaults(func=command_serve)

    migrate = commands.add_parser(
        "migrate", help="apply database migrations (alembic upgrade head)"
    )
    migrate.set_defaults(func=command_migrate)
    partitions = commands.add_parser(
        "partitions",
        help="create event partitions ahead and apply retention now (workers also do it hourly)",
    )
    partitions.set_defaults(func=command_partitions)
    rebuild = commands.add_parser(
        "rollups",
        help="rebuild the daily rollups of every day changed since they were built, today "
        "included (the API rebuilds days before today every minute)",
    )
    rebuild.set_defaults(func=command_rollups)

    site = commands.add_parser("site", help="manage sites").add_subparsers(
        dest="action", required=True
    )
    site_add = site.add_parser("add", help="register a site and print its script tag")
    site_add.add_argument("domain")
    site_add.add_argument("--timezone", default="UTC", help="IANA zone for day boundaries")
    site_add.add_argument(
        "--events-per-second", type=int, help="rate limit per collector process (default 20000)"
    )
    site_add.add_argument(
        "--consent-required",
        action="store_true",
        help='nothing is sent before analytics consent (the tag gets data-consent="required")',
    )
    site_add.add_argument("--json", action="store_true", help="machine-readable output")
    site_add.set_defaults(func=command_site_add)
    site_list = site.add_parser("list", help="every site with its settings and script tag")
    site_list.add_argument("--json", action="store_true")
    site_list.set_defaults(func=command_site_list)
    page_keys = site.add_parser(
        "page-keys", help="the preference page's messages, each with the key --page-text takes"
    )
    page_keys.set_defaults(func=command_site_page_keys)
    site_set = site.add_parser("set", help="change a site's settings (only those given)")
    site_set.add_argument("site_id")
    site_set.add_argument("--timezone", help="IANA zone for day boundaries")
    site_set.add_argument(
        "--retention-months", type=int, help="months events and sessions are kept (1-25)"
    )
    rollups = site_set.add_mutually_exclusive_group()
    rollups.add_argument("--rollup-retention-months", type=int, help="months rollups are kept")
    rollups.add_argument("--keep-rollups", action="store_true", help="keep rollups for good")
    hosts = site_set.add_mutually_exclusive_group()
    hosts.add_argument(
        "--extra-host",
        action="extend",
        nargs="+",
        metavar="HOST",
        help="other domains whose pages send events for this site (replaces the list)",
    )
    hosts.add_argument("--no-extra-hosts", action="store_true", help="clear the list")
    site_set.add_argument(
        "--k", type=int, help="k-anonymity, 1 (off) to 50: stores a new definition version"
    )
    site_set.add_argument("--events-per-second", type=int, help="rate limit per collector")
    site_set.add_argument(
        "--consent-required",
        action=argparse.BooleanOptionalAction,
        help='ask analytics consent before any event (the tag gets data-consent="required")',
    )
    site_set.add_argument(
        "--controller",
        metavar="NAME",
        help="who decides about visitors' data, named in the consent widget and on the "
        'preference page ("" clears: the domain is named)',
    )
    site_set.add_argument(
        "--privacy-url",
        metavar="URL",
        help='the privacy policy (https), linked from the widget and the page ("" clears)',
    )
    site_set.add_argument(
        "--widget-text",
        action="append",
        metavar="LANG.KEY=TEXT",
        help="the site's own wording of one of the widget's texts in one language (keys as in "
        "/consent/i18n/en.json; LANG.KEY= returns to the shipped words); repeatable",
    )
    site_set.add_argument(
        "--page-text",
        action="append",
        metavar="LANG.KEY=TEXT",
        help="the site's own wording of one of the preference page's messages in one language "
        "(keys as `site page-keys` lists them; placeholders and markup kept; LANG.KEY= returns "
        "to the catalogue's words); repeatable",
    )
    site_set.add_argument(
        "--alert-cooldown-hours",
        type=int,
        metavar="HOURS",
        help="at most one Slack alert per contact in this many hours (1-2160, default 24), "
        "for destinations without a cool-down of their own",
    )
    site_set.add_argument("--json", action="store_true")
    site_set.set_defaults(func=command_site_set)

    user = commands.add_parser("user", help="manage the web app's users").add_subparsers(
        dest="action", required=True
    )
    user_add = user.add_parser(
        "add", help="add a user (the password is read from stdin, or made and printed once)"
    )
    user_add.add_argument("email")
    user_add.add_argument("--site", help="give the user a role on this site")
    user_add.add_argument("--role", choices=ROLES, default="owner", help="(default owner)")
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    user_add.add_argument("--json", action="store_true")
    user_add.set_defaults(func=command_user_add)
    user_list = user.add_parser("list", help="every user with their sites and roles")
    user_list.add_argument("--json", action="store_true")
    user_list.set_defaults(func=command_user_list)
    user_reset = user.add_parser(
        "reset",
        help="a new password (stdin, or made and printed once); ends the user's sessions",
    )
    user_reset.add_argument("email")
    user_reset.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    user_reset.add_argument(
        "--disable-totp", action="store_true", help="also turn the second factor off"
    )
    user_reset.add_argument("--json", action="store_true")
    user_reset.set_defaults(func=command_user_reset)

    key = commands.add_parser("key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    key_create = key.add_parser("create", help="create an API key (printed once)")
    key_create.add_argument("--site", required=True)
    key_create.add_argument(
        "--scope",
        action="extend",
        nargs="+",
        required=True,
        choices=[s.value for s in KeyScope],
        help="one or more, repeatable: --scope a b or --scope a --scope b",
    )
    key_create.add_argument(
        "--rate-limit",
        type=int,
        help="requests per window for this key (default OVERT_API_RATE_LIMIT)",
    )
    key_create.add_argument("--json", action="store_true")
    key_create.set_defaults(func=command_key_create)
    key_revoke = key.add_parser("revoke", help="revoke an API key; takes effect at once")
    key_revoke.add_argument("key_id", help="the id printed by `overt key create`")
    key_revoke.set_defaults(func=command_key_revoke)
    key_list = key.add_parser("list", help="every key (never its secret), live and revoked")
    key_list.add_argument("--site", help="one site's keys")
    key_list.add_argument("--json", action="store_true")
    key_list.set_defaults(func=command_key_list)

    backup = commands.add_parser(
        "backup", help="copy the SQLite database (online) and the generated secret key"
    )
    backup.add_argument("directory", type=Path, help="a new or empty directory")
    backup.set_defaults(func=command_backup)

    ledger = commands.add_parser("ledger", help="the consent ledger").add_subparsers(
        dest="action", required=True
    )
    ledger_verify = ledger.add_parser(
        "verify", help="recompute the hash chain and checkpoints; exit 1 on tampering"
    )
    ledger_verify.add_argument("--site", help="one site (default: every site)")
    ledger_verify.add_argument(
        "--receipts",
        type=Path,
        metavar="FILE",
        help="JSON lines of receipts and signed checkpoints kept outside the database: "
        "each proves the ledger reached its row, so a cut-off tail is caught",
    )
    ledger_verify.add_argument(
        "--json",
        action="store_true",
        help="one JSON line per site, with its newest signed checkpoint (keep it outside)",
    )
    ledger_verify.add_argument(
        "--metrics-file",
        type=Path,
        metavar="FILE",
        help="also write the result as Prometheus metrics (node_exporter's textfile "
        "collector: a *.prom file in its directory), for the alert rules in deploy/",
    )
    ledger_verify.set_defaults(func=command_ledger_verify)

    consent = commands.add_parser("consent", help="consent service administration").add_subparsers(
        dest="action", required=True
    )
    consent_secret = consent.add_parser(
        "secret", help="print the site's identity-assertion secret (HMAC key for its backend)"
    )
    consent_secret.add_argument("--site", required=True)
    consent_secret.set_defaults(func=command_consent_secret)
    consent_requests = consent.add_parser(
        "requests", help="list data-subject requests with their legal deadlines"
    )
    consent_requests.add_argument("--site", required=True)
    consent_requests.add_argument("--json", action="store_true")
    consent_requests.set_defaults(func=command_consent_requests)
    consent_notice = consent.add_parser(
        "notice", help="publish a new notice version; purposes whose text changed are asked again"
    )
    consent_notice.add_argument("--site", required=True)
    consent_notice.add_argument(
        "--text", action="append", required=True, metavar="PURPOSE=TEXT", help="repeatable"
    )
    consent_notice.add_argument("--json", action="store_true")
    consent_notice.set_defaults(func=command_consent_notice)
    consent_lifetime = consent.add_parser(
        "lifetime",
        help="how long consent to a purpose lasts before it is asked again "
        f"(default 365 days, at most {MAX_LIFETIME.days}); applies to the next decisions",
    )
    consent_lifetime.add_argument("--site", required=True)
    consent_lifetime.add_argument("--purpose", required=True)
    consent_lifetime.add_argument("--days", type=int, help="omit to go back to the default")
    consent_lifetime.add_argument("--json", action="store_true")
    consent_lifetime.set_defaults(func=command_consent_lifetime)

    importing = commands.add_parser(
        "import",
        help="import a Plausible CSV export (zip or CSV files) or an Umami export into a site",
    )
    importing.add_argument("--site", required=True)
    importing.add_argument("files", nargs="+", type=Path, metavar="FILE")
    importing.add_argument("--format", choices=("plausible", "umami"), default=None)
    importing.add_argument("--json", action="store_true")
    importing.set_defaults(func=command_import)
    exporting = commands.add_parser(
        "export", help="export a site's days as Plausible's CSV reports in a zip"
    )
    exporting.add_argument("--site", required=True)
    exporting.add_argument("--from", dest="first", required=True, type=date.fromisoformat)
    exporting.add_argument("--to", dest="last", required=True, type=date.fromisoformat)
    exporting.add_argument("--output", "-o", required=True, type=Path)
    exporting.add_argument("--json", action="store_true")
    exporting.set_defaults(func=command_export)

    deadletter = commands.add_parser(
        "deadletter", help="queue entries the ingest worker could not store"
    ).add_subparsers(dest="action", required=True)
    deadletter_list = deadletter.add_parser("list", help="every dead letter, oldest first")
    deadletter_list.add_argument("--json", action="store_true")
    deadletter_list.set_defaults(func=command_deadletter)
    deadletter_show = deadletter.add_parser(
        "show", help="a dead letter's error and its events' fields (prints visitor data)"
    )
    deadletter_show.add_argument("id")
    deadletter_show.set_defaults(func=command_deadletter)
    for action, text in (
        ("replay", "queue dead letters again (once the cause is fixed) and remove them"),
        ("drop", "remove dead letters for good"),
    ):
        chosen = deadletter.add_parser(action, help=text)
        which = chosen.add_mutually_exclusive_group(required=True)
        which.add_argument("id", nargs="?")
        which.add_argument("--all", action="store_true")
        chosen.set_defaults(func=command_deadletter)
    return root


def command_migrate(settings: Settings, args: argparse.Namespace) -> int:
    upgrade_head(settings)
    print("database is at the latest migration")
    return 0


def command_rollups(settings: Settings, args: argparse.Namespace) -> int:
    rebuilt = asyncio.run(_rollups(settings))
    print(f"daily rollups rebuilt: {rebuilt} site-days")
    return 0


def command_partitions(settings: Settings, args: argparse.Namespace) -> int:
    created, removed = asyncio.run(_partitions(settings))
    print(f"partitions created: {', '.join(created) or 'none (all present)'}")
    print(
        f"retention: dropped {', '.join(removed.dropped_partitions) or 'no partition'}; "
        f"deleted {removed.deleted_events} events, {removed.deleted_sessions} sessions, "
        f"{removed.deleted_rollup_rows} rollup rows"
    )
    return 0


def command_up(settings: Settings, args: argparse.Namespace) -> int:
    sock = bind(settings)  # a taken port fails here, before migrations or "Overt is up"
    state = running_file(settings)
    try:
        settings.secret()  # fails early, or creates the embedded secret once
        upgrade_head(settings)
        if state is not None:
            state.write_text(json.dumps({"url": settings.base_url, "pid": os.getpid()}))
        serve(all_in_one_app(settings), settings, sock)
    finally:
        sock.close()
        if state is not None:
            state.unlink(missing_ok=True)
    return 0


def command_serve(settings: Settings, args: argparse.Namespace) -> int:
    app = service_app(settings, args.service)
    with bind(settings) as sock:
        serve(app, settings, sock)
    return 0


def command_site_add(settings: Settings, args: argparse.Namespace) -> int:
    knobs: dict[str, Any] = {"consent_required": args.consent_required}
    if args.events_per_second:
        knobs["events_per_second"] = args.events_per_second
    site_settings = SiteSettings(**knobs)
    site = asyncio.run(_site_add(settings, args.domain, args.timezone, site_settings))
    tag = script_tag(public_url(settings), site)
    if args.json:
        print(json.dumps({"id": site.id, "domain": site.domain, "script_tag": tag}))
    else:
        print(f"site {site.domain} registered with id {site.id}\n{tag}")
    return 0


def _site_json(site: Site, k: int) -> dict[str, object]:
    return {
        "id": site.id,
        "domain": site.domain,
        "timezone": site.timezone,
        "k": k,
        **site.settings.model_dump(mode="json"),
    }


async def _sites(settings: Settings) -> list[tuple[Site, int]]:
    """Every site with its k in force."""
    engine = create_engine(settings)
    try:
        return [
            (site, (await current_definition(engine, site.id)).k)
            for site in await list_sites(engine=engine)
        ]
    finally:
        await engine.dispose()


def _site_line(site: Site, k: int, base: str) -> str:
    knobs = site.settings
    rollups = f"{knobs.rollup_retention_months} months" if knobs.rollup_retention_months else "kept"
    hosts = f"  extra hosts {', '.join(knobs.extra_hosts)}" if knobs.extra_hosts else ""
    return (
        f"{site.id}  {site.domain}  {site.timezone}  k {k}  "
        f"events {knobs.raw_retention_months} months, rollups {rollups}{hosts}\n"
        f"    {script_tag(base, site)}"
    )


def command_site_list(settings: Settings, args: argparse.Namespace) -> int:
    known = asyncio.run(_sites(settings))
    if args.json:
        print(json.dumps([_site_json(site, k) for site, k in known]))
        return 0
    base = public_url(settings)
    for site, k in known:
        print(_site_line(site, k, base))
    if not known:
        print(f"no site yet: `{invocation()} site add example.com` registers one", file=sys.stderr)
    return 0


def command_site_page_keys(settings: Settings, args: argparse.Namespace) -> int:
    for key, message in PAGE_KEYS.items():
        print(f"{key}\t{message}")
    return 0


def site_texts(
    current: dict[str, dict[str, str]],
    given: list[str],
    *,
    option: str,
    keys: str,
    known: Callable[[str], bool] = lambda key: True,
    check: Callable[[str, str, str], dict[str, str]] | None = None,
) -> dict[str, dict[str, str]]:
    """A site's wording with each `LANG.KEY=TEXT` given to `option` applied (an empty TEXT
    removes): `known` says which keys the option takes (`keys` names them in the error),
    `check` turns an accepted text into what is stored, or refuses it with a SiteError."""
    texts = {lang: dict(words) for lang, words in current.items()}
    for item in given:
        where, equals, text = item.partition("=")
        lang, dot, key = where.partition(".")
        if not equals or not dot or lang not in LANGUAGES or not known(key):
            raise SiteError(
                f"{option} {item!r}: LANG.KEY=TEXT with LANG one of {', '.join(LANGUAGES)} "
                f"and KEY {keys}"
            )
        if not text:
            texts.get(lang, {}).pop(key, None)
            continue
        texts.setdefault(lang, {}).update(check(lang, key, text) if check else {key: text})
    return {lang: words for lang, words in texts.items() if words}


def checked_page_text(lang: str, key: str, text: str) -> dict[str, str]:
    """A preference-page wording as the page will show it, or the CLI's one-line refusal."""
    try:
        return check_strings(lang, {key: check_page_text(key, text)}, page=True)
    except ValueError as refused:
        raise SiteError(f"--page-text {lang}.{key}: {refused}") from None


def page_texts(current: dict[str, dict[str, str]], given: list[str]) -> dict[str, dict[str, str]]:
    """The site's page wording with each `LANG.KEY=TEXT` applied (an empty TEXT removes)."""
    return site_texts(
        current,
        given,
        option="--page-text",
        keys="as `site page-keys` lists them",
        check=checked_page_text,
    )


def widget_texts(current: dict[str, dict[str, str]], given: list[str]) -> dict[str, dict[str, str]]:
    """The site's widget wording with each `LANG.KEY=TEXT` applied (an empty TEXT removes)."""
    known = json.loads(WIDGET_STRINGS["en"].body).keys()
    return site_texts(
        current,
        given,
        option="--widget-text",
        keys=f"one of {', '.join(known)}",
        known=known.__contains__,
    )


async def _site_set(settings: Settings, args: argparse.Namespace) -> tuple[Site, int]:
    changes: dict[str, Any] = {
        field: value
        for field, value in (
            ("raw_retention_months", args.retention_months),
            ("rollup_retention_months", args.rollup_retention_months),
            ("events_per_second", args.events_per_second),
            ("extra_hosts", args.extra_host),
            ("consent_required", args.consent_required),
            ("alert_cooldown_hours", args.alert_cooldown_hours),
        )
        if value is not None
    }
    for field, text in (("controller", args.controller), ("privacy_url", args.privacy_url)):
        if text is not None:
            changes[field] = text or None
    if args.keep_rollups:
        changes["rollup_retention_months"] = None
    if args.no_extra_hosts:
        changes["extra_hosts"] = ()
    engine = create_engine(settings)
    try:
        if args.widget_text or args.page_text:
            current = await get_site(engine=engine, site_id=args.site_id)
            if current is None:
                raise LookupError(f"no site with id {args.site_id!r}")
            if args.widget_text:
                changes["widget_strings"] = widget_texts(
                    current.settings.widget_strings, args.widget_text
                )
            if args.page_text:
                changes["page_strings"] = page_texts(current.settings.page_strings, args.page_text)
        site = await update_site(
            engine=engine, site_id=args.site_id, timezone=args.timezone, changes=changes
        )
        if args.k is not None:
            return site, await change_k(engine=engine, site_id=site.id, k=args.k)
        return site, (await current_definition(engine, site.id)).k
    finally:
        await engine.dispose()


def command_site_set(settings: Settings, args: argparse.Namespace) -> int:
    site, k = asyncio.run(_site_set(settings, args))
    if args.json:
        print(json.dumps(_site_json(site, k)))
    else:
        print(_site_line(site, k, public_url(settings)))
        print("running collectors apply it within 30 s")
    return 0


def command_key_list(settings: Settings, args: argparse.Namespace) -> int:
    keys = asyncio.run(_key_list(settings, args.site))
    if args.json:
        print(json.dumps(keys))
        return 0
    for key in keys:
        state = f"revoked {key['revoked_at']}" if key["revoked_at"] else "live"
        limit = f"  {key['rate_limit']}/window" if key["rate_limit"] else ""
        scopes = " ".join(map(str, key["scopes"]))  # type: ignore[call-overload]
        created = key["created_at"]
        print(f"{key['id']}  site {key['site_id']}  {scopes}  created {created}  {state}{limit}")
    return 0


async def _key_list(settings: Settings, site_id: str | None) -> list[dict[str, object]]:
    engine = create_engine(settings)
    try:
        if site_id is not None and await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        return await list_keys(engine=engine, site_id=site_id)
    finally:
        await engine.dispose()


def command_backup(settings: Settings, args: argparse.Namespace) -> int:
    """SQLite's online backup (consistent while Overt runs) and the generated secret key."""
    if not settings.is_sqlite:
        raise ValueError(
            "overt backup copies the SQLite database; on PostgreSQL use pg_dump "
            "(deploy/BACKUP.md) and keep OVERT_SECRET_KEY"
        )
    source = sqlite_path(settings.database_url)
    if not source.exists():
        raise LookupError(f"no database at {source}; nothing to back up")
    target: Path = args.directory
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    copy = target / source.name
    if copy.exists():
        raise ValueError(f"{copy} exists; back up into a new directory")
    copy.touch(mode=0o600)
    with (
        contextlib.closing(sqlite3.connect(source)) as src,
        contextlib.closing(sqlite3.connect(copy)) as dst,
    ):
        src.backup(dst)
        # The day's visitor salt stays out of every copy: kept in a backup it would outlive
        # its day and let that day's visitor hashes be recomputed. A restore makes a new one.
        dst.execute("PRAGMA secure_delete = ON")
        dst.execute(f"DELETE FROM {visitor_salts.name}")
        dst.commit()
        dst.execute("VACUUM")
        (check,) = dst.execute("PRAGMA integrity_check").fetchone()
    if check != "ok":
        raise ValueError(f"the copy at {copy} fails its integrity check: {check}")
    print(f"database copied to {copy}")
    if settings.secret_key is None:
        key = target / "secret.key"
        key.touch(mode=0o600)
        key.write_bytes(settings.secret())
        print(f"secret key copied to {key}: without it sealed identities and site keys are lost")
    else:
        print("OVERT_SECRET_KEY is set: keep it with the backup (sealed data needs it)")
    return 0


def command_key_create(settings: Settings, args: argparse.Namespace) -> int:
    key_id, secret = asyncio.run(_key_create(settings, args.site, args.scope, args.rate_limit))
    if args.json:
        print(
            json.dumps(
                {
                    "id": key_id,
                    "key": secret,
                    "site_id": args.site,
                    "scopes": sorted(set(args.scope)),
                }
            )
        )
    else:
        print(f"key {key_id} for site {args.site} (shown once, store it now):\n{secret}")
    return 0


def new_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password from stdin (its first line), or a new random one; True when made here."""
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n"), False
    return secrets.token_urlsafe(15), True


def command_user_add(settings: Settings, args: argparse.Namespace) -> int:
    password, made = new_password(args)
    account = asyncio.run(_user_add(settings, args.email, password, args.site, args.role))
    shown = password if made else None
    if args.json:
        print(json.dumps({"id": account.id, "email": account.email, "password": shown}))
        return 0
    where = f" ({args.role} of site {args.site})" if args.site else ""
    print(f"user {account.email} added{where}")
    if shown:
        print(f"password (shown once, the user can change it): {shown}")
    print(f"sign in at {public_url(settings)}/app/login")
    return 0


async def _user_add(
    settings: Settings, email: str, password: str, site_id: str | None, role: str
) -> Account:
    engine = create_engine(settings)
    try:
        if site_id is not None and await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        account = await create_user(engine=engine, email=email, password=password)
        if site_id is not None:
            await grant_role(engine=engine, user_id=account.id, site_id=site_id, role=role)
        return account
    finally:
        await engine.dispose()


def command_user_list(settings: Settings, args: argparse.Namespace) -> int:
    users = asyncio.run(_with_engine(settings, lambda engine: list_users(engine=engine)))
    if args.json:
        print(json.dumps(users))
        return 0
    for user in users:
        roles = ", ".join(f"{role} of {site}" for site, role in user["sites"].items())
        totp = "  totp" if user["totp"] else ""
        print(f"{user['email']}  {roles or 'no site'}{totp}")
    if not users:
        print(f"no user yet: `{invocation()} user add EMAIL` adds one", file=sys.stderr)
    return 0


def command_user_reset(settings: Settings, args: argparse.Namespace) -> int:
    password, made = new_password(args)
    asyncio.run(
        _with_engine(
            settings,
            lambda engine: set_password(
                engine=engine,
                email=args.email,
                password=password,
                disable_totp=args.disable_totp,
            ),
        )
    )
    shown = password if made else None
    if args.json:
        print(json.dumps({"email": args.email.strip().lower(), "password": shown}))
        return 0
    print(f"password of {args.email.strip().lower()} reset; their sessions ended")
    if shown:
        print(f"new password (shown once): {shown}")
    return 0


async def _with_engine(settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    engine = create_engine(settings)
    try:
        return await work(engine)
    finally:
        await engine.dispose()


def command_key_revoke(settings: Settings, args: argparse.Namespace) -> int:
    if not asyncio.run(_key_revoke(settings, args.key_id)):
        raise LookupError(f"no live key with id {args.key_id!r}")
    print(f"key {args.key_id} revoked")
    return 0


def command_ledger_verify(settings: Settings, args: argparse.Namespace) -> int:
    try:
        kept = args.receipts.read_text().splitlines() if args.receipts else None
    except OSError as exc:
        print(f"error: cannot read {args.receipts}: {exc.strerror}", file=sys.stderr)
        return 1
    reports, refused = asyncio.run(_ledger_verify(settings, args.site, kept))
    for report in reports:
        if args.json:
            print(
                json.dumps(
                    {
                        "site_id": report.site_id,
                        "ok": report.ok,
                        "rows": report.rows,
                        "checkpoints": report.checkpoints,
                        "evidence": report.evidence,
                        "problems": report.problems,
                        "checkpoint": report.head,
                    }
                )
            )
        elif report.ok:
            checked = f", {report.evidence} kept rows match" if args.receipts else ""
            print(
                f"site {report.site_id}: {report.rows} rows, "
                f"{report.checkpoints} signed checkpoints{checked}, chain intact"
            )
        for problem in report.problems:
            print(f"TAMPERED: {problem}", file=sys.stderr)
    for problem in refused:
        print(f"UNUSABLE: {problem}", file=sys.stderr)
    if args.metrics_file:
        intact = {report.site_id: report.ok for report in reports}
        write_to_textfile(str(args.metrics_file), ledger_verification(intact, time.time()))
    return 0 if not refused and all(report.ok for report in reports) else 1


def command_consent_secret(settings: Settings, args: argparse.Namespace) -> int:
    print(asyncio.run(_consent_secret(settings, args.site)))
    return 0


def command_consent_lifetime(settings: Settings, args: argparse.Namespace) -> int:
    days = asyncio.run(_consent_lifetime(settings, args.site, args.purpose, args.days))
    if args.json:
        print(json.dumps({"purpose": args.purpose, "lifetime_days": days}))
    else:
        print(f"consent to {args.purpose} now lasts {days} days (from the next decision)")
    return 0


def command_consent_notice(settings: Settings, args: argparse.Namespace) -> int:
    texts = dict(pair.split("=", 1) for pair in args.text if "=" in pair)
    if len(texts) != len(args.text):
        raise ValueError("--text takes PURPOSE=TEXT")
    change = asyncio.run(_consent_notice(settings, args.site, texts))
    if args.json:
        print(json.dumps({"version": change.version, "changed": change.changed}))
        return 0
    asked = ", ".join(change.changed) or "nothing (no text changed)"
    print(f"notice version {change.version} published; asked again: {asked}")
    return 0


def command_consent_requests(settings: Settings, args: argparse.Namespace) -> int:
    requests = asyncio.run(_consent_requests(settings, args.site))
    if args.json:
        print(json.dumps(requests))
        return 0
    for request in requests:
        state = (
            "done " + str(request["completed_at"])
            if request["completed_at"]
            else ("OVERDUE" if request["overdue"] else "open")
        )
        print(
            f"{request['request_id']} {request['kind']:<8} {request['regime']} "
            f"received {request['received_at']} due {request['due_at']} {state}"
        )
    return 0


def _dead_letter_line(entry: DeadLetterEntry) -> str:
    records = payload_records(entry)
    count = "?" if records is None else str(len(records))
    return (
        f"{entry.id}  {entry.failed_at:%Y-%m-%d %H:%M:%S}  {count} event(s)  "
        f"{entry.error_type}: {entry.error}"
    )


def command_deadletter(settings: Settings, args: argparse.Namespace) -> int:
    """`overt deadletter list|show|replay|drop`: see services/collector/deadletter.py."""
    entry_ids = None if getattr(args, "all", False) or args.action == "list" else [args.id]
    result = asyncio.run(_dead_letters(settings, args.action, entry_ids))
    if args.action == "list":
        entries: list[DeadLetterEntry] = result
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "id": entry.id,
                            "failed_at": entry.failed_at.isoformat(),
                            "delivery_id": entry.delivery_id,
                            "error_type": entry.error_type,
                            "error": entry.error,
                            "events": len(payload_records(entry) or []),
                        }
                        for entry in entries
                    ]
                )
            )
        else:
            for entry in entries:
                print(_dead_letter_line(entry))
            print(f"{len(entries)} dead letter(s)", file=sys.stderr)
        return 0
    if args.action == "show":
        shown: DeadLetterEntry = result
        print(_dead_letter_line(shown))
        print(f"queue entry: {shown.delivery_id}")
        records = payload_records(shown)
        if records is None:
            print(f"payload (not JSON): {shown.payload!r}")
        for record in records or []:
            print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    if args.action == "replay":
        report: ReplayReport = result
        for entry_id in report.replayed:
            print(f"replayed {entry_id}")
        for entry_id, error in report.failed.items():
            print(f"overt: {entry_id} still fails ({error}); kept", file=sys.stderr)
        return 1 if report.failed else 0
    print(f"dropped {result} dead letter(s)")
    return 0


def command_import(settings: Settings, args: argparse.Namespace) -> int:
    job_id, rows = asyncio.run(_import(settings, args.site, args.files, args.format))
    if args.json:
        print(json.dumps({"id": job_id, "site_id": args.site, "rows": rows}))
    else:
        print(f"import {job_id}: {rows} rows stored for site {args.site}")
    return 0


def command_export(settings: Settings, args: argparse.Namespace) -> int:
    job_id, rows = asyncio.run(_export(settings, args.site, args.first, args.last, args.output))
    if args.json:
        print(
            json.dumps(
                {"id": job_id, "site_id": args.site, "rows": rows, "file": text_path(args.output)}
            )
        )
    else:
        print(f"export {job_id}: {rows} rows written to {text_path(args.output)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Callable[[Settings, argparse.Namespace], int] = args.func
    try:
        check_environment(os.environ, Settings, MailSettings)
        overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
        settings = load_settings(Settings)
        if overrides:
            settings = settings.model_copy(update=overrides)
    except SettingsError as exc:
        print(f"overt: invalid setting: {exc}", file=sys.stderr)
        return 2
    try:
        configure_logging(
            fmt=settings.log_format, level=settings.log_level, access=settings.access_log
        )
        return command(settings, args)
    except SettingsError as exc:
        print(f"overt: invalid setting: {exc}", file=sys.stderr)
        return 2
    except ProblemError as exc:  # a service refusal (e.g. an unknown purpose)
        print(f"overt: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    except (SiteError, LookupError, ValueError, CannotStart) as exc:
        print(f"overt: {exc}", file=sys.stderr)
        return 1
    except (DBAPIError, ConnectionError, socket.gaierror) as exc:
        print(f"overt: {database_problem(exc, settings)}", file=sys.stderr)
        return 1
    except OSError as exc:
        named = text_path(exc.filename) if isinstance(exc.filename, str | bytes) else ""
        print(f"overt: {exc.strerror or exc}: {named}".rstrip(": "), file=sys.stderr)
        return 1


def database_problem(exc: BaseException, settings: Settings) -> str:
    """One line for a database that cannot be used: what is wrong and what to do (never the
    URL's password)."""
    url = make_url(settings.database_url)
    inner = _innermost(exc)
    cause = " ".join(str(getattr(inner, "strerror", None) or inner or type(inner).__name__).split())
    unmigrated = cause.startswith(("relation ", "no such table")) and (
        "does not exist" in cause or "no such table" in cause
    )
    if unmigrated:
        return (
            f"the database {url.database} has no Overt schema yet ({cause}): "
            f"run `{invocation()} migrate` first"
        )
    if settings.is_sqlite:
        if "unable to open" in cause:
            return f"cannot open the SQLite database {url.database}: check OVERT_DATABASE_URL"
        return f"the SQLite database {url.database} answered an error: {cause}"
    host, port = url.host or "localhost", url.port or 5432
    where = f"{host}:{port}"
    if "does not exist" in cause and f'"{url.database}"' in cause:
        return (
            f'PostgreSQL at {where} has no database "{url.database}": create it '
            f"(createdb -h {host} -p {port} -U {url.username or 'postgres'} {url.database}) "
            "or fix OVERT_DATABASE_URL"
        )
    if isinstance(inner, OSError):  # refused, unreachable, unknown host, timed out
        return (
            f"cannot reach PostgreSQL at {where} (database {url.database}): {cause}; "
            "start it or fix OVERT_DATABASE_URL"
        )
    if "authentication" in cause or "password" in cause or cause.startswith("role "):
        return f"PostgreSQL at {where} refused the login: {cause}; fix OVERT_DATABASE_URL"
    return f"PostgreSQL at {where} (database {url.database}) answered an error: {cause}"


def _innermost(exc: BaseException) -> BaseException:
    """The driver's own error under SQLAlchemy's wrapper and any chain of causes."""
    while isinstance(exc, DBAPIError) and exc.orig is not None:
        exc = exc.orig
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


if __name__ == "__main__":
    sys.exit(main())
