"""The per-parcel shortcuts of the writer's hot path (issue #16 follow-up): each gives the answer of the longer
way it replaces — the scanner's signature hint against the substring test, the envelope sniff against
``bytes.find``, eight-bytes-at-a-time escaping against the byte loop, numbers written inline against
``Engine._next_pre_no`` / ``_next_invt_no``."""

from __future__ import annotations

import random

import pytest

from smartcustoms.cbec.ceb import parse as ceb_parse
from smartcustoms.cbec.ceb import receipts as ceb_receipts
from smartcustoms.cbec.ceb import signature as sig
from smartcustoms.cbec.ceb import transport
from smartcustoms.cbec.ceb.receipts import Receipt
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.engine import Engine, _customs4, parse_batch
from smartcustoms.cbec.simulate import generate
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings


@pytest.fixture(scope="module")
def rsa() -> sig.SigningKey:
    return sig.test_rsa_key(bits=1024, enterprise="SIGNER")


def _answers(parsed: list) -> list:
    """A parsed batch in a comparable form (documents, refusals with their problems)."""
    out = []
    for item in parsed:
        if isinstance(item, CebError):
            out.append(("refused", item.problems, item.status, item.info))
        else:
            out.append([("refused", d.problems, d.info) if isinstance(d, CebError) else tuple(d) for d in item])
    return out


def test_the_scanner_says_which_messages_it_read_a_signature_in(rsa):
    plain = list(generate(2, 3))
    signed = [sig.sign(m, rsa) for m in generate(2, 5)]
    hints: list[bool | None] = []
    ceb_parse.parse_batch_documents([*plain, *signed, b"<not xml"], hints)
    n = len(plain) + len(signed)
    if ceb_parse._FAST is None:  # pragma: no cover - the scanner is built by `make install`
        assert hints == [None] * (n + 1)
        return
    assert hints == [False] * len(plain) + [True] * len(signed) + [None]  # the lxml path read the last: no hint
    # the hint agrees with the substring test the check used to make on every message
    assert hints[:n] == [m.find(b"xmldsig#") >= 0 for m in [*plain, *signed]]


@pytest.mark.parametrize("certificates", [None, {}])
@pytest.mark.parametrize("accept_unsigned", [True, False])
def test_signature_checks_with_the_scanner_hints_answer_as_without(rsa, accept_unsigned, certificates):
    raws = [m if i % 2 == 0 else sig.sign(m, rsa) for i, m in enumerate(generate(6, 11))]
    raws[3] = raws[3].replace(b"<ceb:orderNo>", b"<ceb:orderNo>X", 1)  # a signed message changed after signing
    raws.append(next(iter(generate(1, 12))).replace(b"<ceb:orderNo>", b"<ceb:orderNo>xmldsig#", 1))  # text only
    policy = sig.SignaturePolicy(certificates, accept_unsigned)
    hinted = parse_batch(raws, policy)
    plain = sig.check_batch(raws, ceb_parse.parse_batch_documents(raws), policy)
    refused = [i for i, item in enumerate(hinted) if isinstance(item, CebError)
               or any(isinstance(d, CebError) for d in item)]
    assert 3 in refused and (certificates is None or 1 in refused)
    if accept_unsigned or raws[-1].find(b"CEB621") < 0:  # the text-only "xmldsig#": no signature to check
        assert _answers(hinted[:-1]) == _answers(plain[:-1])
    else:
        assert _answers(hinted) == _answers(plain)


def test_an_unsigned_batch_accepted_unsigned_skips_the_per_message_checks():
    raws = list(generate(3, 1))
    parsed = ceb_parse.parse_batch_documents(raws)
    policy = sig.SignaturePolicy(None, accept_unsigned=True)
    assert sig.check_batch(raws, parsed, policy, [False] * len(raws)) is parsed
    assert sig.check_batch(raws, parsed, policy._replace(accept_unsigned=False), [False] * len(raws)) is parsed


def test_the_envelope_sniff_finds_what_find_finds():
    rng = random.Random(7)
    alphabet = b"<>/:DxpMsgDxpMs ceb"
    for _ in range(3000):
        raws = [bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 40))) for _ in range(rng.randrange(0, 4))]
        limit = rng.randrange(0, 45)
        want = any(r.find(b"DxpMsg", 0, limit) >= 0 for r in raws)
        assert transport._any_within(raws, b"DxpMsg", limit) == want == transport._any_within_py(raws, b"DxpMsg", limit)
    head = b'<?xml version="1.0"?>'.ljust(505)
    assert transport._any_within([head + b"<DxpMsg>"], b"DxpMsg", 512)  # ends at byte 512
    assert not transport._any_within([head + b" <DxpMsg>"], b"DxpMsg", 512)  # one byte too far
    assert transport._any_within(["not bytes"], b"DxpMsg", 512)  # the caller looks closer
    assert transport.open_envelopes(raws := list(generate(2, 2))).raws is raws


