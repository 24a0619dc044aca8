"""The columnar path of the feature pipeline: a time-sorted item frame at once, in Polars and NumPy.

Per family, each row's aggregates are the state's (:mod:`.table`) plus exclusive scans over the earlier
rows of the batch with the same key (pairwise for small batches, segmented scans for large ones), plus
the outcomes visible to it (pending ones, and with ``own_outcomes`` the batch's own). No per-row Python.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import polars as pl

from smartcustoms.risk.features.families import (
    CAT_SOURCES,
    CATEGORICAL_FEATURES,
    CONTEXT_COLUMNS,
    FAMILIES,
    FAMILY_OUTPUTS,
    HAS_OUTCOMES,
    ITEM_FEATURES,
    NUMERIC_FEATURES,
    OUT_COLS,
    TEXT_KEYWORDS,
    Family,
)
from smartcustoms.risk.features.table import DAY_US, Prepared, Table, concat, prepare, take
from smartcustoms.risk.frame import conform

MAX_SPAN_DAYS = 1500.0  # batches are processed in chunks of at most this span (decay numerics)
MAX_SPAN_SECONDS = MAX_SPAN_DAYS * 86_400.0

SMALL_BATCH = 64  # up to this many rows, in-batch scans are done pairwise in NumPy (live scoring)
PAIRWISE_LIMIT = 200_000  # rows x events below which visible outcomes are counted pairwise


def run(
    tables: dict[str, Table],
    pending: Prepared | None,
    prior_strength: float,
    frame: pl.DataFrame,
    *,
    commit_declarations: bool,
    own_outcomes: bool,
    want_features: bool = True,
) -> tuple[pl.DataFrame, float]:
    """Features of a time-sorted item frame against ``tables`` and the ``pending`` outcomes.

    With ``commit_declarations`` the rows are folded into ``tables`` (the caller then advances its
    clock and folds the outcomes that became due); with ``own_outcomes`` the outcomes of the frame's
    labelled rows are visible to its later rows. Returns the features (an empty frame unless
    ``want_features``) and the latest ``declared_at`` of the frame, in epoch days.
    """
    n = frame.height
    prep = prepare(frame)
    t, lv, luv = prep["t"], prep["lv"], prep["luv"]
    seq = np.arange(n, dtype=np.float64)
    events = _events(pending, prep, own_outcomes)
    if events is not None:
        # the first batch row that may see each event: rows see it from their time on (at equal
        # times only rows after its own); family-independent, so computed once per batch
        lo, hi = np.searchsorted(t, events["t_out"], "left"), np.searchsorted(t, events["t_out"], "right")
        events["row"] = np.minimum(np.maximum(lo, events["seq"].astype(np.int64) + 1), hi)
    out: dict[str, np.ndarray] = {}
    novel: dict[str, np.ndarray] = {}
    base_rate = np.full(n, 0.5)
    base_crit = np.full(n, 0.05)
    commits: list[tuple[Family, np.ndarray, np.ndarray, bool]] = []
    for fam in FAMILIES:
        table = tables[fam.name]
        idx = np.flatnonzero(prep[f"v_{fam.name}"])
        h = prep[f"h_{fam.name}"][idx]
        cols = fam.cols
        groups = _Groups(h) if len(h) > SMALL_BATCH else None
        # large batches: one lookup per distinct key, in key order
        state = table.get(h) if groups is None else table.get(groups.keys)[groups.gid]
        s = {c: state[:, i] for i, c in enumerate(cols)}
        ti, lvi, luvi = t[idx], lv[idx], luv[idx]
        win = _window_stats(h, ti, lvi, luvi, fam, novel.get(fam.diversity_of or ""), idx, groups)
        # declaration aggregates before each row: state + earlier rows of this batch
        cnt = s["n"] + win["n"]
        agg: dict[str, np.ndarray] = {"n": cnt}
        if "first" in cols:
            agg["first"] = np.where(np.isnan(s["first"]), win["first"], s["first"])
        if "last" in cols:
            agg["last"] = np.where(np.isnan(win["prev_t"]), s["last"], win["prev_t"])
        for c in ("slv", "slv2", "sluv", "sluv2", "nd"):
            if c in cols:
                agg[c] = s[c] + win[c]
        for c, tau in (("b7", 7.0), ("b30", 30.0)):
            if c in cols:
                # never-seen keys (last = NaN) carry nothing; exp(NaN) stays NaN without a warning
                carried = np.where(np.isnan(s["last"]), 0.0, s[c] * np.exp(-(ti - s["last"]) / tau))
                agg[c] = carried + win[c]
        if fam.kind in ("pair", "presence"):
            flag = np.zeros(n, bool)
            flag[idx] = cnt == 0
            novel[fam.name] = flag
        if commit_declarations:
            nov = win.get("nov")
            if groups is None:
                commits.append((fam, h, _inclusive(agg, fam.decl_cols, ti, lvi, luvi, nov), False))
            else:  # each key's last row carries its final aggregates: computed for those rows only
                last = groups.last
                incl = _inclusive(
                    {c: v[last] for c, v in agg.items()},
                    fam.decl_cols,
                    ti[last],
                    lvi[last],
                    luvi[last],
                    None if nov is None else nov[last],
                )
                commits.append((fam, groups.keys, incl, True))
        if fam.kind in HAS_OUTCOMES:
            o = _outcome_counts(events, fam, h, ti, seq[idx], groups, idx)
            for c in OUT_COLS:
                agg[c] = s[c] + o[c]
        if fam.kind == "global":
            base_rate = (agg["no"] + 1.0) / (agg["ni"] + 2.0)
            base_crit = (agg["nc"] + 0.1) / (agg["ni"] + 2.0)
        if want_features:
            every = len(idx) == n
            for name, values in _family_features(
                fam, agg, ti, lvi, luvi, base_rate[idx], base_crit[idx], prior_strength
            ).items():
                if every:
                    out[name] = values
                else:
                    col = np.full(n, np.nan)
                    col[idx] = values
                    out[name] = col
    if commit_declarations:
        for fam, h, incl, unique in commits:
            if unique:  # already one row per key (_Groups)
                tables[fam.name].put(h, list(range(len(fam.decl_cols))), incl)
            else:
                _commit(tables[fam.name], fam, h, incl)
    latest = float(t.max()) if n else -math.inf
    if not want_features:
        return pl.DataFrame(), latest
    return _assemble(frame, out), latest


def _events(pending: Prepared | None, prep: Prepared, own_outcomes: bool) -> Prepared | None:
    """Outcome events that may be visible to this batch: pending ones and the batch's own."""
    ev = None
    if pending is not None and len(pending["t"]) and len(prep["t"]):
        # a pending outcome is visible to a row only if its outcome_at <= the row's declared_at
        k = int(np.searchsorted(pending["t_out"], prep["t"].max(), side="right"))  # pending is sorted
        if k:
            ev = {c: v[:k] for c, v in pending.items()}
            ev["seq"] = np.full(k, -1.0)
    if own_outcomes:
        mask = ~np.isnan(prep["off"]) & ~np.isnan(prep["t_out"])
        if mask.any():
            own = take(prep, mask)
            own["seq"] = np.flatnonzero(mask).astype(np.float64)
            ev = concat(ev, own)
    return ev


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


