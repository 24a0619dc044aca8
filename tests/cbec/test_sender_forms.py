"""The forms real senders use (BOM, GBK, default namespace, other prefixes, CDATA, CRLF, ds:Signature) on both
parser paths, the official samples on the compiled fast path, and an answer per document of a message."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from smartcustoms.cbec import framing
from smartcustoms.cbec.ceb import parse as ceb_parse
from smartcustoms.cbec.ceb.emit import emit_message
from smartcustoms.cbec.ceb.spec import NS, ORDER, CebError, Document
from smartcustoms.cbec.engine import parse_batch
from smartcustoms.cbec.simulate import make_parcel
from tests.support import CEB_DIR

CEB = CEB_DIR
EDITIONS = ("2018", "202205")
KINDS = ("311", "411", "511", "621")
DSIG = b"http://www.w3.org/2000/09/xmldsig#"
BOM = b"\xef\xbb\xbf"


def official(edition: str, kind: str) -> bytes:
    path = CEB / edition / "samples" / "import" / f"CEB{kind}Message.xml"
    if not path.is_file():
        pytest.skip(f"official CEB sample not found at {path} (see the issue: ../shared/data/ceb)")
    return path.read_bytes()


def answers(data: bytes) -> list:
    """Both paths' answer per document of ``data``, checked to be the same; whole-message refusals raise."""
    items = ceb_parse.parse_items(data)
    reference = ceb_parse.parse_items_lxml(data)
    assert [_plain(x) for x in items] == [_plain(x) for x in reference]
    return items


def _plain(x: Document | CebError) -> object:
    return (x.problems, x.kind, x.message_guid, x.doc_guid, x.status, x.keys) if isinstance(x, CebError) else x


def parcel_docs(order_no: str) -> dict:
    return make_parcel(order_no, rng=random.Random(order_no),
                       items=[("3304990099", "面霜 Face cream", "011", Decimal("150.00"), 2)])


# ---------------------------------------------------------------------------- the official samples
@pytest.mark.parametrize("edition", EDITIONS)
@pytest.mark.parametrize("kind", KINDS)
def test_official_samples_take_the_fast_path_and_match_lxml(edition, kind):
    data = official(edition, kind)
    assert b"<ds:Signature" in data  # signed, as published
    docs = ceb_parse._FAST.documents(data)
    assert docs is not None, "the compiled scanner declined an official sample"
    assert docs == ceb_parse.parse_message_lxml(data)
    assert ceb_parse._FAST.encode(data) == ceb_parse.parse_batch_encoded_lxml([data])[0].payloads
    assert len(docs) > 1 and all(d.kind == f"CEB{kind}" for d in docs)  # the samples batch several documents


def test_the_bom_of_the_official_order_sample_is_part_of_the_message():
    data = official("2018", "311")
    assert data.startswith(BOM)
    stream = data + b"\n" + data + data  # the second and third messages start with their BOM
    parts = ceb_parse.split_stream(stream)
    assert [off for off, _m in parts] == [0, len(data) + 1, 2 * len(data) + 1]
    for _off, msg in parts:
        assert msg.lstrip(b"\n").startswith(BOM + b"<?xml")
        assert len(answers(msg)) == 6