@pytest.mark.parametrize("special", ["&", "<", ">", '"', "&<", "\"'>"])
def test_receipts_escape_at_every_offset_as_the_python_emitter(special):
    for at in range(0, 19):
        for tail in (0, 1, 7, 8, 9):
            info = "x" * at + special + "y" * tail
            r = Receipt("CEB312", "A" * 36, 100, info, 1_764_800_000_000,
                        {"ebpCode": "E1", "ebcCode": "C1", "orderNo": "N" * at + special + "o" * tail})
            assert ceb_receipts.emit_receipts([r]) == ceb_receipts.emit_receipt_py(r), (at, special, tail)


def test_log_payloads_escape_at_every_offset_as_orjson():
    from smartcustoms.cbec.ceb.emit import document_json

    raw = next(iter(generate(1, 4)))
    docs = ceb_parse.parse_items_lxml(raw)
    name = docs[0].head.get("buyerName")
    field = "buyerName" if name else "ebpName"
    checked = 0
    for at in range(0, 18):
        for special in ('"', "\\", "\t", "\x01", "é"):
            value = "n" * at + special + "m" * (at % 9)
            esc = value.replace("&", "&amp;").replace("<", "&lt;").replace("\x01", "&#1;")
            old = f"<ceb:{field}>{docs[0].head[field]}</ceb:{field}>".encode()
            if old not in raw or "\x01" in value:
                continue
            changed = raw.replace(old, f"<ceb:{field}>{esc}</ceb:{field}>".encode(), 1)
            docs_now = ceb_parse.parse_items_lxml(changed)
            if any(isinstance(d, CebError) for d in docs_now):
                continue  # a value the field's check refuses
            want = [document_json(d) for d in docs_now]
            got = ceb_parse._FAST.encode(changed) if ceb_parse._FAST is not None else None
            assert got is None or list(got) == want, (at, special)
            checked += got is not None
    assert checked >= 18 or ceb_parse._FAST is None


def test_numbers_written_inline_are_those_of_the_number_methods(tmp_path, clock):
    from smartcustoms.core.db import upgrade

    url = f"sqlite:///{tmp_path}/n.db"
    upgrade(url)
    engine = Engine(Store(url), CbecSettings(), shard=1, shards=2, clock=clock)
    engine.warm_start()
    raws = [m for m in generate(40, 8)]
    res = engine.process(parse_batch(raws), force_deadline=True)
    pre = sorted(d.slot.inventory.head["preNo"] for d in res.decisions if d.slot.inventory is not None)
    invt = sorted(d.slot.inventory.head["invtNo"] for d in res.decisions
                  if d.slot.inventory is not None and "invtNo" in d.slot.inventory.head)
    assert pre and invt and len(set(pre)) == len(pre) and len(set(invt)) == len(invt)
    assert all(len(n) == 18 and n[0] == "B" and n[9] == "1" for n in pre)
    # the methods continue the sequences the inline code advanced
    assert engine._next_pre_no(clock.t)[-8:] == f"{int(max(pre)[-8:]) + 1:08d}"
    inv = next(d.slot.inventory for d in res.decisions if d.slot.inventory is not None)
    assert engine._next_invt_no(inv, clock.t)[-8:] == f"{int(max(invt)[-8:]) + 1:08d}"
    assert all(len(n) == 18 and n[8] == "I" for n in invt)
    engine.log.close()
    engine.store.close()
    assert [_customs4(c) for c in ("5141", "51410000", "51", None, "", "AB12", "514A")] == \
        ["5141", "5141", "0000", "0000", "0000", "0000", "0000"]


# ---------------------------------------------------------------------------- fewer instructions a parcel (task C)
def test_receipts_written_in_place_are_those_of_the_python_emitter_whatever_the_size_estimate():
    """``emit_all`` writes into the bytes it returns (about 768 bytes a receipt guessed); receipts far longer
    move it to a heap buffer; any iterable (not only a list) works: the same bytes as the Python emitter."""
    import sys

    rng = random.Random(11)
    for n in (0, 1, 2, 5, 300):
        for long_info in (False, True):
            receipts = [Receipt("CEB312", f"{i:036d}", rng.choice((100, 120, 800)),
                                ("拒绝原因&" * 300 if long_info else f"entered {i}"), 1_764_800_000_000 + i,
                                {"ebpCode": "E1", "ebcCode": "C1", "orderNo": f"O<{i}>"}) for i in range(n)]
            want = b"".join(map(ceb_receipts.emit_receipt_py, receipts))
            got = ceb_receipts.emit_receipts(receipts)
            assert got == want and type(got) is bytes and (n == 0 or sys.getrefcount(got) == 2)
            assert ceb_receipts.emit_receipts(iter(receipts)) == want


