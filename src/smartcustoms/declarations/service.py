"""Lodging, reading, amending, cancelling and deciding declarations.

Hot paths use SQLAlchemy Core with executemany (one transaction per batch, no per-row ORM work).
Every status change appends a ``declaration_events`` row in the same transaction that updates the
``status`` projection on the header.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any, Protocol, cast
from uuid import uuid4

from sqlalchemy import CursorResult, Date, Integer, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy import cast as sql_cast
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.audit.service import record
from smartcustoms.codes import CodeLists
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationProblem
from smartcustoms.core.security import Principal, Role
from smartcustoms.declarations import listing
from smartcustoms.declarations.lifecycle import (
    AMENDABLE,
    CANCELLABLE,
    DECISION_REASONS,
    DECISION_STATUS,
    TOLD_TO_TRADER,
    Decision,
    Lane,
    Status,
    can_transition,
    decision_errors,
)
from smartcustoms.declarations.models import (
    Declaration,
    DeclarationAmendment,
    DeclarationEvent,
    DeclarationVersion,
    GoodsItem,
    NumberSequence,
    TaxPayment,
)
from smartcustoms.declarations.payments import Payment, PaymentState, payment_state
from smartcustoms.declarations.schemas import (
    DeclarationIn,
    DeclarationOut,
    DeclarationSummary,
    EventOut,
    GoodsItemOut,
    TaxOut,
)
from smartcustoms.declarations.versions import VersionDiff, diff, snapshot
from smartcustoms.enterprises.mandates import mandated
from smartcustoms.enterprises.service import Party, parties
from smartcustoms.tax.service import Assessment, ExchangeRates, TariffTable, TaxableItem, TaxError, assess

MONEY_TOLERANCE = Decimal("0.01")
MAX_FUTURE = timedelta(hours=1)
MAX_AGE = timedelta(days=730)

#: lanes from least to most intrusive: an amendment keeps or raises a declaration's lane
LANE_RANK = {Lane.GREEN: 0, Lane.YELLOW: 1, Lane.BLUE: 2, Lane.RED: 3}
#: what a trader is told of a lane (scores, rules, ranks and mechanisms are for customs only)
TRADER_LANE_WORDS = {"green": "released", "yellow": "documents requested", "blue": "non-intrusive scan",
                     "red": "physical inspection"}


# -- the seam to risk targeting ----------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LodgedDeclaration:
    """What selectivity sees of a newly accepted and assessed declaration."""

    id: int
    declaration_no: str
    data: DeclarationIn
    lodged_at: datetime
    assessment: Assessment
    importer: Party
    declarant: Party


@dataclass(frozen=True, slots=True)
class LaneDecision:
    """The selectivity lane chosen for a declaration, with its score, reasons and the mechanism that chose it."""
    lane: Lane
    score: float
    reasons: list[str]
    mechanism: str  # "rule", "model", "exploration", "mandatory"
    detail: dict = field(default_factory=dict)


class Selectivity(Protocol):
    """Chooses a lane for each declaration of a batch (one model call per batch)."""

    def decide(self, session: Session, batch: Sequence[LodgedDeclaration]) -> list[LaneDecision]:
        """Choose the lane of each declaration of the batch."""
        ...


#: told, inside the transaction, of the lifecycle events just appended (rows of ``declaration_events``: its
#: ``declaration_id``, ``seq``, ``at``, ``actor``, ``from_status``, ``to_status``, ``reason``, ``detail``); what
#: it writes commits with them. The platform wires the producers of notices (the inbox) here.
EventListener = Callable[[Session, Sequence[dict]], None]


# -- statements of the lodging transaction, built once (Core: compiled once, no per-call construction) --------
_DT, _IT, _ET = (cast(Table, Declaration.__table__), cast(Table, GoodsItem.__table__),
                  cast(Table, DeclarationEvent.__table__))
_EXISTING = select(_DT.c.lodged_by, _DT.c.client_message_id, _DT.c.declaration_no, _DT.c.status, _DT.c.lane,
                   _DT.c.body_hash).where(
    _DT.c.lodged_by.in_(bindparam("lodgers", expanding=True)),
    _DT.c.client_message_id.in_(bindparam("ids", expanding=True)))
_INSERT_DECLARATIONS = _DT.insert().returning(_DT.c.id, _DT.c.declaration_no)
_INSERT_ITEMS = _IT.insert()
_INSERT_EVENTS = _ET.insert()
_UPDATE_LANES = (update(_DT).where(_DT.c.id == bindparam("b_id"))
                 .values(lane=bindparam("lane"), risk_score=bindparam("risk_score"), status=bindparam("status")))
_READ_DECLARATIONS = select(_DT).where(_DT.c.declaration_no.in_(bindparam("nos", expanding=True)))
_ALLOCATE: dict[str, Any] = {}


def _allocate_statement(dialect: str) -> Any:
    """``INSERT INTO number_sequences ... ON CONFLICT (name) DO UPDATE SET value = value + n RETURNING``."""
    stmt = _ALLOCATE.get(dialect)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as upsert
        else:
            from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
        seq = cast(Table, NumberSequence.__table__)
        ins = upsert(seq)
        stmt = ins.on_conflict_do_update(index_elements=["name"], set_={"value": seq.c.value + ins.excluded.value})
        stmt = _ALLOCATE[dialect] = stmt.returning(seq.c.name, seq.c.value)
    return stmt


_READ_ITEMS = (select(_IT).where(_IT.c.declaration_id.in_(bindparam("ids", expanding=True)))
               .order_by(_IT.c.declaration_id, _IT.c.item_no))


# -- validation (pure) ---------------------------------------------------------------------------
def validate(d: DeclarationIn, codes: CodeLists, now: datetime) -> list[FieldError]:
    """Code-list and cross-field checks; every problem found, each naming its field."""
    errs: list[FieldError] = []
    add = errs.append
    if not codes.is_valid_trade_mode(d.trade_mode):
        add(FieldError("trade_mode", f"unknown trade mode {d.trade_mode}"))
    if not codes.is_valid_transport_mode(d.transport_mode):
        add(FieldError("transport_mode", f"unknown transport mode {d.transport_mode}"))
    if not codes.is_valid_office(d.office_code):
        add(FieldError("office_code", f"unknown customs office {d.office_code}"))
    for name in ("departure_country", "origin_country"):
        if codes.country_alpha2(getattr(d, name)) is None:
            add(FieldError(name, f"unknown country {getattr(d, name)}"))
    if not codes.is_valid_currency(d.currency):
        add(FieldError("currency", f"unknown currency {d.currency}"))
    if d.incoterm not in ("EXW", "FCA", "FAS", "FOB", "CFR", "CIF", "CPT", "CIP", "DAP", "DPU", "DDP"):
        add(FieldError("incoterm", f"unknown incoterm {d.incoterm}"))
    declared = d.declared_at.replace(tzinfo=None) if d.declared_at.tzinfo is None else \
        d.declared_at.astimezone(tz=None).replace(tzinfo=None)
    if declared > now + MAX_FUTURE:
        add(FieldError("declared_at", "is in the future"))
    elif declared < now - MAX_AGE:
        add(FieldError("declared_at", "is more than two years ago"))
    if d.gross_mass_kg < d.net_mass_kg:
        add(FieldError("gross_mass_kg", "is less than the net mass"))
    total = Decimal(0)
    net = Decimal(0)
    for i, item in enumerate(d.items):
        p = f"items[{i}]"
        if not codes.is_valid_hs(item.hs_code):
            add(FieldError(f"{p}.hs_code", f"{item.hs_code} is not a valid HS 2022 subheading"))
        if not codes.is_valid_unit(item.unit):
            add(FieldError(f"{p}.unit", f"unknown unit {item.unit}"))
        if codes.country_alpha2(item.origin_country) is None:
            add(FieldError(f"{p}.origin_country", f"unknown country {item.origin_country}"))
        expected = item.quantity * item.unit_price
        if abs(expected - item.total_value) > MONEY_TOLERANCE:
            add(FieldError(f"{p}.total_value",
                           f"{item.total_value} is not quantity × unit price ({expected.normalize():f})"))
        total += item.total_value
        net += item.net_mass_kg
    if abs(total - d.total_value) > MONEY_TOLERANCE * len(d.items):
        add(FieldError("total_value", f"{d.total_value} is not the sum of the items' totals ({total})"))
    if abs(net - d.net_mass_kg) > max(Decimal("0.01"), d.net_mass_kg * Decimal("0.001")):
        add(FieldError("net_mass_kg", f"{d.net_mass_kg} is not the sum of the items' net mass ({net})"))
    return errs


def normalise(d: DeclarationIn, codes: CodeLists) -> DeclarationIn:
    """Country codes as ISO alpha-2 (alpha-3 is accepted on input)."""
    upd = {"departure_country": codes.country_alpha2(d.departure_country),
           "origin_country": codes.country_alpha2(d.origin_country)}
    items = [it.model_copy(update={"origin_country": codes.country_alpha2(it.origin_country)}) for it in d.items]
    return d.model_copy(update={**upd, "items": items})


class DeclarationInvalid(ValidationProblem):
    """A declaration (or amendment) that breaks a rule: nothing was stored."""

    title = "The declaration is not valid"


def rehearsal_sample(codes: CodeLists, tariff: TariffTable, at: datetime) -> DeclarationIn:
    """A small valid declaration, declared ``at``, for rehearsing the lodging path (:meth:`DeclarationService.warm_up`).

    Built from this deployment's lists: its goods take the first HS subheading whose tariff line is ad
    valorem without consumption tax (any subheading when none is), its office the first customs office.
    """

    def plain(code: str) -> bool:
        rates = tariff.rates_for(code)
        return rates is not None and rates.duty_type == "ad_valorem" and rates.ct_type == "none"

    hs = next((c + "0000" for c in sorted(codes.hs6) if plain(c + "0000")), min(codes.hs6) + "0000")

    def pick(preferred: str, table: dict[str, Any]) -> str:
        return preferred if preferred in table else min(table)

    item = {"hs_code": hs, "description": "rehearsal goods", "quantity": "100", "unit": pick("035", codes.units),
            "net_mass_kg": "100", "unit_price": "10", "total_value": "1000.00", "origin_country": "DE"}
    return DeclarationIn.model_validate({
        "client_message_id": "warm-up", "declarant_code": "3122480ABC", "importer_code": "91310000MA1FL8XQ3A",
        "seller_name": "Rehearsal GmbH", "trade_mode": pick("0110", codes.trade_modes),
        "transport_mode": pick("2", codes.transport_modes), "office_code": min(codes.customs_offices),
        "departure_country": "DE", "origin_country": "DE", "currency": "CNY", "incoterm": "CIF", "freight": "0",
        "gross_mass_kg": "110", "net_mass_kg": "100", "packages": 1, "total_value": "1000.00",
        "declared_at": at.isoformat(), "items": [item]})


@dataclass(slots=True)
class LodgeResult:
    """Outcome of lodging one message: the declaration, or field errors when nothing was stored."""

    declaration_no: str | None
    status: str | None
    created: bool
    errors: list[FieldError] = field(default_factory=list)
    lane: str | None = None
    reasons: list[str] = field(default_factory=list)
    out: DeclarationOut | None = None  # the stored declaration as read back, when asked for (read_back)
    conflict: bool = False  # the client message id was used before for a different body (nothing stored)


def body_hash(d: DeclarationIn) -> str:
    """SHA-256 of a declaration's body as validated and normalised, without its message id.

    The validated model's JSON (Pydantic's, ~6 µs: lodging latency): surrounding whitespace, letter case and
    alpha-3 country codes do not count; numbers and times compare as written (``13000.00``, ``+08:00``).
    """
    # a declaration naming no transport document hashes as before the field existed (0012_core)
    skip = _NOT_HASHED if d.transport_document_no is not None else _NOT_HASHED | {"transport_document_no"}
    return hashlib.sha256(d.model_dump_json(exclude=skip).encode()).hexdigest()


_NOT_HASHED = {"client_message_id"}


def trader_reasons(status: str | None, lane: str | None, reasons: list[str]) -> list[str]:
    """The plain reason a trader reads: the lane's consequence, or why the declaration was rejected."""
    if status == Status.REJECTED:
        return list(reasons)
    if status == Status.RELEASED:
        return ["released"]
    return [TRADER_LANE_WORDS[lane]] if lane in TRADER_LANE_WORDS else []


