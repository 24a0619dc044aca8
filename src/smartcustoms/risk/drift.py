"""Drift of the risk scores and hit rates, per office and week (pure functions, no database).

Score drift is the population stability index (PSI) of a week's scores against a reference window. The
usual reading (Siddiqi, *Credit Risk Scorecards*, Wiley 2006, ch. 8; Yurdakul & Naranjo, "Statistical
properties of the population stability index", J. Risk Model Validation 14(4), 2020) is:

- PSI < 0.1: stable, no action;
- 0.1 <= PSI <= 0.25: moderate shift, watch it;
- PSI > 0.25: significant shift: the scored population is not the one the model learnt from.

**Reference.** Each office-week is compared with the same office's previous ``reference_weeks`` weeks
(4 by default), restricted to decisions scored by the same model version as most of the week's: a
promotion changes the scores on purpose and must not read as drift (the first weeks after it have no
reference and show no PSI). A rolling reference catches a shift the week it happens; a slow creep over many
weeks is not caught by it, which is what the model's metrics at retraining are for.

**Noise.** With ``n`` current and ``m`` reference scores in ``B`` bins, PSI reads about
``(B-1)(1/n + 1/m)`` when nothing changed (Yurdakul & Naranjo), 0.34 for 40 scores against 80 in 10 bins,
and more when a small sample leaves bins empty. So a small office gets fewer bins (:func:`psi_test`: at
least 5 current scores a bin on average), and an office-week alerts on scores only when PSI > 0.25 *and*
Pearson's chi-square test of the two samples' bin counts rejects at ``alpha``; on hit rate only when a
two-proportion z-test against the reference window's pooled hit rate rejects at ``alpha``, with enough
inspections on both sides for the normal approximation. ``bench/risk_drift.py`` measures the false-alert
rates on real KCS offices with their weeks shuffled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np

STABLE, MODERATE, SIGNIFICANT = 0.1, 0.25, 0.25
BINS = 10
EPSILON = 1e-4  # the share an empty bin is given, so that log(0) never happens
ALPHA = 0.01
MIN_SCORES = 30  # fewer scores than this (current or reference): no PSI
MIN_INSPECTIONS = 10  # fewer inspections than this (current or reference): no hit-rate test


def psi(reference: Sequence[float] | np.ndarray, current: Sequence[float] | np.ndarray, bins: int = BINS,
        epsilon: float = EPSILON) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bins are fixed by the reference's quantiles (``bins`` of them; tied quantiles merge, so a reference with
    few distinct scores has fewer bins); an empty bin counts as ``epsilon`` of its side, so the index stays
    finite. ``sum((c - r) * ln(c / r))`` over the bins; 0 for identical distributions.
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    ref, cur = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    if not len(ref) or not len(cur):
        raise ValueError("both the reference and the current scores must be non-empty")
    r, c = _shares(ref, cur, bins, epsilon)
    return float(np.sum((c - r) * np.log(c / r)))


def _edges(ref: np.ndarray, bins: int) -> np.ndarray:
    return np.unique(np.quantile(ref, np.arange(1, bins) / bins))


def _shares(ref: np.ndarray, cur: np.ndarray, bins: int, epsilon: float) -> tuple[np.ndarray, np.ndarray]:
    edges = _edges(ref, bins)
    k = len(edges) + 1
    r = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=k) / len(ref)
    c = np.bincount(np.searchsorted(edges, cur, side="right"), minlength=k) / len(cur)
    return np.maximum(r, epsilon), np.maximum(c, epsilon)


def psi_level(value: float | None) -> str | None:
    """``stable`` (< 0.1), ``moderate`` (0.1 to 0.25) or ``significant`` (> 0.25); None for no value."""
    if value is None:
        return None
    return "stable" if value < STABLE else "moderate" if value <= SIGNIFICANT else "significant"


def psi_test(reference: np.ndarray, current: np.ndarray, bins: int = BINS, epsilon: float = EPSILON,
             min_expected: int = 5) -> tuple[float, float, int]:
    """(PSI, p-value, bins used) of ``current`` against ``reference``.

    The bins are the reference's quantiles, as many as ``bins`` but no more than leave ``min_expected``
    current scores a bin on average (a small office gets fewer, wider bins: 34 scores get 6), so that the
    p-value's chi-square approximation holds. The p-value is Pearson's chi-square test of homogeneity of the
    two samples' bin counts: the chance of bins at least this different when nothing changed. (The PSI's own
    chi-square reading, ``PSI * nm/(n+m)``, breaks down on the empty bins small samples have: an empty bin
    costs ~0.1 * ln(0.1 / epsilon) ~ 0.7 of PSI whatever the sample size.)
    """
    ref, cur = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    k = max(2, min(bins, min(len(ref), len(cur)) // min_expected))
    value = psi(ref, cur, k, epsilon)
    edges = _edges(ref, k)
    width = len(edges) + 1
    counts = np.vstack([np.bincount(np.searchsorted(edges, x, side="right"), minlength=width) for x in (ref, cur)])
    counts = counts[:, counts.sum(axis=0) > 0].astype(np.float64)
    if counts.shape[1] < 2:
        return value, 1.0, counts.shape[1]
    expected = counts.sum(axis=1, keepdims=True) * counts.sum(axis=0, keepdims=True) / counts.sum()
    stat = float(((counts - expected) ** 2 / expected).sum())
    return value, chi2_sf(stat, counts.shape[1] - 1), counts.shape[1]


def chi2_sf(x: float, k: int) -> float:
    """P(X >= x) for X chi-square with ``k`` (whole) degrees of freedom, in closed form."""
    if x <= 0:
        return 1.0
    h = x / 2
    if k % 2 == 0:
        term, total = 1.0, 1.0
        for i in range(1, k // 2):
            term *= h / i
            total += term
        return min(1.0, math.exp(-h) * total)
    total, term = math.erfc(math.sqrt(h)), math.sqrt(h) / math.gamma(1.5)
    for i in range(1, (k + 1) // 2):
        total += math.exp(-h) * term
        term *= h / (i + 0.5)
    return min(1.0, total)


def two_proportion_z(hits: int, n: int, ref_hits: int, ref_n: int) -> tuple[float, float]:
    """(z, two-sided p) of the difference between ``hits/n`` and ``ref_hits/ref_n`` (pooled variance)."""
    if not n or not ref_n:
        return 0.0, 1.0
    pooled = (hits + ref_hits) / (n + ref_n)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / ref_n))
    if se == 0:
        return 0.0, 1.0
    z = (hits / n - ref_hits / ref_n) / se
    return z, math.erfc(abs(z) / math.sqrt(2))


@dataclass(frozen=True)
class ScoreRow:
    """A decision as drift reads it: office, when, the model's score and the model version."""

    office_code: str
    decided_at: datetime
    score: float
    model_version: int | None


