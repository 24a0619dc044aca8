"""The row-wise live path of the feature pipeline: a few rows scored without building Polars frames.

Live scoring sees one declaration (or a micro-batch of a few) at a time. For such batches the
columnar path (:mod:`smartcustoms.risk.features.columnar`) is dominated by fixed costs (some 80 Polars
expressions and ~2,000 NumPy calls on one-element arrays). This module computes the *same features*
(same formulas, same point-in-time rules, same state tables and key hashes) with plain Python
floats, one row after the other:

* each row reads its families' aggregates from the state tables (one binary search per table), adds
  what earlier rows of the same batch contributed (kept in a per-batch overlay, so
  ``features_for`` leaves the state untouched), and the outcomes still pending whose
  ``outcome_at`` is at or before its own time;
* keys are the columnar path's: :func:`~smartcustoms.risk.features.table.text_key` of text parts (cached)
  and :func:`~smartcustoms.risk.features.table.numeric_key` of values and masses, no Polars involved.

Tests check that it gives the frame path's features (``tests/risk/features/test_features.py``). Sums are
taken in a different order (sequentially rather than pairwise), so values agree to rounding, not
always bit for bit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import polars as pl

from smartcustoms.risk.features.families import (
    CAT_SOURCES,
    CATEGORICAL_FEATURES,
    CONTEXT_COLUMNS,
    FAMILIES,
    HAS_OUTCOMES,
    ITEM_FEATURES,
    KEY_PARTS,
    NUMERIC_FEATURES,
    NUMERIC_KEYS,
    OUT_COLS,
    TEXT_KEYWORDS,
    family_feature_names,
)
from smartcustoms.risk.features.table import DAY_US, Prepared, Table, text_key
from smartcustoms.risk.frame import REQUIRED_NON_NULL, ItemFrameError

NAN = math.nan
_M64 = (1 << 64) - 1
_MIX = 0x9E3779B97F4A7C15
_MIX2 = 0xBF58476D1CE4E5B9
_EPOCH = datetime(1970, 1, 1)
_US = timedelta(microseconds=1)
_KEYWORDS = [re.compile(p) for p in TEXT_KEYWORDS.values()]
_NUMERIC_PARTS = tuple((part, source, scale, salt) for part, (source, scale, salt) in NUMERIC_KEYS.items())
_KEY_CACHE_LIMIT = 200_000
_TEXT_KEYS: dict[tuple[str, str], int] = {}  # (part, text) -> text_key: parties and codes repeat
NUMERIC_INDEX: dict[str, int] = {name: i for i, name in enumerate(NUMERIC_FEATURES)}
_N_ITEM = len(ITEM_FEATURES)
_CAT_INDEX = {name: i for i, name in enumerate(CATEGORICAL_FEATURES)}
_CONTEXT_INDEX = {name: i for i, name in enumerate(CONTEXT_COLUMNS)}
_CONTEXT_DTYPES = {
    "declaration_no": pl.Utf8(),
    "item_no": pl.Int64(),
    "hs6": pl.Utf8(),
    "hs4": pl.Utf8(),
    "origin_country": pl.Utf8(),
    "duty_at_stake": pl.Float64(),
}
_FAMILY_WIDTH = {fam.name: len(family_feature_names(fam)) for fam in FAMILIES}
# The loop below computes each family kind's outputs by position, in the order of the one specification
# (:data:`~smartcustoms.risk.features.families.FAMILY_OUTPUTS`); tests/risk/features/test_features.py holds
# its features equal, by name, to the columnar path's (which picks them from the specification by name).


def _hashes(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, int | None]]:
    """Per row, key part -> key (None when the part is missing: null or empty), as the columnar path keys it."""
    out: list[dict[str, int | None]] = []
    for r in rows:
        o: dict[str, int | None] = {}
        for part, (source, width) in KEY_PARTS.items():
            v = r.get(source)
            if not v:
                o[part] = None
                continue
            key = (part, v if width is None else v[:width])
            h = _TEXT_KEYS.get(key)
            if h is None:
                if len(_TEXT_KEYS) > _KEY_CACHE_LIMIT:
                    _TEXT_KEYS.clear()
                h = _TEXT_KEYS[key] = text_key(key[1])
            o[part] = h
        for part, source, scale, salt in _NUMERIC_PARTS:
            v = r.get(source)
            o[part] = None if v is None else _numeric_key(float(v), scale, salt)
        out.append(o)
    return out


def _numeric_key(v: float, scale: float, salt: int) -> int | None:
    """:func:`smartcustoms.risk.features.table.numeric_key` of one value (None when not finite)."""
    q = v * scale + 0.5
    if not math.isfinite(q) or abs(math.floor(q)) >= 2**62:
        return None
    return _combine(salt, math.floor(q) & _M64)


def _combine(a: int, b: int) -> int:
    """:func:`smartcustoms.risk.features.table.combine` on Python ints."""
    x = ((a * _MIX + b) & _M64) ^ (b >> 31)
    return ((x * _MIX2) & _M64) ^ (x >> 27)


_HS_NUMBER_CACHE: dict[str, float | None] = {}


def _hs_number(s: str) -> float | None:
    """``str.cast(Float64, strict=False)`` of an HS prefix (Polars itself for anything but plain digits)."""
    if s.isascii() and s.isdigit():
        return float(s)
    if s not in _HS_NUMBER_CACHE:
        _HS_NUMBER_CACHE[s] = pl.Series([s]).cast(pl.Float64, strict=False)[0]
    return _HS_NUMBER_CACHE[s]


def _item_values(r: Mapping[str, Any], at: datetime) -> tuple[list[float | None], float]:
    """The item features of one row (None where the frame path gives null) and its duty at stake."""
    value = max(float(r["customs_value"]), 0.0)
    mass = max(float(r["net_mass_kg"]), 0.0)
    rate = float(r["tax_rate"])
    duty = value * rate / 100.0
    lvalue = math.log1p(value)
    q = r.get("quantity")
    hs = r["hs_code"]
    desc = r.get("description")
    origin, departure = r.get("origin_country"), r.get("departure_country")
    wd = at.isoweekday()
    out: list[float | None] = [
        value,
        lvalue,
        mass,
        math.log1p(mass),
        lvalue - math.log(max(mass, 1e-3)),
        rate,
        math.log1p(max(duty, 0.0)),
        None if q is None else float(q),
        None if q is None else lvalue - math.log(max(float(q), 1e-3)),
        _hs_number(hs[:6]),
        _hs_number(hs[:4]),
        _hs_number(hs[:2]),
        float(wd),
        float(at.month),
        float(at.day),
        float(at.hour),
        1.0 if wd >= 6 else 0.0,
        None if origin is None or departure is None else float(origin == departure),
        0.0 if r.get("seller_code") is None else 1.0,
        0.0 if r.get("courier_code") is None else 1.0,
        0.0 if desc is None else 1.0,
    ]
    if desc is None:
        out += [None] * (2 + len(_KEYWORDS))
    else:
        out += [float(len(desc)), float(len(desc.split(" ")))]
        out += [1.0 if k.search(desc) else 0.0 for k in _KEYWORDS]
    return out, duty


class LiveFeatures:
    """Features of a few rows from the row-wise path: a float matrix plus the non-numeric columns.

    Quacks like the feature frame where live scoring reads it (``height``, ``columns``,
    ``get_column``, ``[name]``, ``[rows]``, ``to_dicts``); :meth:`to_frame` gives the frame itself.
    """

    __slots__ = ("numeric", "item_null", "categorical", "context")

    def __init__(
        self,
        numeric: np.ndarray,
        item_null: list[tuple[int, ...]],
        categorical: list[list[str | None]],
        context: list[list[Any]],
    ) -> None:
        self.numeric = numeric  # (rows, len(NUMERIC_FEATURES)), NaN where missing
        self.item_null = item_null  # per row, item-feature columns that are null (not NaN) in the frame path
        self.categorical = categorical  # per row, CATEGORICAL_FEATURES values
        self.context = context  # per row, CONTEXT_COLUMNS values

    @property
    def height(self) -> int:
        """Rows."""
        return len(self.context)

    def __len__(self) -> int:
        return self.height

    @property
    def columns(self) -> list[str]:
        """The feature frame's columns: context, numeric features, categorical features."""
        return [*CONTEXT_COLUMNS, *NUMERIC_FEATURES, *CATEGORICAL_FEATURES]

    def values(self, name: str) -> list[Any]:
        """One column as a Python list (None for nulls)."""
        if name in NUMERIC_INDEX:
            j = NUMERIC_INDEX[name]
            col = self.numeric[:, j].tolist()
            if j < _N_ITEM:
                col = [None if j in nulls else v for v, nulls in zip(col, self.item_null, strict=True)]
            return col
        if name in _CAT_INDEX:
            return [row[_CAT_INDEX[name]] for row in self.categorical]
        if name in _CONTEXT_INDEX:
            return [row[_CONTEXT_INDEX[name]] for row in self.context]
        raise KeyError(name)

    def get_column(self, name: str) -> pl.Series:
        """One column as the frame path gives it (dtype included)."""
        if name in NUMERIC_INDEX and NUMERIC_INDEX[name] >= _N_ITEM:
            return pl.Series(name, self.numeric[:, NUMERIC_INDEX[name]])
        dtype = pl.Utf8() if name in _CAT_INDEX else _CONTEXT_DTYPES.get(name, pl.Float64())
        return pl.Series(name, self.values(name), dtype=dtype)

    def __getitem__(self, key: str | Sequence[int]) -> Any:
        if isinstance(key, str):
            return self.get_column(key)
        rows = list(key)
        return LiveFeatures(
            self.numeric[rows],
            [self.item_null[i] for i in rows],
            [self.categorical[i] for i in rows],
            [self.context[i] for i in rows],
        )

    def to_dicts(self) -> list[dict[str, Any]]:
        """The rows as mappings of every column (None for nulls)."""
        out = []
        for i in range(self.height):
            nums = self.numeric[i].tolist()
            for j in self.item_null[i]:
                nums[j] = None
            row = dict(zip(CONTEXT_COLUMNS, self.context[i], strict=True))
            row.update(zip(NUMERIC_FEATURES, nums, strict=True))
            row.update(zip(CATEGORICAL_FEATURES, self.categorical[i], strict=True))
            out.append(row)
        return out

    def to_frame(self) -> pl.DataFrame:
        """The feature frame the columnar path gives for the same rows."""
        return pl.DataFrame([self.get_column(c) for c in self.columns])


