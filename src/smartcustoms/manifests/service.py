"""Manifest operations: ingest (parse, validate, store, assess, answer), shipment reads, the referral queue and
carrier statistics.

Each message is stored in its own transaction: a refused message leaves nothing behind, and a malformed one
never stops the others. A consignment's assessment reads the history aggregates as they were before it (the
earlier consignments of the same message included), then adds itself to them.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, Table, cast, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from smartcustoms.audit.service import new_entry as new_audit_entry
from smartcustoms.audit.service import record as audit
from smartcustoms.audit.service import record_many as record_audit_many
from smartcustoms.core.clock import utcnow
from smartcustoms.core.errors import Conflict, FieldError, NotFound, ValidationProblem
from smartcustoms.core.security import SYSTEM, Principal
from smartcustoms.manifests import cn, intake, legs, store
from smartcustoms.manifests.discrepancies import Discrepancies
from smartcustoms.manifests.events import ManifestEvent, ManifestEventKind, ManifestListener, emit
from smartcustoms.manifests.model import ManifestModel, history_keys, history_observations, outcome_observations
from smartcustoms.manifests.model import features as model_features
from smartcustoms.manifests.model import matrix as model_matrix
from smartcustoms.manifests.models import (
    ManifestFiling,
    ManifestReferralEvent,
)
from smartcustoms.manifests.rules import (
    ManifestSettings,
    WeightStats,
    assess,
    goods_key,
    history_of,
    party_key,
)
from smartcustoms.manifests.schemas import (
    DECISIONS,
    SEVERITY,
    Consignment,
    ConsignmentAnswer,
    DecisionIn,
    FieldProblem,
    FilingFunction,
    Manifest,
    MessageAnswer,
    MessageKind,
    Outcome,
    ReconcileOut,
    ReferralAction,
    ReferralEventOut,
    ReferralOut,
    ReferralStateOut,
    ShipmentOut,
)

log = logging.getLogger(__name__)

FILING_TABLE: Table = ManifestFiling.__table__  # type: ignore[assignment]  # a declarative class's Table
REFERRED = (Outcome.REQUEST_FOR_INFORMATION, Outcome.REQUEST_FOR_SCREENING, Outcome.DO_NOT_LOAD)
#: messages stored in one transaction by :meth:`ManifestService.ingest` (a request or file of several messages)
BATCH = 4
HITS = (ReferralAction.THREAT_FOUND, ReferralAction.DO_NOT_LOAD_CONFIRMED)  # a decided referral that found something


@dataclass(slots=True)
class _Delta:
    """New observations of one history key in this transaction (Welford), merged into the table at commit."""
    n: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, x: float) -> None:
        self.n += 1
        d = x - self.mean
        self.mean += d / self.n
        self.m2 += d * (x - self.mean)


def _combined(base: WeightStats | None, d: _Delta | None) -> WeightStats | None:
    """The stored statistics and this transaction's new observations together (Chan et al.)."""
    if d is None or d.n == 0:
        return base
    if base is None or base.n == 0:
        return WeightStats(d.n, d.mean, d.m2)
    n = base.n + d.n
    delta = d.mean - base.mean
    return WeightStats(n, base.mean + delta * d.n / n, base.m2 + d.m2 + delta * delta * base.n * d.n / n)


class _Refused(Exception):
    def __init__(self, problems: list[FieldProblem]) -> None:
        super().__init__(problems[0].message if problems else "refused")
        self.problems = problems


