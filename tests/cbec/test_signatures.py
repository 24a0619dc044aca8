"""CEB message signatures (ds:Signature): verification on the raw bytes, the registered-certificate check in the
parse stage (``cbec ingest``) and in the API, the certificate registry, and what the official samples carry."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from smartcustoms.cbec.ceb import signature as sig
from smartcustoms.cbec.ceb.spec import CebError
from smartcustoms.cbec.engine import Engine, parse_batch
from smartcustoms.cbec.runner import ingest_path
from smartcustoms.cbec.senders import store_signatures
from smartcustoms.cbec.simulate import generate
from smartcustoms.cbec.store import Store
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import transaction
from smartcustoms.core.security import SYSTEM
from smartcustoms.enterprises.certificates import register_certificate, revoke_certificate
from smartcustoms.enterprises.schemas import CertificateIn, EnterpriseIn
from smartcustoms.enterprises.service import create_enterprise
from smartcustoms.web.app import create_app
from tests.support import CEB_DIR, register_cbec_codes

CEB = CEB_DIR
SIGNED_KINDS = ("CEB311", "CEB411", "CEB511", "CEB513", "CEB621", "CEB623", "CEB625", "CEB711")


@pytest.fixture(scope="module")
def rsa() -> sig.SigningKey:
    return sig.test_rsa_key(bits=2048, enterprise="SIGNER")


@pytest.fixture(scope="module")
def sm2() -> sig.SigningKey:
    return sig.test_sm2_key(enterprise="SIGNER")


def pem(key: sig.SigningKey) -> str:
    body = base64.encodebytes(key.cert_der).decode()
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n"


# ---------------------------------------------------------------------------- verification
@pytest.mark.parametrize("algorithm", ["rsa", "sm2"])
def test_a_signed_message_verifies_and_names_its_certificate(algorithm, samples, request):
    key = request.getfixturevalue(algorithm)
    signed = sig.sign(samples["inventory"], key)
    assert signed.startswith(samples["inventory"].rstrip()[:-len(b"</ceb:CEB621Message>")])
    signer = sig.verify(signed)
    assert signer is not None
    assert signer.fingerprint == hashlib.sha256(key.cert_der).hexdigest()
    assert signer.algorithm == ("SM2-SM3" if algorithm == "sm2" else "RSA-SHA1")
    assert (sig.SM2_SM3 if algorithm == "sm2" else sig.RSA_SHA1).encode() in signed
    assert sig.verify(samples["inventory"]) is None  # unsigned


@pytest.mark.parametrize("algorithm", ["rsa", "sm2"])
def test_a_changed_message_or_signature_fails_with_what_failed(algorithm, samples, request):
    signed = sig.sign(samples["inventory"], request.getfixturevalue(algorithm))
    changed = signed.replace(b"<ceb:qty>2</ceb:qty>", b"<ceb:qty>9</ceb:qty>", 1)
    assert changed != signed
    with pytest.raises(sig.SignatureError, match="digest mismatch"):
        sig.verify(changed)
    start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>\n")
    value = base64.b64decode(signed[start:signed.index(b"</ds:SignatureValue>")].replace(b"\n", b""))
    at = 0 if algorithm == "rsa" else len(value) - 3  # SM2: a byte of s inside its DER
    forged = value[:at] + bytes([value[at] ^ 1]) + value[at + 1:]
    tampered = signed.replace(signed[start:signed.index(b"</ds:SignatureValue>")],
                              base64.b64encode(forged) + b"\n", 1)
    with pytest.raises(sig.SignatureError, match="bad signature value"):
        sig.verify(tampered)
    other = sig.sign(samples["inventory"], sig.test_rsa_key())
    swapped = signed[:signed.index(b"<ds:X509Certificate>")] + other[other.index(b"<ds:X509Certificate>"):]
    with pytest.raises(sig.SignatureError):
        sig.verify(swapped)


def test_sm2_signatures_verify_whatever_their_r_and_s_look_like(samples, sm2):
    """Each SM2 signature draws a fresh r and s: a leading zero octet (1 in 256 each) makes a shorter DER INTEGER,
    a high bit (1 in 2) a 0x00-padded 33-octet one. Signed until r and s have each led with a zero octet (about
    400 signatures), every form verifies, and the DER and raw r || s forms convert into each other exactly."""
    edge_rs = [bytes(32) + b"\x01" * 32, b"\x80" + bytes(31) + b"\xff" * 32, b"\x00\x7f" + b"\x01" * 30 + bytes(32)]
    for rs in edge_rs:
        der = sig._sm2_der(rs)
        assert sig._sm2_rs(der) == rs and der[0] == 0x30 and der[1] == len(der) - 2
    seen: dict[str, bytes] = {}
    for _ in range(20_000):
        signed = sig.sign(samples["order"], sm2)
        start = signed.index(b"<ds:SignatureValue>") + len(b"<ds:SignatureValue>")
        value = base64.b64decode(b"".join(signed[start:signed.index(b"</ds:SignatureValue>")].split()))
        rs = sig._sm2_rs(value)
        assert rs is not None and sig._sm2_der(rs) == value
        for name, octet in (("r led by 0", rs[0]), ("s led by 0", rs[32])):
            if octet == 0:
                seen.setdefault(name, signed)
        seen.setdefault(f"r high bit {rs[0] >> 7}, s high bit {rs[32] >> 7}", signed)
        if len(seen) == 6:
            break
    assert len(seen) == 6, sorted(seen)
    for name, signed in seen.items():
        assert sig.verify(signed) is not None, name


def test_an_expired_certificate_is_refused(samples):
    old = sig.test_rsa_key(not_before=datetime(2015, 1, 1, tzinfo=UTC), days=365)
    with pytest.raises(sig.SignatureError, match="certificate expired on 2016-01-01"):
        sig.verify(sig.sign(samples["order"], old))
    later = sig.test_rsa_key(not_before=datetime(2999, 1, 1, tzinfo=UTC), days=365)
    with pytest.raises(sig.SignatureError, match="not valid before 2999-01-01"):
        sig.verify(sig.sign(samples["order"], later))


def test_other_algorithms_and_references_are_refused(samples, rsa):
    signed = sig.sign(samples["order"], rsa)
    for old, new, reason in [
        (sig.RSA_SHA1, "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256", "is not RSA-SHA1 or SM2-SM3"),
        ('URI=""', 'URI="#part"', "must cover the whole message"),
        (sig.C14N + '"></ds:CanonicalizationMethod>', "http://www.w3.org/2001/10/xml-exc-c14n#" + '"></ds:Can'
         'onicalizationMethod>', "is not C14N 20010315"),
    ]:
        with pytest.raises(sig.SignatureError, match=reason):
            sig.verify(signed.replace(old.encode(), new.encode(), 1))


# the forms real senders use: the byte-level canonical form is exactly lxml's C14N, or it is not used
_FORMS = {
    "as generated": lambda m: m,
    "attributes in another order": lambda m: m.replace(b'guid="', b'version="1.0" guid="', 1).replace(
        b'" version="1.0" xmlns', b'" xmlns', 1),
    "default namespace": lambda m: m.replace(b"ceb:", b"").replace(b"xmlns:ceb=", b"xmlns="),
    "BOM and CRLF": lambda m: b"\xef\xbb\xbf" + m.replace(b"><ceb:", b">\r\n<ceb:"),
    "BOM and LF": lambda m: b"\xef\xbb\xbf" + m.replace(b"><ceb:", b">\n\t<ceb:"),
    "comment": lambda m: m.replace(b"<ceb:orderNo>", b"<!-- c --><ceb:orderNo>", 1),
    "character reference": lambda m: m.replace(b"<ceb:currency>142", b"<ceb:currency>&#49;42", 1),
    "empty element": lambda m: m.replace(b"</ceb:orderNo>", b"</ceb:orderNo><ceb:note/>", 1),
    "quote entity": lambda m: m.replace(b"<ceb:gmodel>standard", b"<ceb:gmodel>&quot;standard&quot;", 1),
    "attribute on a field": lambda m: m.replace(b"<ceb:orderNo>", b'<ceb:orderNo a="1">', 1),
    "ampersand": lambda m: m.replace(b"<ceb:gmodel>standard", b"<ceb:gmodel>A&amp;B &lt;x&gt;", 1),
}


@pytest.mark.parametrize("form", list(_FORMS))
def test_canonical_form_on_bytes_is_c14n(form, rsa):
    inventories = [m for m in generate(4, 5) if b"CEB621Message" in m[:200]]
    assert inventories
    for raw in inventories:
        changed = _FORMS[form](raw)
        assert changed != raw or form == "as generated"
        signed = sig.sign(changed, rsa)
        fast = sig.fast_canonical(signed)
        if fast is not None:
            assert (fast.document, fast.signed_info) == sig.canonical_lxml(signed)
        assert (fast is not None) == (form in ("as generated", "attributes in another order", "ampersand",
                                               "default namespace", "BOM and LF")), form
        assert sig.verify(signed) is not None


def test_a_signature_prefix_declared_on_the_root_is_part_of_the_signed_form(rsa):
    signed = sig.sign(next(generate(1, 2)), rsa)
    moved = signed.replace(b' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"', b"").replace(
        b'xmlns:ceb="', b'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:ceb="', 1)
    fast = sig.fast_canonical(moved)
    assert fast is not None and (fast.document, fast.signed_info) == sig.canonical_lxml(moved)
    assert b'xmlns:ds="' in fast.document  # inclusive C14N: the root's namespace declarations are signed
    with pytest.raises(sig.SignatureError, match="^digest mismatch"):
        sig.verify(moved)


def test_generated_traffic_is_canonical_on_its_bytes(rsa):
    msgs = [sig.sign(m, rsa) for m in generate(25, 9)]
    for m in msgs:
        fast = sig.fast_canonical(m)
        assert fast is not None and (fast.document, fast.signed_info) == sig.canonical_lxml(m)


# ---------------------------------------------------------------------------- the official samples
def _official(edition: str) -> list[Path]:
    folder = CEB / edition / "samples" / "import"
    if not folder.is_dir():
        pytest.skip(f"the official CEB samples are not at {folder} (../shared/data/ceb)")
    return [folder / f"{k}Message.xml" for k in SIGNED_KINDS]


def test_the_official_2018_samples_were_edited_after_signing():
    """Every signed 2018 sample carries the same ds:Signature (DigestValue SF/P+2sVsRQ9dJIqJSroW6ajb0Y=) by an
    RSA-1024 certificate of the China e-port CA (valid 2015-05-19 to 2049-12-08). Its SignatureValue is a real
    RSA-SHA1 signature of this SignedInfo canonicalized with xmlns:xsi in scope (the message it was made on
    declared it; the samples do not), and the digest matches none of the samples: they were edited after signing.
    We refuse them as 'digest mismatch'."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    for path in _official("2018"):
        raw = path.read_bytes()
        with pytest.raises(sig.SignatureError, match="^digest mismatch"):
            sig.verify(raw)
        parts = sig._parts(raw)
        assert parts is not None and parts.digest_value == "SF/P+2sVsRQ9dJIqJSroW6ajb0Y="
        fast = sig.fast_canonical(raw)
        assert fast is not None and (fast.document, fast.signed_info) == sig.canonical_lxml(raw)
        cert = x509.load_der_x509_certificate(sig.certificate_der(parts.certificate))
        assert cert.public_key().key_size == 1024  # type: ignore[union-attr]
        assert (cert.not_valid_before_utc.date().isoformat(), cert.not_valid_after_utc.date().isoformat()) == (
            "2015-05-19", "2049-12-08")
        value = base64.b64decode("".join(parts.signature_value.split()))
        head, _, inner = parts.signed_info.partition(b">")
        original = head + b' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">' + inner
        cert.public_key().verify(value, original, padding.PKCS1v15(), hashes.SHA1())  # type: ignore[union-attr, call-arg, arg-type]