def _check(rows: Sequence[Mapping[str, Any]]) -> list[datetime]:
    nulls = [c for c in REQUIRED_NON_NULL if any(r.get(c) is None for r in rows)]
    if nulls:
        raise ItemFrameError(f"item frame has nulls in required column(s): {', '.join(nulls)}")
    at = [r["declared_at"] for r in rows]
    if any(b < a for a, b in zip(at, at[1:], strict=False)):
        raise ValueError("item frame must be sorted by declared_at (use frame.time_sorted)")
    return at


def _pending_by_family(ev: Prepared | None, t_max: float) -> dict[str, dict[int, list[tuple[float, ...]]]]:
    """Pending outcome events that may be visible to the batch, per family and key."""
    if ev is None or not len(ev["t"]):
        return {}
    k = int(np.searchsorted(ev["t_out"], t_max, side="right"))  # pending is sorted by outcome time
    if not k:
        return {}
    t_out, off, crit, dr = (ev[c][:k].tolist() for c in ("t_out", "off", "crit", "dr"))
    out: dict[str, dict[int, list[tuple[float, ...]]]] = {}
    for fam in FAMILIES:
        if fam.kind not in HAS_OUTCOMES:
            continue
        valid = ev[f"v_{fam.name}"][:k].tolist()
        keys = ev[f"h_{fam.name}"][:k].tolist()
        by_key: dict[int, list[tuple[float, ...]]] = {}
        for key, ok, to, o, c, d in zip(keys, valid, t_out, off, crit, dr, strict=True):
            if ok:
                by_key.setdefault(key, []).append((to, o, c, d))
        if by_key:
            out[fam.name] = by_key
    return out