class _Groups:
    """A batch's rows of one family grouped by key, computed once: one stable sort by key hash."""

    __slots__ = ("order", "start", "keys", "gid", "last")

    def __init__(self, h: np.ndarray) -> None:
        m = len(h)
        self.order = np.argsort(h, kind="stable")  # stable: time order inside each key
        hs = h[self.order]
        self.start = np.ones(m, bool)
        self.start[1:] = hs[1:] != hs[:-1]
        self.keys = hs[self.start]  # distinct keys, sorted
        self.gid = np.empty(m, np.int64)  # each row's index into keys
        self.gid[self.order] = np.cumsum(self.start) - 1
        end = np.ones(m, bool)
        end[:-1] = self.start[1:]
        self.last = self.order[end]  # each key's last row in time


def _window_stats(
    h: np.ndarray,
    t: np.ndarray,
    lv: np.ndarray,
    luv: np.ndarray,
    fam: Family,
    novel_pairs: np.ndarray | None,
    idx: np.ndarray,
    groups: _Groups | None = None,
) -> dict[str, np.ndarray]:
    """Aggregates over *earlier rows of the same batch* with the same key (exclusive scans)."""
    cols = fam.decl_cols
    nov = novel_pairs[idx].astype(np.float64) if ("nd" in cols and novel_pairs is not None) else None
    m = len(h)
    if m <= SMALL_BATCH:
        return _window_stats_pairwise(h, t, lv, luv, cols, nov)
    # segmented exclusive scans: stable sort by key keeps time order inside each key
    groups = groups if groups is not None else _Groups(h)
    order, start = groups.order, groups.start
    gstart = np.maximum.accumulate(np.where(start, np.arange(m), 0))

    def unsort(x_sorted: np.ndarray) -> np.ndarray:
        out = np.empty(m)
        out[order] = x_sorted
        return out

    def exclusive(x: np.ndarray) -> np.ndarray:
        xs = x[order]
        ex = np.cumsum(xs) - xs
        return unsort(ex - ex[gstart])

    ts = t[order]
    n = unsort((np.arange(m) - gstart).astype(np.float64))
    prev = np.empty(m)
    prev[0] = np.nan
    prev[1:] = ts[:-1]
    prev[start] = np.nan
    out = {"n": n, "first": np.where(n > 0, unsort(ts[gstart]), np.nan), "prev_t": unsort(prev)}
    for c, x in (("slv", lv), ("slv2", lv * lv), ("sluv", luv), ("sluv2", luv * luv)):
        if c in cols:
            out[c] = exclusive(x)
    if nov is not None:
        out["nov"] = nov
        out["nd"] = exclusive(nov)
    decays = [(c, tau) for c, tau in (("b7", 7.0), ("b30", 30.0)) if c in cols]
    if decays:
        # decayed sums need a true segmented scan (a global cumsum would cancel catastrophically)
        t0 = float(t.min())
        exprs = []
        for c, tau in decays:
            e = ((pl.col("t") - t0) / tau).exp()
            exprs.append(((e.cum_sum().over("h") - e) * (-(pl.col("t") - t0) / tau).exp()).alias(c))
        res = pl.DataFrame({"h": h, "t": t}).select(exprs)
        for c, _ in decays:
            out[c] = res[c].to_numpy()
    return out