def test_the_official_202205_samples_name_sm2_but_carry_the_rsa_signature():
    """The 202205 samples relabel the 2018 signature's algorithms as sm2-sm3 / sm3 (the URIs the 202205 edition
    defines) but keep its RSA certificate, SHA-1-sized digest and RSA signature value."""
    for path in _official("202205"):
        raw = path.read_bytes()
        assert sig.SM2_SM3.encode() in raw and sig.SM3.encode() in raw
        with pytest.raises(sig.SignatureError, match="^a RSA certificate cannot make a sm2-sm3 signature"):
            sig.verify(raw)


# ---------------------------------------------------------------------------- the parse stage (cbec ingest)
def _register(url: str, key: sig.SigningKey, enterprise: str = "3120960999") -> str:
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform

    platform = build_platform(Settings(), database_url=url)
    try:
        with transaction(platform.sessions) as s:
            create_enterprise(s, EnterpriseIn(code=enterprise, name="Signed sender", roles=["platform"]), SYSTEM)
            register_cbec_codes(s, enterprise)
            out = register_certificate(s, enterprise, CertificateIn(certificate=pem(key)), SYSTEM)
    finally:
        platform.close()
    return out.fingerprint


def _engine(url: str, clock, accept_unsigned: bool = False) -> Engine:
    eng = Engine(Store(url), CbecSettings(deadline_s=60, accept_unsigned=accept_unsigned), clock=clock)
    eng.warm_start()
    return eng


