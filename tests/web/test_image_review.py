"""The officers' image review pages: the queue, a scan's review page with its decision form, the TIP page.

The scans are synthetic (``simulate.scans``: Beer–Lambert dual-energy renderings of the declared goods, with a
concealment) sent as DICOS DX files through the images service, as a scanner would. The review threshold is set
near zero so each scan the model reads waits for an officer (routing itself is tested with the service), and
threat image projection is off unless a test turns it on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from smartcustoms.audit.service import entries
from smartcustoms.core.config import Settings
from smartcustoms.inspection.images.dicos import write_dx
from smartcustoms.inspection.images.models import TipProjection
from smartcustoms.inspection.images.schemas import DeclaredGoods, ReviewIn, ThreatMarkIn
from smartcustoms.platform import build_platform
from smartcustoms.simulate.scans import render_scan
from tests.support import seed_world
from tests.web.conftest import Site, _seed, serve
from tests.web.test_parcels import flashes, sign_in

TILES = [DeclaredGoods("6907220000", "Glazed ceramic wall tiles", quantity=18000, unit="035", gross_kg=21000,
                       net_kg=20000, packages=20)]


def scan_file(seed: int, concealment: str | None = "dense_in_light") -> bytes:
    """A synthetic dual-energy scan of a container of tiles as a DICOS DX file."""
    rendered = render_scan(TILES, seed=seed, concealment=concealment, size=(128, 256))
    data, _ = write_dx(rendered.image, f"test-{seed}")
    return data


def settings(tmp, tip_share: float = 0.0) -> Settings:
    return Settings(data_dir=tmp, session_secret="test-session-secret", images_review_threshold=1e-6,
                    images_tip_share=tip_share)


@dataclass
class Desk:
    """A served (or TestClient) platform with held declarations and scans uploaded for some of them."""

    world: object
    held: list[str]
    images: list[int]


def upload(world, no: str, seed: int) -> int:
    return world.platform.images.upload(world.principals["officer"], scan_file(seed), "declaration", no).id


def build(tmp, tip_share: float = 0.0, scans: int = 1) -> Desk:
    platform = build_platform(settings(tmp, tip_share), database_url=f"sqlite:///{tmp / 'smartcustoms.db'}")
    world = seed_world(platform)
    held, _ = _seed(world)
    return Desk(world, held, [upload(world, held[i], seed=10 + i) for i in range(scans)])


@pytest.fixture
def desk(tmp_path) -> Iterator[tuple[TestClient, Desk]]:
    from smartcustoms.web.app import create_app

    d = build(tmp_path, scans=2)
    try:
        with TestClient(create_app(d.world.platform)) as c:
            yield c, d
    finally:
        d.world.platform.close()


def threat_choice(html: str) -> str:
    """The decision of the page's form that says a threat was found (it depends on the machine's call)."""
    return re.search(r'name="decision" value="(\w+)" required data-threat="true"', html).group(1)


def test_an_officer_finds_the_scans_in_the_queue_and_the_nav_counts_them(desk):
    c, d = desk
    sign_in(c, "officer")
    page = c.get("/images/queue")
    assert page.status_code == 200
    for image_id in d.images:
        assert f'data-image="{image_id}"' in page.text
    assert re.search(r'data-testid="image-jobs">2<', page.text)  # the nav's badge
    assert f'href="/declarations/{d.held[0]}"' in page.text  # the scan's declaration
    r = c.get("/images/queue?office=abc")
    assert r.status_code == 422 and "A customs office is a 4-digit code from the list." in r.text
    assert f'data-image="{d.images[0]}"' in r.text  # the wrong filter is left out
    assert 'data-image' not in c.get("/images/queue?office=5300").text  # another office: none of these


def test_the_review_page_shows_the_scan_the_goods_and_the_earlier_scans(desk):
    c, d = desk
    sign_in(c, "officer")
    page = c.get(f"/images/{d.images[1]}")
    assert page.status_code == 200
    html = page.text
    assert f'src="/api/v1/images/{d.images[1]}/pixels.png?energy=high"' in html
    assert 'data-testid="scan-low"' in html  # dual energy: both energies to switch between
    assert "6907220000" in html and "Glazed ceramic wall tiles" in html  # the declared goods beside the scan
    assert f'data-previous="{d.images[0]}"' in html  # the same importer's earlier scan of tiles
    assert 'id="image-decision"' in html
    assert c.get(f"/api/v1/images/{d.images[1]}/pixels.png?energy=low").headers["content-type"] == "image/png"
    assert c.get("/images/999999").status_code == 404


def test_the_decision_wants_a_reason_and_a_confirmation_and_keeps_what_was_entered(desk):
    c, d = desk
    token = sign_in(c, "officer")
    image_id, no = d.images[0], d.held[0]
    threat = threat_choice(c.get(f"/images/{image_id}").text)
    url = f"/images/{image_id}/decision"
    r = c.post(url, data={"csrf": token, "decision": threat, "reason": "", "offence_type": "quantity",
                          "confirm": "on"})
    assert r.status_code == 422 and "Say what you see in the scan." in r.text
    assert f'value="{threat}" required data-threat="true" checked' in r.text  # the choice is kept
    assert '<option value="quantity" selected>' in r.text
    r = c.post(url, data={"csrf": token, "decision": threat, "reason": "dense block behind the tiles"})
    assert r.status_code == 422 and "Tick the box to confirm the threat." in r.text
    assert ">dense block behind the tiles</textarea>" in r.text  # the reason is kept
    assert c.post(url, data={"decision": threat, "reason": "x", "confirm": "on"}).status_code == 403  # no token
    if threat == "confirm_threat":  # the machine flagged it: "agree, it is clear" does not fit its call
        r = c.post(url, data={"csrf": token, "decision": "confirm_clear", "reason": "only tiles"})
        assert r.status_code == 422 and "the machine called it threat" in r.text and ">only tiles</textarea>" in r.text
    r = c.post(url, data={"csrf": token, "decision": threat, "reason": "dense block behind the tiles",
                          "confirm": "on"})
    assert r.status_code == 200 and flashes(r.text)[0].startswith(f"Decision on image #{image_id} recorded")
    assert 'data-testid="review-decision"' in r.text and 'id="image-decision"' not in r.text  # decided: no form
    assert f'data-image="{image_id}"' not in c.get("/images/queue").text
    with d.world.platform.sessions() as s:
        audit = entries(s, "image", str(image_id))
    assert [e.action for e in audit][0] == "image.review" and audit[0].actor == "officer"
    decl = c.get(f"/declarations/{no}").text
    assert 'data-testid="inspection-result"' in decl and "quantity" in decl  # the declaration's result
    again = c.post(url, data={"csrf": token, "decision": threat, "reason": "again", "confirm": "on"})
    assert flashes(again.text) == [f"Image #{image_id} has been decided already: nothing was recorded."]  # stale form


def test_only_officers_decide_analysts_read_and_see_tip_scores_traders_see_nothing(desk):
    c, d = desk
    image_id = d.images[0]
    token = sign_in(c, "trader")
    for path in ("/images/queue", f"/images/{image_id}", "/images/tip/officers"):
        assert c.get(path).status_code == 403, path
    assert c.post(f"/images/{image_id}/decision", data={"csrf": token, "decision": "confirm_clear",
                                                         "reason": "x"}).status_code == 403
    assert c.get(f"/api/v1/images/{image_id}/pixels.png").status_code == 403
    assert 'data-testid="nav-image-review"' not in c.get("/declarations").text
    sign_in(c, "analyst")
    page = c.get(f"/images/{image_id}")
    assert page.status_code == 200 and 'id="image-decision"' not in page.text
    assert c.get("/images/tip/officers").status_code == 200
    token = sign_in(c, "officer")
    assert c.get("/images/tip/officers").status_code == 403  # officers are not shown their own TIP scores
    sign_in(c, "admin")
    assert 'data-testid="nav-image-review"' not in c.get("/admin").text  # administrators do not read scans
    assert c.get("/images/tip/officers").status_code == 200


def test_the_pages_read_in_chinese(desk):
    c, d = desk
    sign_in(c, "officer")
    zh = {"Accept-Language": "zh-CN"}
    assert "审图队列" in c.get("/images/queue", headers=zh).text
    page = c.get(f"/images/{d.images[0]}", headers=zh).text
    assert "人工判图" in page and "申报商品" in page and "记录判图结论" in page


def test_a_projected_threat_is_scored_and_shown_to_analysts(tmp_path):
    from smartcustoms.web.app import create_app

    d = build(tmp_path, tip_share=1.0)
    if d.world.platform.images.model is None:
        d.world.platform.close()
        pytest.skip("no image model installed: threat image projection needs an assessed scan")
    try:
        with TestClient(create_app(d.world.platform)) as c:
            token = sign_in(c, "officer")
            image_id = d.images[0]
            threat = threat_choice(c.get(f"/images/{image_id}").text)
            with d.world.platform.sessions() as s:
                p = s.scalar(select(TipProjection).where(TipProjection.image_id == image_id))
            r = c.post(f"/images/{image_id}/decision", data={
                "csrf": token, "decision": threat, "reason": "steel block in the load", "confirm": "on",
                "mark_category": "weapons", "mark_x": str(p.left), "mark_y": str(p.top), "mark_w": str(p.width),
                "mark_h": str(p.height)})  # marked where the projected threat is: a hit
            assert "This was a test image with a projected threat, and you found it" in " ".join(flashes(r.text))
            assert 'id="image-decision"' in r.text  # back for its real review, without the projection
            r = c.post(f"/images/{image_id}/decision", data={"csrf": token, "decision": threat,
                                                              "reason": "dense block", "confirm": "on"})
            assert 'data-testid="review-decision"' in r.text  # the real review: no TIP any more
            d.images.append(upload(d.world, d.held[1], seed=30))  # another TIP job, called a threat unmarked
            r = c.post(f"/images/{d.images[-1]}/decision", data={"csrf": token, "reason": "something", "confirm": "on",
                                                                  "decision": threat_choice(
                                                                      c.get(f"/images/{d.images[-1]}").text)})
            assert "You called a threat but marked no region on the projected one" in " ".join(flashes(r.text))
            sign_in(c, "analyst")
            tip = c.get("/images/tip/officers").text
            assert re.search(r'data-officer="officer">.*?data-testid="tip-hits">1<'
                             r'.*?data-testid="tip-false-locations">1<.*?data-testid="tip-rate">50\.0%', tip, re.S)
            assert "Wrong location" in tip and "False-alarm rate" in tip
            zh = c.get("/images/tip/officers", headers={"Accept-Language": "zh-CN"}).text
            assert "位置错误" in zh and "误报率" in zh
    finally:
        d.world.platform.close()


# -- in the browser -------------------------------------------------------------------------------------------
@dataclass
class ImageSite(Site):
    """The served app and the ids of the scans waiting for review."""

    images: list[int] = field(default_factory=list)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[ImageSite]:
    """The served app with two scans of held tile declarations waiting for review (overrides conftest's)."""
    d = build(tmp_path_factory.mktemp("images-web"), scans=2)
    with serve(d.world.platform) as url:
        yield ImageSite(url, d.world, d.held, [], d.images)


@pytest.mark.browser
def test_an_officer_reviews_a_scan_zooms_reads_the_heat_map_and_records_a_threat(browser, site):
    b, page = browser, browser.page
    image_id, no = site.images[0], site.held[0]
    b.login("officer")
    page.click("[data-testid=nav-image-review]")
    assert page.locator("[data-testid=image-jobs]").inner_text() == "2"
    page.locator(f"tr[data-image='{image_id}'] [data-testid=open-image]").click()
    page.wait_for_function("() => document.querySelector('[data-testid=scan-high]').naturalWidth > 0")
    viewer = page.locator("#scan-viewer")
    page.click("[data-testid=zoom-in]")
    page.click("[data-testid=zoom-in]")
    assert viewer.get_attribute("data-zoom") == "1.56"
    assert page.locator("[data-testid=zoom-level]").inner_text() == "156%"
    page.focus("[data-testid=scan-frame]")
    page.keyboard.press("+")
    page.keyboard.press("ArrowLeft")
    assert viewer.get_attribute("data-zoom") == "1.95"
    assert "matrix(1.95" in page.eval_on_selector("[data-testid=scan-stage]", "e => getComputedStyle(e).transform")
    page.fill("[data-testid=contrast]", "200")
    assert "contrast(2)" in page.eval_on_selector("[data-testid=scan-high]", "e => getComputedStyle(e).filter")
    page.check("[data-testid=energy-low]")
    assert page.locator("[data-testid=scan-low]").is_visible()
    assert not page.locator("[data-testid=scan-high]").is_visible()
    page.check("[data-testid=energy-material]")  # the dual-energy ratio
    page.wait_for_function("() => document.querySelector('[data-testid=scan-material]').naturalWidth > 0")
    assert not page.locator("[data-testid=scan-low]").is_visible()
    page.check("[data-testid=energy-low]")
    if page.locator("[data-testid=heatmap]").count():  # a model assessed the scan: its heat map over it
        assert not page.locator("[data-testid=heatmap]").is_visible()
        page.check("[data-testid=heatmap-toggle]")
        page.wait_for_function("() => document.querySelector('[data-testid=heatmap]').naturalWidth > 0")
        assert page.locator("[data-testid=heatmap]").is_visible()
        page.fill("[data-testid=heatmap-opacity]", "80")
        assert page.eval_on_selector("[data-testid=heatmap]", "e => getComputedStyle(e).opacity") == "0.8"
    b.shot("image-review")
    threat = page.locator("input[name=decision][data-threat=true]").get_attribute("value")
    page.check(f"[data-testid=decision-{threat}]")
    assert page.locator("[data-testid=image-confirm]").is_visible()  # a threat asks for a confirmation
    page.select_option("[data-testid=offence-type]", "prohibited")
    page.fill("[data-testid=image-reason]", "dense block behind the tiles, not declared")
    page.check("[data-testid=image-confirm]")
    page.click("[data-testid=record-image-decision]")
    page.wait_for_selector("[data-testid=review-decision]")
    assert "Threat found" in page.locator("[data-testid=review-decision]").inner_text()
    assert page.locator("[data-testid=image-status]").inner_text() == "reviewed"
    with site.world.platform.sessions() as s:
        audit = entries(s, "image", str(image_id))
    assert audit[0].action == "image.review" and audit[0].actor == "officer"
    page.click("[data-testid=image-subject]")
    page.wait_for_url(f"**/declarations/{no}")
    result = page.locator("[data-testid=inspection-result]").inner_text()
    assert "prohibited" in result and "officer" in result
    assert b.unexpected_errors() == []


@pytest.mark.browser
def test_the_image_pages_show_no_english_in_chinese(browser, site):
    from tests.web.test_chinese_walk import in_chinese, walk

    b = browser
    in_chinese(b, "officer")
    found = walk(b, "/images/queue") + walk(b, f"/images/{site.images[1]}")
    svc, officer = site.world.platform.images, site.world.principals["officer"]
    if svc.model is not None:  # one TIP presentation found and marked, then reviewed for real: the TIP table has a row
        svc.tip_share = 1.0
        try:
            tip_id = svc.upload(officer, scan_file(40), "declaration", site.held[1]).id
        finally:
            svc.tip_share = 0.0
        with site.world.platform.sessions() as s:
            p = s.scalar(select(TipProjection).where(TipProjection.image_id == tip_id))
        assert p is not None
        mark = ThreatMarkIn(category="weapons", top=p.top, left=p.left, height=p.height, width=p.width)
        assert svc.review(officer, tip_id, ReviewIn(decision="confirm_threat", reason="block",
                                                    marks=[mark])).tip_feedback == "hit"
        svc.review(officer, tip_id, ReviewIn(decision="confirm_threat", reason="block"))
    in_chinese(b, "analyst")
    found += walk(b, "/images/tip/officers")
    if svc.model is not None:
        row = b.page.locator("[data-testid=tip-officers] tr[data-officer=officer]")
        assert row.locator("[data-testid=tip-hits]").inner_text() == "1"
        assert row.locator("[data-testid=tip-rate]").inner_text() == "100.0%"
    assert found == []
    assert b.unexpected_errors() == []


@pytest.mark.browser
def test_the_review_page_fits_a_phone_and_its_tools_work_from_the_keyboard(browser, site):
    b, page = browser, browser.page
    b.login("officer")
    page.set_viewport_size({"width": 390, "height": 844})
    try:
        for path in ("/images/queue", f"/images/{site.images[1]}"):
            b.goto(path)
            page.wait_for_load_state("load")
            page.wait_for_timeout(100)  # tables wrapped
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide at a 390 px phone"
        page.focus("[data-testid=zoom-in]")
        page.keyboard.press("Enter")  # a native button: the keyboard works it
        assert page.locator("#scan-viewer").get_attribute("data-zoom") == "1.25"
        page.focus("[data-testid=scan-frame]")
        page.keyboard.press("0")  # back to fit
        assert page.locator("#scan-viewer").get_attribute("data-zoom") == "1.00"
        page.focus("[data-testid=contrast]")
        page.keyboard.press("ArrowRight")
        assert page.locator("[data-value-for=contrast]").inner_text() == "110%"
        b.shot("image-review-phone")
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert b.unexpected_errors() == []


def test_every_sentence_the_image_model_can_say_reads_in_chinese():
    """The model's consistency reasons (``model.check_consistency``), every branch, for goods of every material:
    each has a Chinese reading without English words."""
    model = pytest.importorskip("smartcustoms.inspection.images.model")
    from smartcustoms.inspection.images.materials import material_for_hs
    from smartcustoms.web.i18n import translator
    from smartcustoms.web.pages.images import reason_text
    from tests.web.test_chinese_walk import english_in

    zh, en = translator("zh"), translator("en")
    goods = [[DeclaredGoods(hs, gross_kg=8000.0)] for hs in
             ("2202100000", "6907220000", "7308900000", "8471300000", "2402200000", "4011100000", "7601100000")]
    goods += [[DeclaredGoods("6907220000", gross_kg=9000.0), DeclaredGoods("7308900000", gross_kg=3000.0)],
              [DeclaredGoods("XX")]]
    assert len({material_for_hs(g[0].hs_code).name for g in goods[:7]}) >= 6
    said = set()
    for declared in goods:
        for mass in (1000.0, 12000.0, 60000.0):
            for ratio in (float("nan"), 0.95, 1.2, 1.3, 1.4, 1.6):
                for dual in (True, False):
                    _, reasons = model.check_consistency(model.PhysicsReading(mass, ratio, dual), declared,
                                                         model.ConsistencyRule())
                    said.update(reasons)
    assert len(said) > 20
    for sentence in sorted(said):
        read = reason_text(zh, sentence)
        assert read != sentence and english_in(read) == [], (sentence, read)
        assert reason_text(en, sentence) == sentence  # the English catalogue says what the model said
