"""CEB message signatures (``ds:Signature``): verification on the raw bytes, and signing (tests, generator).

As the CEB specification and its crypto guide give them: an enveloped XML-DSig signature over the whole
message (``Reference URI=""``, transform ``enveloped-signature``, canonicalization C14N 1.0 20010315 without
comments), ``KeyInfo`` with ``KeyName`` and the signer's ``X509Certificate``. Algorithms: RSA-SHA1 with a SHA-1
digest (2018 edition), SM2-SM3 with an SM3 digest (202205 edition; SM2 signature as GB/T 35276, DER
``SEQUENCE {r, s}`` with the default user id ``1234567812345678``; a raw 64-byte ``r || s`` is accepted too).

Canonicalization: a message already in (or one root start tag away from) canonical form, as senders' libraries
and our generator write it, is canonicalized on its bytes (:func:`fast_canonical`), under conditions that make
the result provably the C14N of the document: UTF-8, no DOCTYPE, comment, CDATA, processing instruction or
carriage return, no attribute outside the root start tag and ``SignedInfo``, only ``&amp;`` ``&lt;`` ``&gt;``
references; the root start tag is rewritten in canonical attribute order. Anything else goes through lxml's
C14N (the reference; the two are tested against each other). A message in a form already accepted that way
(equal bytes but for the root's guid, the element content and the two values) skips the regular expressions
(learned forms: :func:`_learned`, about 20 µs a message less; tested against lxml's C14N too).

Keys are cached by certificate bytes, so a sender's certificate is decoded once per process.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from lxml import etree

DSIG = "http://www.w3.org/2000/09/xmldsig#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ENVELOPED = DSIG + "enveloped-signature"
RSA_SHA1 = DSIG + "rsa-sha1"
SHA1 = DSIG + "sha1"
SM2_SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm2-sm3"  # 202205 edition
SM3 = "http://www.chinaport.gov.cn/2022/04/xmldsig#sm3"
DIGESTS = {RSA_SHA1: SHA1, SM2_SM3: SM3}
SM2_USER_ID = b"1234567812345678"  # GB/T 35276-2017 default signer id

#: kinds whose ``ds:Signature`` the official XSD makes mandatory (optional on 311, 411, 511, 513)
SIGNATURE_REQUIRED = frozenset({"CEB621", "CEB623", "CEB625", "CEB711"})

_D = "{" + DSIG + "}"
_SM2_OID = bytes.fromhex("06082a811ccf5501822d")  # 1.2.156.10197.1.301 sm2p256v1


class SignatureError(ValueError):
    """A signature that does not verify; the message says what failed."""


class Signer(NamedTuple):
    """Who signed a message: the certificate's SHA-256 fingerprint (hex), subject and validity, the algorithm."""

    fingerprint: str
    subject: str
    algorithm: str
    not_after: datetime


class CertificateInfo(NamedTuple):
    """A decoded X.509 certificate: fingerprint, subject, serial, validity and key algorithm."""

    fingerprint: str
    subject: str
    serial: str
    not_before: datetime
    not_after: datetime
    algorithm: str  # "RSA" or "SM2"
    der: bytes


def fingerprint(der: bytes) -> str:
    """A certificate's SHA-256 fingerprint as lowercase hex (how the registry names certificates)."""
    return hashlib.sha256(der).hexdigest()


def certificate_der(text: str | bytes) -> bytes:
    """The DER bytes of a certificate given as PEM, base64 DER (whitespace allowed) or DER."""
    if isinstance(text, bytes):
        if text[:1] == b"\x30":
            return text
        text = text.decode("ascii", "replace")
    body = re.sub(r"-----(BEGIN|END) CERTIFICATE-----", "", text)
    try:
        der = base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("certificate is neither PEM nor base64 DER") from None
    if not der:
        raise SignatureError("empty certificate")
    return der


def read_certificate(der: bytes) -> CertificateInfo:
    """Decode an X.509 certificate (RSA or SM2 key) or raise :class:`SignatureError`."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        cert = x509.load_der_x509_certificate(der)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        subject = cert.subject.rfc4514_string()
        serial = format(cert.serial_number, "x")
    except ValueError as exc:
        raise SignatureError(f"certificate unreadable: {exc}") from None
    try:
        key = cert.public_key()
        algorithm = "RSA" if isinstance(key, rsa.RSAPublicKey) else type(key).__name__
    except Exception:  # noqa: BLE001 - cryptography has no SM2 keys: recognised below by the curve's OID
        algorithm = "SM2" if _sm2_point(der) is not None else "unsupported"
    return CertificateInfo(fingerprint(der), subject, serial, not_before, not_after, algorithm, der)


def _sm2_point(der: bytes) -> bytes | None:
    """The uncompressed SM2 public key (65 bytes) of a certificate's SubjectPublicKeyInfo, if it has one."""
    i = der.find(_SM2_OID)
    if i < 0:
        return None
    j = der.find(b"\x03\x42\x00\x04", i + len(_SM2_OID), i + len(_SM2_OID) + 8)
    return der[j + 3:j + 68] if j >= 0 and len(der) >= j + 68 else None


class _Key(NamedTuple):
    info: CertificateInfo
    verify: Any  # (signature bytes, signed bytes) -> bool
    valid_from: float  # epoch seconds
    valid_to: float


_KEYS: dict[bytes, _Key] = {}
#: DER DigestInfo of a SHA-1 digest up to the digest itself (RFC 8017 section 9.2, note 1)
_SHA1_DIGEST_INFO = bytes.fromhex("3021300906052b0e03021a05000414")


