"""The segment message log, routing messages to writer shards, and sharded ingest."""

from __future__ import annotations

import os
import random
import zlib
from decimal import Decimal
from pathlib import Path

import pytest

from smartcustoms.cbec import _framing, _log
from smartcustoms.cbec.ceb.emit import emit_message
from smartcustoms.cbec.ceb.parse import parse_message
from smartcustoms.cbec.ceb.receipts import emit_receipts
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, WAYBILL
from smartcustoms.cbec.engine import Engine, parse_batch
from smartcustoms.cbec.framing import _split_route_py, chunks_of_file
from smartcustoms.cbec.log import Record, SegmentLog, route, stored_guids
from smartcustoms.cbec.runner import ingest_path, ingest_sharded
from smartcustoms.cbec.simulate import SimConfig, generate, make_parcel
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings

CREAM = ("3304990099", "Face cream", "011")


def parcel(order_no: str, i: int = 0) -> dict:
    buyer = (f"11010119900307{i:04d}", f"买家{i}", f"1390000{i:04d}", f"杭州市{i}号")
    return make_parcel(order_no, rng=random.Random(order_no), buyer=buyer, items=[(*CREAM, Decimal("150.00"), 2)])


def xml(docs: dict, kind: str) -> bytes:
    g, head, lines, base = docs[kind]
    return emit_message(kind, g, [(head, lines)], base)


def test_records_of_a_batch_that_never_committed_are_cut_on_restart(db_url, clock):
    store = Store(db_url)
    engine = Engine(store, clock=clock)
    engine.warm_start()
    p = parcel("C1")
    engine.process(parse_batch([xml(p, ORDER), xml(p, PAYMENT)]))
    log = engine.log
    assert isinstance(log, SegmentLog)
    committed_size = os.path.getsize(log.own.path)
    # a batch written to the file whose transaction dies with the process (no commit, no abort)
    q = parcel("C2", 1)
    doc = parse_message(xml(q, ORDER))[0]
    store.begin()
    log.write(store, [Record(doc, None, clock.t)])
    assert os.path.getsize(log.own.path) > committed_size
    store.conn.close()
    log.close()

    again = Engine(Store(db_url), clock=clock)
    again.warm_start()
    assert os.path.getsize(again.log.own.path) == committed_size
    assert sorted(stored_guids(again.store)) == sorted(d.guid for k in (ORDER, PAYMENT)
                                                       for d in parse_message(xml(p, k)))
    # the cut document is new again; the parcel's committed documents are still waiting for the rest
    res = again.process(parse_batch([xml(q, ORDER), xml(p, WAYBILL), xml(p, INVENTORY)]))
    assert res.duplicates == 0 and [d.status for d in res.decisions] == [800]


def test_a_rolled_back_batch_leaves_neither_records_nor_index_entries(engine, clock):
    p = parcel("R1")
    doc = parse_message(xml(p, ORDER))[0]
    log = engine.log
    size = os.path.getsize(log.own.path)
    engine.store.begin()
    log.write(engine.store, [Record(doc, None, clock.t)])
    assert os.path.getsize(log.own.path) > size and log.seen([(doc.kind, doc.guid)]) == set()  # indexed on commit only
    engine.store.rollback()
    log.aborted()
    assert log.seen([(doc.kind, doc.guid)]) == set() and log.load(("", ""), None) == {}
    assert os.path.getsize(log.own.path) == size
    res = engine.process(parse_batch([xml(p, ORDER)]))
    assert res.accepted_messages == 1 and res.duplicates == 0


def test_documents_are_read_back_by_key_latest_version_first(engine):
    p = parcel("V1")
    engine.process(parse_batch([xml(p, ORDER), xml(p, PAYMENT), xml(p, WAYBILL)]))
    g, head, lines, base = p[ORDER]
    newer = dict(head, appType="2", guid="V1-ORDER-V2-000000000000000000000000", consignee=head["consignee"])
    engine.process(parse_batch([emit_message(ORDER, "MSG-V2-00000000000000000000000000000", [(newer, lines)], base)]))
    docs = engine.log.load((head["ebpCode"], "V1"), (p[WAYBILL][1]["logisticsCode"], p[WAYBILL][1]["logisticsNo"]))
    assert set(docs) == {ORDER, PAYMENT, WAYBILL} and docs[ORDER].guid == "V1-ORDER-V2-000000000000000000000000"


