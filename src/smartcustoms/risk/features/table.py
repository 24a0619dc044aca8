"""The state's storage and how rows are keyed: aggregate tables over 64-bit key hashes.

Aggregates live in sorted ``uint64``-keyed NumPy tables (64-bit hashes of the key values) with a
small sorted overlay for new keys, so a lookup is a binary search and history is never rescanned.
:func:`prepare` turns item rows into what both the state and the columnar path work on: numeric
time, log value / unit value, labels and each family's key hash.
"""

from __future__ import annotations

from functools import cache
from hashlib import blake2b

import numpy as np
import polars as pl

from smartcustoms.risk.features.families import FAMILIES, KEY_PARTS, NUMERIC_KEYS

DAY_US = 86_400_000_000.0  # microseconds a day: times are epoch days

OVERLAY_LIMIT = 4096  # new keys wait in a small sorted overlay; merged into the main table beyond this


class Table:
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
        """Memory held by the arrays."""
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
#: prepared rows: column name -> NumPy array (see :func:`prepare`)
Prepared = dict[str, np.ndarray]


def key_exprs() -> dict[str, pl.Expr]:
    """The Polars expression of each text key part (:data:`~smartcustoms.risk.features.families.KEY_PARTS`)."""
    return {
        part: pl.col(source) if width is None else pl.col(source).str.slice(0, width)
        for part, (source, width) in KEY_PARTS.items()
    }


def combine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Order-sensitive mix of two 64-bit hashes (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = (a * _MIX + b) ^ (b >> np.uint64(31))
        return x * np.uint64(0xBF58476D1CE4E5B9) ^ (x >> np.uint64(27))


@cache
def _prepare_exprs() -> list[pl.Expr]:
    """Expressions of :func:`prepare`, built once (live scoring latency)."""
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
    for part, e in key_exprs().items():
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
    return combine(np.full(len(x), salt, np.uint64), grid), ok


def prepare(frame: pl.DataFrame) -> Prepared:
    """Numeric time, log value / unit value, labels and per-family key hashes, as NumPy arrays."""
    df = frame.select(_prepare_exprs())
    out: Prepared = {c: df[c].to_numpy() for c in ("t", "lv", "luv", "dr", "crit")}
    out["t_out"] = df["t_out"].fill_null(np.nan).to_numpy()
    out["off"] = df["off"].fill_null(np.nan).to_numpy()
    keys = {p: _text_keys(df[f"s_{p}"]) for p in KEY_PARTS}
    present = {p: df[f"n_{p}"].to_numpy() for p in KEY_PARTS}
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
            h = combine(h, keys[part])
            valid &= present[part]
        out[f"h_{fam.name}"] = h
        out[f"v_{fam.name}"] = valid
    return out


def take(prep: Prepared, mask: np.ndarray) -> Prepared:
    """The rows of ``prep`` selected by ``mask`` (a boolean mask or an index array)."""
    return {k: v[mask] for k, v in prep.items()}


def concat(a: Prepared | None, b: Prepared) -> Prepared:
    """``a`` then ``b``, row-wise (``b`` when ``a`` is None)."""
    return b if a is None else {k: np.concatenate([a[k], b[k]]) for k in b}