def _key(cert_text: bytes) -> _Key:
    """The verifier of a certificate as it appears in ``X509Certificate`` (cached by those bytes)."""
    hit = _KEYS.get(cert_text)
    if hit is not None:
        return hit
    der = certificate_der(cert_text)
    info = read_certificate(der)
    if info.algorithm == "RSA":
        from cryptography import x509
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric import padding

        pub: Any = x509.load_der_x509_certificate(der).public_key()
        recover, pad, sha1 = pub.recover_data_from_signature, padding.PKCS1v15(), hashlib.sha1
        size = (pub.key_size + 7) // 8

        def verify(sig: bytes, data: bytes) -> bool:
            # RSASSA-PKCS1-v1_5 verification as RFC 8017 8.2.2 states it: OpenSSL opens the signature with the
            # public key and checks the padding (00 01 FF.. 00), the DigestInfo it carries is compared with the
            # encoding of SHA-1(data). The same answer as pub.verify(sig, data, PKCS1v15(), SHA1()) without
            # its per-call digest and context set-up (about 5 µs of 14; tests/cbec/test_signature_learned.py).
            # A signature must be k octets (8.2.2 step 1): OpenSSL alone would open one with its leading zero cut
            if len(sig) != size:
                return False
            try:
                return recover(sig, pad, None) == _SHA1_DIGEST_INFO + sha1(data).digest()  # type: ignore[no-any-return]
            except InvalidSignature:
                return False
    elif info.algorithm == "SM2":
        from gmalglib.sm2 import SM2

        sm2 = SM2(pk=_sm2_point(der), uid=SM2_USER_ID)

        def verify(sig: bytes, data: bytes) -> bool:
            rs = _sm2_rs(sig)
            return rs is not None and bool(sm2.verify(data, rs))
    else:
        raise SignatureError(f"certificate key algorithm {info.algorithm} is not RSA or SM2")
    if len(_KEYS) > 4096:
        _KEYS.clear()
    key = _KEYS[cert_text] = _Key(info, verify, info.not_before.timestamp(), info.not_after.timestamp())
    return key


def _sm2_rs(sig: bytes) -> bytes | None:
    """An SM2 signature as the 64 bytes ``r || s``: from DER ``SEQUENCE {INTEGER r, INTEGER s}`` or raw."""
    if len(sig) == 64:
        return sig
    if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
        return None
    out, i = b"", 2
    for _ in range(2):
        if i + 2 > len(sig) or sig[i] != 0x02:
            return None
        n = sig[i + 1]
        v = sig[i + 2:i + 2 + n].lstrip(b"\x00")
        if n > 33 or len(v) > 32:
            return None
        out += v.rjust(32, b"\x00")
        i += 2 + n
    return out if i == len(sig) else None


def _sm2_der(rs: bytes) -> bytes:
    """DER ``SEQUENCE {r, s}`` of a raw 64-byte SM2 signature (GB/T 35276)."""
    def integer(b: bytes) -> bytes:
        b = b.lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b
    body = integer(rs[:32]) + integer(rs[32:])
    return b"\x30" + bytes([len(body)]) + body


def _digest(alg: str, data: bytes) -> bytes:
    if alg == SHA1:
        return hashlib.sha1(data).digest()
    from gmalglib import sm3_digest

    return bytes(sm3_digest(data))


# ---------------------------------------------------------------------------- canonical form on bytes
_NAME = rb"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
_PROLOG = re.compile(
    rb"(?:\xef\xbb\xbf)?(?:<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*([\"'])1\.0\1"
    rb"(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*([\"'])[Uu][Tt][Ff]-8\2)?"
    rb"(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*([\"'])(?:yes|no)\3)?[ \t\r\n]*\?>)?[ \t\r\n]*")
_START = re.compile(rb"<(" + _NAME + rb")((?:[ \t\r\n]+[A-Za-z_][\w.\-:]*[ \t\r\n]*=[ \t\r\n]*\"[^\"<&\t\n\r]*\")*)"
                    rb"[ \t\r\n]*>")
_ATTR = re.compile(rb"[ \t\r\n]+([A-Za-z_][\w.\-:]*)[ \t\r\n]*=[ \t\r\n]*\"([^\"<&\t\n\r]*)\"")
_PREFIX = re.compile(rb"(?:[A-Za-z_][\w.\-]*:)?")
# element content C14N writes as it is: text without < > & or CR, the three predefined references, and
# start / end tags without attributes (each alternative starts differently: no exponential backtracking; no
# possessive group either, which CPython 3.11's re gets wrong)
_CANONICAL_CONTENT = re.compile(rb"(?:[^<>&\r]|&(?:amp|lt|gt);|</?" + _NAME + rb">)*")


def plain_content_py(raw: bytes, start: int, end: int) -> bool:
    """Whether ``raw[start:end]`` is element content C14N writes as it is (the reference of ``_c14n``)."""
    return _CANONICAL_CONTENT.fullmatch(raw, start, end) is not None


try:
    from smartcustoms.cbec.ceb._c14n import plain_content as _plain_content
except ImportError:  # pragma: no cover - `pip install -e .` builds it; the regex gives the same answer
    _plain_content = plain_content_py