def test_a_second_writer_on_the_same_log_is_refused(engine, db_url):
    other = Engine(Store(db_url))
    with pytest.raises(RuntimeError, match="another CBEC writer"):
        other.warm_start()


def test_parcels_waiting_in_a_two_shard_log_complete_in_a_single_writer(db_url, clock, tmp_path: Path):
    parcels = [parcel(f"S{i}", i) for i in range(12)]
    stream = tmp_path / "first.xml"
    stream.write_bytes(b"".join(xml(p, k) for p in parcels for k in (ORDER, PAYMENT, WAYBILL)))
    stats = ingest_sharded(db_url, stream, shards=2, batch_size=5)
    assert stats.parcels == 0 and stats.messages == 36
    assert {route(f"S{i}", 2) for i in range(12)} == {0, 1}  # both shards hold some
    engine = Engine(Store(db_url), CbecSettings(), clock=clock)
    engine.warm_start()  # reads both shards' files
    res = engine.process(parse_batch([xml(p, INVENTORY) for p in parcels]))
    assert [d.status for d in res.decisions] == [800] * 12 and res.duplicates == 0
    again = engine.process(parse_batch([xml(parcels[0], ORDER)]))
    assert again.duplicates == 1


# ---------------------------------------------------------------------------- routing
def _stream(n: int, seed: int) -> bytes:
    return b"".join(generate(n, seed=seed, config=SimConfig(buyers=50)))


def test_compiled_router_matches_the_python_router_and_the_parsed_order_numbers():
    data = sim = _stream(300, 5)
    extras = [
        b'<?xml version="1.0"?><ceb:CEB311Message xmlns:ceb="x"><!-- orderNo>Z --><ceb:orderNo>A</ceb:orderNo>',
        b'<?xml version="1.0"?><x><ceb:orderNo>A&amp;B</ceb:orderNo></x>',
        b'<?xml version="1.0"?><x><ceb:orderNo>A</ceb:orderNo><ceb:orderNo>B</ceb:orderNo></x>',
        b'<?xml version="1.0"?><x><![CDATA[a]]><ceb:orderNo>A</ceb:orderNo></x>',
        b'<?xml version="1.0"?><x>no order here</x>',
        b'<?xml version="1.0"?><x><!-- no order --></x>',
        b'<?xml version="1.0"?><x><ceb:orderNo a="1">A</ceb:orderNo><orderNo/></x>',
        b'<?xml version="1.0"?><x><orderNo>B</orderNo><y:orderNoX>C</y:orderNoX><?pi x?></x>',
        b'<?xml version="1.0"?><x><ceb:orderNo>\r\n  O-42\t</ceb:orderNo></x>',
        b"   \n",
    ]
    data = data + b"".join(extras)
    for shards in (1, 2, 3):
        for shard in range(shards):
            for final in (True, False):
                for cut in (len(data), len(data) - 700, 12_345):
                    assert _framing.split_route(data[:cut], shards, shard, final) == \
                        _split_route_py(data[:cut], shards, shard, final)
    found, _ = _framing.split_route(data, 2, 0, True)
    found += _framing.split_route(data, 2, 1, True)[0]
    every = {data[s:e] for s, e, all_shards in found if all_shards}
    # a message with no orderNo in sight (extras[4]: e.g. a DXP envelope, whose is in its base64) goes to every shard
    assert len(every) == 7 and extras[4] in every and extras[7] not in every
    assert route("O-42", 2) == zlib.crc32(b"O-42") % 2
    for s, e, all_shards in _framing.split_route(data, 2, 1, True)[0]:
        if all_shards or s >= len(sim):
            continue
        for doc in parse_message(data[s:e]):
            assert route(doc.head["orderNo"], 2) == 1


_SNIPPETS = [b"<", b"<!", b"<!--x-->", b"orderNo", b":orderNo>", b"<ceb:orderNo>", b"</ceb:orderNo>", b"<?xml",
             b"<?xml ", b"<?pi?>", b">", b"/", b" ", b"\t", b"&amp;", b"<a:orderNo", b"<orderNo/>", b"<orderNo>",
             b"x", b":", b"<a<b:orderNo>", b"orderNoorderNo", b"<![CDATA[", b"\r\n"]