def _window_stats_pairwise(
    h: np.ndarray,
    t: np.ndarray,
    lv: np.ndarray,
    luv: np.ndarray,
    cols: tuple[str, ...],
    nov: np.ndarray | None,
) -> dict[str, np.ndarray]:
    m = len(h)
    if m <= 1:
        # nothing earlier in the batch
        zero, nan = np.zeros(m), np.full(m, np.nan)
        keys = ("n", "slv", "slv2", "sluv", "sluv2", "b7", "b30", "nd")
        return {**{c: zero for c in keys}, "first": nan, "prev_t": nan, "nov": nov if nov is not None else zero}
    earlier = (h[:, None] == h[None, :]) & np.tri(m, k=-1, dtype=bool)
    w = earlier.astype(np.float64)
    n = w.sum(axis=1)
    has = n > 0
    first_j = np.argmax(earlier, axis=1)
    last_j = m - 1 - np.argmax(earlier[:, ::-1], axis=1)
    out = {
        "n": n,
        "first": np.where(has, t[first_j], np.nan),
        "prev_t": np.where(has, t[last_j], np.nan),
        "slv": (w * lv).sum(axis=1),
        "slv2": (w * (lv * lv)).sum(axis=1),
        "sluv": (w * luv).sum(axis=1),
        "sluv2": (w * (luv * luv)).sum(axis=1),
    }
    for c, tau in (("b7", 7.0), ("b30", 30.0)):
        if c in cols:
            out[c] = (w * np.exp(-np.maximum(t[:, None] - t[None, :], 0.0) / tau)).sum(axis=1)
    if nov is not None:
        out["nov"] = nov
        out["nd"] = (w * nov).sum(axis=1)
    return out


def _inclusive(
    agg: dict[str, np.ndarray],
    cols: tuple[str, ...],
    t: np.ndarray,
    lv: np.ndarray,
    luv: np.ndarray,
    nov: np.ndarray | None,
) -> np.ndarray:
    """Declaration aggregates *after* each row (what the state holds once the row is observed)."""
    add = {
        "n": lambda: agg["n"] + 1,
        "first": lambda: np.where(np.isnan(agg["first"]), t, agg["first"]),
        "last": lambda: t,
        "slv": lambda: agg["slv"] + lv,
        "slv2": lambda: agg["slv2"] + lv**2,
        "sluv": lambda: agg["sluv"] + luv,
        "sluv2": lambda: agg["sluv2"] + luv**2,
        "b7": lambda: agg["b7"] + 1,
        "b30": lambda: agg["b30"] + 1,
        "nd": lambda: agg["nd"] + (nov if nov is not None else 0.0),
    }
    return np.column_stack([add[c]() for c in cols]) if len(t) else np.empty((0, len(cols)))


