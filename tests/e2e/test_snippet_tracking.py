"""What the snippet sends, from Debian's headless Chromium, checked against WIRE.md (v1).

A small recording server on loopback stands in for the collector: it serves the built
`static/overt.js`, records every POST body, and serves the test pages from a second origin
under a strict Content-Security-Policy (no inline script or style, no eval). Engaged time and
scroll depth are compared with what the test did, within stated tolerances.
"""

from __future__ import annotations

import asyncio
import http.server
import json
import re
import shutil
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from services.collector.schemas import decoder as collector_decoder
from tests.helpers.backends import free_port, unavailable
from tests.helpers.browser import CHROMIUM, CHROMIUM_ARGS, stay_active

pytestmark = [pytest.mark.anyio, pytest.mark.browser]

SNIPPET = Path(__file__).resolve().parents[2] / "services" / "collector" / "static" / "overt.js"
PACKAGE = SNIPPET.parents[1] / "snippet" / "package"  # the npm package `overt`
SITE = "site0000test"
HEX32 = re.compile(r"[0-9a-f]{32}")
WIRE_KEYS = set("sinurtvedpaghkc")
ENGAGED_TOLERANCE_MS = 1500
ACTIVE_WINDOW_MS = 5000  # the snippet counts this long after the visitor's last input
STUB = "window.overt = window.overt || function () { (overt.q = overt.q || []).push(arguments) };"

REPORT_VIOLATIONS = """addEventListener('securitypolicyviolation', event =>
    overtTestViolation(`CSP: ${event.effectiveDirective} refused ${event.blockedURI}`))"""

Event = dict[str, Any]


@dataclass
class Post:
    """One POST /e as the recording server received it."""

    events: list[Event]
    raw: bytes
    content_type: str
    cookie: str | None
    status: int


@dataclass
class Recorder:
    """Shared by the two servers: what to serve, and what was received."""

    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    posts: list[Post] = field(default_factory=list)
    gets: list[str] = field(default_factory=list)
    preflights: int = 0
    refuse_next: int = 0  # answer this many of the next POSTs with 503
    cut_next: int = 0  # close the connection without an answer (a network error)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def events(self, site: str | None = None) -> list[Event]:
        with self.lock:
            return [e for p in self.posts for e in p.events if site is None or e.get("s") == site]


class _RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, recorder: Recorder, csp: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.recorder = recorder
        self.csp = csp


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _RecordingServer

    def log_message(self, format: str, *args: object) -> None:
        return None

    def _answer(self, status: int, content_type: str = "", body: bytes = b"", **extra: str) -> None:
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        if content_type:
            self.send_header("Content-Type", content_type)
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", self.server.csp)
        for name, value in extra.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        recorder = self.server.recorder
        path = self.path.split("?", 1)[0]
        with recorder.lock:
            recorder.gets.append(path)
            found = recorder.files.get(path)
        if path == "/favicon.ico":
            self._answer(204)
        elif found is None:
            self._answer(404, "text/plain", b"not found")
        else:
            content_type, body = found
            extra = {}
            if content_type == "application/octet-stream":
                extra["Content_Disposition"] = "attachment"
            self._answer(200, content_type, body, **extra)

    def do_OPTIONS(self) -> None:  # a text/plain POST must never need a CORS preflight
        with self.server.recorder.lock:
            self.server.recorder.preflights += 1
        self._answer(204)

    def do_POST(self) -> None:
        recorder = self.server.recorder
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with recorder.lock:
            status = 0 if recorder.cut_next else 503 if recorder.refuse_next else 202
            if recorder.cut_next:
                recorder.cut_next -= 1
            elif recorder.refuse_next:
                recorder.refuse_next -= 1
            recorder.posts.append(
                Post(
                    events=json.loads(body),
                    raw=body,
                    content_type=self.headers.get("Content-Type", ""),
                    cookie=self.headers.get("Cookie"),
                    status=status,
                )
            )
        if status:
            self._answer(status)
        else:
            self.close_connection = True


@dataclass
class Tab:
    page: Page
    errors: list[str]