_SI_TEMPLATE = (
    rb'[ \t\n]*<P:SignedInfo>(?P<si>[ \t\n]*'
    rb'<P:CanonicalizationMethod Algorithm="(?P<c14n>[^"<>&\t\n\r]*)"></P:CanonicalizationMethod>[ \t\n]*'
    rb'<P:SignatureMethod Algorithm="(?P<method>[^"<>&\t\n\r]*)"></P:SignatureMethod>[ \t\n]*'
    rb'<P:Reference URI="(?P<uri>[^"<>&\t\n\r]*)">[ \t\n]*<P:Transforms>(?P<transforms>(?:[ \t\n]*'
    rb'<P:Transform Algorithm="[^"<>&\t\n\r]*"></P:Transform>)*)[ \t\n]*</P:Transforms>[ \t\n]*'
    rb'<P:DigestMethod Algorithm="(?P<dm>[^"<>&\t\n\r]*)"></P:DigestMethod>[ \t\n]*'
    rb'<P:DigestValue>(?P<dv>[A-Za-z0-9+/=\s]*)</P:DigestValue>[ \t\n]*</P:Reference>[ \t\n]*)</P:SignedInfo>\s*'
    rb'<P:SignatureValue>(?P<sv>[A-Za-z0-9+/=\s]*)</P:SignatureValue>\s*<P:KeyInfo>(?P<ki>[^<]*+(?:<[^<]*+)*?)'
    rb'</P:KeyInfo>\s*')
_SI: dict[bytes, tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]] = {}


def _si_patterns(prefix: bytes) -> tuple[re.Pattern[bytes], re.Pattern[bytes], re.Pattern[bytes]]:
    """The Signature layout, transform and certificate patterns for one namespace prefix (``ds:``)."""
    hit = _SI.get(prefix)
    if hit is None:
        p = re.escape(prefix)
        hit = _SI[prefix] = (
            re.compile(_SI_TEMPLATE.replace(b"P:", p)),
            re.compile(rb'<' + p + rb'Transform Algorithm="([^"]*)">'),
            re.compile(rb"<" + p + rb"X509Certificate>([A-Za-z0-9+/=\s]*)</" + p + rb"X509Certificate>"))
    return hit


class _Parts(NamedTuple):
    """What verification needs of a signed message: the canonical document (Signature removed), the canonical
    SignedInfo and the Signature's values."""

    document: bytes
    signed_info: bytes
    c14n: str
    method: str
    uri: str | None
    transforms: list[str]
    digest_method: str
    digest_value: str
    signature_value: str
    certificate: bytes | None


def _namespaces(attrs: bytes, into: dict[bytes, bytes]) -> bool:
    """Add the namespace declarations of a start tag's attributes to ``into``; False when one cannot be
    canonicalized on bytes (an empty default namespace)."""
    for k, v in _ATTR.findall(attrs):
        if k == b"xmlns":
            if not v:
                return False
            into[b""] = v
        elif k.startswith(b"xmlns:"):
            into[k[6:]] = v
    return True


def _ns_decls(ns: Mapping[bytes, bytes]) -> bytes:
    return b"".join((b' xmlns="' if not p else b" xmlns:" + p + b'="') + ns[p] + b'"' for p in sorted(ns))


_ROOT_ATTRS: dict[bytes, Any] = {}
_SIG_HEADS: dict[tuple, Any] = {}


def _root_form(attrs: bytes, split: bool) -> tuple[bytes, bytes, tuple[tuple[bytes, bytes], ...]] | None:
    """The root start tag's attributes in canonical order (namespace declarations, then attributes by name), split
    around the guid's value when ``split`` (``attrs`` then holds ``guid=""``: the form is cached by that shape,
    which all the messages of a sender share), or ``None`` when they cannot be canonicalized on bytes."""
    ns: dict[bytes, bytes] = {}
    plain: dict[bytes, bytes] = {}
    for k, v in _ATTR.findall(attrs):
        if k == b"xmlns":
            if not v:
                return None
            ns[b""] = v
        elif k.startswith(b"xmlns:"):
            ns[k[6:]] = v
        elif b":" in k or k in plain:
            return None
        else:
            plain[k] = v
    decls = _ns_decls(ns)
    if not split:
        whole = b"".join(b" " + k + b'="' + plain[k] + b'"' for k in sorted(plain))
        return decls + whole, b"", tuple(sorted(ns.items()))
    before = b"".join(b" " + k + b'="' + plain[k] + b'"' for k in sorted(plain) if k < b"guid")
    after = b"".join(b" " + k + b'="' + plain[k] + b'"' for k in sorted(plain) if k > b"guid")
    return decls + before + b' guid="', b'"' + after, tuple(sorted(ns.items()))


class _Layout(NamedTuple):
    """Where :func:`_fast_scan` found the parts of a message (offsets in its bytes), for :func:`_learn`."""

    guid: int  # start of the root's guid value (-1: no guid attribute)
    guid_end: int
    root_end: int
    root_name: bytes
    head: bytes
    rest: bytes
    ns: tuple[tuple[bytes, bytes], ...]
    prefix: bytes
    sig_start: int
    si: tuple[int, int]  # the SignedInfo content
    dv: tuple[int, int]  # the DigestValue content
    sv: tuple[int, int]  # the SignatureValue content
    sig_close: int  # start of "</prefix:Signature>"
    si_head: bytes


def fast_canonical(raw: bytes) -> _Parts | None:
    """The verification inputs of a signed message computed on its bytes (the C14N of the document without its
    ``ds:Signature``, the C14N of ``SignedInfo``, the Signature's values), or ``None`` when the message is not in
    a form where that is provably what C14N gives (then :func:`_parts` uses lxml). The message has been read by
    the parser (well-formed XML); every region of it is checked: the prolog and the tags by regular expressions,
    element content by ``_c14n.plain_content`` (C), the Signature by its strict layout."""
    found = _fast_scan(raw)
    return found[0] if found is not None else None


