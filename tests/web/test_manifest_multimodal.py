"""A multimodal shipment across pages: sea leg then rail leg as one timeline, the declaration's manifest line card,
and the discrepancy queue with its resolution form (both languages)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from smartcustoms.core.security import SYSTEM
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.simulate.manifests import Cons, message
from tests.support import declaration_payload
from tests.web.test_parcels import flashes, sign_in

LOADING = datetime.now() + timedelta(days=3)
ARRIVAL = datetime.now() + timedelta(days=20)
SEA, RAIL = "COSU6123456780", "RW2026120001"


def multimodal(world, suffix: str = "") -> str:
    """Sea leg (MT1101), rail leg naming it (MT1301), a declaration against the rail leg, and a tally naming a
    bill no manifest has (an over-landed discrepancy); the declaration's number."""
    svc, who = world.platform.manifests, world.principals["trader"]
    for body in (message([Cons(doc=SEA + suffix, loading_at=LOADING, discharge="CNTAO")], message_id="SEA" + suffix),
                 message([Cons(doc=RAIL + suffix, previous=SEA + suffix, loading="CNTAO", discharge="CNXIA",
                               containers=[])], mode="rail", message_id="RAIL" + suffix, arrival=ARRIVAL),
                 message([Cons(doc="MSKU9999999" + suffix)], kind="tally", message_id="TALLY" + suffix)):
        assert all(a.accepted for a in svc.ingest(body, world.importer, who))
    d = DeclarationIn.model_validate(declaration_payload(transport_document_no=RAIL + suffix))
    return world.platform.declarations.lodge_many(SYSTEM, [d])[0].declaration_no


@pytest.fixture
def web(sqlite_world):
    from smartcustoms.web.app import create_app

    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c, sqlite_world


def test_the_declaration_page_shows_its_manifest_line_and_the_legs(web):
    c, world = web
    no = multimodal(world)
    sign_in(c, "officer")
    page = c.get(f"/declarations/{no}")
    assert page.status_code == 200 and 'data-testid="manifest-line"' in page.text
    assert RAIL in page.text and 'data-testid="manifest-line-legs"' in page.text
    shipment = c.get(f"/manifests/shipments/{RAIL}", headers={"Accept-Language": "zh-CN"})
    assert shipment.status_code == 200 and "运输区段" in shipment.text
    assert f'data-leg="{SEA}"' in shipment.text and f'data-leg="{RAIL}"' in shipment.text
    sign_in(c, "broker")  # the declarant sees the line of its declaration, not the risk outcome
    mine = c.get(f"/declarations/{no}")
    assert 'data-testid="manifest-line"' in mine.text and 'data-testid="manifest-line-outcome"' not in mine.text
    assert "manifest-line-legs" not in mine.text and world.importer not in (
        mine.text.split('id="manifest-line"')[1].split("</section>")[0])


def test_the_discrepancy_form_wants_a_reason_and_only_officers_resolve(web):
    c, world = web
    multimodal(world)
    sign_in(c, "trader")
    assert c.get("/manifests/discrepancies").status_code == 403
    sign_in(c, "analyst")
    page = c.get("/manifests/discrepancies", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200 and "溢卸" in page.text and "/resolution" not in page.text
    token = sign_in(c, "officer")
    did = world.platform.manifests.discrepancies.listing()[0].id
    url = f"/manifests/discrepancies/{did}/resolution"
    r = c.post(url, data={"csrf": token, "resolution": "explained", "reason": ""})
    assert r.status_code == 422 and 'data-error-for="reason"><' not in r.text  # the reason's error is named
    r = c.post(url, data={"csrf": token, "resolution": "explained", "reason": "tally clerk's typo, corrected"})
    assert flashes(r.text) == ["Discrepancy on MSKU9999999 resolved."]
    assert f'data-discrepancy="{did}"' not in r.text
    assert c.get("/manifests/discrepancies?status=nonsense&kind=odd&after=99999999999999999999").status_code in (
        200, 422)


@pytest.mark.browser
def test_a_multimodal_shipment_followed_end_to_end(browser, site):
    b, page = browser, browser.page
    no = multimodal(site.world, "")
    b.login("officer")
    b.goto(f"/declarations/{no}")
    card = page.locator("[data-testid=manifest-line]")
    assert RAIL in card.inner_text() and "Rail" in card.inner_text()
    card.locator("a", has_text=RAIL).click()
    legs = page.locator("[data-testid=legs] li")
    assert legs.count() == 2
    assert legs.nth(0).get_attribute("data-mode") == "water" and legs.nth(1).get_attribute("data-mode") == "rail"
    b.shot("manifest-multimodal-timeline")
    page.click("[data-testid=nav-manifest-discrepancies]")
    row = page.locator("tr[data-kind=over_landed]").first
    assert "MSKU9999999" in row.inner_text()
    row.locator("textarea[name=reason]").fill("Tally clerk keyed the wrong bill; corrected tally on file")
    row.locator("select[name=resolution]").select_option("explained")
    row.locator("button[type=submit]").click()
    page.wait_for_url("**/manifests/discrepancies")
    assert "Discrepancy on MSKU9999999 resolved." in page.inner_text("body")
    assert page.locator("tr[data-kind=over_landed]").count() == 0
    page.select_option("[data-testid=discrepancy-status-filter]", "resolved")
    page.click("form.filters-form button[type=submit]")
    assert "Tally clerk keyed the wrong bill" in page.inner_text("[data-testid=discrepancies]")
    b.shot("manifest-discrepancy-resolved")
    assert b.unexpected_errors() == []


def test_the_lodging_form_carries_the_transport_document(web):
    c, world = web
    token = sign_in(c, "broker")
    assert 'name="transport_document_no"' in c.get("/declarations/new").text
    body = declaration_payload(transport_document_no=RAIL)
    form = {"csrf": token, **{k: str(v) for k, v in body.items() if k != "items" and v is not None}}
    form["declared_at"] = form["declared_at"][:16]
    for i, item in enumerate(body["items"]):
        form |= {f"items[{i}].{k}": str(v) for k, v in item.items()}
    r = c.post("/declarations/new", data=form)  # lodged: the declaration's page, naming its transport document
    assert r.status_code == 200 and r.url.path.startswith("/declarations/"), r.text[:2000]
    assert 'data-testid="transport-document"' in r.text and 'data-testid="manifest-line-missing"' in r.text
    r = c.post("/declarations/new", data={**form, "transport_document_no": "no spaces allowed"})
    assert r.status_code == 422 and 'data-error-for="transport_document_no"><' not in r.text