# column positions within a table row, per family (decl cols then outcome cols)
_POS = {fam.name: {c: i for i, c in enumerate(fam.cols)} for fam in FAMILIES}


def run_rows(
    tables: dict[str, Table],
    pending: Prepared | None,
    prior_strength: float,
    rows: Sequence[Mapping[str, Any]],
    *,
    commit: bool,
    want_features: bool = True,
) -> tuple[LiveFeatures | None, float]:
    """Features of a few new, time-sorted item rows (canonical columns as a mapping per row).

    Rows see ``tables`` and the ``pending`` outcomes due by their time. With ``commit`` the rows are
    folded into ``tables`` afterwards (features first, as ``score_and_observe``; the caller then keeps
    the books); without, the tables are left as they were (``features_for``). Returns the features
    (None unless ``want_features``) and the latest ``declared_at`` of the rows, in epoch days.
    """
    at = _check(rows)
    n = len(rows)
    t = [((a - _EPOCH) // _US) / DAY_US for a in at]
    hashes = _hashes(rows)
    due = _pending_by_family(pending, max(t)) if n and pending is not None else {}
    k = prior_strength
    local: dict[str, dict[int, list[float]]] = {fam.name: {} for fam in FAMILIES}
    numeric: list[list[float]] = []
    item_null: list[tuple[int, ...]] = []
    categorical: list[list[str | None]] = []
    context: list[list[Any]] = []
    for i, r in enumerate(rows):
        ti = t[i]
        hs = hashes[i]
        value = max(float(r["customs_value"]), 0.0)
        lv = math.log1p(value)
        luv = lv - math.log(max(float(r["net_mass_kg"]), 1e-3))
        if want_features:
            items, duty = _item_values(r, at[i])
            item_null.append(tuple(j for j, v in enumerate(items) if v is None))
            feats: list[float] = [NAN if v is None else v for v in items]
            hs_code = r["hs_code"]
            categorical.append([r.get(CAT_SOURCES[c]) for c in CATEGORICAL_FEATURES[:-1]] + [hs_code[:2]])
            context.append(
                [r["declaration_no"], r.get("item_no", 1), hs_code[:6], hs_code[:4], r.get("origin_country"), duty]
            )
        novel: dict[str, bool] = {}
        base, base_crit = 0.5, 0.05
        for fam in FAMILIES:
            name = fam.name
            if fam.parts:
                h = hs[fam.parts[0]]
                for part in fam.parts[1:]:
                    if h is None:
                        break
                    b = hs[part]
                    h = None if b is None else _combine(h, b)
                if h is None:
                    if want_features:
                        feats += [NAN] * _FAMILY_WIDTH[name]
                    continue
            else:
                h = 0
            mine = local[name]
            row = mine.get(h)
            if row is None:
                row = mine[h] = tables[name].get_one(h)
            pos = _POS[name]
            kind = fam.kind
            cnt = row[0]
            # declaration aggregates before this row, decays carried to its time
            if kind in ("pair", "presence"):
                novel[name] = cnt == 0
            if kind in HAS_OUTCOMES:
                ni, no, nc, dr = (row[pos[c]] for c in OUT_COLS)
                events = due.get(name)
                if events is not None and h in events:
                    for to, o, c, d in events[h]:
                        if to <= ti:
                            ni += 1.0
                            no += o
                            nc += c
                            dr += d
            if kind == "global":
                base = (no + 1.0) / (ni + 2.0)
                base_crit = (nc + 0.1) / (ni + 2.0)
                if want_features:
                    feats += (base, ni)
                row[0] = cnt + 1.0
                continue
            if kind == "presence":
                row[0] = cnt + 1.0
                continue
            first = row[pos["first"]] if "first" in pos else NAN
            last = row[pos["last"]]
            rate = (no + k * base) / (ni + k)
            if kind == "pair":
                if want_features:
                    feats += (cnt, 1.0 if cnt == 0 else 0.0, ti - first, ni, no, rate)
                row[0] = cnt + 1.0
                if first != first:
                    row[pos["first"]] = ti
                row[pos["last"]] = ti
                continue
            seen = last == last
            b30 = row[pos["b30"]] * math.exp(-(ti - last) / 30.0) if seen else 0.0
            crit_rate = (nc + k * base_crit) / (ni + k)
            if kind == "place":
                b7 = row[pos["b7"]] * math.exp(-(ti - last) / 7.0) if seen else 0.0
                if want_features:
                    feats += (cnt, b7, b30, ni, rate, crit_rate)
                row[0] = cnt + 1.0
                row[pos["last"]] = ti
                row[pos["b7"]] = b7 + 1.0
                row[pos["b30"]] = b30 + 1.0
                continue
            # party and goods: value statistics
            slv, slv2, sluv, sluv2 = row[pos["slv"]], row[pos["slv2"]], row[pos["sluv"]], row[pos["sluv2"]]
            if want_features:
                if cnt > 0:
                    lv_mean, luv_mean = slv / cnt, sluv / cnt
                    var = slv2 / cnt - lv_mean * lv_mean
                    lv_std = math.sqrt(var) if var > 0.0 else 0.0
                    var = sluv2 / cnt - luv_mean * luv_mean
                    luv_std = math.sqrt(var) if var > 0.0 else 0.0
                else:
                    lv_mean = luv_mean = lv_std = luv_std = NAN
                if cnt >= 2:
                    lv_z = (lv - lv_mean) / max(lv_std, 0.1)
                    luv_z = (luv - luv_mean) / max(luv_std, 0.1)
                else:
                    lv_z = luv_z = NAN
                if kind == "goods":
                    feats += (
                        cnt,
                        ti - first,
                        b30,
                        luv_mean,
                        luv - luv_mean,
                        luv_z,
                        lv - lv_mean,
                        ni,
                        no,
                        rate,
                        crit_rate,
                    )
            if kind == "party":
                b7 = row[pos["b7"]] * math.exp(-(ti - last) / 7.0) if seen else 0.0
                nd = row[pos["nd"]]
                if want_features:
                    feats += (
                        cnt,
                        ti - first,
                        ti - last,
                        lv_mean,
                        lv_std if cnt >= 2 else NAN,
                        lv_z,
                        luv_mean,
                        luv_z,
                        b7,
                        b30,
                        ni,
                        no,
                        rate,
                        crit_rate,
                        math.log1p(dr),
                        nd,
                        nd / cnt if cnt > 0 else NAN,
                    )
                row[pos["b7"]] = b7 + 1.0
                row[pos["nd"]] = nd + (1.0 if novel.get(fam.diversity_of or "", False) else 0.0)
            row[0] = cnt + 1.0
            if first != first:
                row[pos["first"]] = ti
            row[pos["last"]] = ti
            row[pos["slv"]] = slv + lv
            row[pos["slv2"]] = slv2 + lv * lv
            row[pos["sluv"]] = sluv + luv
            row[pos["sluv2"]] = sluv2 + luv * luv
            row[pos["b30"]] = b30 + 1.0
        if want_features:
            numeric.append(feats)
    if commit:
        for fam in FAMILIES:
            table, width = tables[fam.name], len(fam.decl_cols)
            for h, row in local[fam.name].items():
                table.put_one(h, row[:width])
    latest = max(t) if n else -math.inf
    if not want_features:
        return None, latest
    matrix = np.array(numeric, dtype=np.float64).reshape(n, len(NUMERIC_FEATURES))
    return LiveFeatures(matrix, item_null, categorical, context), latest


__all__ = ["NUMERIC_INDEX", "LiveFeatures", "run_rows"]