def test_fen_amounts_of_an_assessment_are_to_fen_of_them():
    """``_parcel_row`` writes ``int(amount * 100)`` for the tax amounts: exactly ``to_fen`` of amounts that
    ``assess`` rounded to the fen (every TaxAssessment amount)."""
    from decimal import Decimal

    from smartcustoms.cbec.engine import Decision, _parcel_row
    from smartcustoms.cbec.matcher import Slot
    from smartcustoms.tax.retail import DEFAULT_RATES, RateTable, TaxItem, assess, to_fen

    rng = random.Random(3)
    rates = RateTable()
    codes = [*DEFAULT_RATES, "9999999999"]
    for _ in range(3000):
        items = [TaxItem(rng.choice(codes).ljust(10, "0"),
                         Decimal(rng.randrange(1, 900_000)) / 100, Decimal(rng.randrange(1, 5)))
                 for _ in range(rng.randrange(1, 4))]
        t = assess(items, Decimal(rng.randrange(0, 5000)) / 100, Decimal(rng.randrange(0, 999)) / 1000, rates)
        for amount in (t.dutiable, t.tariff, t.consumption, t.vat):
            assert int(amount * 100) == to_fen(amount)
        row = _parcel_row(Decision(Slot(("E", "O"), 1, 2), 800, "released", t, 2026, 0.1), 3)
        assert row[14:18] == (to_fen(t.dutiable), to_fen(t.tariff), to_fen(t.consumption), to_fen(t.vat))
        assert row[18] == sum(row[15:18]) and row[19] == row[14]


def test_named_tuples_made_without_their_new_equal_those_made_with_it():
    """``tuple.__new__(Cls, values)`` on the hot path (decisions, tax items and assessments, features, cases)
    makes the same object as ``Cls(*values)``."""
    from decimal import Decimal

    from smartcustoms.cbec.engine import Decision, _new
    from smartcustoms.cbec.seams import ParcelHistory
    from smartcustoms.risk.parcels.scoring import ParcelCase, ParcelFeatures
    from smartcustoms.tax.retail import RateTable, TaxAssessment, TaxItem, assess

    t = assess([TaxItem("3304990099", Decimal("150.00"), Decimal(2))], Decimal("10"), Decimal("0.5"), RateTable())
    assert type(t) is TaxAssessment and t == TaxAssessment(*t) and t._fields == TaxAssessment._fields
    doc = parse_batch(list(generate(1, 3)))
    inv = next(d for item in doc for d in item if d.kind == "CEB621")
    f = ParcelHistory().features(inv, t.dutiable, 2026, Decimal(5000))
    assert type(f) is ParcelFeatures and f == ParcelFeatures(*f) and f.value_ratio == float(t.dutiable / 5000)
    for cls, values in ((Decision, (None, 800, "released", t, 2026, 0.5)), (TaxItem, ("1", Decimal(1), Decimal(2))),
                        (ParcelCase, (("E", "O"), inv, f, 1.5))):
        made = _new(cls, values)
        assert type(made) is cls and made == cls(*values) and made._asdict() == cls(*values)._asdict()


def test_observe_counts_what_the_count_and_median_methods_count():
    """``ParcelHistory.observe`` keeps the same histories as its ``_count`` and ``_update_median`` methods and
    the platform / logistics counts (which ``observe_row`` and the replay use), whatever a parcel lacks."""
    from smartcustoms.cbec.ceb.statuses import REJECTED
    from smartcustoms.cbec.seams import ParcelHistory

    def observe_with_methods(hist: ParcelHistory, inv, year: int, status: int) -> None:
        h = inv.head
        rejected = int(status == REJECTED)
        if not rejected:
            hist._count(h.get("buyerIdNumber", ""), year, h.get("consigneeAddress"), h.get("buyerTelephone"))
            for line in inv.lines:
                hist._update_median(line.get("gcode", "")[:6], float(line.get("price", "0")))
        for index, k in ((hist.platform, h.get("ebpCode")), (hist.logistics, h.get("logisticsCode"))):
            c = index.setdefault(k or "", [0, 0])
            c[0] += 1
            c[1] += rejected

    rng = random.Random(9)
    invs = [d for item in parse_batch(list(generate(400, 21))) if not isinstance(item, CebError)
            for d in item if not isinstance(d, CebError) and d.kind == "CEB621"]
    assert len(invs) > 300
    observed, methods = ParcelHistory(), ParcelHistory()
    for inv in invs * 3:
        if rng.random() < 0.2:  # no address, no phone, no price, no lines
            head = {k: v for k, v in inv.head.items() if rng.random() < 0.7}
            lines = [{k: v for k, v in ln.items() if k != "price" or rng.random() < 0.5} for ln in inv.lines]
            inv = inv._replace(head=head, lines=lines if rng.random() < 0.8 else [])
        year, status = rng.choice((2025, 2026)), rng.choice((REJECTED, 800, 500, 300))
        observed.observe(inv, year, status)
        observe_with_methods(methods, inv, year, status)
    for name in ("buyer_year", "address", "phone", "hs_median", "platform", "logistics"):
        assert getattr(observed, name) == getattr(methods, name), name


