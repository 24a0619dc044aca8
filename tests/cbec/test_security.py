"""Issue #14, CBEC: poisoned messages, sender codes, tenant isolation of receipts and parcels, plain reasons
for traders, bounded query parameters. Through the real HTTP app on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from smartcustoms.cbec.ceb import emit as ceb_emit
from smartcustoms.cbec.ceb import parse as ceb_parse
from smartcustoms.cbec.ceb import spec as ceb_spec
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL, CebError
from smartcustoms.cbec.service import CbecService
from smartcustoms.cbec.simulate import emit_parcel, make_parcel
from smartcustoms.core.config import Settings
from smartcustoms.core.db import upgrade
from smartcustoms.platform import build_platform
from smartcustoms.web.app import create_app
from tests.cbec.conftest import drop_pg_schema, pg_url_or_skip
from tests.cbec.test_fastpath import assert_same, outcome
from tests.support import World, seed_world

EBP = "1101980001"
SUPERSCRIPT_TIME = "²⁰²⁶⁰³¹⁵¹⁰³⁰⁰⁰"
HOSTILE = [  # (field, value, document kind)
    ("appTime", SUPERSCRIPT_TIME, INVENTORY),
    ("totalPrice", "1e999999", INVENTORY),
    ("totalPrice", "3_39.00", INVENTORY),
    ("totalPrice", "+339", INVENTORY),
    ("totalPrice", "٣٣٩", INVENTORY),          # Arabic-Indic digits
    ("qty", "1.123456", INVENTORY),             # scale 5
    ("freight", "123456789012345", INVENTORY),  # 14 integer digits at most
    ("buyerName", "x" * 1000, INVENTORY),       # at most 60 characters
    ("goodsValue", "1e999999", ORDER),
    ("appTime", "20260315103000123", ORDER),    # appTime is yyyyMMddHHmmss
]


def _set(xml: bytes, field: str, value: str) -> bytes:
    return re.sub(rb"(<ceb:%s>)[^<]*(</ceb:%s>)" % (field.encode(), field.encode()),
                  lambda m: m.group(1) + value.encode() + m.group(2), xml, count=1)


def parcel(n: int, platform: tuple[str, str] = (EBP, "Global Mall Platform")) -> dict[str, bytes]:
    """The four messages of a consistent parcel ``n`` (its own order number and guids)."""
    return emit_parcel(make_parcel(f"SEC{n:08d}", rng=random.Random(n), platform=platform))


# ---------------------------------------------------------------------------- both parser paths
@pytest.mark.parametrize(("field", "value", "kind"), HOSTILE)
def test_hostile_values_are_refused_alike_by_the_scanner_and_lxml(field, value, kind):
    raw = _set(parcel(1)[kind], field, value)
    assert ceb_parse._FAST.documents(raw) is None  # the compiled scanner declines ...
    got = outcome(ceb_parse.parse_message, raw)
    assert got == outcome(ceb_parse.parse_message_lxml, raw)  # ... and the answer is the reference's, byte for byte
    assert got[0] == "refused" and any(p.endswith(f"/ceb:{field}") for p, _r in got[1])
    assert_same([raw, parcel(2)[kind]])
    docs = ceb_parse.parse_message(parcel(3)[kind])
    head = {**docs[0].head}
    lines = [dict(x) for x in docs[0].lines]
    (lines[0] if field in lines[0] else head)[field] = value
    with pytest.raises(CebError, match=field):  # the JSON form too
        ceb_parse.parse_json({**ceb_emit.to_json(docs), "documents": [{"head": head, "lines": lines}]})


def test_the_scanner_refuses_a_21_mb_name_and_overlong_guids():
    inv = parcel(1)[INVENTORY]
    huge = _set(inv, "buyerName", "买" * (7 << 20))  # 21 MB of UTF-8
    assert ceb_parse._FAST.documents(huge) is None
    with pytest.raises(CebError):  # lxml: a text node over its 10 MB limit
        ceb_parse.parse_message(huge)
    big = _set(inv, "buyerName", "买" * (1 << 20))
    assert ceb_parse._FAST.documents(big) is None
    with pytest.raises(CebError, match="buyerName: longer than 60 characters"):
        ceb_parse.parse_message(big)
    long_guid = inv.replace(b'guid="', b'guid="' + b"G" * 40, 1)
    assert outcome(ceb_parse.parse_message, long_guid) == outcome(ceb_parse.parse_message_lxml, long_guid)
    assert outcome(ceb_parse.parse_message, long_guid)[0] == "refused"
    assert_same([_set(inv, "totalPrice", "339"), _set(inv, "totalPrice", "0.00001"),
                 _set(inv, "totalPrice", "99999999999999.99999"), _set(inv, "appTime", "2026031510300")])


# ---------------------------------------------------------------------------- the app on SQLite and PostgreSQL
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def sec_world(request, tmp_path) -> Iterator[World]:
    url = request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "fresh_pg_url")
    platform = build_platform(Settings(data_dir=tmp_path), database_url=url)
    try:
        yield seed_world(platform)
    finally:
        platform.close()


def _client(world: World) -> TestClient:
    return TestClient(create_app(world.platform))


def _h(world: World, user: str, xml: bool = True) -> dict[str, str]:
    h = {"X-API-Key": world.keys[user]}
    if xml:
        h["Content-Type"] = "application/xml"
    return h


def _post(c: TestClient, world: World, body: bytes, user: str = "trader"):
    return c.post("/api/v1/cbec/messages", content=body, headers=_h(world, user))


def _ceb622(r) -> list[dict]:
    return [x for x in r.json()["receipts"] if x["type"] == "CEB622"]


def test_poisoned_messages_are_refused_and_intake_goes_on_after_a_restart(sec_world):
    world = sec_world
    with _client(world) as c:
        for n, (field, value, kind) in enumerate(HOSTILE, 1):
            msgs = parcel(n)
            others = [k for k in (ORDER, PAYMENT, WAYBILL, INVENTORY) if k != kind]
            assert _post(c, world, b"".join(msgs[k] for k in others[:-1])).status_code == 200
            r = _post(c, world, _set(msgs[kind], field, value))
            if kind == INVENTORY:  # a CEB622 receipt with status 100 naming the field
                [receipt] = r.json()["receipts"]
                assert r.status_code == 200 and receipt["returnStatus"] == "100", r.text
                assert f"/ceb:{field}" in receipt["returnInfo"]
            else:  # every message refused: a problem naming the field
                assert r.status_code == 422, r.text
                assert any(e["field"].endswith(f"/ceb:{field}") for e in r.json()["errors"])
            # later messages are processed: the corrected document completes the parcel
            r = _post(c, world, msgs[kind] + msgs[others[-1]])
            assert r.status_code == 200, r.text
            assert [x["returnStatus"] for x in _ceb622(r)][-1] in ("800", "300", "500"), r.text
    c.app.state.platform.close_cbec()  # the writer lets go of its message log: the restart opens the same data
    with _client(world) as c:  # a restart: a new CbecService on the same data
        r = _post(c, world, b"".join(parcel(99).values()))
        assert r.status_code == 200 and _ceb622(r)[-1]["returnStatus"] in ("800", "300", "500"), r.text
    c.app.state.platform.close_cbec()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def cbec_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'poison.db'}"
        upgrade(url)
        yield url
        return
    url, schema = pg_url_or_skip()
    upgrade(url)
    try:
        yield url
    finally:
        drop_pg_schema(schema)


def _docs(n: int) -> dict[str, ceb_spec.Document]:
    return {k: ceb_parse.parse_message(v)[0] for k, v in parcel(n).items()}


def _poison(doc: ceb_spec.Document, line_field: str | None = None, head_field: str | None = None,
            value: str = "1e999999") -> ceb_spec.Document:
    """A document as an older version accepted it (no value checks)."""
    head, lines = dict(doc.head), [dict(x) for x in doc.lines]
    if line_field:
        lines[0][line_field] = value
    if head_field:
        head[head_field] = value
    return doc._replace(head=head, lines=lines)


def test_a_parcel_that_cannot_be_decided_is_rejected_alone(cbec_url):
    svc = CbecService(cbec_url)
    try:
        bad, good = _docs(1), _docs(2)
        bad[INVENTORY] = _poison(bad[INVENTORY], line_field="totalPrice")
        batch = [[bad[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)] + \
                [[good[k]] for k in (ORDER, PAYMENT, WAYBILL, INVENTORY)]
        with svc.lock:
            res = svc.engine.process(batch)
        by_order = {d.slot.key[1]: d for d in res.decisions}
        assert by_order["SEC00000001"].status == 100
        assert by_order["SEC00000001"].info.startswith("could not be processed")
        assert by_order["SEC00000002"].status in (800, 300, 500)
        assert svc.parcel(EBP, "SEC00000001")["status"] == 100
        # the writer goes on
        assert [r.status for r in svc.submit(list(parcel(3).values())) if r.kind == "CEB622"][-1] in (800, 300, 500)
    finally:
        svc.close()


def test_a_poisoned_record_in_the_message_log_is_rejected_on_replay(cbec_url):
    svc = CbecService(cbec_url)
    poisoned = _docs(1)
    as_json = _poison(poisoned[INVENTORY], head_field="appTime", value=SUPERSCRIPT_TIME)
    as_xml = _poison(_docs(2)[INVENTORY], line_field="totalPrice", value="3_39.00")
    try:
        with svc.lock:  # logged by an "older version": one as its JSON form, one as the XML it came in
            svc.engine.process([[as_json], [as_xml]], raws=[None, ceb_emit.emit_document(as_xml)])
    finally:
        svc.close()
    svc = CbecService(cbec_url)  # the restart replays the log
    try:
        receipts = svc.submit(list(parcel(3).values()))
        refused = {r.guid: r for r in receipts if r.status == 100}
        assert set(refused) == {as_json.guid, as_xml.guid}
        assert "appTime" in refused[as_json.guid].info and "totalPrice" in refused[as_xml.guid].info
        assert all("refused on replay" in r.info for r in refused.values())
        assert [r.status for r in receipts if r.kind == "CEB622" and r.guid not in refused][-1] in (800, 300, 500)
    finally:
        svc.close()


# ---------------------------------------------------------------------------- sender codes
def test_documents_under_another_enterprises_codes_are_refused(sec_world):
    world = sec_world
    msgs = parcel(1)
    with _client(world) as c:
        for kind, field in ((ORDER, "ebpCode"), (PAYMENT, "payCode"), (WAYBILL, "logisticsCode")):
            r = _post(c, world, msgs[kind], "other")
            assert r.status_code == 422, r.text
            assert [e["field"] for e in r.json()["errors"]][0].endswith(f"/ceb:{field}")
            assert "not registered for enterprise" in r.json()["errors"][0]["message"]
        [receipt] = _post(c, world, msgs[INVENTORY], "other").json()["receipts"]
        assert receipt["returnStatus"] == "100" and "ceb:ebpCode" in receipt["returnInfo"]
        # a whole parcel under the trader's codes charges nobody's quota
        stranger = parcel(5)
        r = _post(c, world, b"".join(stranger.values()), "other")
        assert {x["returnStatus"] for x in r.json()["receipts"]} == {"100"}, r.text
        buyer = ceb_parse.parse_message(stranger[INVENTORY])[0].head["buyerIdNumber"]
        quota = c.get(f"/api/v1/cbec/quota/{buyer}/2026", headers=_h(world, "officer", False)).json()
        assert quota["used"] == "0.00"
        # customs roles do not send platform messages
        for user in ("officer", "analyst", "admin"):
            assert _post(c, world, msgs[ORDER], user).status_code == 403
        # the owner's pending order cannot be replaced (appType 2) by a stranger, nor its quota charged
        assert _post(c, world, msgs[ORDER]).status_code == 200
        replaced = _set(_set(msgs[ORDER], "appType", "2"), "buyerName", "Mallory")
        replaced = re.sub(rb'guid="[0-9A-F]', b'guid="X', replaced, count=1)
        assert _post(c, world, replaced, "other").status_code == 422
        r = _post(c, world, msgs[PAYMENT] + msgs[WAYBILL] + msgs[INVENTORY])
        assert _ceb622(r)[-1]["returnStatus"] in ("800", "300", "500"), r.text  # the owner's order stood
        # registered codes are accepted; withdrawn ones refused again
        admin = {"X-API-Key": world.keys["admin"]}
        url = f"/api/v1/enterprises/{world.other_importer}/sender-codes"
        r = c.post(url, json={"code": "3120960002", "kind": "ebp"}, headers=admin)
        assert r.status_code == 201 and r.json()["kind"] == "ebp"
        assert c.post(url, json={"code": "3120960002", "kind": "ebp"}, headers=admin).status_code == 409
        assert c.post(url, json={"code": "X", "kind": "ebp"}, headers=_h(world, "other", False)).status_code == 403
        assert c.get(url, headers=_h(world, "other", False)).json()[0]["code"] == "3120960002"
        assert c.get(url, headers=_h(world, "trader", False)).status_code == 404  # not its enterprise
        other_order = _set(parcel(2, ("3120960002", "Sea Cross Platform"))[ORDER], "ebcCode", world.other_importer)
        assert _post(c, world, other_order, "other").status_code == 200
        assert c.delete(f"{url}/ebp/3120960002", headers=admin).status_code == 204
        again = re.sub(rb'guid="[0-9A-F]', b'guid="Y', other_order, count=1).replace(b"SEC00000002", b"SEC00000022")
        assert _post(c, world, again, "other").status_code == 422


def test_the_admin_page_lists_sender_codes(sec_world):
    from tests.core.test_auth_security import sign_in

    with _client(sec_world) as c:
        assert sign_in(c, "admin").status_code == 303
        page = c.get("/admin").text
    line = re.search(r'data-testid="sender-codes">(.*?)</p>', page, re.S).group(1)
    assert sec_world.importer in line and f"ebp {EBP}" in line


# ---------------------------------------------------------------------------- reading: own data, plain reasons
def _held_parcel(c: TestClient, world: World) -> dict:
    rule = {"name": "Cosmetics alert", "description": "counterfeit creams", "lane": "red", "mandatory": True,
            "criteria": [{"field": "hs_code", "op": "prefix", "value": ["3304"]}]}
    assert c.post("/api/v1/risk/rules", json=rule, headers=_h(world, "analyst", False)).status_code == 201
    msgs = parcel(1)
    lines = re.sub(rb"<ceb:gcode>\d+</ceb:gcode>", b"<ceb:gcode>3304990099</ceb:gcode>", msgs[INVENTORY])
    r = _post(c, world, msgs[ORDER] + msgs[PAYMENT] + msgs[WAYBILL] + lines)
    return _ceb622(r)[-1]


def test_traders_read_their_own_receipts_and_parcels_with_plain_reasons(sec_world):
    world = sec_world
    with _client(world) as c:
        receipt = _held_parcel(c, world)
        assert receipt["returnStatus"] == "500" and receipt["returnInfoEn"] == "held for inspection"
        trader, other, officer = (_h(world, u, False) for u in ("trader", "other", "officer"))
        mine = c.get("/api/v1/cbec/receipts", headers=trader).json()["receipts"]
        assert [x["returnInfoEn"] for x in mine] == ["held for inspection"]
        assert [x["returnInfo"] for x in mine] == ["[Code:2500;Desc:查验]"]  # the official Chinese text
        assert c.get("/api/v1/cbec/receipts", headers=other).json()["receipts"] == []
        [seen] = c.get("/api/v1/cbec/receipts", headers=officer).json()["receipts"]
        assert "Cosmetics alert" in seen["returnInfoEn"]
        p = c.get(f"/api/v1/cbec/parcels/{EBP}/SEC00000001", headers=trader).json()
        assert p["status"] == 500 and p["risk_score"] is None and p["info"] == "held for inspection"
        assert all("Cosmetics" not in e["info"] and "score" not in e["info"] for e in p["events"])
        assert "Cosmetics alert" in c.get(f"/api/v1/cbec/parcels/{EBP}/SEC00000001", headers=officer).json()["info"]
        c.post(f"/api/v1/cbec/parcels/{EBP}/SEC00000001/decision", json={"status": 502, "info": "fakes, case 7"},
               headers=officer)
        p = c.get(f"/api/v1/cbec/parcels/{EBP}/SEC00000001", headers=trader).json()
        assert p["info"] == "detained, passed to anti-smuggling" and {e["actor"] for e in p["events"]} <= {
            "system", "customs"}
        # another enterprise's parcel is "not found", exactly as a missing one
        theirs = c.get(f"/api/v1/cbec/parcels/{EBP}/SEC00000001", headers=other)
        missing = c.get(f"/api/v1/cbec/parcels/{EBP}/SEC99999999", headers=other)
        assert theirs.status_code == missing.status_code == 404
        assert theirs.json()["title"] == missing.json()["title"]


def test_query_parameters_are_bounded(sec_world):
    world = sec_world
    trader, officer = _h(world, "trader", False), _h(world, "officer", False)
    huge = str(2**70)
    with _client(world) as c:
        cases = [("receipts?limit=-1", trader), ("receipts?limit=0", trader), ("receipts?limit=1001", trader),
                 ("receipts?after=-1", trader), (f"receipts?after={2**63}", officer),
                 (f"receipts?after={huge}", officer), (f"parcels?after_id={huge}", officer),
                 (f"parcels?status={huge}", officer), ("parcels?status=-5", officer),
                 (f"parcels?limit={huge}", officer), (f"quota/110101199003071234/{huge}", officer)]
        for path, h in cases:
            url = f"/api/v1/cbec/{path}"
            r = c.get(url, headers=h)
            assert r.status_code == 422, (url, r.status_code, r.text)
        assert c.get(f"/api/v1/cbec/receipts?after={2**63 - 1}&limit=1000", headers=officer).status_code == 200
        r = c.post(f"/api/v1/cbec/parcels/{EBP}/X/decision", json={"status": 800, "expected_status": 2**70},
                   headers=officer)
        assert r.status_code == 422
