"""Threat regions on the image review page: dragged on the scan or typed as x/y/w/h pixels, checked beside the
fields, stored with the decision, listed in the review history, outlined on the scan and written into the TDR.

The scan is synthetic (``simulate.scans``, a container of tiles with a dense block), sent as a DICOS DX file
through the images service as a scanner would (see ``test_image_review.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smartcustoms.inspection.images import dicos
from smartcustoms.inspection.images.schemas import Box
from tests.web.conftest import serve
from tests.web.test_image_review import Desk, ImageSite, build, threat_choice
from tests.web.test_parcels import sign_in


@pytest.fixture
def desk(tmp_path) -> Iterator[tuple[TestClient, Desk]]:
    from smartcustoms.web.app import create_app

    d = build(tmp_path, scans=1)
    try:
        with TestClient(create_app(d.world.platform)) as c:
            yield c, d
    finally:
        d.world.platform.close()


def test_a_region_form_with_errors_comes_back_as_entered_and_records_nothing(desk):
    c, d = desk
    token = sign_in(c, "officer")
    image_id = d.images[0]
    page = c.get(f"/images/{image_id}").text
    assert 'data-testid="mark-row"' in page and 'name="mark_x" min="0" max="255"' in page  # a 256x128 scan
    threat = threat_choice(page)
    base = {"csrf": token, "decision": threat, "reason": "dense block", "confirm": "on"}
    r = c.post(f"/images/{image_id}/decision", data={**base, "mark_category": ["", "drugs"], "mark_x": ["10", "250"],
                                                       "mark_y": ["5", "0"], "mark_w": ["20", "10"],
                                                       "mark_h": ["8", "3"]})
    assert r.status_code == 422
    assert "Region 1: choose what the threat is." in r.text
    assert 'name="mark_x" min="0" max="255" step="1" inputmode="numeric" value="250"' in r.text  # kept as entered
    r = c.post(f"/images/{image_id}/decision", data={**base, "mark_category": "drugs", "mark_x": "250",
                                                       "mark_y": "0", "mark_w": "10", "mark_h": "3"})
    assert r.status_code == 422 and "1: the region 250,0 10x3" in r.text and "256x128 image" in r.text
    r = c.post(f"/images/{image_id}/decision", data={**base, "mark_category": "drugs", "mark_x": "ten",
                                                       "mark_y": "0", "mark_w": "10", "mark_h": "3"})
    assert r.status_code == 422 and "Region 1: x, y, w and h are whole numbers" in r.text
    assert d.world.platform.images.get(d.world.principals["officer"], image_id).reviews == []


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[ImageSite]:
    """The served app with one scan of a held tile declaration waiting for review (overrides conftest's)."""
    d = build(tmp_path_factory.mktemp("image-marks-web"), scans=1)
    with serve(d.world.platform) as url:
        yield ImageSite(url, d.world, d.held, [], d.images)


@pytest.mark.browser
def test_an_officer_drags_one_region_types_another_and_both_reach_the_tdr(browser, site):
    b, page = browser, browser.page
    image_id = site.images[0]
    b.login("officer")
    page.goto(f"{site.url}/images/{image_id}")
    page.wait_for_function("() => document.querySelector('[data-testid=scan-high]').naturalWidth > 0")
    assert not page.locator("[data-testid=threat-marks]").is_visible()  # regions go with a threat decision only
    assert page.locator("[data-testid=mark-mode]").is_disabled()
    threat = page.locator("input[name=decision][data-threat=true]").get_attribute("value")
    page.check(f"[data-testid=decision-{threat}]")
    assert page.locator("[data-testid=threat-marks]").is_visible()
    # the pointer: "Mark a region", then a drag over a quarter of the scan's width and half its height
    page.click("[data-testid=mark-mode]")
    assert page.get_attribute("[data-testid=mark-mode]", "aria-pressed") == "true"
    frame = page.locator("[data-testid=scan-stage]").bounding_box()
    page.mouse.move(frame["x"] + frame["width"] * 0.25, frame["y"] + frame["height"] * 0.25)
    page.mouse.down()
    page.mouse.move(frame["x"] + frame["width"] * 0.5, frame["y"] + frame["height"] * 0.75, steps=5)
    page.mouse.up()
    row = page.locator("[data-testid=mark-row]").nth(0)
    x, y, w, h = (int(row.locator(f"[data-testid=mark-{k}]").input_value()) for k in "xywh")
    assert abs(x - 64) <= 2 and abs(y - 32) <= 2 and abs(w - 64) <= 3 and abs(h - 64) <= 3, (x, y, w, h)
    assert page.evaluate("document.activeElement.dataset.testid") == "mark-category"  # the category comes next
    page.select_option("[data-testid=mark-row] >> nth=0 >> [data-testid=mark-category]", "drugs")
    # the keyboard: a second row, typed in pixels; its outline follows the numbers
    page.click("[data-testid=mark-add]")
    second = page.locator("[data-testid=mark-row]").nth(1)
    second.locator("[data-testid=mark-category]").select_option("currency")
    for k, v in zip("xywh", ("200", "100", "40", "20"), strict=True):
        second.locator(f"[data-testid=mark-{k}]").fill(v)
    boxes = page.locator(".scan-mark:not(.stored):not([hidden])")
    assert boxes.count() == 2
    assert page.eval_on_selector_all(".scan-mark:not(.stored)", "els => els[1].style.left") == "78.125%"  # 200/256
    page.fill("[data-testid=image-reason]", "two packages behind the tiles")
    page.check("[data-testid=image-confirm]")
    page.click("[data-testid=record-image-decision]")
    page.wait_for_selector("[data-testid=review-marks]")
    listed = page.locator("[data-testid=review-marks]").inner_text()
    assert f"Drugs at x {x}, y {y}: {w} × {h} px" in listed and "Currency at x 200, y 100: 40 × 20 px" in listed
    assert page.locator("[data-testid=stored-mark]").count() == 2  # outlined on the scan after the decision
    report = dicos.read_tdr(site.world.platform.images.tdr(site.world.principals["officer"], image_id))
    operator = [(o["marked_as"], o["box"]) for o in report["objects"] if o["source"] == "operator"]
    assert operator == [("drugs", Box(y, x, h, w)), ("currency", Box(100, 200, 20, 40))]
    assert b.unexpected_errors() == []
