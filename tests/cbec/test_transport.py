"""The DXP transport envelope (``ceb/transport.py``) and the CEB900 format-check receipt: official samples of
every import message in envelopes through the parser, the CLI's ingest (one writer and two shards) and the API;
malformed envelopes refused naming the field; every CEB900 validated against both official import XSDs, every
test envelope against the official terminal-node XSD."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from lxml import etree

from smartcustoms.cbec import framing
from smartcustoms.cbec.ceb.receipts import Receipt, emit_receipt, emit_receipts, parse_receipt, receipt_json
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.ceb.transport import (
    EnvelopeError,
    envelope_refusal,
    inner_message_type,
    is_envelope,
    open_envelopes,
    unreadable_receipt,
    unwrap,
)
from smartcustoms.cbec.engine import Engine, parse_batch
from smartcustoms.cbec.runner import ingest_path, ingest_sharded
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.web.app import create_app
from tests.support import CEB_DIR

CEB = CEB_DIR
IMPORT_XSD = {"2018": "进口业务节点报文.xsd", "202205": "海关跨境进口业务节点报文定义202205.xsd"}
TERMINAL_XSD = {"2018": "终端节点报文.xsd", "202205": "海关跨境终端节点报文定义202205.xsd"}
IMPORT_KINDS = ("CEB311", "CEB411", "CEB511", "CEB513", "CEB621", "CEB623", "CEB625", "CEB711")
needs_official = pytest.mark.skipif(not CEB.is_dir(), reason=f"official CEB files absent: {CEB} (see issue #16)")
_SCHEMAS: dict[str, etree.XMLSchema] = {}


def schema(edition: str, kind: str = "import") -> etree.XMLSchema:
    name = (IMPORT_XSD if kind == "import" else TERMINAL_XSD)[edition]
    if name not in _SCHEMAS:
        _SCHEMAS[name] = etree.XMLSchema(etree.parse(str(CEB / edition / "xsd" / name)))
    return _SCHEMAS[name]


def envelope(data: bytes, cop: str = "COP-0001", sender: str = "DXPENT0000458763", msg_type: str = "CEB311Message",
             wrap: bool = True, extra: str = "") -> bytes:
    """A DxpMsg as the e-port's client writes it (Data base64, line-wrapped with CRLF when ``wrap``)."""
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n") if wrap else base64.b64encode(data).decode()
    return (f'<?xml version="1.0" encoding="UTF-8"?>\r\n<DxpMsg ver="1.0" xmlns="http://www.chinaport.gov.cn/dxp" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><TransInfo><CopMsgId>{cop}</CopMsgId>'
            f"<SenderId>{sender}</SenderId><ReceiverIds><ReceiverId>DXPEDCCEB0000002</ReceiverId></ReceiverIds>"
            f"<CreatTime>2026-03-15T10:00:00</CreatTime><MsgType>{msg_type}</MsgType></TransInfo>"
            f"<Data>{b64}</Data><AddInfo><FileName>{cop}.xml</FileName>{extra}</AddInfo></DxpMsg>").encode()


def official(kind: str, edition: str) -> bytes:
    return (CEB / edition / "samples" / "import" / f"{kind}Message.xml").read_bytes()


def comparable(answers: object) -> object:
    if isinstance(answers, CebError):
        return ("error", answers.info)
    return [("error", a.info) if isinstance(a, CebError) else (a.kind, a.guid, a.head, a.lines)
            for a in answers]  # type: ignore[attr-defined]


def assert_format_check_valid(r: Receipt) -> None:
    xml = etree.fromstring(emit_receipt(r))
    for edition in IMPORT_XSD:
        assert schema(edition).validate(xml), (edition, schema(edition).error_log.last_error)


