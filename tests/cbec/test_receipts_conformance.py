"""Receipts as the official import XSD has them (2018 and 202205 editions), field for field, in the official
style; refusals carry the sender's business keys; an unreadable message is refused at the transport level."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from smartcustoms.cbec.ceb import receipts as ceb_receipts
from smartcustoms.cbec.ceb.receipts import (
    Receipt,
    ReceiptInvalid,
    emit_receipt,
    emit_receipt_py,
    emit_receipts,
    parse_receipt,
    receipt_json,
    validate_receipt,
)
from smartcustoms.cbec.ceb.spec import NS, RECEIPT_FIELDS, RECEIPT_HEADS, RECEIPT_KIND, CebError
from smartcustoms.cbec.ceb.statuses import RETURN_INFO_MAX, STATUS_NAMES, return_info
from smartcustoms.cbec.engine import Engine
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import upgrade
from smartcustoms.web.app import create_app
from tests.support import CEB_DIR, IMPORT_XSD

from .conftest import Clock, drop_pg_schema, pg_url_or_skip

CEB, XSDS = CEB_DIR, IMPORT_XSD
RECEIPT_SAMPLES = ("312", "412", "512", "514", "622", "624", "626", "712")
GUID = "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
T = 1_773_000_000_123
#: every business key a receipt can carry, with values of the official samples' forms
KEYS = {"ebpCode": "1105910159", "ebcCode": "1105910159", "orderNo": "order20160321116420545",
        "payCode": "1105910159", "payTransactionId": "P0321000433", "logisticsCode": "1105910159",
        "logisticsNo": "L20160321114400001", "logisticsStatus": "S", "customsCode": "1501",
        "agentCode": "1105980159", "copNo": "cop2016032211000", "preNo": "B20160512000001882",
        "invtNo": "150120161000000001", "operatorCode": "1105910158", "rkdNo": "010220160308000008"}


@pytest.fixture(scope="module")
def schemas() -> dict[str, etree.XMLSchema]:
    if not all(p.is_file() for p in XSDS.values()):
        pytest.skip(f"the official CEB package is not at {CEB} (see its README): receipts not checked by the XSD")
    return {edition: etree.XMLSchema(etree.parse(str(p))) for edition, p in XSDS.items()}


@pytest.fixture(params=["sqlite", "postgresql"])
def any_engine(request, tmp_path: Path):
    """An engine on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url, schema_name = f"sqlite:///{tmp_path / 'cbec.db'}", None
    else:
        url, schema_name = pg_url_or_skip()
    try:
        upgrade(url)
        eng = Engine(Store(url), CbecSettings(deadline_s=60), clock=Clock())
        eng.warm_start()
        yield eng
        eng.log.close()
        eng.store.close()
    finally:
        if schema_name:
            drop_pg_schema(schema_name)


def assert_valid(xml: bytes, schemas: dict[str, etree.XMLSchema]) -> None:
    doc = etree.fromstring(xml)
    for edition, schema in schemas.items():
        assert schema.validate(doc), (edition, [e.message for e in schema.error_log], xml.decode())


def cases() -> list[Receipt]:
    """Every receipt kind x status, accepted (all keys), refused with the keys a refusal reads, without keys,
    with a guid that is not 36 characters, and with a long Chinese info full of XML-special characters."""
    long_info = ("ceb:Order/ceb:OrderHead/ceb:orderNo: 订单编号 <不合法> & \"太长\" 'x' " * 40)
    out = []
    for kind, status in itertools.product(RECEIPT_HEADS, sorted({*STATUS_NAMES, 1, 2})):
        out.append(Receipt(kind, GUID, status, "entered customs", T, dict(KEYS)))
        out.append(Receipt(kind, GUID, status, "ceb:Order/ceb:OrderHead/ceb:buyerName: missing mandatory field", T,
                           {"orderNo": "ORD-1", "copNo": "C1", "logisticsNo": "L1", "payTransactionId": "P1"}))
        out.append(Receipt(kind, GUID, status, "", T, {}))
        for guid in ("", "G-1", GUID + "X", "收" * 36):
            out.append(Receipt(kind, guid, status, "guid: not 36 characters", T, {"orderNo": "ORD-2"}))
        out.append(Receipt(kind, GUID, status, long_info, T, {**KEYS, "orderNo": "长" * 80, "preNo": "B1"}))
    return out


def test_every_receipt_kind_and_status_validates_against_both_official_xsds(schemas):
    receipts = cases()
    assert len(receipts) > 500
    for r in receipts:
        xml = emit_receipt(r)
        assert xml == emit_receipt_py(r), r  # the compiled writer and the Python reference: the same bytes
        assert_valid(xml, schemas)
    assert emit_receipts(receipts) == b"".join(map(emit_receipt_py, receipts))


