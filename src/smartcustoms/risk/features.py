"""Point-in-time risk features: one pipeline for training, live scoring and evaluation.

A goods item's features describe the item itself and the *history known when it was declared*:
for every keyed family (importer, declarant, seller, courier, HS6/HS4/HS2, HS6 x origin, origin,
departure, route, office, tariff type, and party pairs) the state keeps running aggregates.

Point-in-time rules (what keeps evaluation honest):

* declaration aggregates (counts, value statistics, bursts, first/last seen, HS diversity) of a row
  use only rows *earlier in the time-sorted sequence* (earlier ``declared_at``; at equal times, earlier
  arrival), never the row itself;
* outcome aggregates (inspections, offences, critical offences, duty recovered) of a row use only
  outcomes of *other, earlier* declarations whose ``outcome_at`` is ``<=`` the row's ``declared_at``.

Two entry points share the same code:

* :func:`build_features` — batch: a time-sorted item frame in, a feature frame out, state updated
  with its declarations and (pending until ``outcome_at``) its outcomes. Columnar (Polars windows,
  NumPy), no per-row Python.
* :class:`HistoryState` — incremental, for live scoring: :meth:`HistoryState.features_for` scores
  new rows without changing the state, :meth:`HistoryState.observe_declarations` and
  :meth:`HistoryState.observe_outcomes` fold in new declarations and officers' results;
  :meth:`HistoryState.score_and_observe` does the first two in one pass (the live path).

Aggregates live in sorted ``uint64``-keyed NumPy tables (64-bit hashes of the key values) with a
small sorted overlay for new keys, so a lookup is a binary search and history is never rescanned.
"Unit-value median" is estimated robustly as the running geometric mean (mean of log unit value);
"bursts" are exponentially decayed counts with 7- and 30-day time constants.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from hashlib import blake2b
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from smartcustoms.risk.schema import conform

if TYPE_CHECKING:
    from smartcustoms.risk.rowwise import LiveFeatures

DAY_US = 86_400_000_000.0
PRIOR_STRENGTH = 5.0  # Bayesian smoothing of offence rates toward the global (point-in-time) rate
MAX_SPAN_DAYS = 1500.0  # batches are processed in chunks of at most this span (decay numerics)
MAX_SPAN_SECONDS = MAX_SPAN_DAYS * 86_400.0
FLUSH_ROWWISE = 8  # up to this many due outcomes are folded in key by key (cheaper than the vector path)
# Up to this many rows, live calls take the row-wise path (risk/rowwise.py): no frames. Row-wise costs
# ~0.14 ms a row, the columnar path ~14-16 ms fixed (features of 128 rows: 22.6 ms vs 29.1 ms; of 256:
# 34 vs 27), so a full lodging micro-batch (64 declarations, ~90 rows) never falls onto the fixed cost.
ROWWISE_ROWS = 128
TEXT_KEYWORDS = {
    "gift": r"(?i)\bgifts?\b",
    "sample": r"(?i)\bsamples?\b",
    "used": r"(?i)\b(used|second[- ]hand|refurbished)\b",
    "parts": r"(?i)\b(parts?|accessor(y|ies))\b",
    "personal": r"(?i)\bpersonal\b",
    "replica": r"(?i)\b(replica|copy|imitation|brand)\b",
}

# Aggregate columns kept per family kind. D* are declaration aggregates, O* outcome aggregates.
_DECL_COLS = {
    "party": ("n", "first", "last", "slv", "slv2", "sluv", "sluv2", "b7", "b30", "nd"),
    "goods": ("n", "first", "last", "slv", "slv2", "sluv", "sluv2", "b30"),
    "place": ("n", "last", "b7", "b30"),
    "pair": ("n", "first", "last"),
    "presence": ("n",),
    "global": ("n",),
}
_OUT_COLS = ("ni", "no", "nc", "dr")
_HAS_OUTCOMES = {"party", "goods", "place", "pair", "global"}


@dataclass(frozen=True)
class Family:
    """A keyed history family: which key, which aggregates, and whose HS diversity it feeds."""

    name: str
    parts: tuple[str, ...]
    kind: str
    diversity_of: str | None = None  # presence/pair family whose novelty counts this party's HS6s

    @property
    def decl_cols(self) -> tuple[str, ...]:
        return _DECL_COLS[self.kind]

    @property
    def cols(self) -> tuple[str, ...]:
        return self.decl_cols + (_OUT_COLS if self.kind in _HAS_OUTCOMES else ())


FAMILIES: tuple[Family, ...] = (
    Family("global", (), "global"),
    Family("importer_hs6", ("importer", "hs6"), "pair"),
    Family("importer_origin", ("importer", "origin"), "pair"),
    Family("declarant_importer", ("declarant", "importer"), "pair"),
    Family("seller_importer", ("seller", "importer"), "pair"),
    Family("declarant_hs6", ("declarant", "hs6"), "presence"),
    Family("seller_hs6", ("seller", "hs6"), "presence"),
    Family("courier_hs6", ("courier", "hs6"), "presence"),
    Family("importer", ("importer",), "party", "importer_hs6"),
    Family("declarant", ("declarant",), "party", "declarant_hs6"),
    Family("seller", ("seller",), "party", "seller_hs6"),
    Family("courier", ("courier",), "party", "courier_hs6"),
    Family("hs6", ("hs6",), "goods"),
    Family("hs4", ("hs4",), "goods"),
    Family("hs2", ("hs2",), "goods"),
    Family("hs6_origin", ("hs6", "origin"), "goods"),
    Family("hs6_departure", ("hs6", "departure"), "pair"),
    Family("hs6_origin_tax_type", ("hs6", "origin", "tax_type"), "pair"),
    # repeat consignments: same goods at exactly the same declared value / net mass as before
    Family("hs6_value", ("hs6", "value"), "pair"),
    Family("hs6_mass", ("hs6", "mass"), "pair"),
    Family("value", ("value",), "pair"),
    Family("origin", ("origin",), "place"),
    Family("departure", ("departure",), "place"),
    Family("route", ("departure", "origin"), "place"),
    Family("office", ("office",), "place"),
    Family("tax_type", ("tax_type",), "place"),
)

_KEY_EXPRS: dict[str, pl.Expr] = {
    "importer": pl.col("importer_code"),
    "declarant": pl.col("declarant_code"),
    "seller": pl.col("seller_code"),
    "courier": pl.col("courier_code"),
    "hs6": pl.col("hs_code").str.slice(0, 6),
    "hs4": pl.col("hs_code").str.slice(0, 4),
    "hs2": pl.col("hs_code").str.slice(0, 2),
    "origin": pl.col("origin_country"),
    "departure": pl.col("departure_country"),
    "office": pl.col("office_code"),
    "tax_type": pl.col("tax_type"),
}
#: Numeric key parts: the value rounded to a grid (cents, grams), hashed as an integer with
#: :func:`_combine` so that NumPy and plain Python give the same key (:func:`numeric_key`).
NUMERIC_KEYS: dict[str, tuple[str, float, int]] = {
    "value": ("customs_value", 100.0, 0x76616C7565),
    "mass": ("net_mass_kg", 1000.0, 0x6D617373),
}

CATEGORICAL_FEATURES: tuple[str, ...] = (
    "cat_office",
    "cat_trade_mode",
    "cat_transport_mode",
    "cat_process_type",
    "cat_import_type",
    "cat_import_use",
    "cat_payment_type",
    "cat_origin_indicator",
    "cat_tax_type",
    "cat_origin",
    "cat_departure",
    "cat_hs2",
)
_CAT_SOURCES = {
    "cat_office": "office_code",
    "cat_trade_mode": "trade_mode",
    "cat_transport_mode": "transport_mode",
    "cat_process_type": "process_type",
    "cat_import_type": "import_type",
    "cat_import_use": "import_use",
    "cat_payment_type": "payment_type",
    "cat_origin_indicator": "origin_indicator",
    "cat_tax_type": "tax_type",
    "cat_origin": "origin_country",
    "cat_departure": "departure_country",
}
#: Context columns carried in the feature frame for reasons and joins; not model inputs.
CONTEXT_COLUMNS: tuple[str, ...] = (
    "declaration_no",
    "item_no",
    "hs6",
    "hs4",
    "origin_country",
    "duty_at_stake",
)

_ITEM_FEATURES = (
    "value",
    "log_value",
    "net_mass",
    "log_mass",
    "log_unit_value",
    "tax_rate",
    "log_duty_at_stake",
    "quantity",
    "log_value_per_unit",
    "hs6_number",
    "hs4_number",
    "hs2_number",
    "day_of_week",
    "month",
    "day_of_month",
    "hour",
    "is_weekend",
    "origin_is_departure",
    "has_seller",
    "has_courier",
    "has_description",
    "description_length",
    "description_words",
) + tuple(f"description_mentions_{k}" for k in TEXT_KEYWORDS)


def _family_feature_names(fam: Family) -> tuple[str, ...]:
    p = fam.name
    if fam.kind == "global":
        return ("global_offence_rate", "global_inspections")
    if fam.kind == "presence":
        return ()
    if fam.kind == "party":
        return tuple(
            f"{p}_{s}"
            for s in (
                "count",
                "age_days",
                "days_since_last",
                "value_mean",
                "value_std",
                "value_z",
                "unit_value_mean",
                "unit_value_z",
                "burst_7d",
                "burst_30d",
                "inspections",
                "offences",
                "offence_rate",
                "critical_rate",
                "log_duty_recovered",
                "hs_diversity",
                "hs_diversity_ratio",
            )
        )
    if fam.kind == "goods":
        return tuple(
            f"{p}_{s}"
            for s in (
                "count",
                "age_days",
                "burst_30d",
                "unit_value_median",
                "unit_value_deviation",
                "unit_value_z",
                "value_deviation",
                "inspections",
                "offences",
                "offence_rate",
                "critical_rate",
            )
        )
    if fam.kind == "place":
        return tuple(
            f"{p}_{s}" for s in ("count", "burst_7d", "burst_30d", "inspections", "offence_rate", "critical_rate")
        )
    return tuple(f"{p}_{s}" for s in ("count", "is_new", "age_days", "inspections", "offences", "offence_rate"))


NUMERIC_FEATURES: tuple[str, ...] = _ITEM_FEATURES + tuple(n for fam in FAMILIES for n in _family_feature_names(fam))
#: Every model input, in model order: numeric features then categorical (string) features.
FEATURE_NAMES: tuple[str, ...] = NUMERIC_FEATURES + CATEGORICAL_FEATURES


OVERLAY_LIMIT = 4096  # new keys wait in a small sorted overlay; merged into the main table beyond this


class _Table:
    """Aggregates keyed by 64-bit key hashes: a sorted main array plus a small sorted overlay."""

    __slots__ = ("cols", "default", "keys", "vals", "okeys", "ovals")

    def __init__(self, cols: tuple[str, ...]) -> None:
        self.cols = cols
        self.default = np.array([np.nan if c in ("first", "last") else 0.0 for c in cols])
        self.keys = np.empty(0, np.uint64)
        self.vals = np.empty((0, len(cols)))
        self.okeys = np.empty(0, np.uint64)
        self.ovals = np.empty((0, len(cols)))

    def __len__(self) -> int:
        return len(self.keys) + len(self.okeys)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.vals.nbytes + self.okeys.nbytes + self.ovals.nbytes

    @staticmethod
    def _find(keys: np.ndarray, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not len(keys):
            return np.zeros(len(h), np.int64), np.zeros(len(h), bool)
        pos = np.searchsorted(keys, h)
        np.minimum(pos, len(keys) - 1, out=pos)
        return pos, keys[pos] == h

    def get(self, h: np.ndarray) -> np.ndarray:
        """Aggregate rows for keys ``h`` (defaults for unseen keys)."""
        out = np.tile(self.default, (len(h), 1))
        for keys, vals in ((self.keys, self.vals), (self.okeys, self.ovals)):
            pos, found = self._find(keys, h)
            if found.any():
                out[found] = vals[pos[found]]
        return out

    def get_one(self, h: int) -> list[float]:
        """The aggregate row of one key, as a new list (defaults when unseen): the row-wise path."""
        k = np.uint64(h)
        for keys, vals in ((self.keys, self.vals), (self.okeys, self.ovals)):
            if len(keys):
                pos = int(keys.searchsorted(k))
                if pos < len(keys) and keys[pos] == k:
                    return vals[pos].tolist()
        return self.default.tolist()

    def put_one(self, h: int, values: list[float], start: int = 0) -> None:
        """Set columns ``start:start + len(values)`` of one key (an unseen key starts at defaults)."""
        k, end = np.uint64(h), start + len(values)
        for keys, vals in ((self.keys, self.vals), (self.okeys, self.ovals)):
            if len(keys):
                pos = int(keys.searchsorted(k))
                if pos < len(keys) and keys[pos] == k:
                    vals[pos, start:end] = values
                    return
        okeys, ovals = self.okeys, self.ovals
        pos, m = int(okeys.searchsorted(k)), len(okeys)
        keys = np.empty(m + 1, np.uint64)  # np.insert, without its generality (live latency)
        keys[:pos], keys[pos], keys[pos + 1 :] = okeys[:pos], k, okeys[pos:]
        vals = np.empty((m + 1, ovals.shape[1]))
        vals[:pos], vals[pos + 1 :] = ovals[:pos], ovals[pos:]
        vals[pos] = self.default
        vals[pos, start:end] = values
        self.okeys, self.ovals = keys, vals
        if m + 1 > OVERLAY_LIMIT:
            self._merge()

    def put(self, h: np.ndarray, cols: list[int], values: np.ndarray) -> None:
        """Set columns ``cols`` of unique keys ``h`` to ``values``; unseen keys start at defaults."""
        pos, found = self._find(self.keys, h)
        if found.any():
            self.vals[np.ix_(pos[found], cols)] = values[found]
        rest = ~found
        if not rest.any():
            return
        h, values = h[rest], values[rest]
        pos, found = self._find(self.okeys, h)
        if found.any():
            self.ovals[np.ix_(pos[found], cols)] = values[found]
        new = ~found
        if new.any():
            rows = np.tile(self.default, (int(new.sum()), 1))
            rows[:, cols] = values[new]
            added = h[new]
            order = np.argsort(added, kind="stable")
            added, rows = added[order], rows[order]
            pos = np.searchsorted(self.okeys, added)
            self.okeys = np.insert(self.okeys, pos, added)
            self.ovals = np.insert(self.ovals, pos, rows, axis=0)
            if len(self.okeys) > OVERLAY_LIMIT:
                self._merge()

    def _merge(self) -> None:
        # both sides are sorted and disjoint: a linear insert, not a re-sort of the main table
        pos = np.searchsorted(self.keys, self.okeys)
        self.keys = np.insert(self.keys, pos, self.okeys)
        self.vals = np.insert(self.vals, pos, self.ovals, axis=0)
        self.okeys = np.empty(0, np.uint64)
        self.ovals = np.empty((0, len(self.cols)))


_MIX = np.uint64(0x9E3779B97F4A7C15)
Prepared = dict[str, np.ndarray]


def _combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-sensitive mix of two 64-bit hashes (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (a * _MIX + b) ^ (b >> np.uint64(31))
        return x * np.uint64(0xBF58476D1CE4E5B9) ^ (x >> np.uint64(27))


@cache
def _prepare_exprs() -> list[pl.Expr]:
    """Expressions of :func:`_prepare`, built once (live scoring latency)."""
    t = pl.col("declared_at").dt.epoch("us").cast(pl.Float64) / DAY_US
    t_out = pl.col("outcome_at").dt.epoch("us").cast(pl.Float64) / DAY_US
    exprs: list[pl.Expr] = [
        t.alias("t"),
        pl.when(t_out.is_null()).then(None).otherwise(pl.max_horizontal(t_out, t)).alias("t_out"),
        pl.col("customs_value").clip(lower_bound=0).log1p().alias("lv"),
        (
            pl.col("customs_value").clip(lower_bound=0).log1p() - pl.col("net_mass_kg").clip(lower_bound=1e-3).log()
        ).alias("luv"),
        pl.col("offence").cast(pl.Float64).alias("off"),
        (pl.col("critical").fill_null(0) >= 2).cast(pl.Float64).alias("crit"),
        pl.col("duty_recovered").fill_null(0.0).cast(pl.Float64).alias("dr"),
    ]
    for part, e in _KEY_EXPRS.items():
        exprs += [e.alias(f"s_{part}"), (e.str.len_bytes() > 0).fill_null(False).alias(f"n_{part}")]
    exprs += [pl.col(source).cast(pl.Float64).alias(f"x_{part}") for part, (source, _, _) in NUMERIC_KEYS.items()]
    return exprs


def text_key(value: str) -> int:
    """The 64-bit key of a text value (BLAKE2b of its UTF-8): the same in every process and in both paths."""
    return int.from_bytes(blake2b(value.encode(), digest_size=8).digest(), "little")


def _text_keys(values: pl.Series) -> np.ndarray:
    """:func:`text_key` of every value (0 for nulls), each distinct value hashed once."""
    distinct = values.drop_nulls().unique()
    keys = pl.Series([text_key(v) for v in distinct.to_list()], dtype=pl.UInt64())
    return values.replace_strict(distinct, keys, default=0, return_dtype=pl.UInt64()).fill_null(0).to_numpy()


def numeric_key(x: np.ndarray, part: str) -> tuple[np.ndarray, np.ndarray]:
    """Hashes of a numeric key part (``x`` rounded half up to its grid) and whether it is present (finite)."""
    _, scale, salt = NUMERIC_KEYS[part]
    q = np.floor(x * scale + 0.5)
    ok = np.isfinite(q) & (np.abs(q) < 2.0**62)
    grid = np.where(ok, q, 0.0).astype(np.int64).view(np.uint64)
    return _combine(np.full(len(x), salt, np.uint64), grid), ok


def _prepare(frame: pl.DataFrame) -> Prepared:
    """Numeric time, log value / unit value, labels and per-family key hashes, as NumPy arrays."""
    df = frame.select(_prepare_exprs())
    out: Prepared = {c: df[c].to_numpy() for c in ("t", "lv", "luv", "dr", "crit")}
    out["t_out"] = df["t_out"].fill_null(np.nan).to_numpy()
    out["off"] = df["off"].fill_null(np.nan).to_numpy()
    keys = {p: _text_keys(df[f"s_{p}"]) for p in _KEY_EXPRS}
    present = {p: df[f"n_{p}"].to_numpy() for p in _KEY_EXPRS}
    for part in NUMERIC_KEYS:
        keys[part], present[part] = numeric_key(df[f"x_{part}"].fill_null(np.nan).to_numpy(), part)
    n = frame.height
    for fam in FAMILIES:
        if not fam.parts:
            out[f"h_{fam.name}"] = np.zeros(n, np.uint64)
            out[f"v_{fam.name}"] = np.ones(n, bool)
            continue
        h = keys[fam.parts[0]]
        valid = present[fam.parts[0]].copy()
        for part in fam.parts[1:]:
            h = _combine(h, keys[part])
            valid &= present[part]
        out[f"h_{fam.name}"] = h
        out[f"v_{fam.name}"] = valid
    return out


def _take(prep: Prepared, mask: np.ndarray) -> Prepared:
    return {k: v[mask] for k, v in prep.items()}


def _concat(a: Prepared | None, b: Prepared) -> Prepared:
    return b if a is None else {k: np.concatenate([a[k], b[k]]) for k in b}


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)


class HistoryState:
    """Point-in-time aggregates of everything seen so far, kept in memory for live scoring.

    ``features_for(frame)`` scores new (time-sorted) rows against the state without changing it;
    ``observe_declarations(frame)`` then folds them in; ``observe_outcomes(frame)`` registers
    inspection results (item rows carrying labels and ``outcome_at``; a null ``outcome_at`` means
    "known now", i.e. at the latest declaration time seen). Results become visible to declarations
    accepted at or after their ``outcome_at``.
    """

    def __init__(self, prior_strength: float = PRIOR_STRENGTH) -> None:
        self.prior_strength = prior_strength
        self.tables: dict[str, _Table] = {fam.name: _Table(fam.cols) for fam in FAMILIES}
        self.pending: Prepared | None = None  # prepared outcome rows not yet folded in
        self.clock = -math.inf  # latest declared_at seen, in epoch days
        self.n_declarations = 0
        self.n_outcomes = 0

    # -- public API -------------------------------------------------------------------------
    def features_for(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Features of new, time-sorted rows; the state is not modified."""
        frame = _conform_sorted(frame)
        chunks = _time_chunks(frame)
        if len(chunks) > 1:
            raise ValueError("features_for takes rows spanning < MAX_SPAN_DAYS; use build_features")
        if frame.height <= ROWWISE_ROWS:
            return self.score_rows(frame.to_dicts(), observe=False).to_frame()
        return self._run(frame, commit_declarations=False, own_outcomes=False)

    def score_and_observe(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Features of new, time-sorted rows, then the rows folded in: one pass for live scoring.

        Same features as :meth:`features_for` and same resulting state as a following
        :meth:`observe_declarations` (features are computed before any of the rows is committed).
        """
        frame = _conform_sorted(frame)
        if len(_time_chunks(frame)) > 1:
            raise ValueError("score_and_observe takes rows spanning < MAX_SPAN_DAYS; use build_features")
        if frame.height <= ROWWISE_ROWS:
            return self.score_rows(frame.to_dicts(), observe=True).to_frame()
        return self._run(frame, commit_declarations=True, own_outcomes=False)

    def score_rows(self, rows: Sequence[Mapping[str, Any]], *, observe: bool) -> LiveFeatures:
        """The live path for a few rows: :meth:`score_and_observe` (``observe``) or :meth:`features_for`.

        ``rows`` are time-sorted item rows as mappings of the canonical columns (missing optional
        columns count as null); the features come back as :class:`~smartcustoms.risk.rowwise.LiveFeatures`
        (no Polars frame is built). Same features as the columnar path (``risk/rowwise.py``).
        """
        from smartcustoms.risk.rowwise import run_rows

        if len(rows) > 1 and (rows[-1]["declared_at"] - rows[0]["declared_at"]).total_seconds() >= MAX_SPAN_SECONDS:
            raise ValueError("score_rows takes rows spanning < MAX_SPAN_DAYS; use build_features")
        return run_rows(self, rows, commit=observe)  # type: ignore[return-value]

    def observe_declarations(self, frame: pl.DataFrame) -> None:
        """Fold new, time-sorted declarations (labels ignored) into the state."""
        frame = _conform_sorted(frame)
        if frame.height <= ROWWISE_ROWS:
            from smartcustoms.risk.rowwise import run_rows

            run_rows(self, frame.to_dicts(), commit=True, want_features=False)
            return
        for chunk in _time_chunks(frame):
            self._run(chunk, commit_declarations=True, own_outcomes=False, want_features=False)

    def observe_outcomes(self, frame: pl.DataFrame) -> None:
        """Register inspection results: rows with ``offence`` set (others are ignored)."""
        frame = conform(frame).filter(pl.col("offence").is_not_null())
        if not frame.height:
            return
        prep = _prepare(frame)
        now = max(self.clock, float(prep["t"].max()))
        prep["t_out"] = np.where(np.isnan(prep["t_out"]), now, prep["t_out"])
        self.n_outcomes += frame.height
        self.pending = _concat(self.pending, prep)
        t_out = self.pending["t_out"]
        if len(t_out) > 1 and not (t_out[1:] >= t_out[:-1]).all():
            # kept sorted by outcome time, so the due ones are a prefix (sliced as views, not copied)
            self.pending = _take(self.pending, np.argsort(t_out, kind="stable"))
        self._flush_pending()

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the aggregate tables."""
        return sum(t.nbytes for t in self.tables.values())

    def n_keys(self) -> dict[str, int]:
        return {name: len(t) for name, t in self.tables.items()}

    # -- internals --------------------------------------------------------------------------
    def _flush_pending(self) -> None:
        """Fold pending outcomes with ``outcome_at <= clock`` into the tables."""
        if self.pending is None or not len(self.pending["t"]):
            return
        k = int(np.searchsorted(self.pending["t_out"], self.clock, side="right"))  # pending is sorted
        if not k:
            return
        ev = {c: v[:k] for c, v in self.pending.items()}
        self.pending = {c: v[k:] for c, v in self.pending.items()}
        if k <= FLUSH_ROWWISE:
            self._fold_outcomes_rowwise(ev)
            return
        for fam in FAMILIES:
            if fam.kind not in _HAS_OUTCOMES:
                continue
            valid = ev[f"v_{fam.name}"]
            if not valid.any():
                continue
            keys, inverse = np.unique(ev[f"h_{fam.name}"][valid], return_inverse=True)
            add = np.zeros((len(keys), 4))
            for j, c in enumerate(("ni", "off", "crit", "dr")):
                w = np.ones(int(valid.sum())) if c == "ni" else ev[c][valid]
                add[:, j] = np.bincount(inverse, weights=w, minlength=len(keys))
            table = self.tables[fam.name]
            idx = [fam.cols.index(c) for c in _OUT_COLS]
            table.put(keys, idx, table.get(keys)[:, idx] + add)

    def _fold_outcomes_rowwise(self, ev: Prepared) -> None:
        """:meth:`_flush_pending` for a few events: one key at a time (live: an officer's result)."""
        offs, crits, drs = ev["off"].tolist(), ev["crit"].tolist(), ev["dr"].tolist()
        for fam in FAMILIES:
            if fam.kind not in _HAS_OUTCOMES:
                continue
            table, start = self.tables[fam.name], len(fam.decl_cols)
            for h, ok, off, crit, dr in zip(
                ev[f"h_{fam.name}"].tolist(), ev[f"v_{fam.name}"].tolist(), offs, crits, drs, strict=True
            ):
                if ok:
                    ni, no, nc, rec = table.get_one(h)[start:]
                    table.put_one(h, [ni + 1.0, no + off, nc + crit, rec + dr], start)

    def _run(
        self,
        frame: pl.DataFrame,
        *,
        commit_declarations: bool,
        own_outcomes: bool,
        want_features: bool = True,
    ) -> pl.DataFrame:
        n = frame.height
        prep = _prepare(frame)
        t, lv, luv = prep["t"], prep["lv"], prep["luv"]
        seq = np.arange(n, dtype=np.float64)
        events = self._events(prep, own_outcomes)
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
            table = self.tables[fam.name]
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
            if fam.kind in _HAS_OUTCOMES:
                o = _outcome_counts(events, fam, h, ti, seq[idx], groups, idx)
                for c in _OUT_COLS:
                    agg[c] = s[c] + o[c]
            if fam.kind == "global":
                base_rate = (agg["no"] + 1.0) / (agg["ni"] + 2.0)
                base_crit = (agg["nc"] + 0.1) / (agg["ni"] + 2.0)
            if want_features:
                every = len(idx) == n
                for name, values in _family_features(
                    fam, agg, ti, lvi, luvi, base_rate[idx], base_crit[idx], self.prior_strength
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
                    self.tables[fam.name].put(h, list(range(len(fam.decl_cols))), incl)
                else:
                    _commit(self.tables[fam.name], fam, h, incl)
            self.n_declarations += n
            if n:
                self.clock = max(self.clock, float(t.max()))
            self._flush_pending()
        if not want_features:
            return pl.DataFrame()
        return _assemble(frame, out)

    def _events(self, prep: Prepared, own_outcomes: bool) -> Prepared | None:
        """Outcome events that may be visible to this batch: pending ones and the batch's own."""
        ev = None
        if self.pending is not None and len(self.pending["t"]) and len(prep["t"]):
            # a pending outcome is visible to a row only if its outcome_at <= the row's declared_at
            k = int(np.searchsorted(self.pending["t_out"], prep["t"].max(), side="right"))  # pending is sorted
            if k:
                ev = {c: v[:k] for c, v in self.pending.items()}
                ev["seq"] = np.full(k, -1.0)
        if own_outcomes:
            mask = ~np.isnan(prep["off"]) & ~np.isnan(prep["t_out"])
            if mask.any():
                own = _take(prep, mask)
                own["seq"] = np.flatnonzero(mask).astype(np.float64)
                ev = _concat(ev, own)
        return ev


SMALL_BATCH = 64  # up to this many rows, in-batch scans are done pairwise in NumPy (live scoring)
PAIRWISE_LIMIT = 200_000  # rows x events below which visible outcomes are counted pairwise


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


def _commit(table: _Table, fam: Family, h: np.ndarray, inclusive: np.ndarray) -> None:
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
    zeros = {c: np.zeros(len(h)) for c in _OUT_COLS}
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
        return {c: np.zeros(m) for c in _OUT_COLS}
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
    p = fam.name
    if fam.kind == "presence":
        return {}
    if fam.kind == "global":
        return {"global_offence_rate": base, "global_inspections": a["ni"]}
    n = a["n"]
    rate = (a["no"] + k * base) / (a["ni"] + k)
    crit_rate = (a["nc"] + k * base_crit) / (a["ni"] + k)
    if fam.kind == "pair":
        return {
            f"{p}_count": n,
            f"{p}_is_new": (n == 0).astype(np.float64),
            f"{p}_age_days": t - a["first"],
            f"{p}_inspections": a["ni"],
            f"{p}_offences": a["no"],
            f"{p}_offence_rate": rate,
        }
    if fam.kind == "place":
        return {
            f"{p}_count": n,
            f"{p}_burst_7d": a["b7"],
            f"{p}_burst_30d": a["b30"],
            f"{p}_inspections": a["ni"],
            f"{p}_offence_rate": rate,
            f"{p}_critical_rate": crit_rate,
        }
    lv_mean = _safe_div(a["slv"], n)
    lv_std = np.sqrt(np.maximum(_safe_div(a["slv2"], n) - lv_mean**2, 0.0))
    luv_mean = _safe_div(a["sluv"], n)
    luv_std = np.sqrt(np.maximum(_safe_div(a["sluv2"], n) - luv_mean**2, 0.0))
    enough = n >= 2
    lv_z = np.where(enough, (lv - lv_mean) / np.maximum(lv_std, 0.1), np.nan)
    luv_z = np.where(enough, (luv - luv_mean) / np.maximum(luv_std, 0.1), np.nan)
    if fam.kind == "goods":
        return {
            f"{p}_count": n,
            f"{p}_age_days": t - a["first"],
            f"{p}_burst_30d": a["b30"],
            f"{p}_unit_value_median": luv_mean,
            f"{p}_unit_value_deviation": luv - luv_mean,
            f"{p}_unit_value_z": luv_z,
            f"{p}_value_deviation": lv - lv_mean,
            f"{p}_inspections": a["ni"],
            f"{p}_offences": a["no"],
            f"{p}_offence_rate": rate,
            f"{p}_critical_rate": crit_rate,
        }
    return {
        f"{p}_count": n,
        f"{p}_age_days": t - a["first"],
        f"{p}_days_since_last": t - a["last"],
        f"{p}_value_mean": lv_mean,
        f"{p}_value_std": np.where(enough, lv_std, np.nan),
        f"{p}_value_z": lv_z,
        f"{p}_unit_value_mean": luv_mean,
        f"{p}_unit_value_z": luv_z,
        f"{p}_burst_7d": a["b7"],
        f"{p}_burst_30d": a["b30"],
        f"{p}_inspections": a["ni"],
        f"{p}_offences": a["no"],
        f"{p}_offence_rate": rate,
        f"{p}_critical_rate": crit_rate,
        f"{p}_log_duty_recovered": np.log1p(a["dr"]),
        f"{p}_hs_diversity": a["nd"],
        f"{p}_hs_diversity_ratio": _safe_div(a["nd"], n),
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
    exprs += [pl.col(src).alias(name) for name, src in _CAT_SOURCES.items()]
    exprs += [
        hs.str.slice(0, 2).alias("cat_hs2"),
        pl.col("declaration_no"),
        pl.col("item_no"),
        hs.str.slice(0, 6).alias("hs6"),
        hs.str.slice(0, 4).alias("hs4"),
        pl.col("origin_country"),
        duty.alias("duty_at_stake"),
    ]
    return [e.cast(pl.Float64) if e.meta.output_name() in _ITEM_FEATURES else e for e in exprs]


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


def _conform_sorted(frame: pl.DataFrame) -> pl.DataFrame:
    frame = conform(frame)
    if frame.height > 1 and not frame["declared_at"].is_sorted():
        raise ValueError("item frame must be sorted by declared_at (use schema.time_sorted)")
    return frame


def _time_chunks(frame: pl.DataFrame) -> list[pl.DataFrame]:
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


def build_features(frame: pl.DataFrame, state: HistoryState | None = None) -> tuple[pl.DataFrame, HistoryState]:
    """Features of a time-sorted item frame, folding its rows into ``state`` as it goes.

    Each row sees the declarations before it and the outcomes (of earlier rows in this frame, or
    already registered in ``state``) whose ``outcome_at`` is at or before its ``declared_at``.
    Labelled rows' outcomes are registered and become visible once their ``outcome_at`` passes.
    Returns ``(features, state)``; ``features`` has :data:`CONTEXT_COLUMNS` then
    :data:`FEATURE_NAMES`, one row per input row, same order.
    """
    state = state if state is not None else HistoryState()
    frame = _conform_sorted(frame)
    outs = []
    for chunk in _time_chunks(frame):
        outs.append(state._run(chunk, commit_declarations=True, own_outcomes=True))
        state.observe_outcomes(chunk.filter(pl.col("outcome_at").is_not_null()))
    return (outs[0] if len(outs) == 1 else pl.concat(outs)), state