@dataclass
class Lab:
    """The test site (pages) and the recording collector, on two loopback origins."""

    site_url: str
    collector_url: str
    recorder: Recorder

    def page(self, path: str, body: str = "", attrs: str = "", head: str = "") -> str:
        """Publish an HTML page on the site origin; returns its URL."""
        if 'data-site="' not in attrs:
            attrs = f'data-site="{SITE}" {attrs}'
        html = (
            '<!doctype html><html><head><meta charset="utf-8"><title>Overt test</title>'
            '<link rel="stylesheet" href="/test.css">'
            f'{head}<script defer src="{self.collector_url}/overt.js" {attrs}></script>'
            f"</head><body>{body}</body></html>"
        )
        self.publish(path, "text/html; charset=utf-8", html)
        return self.site_url + path

    def publish(self, path: str, content_type: str, body: str | bytes) -> None:
        data = body.encode() if isinstance(body, str) else body
        with self.recorder.lock:
            self.recorder.files[path] = (content_type, data)

    def events(self, site: str = SITE) -> list[Event]:
        return self.recorder.events(site)

    async def wait(
        self, done: Callable[[list[Event]], bool], site: str = SITE, timeout: float = 10
    ) -> list[Event]:
        """The recorded events of `site` once `done(events)` holds (bounded wait)."""
        try:
            async with asyncio.timeout(timeout):
                while not done(events := self.events(site)):
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(f"not received in {timeout} s; got {self.events(site)}") from None
        return events

    async def open(self, context: BrowserContext, url: str) -> Tab:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        # A CSP refusal that the snippet caught itself is still a broken snippet.
        await page.expose_function("overtTestViolation", lambda text: errors.append(text))
        await page.add_init_script(REPORT_VIOLATIONS)
        await page.goto(url)
        return Tab(page, errors)

    def check_wire(self) -> None:
        """Every body so far: a text/plain array of 1-50 valid v1 events, without cookies."""
        with self.recorder.lock:
            posts = list(self.recorder.posts)
            preflights = self.recorder.preflights
        assert preflights == 0
        ids: dict[str, str] = {}
        for post in posts:
            assert post.content_type.startswith("text/plain"), post.content_type
            assert post.cookie is None
            assert isinstance(post.events, list)
            assert 1 <= len(post.events) <= 50
            decoded = collector_decoder.decode(post.raw)  # the collector's own validation
            assert isinstance(decoded, list)
            assert len(decoded) == len(post.events)
            for event in post.events:
                assert_wire_v1(event)
                body = json.dumps(event, sort_keys=True)
                assert ids.setdefault(event["i"], body) == body, "one id, one event"


def assert_wire_v1(event: Event) -> None:
    assert set(event) <= WIRE_KEYS, event
    assert isinstance(event["s"], str)
    assert 1 <= len(event["s"]) <= 32
    assert HEX32.fullmatch(event["i"])
    assert isinstance(event["n"], str)
    assert 1 <= len(event["n"]) <= 120
    assert re.match(r"https?://", event["u"])
    assert len(event["u"]) <= 2048
    assert isinstance(event["t"], int)
    assert abs(event["t"] - time.time() * 1000) < 10 * 60 * 1000
    if "r" in event:
        assert event["n"] == "pageview"
        assert event["r"] is None or (isinstance(event["r"], str) and len(event["r"]) <= 2048)
    if event["n"] == "engagement":
        assert HEX32.fullmatch(event["v"])
        assert isinstance(event["e"], int)
        assert event["e"] >= 0
        assert isinstance(event["d"], int)
        assert 0 <= event["d"] <= 100
    else:
        assert not {"v", "e", "d"} & set(event), event
    if "p" in event:
        props = event["p"]
        assert isinstance(props, dict)
        assert len(props) <= 30
        for key, value in props.items():
            assert 1 <= len(key) <= 64
            assert isinstance(value, bool | int | float) or (
                isinstance(value, str) and len(value) <= 256
            )
    if "a" in event:
        assert HEX32.fullmatch(event["a"])
    for flag in ("g", "h"):
        assert event.get(flag, 1) == 1


def named(events: list[Event], name: str) -> list[Event]:
    return [e for e in events if e["n"] == name]


def count(name: str, at_least: int = 1) -> Callable[[list[Event]], bool]:
    return lambda events: len(named(events, name)) >= at_least


async def set_hidden(page: Page, hidden: bool) -> None:
    """Headless Chromium keeps every page visible: fake a tab switch the way a browser shows it."""
    await page.evaluate(
        """hidden => {
            Object.defineProperty(document, 'hidden', {configurable: true, get: () => hidden});
            Object.defineProperty(document, 'visibilityState',
                {configurable: true, get: () => (hidden ? 'hidden' : 'visible')});
            document.dispatchEvent(new Event('visibilitychange'));
        }""",
        hidden,
    )


async def storage_used(page: Page) -> int:
    used: int = await page.evaluate(
        "localStorage.length + sessionStorage.length + (document.cookie ? 1 : 0)"
    )
    return used


