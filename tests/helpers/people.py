"""Helpers for the people-and-outcomes tests: consented subjects with linked events, a local
webhook receiver (a real HTTP server on 127.0.0.1), and an app with webhook settings."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson

from services.api.engagement.schemas import DefinitionIn, PageRepeatRule, ScoreWeights
from services.api.engagement.service import store_definition
from services.api.keys.service import create_key
from services.consent.keys.service import load_site_keys
from services.consent.sites.service import ensure_site
from services.consent.verification.service import sign_assertion
from shared.keys import KeyScope
from shared.sites import Site
from tests.helpers.consent import post_decisions
from tests.helpers.overt import Overt

ALL_SCOPES = list(KeyScope)


def auth(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


async def full_key(overt: Overt, site_id: str | None = None, **options: Any) -> str:
    _, secret = await create_key(
        engine=overt.resources.engine,
        site_id=site_id or overt.site.id,
        scopes=ALL_SCOPES,
        **options,
    )
    return secret


async def definitions_key(overt: Overt, site_id: str | None = None) -> str:
    """A key that reads stats and writes what answers depend on (definitions, goals,
    segments)."""
    _, secret = await create_key(
        engine=overt.resources.engine,
        site_id=site_id or overt.site.id,
        scopes=[KeyScope.stats_read, KeyScope.definitions_write],
    )
    return secret


async def consent_site(overt: Overt) -> Site:
    return await ensure_site(
        engine=overt.resources.engine,
        secret=overt.resources.settings.secret(),
        site_id=overt.site.id,
    )


@dataclass
class Subject:
    subject_id: str
    credential: str
    token: str
    agent: str


async def consented_subject(overt: Overt, site: Site, name: str, **more: bool) -> Subject:
    """A visitor who gave identification consent (and `more`) through the consent API."""
    granted = await post_decisions(overt, site, None, identification=True, **more)
    assert granted.status_code == 201, granted.text
    body = granted.json()
    return Subject(body["subject_id"], body["credential"], body["token"], f"{name}/1.0")


async def visit(overt: Overt, subject: Subject, *paths: str, hours_ago: float = 0) -> None:
    """Pageviews through the real collector, linked to the subject by its consent token
    (`hours_ago`, by client time: another session, within the collector's day of replay).

    Each a millisecond after the one before (client time): sent back to back, two could
    otherwise share a server millisecond, and the timeline's order would be the ids'."""
    start = int((time.time() - hours_ago * 3600) * 1000) - len(paths)
    for offset, path in enumerate(paths):
        event = overt.event(u=f"https://example.com{path}", k=subject.token, t=start + offset)
        response = await overt.send(event, **{"user-agent": subject.agent})
        assert response.status_code == 202, response.text
    await overt.drained()


async def name_subject(
    overt: Overt, site: Site, subject: Subject, value: str, **signed: Any
) -> None:
    """The site's backend asserts who the subject is (`assertion`'s body, `signed` its
    kind and display name)."""
    body = await assertion(overt, site, subject, value, **signed)
    response = await overt.client.post(f"/consent/sites/{site.id}/identity/assert", json=body)
    assert response.status_code == 200, response.text


async def assertion(
    overt: Overt,
    site: Site,
    subject: Subject,
    value: str,
    *,
    kind: str = "email",
    display_name: str | None = None,
) -> dict[str, Any]:
    """The body of POST /consent/sites/{site}/identity/assert naming the subject, issued now
    and signed with the site's assertion secret, as the site's backend sends it."""
    async with overt.resources.engine.connect() as conn:
        keys = await load_site_keys(
            conn=conn, secret=overt.resources.settings.secret(), site_id=site.id
        )
    assert keys is not None
    issued_at = int(time.time())
    body: dict[str, Any] = {
        "subject_id": subject.subject_id,
        "kind": kind,
        "value": value,
        "issued_at": issued_at,
        "signature": sign_assertion(
            assertion_secret=keys.assertion_secret,
            site_id=site.id,
            subject_id=subject.subject_id,
            kind=kind,
            value=value,
            issued_at=issued_at,
            display_name=display_name,
        ),
    }
    if display_name is not None:
        body["display_name"] = display_name
    return body


async def withdraw(overt: Overt, site: Site, subject: Subject) -> None:
    response = await post_decisions(overt, site, subject.credential, identification=False)
    assert response.status_code == 200, response.text


async def erase(overt: Overt, site: Site, subject: Subject) -> None:
    response = await overt.client.post(
        f"/consent/sites/{site.id}/erase", headers=auth(subject.credential)
    )
    assert response.status_code == 200, response.text


async def pricing_definition(overt: Overt, threshold: float = 5.0, cap: float = 100.0) -> None:
    """/pricing is high intent; two pricing views is the intent rule."""
    await store_definition(
        engine=overt.resources.engine,
        site_id=overt.site.id,
        body=DefinitionIn(
            high_intent_pages=("/pricing",),
            intent_rules=(PageRepeatRule(name="pricing_twice", pattern="/pricing"),),
            intent_threshold=threshold,
            weights=ScoreWeights(cap=cap),
        ),
    )


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    method: str = "POST"

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class Receiver:
    """A minimal HTTP/1.1 server: records requests, answers with the next scripted status."""

    port: int = 0
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1]
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            method = lines[0].split(" ")[0]
            received = Received(path, headers, body, method)
            status, answer = self.answer(received)
            self.requests.append(received)
            self.arrived.set()
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
                f"content-length: {len(answer)}\r\nconnection: close\r\n\r\n".encode()
                + answer
            )
            await writer.drain()
        finally:
            writer.close()

    def answer(self, received: Received) -> tuple[int, bytes]:
        """The status and body to answer: the next scripted status, else 200."""
        return (self.statuses.pop(0) if self.statuses else 200), b""

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()

    def stop(self) -> None:
        """Let go of whatever a connection still waits on (the server is closing)."""


Served = TypeVar("Served", bound=Receiver)


@asynccontextmanager
async def serving(made: Served) -> AsyncIterator[Served]:
    """`made` listening on a free loopback port for the block."""
    server = await asyncio.start_server(made.handle, "127.0.0.1", 0)
    made.port = server.sockets[0].getsockname()[1]
    try:
        yield made
    finally:
        made.stop()
        server.close()
        await server.wait_closed()


def receiver() -> AbstractAsyncContextManager[Receiver]:
    return serving(Receiver())


@dataclass
class Trickler(Receiver):
    """A slow receiver: answers 200 with a body of `length` bytes sent one byte every `every`
    seconds (so no single read ever waits long), until `release` is set, then the rest at
    once. `held` counts the connections it is trickling to right now; `outcomes` says how
    each ended: "completed" (the whole body went out) or "dropped" (the sender hung up)."""

    length: int = 600
    every: float = 0.05
    held: int = 0
    outcomes: list[str] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slow"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.held += 1
        outcome = "dropped"
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.decode("latin-1").split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            self.requests.append(Received("/slow", {}, await reader.readexactly(length)))
            self.arrived.set()
            writer.write(f"HTTP/1.1 200 OK\r\ncontent-length: {self.length}\r\n\r\n".encode())
            sent = 0
            while sent < self.length and not reader.at_eof():
                if self.release.is_set():
                    writer.write(b"x" * (self.length - sent))
                    sent = self.length
                else:
                    writer.write(b"x")
                    sent += 1
                await writer.drain()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.release.wait(), timeout=self.every)
            if sent == self.length:
                outcome = "completed"
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.held -= 1
            self.outcomes.append(outcome)
            writer.close()

    def stop(self) -> None:
        self.release.set()


def trickler() -> AbstractAsyncContextManager[Trickler]:
    return serving(Trickler())


HUBSPOT_TOKEN = "pat-eu1-0123456789abcdef"


@dataclass
class HubSpot(Receiver):
    """Plays HubSpot's CRM v3 contacts API on loopback, checking each request against the
    documented shapes (a wrong one is answered 400, as HubSpot does, and listed in
    `refused`): batch upsert by idProperty, archive by object id, GDPR delete. Contacts get
    object ids from 501 up, one per id-property value."""

    contacts: dict[str, str] = field(default_factory=dict)  # object id -> id-property value
    refused: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, received: Received) -> tuple[int, bytes]:
        problem = self.check(received)
        if problem is not None:
            self.refused.append(problem)
            return 400, orjson.dumps({"status": "error", "message": problem})
        if received.path == "/crm/v3/objects/contacts/batch/upsert":
            results = []
            for item in received.json()["inputs"]:
                object_id = next(
                    (k for k, v in self.contacts.items() if v == item["id"]),
                    str(501 + len(self.contacts)),
                )
                self.contacts[object_id] = item["id"]
                results.append({"id": object_id, "properties": item["properties"]})
            return 200, orjson.dumps({"status": "COMPLETE", "results": results})
        object_id = (
            received.json()["objectId"]
            if received.path.endswith("/gdpr-delete")
            else received.path.rsplit("/", 1)[1]
        )
        if self.contacts.pop(object_id, None) is None:
            return 404, orjson.dumps({"status": "error", "message": "not found"})
        return 204, b""

    def check(self, received: Received) -> str | None:
        if received.headers.get("authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return "missing or wrong bearer token"
        route = (received.method, received.path)
        if route == ("POST", "/crm/v3/objects/contacts/batch/upsert"):
            inputs = received.json().get("inputs")
            if not isinstance(inputs, list) or not 1 <= len(inputs) <= 100:
                return "inputs: a list of 1 to 100"
            for item in inputs:
                if set(item) != {"idProperty", "id", "properties"}:
                    return f"an input has {sorted(item)}"
                properties = item["properties"]
                if not all(isinstance(v, str) for v in properties.values()):
                    return "property values are strings"
                if properties.get(item["idProperty"]) != item["id"]:
                    return "the id property's value is the id"
            return None
        if route == ("POST", "/crm/v3/objects/contacts/gdpr-delete"):
            body = received.json()
            return (
                None
                if set(body) <= {"objectId", "idProperty"} and "objectId" in body
                else ("gdpr-delete takes objectId (and idProperty)")
            )
        if received.method == "DELETE" and received.path.startswith("/crm/v3/objects/contacts/"):
            return None if received.path.rsplit("/", 1)[1].isdigit() else "archive by object id"
        return f"no such endpoint: {received.method} {received.path}"


def hubspot() -> AbstractAsyncContextManager[HubSpot]:
    return serving(HubSpot())