# ---------------------------------------------------------------------------- sender forms
def _forms(raw: bytes) -> dict[str, tuple[bytes, bool]]:
    """``{form: (message, read by the compiled scanner)}`` of a plain ``ceb:``-prefixed message."""
    sig = re.search(rb"<ds:Signature .*?</ds:Signature>", official("2018", "411"), re.S)
    assert sig is not None
    signature = sig.group(0)
    root_end = re.search(rb"</ceb:(CEB\d{3}Message)>", raw)
    assert root_end is not None
    signed = raw[:root_end.start()] + signature + b"\n" + raw[root_end.start():]
    default_ns = re.sub(rb"<(/?)ceb:", rb"<\1", raw).replace(b"xmlns:ceb=", b"xmlns=")
    jaxb = (re.sub(rb"<(/?)ceb:", rb"<\1ns2:", raw)
            .replace(b"xmlns:ceb=", b'xmlns="' + DSIG + b'" xmlns:ns2='))
    jaxb = jaxb.replace(b"</ns2:CEB", re.sub(rb"(</?)ds:", rb"\1", signature).replace(
        b' xmlns:ds="' + DSIG + b'"', b"") + b"</ns2:CEB")
    text = raw.decode("utf-8")
    gbk = text.replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk")
    gb2312 = text.replace('encoding="UTF-8"', 'encoding="GB2312"').encode("gb18030")
    cdata = re.sub(rb"(<ceb:(\w+)>)([^<&]+)(</ceb:\2>)", rb"\1<![CDATA[\3]]>\4", raw)
    forms = {
        "plain": (raw, True),
        "BOM": (BOM + raw, True),
        "CRLF": (raw.replace(b"\n", b"\r\n"), True),
        "default namespace": (default_ns, True),
        "ns2 prefix": (raw.replace(b"ceb:", b"ns2:").replace(b"xmlns:ceb=", b"xmlns:ns2="), True),
        "ds:Signature": (signed, True),
        "BOM, CRLF, default namespace, signature": (
            BOM + re.sub(rb"<(/?)ceb:", rb"<\1", signed).replace(b"xmlns:ceb=", b"xmlns=").replace(b"\n", b"\r\n"),
            True),
        "JAXB (ns2:, XML-DSig as the default namespace)": (jaxb, True),
        "GBK": (gbk, False),
        "GB2312": (gb2312, False),
        "CDATA": (cdata, False),
    }
    assert cdata.count(b"<![CDATA[") > 10
    return forms


def _sample_messages() -> list[bytes]:
    docs = parcel_docs("FORMS-1")
    out = [emit_message(kind, g, [(head, lines)], base) for kind, (g, head, lines, base) in docs.items()]
    return out + [official(edition, kind) for edition in EDITIONS for kind in KINDS]


def test_every_sender_form_gives_the_documents_of_the_plain_form():
    for raw in _sample_messages():
        if raw.startswith(BOM):
            raw = raw[len(BOM):]
        expected = ceb_parse.parse_message_lxml(raw)
        assert expected and all(isinstance(d, Document) for d in expected)
        for form, (data, fast) in _forms(raw).items():
            assert answers(data) == expected, form
            assert ceb_parse.parse_message(data) == expected, form
            assert (ceb_parse._FAST.documents(data) is not None) is fast, form
            payloads = ceb_parse.parse_batch_encoded([data])[0].payloads
            assert payloads == ceb_parse.parse_batch_encoded_lxml([data])[0].payloads, form


