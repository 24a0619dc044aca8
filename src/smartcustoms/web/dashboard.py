"""The analyst dashboard's figures, read through the domain services and cached while the data do not change.

Hit rates, drift per office and rule statistics come from risk targeting's service (the one hit-rate definition), lane
shares, score distribution and tax per day from the declarations service, CBEC throughput from the
CBEC service. This module only assembles and caches them (:class:`DashboardCache`).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from smartcustoms.cbec import service as cbec_service
from smartcustoms.cbec.models import CbecParcelEvent
from smartcustoms.cbec.service import ParcelSummary
from smartcustoms.core.clock import utcnow
from smartcustoms.core.scheduler import Job
from smartcustoms.declarations.models import DeclarationEvent
from smartcustoms.declarations.service import LodgingProfile, lodging_profile
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.risk.drift import OfficeWeek
from smartcustoms.risk.targeting import service as risk_service
from smartcustoms.risk.targeting.models import RiskRule

MECHANISMS = ("model", "rule", "exploration", "mandatory")
#: weeks of drift the dashboard reads (a pass over these weeks' decisions, refreshed with the lodging figures)
DRIFT_WEEKS = 8


@dataclass
class HitRates:
    """The dashboard's hit-rate table and weekly series, as risk targeting counts them."""

    totals: dict[str, dict[str, float]]  # mechanism -> decisions, held, inspected, hits, hit_rate, audited, ...
    weeks: list[str]  # ISO week labels (Mondays), oldest first
    by_week: dict[str, list[float | None]]  # mechanism -> hit rate per week (None: nothing inspected)
    inspected_by_week: dict[str, list[int]]


def hit_rates(session: Session, weeks: int = 12, now: datetime | None = None,
              decisions: dict[str, tuple[int, int]] | None = None,
              results_by_grade: dict[tuple[str, str], tuple[int, int, int, int]] | None = None) -> HitRates:
    """Hit rate per selection mechanism, overall and per week (by result date), as risk targeting counts them.

    ``decisions`` (``risk_service.decision_counts``) and ``results_by_grade``
    (``risk_service.result_counts_by_grade``) may be passed in when already known."""
    weekly = risk_service.weekly_hit_rates(session, weeks, now)
    return HitRates(risk_service.hit_rates(session, decisions=decisions, results_by_grade=results_by_grade),
                    weekly.weeks, weekly.rates, weekly.inspected)


def top_rules(session: Session, limit: int = 10) -> list[dict]:
    """Risk rules with their matches, selections, inspections and hits, most hits first."""
    rows: list[dict[str, Any]] = [{"id": r.id, "name": r.name, "lane": r.lane, "active": r.active, "matches": r.matches,
             "selected": r.selected, "inspected": r.inspected, "hits": r.hits,
             "hit_rate": r.hits / r.inspected if r.inspected else None} for r in risk_service.list_rules(session)]
    rows.sort(key=lambda m: (-m["hits"], -m["selected"], m["name"]))
    return rows[:limit]


