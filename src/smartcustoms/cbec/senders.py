"""Who may send and read what in CBEC: sender codes of documents, and the reasons traders are told.

* A trader's documents must carry codes registered for its enterprise (``enterprises.sender_codes``):
  the ebpCode and ebcCode of orders and inventories, the payCode of payments, the logisticsCode of waybills.
  A message with a foreign code is refused whole, with a receipt naming the field.
* A trader reads a parcel's status and a plain reason; the risk score, rule names, ranks and random
  selection stay with customs (they would let a sender probe and evade the targeting).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from smartcustoms.cbec.ceb.signature import Registration, SignaturePolicy
from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER, PAYMENT, SPECS, WAYBILL, CebError, Document
from smartcustoms.cbec.ceb.statuses import REJECTED, STATUS_NAMES
from smartcustoms.enterprises.models import SigningCertificate

#: document kind -> (CEB field, sender-code kind) pairs that must belong to the sender's enterprise
SENDER_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    ORDER: (("ebpCode", "ebp"), ("ebcCode", "ebc")),
    PAYMENT: (("payCode", "pay"),),
    WAYBILL: (("logisticsCode", "logistics"),),
    INVENTORY: (("ebpCode", "ebp"), ("ebcCode", "ebc")),
    # after release: the logistics company's waybill status; the e-commerce firm's (or its agent's) cancellations
    # and returns; the supervised warehouse operator's entry list (registered as a logistics sender code)
    "CEB513": (("logisticsCode", "logistics"),),
    "CEB623": (("ebpCode", "ebp"), ("ebcCode", "ebc")),
    "CEB625": (("ebpCode", "ebp"), ("ebcCode", "ebc")),
    "CEB711": (("operatorCode", "logistics"),),
}

#: what a trader is told of a parcel status (the receipt's returnInfo too)
PLAIN_REASONS: dict[int, str] = {
    120: "entered customs",
    300: "held for document review",
    399: "decided by customs",
    500: "held for inspection",
    501: "detained, passed to clearance",
    502: "detained, passed to anti-smuggling",
    503: "detained, passed to legal",
    599: "detained",
    700: "returned",
    800: "released",
    899: "closed",
}


def foreign_codes(docs: Sequence[Document], codes: Mapping[str, frozenset[str]],
                  enterprise: str | None) -> CebError | None:
    """The refusal of a message whose documents carry a code not registered for ``enterprise`` (``None``: all
    its codes are the enterprise's); ``codes`` maps a sender-code kind to the enterprise's codes."""
    problems = []
    many = len(docs) > 1
    for i, doc in enumerate(docs, 1):
        spec = SPECS[doc.kind]
        where = f"ceb:{spec.doc_tag}[{i}]" if many else f"ceb:{spec.doc_tag}"
        for name, kind in SENDER_FIELDS[doc.kind]:
            value = doc.head.get(name)
            if value is not None and value not in codes.get(kind, ()):
                problems.append((f"{where}/ceb:{spec.head_tag}/ceb:{name}",
                                 f"{name} {value} is not registered for enterprise {enterprise}"))
    if not problems:
        return None
    first = docs[0]
    return CebError(problems, first.kind, first.message_guid or None, first.guid or None)


def plain_reason(status: int, info: str | None, actor: str | None = "system") -> str:
    """What a trader is told of a status: the failed checks of a rejection by the pipeline, otherwise the
    status in plain words (no score, rule, rank or random selection)."""
    if status == REJECTED:
        if actor == "system" and info and not info.startswith("released"):
            return info
        return "rejected by customs" if actor != "system" else "rejected"
    return PLAIN_REASONS.get(status) or STATUS_NAMES.get(status, "")


def for_trader_parcel(parcel: dict[str, Any]) -> dict[str, Any]:
    """A parcel read as a trader sees it: status and plain reasons, no score, no officers' names."""
    out = dict(parcel)
    out["risk_score"] = None
    out["info"] = plain_reason(out["status"], out.get("info"), _last_actor(out))
    if "events" in out:
        out["events"] = [{**e, "info": plain_reason(e["status"], e["info"], e["actor"]),
                          "actor": "system" if e["actor"] == "system" else "customs"} for e in out["events"]]
    return out


def _last_actor(parcel: dict[str, Any]) -> str:
    events = parcel.get("events") or []
    return events[-1]["actor"] if events else "system"


# ---------------------------------------------------------------------------- signing certificates
_REGISTERED = (
    "SELECT c.fingerprint, c.enterprise_code, s.code FROM signing_certificates c "
    "LEFT JOIN sender_codes s ON s.enterprise_code = c.enterprise_code WHERE c.revoked_at IS NULL")


def store_signatures(store: Any, accept_unsigned: bool) -> SignaturePolicy:
    """The signature policy of a writer (``cbec ingest``): every registered, unrevoked certificate, each with the
    codes of its enterprise (its own code and its registered sender codes). One query."""
    regs: dict[str, tuple[str, set[str]]] = {}
    try:
        rows = store.execute(_REGISTERED).fetchall()
    except Exception:  # noqa: BLE001 - a CBEC-only store without the core tables: no certificate is registered
        rows = []
    for fp, enterprise, code in rows:
        reg = regs.setdefault(fp, (enterprise, {enterprise}))
        if code is not None:
            reg[1].add(code)
    return SignaturePolicy({fp: Registration(e, frozenset(c)) for fp, (e, c) in regs.items()}, accept_unsigned)


def caller_signatures(session: Session, enterprise: str, codes: Mapping[str, frozenset[str]],
                      accept_unsigned: bool) -> SignaturePolicy:
    """The signature policy of an API caller: only its enterprise's unrevoked certificates sign its messages."""
    mine = frozenset().union(*codes.values()) | {enterprise}
    fps = session.scalars(select(SigningCertificate.fingerprint).where(
        SigningCertificate.enterprise_code == enterprise, SigningCertificate.revoked_at.is_(None)))
    return SignaturePolicy({fp: Registration(enterprise, mine) for fp in fps}, accept_unsigned)