def test_receipts_have_the_official_form():
    xml = emit_receipt(Receipt("CEB622", GUID, 800, "released", T, dict(KEYS)))
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<CEB622Message guid="')
    root = etree.fromstring(xml)
    assert root.tag == f"{{{NS}}}CEB622Message" and root.prefix is None  # the default namespace, no ceb:
    assert root.get("version") == "1.0" and root.get("guid") == GUID
    (ret,) = root
    assert [etree.QName(c).localname for c in ret] == [
        "guid", "customsCode", "ebpCode", "ebcCode", "agentCode", "copNo", "preNo", "invtNo", "returnStatus",
        "returnTime", "returnInfo"]
    values = {etree.QName(c).localname: c.text for c in ret}
    assert values["guid"] == GUID and values["preNo"] == KEYS["preNo"] and values["invtNo"] == KEYS["invtNo"]
    assert values["returnInfo"] == "[Code:2600;Desc:放行]" and values["returnTime"] == "20260309040000123"


@pytest.mark.parametrize("edition", ["2018", "202205"])
def test_the_layout_is_the_official_samples(edition, schemas):
    """Each official receipt sample, read back and written again: the same fields in the same order, valid."""
    for n in RECEIPT_SAMPLES:
        raw = (CEB / edition / "samples" / "import" / f"CEB{n}Message.xml").read_bytes()
        official = etree.fromstring(raw)
        got = parse_receipt(raw)
        assert len(got) == len(official) > 1, n  # every return of the message, not only the first
        first = official[0]
        r = got[0]
        assert r.kind == f"CEB{n}" and r.status == int(first.findtext(f"{{{NS}}}returnStatus"))
        ours = etree.fromstring(emit_receipt(r))
        assert_valid(emit_receipt(r), schemas)
        names = [etree.QName(c).localname for c in first]
        assert [etree.QName(c).localname for c in ours[0]] == names, n
        for c in ours[0]:
            name = etree.QName(c).localname
            if name not in ("returnInfo", "returnTime"):
                assert c.text == (first.findtext(f"{{{NS}}}{name}") or "").strip(), (n, name)


def test_a_refusal_carries_the_senders_keys_and_a_conformant_preno(schemas):
    err = CebError([("ceb:Inventory/ceb:InventoryHead/ceb:grossWeight", "missing mandatory field")], "CEB621",
                   "M" * 36, GUID, keys={"orderNo": "ORD-9", "copNo": "COP-9", "ebpCode": "1101980001",
                                         "logisticsNo": "LN-9", "agentCode": "1101980003"})
    r = Receipt(RECEIPT_KIND[err.kind], err.doc_guid, err.status, err.info, T, err.keys)
    values = dict(ceb_receipts.receipt_fields(r))
    assert values["copNo"] == "COP-9" and values["ebpCode"] == "1101980001" and values["agentCode"] == "1101980003"
    assert values["preNo"] == "0" * 18  # refused before the e-port numbered it: 18 zeros, never a real number
    assert values["returnInfo"].startswith("[Code:1301;Desc:报文校验不通过]ceb:Inventory/")
    assert_valid(emit_receipt(r), schemas)
    order = Receipt("CEB312", GUID, 100, "orderNo: missing mandatory field", T, {"ebpCode": "1101980001"})
    fields = ceb_receipts.receipt_fields(order)
    assert fields["orderNo"] == "-" and fields["ebcCode"] == "-"  # mandatory in the XSD, never sent: a placeholder
    assert_valid(emit_receipt(order), schemas)


def test_a_guid_that_is_not_36_characters_gets_a_receipt_guid_of_its_own(schemas):
    r = Receipt("CEB312", "G-1", 100, "guid: longer than 36", T, {"orderNo": "ORD-1", "ebpCode": "E1"})
    fields = ceb_receipts.receipt_fields(r)
    assert len(fields["guid"]) == 36 and fields["guid"] == fields["guid"].upper() and fields["guid"] != "G-1"
    assert fields["guid"] == ceb_receipts.receipt_fields(r)["guid"]  # the same receipt: the same guid
    assert fields["returnInfo"].endswith("[guid:G-1]") and fields["orderNo"] == "ORD-1"
    root = etree.fromstring(emit_receipt(r))
    assert root.get("guid") == fields["guid"]
    assert_valid(emit_receipt(r), schemas)


def test_return_info_is_official_chinese_within_1000_characters():
    assert return_info(800, "released") == "[Code:2600;Desc:放行]"
    assert return_info(1, "") == "暂存"
    assert return_info(120, "entered customs") == "[Code:1800;Desc:逻辑校验通过]"
    assert return_info(120, "duplicate message (same guid) already accepted; ignored").startswith("[Code:1801;")
    assert return_info(100, "annual CBEC quota of 26,000 CNY ... exceeded").startswith("[Code:1313;")
    assert return_info(100, "").startswith("[Code:1300;")
    assert return_info(-1, "could not be processed: x").startswith("[Code:-1;")
    long = return_info(100, "ceb:x: " + "中&<>\"" * 400 + "\x01\ud800")
    assert len(long) == RETURN_INFO_MAX and "\x01" not in long
    last = Receipt("CEB622", GUID, 100, "ceb:x: " + "a" * 994 + "&<", T, dict(KEYS))
    back = parse_receipt(emit_receipt(last))[0]  # cut before escaping: never inside an escape
    assert len(back.info) == RETURN_INFO_MAX and back.info.endswith("a")


