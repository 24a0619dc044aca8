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