def _answers(engine: Engine, raws: list[bytes]) -> list[tuple[str, int, str]]:
    res = engine.process(parse_batch(raws, engine.signatures), raws=raws)
    return [(r.kind, r.status, r.info) for r in res.receipts]


def test_ingest_verifies_every_signature_and_the_registered_certificate(db_url, clock, samples, rsa):
    fp = _register(db_url, rsa)
    engine = _engine(db_url, clock)
    assert engine.signatures.certificates is not None and fp in engine.signatures.certificates
    stranger = sig.test_rsa_key()
    unsigned_inventory = _answers(engine, [samples["inventory"]])
    assert unsigned_inventory == [("CEB622", 100, "ds:Signature: missing: a CEB621 message must be signed")]
    by_stranger = _answers(engine, [sig.sign(samples["inventory"], stranger)])
    assert by_stranger[0][:2] == ("CEB622", 100)
    stranger_fp = hashlib.sha256(stranger.cert_der).hexdigest()
    assert by_stranger[0][2] == (f"ds:Signature: certificate {stranger_fp[:16]} (O=TEST,CN=TEST CEB test signer) "
                                 "is not registered")
    changed = sig.sign(samples["inventory"], rsa).replace(b"<ceb:qty>2<", b"<ceb:qty>3<", 1)
    assert _answers(engine, [changed])[0][1:] == (
        100, "ds:Signature: digest mismatch: the message was changed after it was signed")
    # an order and a payment may come unsigned (optional in the XSD); signed ones are verified
    raws = [samples["order"], sig.sign(samples["payment"], rsa), sig.sign(samples["waybill"], rsa),
            sig.sign(samples["inventory"], rsa)]
    answers = _answers(engine, raws)
    assert [(k, s) for k, s, _ in answers] == [("CEB312", 120), ("CEB412", 120), ("CEB512", 120), ("CEB622", 120),
                                               ("CEB622", 800)]