def test_the_json_form_gives_the_chinese_text_and_the_english_reason():
    r = Receipt("CEB622", GUID, 500, "held for inspection", T, dict(KEYS))
    j = receipt_json(r)
    assert j["returnInfo"] == "[Code:2500;Desc:查验]" and j["returnInfoEn"] == "held for inspection"
    assert j["preNo"] == KEYS["preNo"] and j["type"] == "CEB622" and j["statusName"] == "inspection"


def test_parse_receipt_reads_every_return_and_refuses_non_receipts():
    two = emit_receipt(Receipt("CEB412", GUID, 120, "", T, dict(KEYS)))
    assert [r.keys["payTransactionId"] for r in parse_receipt(two)] == ["P0321000433"]
    with pytest.raises(CebError):
        parse_receipt(b"<CEB311Message xmlns='http://www.chinaport.gov.cn/ceb'/>")
    with pytest.raises(CebError):
        parse_receipt(b"<not xml")


def test_the_xsd_check_refuses_a_bad_receipt(schemas):
    bad = emit_receipt(Receipt("CEB622", GUID, 800, "released", T, dict(KEYS))).replace(
        b"<preNo>B20160512000001882</preNo>", b"")
    with pytest.raises(ReceiptInvalid, match="preNo|invtNo"):
        validate_receipt(bad, schemas.values())


def test_the_engine_answers_refused_documents_with_their_keys_and_no_invented_type(any_engine):
    engine = any_engine
    refused = CebError([("ceb:Order/ceb:OrderHead/ceb:buyerName", "missing mandatory field")], "CEB311",
                       GUID, GUID, keys={"orderNo": "ORD-7", "ebpCode": "1101980001", "ebcCode": "1101980002"})
    unreadable = CebError([("", "unknown root element CEB999Message")], None, None, None)
    res = engine.process([refused, unreadable])
    (r,) = res.receipts
    assert r.kind == "CEB312" and r.status == 100 and r.keys["orderNo"] == "ORD-7"
    assert [(u.at, u.info) for u in res.unreadable] == [(1, ": unknown root element CEB999Message")]
    rows = engine.store.execute("SELECT msg_type, info FROM cbec_rejection ORDER BY id").fetchall()
    assert [row[0] for row in rows] == ["CEB311", None]  # the unreadable message is still on record
    assert parse_receipt(emit_receipt(r))[0].keys["orderNo"] == "ORD-7"


def test_the_api_refuses_an_unreadable_message_with_a_problem(sqlite_world, samples):
    with TestClient(create_app(sqlite_world.platform)) as c:
        h = {"X-API-Key": sqlite_world.keys["trader"], "Content-Type": "application/xml"}
        junk = b'<?xml version="1.0"?><Foo guid="x"/>'
        r = c.post("/api/v1/cbec/messages", content=samples["order"] + junk, headers=h)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["errors"][0]["field"] == f"messages[1] (byte {len(samples['order'])})"
    assert [x["type"] for x in body["receipts"]] == ["CEB312"]  # the readable one was answered
    assert "CEB900" not in r.text


def test_the_cli_names_an_unreadable_message_and_exits_cleanly(tmp_path: Path, samples) -> None:
    stream = tmp_path / "msgs.xml"
    junk = b'<?xml version="1.0"?><Foo guid="x"/>\n'
    stream.write_bytes(samples["order"] + junk + samples["payment"])
    out = tmp_path / "receipts.xml"
    run = subprocess.run([sys.executable, "-m", "smartcustoms.cli", "cbec", "ingest", str(stream), "--db",
                          f"sqlite:///{tmp_path / 'c.db'}", "--workers", "2", "--receipts", str(out), "--json"],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr, run.stderr  # no Pool.__del__ at exit
    assert f"error: {stream.resolve()}:{len(samples['order'])}: unreadable CEB message" in run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1])["unreadable_messages"] == 1
    parts = [b"<?xml" + p for p in out.read_bytes().split(b"<?xml")[1:]]
    assert sorted(parse_receipt(p)[0].kind for p in parts) == ["CEB312", "CEB412"]


def test_every_document_kind_has_a_receipt_kind():
    assert set(RECEIPT_KIND.values()) == set(RECEIPT_HEADS) == set(RECEIPT_FIELDS)
    assert "CEB900" not in RECEIPT_HEADS


@pytest.mark.parametrize("edition", ["2018", "202205"])
def test_the_receipts_of_the_official_samples_flow_validate(edition, schemas, any_engine):
    """The official 311/411/511/621 samples through the engine: every receipt it answers validates."""
    from smartcustoms.cbec.engine import parse_batch

    raws = [(CEB / edition / "samples" / "import" / f"CEB{n}Message.xml").read_bytes() for n in (311, 411, 511, 621)]
    res = any_engine.process(parse_batch(raws), force_deadline=True)
    assert res.receipts and not res.unreadable
    assert {r.kind for r in res.receipts} >= {"CEB312", "CEB412", "CEB512", "CEB622"}
    for r in res.receipts:
        assert len(ceb_receipts.receipt_fields(r)["guid"]) == 36
        assert_valid(emit_receipt(r), schemas)
