"""Week-by-week replay of a test period under an inspection budget (selective labels).

Live, the model only learns the outcomes of what was inspected, and the inspected declarations were
chosen by the selectivity, with a known probability. The replay reproduces both:

1. **Labelled history** (:func:`selective_history`): the training period is itself replayed under a
   daily budget of ``labelled_share``, with one of the policies of :data:`POLICIES`; each row records
   its propensity (its exact probability of being inspected that day):

   * ``"top"`` (:func:`_select`): the first ``warmup_weeks`` weeks at random, then the top scores of a
     model retrained weekly on what was inspected so far, plus an ``exploration`` share of the budget
     drawn at random from the rest (propensity ``n_inspect / n`` at random; 1 for a top pick;
     ``n_explore / n_rest`` for the rest).
   * ``"coverage"`` (:func:`_select_coverage`, the default): coverage-seeking. The model's picks are
     the top scores among goods never inspected yet (a goods group is the (HS6, item value, net mass)
     triple; one row per group), and the exploration share (the whole budget before a model exists)
     is drawn mostly (each draw with probability ``novel_share``) from the other never-inspected
     groups, the rest from groups already inspected; in each, groups are drawn uniformly (systematic
     sampling), then one row of each. A row's propensity is its group's inclusion probability,
     averaged over the split, divided by the group's rows: exact, and above zero for every row, so
     inverse-propensity weighting stays valid. On KCS the model's skill rests on
     earlier repeats of the same goods having a known outcome; re-inspecting repeats of goods whose
     outcome is already known adds little, so this policy spends the budget on distinct goods (and
     finds fewer offences while doing so: see :meth:`SelectiveHistory.summary`).
   * ``"repeats"``: as ``"coverage"``, with groups weighted by how often the goods were declared so
     far (picks ranked by score × declarations; exploration with probability ∝ declarations).

   On KCS (docs/risk.md, "Selective labels") ``coverage`` with IPW beat ``top`` on valid.csv by
   ~0.09 P@10 and was level on a second period; ``repeats`` was not better than ``coverage``.

   Only inspected rows get a label, and only their outcomes reach the history features (known
   ``outcome_lag`` later). With ``labelled_share=1`` every training row is labelled (propensity 1).
2. **Test period** (:func:`simulate`): day by day the test declarations are scored point-in-time,
   ``budget`` of each day's declarations are inspected (top scores plus the exploration share), only
   the inspected outcomes are fed back; the model is retrained weekly on all inspected rows, each
   weighted by its inverse propensity (:mod:`smartcustoms.risk.propensity`): a row never inspected
   contributes nothing. Every test row's score as decided is kept, so the period has a P@k like the
   offline one; :class:`KnownGoods` reports which rows' goods had a visible labelled outcome, and
   ``known_goods="lookup"`` scores those by that outcome instead of the model.

:func:`selective_evaluation` is the offline measurement of issue #17's target: train on a 10 %
labelled history with IPW and score the test file with its outcomes hidden, against full labels,
the same labels unweighted and 10 % labelled uniformly at random, for each history policy in one run,
with a pure lookup of the labelled goods (no model) and the lookup-where-known hybrid beside them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from math import comb
from typing import Any, Literal

import numpy as np
import polars as pl

from smartcustoms.risk.evaluate import hide_labels, metrics_at, novel_goods, window
from smartcustoms.risk.features.state import HistoryState, build_features
from smartcustoms.risk.frame import DEFAULT_OUTCOME_LAG
from smartcustoms.risk.offence_model import RiskModel
from smartcustoms.risk.propensity import MAX_WEIGHT, ipw_weights, self_normalised

Progress = Callable[[str], None]
#: A model is trained on the labelled history once it has this many labels with this many offences.
MIN_LABELS, MIN_OFFENCES = 50, 5
KS = (5, 10)
Policy = Literal["coverage", "repeats", "top"]
#: How :func:`simulate` scores goods with a visible labelled outcome: the model, or a lookup of those outcomes
KnownGoodsScoring = Literal["model", "lookup"]
#: How :func:`simulate` picks the test weeks' inspections: the model's top scores, or coverage-seeking
TestPolicy = Literal["top", "coverage"]
TEST_POLICIES: tuple[TestPolicy, ...] = ("top", "coverage")
#: History selection policies: coverage-seeking (the default); ``repeats``: the same, weighted to goods
#: declared often so far; ``top``: the model's top scores.
POLICIES: tuple[Policy, ...] = ("coverage", "repeats", "top")
#: The coverage policy draws this share of its exploration from goods never inspected.
NOVEL_SHARE = 0.8
GoodsKey = tuple[Any, ...]


@dataclass
class SelectiveHistory:
    """A training period replayed under a selection policy: who was inspected, with what probability."""

    frame: pl.DataFrame  # the training rows, labels kept only where inspected (others null)
    features: pl.DataFrame  # every row's point-in-time features, as they were when it was decided
    state: HistoryState  # the history after the period (inspected outcomes only)
    inspected: np.ndarray  # bool per row
    propensity: np.ndarray  # P(inspected) per row under the policy that ran
    labels: np.ndarray = field(repr=False)  # the true 0/1 offence of every row (for reports only)
    top: np.ndarray | None = field(default=None, repr=False)  # bool per row: a model pick (propensity 1)
    policy: str = "top"
    goods_inspected: set[GoodsKey] = field(default_factory=set, repr=False)  # goods groups inspected

    def weights(self, ipw: bool = True, max_weight: float = MAX_WEIGHT) -> np.ndarray:
        """Training weight per row: inverse propensity (clipped, mean 1) or 1, and 0 when not inspected."""
        w = ipw_weights(self.propensity, self.inspected, max_weight) if ipw else self.inspected.astype(np.float64)
        return self_normalised(w)

    def summary(self) -> dict[str, Any]:
        """Rows, labelled rows and share, offences found, and the propensity range of the labelled rows."""
        p = self.propensity[self.inspected]
        found = int(self.labels[self.inspected].sum())
        top = self.top if self.top is not None else np.zeros(len(self.inspected), bool)
        keys = goods_keys(self.frame.filter(pl.Series(self.inspected))) if self.inspected.any() else []
        offending = {k for k, y in zip(keys, self.labels[self.inspected], strict=True) if y}
        return {
            "policy": self.policy,
            "rows": int(len(self.inspected)),
            "labelled": int(self.inspected.sum()),
            "labelled_share": float(self.inspected.mean()) if len(self.inspected) else 0.0,
            "offences_found": found,
            "hit_rate": found / int(self.inspected.sum()) if self.inspected.any() else None,
            "model_picks": int(top.sum()),
            "model_hit_rate": float(self.labels[top].mean()) if top.any() else None,
            "goods_labelled": len(set(keys)),
            "offending_goods_found": len(offending),
            "offence_rate": float(self.labels.mean()) if len(self.labels) else 0.0,
            "min_propensity": float(p.min()) if len(p) else None,
            "clipped": int((1.0 / p > MAX_WEIGHT).sum()) if len(p) else 0,
        }


def _select(
    scores: np.ndarray | None, n: int, share: float, exploration: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One day's inspections: (inspected mask, propensity per row, mask of the model's top picks).

    Without ``scores`` (no model yet) ``share`` of the rows are drawn at random. With scores, the top
    ``share × (1 − exploration)`` are inspected with certainty and the exploration share is drawn at
    random from the rest.
    """
    n_inspect = min(n, max(1, int(round(share * n))))
    mask, top = np.zeros(n, bool), np.zeros(n, bool)
    if scores is None:
        mask[rng.choice(n, size=n_inspect, replace=False)] = True
        return mask, np.full(n, n_inspect / n), top
    n_explore = int(round(exploration * n_inspect))
    order = np.argsort(-scores, kind="stable")
    top[order[: n_inspect - n_explore]] = True
    rest = order[n_inspect - n_explore :]
    n_explore = min(n_explore, len(rest))
    propensity = np.ones(n)
    if len(rest):
        propensity[rest] = n_explore / len(rest)
    if n_explore:
        mask[rng.choice(rest, size=n_explore, replace=False)] = True
    return mask | top, propensity, top