class ManifestService:
    """Ingest and read manifests over the deployment's sessions."""

    def __init__(self, sessions: sessionmaker[Session], settings: ManifestSettings | None = None,
                 clock: Callable[[], datetime] = utcnow, model: ManifestModel | None = None) -> None:
        self.sessions = sessions
        self.settings = settings or ManifestSettings()
        self.clock = clock
        self.model = model  # the pre-loading model beside the rules (manifests/model.py); None: rules only
        self.model_version: int | None = None  # its registry version (None: from a file, or no model)
        #: the share of the consignments neither the rules nor the model refer that a random draw refers (a
        #: request for information): the unbiased sample the model's inverse-propensity weights need (0: none)
        self.explore_rate = 0.0
        self.rng = random.Random()
        self._discrepancies: Discrepancies | None = None
        #: told of referrals, decisions and discrepancies in their transaction (the platform wires the inbox)
        self.event_listeners: list[ManifestListener] = []

    # ------------------------------------------------------------------ ingest
    def ingest(self, data: bytes, filer_code: str, who: Principal) -> list[MessageAnswer]:
        """Every message of ``data`` (one or several manifests), each accepted or refused with its reasons (up to
        :data:`BATCH` messages a transaction, see :meth:`store_batch`)."""
        parsed = list(intake.parse_stream(data))
        return [a for i in range(0, len(parsed), BATCH) for a in self.store_batch(parsed[i:i + BATCH], filer_code,
                                                                                 who)]

    def store_parsed(self, part: cn.Part, parsed: cn.Parsed, filer_code: str, who: Principal) -> MessageAnswer:
        """One parsed message stored and assessed in its own transaction (or its refusal); the parse may come
        from another process (see :mod:`smartcustoms.manifests.pipeline`)."""
        answer = self._answer(part, parsed, filer_code, who, self.clock(), None)
        self._after_commit(parsed, answer)
        return answer

    def store_batch(self, messages: Sequence[tuple[cn.Part, cn.Parsed]], filer_code: str, who: Principal
                    ) -> list[MessageAnswer]:
        """Several parsed messages in one transaction, in order, each answered exactly as :meth:`store_parsed`
        would: a refused or duplicate message is found before it writes anything, so it stores nothing while
        the others of the batch commit; a later message sees the earlier ones (versions, history, duplicates).
        Should the transaction fail (a concurrent filing of the same MessageID, a lost connection), it is rolled
        back whole and every message is stored again in its own transaction. One commit, one connection
        checkout a batch instead of a message (PostgreSQL: the commit's WAL flush and round trips)."""
        stamped = [(part, parsed, self.clock()) for part, parsed in messages]  # receipt times, in order
        if len(stamped) == 1 or sum(p.manifest is not None for _, p, _ in stamped) <= 1:
            answers = [self._answer(part, parsed, filer_code, who, at, None) for part, parsed, at in stamped]
        else:
            try:
                with self.sessions() as s, s.begin():
                    entries: list[dict[str, Any]] = []  # the audit entries, appended together at the end
                    answers = [self._answer(part, parsed, filer_code, who, at, (s, entries))
                               for part, parsed, at in stamped]
                    record_audit_many(s, who, entries)
            except Exception:  # noqa: BLE001 - SQLAlchemy's or the driver's: each message again, alone
                log.info("a batch of %d manifest messages failed; storing them one a transaction", len(stamped),
                         exc_info=True)
                answers = [self._answer(part, parsed, filer_code, who, at, None) for part, parsed, at in stamped]
        for (_, parsed, _), answer in zip(stamped, answers, strict=True):
            self._after_commit(parsed, answer)
        return answers

    def _answer(self, part: cn.Part, parsed: cn.Parsed, filer_code: str, who: Principal, received_at: datetime,
                batch: tuple[Session, list[dict[str, Any]]] | None) -> MessageAnswer:
        """One message's answer: stored in a batch's transaction (its session and audit entries) or, with None,
        in its own."""
        answer = MessageAnswer(index=part.index, message_id=parsed.message_id,
                               message_type=parsed.message_type, accepted=False, errors=parsed.problems)
        if parsed.manifest is not None:
            try:
                if batch is None:
                    answer = self._store(part, parsed.manifest, filer_code, who, received_at)
                else:
                    answer = self._store_in(*batch, part, parsed.manifest, filer_code, who, received_at)
            except _Refused as exc:
                answer.errors = exc.problems
            except _Duplicate:
                answer.duplicate = True
                answer.errors = [FieldProblem(field="Manifest/Head/MessageID", line=part.line,
                                              message=f"message {parsed.message_id!r} was already received")]
            m = parsed.manifest
            answer.sender_id, answer.journey_id = m.sender_id, m.conveyance.journey_id
            answer.conveyance_id = m.conveyance.conveyance_id
        return answer

    def _after_commit(self, parsed: cn.Parsed, answer: MessageAnswer) -> None:
        if answer.accepted and parsed.manifest is not None and parsed.manifest.kind in (MessageKind.ARRIVAL,
                                                                                         MessageKind.TALLY):
            self._reconcile_voyage(parsed.manifest)

    # ------------------------------------------------------------------ reconciliation (manifests/discrepancies.py)
    @property
    def discrepancies(self) -> Discrepancies:
        """Reconciliation runs and the discrepancy queue."""
        if self._discrepancies is None:
            self._discrepancies = Discrepancies(self.sessions, clock=self.clock, listeners=self.event_listeners)
        return self._discrepancies

    def reconcile(self, who: Principal = SYSTEM) -> ReconcileOut:
        """Reconcile everything of the window (manifest lines, arrival and tally, declarations); idempotent."""
        return self.discrepancies.run(who)

    def _reconcile_voyage(self, m: Manifest) -> None:
        """After an arrival or tally report: the landing of its voyage (the report itself is stored already, so a
        failure here is logged, never the filer's refusal; the periodic run catches up)."""
        if not m.conveyance.conveyance_id or not m.conveyance.journey_id:
            return
        try:
            self.discrepancies.run(SYSTEM, [(m.conveyance.conveyance_id, m.conveyance.journey_id)])
        except Exception:  # noqa: BLE001 - logged; the periodic run reconciles again
            log.warning("reconciling voyage %s/%s failed", m.conveyance.conveyance_id, m.conveyance.journey_id,
                        exc_info=True)

    def _store(self, part: cn.Part, m: Manifest, filer: str, who: Principal, received_at: datetime
               ) -> MessageAnswer:
        try:
            with self.sessions() as s, s.begin():
                entries: list[dict[str, Any]] = []
                answer = self._store_in(s, entries, part, m, filer, who, received_at)
                record_audit_many(s, who, entries)
                return answer
        except IntegrityError as exc:  # two filings of one MessageID at once: the second loses
            if "uq_manifest_message_filer_id" in str(exc) or "manifest_message.filer_code" in str(exc):
                raise _Duplicate() from None
            raise

    def _store_in(self, s: Session, audits: list[dict[str, Any]], part: cn.Part, m: Manifest, filer: str,
                  who: Principal, received_at: datetime) -> MessageAnswer:
        """Store and assess one message in ``s``; its audit entry is appended to ``audits`` (the caller records
        them, :func:`audit.record_many`, before the commit)."""
        docs = [c.transport_document_no for c in m.consignments]
        duplicate, prior, stats = store.reads_before(s, filer, m.message_id, m.kind.value, docs,
                                                     self._history_keys(m.consignments, self.model is not None))
        if duplicate or prior is None or stats is None:
            raise _Duplicate()
        if m.function is not FilingFunction.ORIGINAL:
            missing = [(i, c) for i, c in enumerate(m.consignments, 1) if not prior.get(c.transport_document_no)]
            if missing:
                raise _Refused([FieldProblem(
                    field=f"Manifest/Declaration/Consignment[{i}]/TransportContractDocument/ID", line=part.line,
                    message=f"no earlier {m.kind.value} filing of {c.transport_document_no!r} to "
                            f"{'amend' if m.function is FilingFunction.AMENDMENT else 'withdraw'}")
                    for i, c in missing[:cn.MAX_PROBLEMS]])
        base = {key: WeightStats(n, mean, m2) for key, n, mean, m2 in stats}
        deltas: dict[str, _Delta] = {}
        message = dict(
            filer_code=filer, message_id=m.message_id, message_type=m.message_type, kind=m.kind.value,
            mode=m.conveyance.mode.value, function_code=m.function_code, sender_id=m.sender_id,
            journey_id=m.conveyance.journey_id, conveyance_id=m.conveyance.conveyance_id,
            consignments=len(m.consignments), received_at=received_at, sent_at=m.sent_at, payload=part.data)
        rows: list[dict[str, Any]] = []
        answers: list[ConsignmentAnswer] = []
        scored: list[tuple[int, list[float]]] = []  # (row index, model features) of the assessed consignments
        withdrawn = m.function is FilingFunction.WITHDRAWAL
        for c in m.consignments:
            version = prior.get(c.transport_document_no, 0) + 1
            amended = m.function is FilingFunction.AMENDMENT or version > 1
            outcome, reasons, reasons_zh, late = None, [], [], False
            if not withdrawn:
                history = history_of(c, lambda k: _combined(base.get(k), deltas.get(k)))
                a = assess(c, m.conveyance, m.kind, received_at, history, self.settings)
                outcome, reasons, reasons_zh, late = a.outcome, a.reasons, a.reasons_zh, a.late
                if self.model is not None:  # the model's features, point in time like the rules' history
                    seen = {k: st for k in history_keys(c) if (st := _combined(base.get(k), deltas.get(k)))}
                    scored.append((len(rows), model_features(c, a, seen, self.settings)))
                self._observe(c, deltas)
            rows.append(dict(
                message_row_id=None, filer_code=filer, transport_document_no=c.transport_document_no,
                master_document_no=c.master_document_no, previous_document_no=c.previous_document_no,
                message_id=m.message_id, message_type=m.message_type,
                kind=m.kind.value, mode=m.conveyance.mode.value, journey_id=m.conveyance.journey_id,
                conveyance_id=m.conveyance.conveyance_id, version=version, amended=amended, withdrawn=withdrawn,
                late=late, outcome=outcome.value if outcome else None, received_at=received_at,
                reasons=[{"en": en, "zh": zh} for en, zh in zip(reasons, reasons_zh, strict=True)],
                data=c.model_dump(mode="json", exclude_none=True)))
            answers.append(ConsignmentAnswer(transport_document_no=c.transport_document_no, version=version,
                                             amended=amended, withdrawn=withdrawn, outcome=outcome,
                                             reasons=reasons, reasons_zh=reasons_zh, late=late))
        self._advise(scored, rows, answers)
        self._select(rows, answers)
        # the message row, its filings and history deltas: Core statements (SQLite), one statement (PostgreSQL)
        msg_id = store.store_message(s, message, rows, ((k, d.n, d.mean, d.m2) for k, d in deltas.items()))
        if self.event_listeners:
            self._tell_referred(s, msg_id, filer, rows, received_at)
        counts = Counter(a.outcome.value for a in answers if a.outcome)
        audits.append(new_audit_entry(
            who.username, str(who.role), "manifest.assessed", "manifest_message", f"{filer}:{m.message_id}",
            {"message_type": m.message_type, "consignments": len(answers), "outcomes": dict(counts),
             "amended": sum(a.amended for a in answers), "late": sum(a.late for a in answers)}))
        return MessageAnswer(index=part.index, message_id=m.message_id, message_type=m.message_type,
                             accepted=True, consignments=answers)

    def _tell_referred(self, s: Session, msg_id: int, filer: str, rows: list[dict[str, Any]], at: datetime
                       ) -> None:
        """The listeners hear of the message's referred consignments (one indexed query, only when there are)."""
        referred = {o.value for o in REFERRED}
        docs = sorted({r["transport_document_no"] for r in rows if r["outcome"] in referred})
        if not docs:
            return
        f = ManifestFiling
        found = s.execute(select(f.id, f.transport_document_no, f.outcome, f.reasons).where(
            f.filer_code == filer, f.transport_document_no.in_(docs), f.message_row_id == msg_id,
            f.outcome.in_(referred)).order_by(f.id)).all()
        emit(self.event_listeners, s, [ManifestEvent(
            ManifestEventKind.REFERRED, filer, doc, at,
            {"filing_id": fid, "outcome": outcome, "reasons": "; ".join(x["en"] for x in reasons or []),
             "reasons_zh": "；".join(x["zh"] for x in reasons or [])}) for fid, doc, outcome, reasons in found])

    @staticmethod
    def _history_keys(consignments: list[Consignment], for_model: bool = False) -> set[str]:
        """The history aggregates a message's assessment reads (the rules' keys, and the model's)."""
        keys = {k for c in consignments for k in (party_key(c.shipper), party_key(c.consignee)) if k}
        keys |= {k for c in consignments for it in c.items if (k := goods_key(it)) is not None}
        if for_model:
            keys |= {k for c in consignments for k in history_keys(c)}
        return keys

    @staticmethod
    def _observe(c: Consignment, deltas: dict[str, _Delta]) -> None:
        # the model's counts are kept even before a model is trained
        for k, x in history_observations(c):
            d = deltas.setdefault(k, _Delta())
            if x is None:
                d.n += 1
            else:
                d.add(x)

    def _advise(self, scored: list[tuple[int, list[float]]], rows: list[dict[str, Any]],
                answers: list[ConsignmentAnswer]) -> None:
        """The model's word on the message's assessed consignments, in one model call: its score on each answer,
        and for those in the referral budget a referral (never lowering the rules' outcome; ``do_not_load``
        stays the rules') with the features that pushed the score most, in words."""
        if self.model is None or not scored:
            return
        try:
            advice = self.model.advise(model_matrix([f for _, f in scored]))
        except Exception:  # noqa: BLE001 - a broken model never stops the intake: the rules' answers stand
            log.exception("the pre-loading model failed; rules only for this message")
            return
        for (i, _), adv in zip(scored, advice, strict=True):
            a = answers[i]
            a.model_score, a.assessed_by = round(adv.score, 4), "rules+model"
            if adv.outcome is None or a.outcome is None or a.outcome is Outcome.DO_NOT_LOAD:
                continue
            if SEVERITY[adv.outcome] > SEVERITY[a.outcome]:
                a.outcome = adv.outcome
                rows[i]["outcome"] = adv.outcome.value
            a.reasons = [*a.reasons, *adv.reasons]
            a.reasons_zh = [*a.reasons_zh, *adv.reasons_zh]
            rows[i]["reasons"] = [*rows[i]["reasons"],
                                  *({"en": en, "zh": zh} for en, zh in zip(adv.reasons, adv.reasons_zh, strict=True))]

    def use_model(self, model: ManifestModel | None, version: int | None = None) -> None:
        """Assess with ``model`` (registry ``version``; None: a file's model) from the next message on."""
        self.model, self.model_version = model, version if model is not None else None

    def _select(self, rows: list[dict[str, Any]], answers: list[ConsignmentAnswer]) -> None:
        """Each filing's selection probability (1: referred by a rule or the model; otherwise the exploration
        rate, and the random draw may refer it), the model's score and version, on its row."""
        rate = self.explore_rate
        for row, a in zip(rows, answers, strict=True):
            p: float | None = None
            if a.outcome is not None:
                p = 1.0 if a.outcome in REFERRED else rate
                if rate > 0 and a.outcome is Outcome.ASSESSMENT_COMPLETE and self.rng.random() < rate:
                    en = f"selected at random for a control check ({rate:.1%} of consignments not otherwise referred)"
                    zh = f"随机抽选的对照检查（未被布控舱单的{rate:.1%}）"
                    a.outcome, a.reasons, a.reasons_zh = Outcome.REQUEST_FOR_INFORMATION, [*a.reasons, en], \
                        [*a.reasons_zh, zh]
                    row["outcome"] = a.outcome.value
                    row["reasons"] = [*row["reasons"], {"en": en, "zh": zh}]
            row["selection_probability"] = p
            row["model_score"] = a.model_score
            row["model_version"] = self.model_version if a.model_score is not None else None

    @staticmethod
    def _merge(s: Session, deltas: dict[str, _Delta]) -> None:
        """Add this transaction's observations to the stored aggregates (an upsert that merges, so concurrent
        writers lose nothing)."""
        store.merge_history(s, ((k, d.n, d.mean, d.m2) for k, d in deltas.items()))

    # ------------------------------------------------------------------ reads
    def shipment(self, document_no: str, filer_code: str | None) -> ShipmentOut:
        """Every filing of ``document_no`` and of the houses under it, oldest first (``filer_code``: only its own;
        None: customs, all)."""
        with self.sessions() as s:
            docs = sorted(legs.related_documents(s, document_no, filer_code))  # earlier and later legs too
            q = select(ManifestFiling).where(ManifestFiling.transport_document_no.in_(docs)
                                             | ManifestFiling.master_document_no.in_(docs))
            if filer_code is not None:
                q = q.where(ManifestFiling.filer_code == filer_code)
            rows = list(s.scalars(q.order_by(ManifestFiling.id).limit(5000)))
        if not rows:
            raise NotFound(f"no manifest filing of transport document {document_no!r} is visible to you")
        houses = sorted({r.transport_document_no for r in rows if r.master_document_no == document_no})
        filings = [_filing_out(r) for r in rows]
        return ShipmentOut(transport_document_no=document_no, house_documents=houses, filings=filings,
                           legs=legs.timeline(filings))

    def referrals(self, *, after_id: int = 0, limit: int = 100, outcome: Outcome | None = None,
                  filer_code: str | None = None) -> list[ReferralOut]:
        """Open referrals: consignments whose latest filing asks for information or screening, or says do not
        load, and that no officer has decided yet (an escalated request for information shows as screening;
        ``filer_code``: that filer's only, as its own requests for information page lists them)."""
        later = aliased(ManifestFiling)
        newer = select(later.id).where(later.filer_code == ManifestFiling.filer_code,
                                       later.transport_document_no == ManifestFiling.transport_document_no,
                                       later.kind == ManifestFiling.kind, later.id > ManifestFiling.id)
        ev = aliased(ManifestReferralEvent)
        closed = select(ev.id).where(ev.filing_id == ManifestFiling.id, ev.closed.is_(True))
        last = aliased(ManifestReferralEvent)
        current = func.coalesce(
            select(last.outcome).where(last.filing_id == ManifestFiling.id).order_by(last.id.desc()).limit(1)
            .scalar_subquery(), ManifestFiling.outcome)
        answered = select(ev.id).where(ev.filing_id == ManifestFiling.id,
                                       ev.action == ReferralAction.INFORMATION_ANSWERED.value).exists()
        wanted = [outcome.value] if outcome else [o.value for o in REFERRED]
        q = (select(ManifestFiling, current, answered)
             .where(ManifestFiling.outcome.in_([o.value for o in REFERRED]), current.in_(wanted),
                    ManifestFiling.id > after_id, ~newer.exists(), ~closed.exists())
             .order_by(ManifestFiling.id).limit(limit))
        if filer_code is not None:
            q = q.where(ManifestFiling.filer_code == filer_code)
        with self.sessions() as s:
            return [ReferralOut(id=r.id, filer_code=r.filer_code, transport_document_no=r.transport_document_no,
                                message_type=r.message_type, mode=r.mode, outcome=Outcome(now),
                                assessed_outcome=Outcome(r.outcome or ""), answered=bool(ans),
                                conveyance_id=r.conveyance_id,
                                reasons=[x["en"] for x in r.reasons], reasons_zh=[x["zh"] for x in r.reasons],
                                received_at=r.received_at) for r, now, ans in s.execute(q)]

    # ------------------------------------------------------------------ working referrals
    def referral(self, filing_id: int, filer_code: str | None) -> ReferralStateOut:
        """A referral with its steps (``filer_code``: only a filing of that filer; None: customs)."""
        with self.sessions() as s:
            f = self._referred(s, filing_id, filer_code)
            return self._state(s, f)

    def decide(self, filing_id: int, decision: DecisionIn, who: Principal) -> ReferralStateOut:
        """Record an officer's decision on an open referral (audited); a closing decision takes it off the queue."""
        if decision.action is ReferralAction.INFORMATION_ANSWERED:
            raise ValidationProblem("only the filer answers a request for information",
                                    [FieldError("action", "not an officer's decision")])
        try:
            return self._decide(filing_id, decision, who)
        except IntegrityError as exc:  # another officer's closing decision came first
            if "ux_manifest_referral_event_closed" in str(exc) or "manifest_referral_event.filing_id" in str(exc):
                raise Conflict("this referral was already decided") from None
            raise

    def _decide(self, filing_id: int, decision: DecisionIn, who: Principal) -> ReferralStateOut:
        with self.sessions() as s, s.begin():
            f = self._referred(s, filing_id, None, lock=True)
            state = self._state(s, f)
            self._open(s, f, state)
            allowed = DECISIONS[state.outcome]
            if decision.action not in allowed:
                raise ValidationProblem(
                    f"{decision.action.value} does not decide a {state.outcome.value} referral",
                    [FieldError("action", "one of " + ", ".join(a.value for a in allowed))])
            if decision.action is ReferralAction.INFORMATION_COMPLETE and not any(
                    e.action is ReferralAction.INFORMATION_ANSWERED for e in state.events):
                raise Conflict("the filer has not answered the request for information yet: escalate it instead")
            after, closes = _EFFECT[decision.action]
            self._append(s, f, decision.action, after, closes, decision.reason, who)
            emit(self.event_listeners, s, [ManifestEvent(
                ManifestEventKind.REFERRAL_DECIDED, f.filer_code, f.transport_document_no, self.clock(),
                {"filing_id": f.id, "action": decision.action.value, "outcome": after.value,
                 "note": decision.reason})])
            if closes:  # the outcome is known: the shipper's and consignee's record for the model
                found = decision.action in (ReferralAction.THREAT_FOUND, ReferralAction.DO_NOT_LOAD_CONFIRMED)
                record: dict[str, _Delta] = {}
                for key, x in outcome_observations(Consignment.model_validate(f.data), found):
                    record.setdefault(key, _Delta()).add(x)
                self._merge(s, record)
            audit(s, who, "manifest.referral_decided", "manifest_filing", str(f.id),
                  {"transport_document_no": f.transport_document_no, "filer_code": f.filer_code,
                   "action": decision.action.value, "from": state.outcome.value, "to": after.value,
                   "closed": closes, "reason": decision.reason})
            return self._state(s, f)

    def answer_information(self, filing_id: int, answer: str, filer_code: str, who: Principal
                           ) -> ReferralStateOut:
        """The filer answers an open request for information on its own filing (audited)."""
        with self.sessions() as s, s.begin():
            f = self._referred(s, filing_id, filer_code, lock=True)
            state = self._state(s, f)
            self._open(s, f, state)
            if state.outcome is not Outcome.REQUEST_FOR_INFORMATION:
                raise Conflict(f"this consignment is under {state.outcome.value}, not a request for information")
            self._append(s, f, ReferralAction.INFORMATION_ANSWERED, Outcome.REQUEST_FOR_INFORMATION, False,
                         answer, who)
            audit(s, who, "manifest.information_answered", "manifest_filing", str(f.id),
                  {"transport_document_no": f.transport_document_no, "chars": len(answer)})
            return self._state(s, f)

    @staticmethod
    def _referred(s: Session, filing_id: int, filer_code: str | None, lock: bool = False) -> ManifestFiling:
        q = select(ManifestFiling).where(ManifestFiling.id == filing_id,
                                         ManifestFiling.outcome.in_([o.value for o in REFERRED]))
        if filer_code is not None:
            q = q.where(ManifestFiling.filer_code == filer_code)
        if lock and s.get_bind().dialect.name == "postgresql":
            q = q.with_for_update()
        f = s.scalar(q)
        if f is None:
            raise NotFound(f"no referred consignment {filing_id} is visible to you")
        return f

    @staticmethod
    def _open(s: Session, f: ManifestFiling, state: ReferralStateOut) -> None:
        if state.closed:
            raise Conflict("this referral was already decided")
        newer = s.scalar(select(ManifestFiling.id).where(
            ManifestFiling.filer_code == f.filer_code, ManifestFiling.kind == f.kind,
            ManifestFiling.transport_document_no == f.transport_document_no, ManifestFiling.id > f.id).limit(1))
        if newer is not None:
            raise Conflict(f"filing {f.id} was superseded by filing {newer}: work the newer one")

    def _append(self, s: Session, f: ManifestFiling, action: ReferralAction, outcome: Outcome, closed: bool,
                text: str, who: Principal) -> None:
        s.add(ManifestReferralEvent(filing_id=f.id, filer_code=f.filer_code, action=action.value,
                                    outcome=outcome.value, closed=closed, text=text, actor=who.username,
                                    actor_role=str(who.role)[:16], created_at=self.clock()))
        s.flush()

    @staticmethod
    def _state(s: Session, f: ManifestFiling) -> ReferralStateOut:
        events = list(s.scalars(select(ManifestReferralEvent).where(ManifestReferralEvent.filing_id == f.id)
                                .order_by(ManifestReferralEvent.id).limit(1000)))
        out = [ReferralEventOut(id=e.id, action=ReferralAction(e.action), outcome=Outcome(e.outcome),
                                closed=e.closed, text=e.text, actor=e.actor, created_at=e.created_at)
               for e in events]
        assessed = Outcome(f.outcome or "")
        return ReferralStateOut(id=f.id, transport_document_no=f.transport_document_no, filer_code=f.filer_code,
                                assessed_outcome=assessed, outcome=out[-1].outcome if out else assessed,
                                closed=any(e.closed for e in out), events=out)

    def carrier_statistics(self, filer_code: str | None = None) -> list[dict[str, Any]]:
        """Per filer: filings, late filings, amended filings and referrals; of the referrals officers decided, the
        hits (threat found, do-not-load confirmed) and the hit rate (None until one was decided)
        (``filer_code``: that filer only)."""
        f, e = ManifestFiling, ManifestReferralEvent
        q = select(f.filer_code, func.count(), func.sum(cast(f.late, Integer)), func.sum(cast(f.amended, Integer)),
                   func.count(f.outcome).filter(f.outcome.in_([o.value for o in REFERRED])))
        decided = select(e.filer_code, func.count(), func.count().filter(e.action.in_([a.value for a in HITS]))
                         ).where(e.closed.is_(True))
        if filer_code is not None:
            q = q.where(f.filer_code == filer_code)
            decided = decided.where(e.filer_code == filer_code)
        with self.sessions() as s:
            rows = s.execute(q.group_by(f.filer_code).order_by(f.filer_code).limit(1000)).all()
            closed = {r[0]: (r[1], r[2]) for r in s.execute(decided.group_by(e.filer_code).limit(1000))}
        out = []
        for r in rows:
            n, hits = closed.get(r[0], (0, 0))
            out.append({"filer_code": r[0], "filings": r[1], "late": int(r[2] or 0), "amended": int(r[3] or 0),
                        "referred": int(r[4] or 0), "decided": n, "hits": hits,
                        "hit_rate": round(hits / n, 4) if n else None})
        return out


class _Duplicate(Exception):
    pass


# what an officer's decision does: the referral's outcome after it, and whether it leaves the open queue
_EFFECT: dict[ReferralAction, tuple[Outcome, bool]] = {
    ReferralAction.SCREENING_CLEAR: (Outcome.ASSESSMENT_COMPLETE, True),
    ReferralAction.THREAT_FOUND: (Outcome.DO_NOT_LOAD, True),
    ReferralAction.DO_NOT_LOAD_CONFIRMED: (Outcome.DO_NOT_LOAD, True),
    ReferralAction.DO_NOT_LOAD_LIFTED: (Outcome.ASSESSMENT_COMPLETE, True),
    ReferralAction.INFORMATION_COMPLETE: (Outcome.ASSESSMENT_COMPLETE, True),
    ReferralAction.INFORMATION_ESCALATED: (Outcome.REQUEST_FOR_SCREENING, False),
}


_filing_out = legs.filing_out  # (moved to legs.py: the shipment timeline and the declaration card use it too)

