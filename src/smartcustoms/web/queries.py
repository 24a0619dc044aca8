"""Read-only queries behind the web pages (SQLAlchemy Core over the stored tables).

Optional tables (risk decisions and rules, inspection results, CBEC parcels) are looked up in the
database itself, so a page shows what exists and leaves out what a deployment does not have yet.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Date, Integer, MetaData, Table, and_, case, cast, func, inspect, or_, select, text
from sqlalchemy.engine import Connection, Engine

HELD_STATUSES = ("lane_assigned", "inspection")
LANES = ("green", "yellow", "blue", "red")
MECHANISMS = ("model", "rule", "exploration", "mandatory")
SCORE_BINS = 10


class Tables:
    """Reflected tables of one database; a missing table is ``None`` (looked for again after a while)."""

    RETRY_SECONDS = 30.0

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.meta = MetaData()
        self._found: dict[str, Table] = {}
        self._missing: dict[str, float] = {}

    def get(self, name: str) -> Table | None:
        if name in self._found:
            return self._found[name]
        if time.monotonic() - self._missing.get(name, -1e9) < self.RETRY_SECONDS:
            return None
        if not inspect(self.engine).has_table(name):
            self._missing[name] = time.monotonic()
            return None
        t = Table(name, self.meta, autoload_with=self.engine)
        self._found[name] = t
        return t

    def __getitem__(self, name: str) -> Table:
        t = self.get(name)
        if t is None:
            raise LookupError(f"table {name} does not exist")
        return t


_TABLES: dict[int, Tables] = {}


def tables(engine: Engine) -> Tables:
    """The (cached) reflected tables of ``engine``."""
    t = _TABLES.get(id(engine))
    if t is None or t.engine is not engine:
        t = _TABLES[id(engine)] = Tables(engine)
    return t


def _day(conn: Connection, col):
    return func.date(col) if conn.dialect.name == "sqlite" else cast(col, Date)


# -- officer: hold queue -------------------------------------------------------------------------
@dataclass
class HoldQueue:
    rows: list[dict]
    counts: dict[tuple[str, str], int]  # (office, lane) -> held declarations
    total: int


def hold_queue(conn: Connection, t: Tables, *, lane: str | None = None, office: str | None = None,
               order: str = "-risk_score", limit: int = 100, offset: int = 0) -> HoldQueue:
    """Held declarations (lane assigned or under inspection), highest score or oldest first."""
    d = t["declarations"]
    cond = [d.c.status.in_(HELD_STATUSES)]
    if lane:
        cond.append(d.c.lane == lane)
    if office:
        cond.append(d.c.office_code == office)
    col = d.c.risk_score if order.lstrip("-") == "risk_score" else d.c.lodged_at
    ordering = col.desc() if order.startswith("-") else col.asc()
    q = (select(d.c.declaration_no, d.c.status, d.c.lane, d.c.risk_score, d.c.importer_code, d.c.office_code,
                d.c.total_value, d.c.currency, d.c.lodged_at, d.c.tax_total_cny)
         .where(*cond).order_by(ordering, d.c.id).limit(limit).offset(offset))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    counts = {(o, ln): n for o, ln, n in conn.execute(
        select(d.c.office_code, d.c.lane, func.count()).where(d.c.status.in_(HELD_STATUSES))
        .group_by(d.c.office_code, d.c.lane))}
    total = sum(n for (o, ln), n in counts.items() if (not lane or ln == lane) and (not office or o == office))
    return HoldQueue(rows, counts, total)


# -- officer: a declaration's context ------------------------------------------------------------
def declaration_id(conn: Connection, t: Tables, no: str) -> int | None:
    d = t["declarations"]
    return conn.scalar(select(d.c.id).where(d.c.declaration_no == no))


def risk_decision(conn: Connection, t: Tables, did: int) -> dict | None:
    """The latest selectivity decision of a declaration (score, lane, mechanism, reasons)."""
    rd = t.get("risk_decisions")
    if rd is None:
        return None
    row = conn.execute(select(rd).where(rd.c.declaration_id == did).order_by(rd.c.id.desc()).limit(1)).first()
    return dict(row._mapping) if row else None


def inspection_result(conn: Connection, t: Tables, did: int) -> dict | None:
    ir = t.get("inspection_results")
    if ir is None:
        return None
    row = conn.execute(select(ir).where(ir.c.declaration_id == did)).first()
    return dict(row._mapping) if row else None


@dataclass
class PartyHistory:
    declarations: int = 0
    held: int = 0
    inspected: int = 0
    offences: int = 0
    duty_recovered: float = 0.0
    recent: list[dict] = field(default_factory=list)

    @property
    def hit_rate(self) -> float | None:
        return self.offences / self.inspected if self.inspected else None


def party_history(conn: Connection, t: Tables, importer: str, exclude_id: int | None = None,
                  recent: int = 10) -> PartyHistory:
    """An importer's record: declarations, holds, inspections, offences and its latest declarations."""
    d, ir = t["declarations"], t.get("inspection_results")
    where = [d.c.importer_code == importer]
    if exclude_id is not None:
        where.append(d.c.id != exclude_id)
    held = func.sum(case((d.c.lane.in_(LANES[1:]), 1), else_=0))
    n, n_held = conn.execute(select(func.count(), held).where(*where)).one()
    h = PartyHistory(declarations=int(n), held=int(n_held or 0))
    cols = [d.c.declaration_no, d.c.status, d.c.lane, d.c.risk_score, d.c.lodged_at, d.c.total_value, d.c.currency]
    q = select(*cols).where(*where)
    if ir is not None:
        row = conn.execute(select(func.count(), func.sum(case((ir.c.outcome == "offence", 1), else_=0)),
                                  func.sum(ir.c.duty_recovered))
                           .select_from(d.join(ir, ir.c.declaration_id == d.c.id)).where(*where)).one()
        h.inspected, h.offences, h.duty_recovered = int(row[0]), int(row[1] or 0), float(row[2] or 0)
        q = (select(*cols, ir.c.outcome, ir.c.offence_type)
             .select_from(d.outerjoin(ir, ir.c.declaration_id == d.c.id)).where(*where))
    h.recent = [dict(r._mapping) for r in conn.execute(q.order_by(d.c.lodged_at.desc()).limit(recent))]
    return h