def test_compiled_router_matches_the_python_router_on_mutated_input():
    """The compiled router reads only ``<!``, ``<?xml`` and ``orderNo``: same answers as the tag-by-tag
    Python router on input with those pieces (and tag characters) inserted anywhere."""
    base = _stream(40, 11)
    rng = random.Random(3)
    for _round in range(300):
        data = bytearray(base[:rng.randrange(2000, len(base))])
        for _ in range(rng.randrange(1, 12)):
            at = rng.randrange(len(data) + 1)
            data[at:at] = rng.choice(_SNIPPETS)
        data = bytes(data)
        shards = rng.choice((1, 2, 3))
        shard = rng.randrange(shards)
        final = rng.random() < 0.7
        assert _framing.split_route(data, shards, shard, final) == _split_route_py(data, shards, shard, final)
    for piece in _SNIPPETS:  # short input made of the pieces alone
        for other in _SNIPPETS:
            data = b"<?xml " + piece + other + b"<?xml " + other + piece + b">A<"
            for shards, shard in ((2, 0), (2, 1)):
                for final in (True, False):
                    assert _framing.split_route(data, shards, shard, final) == \
                        _split_route_py(data, shards, shard, final), data


def test_every_message_of_a_file_goes_to_exactly_one_shard(tmp_path: Path):
    path = tmp_path / "s.xml"
    path.write_bytes(_stream(500, 9))
    whole = [m for c in chunks_of_file(path, 0, 100_000) for m in c.raws]
    parts = [[m for c in chunks_of_file(path, 0, 37, shard, 2, block=4096) for m in c.raws] for shard in (0, 1)]
    assert sorted(parts[0] + parts[1]) == sorted(whole) and parts[0] and parts[1]
    ends = [c.end_offset for c in chunks_of_file(path, 0, 37, 1, 2, block=4096)]
    assert ends == sorted(ends) and ends[-1] == path.stat().st_size


# ---------------------------------------------------------------------------- sharded ingest
def test_two_shards_decide_like_one_writer(tmp_path: Path):
    from smartcustoms.core.db import upgrade

    path = tmp_path / "in.xml"
    path.write_bytes(_stream(2000, 11))
    outcomes = []
    for shards in (1, 2):
        url = f"sqlite:///{tmp_path / f'{shards}.db'}"
        upgrade(url)
        receipts = tmp_path / f"receipts-{shards}.xml"
        if shards == 1:
            with Store(url) as store, receipts.open("wb") as out:
                eng = Engine(store)
                eng.warm_start()
                stats = ingest_path(eng, path, workers=0, batch_size=300, flush=True,
                                    sink=lambda rs, out=out: out.write(emit_receipts(rs)))
                eng.log.close()
        else:
            stats = ingest_sharded(url, path, shards=2, batch_size=300, receipts=receipts, flush=True)
        with Store(url) as s:
            rows = s.execute("SELECT order_no, status, info, charged_fen FROM cbec_parcel").fetchall()
            ledger = dict(((b, y), u) for b, y, u in s.execute(
                "SELECT buyer_id_number, year, used_fen FROM cbec_quota") if u)
            charged = dict(((b, y), c) for b, y, c in s.execute(
                "SELECT buyer_id_number, quota_year, sum(charged_fen) FROM cbec_parcel GROUP BY 1, 2") if c)
            assert ledger == charged
            guids = stored_guids(s)
        assert len(guids) == len(set(guids))
        outcomes.append((stats, {o: (st, info) for o, st, info, _c in rows}, len(guids),
                         receipts.read_bytes().count(b"<?xml")))
    (one, by_one, n_one, r_one), (two, by_two, n_two, r_two) = outcomes
    assert set(by_one) == set(by_two) and len(by_one) == 2000
    assert n_one == n_two and r_one == r_two and one.duplicates == two.duplicates
    # rejections do not depend on history; risk holds may differ a little (each shard sees the other's
    # decisions one batch late), quota rejections by arrival order across shards
    rejected = {o for o, (st, info) in by_one.items() if st == 100 and "quota" not in info}
    assert rejected == {o for o, (st, info) in by_two.items() if st == 100 and "quota" not in info}
    for o in rejected:
        assert by_one[o][1] == by_two[o][1]


def test_compact_index_map_behaves_like_a_dict():
    from smartcustoms.cbec._log import U64Map

    m, d = U64Map(), {}
    rng = random.Random(1)
    for i in range(100_000):
        k, v, op = hash(str(rng.random())), rng.randrange(1 << 50), rng.random()
        if op < 0.6:
            m[k] = d[k] = v
        elif op < 0.8 and d:
            kk = rng.choice(list(d)) if i % 997 == 0 else k
            assert m.pop(kk, None) == d.pop(kk, None)
        else:
            assert m.get(k) == d.get(k) and (k in m) == (k in d)
    assert len(m) == len(d) and all(m[k] == v for k, v in d.items())
    with pytest.raises(ValueError):
        m[1] = -1
    m.clear()
    assert len(m) == 0 and m.get(next(iter(d))) is None