def for_principal(who: Principal, out: DeclarationOut) -> DeclarationOut:
    """A declaration as ``who`` may see it: customs see everything, traders no score and plain reasons."""
    if who.is_customs:
        return out
    return out.model_copy(update={"risk_score": None, "reasons": trader_reasons(out.status, out.lane, out.reasons)})


def event_for_principal(who: Principal, e: EventOut) -> EventOut:
    """A lifecycle event as ``who`` may see it: a selection event tells a trader only its lane's consequence, an
    officer's order of a check only which check (not why)."""
    if who.is_customs:
        return e
    decision = (e.detail or {}).get("decision") if e.actor != "selectivity" else None
    if decision in TOLD_TO_TRADER:  # the decision, its reason and note (no other evidence)
        return e.model_copy(update={"detail": {k: e.detail[k] for k in ("decision", "reason_code", "note")
                                               if e.detail and k in e.detail}})
    if decision is not None:  # a check was ordered: which one, not why
        return e.model_copy(update={"reason": decision.replace("_", " "), "detail": {"decision": decision}})
    if e.actor != "selectivity":
        return e
    if e.to_status == Status.LANE_ASSIGNED:
        lane = (e.detail or {}).get("lane")
        words = TRADER_LANE_WORDS.get(lane or "", "selected")
        return e.model_copy(update={"reason": f"{lane} lane: {words}", "detail": {"lane": lane, "reasons": [words]}})
    return e.model_copy(update={"detail": None})


def _conflict_error(key: str) -> FieldError:
    return FieldError("client_message_id", f"{key} was already used for a different declaration body")


def _naive(dt: datetime) -> datetime:
    return dt if dt.tzinfo is None else dt.astimezone(tz=None).replace(tzinfo=None)