def similar_cases(conn: Connection, t: Tables, did: int, hs_codes: list[str], origin: str,
                  limit: int = 10) -> list[dict]:
    """Past declarations with goods of the same HS subheading and origin, inspected ones first."""
    d, g, ir = t["declarations"], t["goods_items"], t.get("inspection_results")
    hs6 = sorted({h[:6] for h in hs_codes})
    if not hs6:
        return []
    # a range per subheading keeps the hs_code index usable (digits sort before ":")
    same_hs = or_(*[and_(g.c.hs_code >= h, g.c.hs_code < h + ":") for h in hs6])
    ids = (select(g.c.declaration_id).where(same_hs, g.c.origin_country == origin, g.c.declaration_id != did)
           .distinct().scalar_subquery())
    cols = [d.c.declaration_no, d.c.importer_code, d.c.status, d.c.lane, d.c.risk_score, d.c.lodged_at,
            d.c.total_value, d.c.currency]
    if ir is not None:
        q = (select(*cols, ir.c.outcome, ir.c.offence_type, ir.c.duty_recovered)
             .select_from(d.outerjoin(ir, ir.c.declaration_id == d.c.id))
             .where(d.c.id.in_(ids)).order_by(case((ir.c.id.is_(None), 1), else_=0), d.c.lodged_at.desc()))
    else:
        q = select(*cols).where(d.c.id.in_(ids)).order_by(d.c.lodged_at.desc())
    return [dict(r._mapping) for r in conn.execute(q.limit(limit))]


# -- analyst dashboard ---------------------------------------------------------------------------
@dataclass
class HitRates:
    totals: dict[str, dict[str, float]]  # mechanism -> decisions, held, inspected, hits, hit_rate
    weeks: list[str]  # ISO week labels, oldest first
    by_week: dict[str, list[float | None]]  # mechanism -> hit rate per week (None: nothing inspected)
    inspected_by_week: dict[str, list[int]]


def decision_counts(conn: Connection, t: Tables) -> dict[str, tuple[int, int]] | None:
    """Per selection mechanism: decisions and how many of them were held (one pass over decisions)."""
    rd = t.get("risk_decisions")
    if rd is None:
        return None
    q = select(rd.c.mechanism, func.count(), func.sum(case((rd.c.lane != "green", 1), else_=0))).group_by(
        rd.c.mechanism)
    return {m: (int(n), int(h or 0)) for m, n, h in conn.execute(q)}