def test_the_log_flusher_syncs_in_steps_and_stops_with_the_log(tmp_path, db_url, clock):
    """The own segment file is synced (and its pages dropped) once it has grown by a step; close() ends it."""
    import time

    from smartcustoms.cbec.log import _Flusher

    path = tmp_path / "seg.log"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        flusher = _Flusher(fd, every=1000, interval=0.01)
        os.pwrite(fd, b"x" * 500, 0)
        time.sleep(0.1)
        assert flusher._synced == 0  # less than a step: left to the OS
        os.pwrite(fd, b"y" * 1500, 500)
        deadline = time.monotonic() + 5
        while flusher._synced != 2000 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert flusher._synced == 2000
        flusher.stop()
        assert not flusher._thread.is_alive()
    finally:
        os.close(fd)

    engine = Engine(Store(db_url), CbecSettings(), clock=clock)
    engine.warm_start()  # opens the log: its flusher runs
    running = engine.log._flusher
    assert running is not None and running._thread.is_alive()
    engine.log.close()
    engine.store.close()
    assert not running._thread.is_alive()


def test_compiled_record_encoder_writes_what_the_python_loop_writes(engine, clock, monkeypatch):
    """``_log.encode_log_records`` gives the same bytes and index entries as ``SegmentLog.prepare``'s loop:
    XML and JSON payloads, waybills, keys chained within the batch and to earlier batches, escaped text."""
    from smartcustoms.cbec import log as log_mod
    from smartcustoms.cbec.ceb.emit import document_json

    first = parcel("E0")
    engine.process(parse_batch([xml(first, ORDER)]))  # a key with a committed record: chained to it
    log = engine.log
    docs = []
    for order_no in ("E0", 'E"1\\\t2', "E2é订单"):
        p = parcel(order_no, len(docs))
        for kind in (PAYMENT, WAYBILL, INVENTORY, ORDER):
            raw = xml(p, kind)
            docs += [(d, raw) for d in parse_message(raw)]
    no_order = docs[0][0]._replace(head={k: v for k, v in docs[0][0].head.items() if k != "orderNo"})
    records = [Record(d, raw if i % 3 else None, clock.t + i) for i, (d, raw) in enumerate(docs)]
    records.append(Record(no_order, None, -5))

    f, bits = log.own, log_mod._FILE_BITS
    compiled = _log.encode_log_records(records, f.end, f.number << bits, (1 << bits) - 1, log.key_at, WAYBILL,
                                           document_json)
    assert compiled is not None
    monkeypatch.setattr(log_mod, "_ENCODE", None)
    wb_at = log._wb_end
    log.prepare(records)
    python = (f.pending, log._updates, os.pread(log._wb_fd, 1 << 20, wb_at))
    log.aborted()
    assert compiled == python
    assert any(prev >= 0 for _g, _k, prev in python[1])  # within-batch chains exist
    assert len(python[2]) == 3 * 16  # one waybill index entry per waybill
    assert os.path.getsize(log.dir / f"{log.name}.waybills") == wb_at  # cut with the batch
    # a record that is not a plain document: the Python loop does the batch
    assert _log.encode_log_records([Record(docs[0][0]._replace(head=None), None, 1)], 0, 0, (1 << bits) - 1,
                                       log.key_at, WAYBILL, document_json) is None
    for code, number in (("", ""), ("SF", "LN1"), ("顺丰", 'N"\\é'), ("x" * 300, "9" * 64)):
        assert _log.waybill_hash(code, number) == log_mod.waybill_hash_py(code, number)