def _fast_scan(raw: bytes) -> tuple[_Parts, _Layout] | None:
    """:func:`fast_canonical` with where it found each part."""
    m = _PROLOG.match(raw)
    if m is None:
        return None
    root = _START.match(raw, m.end())
    if root is None:
        return None
    attrs = root.group(2)
    g = attrs.find(b' guid="')
    if g < 0:
        form, guid = _root_form(attrs, False), b""
    else:
        q = attrs.find(b'"', g + 7)
        guid = attrs[g + 7:q]
        shape = attrs[:g + 7] + attrs[q:]
        form = _ROOT_ATTRS.get(shape, False)
        if form is False:
            form = _root_form(shape, True)
            if len(_ROOT_ATTRS) < 256:
                _ROOT_ATTRS[shape] = form
    if form is None:
        return None
    head, rest, ns = form
    # the Signature: the first "Signature" after the root tag, in a start tag "<prefix:Signature"
    at = raw.find(b"Signature", root.end())
    sig_start = raw.rfind(b"<", root.end(), at)
    if at < 0 or sig_start < 0 or raw[at + 9:at + 10] not in (b" ", b">", b"\t", b"\n"):
        return None
    prefix = raw[sig_start + 1:at]
    if prefix and _PREFIX.fullmatch(prefix) is None:
        return None
    close = b"</" + prefix + b"Signature>"
    sig_end = raw.find(close, at)
    if sig_end < 0 or raw.find(close, sig_end + 1) >= 0:
        return None
    sig_end += len(close)
    root_close = b"</" + root.group(1) + b">"
    end = raw.find(root_close, sig_end)
    if end < 0 or raw[end + len(root_close):].strip(b" \t\n\r"):
        return None
    end += len(root_close)
    if not (_plain_content(raw, root.end(), sig_start) and _plain_content(raw, sig_end, end)):
        return None
    sig_tag = _START.match(raw, sig_start)
    if sig_tag is None:
        return None
    key = (ns, prefix, sig_tag.group(2))
    si_head: Any = _SIG_HEADS.get(key, False)
    if si_head is False:
        si_ns = dict(ns)
        ok = _namespaces(sig_tag.group(2), si_ns) and si_ns.get(prefix[:-1]) == DSIG.encode()
        si_head = b"<" + prefix + b"SignedInfo" + _ns_decls(si_ns) + b">" if ok else None
        if len(_SIG_HEADS) < 256:
            _SIG_HEADS[key] = si_head
    if si_head is None:
        return None
    layout, transform, _certificate = _si_patterns(prefix)
    sm = layout.fullmatch(raw, sig_tag.end(), sig_end - len(close))
    if sm is None:
        return None
    ki = sm.group("ki")
    if b"<!" in ki or b"<?" in ki:
        return None
    cert_open, cert_close = b"<" + prefix + b"X509Certificate>", b"</" + prefix + b"X509Certificate>"
    i = ki.find(cert_open)
    j = ki.find(cert_close, i)
    cert = ki[i + len(cert_open):j] if i >= 0 and j >= 0 and ki.find(cert_open, j) < 0 else None
    document = b"".join((b"<", root.group(1), head, guid, rest, b">", raw[root.end():sig_start], raw[sig_end:end]))
    signed_info = b"".join((si_head, sm.group("si"), b"</", prefix, b"SignedInfo>"))
    at_guid = root.start(2) + g + 7 if g >= 0 else -1
    found = _Layout(at_guid, at_guid + len(guid), root.end(), root.group(1), head, rest, ns, prefix, sig_start,
                    sm.span("si"), sm.span("dv"), sm.span("sv"), sig_end - len(close), si_head)
    return _Parts(document, signed_info, sm.group("c14n").decode(), sm.group("method").decode(),
                  sm.group("uri").decode(), [t.decode() for t in transform.findall(sm.group("transforms"))],
                  sm.group("dm").decode(), sm.group("dv").decode(), sm.group("sv").decode(), cert), found


# ---------------------------------------------------------------------------- learned message forms
# A sender's messages differ, around their Signature, only in the root's guid, the content, DigestValue and
# SignatureValue. Once a message has been verified on its bytes (:func:`_fast_scan`, whose regular
# expressions and checks stay the reference), its form is kept: the bytes of the prolog and root start tag
# around the guid value (:class:`_RootForm`) and the bytes of the Signature around the two values
# (:class:`_SigForm`), with what was derived from them (canonical root tag and SignedInfo, algorithms checked,
# the certificate's key). A later message whose bytes are equal to a kept form there, whose guid and values
# hold only the characters those regular expressions allow, and whose content passes the same C check gets
# the same canonical form without the regular expressions; any difference falls back to the full scan.
class _RootForm(NamedTuple):
    tail: bytes  # the root start tag from the guid value's closing quote to its ">"
    head: bytes  # canonical root start tag up to the guid value
    rest: bytes  # canonical root start tag after the guid value
    close: bytes  # the root end tag
    ns: tuple[tuple[bytes, bytes], ...]


class _SigForm(NamedTuple):
    si_before: bytes  # canonical SignedInfo up to the DigestValue
    si_after: bytes  # canonical SignedInfo after the DigestValue
    close: bytes  # "</prefix:Signature>"
    digest_method: str
    key: _Key
    signer: Signer


_ROOT_FORMS: dict[bytes, _RootForm] = {}
_SIG_FORMS: dict[tuple[tuple[tuple[bytes, bytes], ...], bytes, bytes, bytes], _SigForm] = {}
_NEEDLES: dict[bytes, tuple[bytes, bytes, bytes]] = {}
_MISS: Any = object()
_WS = b" \t\n\r\f\v"  # what the layout's \s matches in a value
_B64_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=" + _WS
_NOT_IN_ATTR = b'<&\t\n\r'


def _needles(prefix: bytes) -> tuple[bytes, bytes, bytes]:
    """The DigestValue and SignatureValue start tags and the Signature end tag with ``prefix``."""
    hit = _NEEDLES.get(prefix)
    if hit is None:
        if len(_NEEDLES) >= 64:
            _NEEDLES.clear()
        hit = _NEEDLES[prefix] = (b"<" + prefix + b"DigestValue>", b"<" + prefix + b"SignatureValue>",
                                  b"</" + prefix + b"Signature>")
    return hit


