"""Carrier statistics: filings, late, amended, referred and the hit rate of decided referrals, on the dashboard
in both languages."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from smartcustoms.core.security import SYSTEM
from smartcustoms.manifests.rules import ManifestSettings
from smartcustoms.manifests.schemas import DecisionIn, ReferralAction
from smartcustoms.manifests.service import ManifestService
from smartcustoms.simulate.manifests import Cons, Item, message

NOW = datetime(2026, 12, 1)
LOADING = NOW + timedelta(days=2)
DG = [Item(description="LITHIUM BATTERIES")]  # a dangerous-goods word without a UN number: screening


@pytest.fixture
def filed(world):
    svc = ManifestService(world.platform.sessions, ManifestSettings(), clock=lambda: NOW)
    a = svc.ingest(message([Cons(doc="A1", loading_at=LOADING, items=DG), Cons(doc="A2", loading_at=LOADING, items=DG),
                            Cons(doc="A3", loading_at=NOW)], message_id="M1"), "CARRIERA", SYSTEM)[0]
    assert a.accepted
    assert svc.ingest(message([Cons(doc="A3", loading_at=NOW)], message_id="M2", function_code="5"), "CARRIERA",
                      SYSTEM)[0].accepted
    assert svc.ingest(message([Cons(doc="B1", loading_at=LOADING)], message_id="M1"), "CARRIERB", SYSTEM)[0].accepted
    officer = world.principals["officer"]
    a1, a2 = (r.id for r in svc.referrals() if r.transport_document_no in ("A1", "A2"))
    svc.decide(a1, DecisionIn(action=ReferralAction.THREAT_FOUND, reason="undeclared lithium cells"), officer)
    svc.decide(a2, DecisionIn(action=ReferralAction.SCREENING_CLEAR, reason="x-ray matches the manifest"), officer)
    return world, svc


def test_carrier_statistics_count_late_amended_referred_and_hits(filed):
    _, svc = filed
    stats = {r["filer_code"]: r for r in svc.carrier_statistics()}
    a = stats["CARRIERA"]
    assert (a["filings"], a["late"], a["amended"], a["referred"]) == (4, 2, 1, 4)  # A3 twice: late, referred
    assert (a["decided"], a["hits"], a["hit_rate"]) == (2, 1, 0.5)
    b = stats["CARRIERB"]
    assert (b["filings"], b["late"], b["referred"], b["decided"], b["hit_rate"]) == (1, 0, 0, 0, None)
    assert [r["filer_code"] for r in svc.carrier_statistics("CARRIERB")] == ["CARRIERB"]


def _sign_in(c: TestClient, username: str) -> None:
    page = c.get("/login")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    assert c.post("/login", data={"username": username, "password": "correct horse", "csrf": token},
                  follow_redirects=False).status_code == 303


def test_the_dashboard_shows_each_carrier_in_english_and_chinese(filed):
    from smartcustoms.web.app import create_app

    world, _ = filed
    with TestClient(create_app(world.platform)) as c:
        _sign_in(c, "analyst")
        html = c.get("/dashboard").text
        assert "Manifest filings per carrier" in html
        row = re.search(r'<tr data-testid="carrier-CARRIERA">(.*?)</tr>', html).group(1)
        cells = re.findall(r'<td[^>]*>(.*?)</td>', row)
        assert cells[0] == "CARRIERA" and cells[1] == "4" and cells[2].startswith("2 ") and cells[3] == "1"
        assert cells[-1] == "50.0%"
        assert re.search(r'data-testid="carrier-CARRIERB">.*?carrier-hit-rate">—<', html)
        assert html.index("carrier-CARRIERA") < html.index("carrier-CARRIERB")  # most filings first
        zh = c.get("/dashboard", headers={"Accept-Language": "zh-CN"}).text
        assert "各承运人舱单申报统计" in zh and "查获率" in zh