def test_a_certificate_signs_only_for_its_enterprise_and_not_after_revocation(db_url, clock, samples, rsa):
    _register(db_url, rsa)
    engine = _engine(db_url, clock)
    foreign = sig.sign(samples["inventory"].replace(b"<ceb:ebcCode>1101960101<", b"<ceb:ebcCode>5555960555<"), rsa)
    info = _answers(engine, [foreign])[0][2]
    assert info == (f"ds:Signature: certificate {hashlib.sha256(rsa.cert_der).hexdigest()[:16]} is registered for "
                    "enterprise 3120960999, which does not send under ebcCode 5555960555")
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform

    platform = build_platform(Settings(), database_url=db_url)
    with transaction(platform.sessions) as s:
        revoke_certificate(s, "3120960999", hashlib.sha256(rsa.cert_der).hexdigest(), SYSTEM)
    platform.close()
    engine.signatures = store_signatures(engine.store, False)  # what the writer re-reads every 30 s
    assert "is not registered" in _answers(engine, [sig.sign(samples["order"], rsa)])[0][2]


def test_accepting_unsigned_messages_still_verifies_signed_ones(db_url, clock, samples, rsa):
    engine = _engine(db_url, clock, accept_unsigned=True)
    assert _answers(engine, [samples["order"]])[0][1] == 120
    bad = sig.sign(samples["payment"], rsa).replace(b"PAY", b"PAX", 1)
    assert _answers(engine, [bad])[0][1:] == (
        100, "ds:Signature: digest mismatch: the message was changed after it was signed")


