"""Verification of signed messages in a learned form (``signature._learned``): once a message has been verified on
its bytes, later messages equal to it around the guid, the content and the two values are canonicalized without
the regular expressions. Every result is checked here against lxml's C14N (the reference), and every hostile
change either fails as the full path fails or falls back to it."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator

import pytest

from smartcustoms.cbec.ceb import signature as sig
from smartcustoms.cbec.simulate import generate
from tests.support import CEB_DIR

SIGNED_KINDS = ("CEB311", "CEB411", "CEB511", "CEB513", "CEB621", "CEB623", "CEB625", "CEB711")


@pytest.fixture(scope="module")
def rsa() -> sig.SigningKey:
    return sig.test_rsa_key(enterprise="LEARNED")


@pytest.fixture(scope="module")
def traffic(rsa: sig.SigningKey) -> list[bytes]:
    return [sig.sign(m, rsa) for m in generate(12, 21)]


@pytest.fixture(autouse=True)
def _forgotten() -> Iterator[None]:
    """Each test starts and ends with nothing learned (tests do not depend on each other's messages)."""
    sig._ROOT_FORMS.clear()
    sig._SIG_FORMS.clear()
    yield
    sig._ROOT_FORMS.clear()
    sig._SIG_FORMS.clear()


def _reference(raw: bytes) -> tuple[str, object]:
    """The full path's answer with nothing learned: ("ok", signer) or ("error", message)."""
    roots, sigs = dict(sig._ROOT_FORMS), dict(sig._SIG_FORMS)
    sig._ROOT_FORMS.clear()
    sig._SIG_FORMS.clear()
    try:
        assert sig._learned(raw) is None
        return "ok", sig.verify(raw)
    except sig.SignatureError as exc:
        return "error", str(exc)
    finally:
        sig._ROOT_FORMS.clear()
        sig._SIG_FORMS.clear()
        sig._ROOT_FORMS.update(roots)
        sig._SIG_FORMS.update(sigs)


def _answer(raw: bytes) -> tuple[str, object]:
    try:
        return "ok", sig.verify(raw)
    except sig.SignatureError as exc:
        return "error", str(exc)


def _lxml_verifies(raw: bytes, cert_der: bytes) -> bool:
    """RSA-SHA1 verification from lxml's C14N alone (independent of the module's byte paths)."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    document, signed_info = sig.canonical_lxml(raw)
    dv = raw[raw.index(b"<ds:DigestValue>") + 16:raw.index(b"</ds:DigestValue>")]
    sv = raw[raw.index(b"<ds:SignatureValue>") + 19:raw.index(b"</ds:SignatureValue>")]
    if hashlib.sha1(document).digest() != base64.b64decode(b"".join(dv.split())):
        return False
    try:
        x509.load_der_x509_certificate(cert_der).public_key().verify(  # type: ignore[call-arg]
            base64.b64decode(b"".join(sv.split())), signed_info, padding.PKCS1v15(), hashes.SHA1())  # type: ignore[arg-type]
    except InvalidSignature:
        return False
    return True


def test_generated_traffic_takes_the_learned_path_with_lxmls_canonical_form(traffic, rsa):
    first = {}
    for raw in traffic:
        kind = raw[raw.index(b"<ceb:CEB") + 5:raw.index(b"<ceb:CEB") + 11]
        learned = sig._learned(raw)
        if kind in first:  # every later message of a kind is in the form its first one taught
            assert learned is not None, kind
            _form, document, signed_info, _dv, _sv = learned
            assert (document, signed_info) == sig.canonical_lxml(raw)
        signer = sig.verify(raw)
        assert signer is not None and signer.fingerprint == sig.fingerprint(rsa.cert_der)
        assert _lxml_verifies(raw, rsa.cert_der)
        first.setdefault(kind, raw)
    assert len(first) == 4 and sig._SIG_FORMS


def _hostile(raw: bytes, other: sig.SigningKey, rsa: sig.SigningKey) -> dict[str, bytes]:
    dv_at = raw.index(b"<ds:DigestValue>") + 16
    sv_at = raw.index(b"<ds:SignatureValue>") + 19
    flip = b"B" if raw[dv_at:dv_at + 1] == b"A" else b"A"
    cert_at = raw.index(b"<ds:X509Certificate>")
    by_other = sig.sign(raw[:raw.index(b"<ds:Signature")] + raw[raw.index(b"</ds:Signature>") + 15:], other)
    unsigned = raw[:raw.index(b"<ds:Signature")] + raw[raw.index(b"</ds:Signature>") + 15:]
    guid_at = raw.index(b' guid="') + 7
    return {
        "tampered digest": raw[:dv_at] + flip + raw[dv_at + 1:],
        "tampered content": raw.replace(b"<ceb:orderNo>", b"<ceb:orderNo>X", 1),
        "tampered guid": raw[:guid_at] + b"F" + raw[guid_at + 1:],
        "tampered signature value": raw[:sv_at + 1] + (b"B" if raw[sv_at + 1:sv_at + 2] == b"A" else b"A")
        + raw[sv_at + 2:],
        "signed by another key, our certificate": by_other[:by_other.index(b"<ds:X509Certificate>")]
        + raw[cert_at:],
        "signed by another key, its certificate": by_other,
        "not base64": raw[:dv_at] + b"*" + raw[dv_at + 1:],
        "base64 cut short": raw[:dv_at] + raw[dv_at + 1:],
        "whitespace in the values": raw[:dv_at] + b"\n " + raw[dv_at:sv_at] + b"\t" + raw[sv_at:],
        "guid with a reference": raw[:guid_at] + b"&amp;" + raw[guid_at:],
        "comment in the content": raw.replace(b"<ceb:orderNo>", b"<!-- x --><ceb:orderNo>", 1),
        "CR in the content": raw.replace(b"</ceb:orderNo>", b"</ceb:orderNo>\r\n", 1),
        "CDATA in the content": raw.replace(b"<ceb:orderNo>", b"<ceb:orderNo><![CDATA[]]>", 1),
        "a second Signature": raw.replace(b"</ds:Signature>", b"</ds:Signature><ds:Signature></ds:Signature>", 1),
        "text after the root": raw.rstrip() + b"x",
        "a value in another element": raw.replace(b"<ds:KeyName>0001</ds:KeyName>", b"<ds:KeyName>0002</ds:KeyName>"),
        "unsigned": unsigned,
        "another root attribute order": raw.replace(b'" version="1.0"', b'" zz="1" version="1.0"', 1),
    }


def test_hostile_changes_fail_as_the_full_path_fails_or_fall_back_to_it(traffic, rsa):
    other = sig.test_rsa_key(enterprise="OTHER")
    for raw in traffic[:8]:
        sig._ROOT_FORMS.clear()
        sig._SIG_FORMS.clear()
        assert sig.verify(raw) is not None  # learned (this form only)
        for name, changed in _hostile(raw, other, rsa).items():
            assert changed != raw, name
            learned = sig._learned(changed)  # before the full path may learn its form
            expected = _reference(changed)
            assert _answer(changed) == expected, name
            if learned is not None:  # whatever takes the learned path is canonicalized as lxml does
                assert (learned[1], learned[2]) == sig.canonical_lxml(changed), name
            if name in ("tampered digest", "tampered content", "tampered guid", "tampered signature value",
                        "signed by another key, our certificate", "base64 cut short"):
                assert expected[0] == "error" and learned is not None, name  # refused on the learned path
            if name in ("guid with a reference", "comment in the content", "CR in the content",
                        "CDATA in the content", "a second Signature", "text after the root",
                        "a value in another element", "unsigned", "signed by another key, its certificate",
                        "not base64"):
                assert learned is None, name  # not in a learned form: the full path decides
        assert _answer(_hostile(raw, other, rsa)["tampered digest"])[1] == (
            "digest mismatch: the message was changed after it was signed")
        assert _answer(_hostile(raw, other, rsa)["signed by another key, our certificate"])[1] == (
            "bad signature value: SignedInfo was not signed by the certificate's key")


def test_an_expired_certificate_is_refused_on_the_learned_path(traffic, rsa):
    from datetime import UTC, datetime

    raw = traffic[0]
    assert sig.verify(raw) is not None and sig._learned(raw) is not None
    with pytest.raises(sig.SignatureError, match="^certificate expired on"):
        sig.verify(raw, now=datetime(2999, 1, 1, tzinfo=UTC))
    with pytest.raises(sig.SignatureError, match="^certificate not valid before"):
        sig.verify(raw, now=datetime(2001, 1, 1, tzinfo=UTC))


def test_the_official_samples_fail_alike_on_both_paths():
    """The official signed samples (../shared/data/ceb): what the learned path canonicalizes is lxml's C14N, and
    the answer is the full path's (the 2018 samples were edited after signing: digest mismatch)."""
    folders = [CEB_DIR / e / "samples" / "import" for e in ("2018", "202205")]
    if not all(f.is_dir() for f in folders):
        pytest.skip(f"the official CEB samples are not at {folders[0]} (../shared/data/ceb)")
    seen = 0
    for folder in folders:
        for kind in SIGNED_KINDS:
            raw = (folder / f"{kind}Message.xml").read_bytes()
            expected = _reference(raw)
            assert _answer(raw) == expected  # learns the form when the bytes allow
            assert _answer(raw) == expected  # the learned path when it learned
            learned = sig._learned(raw)
            if learned is not None:
                seen += 1
                assert (learned[1], learned[2]) == sig.canonical_lxml(raw)
    assert seen >= len(SIGNED_KINDS)  # the 2018 ones at least are in a form the learned path takes


def test_the_compiled_content_check_answers_as_its_regular_expression(traffic):
    """``_c14n.plain_content`` (C) against ``plain_content_py`` (the regular expression it replaces): on real
    content, on every cut of it, and on random mixes of the bytes that matter."""
    import random

    from smartcustoms.cbec.ceb._c14n import plain_content

    pieces = [b"<a>", b"</a>", b"<ceb:x>", b"</ceb:x.y-1>", b"<:x>", b"<a:>", b"<a b>", b"<1a>", b"&amp;", b"&lt;",
              b"&gt;", b"&quot;", b"&#49;", b"&am", b"&", b"<", b">", b"\r", b"\n", b"text", "中文".encode(),
              b"<a/>", b"<!-- c -->", b"<![CDATA[x]]>", b"<?pi?>", b"a:b", b"</>", b"<_a.b-c:d_e>"]
    rng = random.Random(7)
    cases = [(raw, raw.index(b"?>") + 2, raw.index(b"<ds:Signature")) for raw in traffic]
    for raw, start, end in cases[:3]:
        cases += [(raw, start + k, end - j) for k in range(0, 40, 3) for j in range(0, 40, 7)]
    for _ in range(4000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randrange(0, 12)))
        cases.append((raw, rng.randrange(0, 3), len(raw) - rng.randrange(0, 3)))
    for raw, start, end in cases:
        start, end = max(0, start), max(0, end)
        if start > end:
            start = end  # callers pass start <= end (the regular expression answers no match otherwise)
        assert plain_content(raw, start, end) == sig.plain_content_py(raw, start, end), (raw, start, end)
    assert sig._plain_content is plain_content  # the verification uses the compiled one