def goods_keys(frame: pl.DataFrame) -> list[GoodsKey]:
    """Each row's goods group: its (HS6, item value, net mass) triple, as in ``evaluate.novel_goods``."""
    return frame.select(
        pl.col("hs_code").str.slice(0, 6),
        pl.col("customs_value").cast(pl.Float64),
        pl.col("net_mass_kg").cast(pl.Float64),
    ).rows()


def _inclusion(weight: np.ndarray, k: int) -> np.ndarray:
    """Inclusion probabilities proportional to ``weight``, summing to ``k`` (capped at 1, the excess shared out)."""
    pi = np.zeros(len(weight))
    k = min(k, len(weight))
    free = np.ones(len(weight), bool)
    while k > 0:
        left = k - int((~free).sum())
        pi[free] = left * weight[free] / weight[free].sum()
        over = free & (pi >= 1)
        if not over.any():
            break
        pi[over], free = 1.0, free & ~over
        if not free.any() or left - int(over.sum()) <= 0:
            pi[free] = 0.0
            break
    return pi


def _draw_groups(rows: np.ndarray, keys: list[GoodsKey], k: int, pmf: np.ndarray, rng: np.random.Generator,
                 mask: np.ndarray, propensity: np.ndarray, weight: dict[GoodsKey, float] | None = None) -> None:
    """Inspect one row in each of ``k`` goods groups of ``rows``, drawn with probability ∝ ``weight`` (default 1).

    Groups are drawn by systematic sampling in random order with inclusion probabilities
    :func:`_inclusion` (fixed size, exact first-order probabilities), then one row uniformly in each.
    ``pmf[j]`` is the probability that this stratum got ``j`` draws; a row's propensity is its group's
    inclusion probability averaged over that split, divided by the group's rows.
    """
    if not len(rows):
        return
    groups: dict[GoodsKey, list[int]] = {}
    for i in rows:
        groups.setdefault(keys[i], []).append(int(i))
    members = list(groups.values())
    w = np.array([weight[keys[m[0]]] if weight else 1.0 for m in members])
    p_group = sum(pj * _inclusion(w, j) for j, pj in enumerate(pmf) if pj > 0)
    for m, pg in zip(members, np.broadcast_to(p_group, len(members)), strict=True):
        propensity[m] = pg / len(m)
    pi = _inclusion(w, k)
    if pi.sum() < 0.5:
        return
    order = rng.permutation(len(members))
    edges = np.cumsum(pi[order])
    edges[-1] = round(edges[-1])  # an integer, k: the last point falls inside
    for g in order[np.searchsorted(edges, rng.random() + np.arange(int(edges[-1])), side="right")]:
        mask[members[g][int(rng.integers(len(members[g])))]] = True