@dataclass(frozen=True)
class ResultRow:
    """An inspection the selectivity chose: office, when the result was recorded, and whether it was a hit."""

    office_code: str
    recorded_at: datetime
    hit: bool


@dataclass(frozen=True)
class OfficeWeek:
    """Drift of one office in one week (Monday to Sunday, UTC)."""

    office_code: str
    week: date  # the Monday
    n: int  # decisions scored that week
    model_version: int | None  # the version that scored most of them
    reference_n: int  # scores in the reference window (same office, same model version)
    psi: float | None  # None: too few scores on one side
    psi_level: str | None
    psi_p: float | None
    inspected: int  # inspections the selectivity chose, by result week
    hits: int
    hit_rate: float | None
    reference_hit_rate: float | None
    hit_rate_change: float | None  # hit_rate - reference_hit_rate
    hit_rate_p: float | None
    alert: bool
    reasons: tuple[str, ...]  # "scores", "hit_rate"


def monday(at: datetime | date) -> date:
    """The Monday of ``at``'s week."""
    d = at.date() if isinstance(at, datetime) else at
    return d - timedelta(days=d.weekday())


def weekly_drift(scores: Sequence[ScoreRow], results: Sequence[ResultRow], weeks: Sequence[date], *,
                 reference_weeks: int = 4, bins: int = BINS, alpha: float = ALPHA, min_scores: int = MIN_SCORES,
                 min_inspections: int = MIN_INSPECTIONS) -> list[OfficeWeek]:
    """Per office and week in ``weeks`` (Mondays): score PSI and hit-rate change against the office's
    previous ``reference_weeks`` weeks, and whether either is an alert (see the module's docstring).

    ``scores`` and ``results`` must cover the reference window before the first week too.
    """
    by_score: dict[tuple[str, date], list[ScoreRow]] = {}
    for s in scores:
        by_score.setdefault((s.office_code, monday(s.decided_at)), []).append(s)
    by_result: dict[tuple[str, date], list[int]] = {}
    for r in results:
        n_h = by_result.setdefault((r.office_code, monday(r.recorded_at)), [0, 0])
        n_h[0] += 1
        n_h[1] += r.hit
    offices = sorted({o for o, _ in by_score} | {o for o, _ in by_result})
    out = []
    for office in offices:
        for week in weeks:
            ref_weeks = [week - timedelta(weeks=k) for k in range(1, reference_weeks + 1)]
            now = by_score.get((office, week), [])
            results_now = by_result.get((office, week), [0, 0])
            if not now and not results_now[0]:
                continue
            versions = [s.model_version for s in now]
            version = max(set(versions), key=versions.count) if versions else None
            cur = np.array([s.score for s in now if s.model_version == version])
            ref = np.array([s.score for w in ref_weeks for s in by_score.get((office, w), [])
                            if s.model_version == version])
            value = p_psi = None
            if len(cur) >= min_scores and len(ref) >= min_scores:
                value, p_psi, _ = psi_test(ref, cur, bins)
            ref_n = sum(by_result.get((office, w), [0, 0])[0] for w in ref_weeks)
            ref_h = sum(by_result.get((office, w), [0, 0])[1] for w in ref_weeks)
            n_i, h = results_now
            rate = h / n_i if n_i else None
            ref_rate = ref_h / ref_n if ref_n else None
            change = p_rate = None
            if rate is not None and ref_rate is not None:
                change = rate - ref_rate
                if n_i >= min_inspections and ref_n >= min_inspections:
                    p_rate = two_proportion_z(h, n_i, ref_h, ref_n)[1]
            reasons = []
            if value is not None and value > SIGNIFICANT and p_psi is not None and p_psi < alpha:
                reasons.append("scores")
            if p_rate is not None and p_rate < alpha:
                reasons.append("hit_rate")
            out.append(OfficeWeek(office, week, len(now), version, len(ref), value, psi_level(value), p_psi, n_i, h,
                                  rate, ref_rate, change, p_rate, bool(reasons), tuple(reasons)))
    return out