# ---------------------------------------------------------------------------- the envelope
@needs_official
@pytest.mark.parametrize("edition", ["2018", "202205"])
@pytest.mark.parametrize("kind", IMPORT_KINDS)
def test_an_official_sample_in_an_envelope_parses_as_it_does_bare(kind: str, edition: str) -> None:
    raw = official(kind, edition)  # BOM, signature, several documents as published
    env = envelope(raw, cop=f"{kind}-{edition}", msg_type=f"{kind}Message")
    for e in TERMINAL_XSD:  # what we test with is what the e-port's XSD defines
        assert schema(e, "terminal").validate(etree.fromstring(env)), schema(e, "terminal").error_log.last_error
    assert is_envelope(env) and not is_envelope(raw)
    opened = unwrap(env)
    assert opened.data == raw and opened.cop_msg_id == f"{kind}-{edition}"
    assert opened.sender_id == "DXPENT0000458763" and opened.receiver_ids == ("DXPEDCCEB0000002",)
    assert opened.msg_type == f"{kind}Message" and opened.file_name == f"{kind}-{edition}.xml"
    assert inner_message_type(opened.data) == f"{kind}Message"
    batch = open_envelopes([env, raw])
    assert batch.positions == [0, 1] and batch.raws == [raw, raw] and not batch.errors
    wrapped, bare = parse_batch(batch.raws)
    assert comparable(wrapped) == comparable(bare)


BAD = [
    (lambda e: e.replace(b"</DxpMsg>", b""), "DxpMsg", "malformed XML"),
    (lambda e: e.replace(b"http://www.chinaport.gov.cn/dxp", b"urn:other"), "DxpMsg", "namespace"),
    (lambda e: e.replace(b' ver="1.0"', b""), "DxpMsg/@ver", "not 1.0"),
    (lambda e: e.replace(b"<CopMsgId>COP-0001</CopMsgId>", b""), "DxpMsg/TransInfo/CopMsgId", "missing"),
    (lambda e: e.replace(b"COP-0001", b"C" * 256), "DxpMsg/TransInfo/CopMsgId", "length 256"),
    (lambda e: e.replace(b"DXPENT0000458763", b"DXPENT00004587631"), "DxpMsg/TransInfo/SenderId", "length 17"),
    (lambda e: e.replace(b"<ReceiverId>DXPEDCCEB0000002</ReceiverId>", b"<ReceiverId>R</ReceiverId>" * 6),
     "DxpMsg/TransInfo/ReceiverIds", "1 to 5"),
    (lambda e: e.replace(b"2026-03-15T10:00:00", b"20260315100000"), "DxpMsg/TransInfo/CreatTime", "xs:dateTime"),
    (lambda e: e.replace(b"<MsgType>CEB311Message</MsgType>", b"<MsgType>" + b"M" * 31 + b"</MsgType>"),
     "DxpMsg/TransInfo/MsgType", "length 31"),
    (lambda e: e.replace(b"<Data>", b"<Data>%%"), "DxpMsg/Data", "not base64: character '%'"),
    (lambda e: e.replace(b"\r\n</Data>", b"A</Data>"), "DxpMsg/Data", "not base64"),
    (lambda e: e[:e.index(b"<Data>") + 6] + e[e.index(b"</Data>"):], "DxpMsg/Data", "empty"),
    (lambda e: e.replace(b"<AddInfo>", b"<Extra/><AddInfo>"), "DxpMsg", "unexpected elements"),
]


@pytest.mark.parametrize(("mutate", "field", "reason"), BAD)
def test_a_malformed_envelope_is_refused_naming_the_field(samples, mutate, field: str, reason: str) -> None:
    bad = mutate(envelope(samples["order"]))
    assert is_envelope(bad)
    with pytest.raises(EnvelopeError) as exc:
        unwrap(bad)
    assert exc.value.field == field and reason in exc.value.reason, str(exc.value)
    opened = open_envelopes([samples["payment"], bad])
    assert opened.raws == [samples["payment"]] and opened.positions == [0] and list(opened.errors) == [1]


def test_data_is_bounded(samples) -> None:
    env = envelope(samples["order"])
    with pytest.raises(EnvelopeError, match="exceed the limit of 100"):
        unwrap(env, max_data_chars=100)
    assert unwrap(env, max_data_chars=len(env)).data == samples["order"]