def _commit(table: Table, fam: Family, h: np.ndarray, inclusive: np.ndarray) -> None:
    if not len(h):
        return
    # last occurrence of each key in the batch carries its final aggregates
    rev = h[::-1]
    _, first_rev = np.unique(rev, return_index=True)
    last = len(h) - 1 - first_rev
    table.put(h[last], list(range(len(fam.decl_cols))), inclusive[last])


def _outcome_counts(
    events: Prepared | None,
    fam: Family,
    h: np.ndarray,
    t: np.ndarray,
    seq: np.ndarray,
    groups: _Groups | None = None,
    rows: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Outcomes (pending or in-batch) visible to each row: ``(outcome_at, seq) < (declared_at, seq)``.

    ``groups`` and ``rows`` (the rows' positions in the batch) enable the grouped scan for large batches.
    """
    zeros = {c: np.zeros(len(h)) for c in OUT_COLS}
    if events is None or not len(h):
        return zeros
    valid = events[f"v_{fam.name}"].copy()
    if not valid.any():
        return zeros
    if groups is not None and rows is not None and len(h) * int(valid.sum()) > PAIRWISE_LIMIT:
        return _outcome_counts_grouped(events, fam, valid, groups, rows)
    eh = events[f"h_{fam.name}"]
    valid &= np.isin(eh, h)  # only events of keys in this batch can be visible
    if not valid.any():
        return zeros
    eh, et, es = eh[valid], events["t_out"][valid], events["seq"][valid]
    values = {
        "ni": np.ones(len(eh)),
        "no": events["off"][valid],
        "nc": events["crit"][valid],
        "dr": events["dr"][valid],
    }
    if len(h) * len(eh) <= PAIRWISE_LIMIT:
        seen = (h[:, None] == eh[None, :]) & (
            (et[None, :] < t[:, None]) | ((et[None, :] == t[:, None]) & (es[None, :] < seq[:, None]))
        )
        # elementwise sums, not BLAS: tiny products must not wake a thread pool (latency)
        return {c: np.where(seen, v[None, :], 0.0).sum(axis=1) for c, v in values.items()}
    # one global order of (time, seq, kind) over events and queries; queries before events on ties
    ne, nq = len(eh), len(h)
    rank = np.empty(ne + nq, np.int64)
    rank[np.lexsort((np.r_[np.ones(ne), np.zeros(nq)], np.r_[es, seq], np.r_[et, t]))] = np.arange(ne + nq)
    _, gid = np.unique(np.r_[eh, h], return_inverse=True)
    comp = gid.astype(np.int64) * (ne + nq) + rank
    ecomp, qcomp = comp[:ne], comp[ne:]
    eorder = np.argsort(ecomp, kind="stable")
    ecs = ecomp[eorder]
    below = np.searchsorted(ecs, qcomp)  # events strictly before each query, all keys up to it
    gbase = np.searchsorted(ecs, gid[ne:].astype(np.int64) * (ne + nq))  # first event of the query's key
    out = {}
    for c, v in values.items():
        cs = np.r_[0.0, np.cumsum(v[eorder])]
        out[c] = cs[below] - cs[gbase]
    return out


def _outcome_counts_grouped(
    events: Prepared, fam: Family, valid: np.ndarray, groups: _Groups, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """:func:`_outcome_counts` for large batches: events sorted by (key, first row that sees them)."""
    keys = groups.keys
    eh = events[f"h_{fam.name}"]
    eg = np.minimum(np.searchsorted(keys, eh), len(keys) - 1)
    valid &= keys[eg] == eh  # only events of keys in this batch can be visible
    m = len(rows)
    if not valid.any():
        return {c: np.zeros(m) for c in OUT_COLS}
    span = int(rows[-1]) + 2  # an event first seen after the family's last row is seen by none of them
    ecomp = eg[valid].astype(np.int64) * span + np.minimum(events["row"][valid], span - 1)
    eorder = np.argsort(ecomp, kind="stable")
    ecs = ecomp[eorder]
    gbase = groups.gid.astype(np.int64) * span
    below = np.searchsorted(ecs, gbase + rows, side="right")  # this key's events seen by the row, and all keys before
    first = np.searchsorted(ecs, gbase, side="left")
    n_ev = int(valid.sum())
    values = {"ni": np.ones(n_ev), "no": events["off"][valid], "nc": events["crit"][valid], "dr": events["dr"][valid]}
    out = {}
    for c, v in values.items():
        cs = np.r_[0.0, np.cumsum(v[eorder])]
        out[c] = cs[below] - cs[first]
    return out


def _family_features(
    fam: Family,
    a: dict[str, np.ndarray],
    t: np.ndarray,
    lv: np.ndarray,
    luv: np.ndarray,
    base: np.ndarray,
    base_crit: np.ndarray,
    k: float,
) -> dict[str, np.ndarray]:
    """The family's features (:data:`~smartcustoms.risk.features.families.FAMILY_OUTPUTS`) from its aggregates."""
    out = _kind_outputs(fam.kind, a, t, lv, luv, base, base_crit, k)
    return {f"{fam.name}_{s}": out[s] for s in FAMILY_OUTPUTS[fam.kind]}


def _kind_outputs(
    kind: str,
    a: dict[str, np.ndarray],
    t: np.ndarray,
    lv: np.ndarray,
    luv: np.ndarray,
    base: np.ndarray,
    base_crit: np.ndarray,
    k: float,
) -> dict[str, np.ndarray]:
    """A family kind's outputs by name (the specification picks and orders them)."""
    if kind == "presence":
        return {}
    if kind == "global":
        return {"offence_rate": base, "inspections": a["ni"]}
    n = a["n"]
    rate = (a["no"] + k * base) / (a["ni"] + k)
    crit_rate = (a["nc"] + k * base_crit) / (a["ni"] + k)
    if kind == "pair":
        return {
            "count": n,
            "is_new": (n == 0).astype(np.float64),
            "age_days": t - a["first"],
            "inspections": a["ni"],
            "offences": a["no"],
            "offence_rate": rate,
        }
    if kind == "place":
        return {
            "count": n,
            "burst_7d": a["b7"],
            "burst_30d": a["b30"],
            "inspections": a["ni"],
            "offence_rate": rate,
            "critical_rate": crit_rate,
        }
    lv_mean = _safe_div(a["slv"], n)
    lv_std = np.sqrt(np.maximum(_safe_div(a["slv2"], n) - lv_mean**2, 0.0))
    luv_mean = _safe_div(a["sluv"], n)
    luv_std = np.sqrt(np.maximum(_safe_div(a["sluv2"], n) - luv_mean**2, 0.0))
    enough = n >= 2
    lv_z = np.where(enough, (lv - lv_mean) / np.maximum(lv_std, 0.1), np.nan)
    luv_z = np.where(enough, (luv - luv_mean) / np.maximum(luv_std, 0.1), np.nan)
    if kind == "goods":
        return {
            "count": n,
            "age_days": t - a["first"],
            "burst_30d": a["b30"],
            "unit_value_median": luv_mean,
            "unit_value_deviation": luv - luv_mean,
            "unit_value_z": luv_z,
            "value_deviation": lv - lv_mean,
            "inspections": a["ni"],
            "offences": a["no"],
            "offence_rate": rate,
            "critical_rate": crit_rate,
        }
    return {
        "count": n,
        "age_days": t - a["first"],
        "days_since_last": t - a["last"],
        "value_mean": lv_mean,
        "value_std": np.where(enough, lv_std, np.nan),
        "value_z": lv_z,
        "unit_value_mean": luv_mean,
        "unit_value_z": luv_z,
        "burst_7d": a["b7"],
        "burst_30d": a["b30"],
        "inspections": a["ni"],
        "offences": a["no"],
        "offence_rate": rate,
        "critical_rate": crit_rate,
        "log_duty_recovered": np.log1p(a["dr"]),
        "hs_diversity": a["nd"],
        "hs_diversity_ratio": _safe_div(a["nd"], n),
    }


@cache
def _item_exprs() -> list[pl.Expr]:
    """Expressions of :func:`_item_features`, built once."""
    value = pl.col("customs_value").clip(lower_bound=0)
    mass = pl.col("net_mass_kg").clip(lower_bound=0)
    duty = value * pl.col("tax_rate") / 100.0
    desc = pl.col("description")
    hs = pl.col("hs_code")
    exprs = [
        value.alias("value"),
        value.log1p().alias("log_value"),
        mass.alias("net_mass"),
        mass.log1p().alias("log_mass"),
        (value.log1p() - mass.clip(lower_bound=1e-3).log()).alias("log_unit_value"),
        pl.col("tax_rate").alias("tax_rate"),
        duty.clip(lower_bound=0).log1p().alias("log_duty_at_stake"),
        pl.col("quantity").alias("quantity"),
        (value.log1p() - pl.col("quantity").clip(lower_bound=1e-3).log()).alias("log_value_per_unit"),
        hs.str.slice(0, 6).cast(pl.Float64, strict=False).alias("hs6_number"),
        hs.str.slice(0, 4).cast(pl.Float64, strict=False).alias("hs4_number"),
        hs.str.slice(0, 2).cast(pl.Float64, strict=False).alias("hs2_number"),
        pl.col("declared_at").dt.weekday().cast(pl.Float64).alias("day_of_week"),
        pl.col("declared_at").dt.month().cast(pl.Float64).alias("month"),
        pl.col("declared_at").dt.day().cast(pl.Float64).alias("day_of_month"),
        pl.col("declared_at").dt.hour().cast(pl.Float64).alias("hour"),
        (pl.col("declared_at").dt.weekday() >= 6).cast(pl.Float64).alias("is_weekend"),
        (pl.col("origin_country") == pl.col("departure_country")).cast(pl.Float64).alias("origin_is_departure"),
        pl.col("seller_code").is_not_null().cast(pl.Float64).alias("has_seller"),
        pl.col("courier_code").is_not_null().cast(pl.Float64).alias("has_courier"),
        desc.is_not_null().cast(pl.Float64).alias("has_description"),
        desc.str.len_chars().cast(pl.Float64).alias("description_length"),
        desc.str.split(" ").list.len().cast(pl.Float64).alias("description_words"),
    ]
    exprs += [
        desc.str.contains(pattern).cast(pl.Float64).alias(f"description_mentions_{k}")
        for k, pattern in TEXT_KEYWORDS.items()
    ]
    exprs += [pl.col(src).alias(name) for name, src in CAT_SOURCES.items()]
    exprs += [
        hs.str.slice(0, 2).alias("cat_hs2"),
        pl.col("declaration_no"),
        pl.col("item_no"),
        hs.str.slice(0, 6).alias("hs6"),
        hs.str.slice(0, 4).alias("hs4"),
        pl.col("origin_country"),
        duty.alias("duty_at_stake"),
    ]
    return [e.cast(pl.Float64) if e.meta.output_name() in ITEM_FEATURES else e for e in exprs]


def _item_features(frame: pl.DataFrame) -> pl.DataFrame:
    """Features of the declaration's own fields (no history)."""
    return frame.select(_item_exprs())


ASSEMBLE_AS_ARRAY = 64  # up to this many rows the history block goes through one Array column


def _assemble(frame: pl.DataFrame, history: dict[str, np.ndarray]) -> pl.DataFrame:
    items = _item_features(frame)
    names = [name for name in NUMERIC_FEATURES if name in history]
    if frame.height > ASSEMBLE_AS_ARRAY:
        # large frames: each NumPy column becomes a Series without a copy
        hist = pl.DataFrame({name: history[name] for name in names})
    else:
        # small frames: one Array column unnested is much cheaper than building ~170 Series (live latency)
        matrix = np.column_stack([history[name] for name in names]) if names else np.empty((frame.height, 0))
        hist = (
            pl.DataFrame({"_h": pl.Series(np.ascontiguousarray(matrix))})
            .select(pl.col("_h").arr.to_struct(fields=names))
            .unnest("_h")
        )
    combined = items.hstack(hist.get_columns())
    return combined[[*CONTEXT_COLUMNS, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES]]


def conform_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame conformed to the canonical item frame; it must be sorted by ``declared_at``."""
    frame = conform(frame)
    if frame.height > 1 and not frame["declared_at"].is_sorted():
        raise ValueError("item frame must be sorted by declared_at (use frame.time_sorted)")
    return frame


def time_chunks(frame: pl.DataFrame) -> list[pl.DataFrame]:
    """Split a sorted frame into pieces spanning less than ``MAX_SPAN_DAYS`` (for decay numerics)."""
    if frame.height <= 1:
        return [frame]
    at = frame["declared_at"]
    if (at[-1] - at[0]).total_seconds() < MAX_SPAN_DAYS * 86_400.0:  # sorted: first and last bound the span
        return [frame]
    t = at.dt.epoch("us").to_numpy() / DAY_US
    bucket = np.floor((t - t[0]) / MAX_SPAN_DAYS).astype(np.int64)
    if bucket[-1] == 0:
        return [frame]
    cuts = np.flatnonzero(np.diff(bucket)) + 1
    bounds = [0, *cuts.tolist(), frame.height]
    return [frame.slice(a, b - a) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
