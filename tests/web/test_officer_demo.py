"""The demo (``smartcustoms serve --demo``) gives an officer work on first login: held declarations on each
inspection lane and held CBEC parcels. The declarations of ``make run`` (its model needs them to pick lanes
other than red), fewer parcels."""

from __future__ import annotations

from datetime import datetime

import pytest

from smartcustoms.core.config import Settings
from smartcustoms.platform import build_platform
from tests.web.conftest import close_page, serve

pytestmark = pytest.mark.browser


#: when the demo below replays its history up to
DEMO_NOW = datetime(2026, 11, 2, 9, 0)


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory, monkeypatch_module):
    from smartcustoms.simulate import demo
    from smartcustoms.simulate.demo import load_demo

    monkeypatch_module.setenv("SMARTCUSTOMS_CBEC_ACCEPT_UNSIGNED", "1")  # as `serve --demo` (unsigned parcels)
    # the same history every run, as tests/cli/test_cli.py's demo: a fixed key for the random controls' draws and
    # a fixed instant the demo replays up to (the lanes on the queue's first page depend on both)
    monkeypatch_module.setenv("SMARTCUSTOMS_RISK_SECRET", "officer-demo-test-draws")
    monkeypatch_module.setattr(demo, "utcnow", lambda: DEMO_NOW)
    tmp = tmp_path_factory.mktemp("demo")
    platform = build_platform(Settings(data_dir=tmp, session_secret="test-session-secret"),
                              database_url=f"sqlite:///{tmp / 'smartcustoms.db'}")
    try:
        load_demo(platform, declarations=3000, parcels=300)  # as `make run` (fewer parcels)
        with serve(platform) as url:
            yield url
    finally:
        platform.close()


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_the_demo_leaves_the_officer_a_queue_of_declarations_and_parcels(browser_context, demo_url):
    from smartcustoms.simulate.demo import DEMO_PASSWORD

    page = browser_context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{demo_url}/login")
    page.fill("input[name=username]", "officer1")
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url("**/queue")  # an officer's home
    assert int(page.locator("[data-testid=queue-total]").inner_text()) > 0
    lanes = set(page.locator("[data-testid=queue] tbody [data-testid=lane]").all_inner_texts())
    assert lanes == {"yellow · documents", "blue · scan", "red · physical"}
    first = page.locator("[data-testid=queue] tbody tr a").first
    no = first.inner_text()
    first.click()
    page.wait_for_url(f"**/declarations/{no}")
    assert page.locator("#decisions form.decision").count() >= 5  # work to do on it
    page.goto(f"{demo_url}/parcels")
    assert int(page.locator("[data-testid=parcels-total]").inner_text()) > 0
    assert page.locator("[data-testid=parcels] tbody tr[data-order]").count() > 0
    page.goto(f"{demo_url}/images/queue")  # synthetic scans of held declarations (simulate/demo_scans.py)
    assert page.locator("[data-testid=image-queue] tbody tr[data-image]").count() > 0
    assert errors == []
    close_page(page)