def test_gbk_text_is_read_as_the_same_characters():
    raw = _sample_messages()[0]
    [doc] = ceb_parse.parse_message(raw.decode().replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk"))
    assert doc.lines[0]["itemName"] == "面霜 Face cream"
    # declared UTF-8 but GBK bytes: refused as malformed, naming the message, never a traceback
    with pytest.raises(CebError) as exc:
        ceb_parse.parse_items(raw.decode().encode("gbk"))
    assert exc.value.kind == ORDER and "malformed XML" in exc.value.info


def test_a_signature_is_skipped_only_when_it_is_well_formed_xml_dsig():
    raw = _sample_messages()[0]
    good = raw.replace(b"</ceb:BaseTransfer>", b'</ceb:BaseTransfer><ds:Signature xmlns:ds="' + DSIG
                       + b'"><ds:SignatureValue>AB+/=</ds:SignatureValue></ds:Signature>')
    assert ceb_parse._FAST.documents(good) == ceb_parse.parse_message_lxml(raw)
    for bad in (good.replace(b"</ds:SignatureValue>", b"</ds:SignatureValu>"),  # malformed: refused by both
                good.replace(b"AB+/=", b"A&bogus;B")):
        assert ceb_parse._FAST.documents(bad) is None
        with pytest.raises(CebError, match="malformed XML"):
            ceb_parse.parse_items(bad)
    other = good.replace(DSIG, b"urn:not-xmldsig")  # another namespace: the reference path reads it
    assert ceb_parse._FAST.documents(other) is None
    assert ceb_parse.parse_message(other) == ceb_parse.parse_message_lxml(raw)


# ---------------------------------------------------------------------------- an answer per document
def _spoil(data: bytes, index: int, field: str, value: bytes) -> bytes:
    """``data`` with ``field`` of its ``index``-th (0-based) occurrence set to ``value``."""
    matches = list(re.finditer(rb"<ceb:" + field.encode() + rb">[^<]*</ceb:" + field.encode() + rb">", data))
    m = matches[index]
    tag = field.encode()
    return data[:m.start()] + b"<ceb:" + tag + b">" + value + b"</ceb:" + tag + b">" + data[m.end():]


@pytest.mark.parametrize("edition", EDITIONS)
def test_one_bad_document_is_refused_alone(edition):
    data = _spoil(official(edition, "311"), 2, "goodsValue", b"12,50")
    assert ceb_parse._FAST.documents(data) is None  # refused documents are named by the reference path
    items = answers(data)
    assert [type(x).__name__ for x in items] == ["Document"] * 2 + ["CebError"] + ["Document"] * 3
    bad = items[2]
    assert bad.kind == ORDER and bad.status == 100
    assert bad.problems == [("ceb:Order[3]/ceb:OrderHead/ceb:goodsValue",
                             "not a plain decimal of at most 14 integer and 5 decimal digits '12,50'")]
    assert bad.doc_guid == "4CDE1CFD-EDED-46B1-946C-B8022E42FC94"
    assert bad.message_guid == re.search(rb'Message guid="([^"]+)"', data).group(1).decode()
    assert set(bad.keys) >= {"orderNo", "ebpCode", "ebcCode"} and bad.keys["orderNo"] in data.decode()
    # the payload form carries the refusal in its place; the strict form refuses the message naming it
    [encoded] = ceb_parse.parse_batch_encoded([data])
    assert [type(p).__name__ for p in encoded.payloads] == ["bytes"] * 2 + ["CebError"] + ["bytes"] * 3
    assert _plain(encoded.payloads[2]) == _plain(bad)
    [batch] = ceb_parse.parse_batch_documents([data])
    assert [_plain(x) for x in batch] == [_plain(x) for x in items]
    with pytest.raises(CebError) as exc:
        ceb_parse.parse_message(data)
    assert exc.value.problems == bad.problems


def test_document_problems_stay_with_their_document():
    docs = [parcel_docs(f"MULTI-{i}")[ORDER] for i in range(4)]
    heads = [dict(d[1]) for d in docs]
    heads[1].pop("buyerName")  # a mandatory field missing
    heads[3]["orderNo"] = "X" * 61  # too long: not a key the receipt can carry
    data = emit_message(ORDER, docs[0][0], [(h, d[2]) for h, d in zip(heads, docs, strict=True)], docs[0][3])
    items = answers(data)
    assert [isinstance(x, Document) for x in items] == [True, False, True, False]
    assert items[1].problems == [("ceb:Order[2]/ceb:OrderHead/ceb:buyerName", "missing mandatory field")]
    assert items[1].keys["orderNo"] == "MULTI-1"
    assert items[3].problems[0][0] == "ceb:Order[4]/ceb:OrderHead/ceb:orderNo" and "orderNo" not in items[3].keys
    # a document without its head, or with more lines than the XSD allows, is refused alone too
    no_head = re.sub(rb"<ceb:OrderHead>.*?</ceb:OrderHead>", b"", data, count=1, flags=re.S)
    assert [isinstance(x, Document) for x in answers(no_head)] == [False, False, True, False]
    assert answers(no_head)[0].problems == [("ceb:Order[1]/ceb:OrderHead", "missing mandatory element")]
    line = re.search(rb"<ceb:OrderList>.*?</ceb:OrderList>", data, re.S).group(0)
    many = data.replace(line, line * 100, 1)
    assert answers(many)[0].problems == [("ceb:Order[1]/ceb:OrderList", "more than 99 elements (100)")]


def test_a_message_that_cannot_be_read_as_a_whole_is_one_refusal():
    g, head, lines, base = parcel_docs("WHOLE-1")[ORDER]
    data = emit_message(ORDER, g, [(head, lines), (dict(head, guid=head["guid"][:-1] + "X"), lines)], base)
    assert len(answers(data)) == 2
    no_base = re.sub(rb"<ceb:BaseTransfer>.*</ceb:BaseTransfer>", b"", data, flags=re.S)
    with pytest.raises(CebError) as exc:
        ceb_parse.parse_items(no_base)
    assert exc.value.problems[0] == ("ceb:BaseTransfer", "missing mandatory element")
    assert exc.value.doc_guid == head["guid"] and exc.value.keys["orderNo"] == "WHOLE-1"
    too_many = emit_message(ORDER, g, [(head, lines)] * 101, base)
    with pytest.raises(CebError) as exc:
        ceb_parse.parse_items(too_many)
    assert ("ceb:Order", "more than 100 documents (101)") in exc.value.problems
    assert ceb_parse._FAST.documents(too_many) is None
    assert ceb_parse._FAST.documents(emit_message(ORDER, g, [(head, lines)] * 100, base)) is not None


def test_the_json_form_answers_per_document_too():
    g, head, lines, base = parcel_docs("JSON-1")[ORDER]
    obj = {"type": ORDER, "guid": g, "baseTransfer": base,
           "documents": [{"head": head, "lines": lines}, {"head": dict(head, freight="-1"), "lines": lines}]}
    first, second = ceb_parse.parse_any_items(obj)
    assert isinstance(first, Document) and isinstance(second, CebError)
    assert second.problems[0][0] == "ceb:Order[2]/ceb:OrderHead/ceb:freight" and second.keys["orderNo"] == "JSON-1"
    with pytest.raises(CebError):
        ceb_parse.parse_any(obj)


def test_the_engine_answers_each_document(engine):
    docs = [parcel_docs(f"ENG-{i}") for i in range(3)]
    orders = [d[ORDER] for d in docs]
    heads = [dict(o[1]) for o in orders]
    heads[1]["currency"] = "XXX"
    message = emit_message(ORDER, orders[0][0], [(h, o[2]) for h, o in zip(heads, orders, strict=True)], orders[0][3])
    res = engine.process(parse_batch([message]))
    by_guid = {r.guid: r for r in res.receipts}
    assert len(res.receipts) == 3 and res.accepted_messages == 2 and res.rejected_messages == 1
    assert by_guid[heads[0]["guid"]].status == 120 and by_guid[heads[2]["guid"]].status == 120
    refused = by_guid[heads[1]["guid"]]
    assert refused.status == 100 and "ceb:Order[2]/ceb:OrderHead/ceb:currency" in refused.info
    rows = engine.store.execute("SELECT guid, msg_type, status FROM cbec_rejection").fetchall()
    assert [tuple(r) for r in rows] == [(heads[1]["guid"], ORDER, 100)]
    # the same through the worker form (payloads), as `cbec ingest --workers` runs it
    again = engine.process(ceb_parse.parse_batch_encoded([message]))
    assert sorted(r.status for r in again.receipts) == [100, 120, 120]  # the two accepted ones are duplicates now
    assert again.duplicates == 2


# ---------------------------------------------------------------------------- framing
def test_streams_of_messages_with_boms_split_and_route_alike(tmp_path):
    messages = []
    for i in range(12):
        kind_docs = parcel_docs(f"BOM-{i}")
        for kind, (g, head, lines, base) in kind_docs.items():
            raw = emit_message(kind, g, [(head, lines)], base)
            messages.append(BOM + raw if i % 2 else raw)
    stream = b"".join(messages)
    path = tmp_path / "stream.xml"
    path.write_bytes(stream)
    expected = [(off, m) for off, m in ceb_parse.split_stream(stream)]
    assert [m for _o, m in expected] == messages
    assert [(s, m) for s, _e, m in framing.iter_stream(path, block=4096)] == expected
    for shards in (1, 2, 3):
        got: list[bytes] = []
        for shard in range(shards):
            for chunk in framing.chunks_of_file(path, 0, 7, shard, shards, block=4096):
                got += chunk.raws
        assert sorted(got) == sorted(messages)
        for split in (framing._splitter(), framing._split_route_py):
            for final in (True, False):
                found, cut = split(stream, shards, 0, final)
                ends = {s for s, _e, _every in found}
                assert all(stream[s:s + 3] == BOM or stream[s:s + 5] == b"<?xml" for s in ends)
                assert cut == (len(stream) if final else len(stream) - len(messages[-1]))
    for msg in messages:
        assert all(isinstance(d, Document) for d in ceb_parse.parse_items(msg))
    assert ceb_parse.parse_items(messages[1])[0].message_guid  # a message with a BOM reads on the fast path
    assert ceb_parse._FAST.documents(messages[5]) is not None and messages[5].startswith(BOM)
    assert NS.encode() in messages[0]


def test_two_shards_answer_each_document_of_a_shared_message_once(db_url, clock, tmp_path):
    """A message with several order numbers goes to every shard; each answers its own documents, a refused
    one included (by the shard its order number routes to), in both parse forms."""
    from smartcustoms.cbec.engine import Engine
    from smartcustoms.cbec.log import route
    from smartcustoms.cbec.store import Store
    from smartcustoms.core.config import CbecSettings

    orders = [parcel_docs(f"SHARED-{i}")[ORDER] for i in range(6)]
    heads = [dict(o[1]) for o in orders]
    heads[4]["goodsValue"] = "abc"
    message = BOM + emit_message(ORDER, orders[0][0], [(h, o[2]) for h, o in zip(heads, orders, strict=True)],
                                 orders[0][3])
    path = tmp_path / "shared.xml"
    path.write_bytes(message)
    assert {route(h["orderNo"], 2) for h in heads} == {0, 1}
    answered: dict[str, int] = {}
    for shard in (0, 1):
        eng = Engine(Store(db_url), CbecSettings(deadline_s=60), clock=clock, shard=shard, shards=2)
        eng.warm_start()
        [chunk] = list(framing.chunks_of_file(path, 0, 10, shard, 2))
        assert chunk.raws == [message] and chunk.every == [True]
        parsed = parse_batch(chunk.raws) if shard == 0 else ceb_parse.parse_batch_encoded(chunk.raws)
        res = eng.process(parsed, every=chunk.every)
        for r in res.receipts:
            assert r.guid not in answered
            answered[r.guid] = r.status
            assert route(next(h["orderNo"] for h in heads if h["guid"] == r.guid), 2) == shard
        eng.log.close()
        eng.store.close()
    assert answered == {h["guid"]: 100 if i == 4 else 120 for i, h in enumerate(heads)}


def test_a_gbk_message_is_routed_by_its_decoded_order_number(tmp_path):
    """The router hashes raw bytes; an order number in GBK (or any non-ASCII bytes) sends the message to every
    shard, where each keeps the documents whose decoded order number routes to it."""
    g, head, lines, base = parcel_docs("GBK-1")[ORDER]
    head = dict(head, orderNo="订单-GBK-1")
    raw = emit_message(ORDER, g, [(head, lines)], base).decode().replace('encoding="UTF-8"', 'encoding="GBK"')
    data = raw.encode("gbk")
    assert ceb_parse.parse_message(data)[0].head["orderNo"] == "订单-GBK-1"
    for split in (framing._splitter(), framing._split_route_py):
        for shard in (0, 1):
            found, _cut = split(data, 2, shard, True)
            assert found == [(0, len(data), True)]