def hit_rates(conn: Connection, t: Tables, weeks: int = 12, now: datetime | None = None,
              decisions: dict[str, tuple[int, int]] | None = None) -> HitRates | None:
    """Hit rate per selection mechanism, overall and per week; exploration is the random baseline.

    ``decisions`` (from :func:`decision_counts`) may be passed in when already known."""
    rd, ir = t.get("risk_decisions"), t.get("inspection_results")
    if rd is None:
        return None
    decisions = decision_counts(conn, t) if decisions is None else decisions
    totals = {m: {"decisions": n, "held": h, "inspected": 0, "hits": 0, "hit_rate": 0.0}
              for m, (n, h) in decisions.items()}
    now = now or datetime.now()
    start = (now - timedelta(weeks=weeks - 1)).date()
    start = start - timedelta(days=start.weekday())
    labels = [(start + timedelta(weeks=i)).isoformat() for i in range(weeks)]
    counts: dict[str, list[list[int]]] = defaultdict(lambda: [[0, 0] for _ in labels])
    if ir is not None:
        # a left join from the inspection results makes SQLite walk them, not every decision
        q = (select(rd.c.mechanism, ir.c.recorded_at, ir.c.outcome)
             .select_from(ir.outerjoin(rd, ir.c.declaration_id == rd.c.declaration_id)))
        for mech, at, outcome in conn.execute(q):
            if mech is None:
                continue
            tot = totals.setdefault(mech, {"decisions": 0, "held": 0, "inspected": 0, "hits": 0, "hit_rate": 0.0})
            tot["inspected"] += 1
            tot["hits"] += outcome == "offence"
            k = (at.date() - start).days // 7 if at is not None else -1
            if 0 <= k < weeks:
                counts[mech][k][0] += 1
                counts[mech][k][1] += outcome == "offence"
        for tot in totals.values():
            tot["hit_rate"] = tot["hits"] / tot["inspected"] if tot["inspected"] else 0.0
    by_week = {m: [h / n if n else None for n, h in c] for m, c in counts.items()}
    inspected = {m: [n for n, _ in c] for m, c in counts.items()}
    return HitRates(totals, labels, by_week, inspected)


@dataclass
class DeclarationProfile:
    lanes: dict[str, dict[str, int]]  # office -> lane -> declarations
    histogram: list[int]  # declarations per score range, SCORE_BINS equal ranges over [0, 1]
    tax: list[dict]  # per lodging day: declarations, tax, duty (CNY)


def declaration_profile(conn: Connection, t: Tables, days: int = 30, bins: int = SCORE_BINS,
                        now: datetime | None = None) -> DeclarationProfile:
    """Lane shares per office, the score distribution and tax per day, from one pass over declarations."""
    d = t["declarations"]
    scaled = d.c.risk_score * bins
    bin_ = cast(scaled, Integer) if conn.dialect.name == "sqlite" else cast(func.floor(scaled), Integer)
    day = _day(conn, d.c.lodged_at)
    q = (select(d.c.office_code, d.c.lane, bin_, day, func.count(), func.sum(d.c.tax_total_cny), func.sum(d.c.duty_cny))
         .group_by(d.c.office_code, d.c.lane, bin_, day))
    since = str(((now or datetime.now()) - timedelta(days=days)).date())
    lanes: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    histogram = [0] * bins
    tax: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
    for office, lane, b, on, n, tax_total, duty in conn.execute(q):
        n = int(n)
        if lane is not None:
            lanes[office][lane] += n
        if b is not None:
            histogram[min(max(int(b), 0), bins - 1)] += n
        if tax_total is not None and str(on) >= since:
            acc = tax[str(on)]
            acc[0] += n
            acc[1] += float(tax_total)
            acc[2] += float(duty or 0)
    return DeclarationProfile({o: dict(v) for o, v in sorted(lanes.items())}, histogram,
                              [{"day": k, "declarations": v[0], "tax": v[1], "duty": v[2]}
                               for k, v in sorted(tax.items())])


