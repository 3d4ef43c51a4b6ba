"""The `overt` command: the one place that composes the services."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import select

from services.api.app import api_parts
from services.api.app import create_app as create_api_app
from services.api.keys.service import create_key, revoke_key
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
from services.consent.ledger.service import VerifyReport, ledger_sites, verify_site
from services.consent.notices.service import NoticeChange, publish_notice
from services.consent.receipts.service import read_evidence
from services.consent.rights.service import list_requests
from services.consent.sites.service import ensure_site, site_assertion_secret
from shared.app import AppParts, app_from_parts, asgi_app
from shared.db import create_engine
from shared.deadletter import DeadLetterEntry
from shared.errors import ProblemError
from shared.keys import KeyScope
from shared.logging import configure_logging
from shared.migrate import upgrade_head
from shared.models import sites
from shared.partitions import RetentionReport, maintain
from shared.runtime import Resources, open_resources, tune_gc
from shared.server import bounded_http_protocol
from shared.settings import Settings, SettingsError, load_settings
from shared.sites import SiteError, SiteSettings, create_site, get_site

# `overt serve SERVICE`: each service's own app, as its app.py describes it.
SERVICE_APPS: dict[str, Callable[[Settings], FastAPI]] = {
    "collector": create_collector_app,
    "consent": create_consent_app,
    "api": create_api_app,
    "worker": create_worker_app,
}
SERVICES = tuple(SERVICE_APPS)
MAX_HEAD_BYTES = 32 * 1024


def script_tag(settings: Settings, site_id: str) -> str:
    return f'<script defer src="{settings.base_url}/overt.js" data-site="{site_id}"></script>'


def all_in_one_app(settings: Settings) -> FastAPI:
    """Collector, consent, API and ingest worker in one process (`overt up`)."""

    async def announce(resources: Resources) -> None:
        async with resources.engine.connect() as conn:
            known = (await conn.execute(select(sites.c.id, sites.c.domain))).all()
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
            lines += [f"  {row.domain}: {script_tag(settings, row.id)}" for row in known]
        else:
            lines.append("No site yet: `overt site add example.com` prints its script tag.")
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
        timeout_graceful_shutdown=30,
        timeout_keep_alive=5,  # an idle connection is closed after 5 s
        # Request heads: 431 past 32 KiB; a head or a body slower than the read timeout: 408.
        http=bounded_http_protocol(
            max_head_bytes=MAX_HEAD_BYTES, read_seconds=settings.read_timeout_seconds
        ),
    )


def serve(app: FastAPI, settings: Settings) -> None:
    """Run until SIGINT or SIGTERM; both stop intake, drain, and exit 0."""
    config = server_config(app, settings)
    tune_gc()
    # uvicorn re-raises the signal once it has shut down; after a clean drain that is success.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        with contextlib.suppress(KeyboardInterrupt):
            uvicorn.Server(config).run()
    finally:
        # Drained. A repeated Ctrl-C or SIGTERM while the interpreter exits would otherwise
        # kill it with the signal (exit -2 or -15) and make a clean stop look like a crash.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)


async def _site_add(
    settings: Settings, domain: str, timezone: str, site_settings: SiteSettings
) -> tuple[str, str]:
    engine = create_engine(settings)
    try:
        site = await create_site(
            engine=engine, domain=domain, timezone=timezone, settings=site_settings
        )
    finally:
        await engine.dispose()
    return site.id, site.domain


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


async def _consent_notice(settings: Settings, site_id: str, texts: dict[str, str]) -> NoticeChange:
    engine = create_engine(settings)
    try:
        if await get_site(engine=engine, site_id=site_id) is None:
            raise LookupError(f"no site with id {site_id!r}")
        await ensure_site(engine=engine, secret=settings.secret(), site_id=site_id)
        return await publish_notice(engine=engine, site_id=site_id, texts=texts)
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


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="overt", description=__doc__)
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

    site = commands.add_parser("site", help="manage sites").add_subparsers(
        dest="action", required=True
    )
    site_add = site.add_parser("add", help="register a site and print its script tag")
    site_add.add_argument("domain")
    site_add.add_argument("--timezone", default="UTC", help="IANA zone for day boundaries")
    site_add.add_argument(
        "--events-per-second", type=int, help="rate limit per collector process (default 20000)"
    )
    site_add.add_argument("--json", action="store_true", help="machine-readable output")
    site_add.set_defaults(func=command_site_add)

    key = commands.add_parser("key", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    key_create = key.add_parser("create", help="create an API key (printed once)")
    key_create.add_argument("--site", required=True)
    key_create.add_argument(
        "--scope", action="append", required=True, choices=[s.value for s in KeyScope]
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
    consent_notice.set_defaults(func=command_consent_notice)

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
    settings.secret()  # fails early, or creates the embedded secret once
    upgrade_head(settings)
    serve(all_in_one_app(settings), settings)
    return 0


def command_serve(settings: Settings, args: argparse.Namespace) -> int:
    serve(service_app(settings, args.service), settings)
    return 0


def command_site_add(settings: Settings, args: argparse.Namespace) -> int:
    knobs = {"events_per_second": args.events_per_second} if args.events_per_second else {}
    site_settings = SiteSettings(**knobs)
    site_id, domain = asyncio.run(_site_add(settings, args.domain, args.timezone, site_settings))
    tag = script_tag(settings, site_id)
    if args.json:
        print(json.dumps({"id": site_id, "domain": domain, "script_tag": tag}))
    else:
        print(f"site {domain} registered with id {site_id}\n{tag}")
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
    return 0 if not refused and all(report.ok for report in reports) else 1


def command_consent_secret(settings: Settings, args: argparse.Namespace) -> int:
    print(asyncio.run(_consent_secret(settings, args.site)))
    return 0


def command_consent_notice(settings: Settings, args: argparse.Namespace) -> int:
    texts = dict(pair.split("=", 1) for pair in args.text if "=" in pair)
    if len(texts) != len(args.text):
        raise ValueError("--text takes PURPOSE=TEXT")
    change = asyncio.run(_consent_notice(settings, args.site, texts))
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


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    command: Callable[[Settings, argparse.Namespace], int] = args.func
    try:
        overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
        settings = load_settings(Settings)
        if overrides:
            settings = settings.model_copy(update=overrides)
        configure_logging(fmt=settings.log_format, level=settings.log_level)
        return command(settings, args)
    except SettingsError as exc:
        print(f"overt: invalid setting: {exc}", file=sys.stderr)
        return 2
    except ProblemError as exc:  # a service refusal (e.g. an unknown purpose)
        print(f"overt: {exc.detail or exc.title}", file=sys.stderr)
        return 1
    except (SiteError, LookupError, ValueError) as exc:
        print(f"overt: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