# ---------------------------------------------------------------------------- CEB900
@needs_official
def test_ceb900_receipts_validate_and_read_back(samples) -> None:
    now = 1_773_540_000_123
    bad = envelope(samples["order"], cop="COP-&amp;&lt;&gt;-0001").replace(b"<Data>", b"<Data>!")
    with pytest.raises(EnvelopeError) as exc:
        unwrap(bad)
    refusal = envelope_refusal(exc.value, now)
    env = unwrap(envelope(b'<?xml version="1.0"?><CEB999Message guid="x"/>', cop="COP-0002"))
    unreadable = unreadable_receipt(env, "unknown message type CEB999Message " + "长" * 6000, now)
    for r in (refusal, unreadable):
        assert_format_check_valid(r)
        [back] = parse_receipt(emit_receipt(r))
        assert (back.kind, back.guid, back.status, back.time_ms) == ("CEB900", r.guid, -1, now)
        assert back.info.startswith("[Code:0001;Desc:报文格式错误]") and len(back.info) <= 5000
    assert parse_receipt(emit_receipt(refusal))[0].keys["oriCopMsgId"] == "COP-&<>-0001"
    assert parse_receipt(emit_receipt(unreadable))[0].keys == {
        "oriCopMsgId": "COP-0002", "oriMessageType": "CEB999Message",
        "oriBizMessage": base64.b64encode(env.data).decode()}
    assert receipt_json(unreadable)["returnInfoEn"].startswith("unknown message type")
    assert emit_receipts([refusal, unreadable]) == emit_receipt(refusal) + emit_receipt(unreadable)


# ---------------------------------------------------------------------------- the CLI's ingest
def _stream(samples: dict[str, bytes], bad: bool = True) -> bytes:
    parts = [envelope(samples[k], cop=f"COP-{k}") for k in ("order", "payment", "waybill", "inventory")]
    if bad:
        parts.insert(1, envelope(samples["order"], cop="COP-BAD").replace(b"<Data>", b"<Data>*"))
        parts.insert(3, envelope(b"<?xml version=\"1.0\"?><nothing/>", cop="COP-UNREADABLE"))
    return b"".join(parts)


def test_ingest_opens_envelopes_and_answers_bad_ones_with_ceb900(db_url: str, samples, tmp_path: Path) -> None:
    stream = tmp_path / "dxp.xml"
    stream.write_bytes(_stream(samples))
    engine = Engine(Store(db_url), CbecSettings(accept_unsigned=True))
    engine.warm_start()
    out: list[Receipt] = []
    stats = ingest_path(engine, stream, workers=0, batch_size=2, sink=out.extend)
    rejected = [r[0] for r in engine.store.execute("SELECT info FROM cbec_rejection ORDER BY id").fetchall()]
    assert len(rejected) == 2 and any("DxpMsg/Data: not base64" in r and "[CopMsgId:COP-BAD]" in r for r in rejected)
    engine.log.close()
    engine.store.close()
    assert stats.parcels == 1 and stats.status_counts[800] == 1
    assert [(u[2], u[3].split(":")[0]) for u in stats.unreadable] == [
        (None, "DXP envelope DxpMsg/Data"), (None, stats.unreadable[1][3].split(":")[0])]
    data = stream.read_bytes()
    assert [u[1] for u in stats.unreadable] == [data.index(b"<?xml", 1), data.index(b"<?xml", data.index(
        b"COP-UNREADABLE") - 700)]
    ceb900 = {r.keys["oriCopMsgId"]: r for r in out if r.kind == "CEB900"}
    assert set(ceb900) == {"COP-BAD", "COP-UNREADABLE"} and ceb900["COP-UNREADABLE"].keys["oriMessageType"] == "Unknown"
    for r in ceb900.values():
        assert_format_check_valid(r) if CEB.is_dir() else None
    assert sorted(r.kind for r in out if r.kind != "CEB900") == ["CEB312", "CEB412", "CEB512", "CEB622", "CEB622"]