def top_rules(conn: Connection, t: Tables, limit: int = 10) -> list[dict]:
    """Risk rules with their matches, selections, inspections and hits, most hits first."""
    rr, rdr, rd, ir = (t.get(n) for n in ("risk_rules", "risk_decision_rules", "risk_decisions",
                                          "inspection_results"))
    if rr is None or rdr is None or rd is None:
        return []
    sel = rdr.c.selected.is_(True)
    hit = (ir.c.outcome == "offence") if ir is not None else None
    cols = [rr.c.id, rr.c.name, rr.c.lane, rr.c.active, func.count(rdr.c.rule_id).label("matches"),
            func.sum(case((sel, 1), else_=0)).label("selected")]
    j = rr.outerjoin(rdr, rdr.c.rule_id == rr.c.id).outerjoin(rd, rd.c.id == rdr.c.decision_id)
    if ir is not None:
        j = j.outerjoin(ir, ir.c.declaration_id == rd.c.declaration_id)
        cols += [func.sum(case((and_(sel, ir.c.id.is_not(None)), 1), else_=0)).label("inspected"),
                 func.sum(case((and_(sel, hit), 1), else_=0)).label("hits")]
    q = select(*cols).select_from(j).group_by(rr.c.id, rr.c.name, rr.c.lane, rr.c.active)
    rows = []
    for r in conn.execute(q):
        m = dict(r._mapping)
        for k in ("matches", "selected", "inspected", "hits"):
            m[k] = int(m.get(k) or 0)
        m["hit_rate"] = m["hits"] / m["inspected"] if m["inspected"] else None
        rows.append(m)
    rows.sort(key=lambda m: (-m["hits"], -m["selected"], m["name"]))
    return rows[:limit]


@dataclass
class CbecSummary:
    status_counts: dict[int, int]
    hours: list[str]
    per_hour: list[int]


def cbec_summary(conn: Connection, t: Tables, hours: int = 24, now_ms: int | None = None) -> CbecSummary | None:
    """CBEC parcels by receipt status and decided per hour (last ``hours``), when the tables exist."""
    p = t.get("cbec_parcel")
    if p is None:
        return None
    counts = {int(s): int(n) for s, n in conn.execute(select(p.c.status, func.count()).group_by(p.c.status))}
    now_ms = now_ms or int(time.time() * 1000)
    hour = 3_600_000
    first = now_ms // hour - hours + 1
    bucket = (p.c.decided_ms / hour).label("h") if conn.dialect.name == "sqlite" else \
        func.floor(p.c.decided_ms / hour).label("h")
    per = dict.fromkeys(range(first, first + hours), 0)
    for h, n in conn.execute(select(bucket, func.count()).where(p.c.decided_ms >= first * hour).group_by(bucket)):
        if int(h) in per:
            per[int(h)] += int(n)
    labels = [datetime.fromtimestamp(h * 3600).strftime("%H:00") for h in per]
    return CbecSummary(counts, labels, list(per.values()))


# -- officer: held CBEC parcels ------------------------------------------------------------------
PARCEL_HELD = (300, 500)  # manual review, inspection
PARCEL_OUTCOMES = (501, 502, 503, 599, 700, 800)  # what officers decide for a held parcel
PARCEL_PAGE = 100


@dataclass
class ParcelQueue:
    rows: list[dict]
    counts: dict[int, int]  # held status -> parcels
    next_after: str | None  # keyset cursor of the next page (None: this is the last page)


def _ms_time(ms: int | None) -> datetime | None:
    """A stored epoch-milliseconds time as a naive UTC datetime (like the declarations' times)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).replace(tzinfo=None)


def reasons_of(info: str | None) -> list[str]:
    """A parcel's ``info`` (reasons joined by '; ') as a list."""
    return [r.strip() for r in (info or "").split("; ") if r.strip()]


def _parcel_row(m: dict) -> dict:
    m["reasons"] = reasons_of(m.get("info"))
    m["decided_at"] = _ms_time(m.get("decided_ms"))
    for k in ("dutiable", "tariff", "consumption", "vat", "tax", "charged"):
        if f"{k}_fen" in m:
            m[f"{k}_cny"] = None if m[f"{k}_fen"] is None else Decimal(int(m[f"{k}_fen"])).scaleb(-2)
    return m


def _cursor(text: str | None, parts: int) -> tuple[int, ...] | None:
    """A paging cursor's numbers; a missing or hand-mangled one starts from the beginning."""
    try:
        values = tuple(int(x) for x in (text or "").split(".") if x.isascii() and len(x) <= 19)
    except ValueError:
        return None
    in_range = all(0 <= v < 2**63 for v in values)  # the database's BIGINT
    return values if len(values) == parts and in_range else None