def _split(raw: bytes, root_end: int) -> tuple[int, int, int, int, int, int] | None:
    """The Signature's start, the DigestValue and SignatureValue spans and the Signature end tag's start, found
    by substring search (how :func:`_verify_learned` finds them), or ``None``."""
    at = raw.find(b"Signature", root_end)
    sig_start = raw.rfind(b"<", root_end, at) if at >= 0 else -1
    if sig_start < 0:
        return None
    dv_open, sv_open, close = _needles(raw[sig_start + 1:at])
    a = raw.find(dv_open, at)
    if a < 0:
        return None
    a += len(dv_open)
    b = raw.find(b"<", a)
    c = raw.find(sv_open, b)
    if b < 0 or c < 0:
        return None
    c += len(sv_open)
    d = raw.find(b"<", c)
    e = raw.find(close, d) if d >= 0 else -1
    return None if e < 0 else (sig_start, a, b, c, d, e)


def _learn(raw: bytes, lay: _Layout, digest_method: str, key: _Key, signer: Signer) -> None:
    """Keep the form of a message whose bytes :func:`_fast_scan` accepted and whose algorithms and certificate
    passed, when the substring search of :func:`_verify_learned` finds the same offsets as the scan did."""
    if lay.guid < 0 or raw.find(b' guid="', 0, 1024) + 7 != lay.guid or raw.find(b'"', lay.guid) != lay.guid_end:
        return
    split = _split(raw, lay.root_end)
    if split != (lay.sig_start, *lay.dv, *lay.sv, lay.sig_close):
        return
    sig_start, a, b, c, d, e = split
    close = b"</" + lay.prefix + b"Signature>"
    if len(_ROOT_FORMS) >= 1024:
        _ROOT_FORMS.clear()
    _ROOT_FORMS[raw[:lay.guid]] = _RootForm(raw[lay.guid_end:lay.root_end], b"<" + lay.root_name + lay.head,
                                            lay.rest + b">", b"</" + lay.root_name + b">", lay.ns)
    if len(_SIG_FORMS) >= 4096:
        _SIG_FORMS.clear()
    _SIG_FORMS[(lay.ns, raw[sig_start:a], raw[b:c], raw[d:e])] = _SigForm(
        lay.si_head + raw[lay.si[0]:a], raw[b:lay.si[1]] + b"</" + lay.prefix + b"SignedInfo>", close,
        digest_method, key, signer)


def _learned(raw: bytes) -> tuple[_SigForm, bytes, bytes, bytes, bytes] | None:
    """A message in a learned form: its form, canonical document (Signature removed), canonical SignedInfo,
    DigestValue and SignatureValue (as in the bytes); ``None`` when it is in no learned form."""
    g = raw.find(b' guid="', 0, 1024)
    if g < 0:
        return None
    g += 7
    root = _ROOT_FORMS.get(raw[:g])
    if root is None:
        return None
    q = raw.find(b'"', g)
    if q < 0 or not raw.startswith(root.tail, q):
        return None
    guid = raw[g:q]
    if len(guid.translate(None, _NOT_IN_ATTR)) != len(guid):
        return None
    root_end = q + len(root.tail)
    split = _split(raw, root_end)
    if split is None:
        return None
    sig_start, a, b, c, d, e = split
    form = _SIG_FORMS.get((root.ns, raw[sig_start:a], raw[b:c], raw[d:e]))
    if form is None or raw.find(form.close, e + 1) >= 0:
        return None
    sig_end = e + len(form.close)
    end = raw.find(root.close, sig_end)
    if end < 0 or raw[end + len(root.close):].strip(b" \t\n\r"):
        return None
    end += len(root.close)
    if not (_plain_content(raw, root_end, sig_start) and _plain_content(raw, sig_end, end)):
        return None
    dv, sv = raw[a:b], raw[c:d]
    if dv.translate(None, _B64_CHARS) or sv.translate(None, _B64_CHARS):
        return None
    document = b"".join((root.head, guid, root.rest, raw[root_end:sig_start], raw[sig_end:end]))
    return form, document, b"".join((form.si_before, dv, form.si_after)), dv, sv