def per_mechanism(by_grade: dict[tuple[str, str], tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """``risk_service.decision_counts`` from ``risk_service.decision_counts_by_grade`` (summed over grades)."""
    out: dict[str, tuple[int, int]] = {}
    for (mech, _), (n, held) in by_grade.items():
        a, b = out.get(mech, (0, 0))
        out[mech] = (a + n, b + held)
    return out


# -- the dashboard's figures, recomputed when the data change -----------------------------------------
@dataclass
class Dashboard:
    """The dashboard's figures as of ``at`` (UTC)."""

    at: datetime
    rates: HitRates
    profile: LodgingProfile
    rules: list[dict]
    cbec: ParcelSummary
    drift: list[OfficeWeek]  # per office and week, oldest week first (risk targeting's ``drift``)
    grades: risk_service.GradeCounts  # decisions, holds per mechanism, inspections and hits per credit grade


def data_version(session: Session) -> tuple[tuple, tuple]:
    """Cheap probes (indexed maxima) of what the dashboard shows: (lodging activity, results and rules)."""
    activity = (session.scalar(select(func.max(DeclarationEvent.id))),
                session.scalar(select(func.max(CbecParcelEvent.id))))
    judged = (session.scalar(select(func.max(InspectionResult.id))),
              tuple(session.execute(select(func.count(), func.max(RiskRule.updated_at))).one()))
    return activity, judged


class DashboardCache:
    """The dashboard's figures, kept while the data do not change.

    Inspection results and rule edits show at the next load (the parts they touch are cheap and are
    recomputed at once). The passes over all declarations and decisions are refreshed in a background
    thread when declarations or CBEC parcels have arrived and the figures are older than ``max_lag``
    seconds, so no page load waits for them except the very first; the page says as of when.
    """

    def __init__(self, sessions: sessionmaker[Session], max_lag: float = 10.0) -> None:
        self.sessions = sessions
        self.max_lag = max_lag
        self.lock = threading.Lock()
        self.value: Dashboard | None = None
        self.version: tuple[tuple, tuple] | None = None
        self.decisions: dict[str, tuple[int, int]] | None = None
        self.by_grade: dict[tuple[str, str], tuple[int, int]] | None = None
        self.computed = 0.0
        self.refreshing = False

    def _compute(self, s: Session) -> tuple[dict[tuple[str, str], tuple[int, int]], dict[str, tuple[int, int]],
                                          Dashboard]:
        """Every figure: the passes over all declarations and decisions included (one pass over decisions, by
        mechanism and credit grade)."""
        by_grade = risk_service.decision_counts_by_grade(s)
        decisions = per_mechanism(by_grade)
        results = risk_service.result_counts_by_grade(s)
        return by_grade, decisions, Dashboard(
            utcnow(), hit_rates(s, decisions=decisions, results_by_grade=results), lodging_profile(s),
            top_rules(s), cbec_service.parcel_summary(s), risk_service.drift(s, DRIFT_WEEKS),
            risk_service.grade_counts(s, by_grade, results))

    def _refresh(self) -> None:
        try:
            with self.sessions() as s:
                version = data_version(s)
                by_grade, decisions, value = self._compute(s)
            with self.lock:
                self.by_grade, self.decisions, self.value = by_grade, decisions, value
                self.version, self.computed = version, time.monotonic()
        finally:
            self.refreshing = False

    def get(self) -> Dashboard:
        """The figures: computed on the first call, then refreshed as the data change (see the class)."""
        with self.lock, self.sessions() as s:
            version = data_version(s)
            if self.value is None or self.version is None:
                self.by_grade, self.decisions, self.value = self._compute(s)
                self.version, self.computed = version, time.monotonic()
                return self.value
            if version[1] != self.version[1]:  # a new inspection result or rule edit: show it now
                results = risk_service.result_counts_by_grade(s)  # one pass over results for both views
                self.value = Dashboard(self.value.at, hit_rates(s, decisions=self.decisions, results_by_grade=results),
                                       self.value.profile, top_rules(s), self.value.cbec,
                                       self.value.drift,  # weekly drift: refreshed with the lodging figures
                                       risk_service.grade_counts(s, self.by_grade, results))
                self.version = (self.version[0], version[1])
            if (version[0] != self.version[0] and not self.refreshing
                    and time.monotonic() - self.computed >= self.max_lag):
                self.refreshing = True
                threading.Thread(target=self._refresh, daemon=True, name="dashboard-refresh").start()
            return self.value

    def refresh(self) -> bool:
        """Recompute every figure now if the data changed since (a scheduler's job); True when it did.

        Before the first page load there is nothing to keep fresh (that load computes the figures)."""
        with self.lock:
            if self.value is None or self.refreshing:
                return False
            self.refreshing = True
        try:
            with self.sessions() as s:
                changed = data_version(s) != self.version
        except BaseException:
            self.refreshing = False
            raise
        if not changed:
            self.refreshing = False
            return False
        self._refresh()
        return True


_DASHBOARDS: dict[int, DashboardCache] = {}


def cache_for(sessions: sessionmaker[Session]) -> DashboardCache:
    """The (one) dashboard cache of the database of ``sessions``."""
    cache = _DASHBOARDS.get(id(sessions))
    if cache is None or cache.sessions is not sessions:
        cache = _DASHBOARDS[id(sessions)] = DashboardCache(sessions)
    return cache


def dashboard(sessions: sessionmaker[Session]) -> Dashboard:
    """The dashboard's figures for the database of ``sessions`` (see :class:`DashboardCache`)."""
    return cache_for(sessions).get()


def refresh_job(sessions: sessionmaker[Session], every_s: float = 10.0) -> Job:
    """The serving process's periodic job that keeps the dashboard's figures fresh while data arrive."""
    return Job("dashboard-refresh", every_s, cache_for(sessions).refresh)