#: statuses in ``ix_cbec_parcel_held`` (held, detained, returned: officers' parcels; not releases, rejections)
HELD_OR_DECIDED = (300, 800)
_HELD_OR_DECIDED = text("cbec_parcel.status >= 300 AND cbec_parcel.status < 800")


def parcel_queue(conn: Connection, t: Tables, statuses: tuple[int, ...] = PARCEL_HELD, *,
                 after: str | None = None, limit: int = PARCEL_PAGE) -> ParcelQueue | None:
    """Parcels in ``statuses``, read from ``cbec_parcel``; ``None`` when the deployment has no CBEC tables.

    Held parcels (300/500 only) come oldest first (by parcel id, cursor ``after`` = the last id shown);
    any other selection is "recently decided": the latest decision first (cursor ``"<decided_ms>.<id>"``).
    """
    p = t.get("cbec_parcel")
    if p is None:
        return None
    held = set(statuses) <= set(PARCEL_HELD)
    cols = [p.c.id, p.c.ebp_code, p.c.order_no, p.c.ebc_code, p.c.status, p.c.risk_score, p.c.info,
            p.c.dutiable_fen, p.c.tax_fen, p.c.decided_ms]
    cursor = _cursor(after, 1 if held else 2)
    q = select(*cols).where(p.c.status.in_(statuses))
    if all(HELD_OR_DECIDED[0] <= s < HELD_OR_DECIDED[1] for s in statuses):
        q = q.where(_HELD_OR_DECIDED)  # the partial index's own terms: the planners use it (not 800 releases)
    if held:
        if cursor:
            q = q.where(p.c.id > cursor[0])
        q = q.order_by(p.c.id)
    else:
        if cursor:
            ms, last = cursor
            q = q.where(or_(p.c.decided_ms < ms, and_(p.c.decided_ms == ms, p.c.id < last)))
        q = q.order_by(p.c.decided_ms.desc(), p.c.id.desc())
    rows = [_parcel_row(dict(r._mapping)) for r in conn.execute(q.limit(limit))]
    counts = dict.fromkeys(PARCEL_HELD, 0)
    counts.update({int(s): int(n) for s, n in conn.execute(
        select(p.c.status, func.count()).where(p.c.status.in_(PARCEL_HELD), _HELD_OR_DECIDED)
        .group_by(p.c.status))})
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = str(last["id"]) if held else f"{last['decided_ms']}.{last['id']}"
    return ParcelQueue(rows, counts, nxt)


def parcel(conn: Connection, t: Tables, ebp_code: str, order_no: str) -> dict | None:
    """One parcel (every stored column) with its status history, oldest event first."""
    p, e = t.get("cbec_parcel"), t.get("cbec_parcel_event")
    if p is None or e is None:
        return None
    row = conn.execute(select(p).where(p.c.ebp_code == ebp_code, p.c.order_no == order_no)).first()
    if row is None:
        return None
    out = _parcel_row(dict(row._mapping))
    out["first_at"] = _ms_time(out.get("first_ms"))
    out["events"] = [{**dict(r._mapping), "at": _ms_time(r.at_ms), "reasons": reasons_of(r.info)}
                     for r in conn.execute(select(e.c.id, e.c.status, e.c.info, e.c.actor, e.c.at_ms)
                                           .where(e.c.ebp_code == ebp_code, e.c.order_no == order_no)
                                           .order_by(e.c.id))]
    return out


# -- admin ---------------------------------------------------------------------------------------
def api_keys(conn: Connection, t: Tables) -> list[dict]:
    """Every API key's prefix, label, owner and dates (never the key or its digest)."""
    k, u = t["api_keys"], t["users"]
    q = (select(k.c.prefix, k.c.label, k.c.created_at, k.c.revoked_at, u.c.username, u.c.role)
         .select_from(k.join(u, u.c.id == k.c.user_id)).order_by(k.c.id.desc()).limit(500))
    return [dict(r._mapping) for r in conn.execute(q)]


def enterprises(conn: Connection, t: Tables, q: str = "", limit: int = 100) -> tuple[list[dict], int]:
    """Enterprises whose code or name contains ``q``, and how many there are in all."""
    e = t["enterprises"]
    where = [or_(e.c.code.contains(q.upper()), e.c.name.contains(q))] if q else []
    rows = conn.execute(select(e.c.code, e.c.name, e.c.roles, e.c.credit_grade).where(*where)
                        .order_by(e.c.code).limit(limit))
    total = conn.scalar(select(func.count()).select_from(e).where(*where))
    return [dict(r._mapping) for r in rows], int(total or 0)