def test_ingest_of_a_signed_stream_and_the_parser_process_path(db_url, clock, tmp_path, rsa):
    _register(db_url, rsa)
    stream = tmp_path / "signed.xml"
    stream.write_bytes(b"".join(generate(40, 3, signer=rsa)))
    engine = _engine(db_url, clock)
    stats = ingest_path(engine, stream, workers=0, flush=True)
    assert stats.parcels >= 38 and stats.status_counts[800] >= 30
    # what a parser process runs (Pool path): the same refusals as inline
    raws = [sig.sign(m, sig.test_rsa_key()) for m in generate(2, 4)]
    checked = sig.check_encoded(raws, engine.signatures)
    assert all(isinstance(c, CebError) and "is not registered" in c.info for c in checked)


# ---------------------------------------------------------------------------- the API and the registry
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def signed_world(request, tmp_path):
    from smartcustoms.core.config import Settings
    from smartcustoms.platform import build_platform
    from tests.support import seed_world

    url = request.getfixturevalue("fresh_sqlite_url" if request.param == "sqlite" else "fresh_pg_url")
    platform = build_platform(Settings(data_dir=tmp_path), database_url=url)
    platform.cbec_settings = CbecSettings(accept_unsigned=False)
    try:
        yield seed_world(platform)
    finally:
        platform.close()


def test_api_registry_and_signed_messages(signed_world, samples, rsa):
    w = signed_world
    admin, trader, other = ({"X-API-Key": w.keys[u]} for u in ("admin", "trader", "other"))
    with TestClient(create_app(w.platform)) as c:
        url = f"/api/v1/enterprises/{w.importer}/certificates"
        assert c.post(url, json={"certificate": pem(rsa)}, headers=trader).status_code == 403
        r = c.post(url, json={"certificate": pem(rsa)}, headers=admin)
        assert r.status_code == 201, r.text
        fp = r.json()["fingerprint"]
        assert fp == hashlib.sha256(rsa.cert_der).hexdigest() and r.json()["algorithm"] == "RSA"
        assert c.post(url, json={"certificate": base64.b64encode(rsa.cert_der).decode()},
                      headers=admin).status_code == 409
        bad = c.post(url, json={"certificate": "not a certificate at all"}, headers=admin)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"].endswith("certificate")
        assert [x["fingerprint"] for x in c.get(url, headers=trader).json()] == [fp]
        assert c.get(f"/api/v1/enterprises/{w.other_importer}/certificates", headers=trader).status_code == 404
        audit = c.get("/api/v1/audit", headers=admin)
        assert audit.status_code != 200 or "certificate.register" in audit.text

        xml = {"Content-Type": "application/xml"}
        r = c.post("/api/v1/cbec/messages", content=samples["inventory"], headers={**trader, **xml})
        assert r.json()["receipts"][0]["returnStatus"] == "100", r.text
        assert "ds:Signature: missing: a CEB621 message must be signed" in r.text
        signed = b"".join(sig.sign(samples[k], rsa) for k in ("order", "payment", "waybill", "inventory"))
        r = c.post("/api/v1/cbec/messages", content=signed, headers={**trader, **xml})
        assert r.status_code == 200, r.text
        assert [x["returnStatus"] for x in r.json()["receipts"]] == ["120", "120", "120", "120", "800"]
        # the same certificate does not sign for another enterprise's caller (sending under the same codes)
        with transaction(w.platform.sessions) as s:
            register_cbec_codes(s, w.other_importer)
        r = c.post("/api/v1/cbec/messages", content=sig.sign(samples["order"].replace(b"ORD2026", b"ORD2027"), rsa),
                   headers={**other, **xml})
        assert r.status_code == 422 and f"certificate {fp[:16]}" in r.text and "is not registered" in r.text
        r = c.post(f"{url}/{fp}/revoke", headers=admin)
        assert r.status_code == 200 and r.json()["revoked_at"] is not None
        assert c.post(f"{url}/{fp}/revoke", headers=admin).status_code == 409
        late = sig.sign(samples["order"].replace(b"ORD20260315000001", b"ORD20260315000002"), rsa)
        r = c.post("/api/v1/cbec/messages", content=late, headers={**trader, **xml})
        assert r.status_code == 422 and "is not registered" in r.text