class DeclarationService:
    """The declaration domain's operations over one database."""

    def __init__(self, sessions: sessionmaker[Session], codes: CodeLists, tariff: TariffTable,
                 rates: ExchangeRates, selectivity: Selectivity | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.codes = codes
        self.tariff = tariff
        self.rates = rates
        self.selectivity = selectivity
        self.clock = clock
        self.event_listeners: list[EventListener] = []

    def _publish(self, session: Session, events: Sequence[dict]) -> None:
        """Tell the event listeners of ``events``, just appended in ``session``'s transaction."""
        for listener in self.event_listeners:
            listener(session, events)

    # -- lodging -------------------------------------------------------------------------------
    def lodge(self, who: Principal, d: DeclarationIn) -> tuple[DeclarationOut, bool]:
        """Lodge one declaration; a repeated client message id returns the first result."""
        res = self.lodge_many(who, [d], read_back=True)[0]
        if res.conflict:
            raise Conflict("this client message id was used for a different declaration", res.errors)
        if res.errors:
            raise DeclarationInvalid("the declaration has errors; nothing was stored", res.errors)
        return res.out if res.out is not None else self.get(who, cast(str, res.declaration_no)), res.created

    def lodge_many(self, who: Principal, batch: Sequence[DeclarationIn], *,
                   read_back: bool = False) -> list[LodgeResult]:
        """Validate and store a batch in one transaction; invalid ones come back with their errors.

        With ``read_back`` each newly created declaration is read back in the same transaction (two
        queries for the whole batch) into ``LodgeResult.out``, exactly as :meth:`get` would show it.
        Traders lodge (as declarant or importer; for another enterprise under a mandate in force);
        customs roles do not, the platform's own processes do (an ``internal`` principal).
        """
        if who.role != Role.TRADER and not who.internal:
            raise Forbidden("customs officers, analysts and administrators do not lodge declarations: "
                            "the declarant or the importer does")
        for attempt in range(3):
            try:
                results = self._lodge_many(who, batch, read_back)
                break
            except IntegrityError:
                if attempt == 2:
                    raise  # a third clash on a unique key is not a race any more
        if not who.is_customs:
            for r in results:
                if r.lane is not None:
                    r.reasons = trader_reasons(r.status, r.lane, r.reasons)
        return results

    def _lodge_many(self, who: Principal, batch: Sequence[DeclarationIn], read_back: bool = False) -> list[LodgeResult]:
        now = self.clock()
        results: list[LodgeResult | None] = [None] * len(batch)
        valid: list[tuple[int, DeclarationIn]] = []
        for idx, d in enumerate(batch):
            errors = validate(d, self.codes, now)
            if who.role == Role.TRADER and who.enterprise_code not in (d.declarant_code, d.importer_code):
                errors.append(FieldError("declarant_code",
                                         f"you act for {who.enterprise_code}: lodge as its declarant or importer"))
            if errors:
                results[idx] = LodgeResult(None, None, False, errors)
            else:
                valid.append((idx, normalise(d, self.codes)))
        if not valid:
            return results  # type: ignore[return-value]
        with self.sessions() as session, session.begin():
            if who.role == Role.TRADER:  # one query for the batch's mandates, not one per declaration
                valid = self._check_mandates(session, who, valid, results, now)
                if not valid:
                    return results  # type: ignore[return-value]
            hashes = {idx: body_hash(d) for idx, d in valid}
            # idempotency: a repeated (lodger, client message id) returns the stored declaration;
            # customs staff lodge on the declarant's behalf
            lodgers = [who.enterprise_code or d.declarant_code for _, d in valid]
            # one query for the whole batch (a superset when several lodgers: pairs are matched below)
            existing = {(r[0], r[1]): r for r in session.connection().execute(
                _EXISTING, {"lodgers": sorted(set(lodgers)), "ids": sorted({d.client_message_id for _, d in valid})})}
            fresh: list[tuple[int, DeclarationIn, str]] = []
            seen_in_batch: dict[tuple[str, str], int] = {}
            repeats: list[tuple[int, int]] = []  # (index, index of its first occurrence in this batch)
            for (idx, d), lodged_by in zip(valid, lodgers, strict=True):
                key = (lodged_by, d.client_message_id)
                hit = existing.get(key)
                if hit is not None:
                    if hit[5] is not None and hit[5] != hashes[idx]:  # the key is the lodging's: not for another body
                        results[idx] = LodgeResult(None, None, False, [_conflict_error(d.client_message_id)],
                                                   conflict=True)
                    else:
                        results[idx] = LodgeResult(hit[2], hit[3], False, lane=hit[4])
                elif key in seen_in_batch:
                    repeats.append((idx, seen_in_batch[key]))
                else:
                    seen_in_batch[key] = idx
                    fresh.append((idx, d, lodged_by))
            if fresh:
                self._insert_new(session, who, fresh, results, now, hashes=hashes)
                if read_back:
                    self._read_back(session, cast(list[LodgeResult], [results[idx] for idx, _, _ in fresh]), who)
            for idx, first in repeats:
                f = cast(LodgeResult, results[first])
                if hashes[idx] != hashes[first]:
                    results[idx] = LodgeResult(None, None, False, [_conflict_error(batch[idx].client_message_id)],
                                               conflict=True)
                else:
                    results[idx] = LodgeResult(f.declaration_no, f.status, False, lane=f.lane,
                                               reasons=list(f.reasons))
        return results  # type: ignore[return-value]

    def _check_mandates(self, session: Session, who: Principal, valid: list[tuple[int, DeclarationIn]],
                        results: list, now: datetime) -> list[tuple[int, DeclarationIn]]:
        """The declarations whose declarant acts for its importer under a mandate in force (or is the importer);
        the others get a field error in ``results``."""
        pairs = {(d.declarant_code, d.importer_code) for _, d in valid if d.declarant_code != d.importer_code}
        if not pairs:
            return valid
        held = mandated(session, pairs, now)
        kept = []
        for idx, d in valid:
            pair = (d.declarant_code, d.importer_code)
            if d.declarant_code == d.importer_code or pair in held:
                kept.append((idx, d))
            elif who.enterprise_code == d.declarant_code:
                results[idx] = LodgeResult(None, None, False, [FieldError(
                    "importer_code", f"{d.declarant_code} holds no mandate in force from importer {d.importer_code}"
                                     ": an administrator registers the importer's mandate")])
            else:
                results[idx] = LodgeResult(None, None, False, [FieldError(
                    "declarant_code", f"declarant {d.declarant_code} holds no mandate in force from "
                                      f"{d.importer_code}: an administrator registers the mandate")])
        return kept

    def warm_up(self, sample: DeclarationIn) -> bool:
        """Rehearse the lodging transaction once with ``sample`` and roll it back: nothing is stored.

        The selectivity rehearses too when it can (``rehearse``: features, model and rules without
        changing its state). Without this, the first lodgements after a start pay SQLAlchemy's compilation
        of every statement (~1 ms each) and other first calls (~8 ms for the first batch): under a steady
        200 requests/s that backlog alone delayed dozens of requests. False (nothing done) when ``sample``
        does not validate against this deployment's code lists.
        """
        now = self.clock()
        if validate(sample, self.codes, now):
            return False
        d = normalise(sample, self.codes)
        who = Principal(0, "warm-up", Role.ADMIN, internal=True)
        for n in (1, 2):  # a single row and several rows are compiled apart (execute / executemany)
            batch = [d.model_copy(update={"client_message_id": f"warm-up-{uuid4().hex}"}) for _ in range(n)]
            with self.sessions() as session:
                session.begin()
                try:
                    session.connection().execute(
                        _EXISTING, {"lodgers": [d.declarant_code], "ids": [x.client_message_id for x in batch]}).all()
                    results: list = [None] * n
                    self._insert_new(session, who, [(i, x, x.declarant_code) for i, x in enumerate(batch)], results,
                                     now, rehearsal=True)
                    self._read_back(session, results, who)
                    for r in results:
                        if r.out is not None:
                            r.out.model_dump_json()
                finally:
                    session.rollback()
        return True

    def _allocate_numbers(self, session: Session, fresh: list[tuple[int, DeclarationIn, str]],
                          now: datetime) -> list[str]:
        need = Counter(f"{d.office_code}{now.year}" for _, d, _ in fresh)
        # one statement reserves a block per sequence (rows in name order: the same lock order everywhere)
        stmt = _allocate_statement(session.get_bind().dialect.name)
        rows = [{"name": name, "value": n} for name, n in sorted(need.items())]
        last = dict(session.connection().execute(stmt, rows).all())
        start = {name: last[name] - n + 1 for name, n in need.items()}
        out = []
        for _, d, _ in fresh:
            name = f"{d.office_code}{now.year}"
            out.append(f"{name}1{start[name]:09d}")
            start[name] += 1
        return out

    def _insert_new(self, session: Session, who: Principal, fresh: list[tuple[int, DeclarationIn, str]],
                    results: list, now: datetime, rehearsal: bool = False,
                    hashes: dict[int, str] | None = None) -> None:
        numbers = self._allocate_numbers(session, fresh, now)
        codes = {c for _, d, _ in fresh for c in (d.declarant_code, d.importer_code)}
        known = parties(session, codes)
        if rehearsal:  # warm_up: any parties will do (the transaction is rolled back)
            known = {c: known.get(c) or Party(c, frozenset(), "general") for c in codes}
        headers, assessments, rejections = [], [], []
        for (idx, d, lodged_by), no in zip(fresh, numbers, strict=True):
            reason = None
            importer, declarant = known.get(d.importer_code), known.get(d.declarant_code)
            if importer is None:
                reason = f"importer {d.importer_code} is not a registered enterprise"
            elif declarant is None:
                reason = f"declarant {d.declarant_code} is not a registered enterprise"
            assessment = None
            if reason is None:
                try:
                    assessment = self.assess_declaration(d)
                except TaxError as exc:
                    reason = f"tax cannot be assessed: {exc}"
            rejections.append(reason)
            assessments.append(assessment)
            headers.append(_header_row(d, no, lodged_by, now, assessment,
                                       Status.REJECTED if reason else Status.ASSESSED,
                                       hashes[idx] if hashes is not None else body_hash(d)))
        conn = session.connection()  # Core executemany: no per-row ORM work on the hot path
        # one multi-row INSERT ... RETURNING (ids matched by number: no per-row statements for ordering)
        id_of = {no: did for did, no in conn.execute(_INSERT_DECLARATIONS, headers)}
        ids = [id_of[no] for no in numbers]
        items, events = [], []
        actor = who.username
        for did, (_, d, _), assessment, reason in zip(ids, fresh, assessments, rejections, strict=True):
            items.extend(_item_rows(did, d, assessment))
            events.append(_event(did, 1, now, actor, None, Status.LODGED, "lodged"))
            if reason:
                events.append(_event(did, 2, now, "system", Status.LODGED, Status.REJECTED, reason))
            else:
                assessment = cast(Assessment, assessment)  # no rejection reason: it was assessed
                events.append(_event(did, 2, now, "system", Status.LODGED, Status.ACCEPTED, "validated"))
                events.append(_event(did, 3, now, "system", Status.ACCEPTED, Status.ASSESSED,
                                     f"tax assessed: {assessment.total} CNY",
                                     {"customs_value": str(assessment.customs_value), "duty": str(assessment.duty),
                                      "consumption_tax": str(assessment.consumption_tax),
                                      "vat": str(assessment.vat)}))
        conn.execute(_INSERT_ITEMS, items)
        for (idx, _, _), no, reason in zip(fresh, numbers, rejections, strict=True):
            results[idx] = LodgeResult(no, Status.REJECTED if reason else Status.ASSESSED, True,
                                       reasons=[reason] if reason else [])
        laned = [LodgedDeclaration(did, no, d, now, cast(Assessment, a), known[d.importer_code],
                                   known[d.declarant_code])
                 for did, (_, d, _), no, a, reason in zip(ids, fresh, numbers, assessments, rejections, strict=True)
                 if reason is None]
        if not (laned and self.selectivity is not None):
            conn.execute(_INSERT_EVENTS, events)
            self._publish(session, events)
        else:
            rehearse = getattr(self.selectivity, "rehearse", None) if rehearsal else None
            if rehearsal and rehearse is None:
                decisions = [LaneDecision(Lane.GREEN, 0.0, [], "none") for _ in laned]
            else:
                decisions = (rehearse or self.selectivity.decide)(session, laned)
            self._apply_lanes(session, laned, decisions, now, first_seq=4, events=events)  # one events INSERT
            by_no = {ld.declaration_no: dec for ld, dec in zip(laned, decisions, strict=True)}
            for r in results:
                if r is not None and r.created and r.declaration_no in by_no:
                    dec = by_no[r.declaration_no]
                    r.lane, r.reasons = dec.lane.value, dec.reasons
                    r.status = Status.RELEASED if dec.lane == Lane.GREEN else Status.LANE_ASSIGNED

    def _read_back(self, session: Session, created: list[LodgeResult], who: Principal) -> None:
        """Fill ``out`` of newly created results from the stored rows (what :meth:`get` returns)."""
        by_no = {r.declaration_no: r for r in created}
        # Core rows, not ORM objects: the same columns and types, without identity-map work (lodging latency)
        conn = session.connection()
        decls = conn.execute(_READ_DECLARATIONS, {"nos": list(by_no)}).all()
        items: dict[int, list] = {d.id: [] for d in decls}
        for it in conn.execute(_READ_ITEMS, {"ids": list(items)}):
            items[it.declaration_id].append(it)
        for decl in decls:
            res = by_no[decl.declaration_no]
            # the reasons get() reads from the last rejection / lane event are the ones just recorded
            # a Core row has the columns of a Declaration
            res.out = for_principal(who, _out(cast(Declaration, decl), items[decl.id], list(res.reasons)))

    def assess_declaration(self, d: DeclarationIn) -> Assessment:
        """Tax of a declaration at the exchange rate in force on its declared date."""
        items = [TaxableItem(i + 1, it.hs_code, it.quantity, it.unit, it.net_mass_kg, it.total_value)
                 for i, it in enumerate(d.items)]
        return assess(items, incoterm=d.incoterm, freight=d.freight, insurance=d.insurance,
                      cny_per_unit=self.rates.rate(d.currency, _naive(d.declared_at).date()), tariff=self.tariff)

    def _apply_lanes(self, session: Session, laned: Sequence[LodgedDeclaration], decisions: list[LaneDecision],
                     now: datetime, first_seq: int | dict[int, int], events: list[dict] | None = None,
                     release_green: bool = True) -> None:
        """Lane events and the header's lane, score and status (``events``: earlier ones, inserted first).

        Without ``release_green`` (an amendment) a green lane waits for an officer's release as any other.
        """
        events, updates = list(events or ()), []
        for ld, dec in zip(laned, decisions, strict=True):
            seq = first_seq if isinstance(first_seq, int) else first_seq[ld.id]
            detail = {"lane": dec.lane.value, "score": dec.score, "mechanism": dec.mechanism,
                      "reasons": dec.reasons, **dec.detail}
            events.append(_event(ld.id, seq, now, "selectivity", Status.ASSESSED, Status.LANE_ASSIGNED,
                                 f"{dec.lane.value} lane ({dec.mechanism})", detail))
            status = Status.LANE_ASSIGNED
            if dec.lane == Lane.GREEN and release_green:
                events.append(_event(ld.id, seq + 1, now, "selectivity", Status.LANE_ASSIGNED, Status.RELEASED,
                                     "green lane: released without inspection"))
                status = Status.RELEASED
            updates.append({"b_id": ld.id, "lane": dec.lane.value, "risk_score": dec.score, "status": status})
        conn = session.connection()
        conn.execute(_INSERT_EVENTS, events)
        conn.execute(_UPDATE_LANES, updates)
        self._publish(session, events)

    # -- reading -------------------------------------------------------------------------------
    def _visible(self, who: Principal):
        """A trader sees what its enterprise lodged or is a party to (the lodger keeps access when parties change)."""
        if who.role == Role.TRADER:
            return or_(Declaration.declarant_code == who.enterprise_code,
                       Declaration.importer_code == who.enterprise_code,
                       Declaration.lodged_by == who.enterprise_code)
        return None

    def load_visible(self, session: Session, who: Principal, no: str) -> Declaration:
        """The declaration ``no`` if ``who`` may see it; NotFound otherwise (also for other enterprises')."""
        q = select(Declaration).where(Declaration.declaration_no == no)
        cond = self._visible(who)
        if cond is not None:
            q = q.where(cond)
        decl = session.scalar(q)
        if decl is None:  # another enterprise's declaration is as absent as a missing one
            raise NotFound(f"no declaration {no}")
        return decl

    def get(self, who: Principal, no: str) -> DeclarationOut:
        """One declaration the caller may see, with its goods items."""
        with self.sessions() as session:
            decl = self.load_visible(session, who, no)
            items = session.scalars(select(GoodsItem).where(GoodsItem.declaration_id == decl.id)
                                    .order_by(GoodsItem.item_no)).all()
            reasons = self._reasons(session, decl)
            return for_principal(who, _out(decl, items, reasons))

    def _reasons(self, session: Session, decl: Declaration) -> list[str]:
        q = (select(DeclarationEvent.to_status, DeclarationEvent.reason, DeclarationEvent.detail)
             .where(DeclarationEvent.declaration_id == decl.id,
                    DeclarationEvent.to_status.in_([Status.REJECTED, Status.LANE_ASSIGNED]))
             .order_by(DeclarationEvent.seq.desc()).limit(1))
        row = session.execute(q).first()
        if row is None:
            return []
        if row[0] == Status.REJECTED:
            return [row[1]]
        return list((row[2] or {}).get("reasons", []))

    def events(self, who: Principal, no: str) -> list[EventOut]:
        """The status history of one declaration the caller may see."""
        with self.sessions() as session:
            decl = self.load_visible(session, who, no)
            rows = session.scalars(select(DeclarationEvent).where(DeclarationEvent.declaration_id == decl.id)
                                   .order_by(DeclarationEvent.seq)).all()
            return [event_for_principal(who, EventOut(
                seq=e.seq, at=e.at, actor=e.actor, from_status=e.from_status, to_status=e.to_status, reason=e.reason,
                detail=e.detail)) for e in rows]

    def search(self, who: Principal, *, status: str | None = None, lane: str | None = None,
               office: str | None = None, importer: str | None = None, limit: int = 50, offset: int = 0,
               order: str = "-lodged_at", no: str | None = None, date_from: Any = None, date_to: Any = None,
               hs: str | None = None) -> list[DeclarationSummary]:
        """Declarations the caller may see, filtered, sorted and paged; ``no`` (number prefix), ``date_from`` /
        ``date_to`` (lodging days) and ``hs`` (HS code prefix) are checked as the web lists check them
        (``listing.ListQueryInvalid``, 422, naming each wrong one)."""
        q = select(Declaration)
        cond = self._visible(who)
        if cond is not None:
            q = q.where(cond)
        narrower = listing.DeclarationQuery.parse({"no": no, "date_from": date_from, "date_to": date_to, "hs": hs})
        q = q.where(*listing.conditions(narrower, None))
        if status:
            q = q.where(Declaration.status == status)
        if lane:
            q = q.where(Declaration.lane == lane)
        if office:
            q = q.where(Declaration.office_code == office)
        if importer:
            q = q.where(Declaration.importer_code == importer)
        orders = {"lodged_at": Declaration.lodged_at, "risk_score": Declaration.risk_score,
                  "total_value": Declaration.total_value}
        if not who.is_customs:  # a trader neither reads nor ranks by risk scores
            orders.pop("risk_score")
        col = orders.get(order.lstrip("-"), Declaration.lodged_at)
        q = q.order_by(col.desc() if order.startswith("-") else col.asc(), Declaration.id.desc())
        with self.sessions() as session:
            rows = session.scalars(q.limit(min(limit, 500)).offset(offset)).all()
            out = [DeclarationSummary.model_validate(r, from_attributes=True) for r in rows]
        if not who.is_customs:
            out = [r.model_copy(update={"risk_score": None}) for r in out]
        return out

    def count_by_status(self, who: Principal) -> dict[str, int]:
        """Number of declarations the caller may see in each status."""
        q = select(Declaration.status, func.count()).group_by(Declaration.status)
        cond = self._visible(who)
        if cond is not None:
            q = q.where(cond)
        with self.sessions() as session:
            return dict(session.execute(q).all())

    def list_page(self, who: Principal, q: listing.DeclarationQuery,
                  statuses: Sequence[str] | None = None) -> listing.DeclarationPage:
        """One page of the declarations the caller may see that ``q`` matches (see ``declarations.listing``)."""
        with self.sessions() as session:
            return listing.page(session, q, self._visible(who), customs=who.is_customs, statuses=statuses)

    def export_rows(self, who: Principal, q: listing.DeclarationQuery, statuses: Sequence[str] | None = None,
                    cap: int | None = None) -> tuple[Iterator[list[dict]], int, int]:
        """Every row ``q`` matches for the caller, in its order, up to ``cap`` (``listing.EXPORT_MAX_ROWS``):
        chunks of rows (each read in a session of its own while the export streams), the number exported and
        the number matching in all."""
        with self.sessions() as session:
            ids, total = listing.export_ids(session, q, self._visible(who), customs=who.is_customs,
                                            statuses=statuses, cap=listing.EXPORT_MAX_ROWS if cap is None else cap)

        def chunks() -> Iterator[list[dict]]:
            for part in listing.chunks(ids):
                with self.sessions() as session:
                    yield listing.rows_of(session, part, customs=who.is_customs)
        return chunks(), len(ids), total

    # -- changes after lodging -----------------------------------------------------------------
    def append_event(self, session: Session, decl: Declaration, to: Status, actor: str, reason: str,
                     detail: dict | None = None, now: datetime | None = None) -> int:
        """Append a lifecycle event and move the status projection, in the caller's transaction."""
        if not can_transition(decl.status, to):
            raise Conflict(f"declaration {decl.declaration_no} is {decl.status}; it cannot become {to}")
        seq = session.scalar(select(func.max(DeclarationEvent.seq))
                             .where(DeclarationEvent.declaration_id == decl.id)) or 0
        row = _event(decl.id, seq + 1, now or self.clock(), actor, decl.status, to, reason, detail)
        session.execute(insert(DeclarationEvent).values(row))
        n = cast(CursorResult, session.execute(
            update(Declaration).where(Declaration.id == decl.id, Declaration.status == decl.status)
            .values(status=to).execution_options(synchronize_session=False))).rowcount
        if n != 1:
            raise Conflict(f"declaration {decl.declaration_no} changed meanwhile; try again")
        decl.status = to
        self._publish(session, [row])
        return seq + 1

    def cancel(self, who: Principal, no: str, reason: str) -> DeclarationOut:
        """Cancel a declaration still cancellable, recording the event (and an audit entry when customs cancels)."""
        with self.sessions() as session, session.begin():
            decl = self.load_visible(session, who, no)
            if decl.status not in CANCELLABLE:
                raise Conflict(f"declaration {no} is {decl.status}; it can no longer be cancelled")
            self.append_event(session, decl, Status.CANCELLED, who.username, reason)
            record(session, who, "declaration.cancel", "declaration", no, {"reason": reason})
        return self.get(who, no)

    def decide(self, who: Principal, no: str, to: str | None, reason: str, *, decision: Decision | str | None = None,
               reason_code: str | None = None) -> DeclarationOut:
        """An officer moves a held declaration to inspection, release or detention (audited).

        With ``decision`` (e.g. a scan, a request for documents) the reason is a code from its list
        (:data:`DECISION_REASONS`) and ``reason`` an optional note; ``to`` may then be None. The event's
        reason is the code's wording and the note; its detail keeps decision, code and note.
        """
        if not who.is_customs:
            raise Forbidden("only customs officers decide on declarations")
        reason = reason.strip()
        errors = decision_errors(decision, reason_code, reason)
        if errors:
            raise DeclarationInvalid("the decision's reason is not complete", [FieldError(f, m) for f, m in errors])
        detail: dict | None = None
        if decision is not None:
            decision, code = Decision(decision), cast(str, reason_code)
            if to is not None and Status(to) != DECISION_STATUS[decision]:
                raise DeclarationInvalid("the decision and the status disagree", [FieldError(
                    "to_status", f"decision {decision} leads to {DECISION_STATUS[decision]}")])
            to = DECISION_STATUS[decision]
            detail = {"decision": decision.value, "reason_code": code, "note": reason}
            words = DECISION_REASONS[decision][code]
            reason = f"{decision.value.replace('_', ' ')}: {words}" + (f"; {reason}" if reason else "")
        if to is None or not reason:
            raise DeclarationInvalid("give a decision or a status, with a reason",
                                     [FieldError("to_status" if to is None else "reason", "required")])
        with self.sessions() as session, session.begin():
            decl = self.load_visible(session, who, no)
            self.append_event(session, decl, Status(to), who.username, reason, detail)
            record(session, who, f"declaration.{to}", "declaration", no, {"reason": reason, **(detail or {})})
        return self.get(who, no)

    def amend(self, who: Principal, no: str, d: DeclarationIn, reason: str = "") -> DeclarationOut:
        """Replace header and items while allowed; re-validated, re-assessed and re-laned, never released.

        A declaration keeps at least the lane it was selected for (re-scoring may raise it); only an
        officer's decision releases it. The lodging's ``client_message_id`` stays: an amendment's own id is
        its idempotency key (a repeat returns the declaration, another body under it is a 409). Only the
        lodging enterprise may change the parties (under a mandate). Every amendment is audited, and the
        version it replaces and the new one are kept (``declaration_versions``) for the version diff.
        """
        now = self.clock()
        errors = validate(d, self.codes, now)
        if errors:
            raise DeclarationInvalid("the amendment has errors; nothing was changed", errors)
        d = normalise(d, self.codes)
        digest = body_hash(d)
        for attempt in range(2):
            try:
                return self._amend(who, no, d, digest, now, reason.strip()[:500])
            except IntegrityError:  # the same amendment key, sent twice at once: the second sees the first
                if attempt == 1:
                    raise Conflict(f"declaration {no} is being amended with this key; try again") from None
        raise AssertionError("unreachable")

    def _amend(self, who: Principal, no: str, d: DeclarationIn, digest: str, now: datetime,
               reason: str = "") -> DeclarationOut:
        with self.sessions() as session, session.begin():
            decl = self.load_visible(session, who, no)
            key = d.client_message_id
            if key == decl.client_message_id:  # the lodging's own key: the lodged body again changes nothing
                if decl.body_hash is not None and decl.body_hash != digest:
                    raise Conflict(f"{key} is the lodging's message id of {no}: an amendment needs its own",
                                   [_conflict_error(key)])
                return self._get_in(session, decl, who)
            earlier = session.scalar(select(DeclarationAmendment.body_hash).where(
                DeclarationAmendment.declaration_id == decl.id, DeclarationAmendment.client_message_id == key))
            if earlier is not None:
                if earlier != digest:
                    raise Conflict(f"amendment {key} of {no} was made with a different body", [_conflict_error(key)])
                return self._get_in(session, decl, who)  # the same amendment sent again
            if decl.status not in AMENDABLE:
                raise Conflict(f"declaration {no} is {decl.status}; it can no longer be amended")
            if who.role == Role.TRADER:
                self._check_amended_parties(session, who, decl, d, now)
            known = parties(session, {d.declarant_code, d.importer_code})
            missing = [c for c in (d.importer_code, d.declarant_code) if c not in known]
            if missing:
                raise DeclarationInvalid("unregistered party", [FieldError(
                    "importer_code" if missing[0] == d.importer_code else "declarant_code",
                    f"{missing[0]} is not a registered enterprise")])
            try:
                assessment = self.assess_declaration(d)
            except TaxError as exc:
                raise DeclarationInvalid(str(exc), [FieldError(exc.field or "items", str(exc))]) from None
            version = decl.version + 1
            held_lane = Lane(decl.lane) if decl.lane else None
            held_detail = self._lane_detail(session, decl) if held_lane else {}
            self._keep_version(session, decl)  # the version replaced, if not kept yet (lodged before versions)
            self.append_event(session, decl, Status.ACCEPTED, who.username, f"amended to version {version}",
                              {"previous_total_value": str(decl.total_value), "version": version,
                               **({"amendment_reason": reason} if reason else {})}, now)
            row = _header_row(d, no, decl.lodged_by, decl.lodged_at, assessment, Status.ACCEPTED)
            for k in ("declaration_no", "client_message_id", "body_hash", "lodged_by", "lodged_at", "status"):
                row.pop(k)  # the lodging's key and body hash stay: a replay of the lodging finds it
            session.execute(update(Declaration).where(Declaration.id == decl.id)
                            .values(**row, version=version).execution_options(synchronize_session=False))
            session.execute(delete(GoodsItem).where(GoodsItem.declaration_id == decl.id))
            item_rows = _item_rows(decl.id, d, assessment)
            session.connection().execute(_IT.insert(), item_rows)
            session.connection().execute(insert(DeclarationVersion).values(
                declaration_id=decl.id, version=version, at=now, actor=who.username, reason=reason,
                body=snapshot(SimpleNamespace(**row), [SimpleNamespace(**r) for r in item_rows])))
            seq = self.append_event(session, decl, Status.ASSESSED, "system", f"tax assessed: {assessment.total} CNY",
                                    None, now)
            decision = None
            if self.selectivity is not None:
                ld = LodgedDeclaration(decl.id, no, d, now, assessment, known[d.importer_code],
                                       known[d.declarant_code])
                decision = self.selectivity.decide(session, [ld])[0]
            lane = _at_least(decision, held_lane, held_detail, decl.risk_score)
            if lane is not None:
                ld = LodgedDeclaration(decl.id, no, d, now, assessment, known[d.importer_code],
                                       known[d.declarant_code])
                self._apply_lanes(session, [ld], [lane], now, seq + 1, release_green=False)
            # Core, not the ORM: a flush now would write the header's stale status over the lane's
            session.connection().execute(insert(DeclarationAmendment).values(
                declaration_id=decl.id, client_message_id=key, body_hash=digest, version=version, at=now,
                actor=who.username))
            session.expire_all()
            record(session, who, "declaration.amend", "declaration", no,
                   {"version": version, "client_message_id": key, "reason": reason,
                    "lane": lane.lane.value if lane else None, "previous_lane": held_lane})
            return self._get_in(session, self.load_visible(session, who, no), who)

    def _keep_version(self, session: Session, decl: Declaration) -> None:
        """Keep the declaration's current version before an amendment replaces it (once per version)."""
        kept = session.scalar(select(DeclarationVersion.id).where(
            DeclarationVersion.declaration_id == decl.id, DeclarationVersion.version == decl.version))
        if kept is not None:
            return
        items = session.scalars(select(GoodsItem).where(GoodsItem.declaration_id == decl.id)
                                .order_by(GoodsItem.item_no)).all()
        first = decl.version == 1
        session.connection().execute(insert(DeclarationVersion).values(
            declaration_id=decl.id, version=decl.version, at=decl.lodged_at if first else self.clock(),
            actor=decl.lodged_by if first else "system", reason="lodged" if first else "kept before amendment",
            body=snapshot(decl, items)))

    # -- versions and tax payments -----------------------------------------------------------------
    def versions(self, who: Principal, no: str) -> list[DeclarationVersion]:
        """The kept versions of a declaration the caller may see, oldest first (none before its first amendment)."""
        with self.sessions() as session:
            decl = self.load_visible(session, who, no)
            rows = session.scalars(select(DeclarationVersion).where(DeclarationVersion.declaration_id == decl.id)
                                   .order_by(DeclarationVersion.version)).all()
            session.expunge_all()
            return list(rows)

    def version_diffs(self, who: Principal, no: str) -> list[tuple[DeclarationVersion, VersionDiff]]:
        """Each amendment with what it changed against the version before it, newest first."""
        kept = self.versions(who, no)
        return [(b, diff(a.version, a.body, b.version, b.body)) for a, b in zip(kept, kept[1:], strict=False)][::-1]

    def tax_payment(self, who: Principal, no: str, extra_due: Decimal = Decimal(0)) -> PaymentState:
        """Where the declaration's taxes stand: due (assessed, plus ``extra_due`` such as duty recovered after an
        inspection), paid, outstanding, due date and late-payment surcharge."""
        with self.sessions() as session:
            decl = self.load_visible(session, who, no)
            notice_at = session.scalar(select(func.max(DeclarationEvent.at)).where(
                DeclarationEvent.declaration_id == decl.id, DeclarationEvent.to_status == Status.ASSESSED))
            rows = session.scalars(select(TaxPayment).where(TaxPayment.declaration_id == decl.id)
                                   .order_by(TaxPayment.paid_at, TaxPayment.id)).all()
            paid = [Payment(r.amount_cny, r.paid_at, r.reference, r.recorded_by) for r in rows]
            due = None if decl.tax_total_cny is None else decl.tax_total_cny + extra_due
            return payment_state(due, notice_at, paid, self.clock(),
                                 void=decl.status in (Status.CANCELLED, Status.REJECTED))

    def record_payment(self, who: Principal, no: str, amount: Decimal, reference: str,
                       paid_at: datetime | None = None) -> PaymentState:
        """Customs confirm a payment of a declaration's taxes (audited); the same reference again changes nothing,
        with another amount it is a 409."""
        if not who.is_customs or who.role == Role.ANALYST:
            raise Forbidden("only customs officers confirm tax payments")
        now = self.clock()
        paid_at = _naive(paid_at) if paid_at is not None else now
        if paid_at > now + MAX_FUTURE:
            raise DeclarationInvalid("the payment has errors", [FieldError("paid_at", "is in the future")])
        with self.sessions() as session, session.begin():
            decl = self.load_visible(session, who, no)
            earlier = session.scalar(select(TaxPayment.amount_cny).where(
                TaxPayment.declaration_id == decl.id, TaxPayment.reference == reference))
            if earlier is not None and earlier != amount:
                raise Conflict(f"payment {reference} of {no} was recorded with another amount ({earlier} CNY)",
                               [FieldError("reference", "already recorded with another amount")])
            if earlier is None:
                if decl.tax_total_cny is None:
                    raise Conflict(f"declaration {no} has no assessed taxes to pay")
                session.execute(insert(TaxPayment).values(
                    declaration_id=decl.id, amount_cny=amount, paid_at=paid_at, reference=reference,
                    recorded_by=who.username, recorded_at=now))
                record(session, who, "declaration.tax_paid", "declaration", no,
                       {"amount_cny": str(amount), "reference": reference, "paid_at": paid_at.isoformat()})
        return self.tax_payment(who, no)

    def _check_amended_parties(self, session: Session, who: Principal, decl: Declaration, d: DeclarationIn,
                               now: datetime) -> None:
        """A trader amends as a party; only the lodging enterprise changes the parties, under a mandate."""
        if who.enterprise_code not in (d.declarant_code, d.importer_code):
            raise Forbidden(f"you act for {who.enterprise_code}: amend as its declarant or importer")
        if (d.declarant_code, d.importer_code) == (decl.declarant_code, decl.importer_code):
            return
        if decl.lodged_by != who.enterprise_code:
            field_name = "declarant_code" if d.declarant_code != decl.declarant_code else "importer_code"
            raise Forbidden(f"only the lodging enterprise {decl.lodged_by} may change the declarant or the importer",
                            [FieldError(field_name, "the parties are the lodging enterprise's to change")])
        results: list = [None]
        if not self._check_mandates(session, who, [(0, d)], results, now):
            raise DeclarationInvalid("the amendment has errors; nothing was changed", results[0].errors)

    def _lane_detail(self, session: Session, decl: Declaration) -> dict:
        """The detail of the declaration's latest selection event (its mechanism, rules, score)."""
        q = (select(DeclarationEvent.detail)
             .where(DeclarationEvent.declaration_id == decl.id, DeclarationEvent.to_status == Status.LANE_ASSIGNED)
             .order_by(DeclarationEvent.seq.desc()).limit(1))
        return session.scalar(q) or {}

    def _get_in(self, session: Session, decl: Declaration, who: Principal) -> DeclarationOut:
        items = session.scalars(select(GoodsItem).where(GoodsItem.declaration_id == decl.id)
                                .order_by(GoodsItem.item_no)).all()
        return for_principal(who, _out(decl, items, self._reasons(session, decl)))


def _at_least(decision: LaneDecision | None, held: Lane | None, held_detail: dict,
              held_score: float | None) -> LaneDecision | None:
    """The lane of an amended declaration: the new decision, but never below the lane it was held in."""
    if held is None or (decision is not None and LANE_RANK[decision.lane] >= LANE_RANK[held]):
        return decision
    kept = f"an amendment keeps the {held.value} lane of the earlier selection"
    if decision is None:
        return LaneDecision(held, held_score or 0.0, [*held_detail.get("reasons", []), kept],
                            held_detail.get("mechanism", "none"), {"kept_lane": held.value})
    return LaneDecision(held, decision.score, [*held_detail.get("reasons", []), kept],
                        held_detail.get("mechanism", decision.mechanism),
                        {**decision.detail, "kept_lane": held.value, "rescored_lane": decision.lane.value,
                         "rescored_mechanism": decision.mechanism, "rescored_reasons": decision.reasons})


# -- row builders ----------------------------------------------------------------------------------
def _event(did: int, seq: int, at: datetime, actor: str, frm: Status | str | None, to: Status | str, reason: str,
           detail: dict | None = None) -> dict:
    return {"declaration_id": did, "seq": seq, "at": at, "actor": actor,
            "from_status": str(frm) if frm else None, "to_status": str(to), "reason": reason, "detail": detail}


def _header_row(d: DeclarationIn, no: str, lodged_by: str, now: datetime, a: Assessment | None,
                status: Status, digest: str | None = None) -> dict:
    return {
        "declaration_no": no, "client_message_id": d.client_message_id, "body_hash": digest, "lodged_by": lodged_by,
        "declarant_code": d.declarant_code, "importer_code": d.importer_code, "seller_name": d.seller_name,
        "trade_mode": d.trade_mode, "transport_mode": d.transport_mode, "office_code": d.office_code,
        "departure_country": d.departure_country, "origin_country": d.origin_country, "currency": d.currency,
        "incoterm": d.incoterm, "freight": d.freight, "insurance": d.insurance, "gross_mass_kg": d.gross_mass_kg,
        "net_mass_kg": d.net_mass_kg, "packages": d.packages, "total_value": d.total_value,
        "declared_at": _naive(d.declared_at), "lodged_at": now, "status": status.value,
        "customs_value_cny": a.customs_value if a else None, "duty_cny": a.duty if a else None,
        "consumption_tax_cny": a.consumption_tax if a else None, "vat_cny": a.vat if a else None,
        "tax_total_cny": a.total if a else None, "transport_document_no": d.transport_document_no,
    }


def _item_rows(did: int, d: DeclarationIn, a: Assessment | None) -> list[dict]:
    rows = []
    for i, it in enumerate(d.items):
        t = a.items[i] if a else None
        rows.append({
            "declaration_id": did, "item_no": i + 1, "hs_code": it.hs_code, "description": it.description,
            "model_spec": it.model_spec, "quantity": it.quantity, "unit": it.unit, "net_mass_kg": it.net_mass_kg,
            "unit_price": it.unit_price, "total_value": it.total_value, "origin_country": it.origin_country,
            "customs_value_cny": t.customs_value if t else None, "duty_cny": t.duty if t else None,
            "consumption_tax_cny": t.consumption_tax if t else None, "vat_cny": t.vat if t else None,
        })
    return rows


def _out(decl: Declaration, items: Sequence[GoodsItem], reasons: list[str]) -> DeclarationOut:
    return DeclarationOut(
        declaration_no=decl.declaration_no, client_message_id=decl.client_message_id, status=decl.status,
        lane=decl.lane, risk_score=decl.risk_score, reasons=reasons, version=decl.version,
        declarant_code=decl.declarant_code, importer_code=decl.importer_code, seller_name=decl.seller_name,
        trade_mode=decl.trade_mode, transport_mode=decl.transport_mode, office_code=decl.office_code,
        departure_country=decl.departure_country, origin_country=decl.origin_country, currency=decl.currency,
        incoterm=decl.incoterm, freight=decl.freight, insurance=decl.insurance, gross_mass_kg=decl.gross_mass_kg,
        net_mass_kg=decl.net_mass_kg, packages=decl.packages, total_value=decl.total_value,
        declared_at=decl.declared_at, lodged_at=decl.lodged_at,
        tax=TaxOut(customs_value_cny=decl.customs_value_cny, duty_cny=decl.duty_cny,
                   consumption_tax_cny=decl.consumption_tax_cny, vat_cny=decl.vat_cny,
                   tax_total_cny=decl.tax_total_cny),
        items=[GoodsItemOut.model_validate(i, from_attributes=True) for i in items],
        transport_document_no=decl.transport_document_no,
    )


# -- lodging statistics (the analyst dashboard) ----------------------------------------------------------
SCORE_BINS = 10


@dataclass
class LodgingProfile:
    """Lanes per office, the distribution of risk scores and tax per lodging day."""

    lanes: dict[str, dict[str, int]]  # office -> lane -> declarations
    histogram: list[int]  # declarations per score range, ``bins`` equal ranges over [0, 1]
    tax: list[dict]  # per lodging day (the last ``days``): declarations, tax, duty (CNY)


def lodging_profile(session: Session, days: int = 30, bins: int = SCORE_BINS,
                    now: datetime | None = None) -> LodgingProfile:
    """Lane shares per office, the score distribution and tax per day, from one pass over declarations."""
    d = Declaration
    sqlite = session.get_bind().dialect.name == "sqlite"
    scaled = d.risk_score * bins
    bin_ = sql_cast(scaled, Integer) if sqlite else sql_cast(func.floor(scaled), Integer)
    day = func.date(d.lodged_at) if sqlite else sql_cast(d.lodged_at, Date)
    q = (select(d.office_code, d.lane, bin_, day, func.count(), func.sum(d.tax_total_cny), func.sum(d.duty_cny))
         .group_by(d.office_code, d.lane, bin_, day))
    since = str(((now or utcnow()) - timedelta(days=days)).date())
    lanes: dict[str, dict[str, int]] = {}
    histogram = [0] * bins
    tax: dict[str, list[float]] = {}
    for office, lane, b, on, n, tax_total, duty in session.execute(q):
        n = int(n)
        if lane is not None:
            per = lanes.setdefault(office, {})
            per[lane] = per.get(lane, 0) + n
        if b is not None:
            histogram[min(max(int(b), 0), bins - 1)] += n
        if tax_total is not None and str(on) >= since:
            acc = tax.setdefault(str(on), [0, 0.0, 0.0])
            acc[0] += n
            acc[1] += float(tax_total)
            acc[2] += float(duty or 0)
    return LodgingProfile(dict(sorted(lanes.items())), histogram,
                          [{"day": k, "declarations": v[0], "tax": v[1], "duty": v[2]} for k, v in sorted(tax.items())])
