"""A live smartcustoms server on a temporary SQLite database, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from smartcustoms.core.config import Settings
from smartcustoms.core.db import transaction
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.platform import build_platform
from tests.support import SYSTEM, World, declaration_payload, seed_world

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "correct horse"


@dataclass
class Site:
    """The running server: its base URL, the seeded world and a few declarations to work on."""

    url: str
    world: World
    held: list[str]  # declaration numbers held in the red lane by the tiles rule
    released: list[str]


def _listening_socket() -> socket.socket:
    """A socket bound to a free loopback port, handed to the server as it is: a port number found free and
    bound again later could be taken in between by another process on this machine."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def _seed(world: World) -> tuple[list[str], list[str]]:
    """A rule that holds ceramic tiles, then held and released declarations with a few inspection results."""
    from smartcustoms.inspection.schemas import InspectionResultIn
    from smartcustoms.risk.targeting import service as risk_service
    from smartcustoms.risk.targeting.schemas import RuleIn

    platform = world.platform
    with transaction(platform.sessions) as s:
        risk_service.save_rule(s, RuleIn(name="ceramic tiles", description="tiles are often undervalued",
                                         criteria=[{"field": "hs_code", "op": "prefix", "value": ["6907"]}],
                                         lane="red"), SYSTEM)
    with platform.sessions() as s:
        platform.risk.reload_rules(s)
    tiles = [DeclarationIn.model_validate(declaration_payload()) for _ in range(6)]
    other = []
    for i in range(6):
        p = declaration_payload(total_value=f"{1000 + i}.00", net_mass_kg="100", gross_mass_kg="110")
        p["items"] = [{"hs_code": "8471300000", "description": "Laptop computers", "quantity": "1", "unit": "035",
                       "net_mass_kg": "100", "unit_price": f"{1000 + i}", "total_value": f"{1000 + i}.00",
                       "origin_country": "VN"}]
        other.append(DeclarationIn.model_validate(p))
    results = platform.declarations.lodge_many(SYSTEM, tiles + other)
    held = [r.declaration_no for r in results if r.lane == "red"]
    released = [r.declaration_no for r in results if r.lane == "green"]
    officer = world.principals["officer"]
    platform.inspections.record(officer, held[0], InspectionResultIn(outcome="no_offence"))
    platform.inspections.record(officer, held[1], InspectionResultIn(
        outcome="offence", offence_type="undervaluation", duty_recovered=Decimal("880.00"), notes="invoice split"))
    return held[2:], released


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    tmp = tmp_path_factory.mktemp("web")
    platform = build_platform(Settings(data_dir=tmp, session_secret="test-session-secret"),
                              database_url=f"sqlite:///{tmp / 'smartcustoms.db'}")
    world = seed_world(platform)
    held, released = _seed(world)
    with serve(platform) as url:
        yield Site(url, world, held, released)


@contextmanager
def serve(platform) -> Iterator[str]:
    """The web app of ``platform`` served on a free loopback port (its base URL), stopped afterwards."""
    import uvicorn

    from smartcustoms.web.app import create_app

    sock = _listening_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(platform), host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
        platform.engine.dispose()


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory):
    """Headless chromium with a fresh profile directory and no background networking."""
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (make browser installs it)")
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 900}, locale="en-GB")
        context.set_default_timeout(10_000)
        try:
            yield context
        finally:
            context.close()


@dataclass
class Browser:
    """One page of the shared browser with the console errors and page errors it has seen."""

    page: object
    site: Site
    errors: list[str]

    def unexpected_errors(self, *statuses: int) -> list[str]:
        """Console and page errors, less chromium's notes of the HTTP statuses a test expects."""
        return [e for e in self.errors if not any(f"status of {s}" in e for s in statuses)]

    def login(self, username: str) -> None:
        page = self.page
        page.goto(f"{self.site.url}/login")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", PASSWORD)
        page.click("form[action='/login'] button[type=submit]")
        page.wait_for_selector("[data-testid=user]")

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.site.url}{path}")

    def shot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.fixture
def browser(browser_context, site) -> Iterator[Browser]:
    browser_context.clear_cookies()
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    try:
        yield Browser(page, site, errors)
    finally:
        close_page(page)


def close_page(page) -> None:
    """Close ``page`` once no navigation is in flight.

    Chromium can acknowledge a close that races a navigation commit (a test that ends on a click which
    navigates, e.g. logging out) without closing the target, and Playwright's ``page.close()`` then waits
    forever (microsoft/playwright#41900, #42366). Settling on ``about:blank`` first removes the race.
    """
    from playwright.sync_api import Error as PlaywrightError

    try:
        page.wait_for_load_state("load", timeout=5_000)
        page.goto("about:blank", wait_until="load", timeout=5_000)
    except PlaywrightError:
        pass  # a page that cannot settle is still closed below
    page.close()