def _verify_learned(raw: bytes, now: datetime | None) -> Any:
    """:func:`verify` of a message in a learned form: the signer, or :class:`SignatureError`; ``_MISS`` when the
    message is in no learned form (then the full scan decides)."""
    found = _learned(raw)
    if found is None:
        return _MISS
    form, document, signed_info, dv, sv = found
    key = form.key
    try:
        expected = base64.b64decode(dv.translate(None, _WS), validate=True)
        value = base64.b64decode(sv.translate(None, _WS), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("DigestValue or SignatureValue is not base64") from None
    if _digest(form.digest_method, document) != expected:
        raise SignatureError("digest mismatch: the message was changed after it was signed")
    if not key.verify(value, signed_info):
        raise SignatureError("bad signature value: SignedInfo was not signed by the certificate's key")
    _check_validity(key, now)
    return form.signer


def _check_validity(key: _Key, now: datetime | None) -> None:
    when = now.timestamp() if now is not None else time.time()
    if when > key.valid_to:
        raise SignatureError(f"certificate expired on {key.info.not_after:%Y-%m-%d}")
    if when < key.valid_from:
        raise SignatureError(f"certificate not valid before {key.info.not_before:%Y-%m-%d}")


_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _values(sig: Any) -> dict[str, Any]:
    """The Signature element's algorithms and values (an lxml element)."""
    def one(path: str) -> Any:
        found = sig.findall(path)
        if len(found) != 1:
            raise SignatureError(f"expected one {path.replace(_D, 'ds:')}, found {len(found)}")
        return found[0]
    si = _D + "SignedInfo"
    ref = one(f"{si}/{_D}Reference")
    cert = sig.findall(f"{_D}KeyInfo/{_D}X509Data/{_D}X509Certificate")
    return {
        "c14n": one(f"{si}/{_D}CanonicalizationMethod").get("Algorithm", ""),
        "method": one(f"{si}/{_D}SignatureMethod").get("Algorithm", ""),
        "uri": ref.get("URI"),
        "transforms": [t.get("Algorithm", "") for t in ref.iterfind(f"{_D}Transforms/{_D}Transform")],
        "digest_method": one(f"{si}/{_D}Reference/{_D}DigestMethod").get("Algorithm", ""),
        "digest_value": one(f"{si}/{_D}Reference/{_D}DigestValue").text or "",
        "signature_value": one(f"{_D}SignatureValue").text or "",
        "certificate": (cert[0].text or "").encode() if len(cert) == 1 else None,
    }


def _parts(raw: bytes) -> _Parts | None:
    """The verification inputs of a message, or ``None`` when it has no ``ds:Signature``."""
    fast = fast_canonical(raw)
    return fast if fast is not None else _lxml_parts(raw)


def _lxml_parts(raw: bytes) -> _Parts | None:
    """:func:`_parts` by lxml's C14N (the reference)."""
    try:
        root = etree.fromstring(raw, _PARSER)
    except etree.XMLSyntaxError:
        return None  # the parser refuses the message itself
    found = root.findall(f".//{_D}Signature")
    if not found:
        return None
    if len(found) > 1:
        raise SignatureError(f"{len(found)} signatures; a message carries one")
    sig = found[0]
    if sig.getparent() is not root:
        raise SignatureError("not a child of the message's root element (enveloped signature)")
    values = _values(sig)
    si = sig.find(_D + "SignedInfo")
    signed_info = etree.tostring(si, method="c14n")
    tail, prev = sig.tail, sig.getprevious()
    root.remove(sig)  # the enveloped-signature transform: the element goes, the text around it stays
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    document = etree.tostring(root.getroottree(), method="c14n")
    return _Parts(document, signed_info, **values)


def canonical_lxml(raw: bytes) -> tuple[bytes, bytes]:
    """``(document, SignedInfo)`` canonicalized by lxml only (the reference for :func:`fast_canonical`)."""
    root = etree.fromstring(raw, _PARSER)
    sig = root.find(_D + "Signature")
    signed_info = etree.tostring(sig.find(_D + "SignedInfo"), method="c14n")
    tail, prev = sig.tail, sig.getprevious()
    root.remove(sig)
    if tail:
        if prev is not None:
            prev.tail = (prev.tail or "") + tail
        else:
            root.text = (root.text or "") + tail
    return etree.tostring(root.getroottree(), method="c14n"), signed_info


def is_signed(raw: bytes) -> bool:
    """Whether a message carries an XML-DSig element (a cheap test on the bytes)."""
    return raw.find(b"xmldsig#") >= 0  # bytes.find: `in` first tries the operand as an int (an exception)


def verify(raw: bytes, now: datetime | None = None) -> Signer | None:
    """Verify a message's ``ds:Signature``: the signer, ``None`` when the message is unsigned, or
    :class:`SignatureError` naming what failed (digest mismatch, bad signature value, algorithm, certificate
    expired or unreadable)."""
    if raw.find(b"xmldsig#") < 0:
        return None
    if type(raw) is bytes:
        signer = _verify_learned(raw, now)
        if signer is not _MISS:
            return signer  # type: ignore[no-any-return]
    scanned = _fast_scan(raw)
    p = scanned[0] if scanned is not None else _lxml_parts(raw)
    if p is None:
        return None
    if p.c14n != C14N:
        raise SignatureError(f"canonicalization {p.c14n!r} is not C14N 20010315")
    digest_method = DIGESTS.get(p.method)
    if digest_method is None:
        raise SignatureError(f"signature method {p.method!r} is not RSA-SHA1 or SM2-SM3")
    if p.digest_method != digest_method:
        raise SignatureError(f"digest method {p.digest_method!r} does not go with {p.method!r}")
    if p.uri != "":
        raise SignatureError(f'reference URI {p.uri!r}: the signature must cover the whole message (URI="")')
    if not p.transforms or p.transforms[0] != ENVELOPED or any(t != C14N for t in p.transforms[1:]):
        raise SignatureError("transforms must be enveloped-signature (then C14N)")
    if p.certificate is None:
        raise SignatureError("no KeyInfo/X509Data/X509Certificate")
    key = _key(p.certificate)
    if (key.info.algorithm == "SM2") != (p.method == SM2_SM3):
        raise SignatureError(f"a {key.info.algorithm} certificate cannot make a {p.method.rsplit('#')[-1]} signature")
    signer = Signer(key.info.fingerprint, key.info.subject, "SM2-SM3" if p.method == SM2_SM3 else "RSA-SHA1",
                    key.info.not_after)
    if scanned is not None and type(raw) is bytes:
        _learn(raw, scanned[1], digest_method, key, signer)
    try:
        expected = base64.b64decode("".join(p.digest_value.split()), validate=True)
        value = base64.b64decode("".join(p.signature_value.split()), validate=True)
    except (binascii.Error, ValueError):
        raise SignatureError("DigestValue or SignatureValue is not base64") from None
    if _digest(digest_method, p.document) != expected:
        raise SignatureError("digest mismatch: the message was changed after it was signed")
    if not key.verify(value, p.signed_info):
        raise SignatureError("bad signature value: SignedInfo was not signed by the certificate's key")
    _check_validity(key, now)
    return signer


# ---------------------------------------------------------------------------- signing
class SigningKey(NamedTuple):
    """A signer's private key and certificate: ``key`` a cryptography RSA private key, or the 32-byte SM2 private
    key; ``cert_der`` the X.509 certificate; ``key_name`` the ``ds:KeyName`` (the card's number)."""

    key: Any
    cert_der: bytes
    key_name: str = "0001"

    @property
    def sm2(self) -> bool:
        """Whether this is an SM2 key (202205 edition) rather than RSA (2018 edition)."""
        return isinstance(self.key, bytes | bytearray)


def _b64(b: bytes, width: int = 76) -> str:
    s = base64.b64encode(b).decode()
    return "\n".join(s[i:i + width] for i in range(0, len(s), width))


def sign(raw: bytes, signer: SigningKey) -> bytes:
    """The message with an enveloped ``ds:Signature`` appended as the root's last child (as the official
    samples place it); the rest of the bytes are kept as they are."""
    method, digest_method = (SM2_SM3, SM3) if signer.sm2 else (RSA_SHA1, SHA1)
    root_end = raw.rstrip().rfind(b"</")
    body, end = raw[:root_end], raw[root_end:]
    cert = _b64(signer.cert_der)

    def signature(digest: str, value: str) -> bytes:
        return (f'<ds:Signature xmlns:ds="{DSIG}">\n<ds:SignedInfo>\n'
                f'<ds:CanonicalizationMethod Algorithm="{C14N}"></ds:CanonicalizationMethod>\n'
                f'<ds:SignatureMethod Algorithm="{method}"></ds:SignatureMethod>\n<ds:Reference URI="">\n'
                f'<ds:Transforms>\n<ds:Transform Algorithm="{ENVELOPED}"></ds:Transform>\n</ds:Transforms>\n'
                f'<ds:DigestMethod Algorithm="{digest_method}"></ds:DigestMethod>\n'
                f"<ds:DigestValue>{digest}</ds:DigestValue>\n</ds:Reference>\n</ds:SignedInfo>\n"
                f"<ds:SignatureValue>\n{value}\n</ds:SignatureValue>\n<ds:KeyInfo>\n"
                f"<ds:KeyName>{signer.key_name}</ds:KeyName>\n<ds:X509Data>\n<ds:X509Certificate>\n{cert}\n"
                f"</ds:X509Certificate>\n</ds:X509Data>\n</ds:KeyInfo>\n</ds:Signature>").encode()

    def canonical(message: bytes) -> tuple[bytes, bytes]:
        fast = fast_canonical(message)
        return canonical_lxml(message) if fast is None else (fast.document, fast.signed_info)

    document = canonical(body + signature("", "") + end)[0]
    digest = base64.b64encode(_digest(digest_method, document)).decode()
    si_c14n = canonical(body + signature(digest, "") + end)[1]
    if signer.sm2:
        from gmalglib.sm2 import SM2

        value = _sm2_der(SM2(sk=bytes(signer.key), uid=SM2_USER_ID).sign(si_c14n))
    else:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        value = signer.key.sign(si_c14n, padding.PKCS1v15(), hashes.SHA1())
    return body + signature(digest, _b64(value)) + end


def test_rsa_key(seed: int = 0, bits: int = 1024, enterprise: str = "TEST", days: int = 3650,
                 not_before: datetime | None = None) -> SigningKey:
    """A generated RSA key with a self-signed certificate (tests, the generator and the demo; never a real
    enterprise's key). The official cards' certificates are RSA-1024, the generator's default."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    del seed  # keys are random; the seed names the certificate only
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{enterprise} CEB test signer"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise)])
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(start)
            .not_valid_after(start + timedelta(days=days)).sign(key, hashes.SHA256()))
    return SigningKey(key, cert.public_bytes(serialization.Encoding.DER))


def test_sm2_key(enterprise: str = "TEST", days: int = 3650, not_before: datetime | None = None) -> SigningKey:
    """A generated SM2 key with a self-signed SM2-with-SM3 certificate (GM/T 0015 layout), for tests."""
    from datetime import timedelta

    import gmalglib
    from gmalglib.sm2 import SM2

    sk, pk = gmalglib.sm2_generate_keypair()
    start = not_before or datetime.now(UTC) - timedelta(days=1)
    end = start + timedelta(days=days)

    def tlv(tag: int, body: bytes) -> bytes:
        n = len(body)
        length = bytes([n]) if n < 128 else (bytes([0x81, n]) if n < 256 else bytes([0x82, n >> 8, n & 255]))
        return bytes([tag]) + length + body

    def utc(t: datetime) -> bytes:
        return tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode())

    sm2_sm3 = tlv(0x30, bytes.fromhex("06082a811ccf55018375"))  # 1.2.156.10197.1.501
    name = tlv(0x30, tlv(0x31, tlv(0x30, bytes.fromhex("0603550403") + tlv(0x0C, f"{enterprise} SM2".encode()))))
    spki = tlv(0x30, tlv(0x30, bytes.fromhex("06072a8648ce3d0201") + _SM2_OID) + tlv(0x03, b"\x00" + pk))
    tbs = tlv(0x30, tlv(0xA0, tlv(0x02, b"\x02")) + tlv(0x02, b"\x01" + sk[:8]) + sm2_sm3 + name
              + tlv(0x30, utc(start) + utc(end)) + name + spki)
    value = _sm2_der(SM2(sk=sk, uid=SM2_USER_ID).sign(tbs))
    cert = tlv(0x30, tbs + sm2_sm3 + tlv(0x03, b"\x00" + value))
    return SigningKey(sk, cert)


# ---------------------------------------------------------------------------- policy in the parse stage
class Registration(NamedTuple):
    """A registered certificate: the enterprise it signs for and the codes that enterprise sends under."""

    enterprise: str
    codes: frozenset[str]


#: head fields naming the enterprises a document is sent for (what the signer's enterprise must own)
SENDER_CODE_FIELDS: dict[str, tuple[str, ...]] = {
    "CEB311": ("ebpCode", "ebcCode"),
    "CEB411": ("payCode",),
    "CEB511": ("logisticsCode",),
    "CEB513": ("logisticsCode",),
    "CEB621": ("ebpCode", "ebcCode"),
    "CEB623": ("ebpCode", "ebcCode"),
    "CEB625": ("ebpCode", "ebcCode"),
    "CEB711": ("ebpCode", "ebcCode"),
}
_KEY_FIELDS = ("orderNo", "copNo", "logisticsNo", "logisticsCode", "payCode", "payTransactionId", "ebpCode",
               "ebcCode", "agentCode", "customsCode", "preNo", "invtNo")


class SignaturePolicy(NamedTuple):
    """What the parse stage requires of signatures: registered certificates by fingerprint (``None``: any
    certificate that verifies), and whether unsigned messages of the kinds that must be signed are accepted."""

    certificates: Mapping[str, Registration] | None
    accept_unsigned: bool = False


def signer_problem(docs: Sequence[Any], signer: Signer | None, policy: SignaturePolicy) -> str | None:
    """Why documents signed by ``signer`` (``None``: unsigned) are refused under ``policy``, or ``None``."""
    kind = docs[0].kind if docs else ""
    if signer is None:
        if kind in SIGNATURE_REQUIRED and not policy.accept_unsigned:
            return f"missing: a {kind} message must be signed"
        return None
    if policy.certificates is None:
        return None
    reg = policy.certificates.get(signer.fingerprint)
    if reg is None:
        return f"certificate {signer.fingerprint[:16]} ({signer.subject}) is not registered"
    for doc in docs:
        for name in SENDER_CODE_FIELDS.get(doc.kind, ()):
            value = doc.head.get(name)
            if value is not None and value not in reg.codes:
                return (f"certificate {signer.fingerprint[:16]} is registered for enterprise {reg.enterprise}, "
                        f"which does not send under {name} {value}")
    return None


def refusal(docs: Sequence[Any], reason: str, kind: str | None = None, message_guid: str | None = None) -> Any:
    """The :class:`~.spec.CebError` refusing a whole message for its signature (status 100)."""
    from smartcustoms.cbec.ceb.spec import CebError

    first = docs[0] if docs else None
    keys = {k: first.head[k] for k in _KEY_FIELDS if k in first.head} if first is not None else {}
    return CebError([("ds:Signature", reason)], first.kind if first is not None else kind,
                    (first.message_guid or None) if first is not None else message_guid,
                    (first.guid or None) if first is not None else None, keys=keys)


def check_batch(raws: Sequence[bytes], parsed: list[Any], policy: SignaturePolicy | None,
                hints: Sequence[bool | None] | None = None) -> list[Any]:
    """Apply ``policy`` to a parsed batch: each message whose signature fails (or that is unsigned where a
    signature is required, or signed by a certificate not registered for its sender) is replaced by its
    refusal. ``parsed[i]`` is a list of documents (and refused documents), an ``Encoded`` (log payloads) or a
    ``CebError``. ``hints[i]`` (from ``parse_batch_documents``' ``signed``) is whether the compiled scanner read
    a ``Signature`` in message ``i`` (``None``: it did not read it); without a hint an unsigned message costs
    one substring test over its bytes when unsigned messages are accepted."""
    if policy is None:
        return parsed
    from smartcustoms.cbec.ceb.parse import Encoded, document_from_json, sniff
    from smartcustoms.cbec.ceb.spec import CebError

    accept_unsigned = policy.accept_unsigned
    if accept_unsigned and hints is not None and len(hints) == len(parsed) and True not in hints \
            and None not in hints:
        return parsed  # the scanner read every message, none signed, and unsigned ones are accepted
    for i, item in enumerate(parsed):
        if isinstance(item, CebError):
            continue
        raw = raws[i]
        hint = hints[i] if hints is not None else None
        signed = hint if hint is not None else type(raw) is bytes and raw.find(b"xmldsig#") >= 0
        if not signed:
            if accept_unsigned:
                continue
            if isinstance(item, Encoded):
                kind = sniff(raw[:512])[0] if type(raw) is bytes else None
                if kind is not None and kind not in SIGNATURE_REQUIRED:
                    continue
            elif not any(type(d) is not CebError and d.kind in SIGNATURE_REQUIRED for d in item):
                continue
        if isinstance(item, Encoded):
            docs = [document_from_json(p) for p in item.payloads if isinstance(p, bytes | bytearray)]
        else:
            docs = [d for d in item if not isinstance(d, CebError)]
        if not docs:
            continue
        try:
            signer = verify(raw) if signed else None
        except SignatureError as exc:
            parsed[i] = refusal(docs, str(exc))
            continue
        problem = signer_problem(docs, signer, policy)
        if problem is not None:
            parsed[i] = refusal(docs, problem)
    return parsed


def check_encoded(raws: Sequence[bytes], policy: SignaturePolicy | None) -> list[Any]:
    """``parse_batch_encoded`` and :func:`check_batch` in one call (what a parser process runs)."""
    from smartcustoms.cbec.ceb.parse import parse_batch_encoded

    return check_batch(raws, parse_batch_encoded(raws), policy)