def test_memoised_decimals_are_those_decimal_makes():
    """``engine._decimal`` (the tax inputs of a parcel) gives ``Decimal(text)``, refuses what it refuses, and
    keeps at most 4,096 values."""
    from decimal import Decimal, InvalidOperation

    from smartcustoms.cbec import engine

    rng = random.Random(4)
    texts = ["0", "1", "2", "10.00", "150.00", "0.5", "-3", "1E+2", "007.10", " 12 ", "NaN", "Infinity"]
    texts += [f"{rng.randrange(0, 10**7) / 100:.2f}" for _ in range(9000)]
    for text in texts + texts[:50]:
        got, want = engine._decimal(text), Decimal(text)
        assert type(got) is Decimal and (got == want or (got.is_nan() and want.is_nan()))
        assert str(got) == str(want) and got.as_tuple() == want.as_tuple()
    assert len(engine._DECIMALS) <= 4096
    for bad in ("", "abc", "1,5", "x1"):
        with pytest.raises(InvalidOperation):
            engine._decimal(bad)
        assert bad not in engine._DECIMALS


def test_features_rates_are_those_of_the_rate_methods():
    """``ParcelHistory.features``' platform, logistics and enterprise rates are the values of ``_rate`` and
    ``_hit_rate`` at and around their thresholds (50 parcels, MIN_INSPECTED outcomes)."""
    from decimal import Decimal

    from smartcustoms.cbec.seams import MIN_INSPECTED, ParcelHistory

    invs = [d for item in parse_batch(list(generate(60, 22))) if not isinstance(item, CebError)
            for d in item if not isinstance(d, CebError) and d.kind == "CEB621"]
    rng = random.Random(2)
    hist = ParcelHistory()
    for inv in invs:
        h = inv.head
        for index, key, low in ((hist.platform, h.get("ebpCode", ""), 50),
                                (hist.logistics, h.get("logisticsCode", ""), 50),
                                (hist.inspected, h.get("ebcCode", ""), MIN_INSPECTED)):
            if rng.random() < 0.8:
                n = rng.choice((0, low - 1, low, low + 1, rng.randrange(1, 500)))
                index[key] = [n, rng.randrange(0, n + 1)]
        f = hist.features(inv, Decimal("123.45"), 2026, Decimal(5000))
        assert f.platform_reject_rate == hist._rate(hist.platform.get(h.get("ebpCode", "")))
        assert f.logistics_reject_rate == hist._rate(hist.logistics.get(h.get("logisticsCode", "")))
        assert f.enterprise_hit_rate == hist._hit_rate(hist.inspected.get(h.get("ebcCode", "")))


def test_years_of_inventories_are_read_as_before():
    """``engine._year`` remembers the years it read: the same answers as reading each appTime afresh."""
    import time as _time

    from smartcustoms.cbec import engine

    def year_afresh(inv, now: int) -> int:
        t = inv.head.get("appTime", "") if inv is not None else ""
        y = t[:4]
        return int(y) if len(y) == 4 and y.isascii() and y.isdigit() else _time.gmtime(now / 1000).tm_year

    inv = next(d for item in parse_batch(list(generate(1, 5))) for d in item if d.kind == "CEB621")
    now = 1_764_800_000_000
    for t in ("20260101120000", "1999", "0000", "20x6", "２０２６0101", "", "202", None, "9999123", "٢٠٢٦"):
        doc = inv._replace(head={**inv.head, "appTime": t} if t is not None else
                           {k: v for k, v in inv.head.items() if k != "appTime"})
        for _ in range(2):  # read, then remembered
            assert engine._year(doc, now) == year_afresh(doc, now), t
    assert engine._year(None, now) == year_afresh(None, now)
    assert all(len(k) == 4 and k.isascii() and k.isdigit() for k in engine._YEARS)