def tariff_lines(conn: Connection, t: Tables, limit: int = 50) -> tuple[list[dict], int]:
    tl = t.get("tariff_lines")
    if tl is None:
        return [], 0
    rows = [dict(r._mapping) for r in conn.execute(select(tl).limit(limit))]
    return rows, int(conn.scalar(select(func.count()).select_from(tl)) or 0)


# -- the dashboard's figures, recomputed when the data change -----------------------------------------
@dataclass
class Dashboard:
    at: datetime
    rates: HitRates | None
    profile: DeclarationProfile
    rules: list[dict]
    cbec: CbecSummary | None


def data_version(conn: Connection, t: Tables) -> tuple[tuple, tuple]:
    """Cheap probes (indexed maxima) of what the dashboard shows: (lodging activity, results and rules)."""
    ev, ir, rr, pe = (t.get(n) for n in ("declaration_events", "inspection_results", "risk_rules",
                                         "cbec_parcel_event"))
    activity = (conn.scalar(select(func.max(ev.c.id))) if ev is not None else None,
                conn.scalar(select(func.max(pe.c.id))) if pe is not None else None)
    judged = (conn.scalar(select(func.max(ir.c.id))) if ir is not None else None,
              tuple(conn.execute(select(func.count(), func.max(rr.c.updated_at))).one()) if rr is not None else None)
    return activity, judged


class DashboardCache:
    """The dashboard's figures, kept while the data do not change.

    Inspection results and rule edits show at the next load (the parts they touch are cheap and are
    recomputed at once). The passes over all declarations and decisions are refreshed in a background
    thread when declarations or CBEC parcels have arrived and the figures are older than ``max_lag``
    seconds, so no page load waits for them except the very first; the page says as of when.
    """

    def __init__(self, engine: Engine, max_lag: float = 10.0) -> None:
        self.engine = engine
        self.max_lag = max_lag
        self.lock = threading.Lock()
        self.value: Dashboard | None = None
        self.version: tuple[tuple, tuple] | None = None
        self.decisions: dict[str, tuple[int, int]] | None = None
        self.computed = 0.0
        self.refreshing = False

    def _full(self, conn: Connection, t: Tables, version: tuple[tuple, tuple]) -> None:
        self.decisions = decision_counts(conn, t)
        self.value = Dashboard(datetime.now(), hit_rates(conn, t, decisions=self.decisions),
                               declaration_profile(conn, t), top_rules(conn, t), cbec_summary(conn, t))
        self.version, self.computed = version, time.monotonic()

    def _refresh(self) -> None:
        try:
            t = tables(self.engine)
            with self.engine.connect() as conn:
                version = data_version(conn, t)
                decisions = decision_counts(conn, t)
                profile, cbec = declaration_profile(conn, t), cbec_summary(conn, t)
                rates, rules = hit_rates(conn, t, decisions=decisions), top_rules(conn, t)
            with self.lock:
                self.decisions = decisions
                self.value = Dashboard(datetime.now(), rates, profile, rules, cbec)
                self.version, self.computed = version, time.monotonic()
        finally:
            self.refreshing = False

    def get(self) -> Dashboard:
        t = tables(self.engine)
        with self.lock, self.engine.connect() as conn:
            version = data_version(conn, t)
            if self.value is None or self.version is None:
                self._full(conn, t, version)
                return self.value
            if version[1] != self.version[1]:  # a new inspection result or rule edit: show it now
                self.value = Dashboard(self.value.at, hit_rates(conn, t, decisions=self.decisions),
                                       self.value.profile, top_rules(conn, t), self.value.cbec)
                self.version = (self.version[0], version[1])
            if (version[0] != self.version[0] and not self.refreshing
                    and time.monotonic() - self.computed >= self.max_lag):
                self.refreshing = True
                threading.Thread(target=self._refresh, daemon=True, name="dashboard-refresh").start()
            return self.value


_DASHBOARDS: dict[int, DashboardCache] = {}


def dashboard(engine: Engine) -> Dashboard:
    """The dashboard's figures for ``engine``'s database (see :class:`DashboardCache`)."""
    cache = _DASHBOARDS.get(id(engine))
    if cache is None or cache.engine is not engine:
        cache = _DASHBOARDS[id(engine)] = DashboardCache(engine)
    return cache.get()