def test_compiled_record_encoder_past_its_size_estimate_writes_what_the_python_loop_writes(engine, clock,
                                                                                        monkeypatch):
    """The encoder writes a batch in place into the bytes it returns, sized by an estimate (a JSON payload is
    guessed at 1 kB): documents logged as JSON far larger than that move it to a heap buffer, same bytes."""
    from smartcustoms.cbec import log as log_mod
    from smartcustoms.cbec.ceb.emit import document_json

    log = engine.log
    records = []
    for i, order_no in enumerate(("G0", "G1", "G2")):
        for kind in (ORDER, INVENTORY):
            d = parse_message(xml(parcel(order_no, i), kind))[0]
            big = d._replace(head={**d.head, "note": "备注" * 3000})  # ~18 kB of JSON, no raw payload
            records.append(Record(big, None, clock.t + i))
    f, bits = log.own, log_mod._FILE_BITS
    compiled = _log.encode_log_records(records, f.end, f.number << bits, (1 << bits) - 1, log.key_at, WAYBILL,
                                       document_json)
    monkeypatch.setattr(log_mod, "_ENCODE", None)
    log.prepare(records)
    python = (f.pending, log._updates)
    log.aborted()
    assert compiled is not None and compiled[:2] == python and len(python[0]) > 6 * 18_000


def test_compiled_index_update_sets_what_the_python_loop_sets():
    """``_log.apply_updates`` (``SegmentLog.committed``) gives the two index maps the entries the loop gives."""
    rng = random.Random(5)
    compiled, python = (_log.U64Map(), _log.U64Map()), ({}, {})
    for _round in range(20):
        updates = [(rng.randrange(-(1 << 63), 1 << 63), rng.choice((rng.randrange(-(1 << 63), 1 << 63), 7, -7)),
                    rng.randrange(0, 1 << 50)) for _ in range(rng.randrange(0, 300))]
        _log.apply_updates(*compiled, updates)
        for gh, kh, loc in updates:
            python[0][gh] = loc
            python[1][kh] = loc
    for got, want in zip(compiled, python, strict=True):
        assert len(got) == len(want) and all(got[k] == v for k, v in want.items())
    with pytest.raises(ValueError):
        _log.apply_updates(*compiled, [(1, 2, -1)])
    with pytest.raises(TypeError):
        _log.apply_updates(*compiled, [[1, 2, 3]])


def test_a_waybill_routed_to_another_shard_by_its_wrong_order_number_is_found_there(tmp_path: Path):
    """Two shards: a waybill whose orderNo disagrees with its inventory's lands on the other shard; at the
    deadline the inventory's shard reads it there (committed records only) and rejects the parcel for the
    mismatch, as a single writer does, instead of calling it incomplete."""
    from smartcustoms.core.db import upgrade

    ok = next(f"M{i}" for i in range(100) if route(f"M{i}", 2) == 0)
    wrong = next(f"M{i}" for i in range(100) if route(f"M{i}", 2) == 1)
    p = parcel(ok)
    g, head, lines, base = p[WAYBILL]
    bad_waybill = emit_message(WAYBILL, g, [(dict(head, orderNo=wrong), lines)], base)
    path = tmp_path / "in.xml"
    path.write_bytes(b"".join([xml(p, ORDER), xml(p, PAYMENT), bad_waybill, xml(p, INVENTORY)]))
    infos = {}
    for shards in (1, 2):
        url = f"sqlite:///{tmp_path / f'{shards}.db'}"
        upgrade(url)
        ingest_sharded(url, path, shards=shards, batch_size=2, receipts=tmp_path / f"r{shards}.xml", flush=True)
        with Store(url) as s:
            infos[shards] = s.execute("SELECT order_no, status, info FROM cbec_parcel").fetchall()
    assert infos[1] == infos[2]
    (order_no, status, info), = infos[2]
    assert order_no == ok and status == 100 and f"waybill orderNo '{wrong}'" in info and "incomplete" not in info


@pytest.mark.postgres
def test_the_duplicate_check_finds_logged_guids_through_the_unique_index_on_postgresql(fresh_pg_url):
    """The (type, guid) key leads with the guid, so the per-batch ``guid = ANY`` lookup is an index scan.

    With msg_type first PostgreSQL scanned the whole message log for every batch (intake fell from
    ~320,000 to ~10,000 parcels/min as the log grew); the plan, not a timing, is what is checked.
    """
    from sqlalchemy import create_engine, text

    from smartcustoms.core.db import upgrade

    upgrade(fresh_pg_url)
    eng = create_engine(fresh_pg_url)
    try:
        with eng.begin() as c:
            c.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(r[0] for r in c.execute(text(
                "EXPLAIN SELECT msg_type, guid FROM cbec_message WHERE guid = ANY(CAST(:g AS text[]))"),
                {"g": ["a" * 36, "b" * 36]}))
    finally:
        eng.dispose()
    assert "Index" in plan and "uq_cbec_message_guid" in plan, plan