def test_the_rsa_check_answers_as_cryptographys_verify(rsa):
    """The certificate's verifier (the padding opened by OpenSSL, the DigestInfo compared) against
    ``RSAPublicKey.verify(..., PKCS1v15(), SHA1())`` on good, tampered, cut, lengthened and wrongly encoded values:
    a SHA-1 DigestInfo without its NULL parameters, SHA-256's, the right one with a short padding."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    pub = rsa.key.public_key()
    numbers = rsa.key.private_numbers()
    n, d, k = numbers.public_numbers.n, numbers.d, (numbers.public_numbers.n.bit_length() + 7) // 8
    verify = sig._key(base64.b64encode(rsa.cert_der)).verify

    def raw_sign(em: bytes) -> bytes:
        return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")

    def em(t: bytes, ps: int | None = None) -> bytes:
        ps = k - len(t) - 3 if ps is None else ps
        return (b"\x00\x01" + b"\xff" * ps + b"\x00" + t).rjust(k, b"\x00")

    # a message whose signature starts with a zero octet (1 in 256): cut to k - 1 octets it is the same number,
    # which RFC 8017 8.2.2 step 1 refuses (this once passed the check by chance, in CI)
    zero_led = next(m for m in (b"%d" % i for i in range(20000))
                    if rsa.key.sign(m, padding.PKCS1v15(), hashes.SHA1())[0] == 0)
    for data in (b"", b"<ds:SignedInfo></ds:SignedInfo>", bytes(range(256)) * 3, zero_led):
        h = hashlib.sha1(data).digest()
        good = rsa.key.sign(data, padding.PKCS1v15(), hashes.SHA1())
        values = [good, good[1:], b"\x00" + good, b"", good[:-1] + bytes([good[-1] ^ 1]), b"\xff" * k,
                  raw_sign(em(sig._SHA1_DIGEST_INFO + h)),  # the encoding itself: valid
                  raw_sign(em(bytes.fromhex("301f300706052b0e03021a0414") + h)),  # no NULL parameters
                  raw_sign(em(bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(data).digest())),
                  raw_sign(em(sig._SHA1_DIGEST_INFO + h, 4)),  # a short padding after zero bytes
                  raw_sign(em(sig._SHA1_DIGEST_INFO + h).replace(b"\xff", b"\xfe", 1)),
                  raw_sign(b"\x00\x02" + em(sig._SHA1_DIGEST_INFO + h)[2:])]
        for value in values:
            try:
                pub.verify(value, data, padding.PKCS1v15(), hashes.SHA1())
                expected = True
            except InvalidSignature:
                expected = False
            assert verify(value, data) is expected, value.hex()
        assert verify(good, data) and verify(values[6], data)