def assert_engaged(event: Event, expected_seconds: float) -> None:
    expected = expected_seconds * 1000
    assert abs(event["e"] - expected) <= ENGAGED_TOLERANCE_MS, (event["e"], expected)


@pytest.fixture
def lab() -> Iterator[Lab]:
    recorder = Recorder()
    site_port, collector_port = free_port(), free_port()
    collector_url = f"http://127.0.0.1:{collector_port}"
    csp = (
        f"default-src 'none'; script-src 'self' {collector_url}; style-src 'self'; "
        f"connect-src {collector_url}; img-src 'self'; base-uri 'none'; form-action 'none'"
    )
    servers = [
        _RecordingServer(site_port, recorder, csp),
        _RecordingServer(collector_port, recorder, csp),
    ]
    for server in servers:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    recorder.files["/overt.js"] = ("text/javascript", SNIPPET.read_bytes())
    recorder.files["/test.css"] = ("text/css", b".tall { height: 4000px; }")
    try:
        yield Lab(f"http://127.0.0.1:{site_port}", collector_url, recorder)
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        unavailable("Chromium at /usr/bin/chromium", "not installed (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            # Playwright turns the back/forward cache off by default; visitors have it on.
            ignore_default_args=["--disable-back-forward-cache"],
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    opened = await browser.new_context()
    try:
        yield opened
    finally:
        await opened.close()


async def test_a_page_closed_at_once_still_sends_its_pageview_and_engagement(
    lab: Lab, context: BrowserContext
) -> None:
    url = lab.page("/short", "<h1>Short</h1>")
    tab = await lab.open(context, url)
    await tab.page.close(run_before_unload=True)

    events = await lab.wait(count("engagement"))
    [pageview] = named(events, "pageview")
    [engagement] = named(events, "engagement")
    assert pageview["s"] == SITE
    assert pageview["u"] == url
    assert pageview["r"] is None
    assert engagement["v"] == pageview["i"]
    assert engagement["u"] == url
    assert engagement["d"] == 100  # the whole short page was on screen
    assert engagement["e"] < 3000  # open for a moment only
    assert engagement["t"] >= pageview["t"]
    assert "a" not in pageview
    assert "g" not in pageview
    assert "h" not in pageview
    assert tab.errors == []
    lab.check_wire()


async def test_engaged_time_is_visible_and_active_time_only(
    lab: Lab, context: BrowserContext
) -> None:
    tab = await lab.open(context, lab.page("/article", "<h1>Article</h1>"))
    page = tab.page
    opened = time.monotonic()
    await stay_active(page, 3.0)
    await set_hidden(page, True)  # a tab switch: report what was engaged so far
    first_report = await lab.wait(count("engagement"))
    assert_engaged(named(first_report, "engagement")[0], time.monotonic() - opened)

    await stay_active(page, 2.0)  # input while hidden is not engagement
    await set_hidden(page, False)
    await stay_active(page, 2.0)
    await asyncio.sleep(7.0)  # visible but idle: only the first 5 s after the last input count
    await page.close(run_before_unload=True)

    events = await lab.wait(count("engagement", 2))
    [pageview] = named(events, "pageview")
    first, second = named(events, "engagement")
    assert first["v"] == second["v"] == pageview["i"]
    assert_engaged(second, 2.0 + ACTIVE_WINDOW_MS / 1000)
    assert tab.errors == []
    lab.check_wire()


@pytest.mark.nightly  # the long waits of the snippet family; the rest of it runs in make test
async def test_keys_alone_keep_a_visitor_active(lab: Lab, context: BrowserContext) -> None:
    tab = await lab.open(context, lab.page("/form", "<h1>Form</h1>"))
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        await tab.page.keyboard.press("Shift")
        await asyncio.sleep(0.25)
    await asyncio.sleep(6.0)  # idle: 5 s of it count, as after any input
    await set_hidden(tab.page, True)
    [engagement] = named(await lab.wait(count("engagement")), "engagement")
    assert_engaged(engagement, 3.0 + ACTIVE_WINDOW_MS / 1000)
    assert tab.errors == []
    lab.check_wire()


async def test_scroll_depth_is_the_deepest_share_of_the_page_seen(
    lab: Lab, context: BrowserContext
) -> None:
    tab = await lab.open(context, lab.page("/long", '<div class="tall">Long read</div>'))
    page = tab.page
    height, viewport = await page.evaluate(
        "[document.documentElement.scrollHeight, window.innerHeight]"
    )
    assert height > 3 * viewport
    await set_hidden(page, True)
    first = (await lab.wait(count("engagement")))[-1]
    assert first["d"] == round(100 * viewport / height)  # only the first screen so far

    await set_hidden(page, False)
    await page.mouse.move(50, 50)
    await page.evaluate("y => window.scrollTo(0, y)", height / 2 - viewport)  # to 50 %
    await page.wait_for_function("window.scrollY > 0")
    await asyncio.sleep(0.3)
    await page.evaluate("window.scrollTo(0, 0)")  # back up: the maximum stays
    await page.wait_for_function("window.scrollY === 0")
    await page.close(run_before_unload=True)

    events = await lab.wait(count("engagement", 2))
    last = named(events, "engagement")[-1]
    assert 45 <= last["d"] <= 55, last
    assert last["v"] == first["v"]
    assert tab.errors == []
    lab.check_wire()


async def test_spa_navigation_ends_one_pageview_and_starts_the_next_in_one_body(
    lab: Lab, context: BrowserContext
) -> None:
    url = lab.page("/app", "<h1>App</h1>")
    tab = await lab.open(context, url)
    page = tab.page
    [first] = named(await lab.wait(count("pageview")), "pageview")

    await page.evaluate("history.pushState({step: 2}, '', '/app/pricing')")
    assert await page.evaluate("history.state") == {"step": 2}  # the router's call still works
    events = await lab.wait(count("pageview", 2))
    second = named(events, "pageview")[1]
    assert second["u"] == f"{lab.site_url}/app/pricing"
    with lab.recorder.lock:
        [body] = [p.events for p in lab.recorder.posts if second in p.events]
    assert [e["n"] for e in body] == ["engagement", "pageview"]
    assert body[0]["v"] == first["i"]
    assert body[0]["u"] == url  # the engagement belongs to the page that was left

    # Same path again (query or fragment only): not a new page without data-hash.
    await page.evaluate("history.replaceState(null, '', '/app/pricing?tab=2')")
    await page.evaluate("history.pushState(null, '', '/app/pricing#faq')")
    await page.evaluate("history.go(-2)")  # popstate back to /app
    events = await lab.wait(count("pageview", 3))
    await page.close(run_before_unload=True)
    events = await lab.wait(count("engagement", 3))
    pageviews = named(events, "pageview")
    assert [e["u"] for e in pageviews] == [url, f"{lab.site_url}/app/pricing", url]
    assert [e["v"] for e in named(events, "engagement")] == [e["i"] for e in pageviews]
    assert tab.errors == []
    lab.check_wire()


async def test_hash_routes_are_pages_with_data_hash(lab: Lab, context: BrowserContext) -> None:
    url = lab.page("/spa", "<h1>Hash app</h1>", attrs="data-hash")
    tab = await lab.open(context, url)
    await lab.wait(count("pageview"))
    await tab.page.evaluate("location.hash = '#/settings'")
    await lab.wait(count("pageview", 2))
    await tab.page.evaluate("history.pushState(null, '', '#/billing')")
    await tab.page.close(run_before_unload=True)
    events = await lab.wait(count("engagement", 3))
    pageviews = named(events, "pageview")
    assert [e["u"] for e in pageviews] == [url, f"{url}#/settings", f"{url}#/billing"]
    assert all(e["h"] == 1 for e in events)
    assert tab.errors == []
    lab.check_wire()


async def test_a_back_forward_cache_restore_is_a_new_pageview(
    lab: Lab, context: BrowserContext
) -> None:
    first_url = lab.page("/first", '<a id="next" href="/second">Next</a>')
    second_url = lab.page("/second", "<h1>Second</h1>")
    tab = await lab.open(context, first_url)
    page = tab.page
    await stay_active(page, 2.0)
    await page.click("#next")
    await page.wait_for_url(second_url)
    await lab.wait(lambda events: any(e["u"] == second_url for e in named(events, "pageview")))
    await page.go_back(wait_until="commit")
    await lab.wait(lambda events: [e["u"] for e in named(events, "pageview")].count(first_url) == 2)
    with lab.recorder.lock:
        assert lab.recorder.gets.count("/first") == 1  # restored from the cache, not reloaded
    await stay_active(page, 2.0)
    await page.close(run_before_unload=True)

    events = await lab.wait(
        lambda events: len([e for e in named(events, "engagement") if e["u"] == first_url]) >= 2
    )
    before, after = [e for e in named(events, "pageview") if e["u"] == first_url]
    assert before["i"] != after["i"]
    before_engaged, after_engaged = [e for e in named(events, "engagement") if e["u"] == first_url]
    assert before_engaged["v"] == before["i"]
    assert after_engaged["v"] == after["i"]
    assert_engaged(before_engaged, 2.0)
    assert_engaged(after_engaged, 2.0)  # the time spent on /second is not counted again
    assert tab.errors == []
    lab.check_wire()


async def test_outbound_links_and_downloads_are_tracked_by_target(
    lab: Lab, context: BrowserContext
) -> None:
    lab.publish("/files/report.pdf", "application/octet-stream", b"%PDF-1.4 test")
    lab.publish("/export", "application/octet-stream", b"a,b\n1,2\n")
    lab.publish("/elsewhere", "text/html", "<!doctype html><title>Elsewhere</title>")
    url = lab.page(
        "/links",
        '<a id="pdf" href="/files/report.pdf?token=secret">Report</a> '
        '<a id="export" href="/export" download>Export</a> '
        '<a id="inside" href="#section">Inside</a> '
        f'<a id="middle" href="{lab.collector_url}/partner">Partner</a> '
        f'<a id="out" href="{lab.collector_url}/elsewhere?ref=secret">Elsewhere</a>',
    )
    tab = await lab.open(context, url)
    page = tab.page
    await page.click("#pdf")
    await page.click("#export")
    await page.click("#inside")
    await page.click("#middle", button="middle")
    await page.click("#out")

    events = await lab.wait(count("outbound", 2))
    downloads = named(events, "download")
    outbound = named(events, "outbound")
    assert sorted(e["p"]["url"] for e in downloads) == [
        f"{lab.site_url}/export",
        f"{lab.site_url}/files/report.pdf",
    ]
    assert sorted(e["p"]["url"] for e in outbound) == [
        f"{lab.collector_url}/elsewhere",
        f"{lab.collector_url}/partner",
    ]
    assert all(list(e["p"]) == ["url"] for e in downloads + outbound)
    assert all(e["u"].split("#")[0] == url for e in downloads + outbound)
    assert "secret" not in json.dumps(events)  # targets go without their query string
    assert tab.errors == []
    lab.check_wire()


async def test_link_tracking_can_be_turned_off(lab: Lab, context: BrowserContext) -> None:
    lab.publish("/files/report.pdf", "application/octet-stream", b"%PDF-1.4 test")
    url = lab.page(
        "/quiet-links",
        '<a id="pdf" href="/files/report.pdf">Report</a> '
        f'<a id="out" href="{lab.collector_url}/partner" target="_blank">Partner</a>',
        attrs="data-exclude-downloads data-no-outbound",
    )
    tab = await lab.open(context, url)
    await tab.page.click("#pdf")
    await tab.page.click("#out")
    await tab.page.close(run_before_unload=True)
    events = await lab.wait(count("engagement"))  # sent after the clicks
    assert [e["n"] for e in events if e["n"] != "engagement"] == ["pageview"]
    lab.check_wire()


async def test_custom_events_with_props_and_calls_queued_before_load(
    lab: Lab, context: BrowserContext
) -> None:
    lab.publish(
        "/queue.js",
        "text/javascript",
        STUB + "overt('Signup', {props: {plan: 'pro'}}); overt('404');"
        " overt('consent', {analytics: true});",
    )
    url = lab.page("/missing", "<h1>Not found</h1>", head='<script src="/queue.js"></script>')
    tab = await lab.open(context, url)
    events = await lab.wait(lambda events: len(events) >= 3)
    with lab.recorder.lock:
        first_body = lab.recorder.posts[0].events
    assert [e["n"] for e in first_body] == ["pageview", "Signup", "404"]  # together, in order
    assert first_body[1]["p"] == {"plan": "pro"}
    assert "p" not in first_body[2]
    assert all(e["u"] == url for e in first_body)
    stored_id = await tab.page.evaluate("localStorage.getItem('overt_id')")
    assert all(e["a"] == stored_id for e in first_body)  # the queued consent covers them all

    await tab.page.evaluate(
        "overt('Download brochure', {props: {pages: 3, printed: false, format: 'A4'}})"
    )
    events = await lab.wait(count("Download brochure"))
    assert named(events, "Download brochure")[0]["p"] == {
        "pages": 3,
        "printed": False,
        "format": "A4",
    }
    await tab.page.evaluate(
        """overt('Messy', {props: Object.assign(
            {text: 'x'.repeat(300), nested: {a: 1}, none: null, nan: NaN, ['k'.repeat(65)]: 1},
            Object.fromEntries([...Array(40).keys()].map(n => ['key' + n, n]))
        )})"""
    )
    [messy] = named(await lab.wait(count("Messy")), "Messy")
    assert messy["p"]["text"] == "x" * 256  # cut to the collector's limits, not refused
    assert list(messy["p"]) == ["text"] + [f"key{n}" for n in range(25)]  # 30 keys looked at
    await tab.page.evaluate("overt('pageview')")  # a router without the history API
    events = await lab.wait(count("pageview", 2))
    assert named(events, "engagement")[0]["v"] == named(events, "pageview")[0]["i"]
    assert tab.errors == []
    lab.check_wire()


async def test_consent_required_sends_nothing_then_replays_with_original_times(
    lab: Lab, context: BrowserContext
) -> None:
    url = lab.page("/held", "<h1>Held</h1>", attrs='data-consent="required"')
    tab = await lab.open(context, url)
    page = tab.page
    loaded_at: float = await page.evaluate("performance.timeOrigin")
    await page.evaluate("overt('Started', {props: {step: 1}})")
    await page.evaluate("history.pushState(null, '', '/held/step-2')")
    await set_hidden(page, True)
    await set_hidden(page, False)
    await asyncio.sleep(1.5)
    assert lab.recorder.events() == []  # nothing left the page before consent
    assert await storage_used(page) == 0

    consent_at: float = await page.evaluate("Date.now()")
    await page.evaluate("overt('consent', {analytics: true})")
    events = await lab.wait(lambda events: len(events) >= 5)
    assert [e["n"] for e in events] == [
        "pageview",
        "Started",
        "engagement",
        "pageview",
        "engagement",
    ]
    assert all(e["t"] <= consent_at - 1000 for e in events)  # their own times, not the replay's
    assert loaded_at <= events[0]["t"] <= loaded_at + 5000
    stored_id = await page.evaluate("localStorage.getItem('overt_id')")
    assert HEX32.fullmatch(stored_id)
    assert all(e["a"] == stored_id for e in events)
    assert all(e["c"] == 1 for e in events)  # consent given, for a site that requires it

    await page.evaluate("overt('After')")  # after consent: sent at once
    [after] = named(await lab.wait(count("After")), "After")
    assert after["t"] >= consent_at
    assert after["a"] == stored_id
    assert tab.errors == []
    lab.check_wire()


async def test_a_long_wait_for_consent_keeps_200_events_sent_50_per_body(
    lab: Lab, context: BrowserContext
) -> None:
    url = lab.page("/busy-page", "", attrs='data-consent="required"')
    tab = await lab.open(context, url)
    await tab.page.evaluate("for (let n = 0; n < 300; n++) overt('Tick', {props: {n}})")
    await tab.page.evaluate("overt('consent', {analytics: true})")
    events = await lab.wait(lambda events: len(events) >= 200)  # bodies race: any order
    assert sorted(e["n"] for e in events) == ["Tick"] * 199 + ["pageview"]
    assert sorted(e["p"]["n"] for e in named(events, "Tick")) == list(range(199))  # the oldest
    with lab.recorder.lock:
        assert [len(post.events) for post in lab.recorder.posts] == [50, 50, 50, 50]
    assert tab.errors == []
    lab.check_wire()


async def test_consent_refused_sends_nothing_and_a_late_opt_in_nothing_before_it(
    lab: Lab, context: BrowserContext
) -> None:
    refused_site, control_site = "site0refused", "site0control"
    held = 'data-consent="required"'
    url = lab.page("/refused", "<h1>No</h1>", attrs=f'data-site="{refused_site}" {held}')
    tab = await lab.open(context, url)
    page = tab.page
    await page.evaluate("overt('Started')")
    await page.evaluate("overt('consent', {analytics: false})")
    await page.evaluate("overt('AfterRefusal')")
    await page.evaluate("history.pushState(null, '', '/refused/next')")
    await stay_active(page, 0.5)
    assert await storage_used(page) == 0
    await page.close(run_before_unload=True)

    # A control page in the same browser, closed afterwards: once its engagement is in,
    # anything the refused page had sent would be in too.
    control = await lab.open(context, lab.page("/control", "", attrs=f'data-site="{control_site}"'))
    await control.page.close(run_before_unload=True)
    await lab.wait(count("engagement"), site=control_site)
    assert lab.events(refused_site) == []
    assert tab.errors == []

    # A visitor who changes their mind: only what happens after the opt-in is sent.
    late_site = "site0late"
    late = await lab.open(context, lab.page("/late", "", attrs=f'data-site="{late_site}" {held}'))
    await late.page.evaluate("overt('consent', {analytics: false}); overt('WhileRefused')")
    await late.page.evaluate("overt('consent', {analytics: true}); overt('Granted')")
    events = await lab.wait(count("Granted"), site=late_site)
    assert [e["n"] for e in events] == ["Granted"]  # a replay would have come first
    assert late.errors == []

    # Refused before the script loaded, by a visitor who had said yes on an earlier page.
    lab.publish("/refuse.js", "text/javascript", STUB + "overt('consent', {analytics: false})")
    revoked_site = "site0revoked"
    revoked = await lab.open(
        context,
        lab.page(
            "/revoked",
            "",
            attrs=f'data-site="{revoked_site}" {held}',
            head='<script src="/refuse.js"></script>',
        ),
    )
    assert await storage_used(revoked.page) == 0  # the earlier id is gone
    await revoked.page.close(run_before_unload=True)
    control = await lab.open(context, lab.site_url + "/control")
    await control.page.close(run_before_unload=True)
    await lab.wait(count("engagement", 2), site=control_site)
    assert lab.events(revoked_site) == []
    assert revoked.errors == []
    lab.check_wire()


async def test_tier_1_id_exists_only_after_analytics_consent(
    lab: Lab, context: BrowserContext
) -> None:
    url = lab.page("/tiers", "<h1>Tiers</h1>")
    tab = await lab.open(context, url)
    page = tab.page
    await page.click("h1")
    await page.evaluate("overt('Before')")
    events = await lab.wait(count("Before"))
    assert all("a" not in e for e in events)
    assert await storage_used(page) == 0
    assert await context.cookies() == []

    await page.evaluate("overt('consent', {analytics: true})")
    await page.evaluate("overt('Consented')")
    [consented] = named(await lab.wait(count("Consented")), "Consented")
    stored_id = await page.evaluate("localStorage.getItem('overt_id')")
    assert HEX32.fullmatch(stored_id)
    assert consented["a"] == stored_id

    await page.goto(url)  # a returning visitor keeps the id
    returning = named(await lab.wait(count("pageview", 2)), "pageview")[1]
    assert returning["a"] == stored_id

    await page.evaluate("overt('consent', {analytics: false})")  # withdrawn: the id is gone
    await page.evaluate("overt('Withdrawn')")
    [withdrawn] = named(await lab.wait(count("Withdrawn")), "Withdrawn")
    assert "a" not in withdrawn
    assert await storage_used(page) == 0
    assert await context.cookies() == []
    assert tab.errors == []
    lab.check_wire()


async def test_global_privacy_control_is_flagged_and_can_block_tier_1(
    lab: Lab, browser: Browser
) -> None:
    context = await browser.new_context()
    await context.add_init_script(
        "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl',"
        " {configurable: true, get: () => true})"
    )
    try:
        blocked = await lab.open(context, lab.page("/gpc-tier1", "", attrs='data-gpc="tier1"'))
        await blocked.page.evaluate("overt('consent', {analytics: true}); overt('Consented')")
        events = await lab.wait(count("Consented"))
        assert all(e["g"] == 1 for e in events)
        assert all("a" not in e for e in events)  # GPC blocks tier-1 storage on this site
        assert await storage_used(blocked.page) == 0
        await blocked.page.close()

        other_site = "site0gpcok"
        allowed = await lab.open(context, lab.page("/gpc", "", attrs=f'data-site="{other_site}"'))
        await allowed.page.evaluate("overt('consent', {analytics: true}); overt('Consented')")
        [consented] = named(await lab.wait(count("Consented"), site=other_site), "Consented")
        assert consented["g"] == 1
        assert HEX32.fullmatch(consented["a"])  # GPC alone is an opt-out of tier 2 only
        assert blocked.errors == allowed.errors == []
        lab.check_wire()
    finally:
        await context.close()


async def test_without_gpc_there_is_no_flag_and_tier_0_leaves_no_trace(
    lab: Lab, context: BrowserContext
) -> None:
    attrs = f'data-site="{SITE}" data-api="{lab.collector_url}/"'  # explicit collector URL
    tab = await lab.open(context, lab.page("/plain", '<div class="tall">Tall</div>', attrs))
    page = tab.page
    await stay_active(page, 0.5)
    await page.mouse.wheel(0, 800)
    await page.keyboard.press("End")
    await page.evaluate("overt('Read')")
    await page.close(run_before_unload=True)
    events = await lab.wait(count("engagement"))
    assert all("g" not in e and "a" not in e and "c" not in e for e in events)
    assert await context.cookies() == []
    probe = await lab.open(context, lab.site_url + "/plain")
    assert await storage_used(probe.page) == 0
    assert await probe.page.evaluate("indexedDB.databases().then(list => list.length)") == 0
    assert tab.errors == probe.errors == []
    lab.check_wire()


@pytest.mark.nightly  # the long waits of the snippet family; the rest of it runs in make test
async def test_a_503_or_a_network_error_is_retried_once_with_the_same_events(
    lab: Lab, context: BrowserContext
) -> None:
    lab.recorder.refuse_next = 1
    tab = await lab.open(context, lab.page("/busy", "<h1>Busy</h1>"))
    await lab.wait(lambda events: len(events) >= 2)
    with lab.recorder.lock:
        first, second = lab.recorder.posts[:2]
    assert (first.status, second.status) == (503, 202)
    assert first.events == second.events  # same ids: stored once by the collector

    lab.recorder.refuse_next = 2
    await tab.page.evaluate("overt('Twice refused')")
    await lab.wait(count("Twice refused", 2))
    await asyncio.sleep(3.0)  # longer than the retry delay: no third attempt
    assert len(named(lab.events(), "Twice refused")) == 2

    lab.recorder.cut_next = 1
    await tab.page.evaluate("overt('Cut off')")
    await lab.wait(count("Cut off", 2))
    with lab.recorder.lock:
        assert [p.status for p in lab.recorder.posts[-2:]] == [0, 202]
    assert all(error.startswith("Failed to load resource") for error in tab.errors)  # 503, cut
    lab.check_wire()


async def test_the_snippet_never_throws_into_the_page(lab: Lab, context: BrowserContext) -> None:
    no_site = await lab.open(context, lab.page("/no-site", "", attrs='data-site=""'))
    assert await no_site.page.evaluate("window.overt === undefined")
    twice = lab.page(
        "/twice",
        "",
        head=f'<script defer src="{lab.collector_url}/overt.js" data-site="{SITE}"></script>',
    )
    tab = await lab.open(context, twice)
    odd_calls = (
        "overt(); overt(null); overt('consent'); overt('Odd', null);"
        " overt('consent', {analytics: true}); overt('Odd')"
    )
    await tab.page.evaluate(odd_calls)
    await tab.page.close(run_before_unload=True)
    events = await lab.wait(count("engagement"))
    assert sorted(e["n"] for e in events) == ["Odd", "Odd", "engagement", "pageview"]  # once
    assert all("a" in e for e in named(events, "Odd"))  # consent came before they left

    await context.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get() {"
        " throw new DOMException('blocked', 'SecurityError') }})"
    )
    blocked = await lab.open(context, lab.page("/blocked", ""))
    assert await blocked.page.evaluate("(() => { try { localStorage } catch { return 1 } })()")
    await blocked.page.evaluate(odd_calls)
    events = await lab.wait(lambda events: len(named(events, "Odd")) == 4)
    assert all("a" not in e for e in events if e["u"].endswith("/blocked"))  # still tier 0
    assert lab.events("") == []
    assert no_site.errors == tab.errors == blocked.errors == []
    lab.check_wire()


async def test_the_npm_package_loads_the_snippet_and_queues_calls_before_it(
    lab: Lab, context: BrowserContext
) -> None:
    """`import { init, track, consent } from 'overt'` as a bundler would serve it: the
    package's module and, beside it, its overt.js (the served file, byte for byte)."""
    lab.publish("/pkg/index.js", "text/javascript", (PACKAGE / "index.js").read_bytes())
    lab.publish("/pkg/overt.js", "text/javascript", SNIPPET.read_bytes())
    lab.publish(
        "/app.js",
        "text/javascript",
        "import { init, track, consent } from '/pkg/index.js';"
        f" init({{ site: '{SITE}', api: '{lab.collector_url}', consentRequired: true }});"
        " track('Signup', { props: { plan: 'team' } });"
        " consent({ analytics: true });",
    )
    html = (
        '<!doctype html><html><head><meta charset="utf-8"><title>Overt test</title>'
        '<script type="module" src="/app.js"></script></head><body><h1>App</h1></body></html>'
    )
    lab.publish("/app", "text/html; charset=utf-8", html)
    tab = await lab.open(context, lab.site_url + "/app")
    events = await lab.wait(lambda events: len(events) >= 2)
    assert [e["n"] for e in events] == ["pageview", "Signup"]
    assert events[1]["p"] == {"plan": "team"}
    stored_id = await tab.page.evaluate("localStorage.getItem('overt_id')")
    assert all(e["a"] == stored_id and e["c"] == 1 for e in events)
    scripts = await tab.page.evaluate(
        "[...document.scripts].map(s => [s.src, s.dataset.site, s.dataset.consent])"
    )
    assert [lab.site_url + "/pkg/overt.js", SITE, "required"] in scripts
    assert tab.errors == []
    lab.check_wire()