def test_two_shards_route_enveloped_messages_to_every_shard(db_url: str, samples, tmp_path: Path) -> None:
    data = _stream(samples)
    for split in (framing._splitter(), framing._split_route_py):
        for shard in (0, 1):
            found, _ = split(data, 2, shard, True)
            assert [every for _s, _e, every in found] == [True] * 6  # the orderNo is inside the base64
    stream = tmp_path / "dxp.xml"
    stream.write_bytes(data)
    receipts = tmp_path / "receipts.xml"
    stats = ingest_sharded(db_url, stream, shards=2, batch_size=2, receipts=receipts)
    assert stats.parcels == 1 and stats.status_counts[800] == 1
    assert len(stats.unreadable) == 2  # each shard saw the bad ones, shard 0 alone answers them
    got = [parse_receipt(b"<?xml" + p)[0] for p in receipts.read_bytes().split(b"<?xml")[1:]]
    assert sorted(r.kind for r in got) == ["CEB312", "CEB412", "CEB512", "CEB622", "CEB622", "CEB900", "CEB900"]


def test_the_cli_names_a_bad_envelope_on_stderr(db_url: str, samples, tmp_path: Path) -> None:
    stream = tmp_path / "dxp.xml"
    stream.write_bytes(_stream(samples))
    receipts = tmp_path / "receipts.xml"
    run = subprocess.run([sys.executable, "-m", "smartcustoms.cli", "cbec", "ingest", str(stream), "--db", db_url,
                          "--workers", "0", "--receipts", str(receipts)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    errors = [ln for ln in run.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 2 and "DxpMsg/Data: not base64" in errors[0] and f"{stream.resolve()}:" in errors[0]
    kinds = [parse_receipt(b"<?xml" + p)[0].kind for p in receipts.read_bytes().split(b"<?xml")[1:]]
    assert kinds.count("CEB900") == 2 and kinds.count("CEB622") == 2


# ---------------------------------------------------------------------------- the API
@pytest.fixture
def client(sqlite_world):
    with TestClient(create_app(sqlite_world.platform)) as c:
        yield c, sqlite_world.keys


def test_the_api_takes_envelopes(client, samples) -> None:
    c, keys = client
    h = {"X-API-Key": keys["trader"], "Content-Type": "application/xml"}
    body = b"".join(envelope(samples[k], cop=f"COP-{k}") for k in ("order", "payment", "waybill", "inventory"))
    r = c.post("/api/v1/cbec/messages", content=body, headers=h)
    assert r.status_code == 200, r.text
    out = r.json()
    assert [x["type"] for x in out["receipts"]] == ["CEB312", "CEB412", "CEB512", "CEB622", "CEB622"]
    assert out["receipts"][-1]["returnStatus"] == "800"
    assert [(e["message"], e["copMsgId"], e["senderId"]) for e in out["envelopes"]] == [
        (i, f"COP-{k}", "DXPENT0000458763") for i, k in enumerate(("order", "payment", "waybill", "inventory"))]


def test_the_api_refuses_a_bad_envelope_with_a_problem_and_a_ceb900(client, samples) -> None:
    c, keys = client
    h = {"X-API-Key": keys["trader"], "Content-Type": "application/xml"}
    bad = envelope(samples["order"], cop="COP-BAD").replace(b"<SenderId>DXPENT0000458763</SenderId>", b"")
    unreadable = envelope(b"<?xml version=\"1.0\"?><CEB999Message/>", cop="COP-UNKNOWN")
    body = envelope(samples["payment"], cop="COP-PAY") + bad + unreadable
    r = c.post("/api/v1/cbec/messages", content=body, headers=h)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    second = body.index(b"<?xml", 1)
    assert problem["errors"][0] == {"field": f"messages[1] (byte {second})/DxpMsg/TransInfo/SenderId",
                                    "message": "missing mandatory element"}
    assert problem["errors"][1]["field"].startswith("messages[2] (byte ")
    kinds = [(x["type"], x.get("oriCopMsgId")) for x in problem["receipts"]]
    assert kinds == [("CEB412", None), ("CEB900", "COP-BAD"), ("CEB900", "COP-UNKNOWN")]
    assert problem["receipts"][2]["oriMessageType"] == "CEB999Message"
    assert problem["receipts"][1]["returnStatus"] == "-1"