def _select_coverage(
    scores: np.ndarray | None,
    keys: list[GoodsKey],
    inspected_goods: set[GoodsKey],
    share: float,
    exploration: float,
    rng: np.random.Generator,
    novel_share: float = NOVEL_SHARE,
    declared: dict[GoodsKey, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One day's coverage-seeking inspections: (inspected mask, exact propensity per row, model picks).

    ``share`` of the day's rows are inspected: the model's picks, ``share × (1 − exploration)``, are
    the top ``scores`` among rows whose goods group is not in ``inspected_goods``, one row per group
    (if there are too few such groups, the next top scores of the other rows); they are certain
    (propensity 1). The exploration draws (the whole budget without ``scores``) are split between
    two strata: each draw goes to the remaining rows of never-inspected groups with probability
    ``novel_share``, else to the other rows (all to one stratum when the other is empty; draws beyond
    a stratum's number of groups are lost). In each stratum :func:`_draw_groups` draws groups
    uniformly, then one row per group. The propensity averages over the binomial split, so it is
    exact and above zero for every row of a non-empty stratum (positivity for IPW).
    """
    n = len(keys)
    n_inspect = min(n, max(1, int(round(share * n))))
    mask, top = np.zeros(n, bool), np.zeros(n, bool)
    novel = np.array([k not in inspected_goods for k in keys], dtype=bool)
    n_explore = n_inspect if scores is None else int(round(exploration * n_inspect))
    if scores is not None:
        n_top, taken = n_inspect - n_explore, set[GoodsKey]()
        value = scores * np.array([declared[k] for k in keys]) if declared else scores
        order = np.argsort(-value, kind="stable")
        for i in order[novel[order]]:
            if len(taken) == n_top:
                break
            if keys[i] not in taken:
                taken.add(keys[i])
                top[i] = True
        if top.sum() < n_top:  # too few new goods today: the next top scores
            top[order[~top[order]][: n_top - int(top.sum())]] = True
        novel &= np.array([k not in taken for k in keys], dtype=bool)
    propensity = np.ones(n)
    fresh, rest = np.flatnonzero(novel & ~top), np.flatnonzero(~novel & ~top)
    g_fresh, g_rest = len({keys[i] for i in fresh}), len({keys[i] for i in rest})
    # each exploration draw goes to the new goods with probability q (all to one stratum if the other is empty)
    q = novel_share if g_fresh and g_rest else float(g_fresh > 0)
    k_fresh = int(rng.binomial(n_explore, q))
    pmf = np.array([comb(n_explore, k) * q**k * (1 - q) ** (n_explore - k) for k in range(n_explore + 1)])
    _draw_groups(fresh, keys, k_fresh, pmf, rng, mask, propensity, declared)
    _draw_groups(rest, keys, n_explore - k_fresh, pmf[::-1], rng, mask, propensity)
    return mask | top, propensity, top


def _fit(make_model: Callable[[], RiskModel], feats: pl.DataFrame, y: np.ndarray, w: np.ndarray | None,
         training_window: tuple[str, str] | None = None) -> RiskModel:
    return make_model().fit(feats, y, weights=w, training_window=training_window)


def _days(frame: pl.DataFrame):
    return frame.group_by(pl.col("declared_at").dt.date(), maintain_order=True)


def _results(day: pl.DataFrame, mask: np.ndarray, outcome_lag: timedelta) -> pl.DataFrame:
    return day.filter(mask).with_columns((pl.col("declared_at") + outcome_lag).alias("outcome_at"))


def selective_history(
    train: pl.DataFrame,
    *,
    labelled_share: float = 0.10,
    exploration: float = 0.10,
    warmup_weeks: int = 4,
    ipw: bool = True,
    policy: Policy = "coverage",
    novel_share: float = NOVEL_SHARE,
    seed: int = 0,
    outcome_lag: timedelta = DEFAULT_OUTCOME_LAG,
    make_model: Callable[[], RiskModel] = RiskModel,
    progress: Progress | None = None,
) -> SelectiveHistory:
    """Replay ``train`` under a daily inspection budget of ``labelled_share`` (see the module docstring).

    ``policy`` is one of :data:`POLICIES` (``"top"``: :func:`_select`, else :func:`_select_coverage`). The
    policy's weekly models are trained on the inspected rows so far (inverse-propensity weighted
    with ``ipw``); until ``warmup_weeks`` have passed, or while fewer than :data:`MIN_LABELS` labels with
    :data:`MIN_OFFENCES` offences are known, inspections are drawn at random.
    """
    if not 0 < labelled_share <= 1 or not 0 <= exploration <= 1:
        raise ValueError("labelled_share must be in (0, 1] and exploration in [0, 1]")
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {POLICIES}")
    train = train.sort("declared_at", maintain_order=True)
    labels = train["offence"].fill_null(0).to_numpy().astype(np.float64)
    if labelled_share == 1:
        feats, state = build_features(train)
        known = train["offence"].is_not_null().to_numpy()
        return SelectiveHistory(train, feats, state, known, np.ones(train.height), labels, np.zeros(train.height, bool),
                                policy, set(goods_keys(train.filter(pl.Series(known)))))
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed)
    state = HistoryState()
    start = train["declared_at"].min()
    parts_f: list[pl.DataFrame] = []
    inspected: list[np.ndarray] = []
    propensity: list[np.ndarray] = []
    picks: list[np.ndarray] = []
    goods: set[GoodsKey] = set()
    declared: dict[GoodsKey, float] = {}
    model: RiskModel | None = None
    week = -1
    for _, day in _days(train):
        day_week = (day["declared_at"][0] - start).days // 7
        if day_week != week:
            week = day_week
            done = np.concatenate(inspected) if inspected else np.zeros(0, bool)
            y_done = labels[: len(done)][done]
            if week >= warmup_weeks and len(y_done) >= MIN_LABELS and y_done.sum() >= MIN_OFFENCES:
                say(f"labelled history: week {week + 1}, training on {len(y_done):,} inspected rows")
                p = np.concatenate(propensity)
                w = self_normalised(ipw_weights(p, done)[done]) if ipw else None
                model = _fit(make_model, pl.concat(parts_f).filter(done), y_done, w)
        feats, state = build_features(hide_labels(day), state)
        scores = model.predict_proba(feats) if model else None
        if policy == "top":
            mask, prop, top = _select(scores, day.height, labelled_share, exploration, rng)
        else:
            keys = goods_keys(day)
            for key in keys:
                declared[key] = declared.get(key, 0.0) + 1.0
            mask, prop, top = _select_coverage(scores, keys, goods, labelled_share, exploration, rng, novel_share,
                                               declared if policy == "repeats" else None)
            goods.update(keys[i] for i in np.flatnonzero(mask))
        state.observe_outcomes(_results(day, mask, outcome_lag))
        parts_f.append(feats)
        inspected.append(mask)
        propensity.append(prop)
        picks.append(top)
    done = np.concatenate(inspected)
    labelled = train.with_columns(
        pl.when(pl.Series(done)).then(pl.col(c)).otherwise(None).alias(c) for c in ("offence", "critical")
    ).with_columns(
        pl.when(pl.Series(done)).then(pl.col("duty_recovered")).otherwise(None).alias("duty_recovered"),
        pl.when(pl.Series(done)).then(pl.col("declared_at") + outcome_lag).otherwise(None).alias("outcome_at"),
    )
    if policy == "top":
        goods = set(goods_keys(train.filter(pl.Series(done))))
    return SelectiveHistory(labelled, pl.concat(parts_f), state, done, np.concatenate(propensity), labels,
                            np.concatenate(picks), policy, goods)


@dataclass
class Replay:
    """:func:`simulate`'s result: one dict per test week, the whole period, and the labelled history."""

    weeks: list[dict[str, Any]]
    history: dict[str, Any]
    overall: dict[str, Any] = field(default_factory=dict)
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)  # each test row's score as decided
    inspected: np.ndarray = field(default_factory=lambda: np.zeros(0, bool), repr=False)  # each test row inspected


class KnownGoods:
    """When each goods group's first labelled outcome (and first labelled offence) became known.

    Point-in-time as the history features: an outcome is visible to a declaration lodged at or after
    its ``outcome_at``. A report of what the replay knew, never a model input.
    """

    def __init__(self) -> None:
        self.first: dict[GoodsKey, Any] = {}
        self.first_offence: dict[GoodsKey, Any] = {}
        self.outcomes: dict[GoodsKey, list[tuple[Any, float, float]]] = {}  # (outcome_at, offence, weight)

    def observe(self, frame: pl.DataFrame, weights: np.ndarray | None = None) -> None:
        """Register labelled rows (``offence`` and ``outcome_at`` set; others ignored), each with its
        inverse-propensity ``weight`` (default 1; one per row of ``frame``)."""
        w = np.ones(frame.height) if weights is None else np.asarray(weights, dtype=np.float64)
        done_mask = (frame["offence"].is_not_null() & frame["outcome_at"].is_not_null()).to_numpy()
        done = frame.filter(pl.Series(done_mask))
        rows = zip(goods_keys(done), done["offence"], done["outcome_at"], w[done_mask], strict=True)
        for key, y, at, wi in rows:
            if key not in self.first or at < self.first[key]:
                self.first[key] = at
            if y and (key not in self.first_offence or at < self.first_offence[key]):
                self.first_offence[key] = at
            self.outcomes.setdefault(key, []).append((at, float(y), float(wi)))

    def rates(self, day: pl.DataFrame) -> np.ndarray:
        """Per row: the weighted offence rate of its goods' outcomes visible at its ``declared_at`` (NaN: none)."""
        out = np.full(day.height, np.nan)
        for i, (key, t) in enumerate(zip(goods_keys(day), day["declared_at"].to_list(), strict=True)):
            seen = [(y, w) for at, y, w in self.outcomes.get(key, ()) if at <= t]
            if seen:
                out[i] = sum(y * w for y, w in seen) / sum(w for _, w in seen)
        return out

    def visible(self, day: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Per row: its goods had a visible labelled outcome; and a visible labelled offence."""
        keys, at = goods_keys(day), day["declared_at"].to_list()
        known = np.array([k in self.first and self.first[k] <= t for k, t in zip(keys, at, strict=True)], bool)
        bad = np.array([k in self.first_offence and self.first_offence[k] <= t
                        for k, t in zip(keys, at, strict=True)], bool)
        return known, bad


def _live_report(scores: np.ndarray, y: np.ndarray, duty: np.ndarray, novel: np.ndarray, known: np.ndarray,
                 known_offending: np.ndarray, from_test: np.ndarray, weeks: list[dict[str, Any]]) -> dict[str, Any]:
    """The whole test period: P@k of the scores as decided, and which part of the top 10 % were known repeats."""
    out = _report(scores, y, duty, novel)
    m = max(1, int(round(len(y) * 0.10)))
    top = np.argsort(-scores, kind="stable")[:m]
    rep = known_offending[top]
    tot = {k: sum(w[k] for w in weeks) for k in ("n", "inspected", "hits", "model_inspected", "model_hits",
                                               "novel_inspected", "novel_hits", "duty_recovered", "offences")}
    out.update(
        n=len(y),
        known_share=float(known.mean()),
        known_from_test_share=float(from_test.mean()),
        known_offending_share=float(known_offending.mean()),
        top10_known_offending=int(rep.sum()),
        top10_known_offending_precision=float(y[top][rep].mean()) if rep.any() else None,
        top10_other_precision=float(y[top][~rep].mean()) if (~rep).any() else None,
        inspected_hit_rate=tot["hits"] / tot["inspected"] if tot["inspected"] else None,
        hit_rate=tot["model_hits"] / tot["model_inspected"] if tot["model_inspected"] else None,
        novel_hit_rate=tot["novel_hits"] / tot["novel_inspected"] if tot["novel_inspected"] else None,
        duty_recovered=tot["duty_recovered"],
        duty_at_stake_offences=float(duty[y == 1].sum()),
    )
    return out


def simulate(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    budget: float = 0.10,
    exploration: float = 0.10,
    labelled_share: float = 0.10,
    ipw: bool = True,
    policy: Policy = "coverage",
    seed: int = 0,
    outcome_lag: timedelta = DEFAULT_OUTCOME_LAG,
    make_model: Callable[[], RiskModel] = RiskModel,
    known_goods: KnownGoodsScoring = "model",
    test_policy: TestPolicy = "top",
    history: SelectiveHistory | None = None,
    progress: Progress | None = None,
) -> Replay:
    """Start from a ``labelled_share`` labelled history, then replay ``test`` week by week.

    ``policy`` is the labelled history's selection policy (:func:`selective_history`); the test weeks
    are inspected like the live selectivity: the model's top scores plus the exploration share. The
    inspected test outcomes reach the history features ``outcome_lag`` after lodging, as live; no
    other test outcome is ever seen.

    Per week: declarations, inspections and hits (all, the model's top picks, novel goods: rows whose
    (HS6, value, net mass) triple is in no training row), hit rates, duty recovered (duty at stake of
    the hits: value × rate / 100), the random rate (offences / declarations) and the model's ratio to it,
    P@10 % of the week's scores as decided, and the share of rows whose goods had a visible labelled
    outcome (``known_share``). ``known_goods="lookup"`` scores those rows by their goods' visible
    outcomes (the inverse-propensity weighted offence rate), the others by the model.
    ``Replay.overall``: the same over the whole period, P@k % of all the scores as decided, and how many
    of the top 10 % were goods with a visible labelled offence.

    The replay learns from its own inspections: each day's inspected outcomes enter the history state
    (``outcome_lag`` after lodging, so the next days' point-in-time features, the exact triple's
    inspections and offences included, see them once known) and the weekly retraining's rows.
    ``test_policy="coverage"`` inspects the test weeks like the coverage history policy (the model's picks
    are the top scores among goods never inspected, :func:`_select_coverage`) instead of the top scores.
    ``history``: a labelled history already replayed from ``train`` (:func:`selective_history`, same
    ``labelled_share``, ``policy`` and ``outcome_lag``), to compare scorings on one history; its state is
    not changed.
    """
    if not 0 < budget <= 1 or not 0 <= exploration <= 1:
        raise ValueError("budget must be in (0, 1] and exploration in [0, 1]")
    if known_goods not in ("model", "lookup"):
        raise ValueError("known_goods must be 'model' or 'lookup'")
    if test_policy not in TEST_POLICIES:
        raise ValueError(f"test_policy must be one of {TEST_POLICIES}")
    say = progress or (lambda _msg: None)
    rng = np.random.default_rng(seed + 1)
    if history is None:
        say("labelled history")
        hist = selective_history(train, labelled_share=labelled_share, exploration=exploration, ipw=ipw,
                                 policy=policy, seed=seed, outcome_lag=outcome_lag, make_model=make_model,
                                 progress=progress)
    else:
        hist = history
    state = copy.deepcopy(hist.state) if history is not None else hist.state  # a given history stays as it was
    inspected_goods = set(hist.goods_inspected)
    seen_goods = KnownGoods()
    seen_goods.observe(hist.frame, ipw_weights(hist.propensity, hist.inspected) if ipw else None)
    history_goods = KnownGoods()
    history_goods.observe(hist.frame)
    pool_f = [hist.features.filter(hist.inspected)]
    pool_y = [hist.labels[hist.inspected]]
    pool_p = [hist.propensity[hist.inspected]]

    def fit(training_window: tuple[str, str] | None = None) -> RiskModel:
        p = np.concatenate(pool_p)
        w = self_normalised(ipw_weights(p, np.ones(len(p), bool))) if ipw else None
        return _fit(make_model, pl.concat(pool_f), np.concatenate(pool_y), w, training_window)

    say("training the model on the labelled history")
    model = fit(window(train))
    novel = novel_goods(train, test)
    n_test = test.height
    scores, inspected = np.zeros(n_test), np.zeros(n_test, bool)
    known, known_bad, from_test = np.zeros(n_test, bool), np.zeros(n_test, bool), np.zeros(n_test, bool)
    start = test["declared_at"].min()
    test = test.with_columns(
        ((pl.col("declared_at") - start).dt.total_days() // 7).alias("_week"), pl.int_range(pl.len()).alias("_row")
    )
    weeks: list[dict[str, Any]] = []
    for (week,), week_rows in test.group_by(["_week"], maintain_order=True):
        stats: dict[str, Any] = dict.fromkeys(
            ("n", "inspected", "hits", "model_inspected", "model_hits", "offences", "novel_n", "novel_offences",
             "novel_inspected", "novel_hits", "known"), 0)
        stats = {"week": int(week) + 1, **stats, "duty_recovered": 0.0}
        say(f"week {int(week) + 1}")
        for _, day in _days(week_rows):
            rows = day["_row"].to_numpy()
            day = day.drop("_week", "_row")
            feats, state = build_features(hide_labels(day), state)
            day_scores = model.predict_proba(feats)
            if known_goods == "lookup":
                looked_up = seen_goods.rates(day)
                day_scores = np.where(np.isnan(looked_up), day_scores, looked_up)
            scores[rows] = day_scores
            known[rows], known_bad[rows] = seen_goods.visible(day)
            from_test[rows] = known[rows] & ~history_goods.visible(day)[0]
            if test_policy == "coverage":
                keys = goods_keys(day)
                mask, prop, top = _select_coverage(day_scores, keys, inspected_goods, budget, exploration, rng)
                inspected_goods.update(keys[i] for i in np.flatnonzero(mask))
            else:
                mask, prop, top = _select(day_scores, day.height, budget, exploration, rng)
            inspected[rows] = mask
            y = day["offence"].fill_null(0).to_numpy().astype(np.float64)
            new = novel[rows]
            duty = (day["customs_value"] * day["tax_rate"] / 100).fill_null(0).to_numpy()
            stats["n"] += day.height
            stats["known"] += int(known[rows].sum())
            stats["offences"] += int(y.sum())
            stats["inspected"] += int(mask.sum())
            stats["hits"] += int(y[mask].sum())
            stats["model_inspected"] += int(top.sum())
            stats["model_hits"] += int(y[top].sum())
            stats["novel_n"] += int(new.sum())
            stats["novel_offences"] += int(y[new].sum())
            stats["novel_inspected"] += int((mask & new).sum())
            stats["novel_hits"] += int(y[mask & new].sum())
            stats["duty_recovered"] += float(duty[mask & (y == 1)].sum())
            results = _results(day, mask, outcome_lag)
            state.observe_outcomes(results)
            seen_goods.observe(results, ipw_weights(prop[mask], np.ones(int(mask.sum()), bool)) if ipw else None)
            pool_f.append(feats.filter(mask))
            pool_y.append(y[mask])
            pool_p.append(prop[mask])
        rows = week_rows["_row"].to_numpy()
        y_week = week_rows["offence"].fill_null(0).to_numpy().astype(np.float64)
        at = metrics_at(scores[rows], y_week, ks=KS)["precision_at"]
        new_week = novel[rows]
        novel_p10 = (metrics_at(scores[rows][new_week], y_week[new_week], ks=(10,))["precision_at"]["10"]
                     if new_week.any() else None)
        weeks.append({**_rates(stats), "precision_at_5": at["5"], "precision_at_10": at["10"],
                      "novel_precision_at_10": novel_p10, "known_share": stats["known"] / stats["n"]})
        say(f"retraining after week {int(week) + 1}")
        model = fit()
    y_all = test["offence"].fill_null(0).to_numpy().astype(np.float64)
    duty_all = (test["customs_value"] * test["tax_rate"] / 100).fill_null(0).to_numpy()
    overall = _live_report(scores, y_all, duty_all, novel, known, known_bad, from_test, weeks)
    return Replay(weeks, {**hist.summary(), "ipw": ipw, "max_weight": MAX_WEIGHT}, overall, scores, inspected)


def _rates(s: dict[str, Any]) -> dict[str, Any]:
    def rate(a: int, b: int) -> float:
        return a / b if b else float("nan")

    random_rate = rate(s["offences"], s["n"])
    hit_rate = rate(s["model_hits"], s["model_inspected"])
    return {
        **s,
        "random_rate": random_rate,
        "hit_rate": hit_rate,
        "inspected_hit_rate": rate(s["hits"], s["inspected"]),
        "novel_hit_rate": rate(s["novel_hits"], s["novel_inspected"]),
        "novel_random_rate": rate(s["novel_offences"], s["novel_n"]),
        "ratio": hit_rate / random_rate if random_rate else float("nan"),
    }


# -- the offline measurement of the target ---------------------------------------------------------
def _report(scores: np.ndarray, y: np.ndarray, duty: np.ndarray, novel: np.ndarray) -> dict[str, Any]:
    overall = metrics_at(scores, y, duty, ks=KS)
    new = metrics_at(scores[novel], y[novel], duty[novel], ks=KS) if novel.any() else None
    return {
        "precision_at": overall["precision_at"],
        "random": overall["random"],
        "novel_precision_at": new["precision_at"] if new else None,
        "novel_random": new["random"] if new else None,
    }


def lookup_scores(
    keys: list[GoodsKey], labels: np.ndarray, weights: np.ndarray, test_keys: list[GoodsKey]
) -> np.ndarray:
    """A pure lookup, no model: each test row's score is its goods group's weighted offence rate among the
    labelled rows (``weights`` > 0; inverse propensities for IPW), else the weighted rate of all of them."""
    num: dict[GoodsKey, float] = {}
    den: dict[GoodsKey, float] = {}
    for i in np.flatnonzero(weights > 0):
        num[keys[i]] = num.get(keys[i], 0.0) + weights[i] * labels[i]
        den[keys[i]] = den.get(keys[i], 0.0) + weights[i]
    base = float((weights * labels).sum() / weights.sum()) if weights.sum() else 0.0
    return np.array([num[k] / den[k] if k in den else base for k in test_keys])


def _coverage(labelled: pl.DataFrame, test_keys: list[GoodsKey], y: np.ndarray) -> dict[str, float]:
    """Share of test rows whose goods group has a labelled row in ``labelled``, and of test offences whose
    group has a labelled offence (a diagnosis that reads the test outcomes, never an input)."""
    done = labelled.filter(pl.col("offence").is_not_null())
    seen = set(goods_keys(done)) if done.height else set()
    bad = set(goods_keys(done.filter(pl.col("offence") == 1))) if done.height else set()
    rows = np.array([k in seen for k in test_keys], bool)
    offending = np.array([k in bad for k in test_keys], bool)
    return {"known_share": float(rows.mean()) if len(rows) else 0.0,
            "known_offending_rows": int((offending & (y == 1)).sum())}


def _known_offending_repeats(labelled: pl.DataFrame, test: pl.DataFrame, y: np.ndarray) -> float | None:
    """Share of the test offences whose goods group has a labelled offence in ``labelled`` (a report only)."""
    found = labelled.filter(pl.col("offence") == 1)
    known = set(goods_keys(found)) if found.height else set()
    hits = [k in known for k, o in zip(goods_keys(test), y, strict=True) if o]
    return float(np.mean(hits)) if hits else None


def selective_evaluation(
    train: pl.DataFrame,
    test: pl.DataFrame,
    *,
    labelled_share: float = 0.10,
    exploration: float = 0.10,
    policies: tuple[Policy, ...] = POLICIES,
    seed: int = 0,
    make_model: Callable[[], RiskModel] = RiskModel,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """P@k% (overall and on novel goods) on ``test`` with its outcomes hidden, for these trainings:

    ``full`` every training label; per history policy of ``policies`` (``report["policies"][name]``):
    ``ipw`` the ``labelled_share`` history of :func:`selective_history` weighted by inverse
    propensity, ``unweighted`` the same labels and features, weight 1, and ``history`` its summary
    (hit rate, distinct goods labelled); ``uniform`` ``labelled_share`` of the training rows labelled
    uniformly at random (weight 1). Each trains one model of ``make_model`` (same capacity) and scores
    the test rows point-in-time from the history its labels produced; per policy also ``lookup``, no
    model: :func:`lookup_scores` of its labels with IPW weights, and ``ipw_lookup``: the lookup for test
    rows whose goods have a labelled row, the ``ipw`` model for the others. ``known_repeat`` (a report, not
    an input): the share of test offences whose goods group has a labelled training offence.
    """
    say = progress or (lambda _msg: None)
    train = train.sort("declared_at", maintain_order=True)
    y = test["offence"].fill_null(0).to_numpy().astype(np.float64)
    duty = (test["customs_value"] * test["tax_rate"] / 100).fill_null(0).to_numpy()
    novel = novel_goods(train, test)
    hidden = hide_labels(test)
    train_keys, test_keys = goods_keys(train), goods_keys(test)
    out: dict[str, Any] = {"n_test": test.height, "novel_n": int(novel.sum()), "labelled_share": labelled_share,
                           "exploration": exploration, "policies": {}}

    say("full labels")
    feats, state = build_features(train)
    model = _fit(make_model, feats, train["offence"].fill_null(0).to_numpy().astype(np.float64), None)
    out["full"] = _report(model.predict_proba(build_features(hidden, state)[0]), y, duty, novel)
    out["full"]["known_repeat"] = _known_offending_repeats(train, test, y)

    for policy in policies:
        say(f"labelled history under the {policy} policy")
        hist = selective_history(train, labelled_share=labelled_share, exploration=exploration, policy=policy,
                                 seed=seed, make_model=make_model, progress=progress)
        res: dict[str, Any] = {"history": hist.summary()}
        res["history"]["known_repeat"] = _known_offending_repeats(hist.frame, test, y)
        res["history"].update(_coverage(hist.frame, test_keys, y))
        looked_up = lookup_scores(train_keys, hist.labels, hist.weights(True), test_keys)
        res["lookup"] = _report(looked_up, y, duty, novel)
        labelled_goods = set(goods_keys(hist.frame.filter(pl.Series(hist.inspected))))
        known = np.array([k in labelled_goods for k in test_keys], bool)
        test_f = build_features(hidden, hist.state)[0]
        x, yl = hist.features.filter(hist.inspected), hist.labels[hist.inspected]
        for name, ipw in (("ipw", True), ("unweighted", False)):
            say(f"{policy} policy, {name} model")
            m = _fit(make_model, x, yl, hist.weights(ipw)[hist.inspected])
            scores = m.predict_proba(test_f)
            res[name] = _report(scores, y, duty, novel)
            if ipw:  # the model where the goods have no labelled row, the lookup where they have
                res["ipw_lookup"] = _report(np.where(known, looked_up, scores), y, duty, novel)
        out["policies"][policy] = res

    say("uniformly random labels")
    rng = np.random.default_rng(seed)
    pick = np.zeros(train.height, bool)
    pick[rng.choice(train.height, size=int(round(labelled_share * train.height)), replace=False)] = True
    masked = train.with_columns(
        pl.when(pl.Series(pick)).then(pl.col(c)).otherwise(None).alias(c)
        for c in ("offence", "critical", "duty_recovered", "outcome_at")
    )
    feats, state = build_features(masked)
    m = _fit(make_model, feats.filter(pick), train["offence"].fill_null(0).to_numpy()[pick].astype(np.float64), None)
    out["uniform"] = _report(m.predict_proba(build_features(hidden, state)[0]), y, duty, novel)
    y_pick = train["offence"].fill_null(0).to_numpy()[pick]
    out["uniform"]["hit_rate"] = float(y_pick.mean())
    out["uniform"]["known_repeat"] = _known_offending_repeats(masked, test, y)
    out["uniform"].update(_coverage(masked, test_keys, y))
    return out
