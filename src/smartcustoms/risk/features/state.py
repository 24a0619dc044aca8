"""The history state of live scoring and the batch entry point.

:class:`HistoryState` holds the aggregate tables (:mod:`.table`) and the outcomes still pending; it
scores rows through the row-wise path (:mod:`.rowwise`, up to :data:`ROWWISE_ROWS` rows) or the
columnar one (:mod:`.columnar`), then keeps the books: declarations seen, the clock (latest
``declared_at``), and outcomes folded in once their ``outcome_at`` has passed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from smartcustoms.risk.features import columnar, rowwise
from smartcustoms.risk.features.columnar import MAX_SPAN_SECONDS, conform_sorted, time_chunks
from smartcustoms.risk.features.families import FAMILIES, HAS_OUTCOMES, OUT_COLS, PRIOR_STRENGTH
from smartcustoms.risk.features.rowwise import LiveFeatures
from smartcustoms.risk.features.table import Prepared, Table, concat, prepare, take
from smartcustoms.risk.frame import conform

FLUSH_ROWWISE = 8  # up to this many due outcomes are folded in key by key (cheaper than the vector path)
# Up to this many rows, live calls take the row-wise path (features/rowwise.py): no frames. Row-wise costs
# ~0.14 ms a row, the columnar path ~14-16 ms fixed (features of 128 rows: 22.6 ms vs 29.1 ms; of 256:
# 34 vs 27), so a full lodging micro-batch (64 declarations, ~90 rows) never falls onto the fixed cost.
ROWWISE_ROWS = 128


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
        self.tables: dict[str, Table] = {fam.name: Table(fam.cols) for fam in FAMILIES}
        self.pending: Prepared | None = None  # prepared outcome rows not yet folded in
        self.clock = -math.inf  # latest declared_at seen, in epoch days
        self.n_declarations = 0
        self.n_outcomes = 0

    # -- public API -------------------------------------------------------------------------
    def features_for(self, frame: pl.DataFrame) -> pl.DataFrame:
        """Features of new, time-sorted rows; the state is not modified."""
        frame = conform_sorted(frame)
        chunks = time_chunks(frame)
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
        frame = conform_sorted(frame)
        if len(time_chunks(frame)) > 1:
            raise ValueError("score_and_observe takes rows spanning < MAX_SPAN_DAYS; use build_features")
        if frame.height <= ROWWISE_ROWS:
            return self.score_rows(frame.to_dicts(), observe=True).to_frame()
        return self._run(frame, commit_declarations=True, own_outcomes=False)

    def score_rows(self, rows: Sequence[Mapping[str, Any]], *, observe: bool) -> LiveFeatures:
        """The live path for a few rows: :meth:`score_and_observe` (``observe``) or :meth:`features_for`.

        ``rows`` are time-sorted item rows as mappings of the canonical columns (missing optional
        columns count as null); the features come back as :class:`~smartcustoms.risk.features.rowwise.LiveFeatures`
        (no Polars frame is built). Same features as the columnar path (``risk/features/rowwise.py``).
        """
        if len(rows) > 1 and (rows[-1]["declared_at"] - rows[0]["declared_at"]).total_seconds() >= MAX_SPAN_SECONDS:
            raise ValueError("score_rows takes rows spanning < MAX_SPAN_DAYS; use build_features")
        return self._run_rows(rows, commit=observe)  # type: ignore[return-value]

    def observe_declarations(self, frame: pl.DataFrame) -> None:
        """Fold new, time-sorted declarations (labels ignored) into the state."""
        frame = conform_sorted(frame)
        if frame.height <= ROWWISE_ROWS:
            self._run_rows(frame.to_dicts(), commit=True, want_features=False)
            return
        for chunk in time_chunks(frame):
            self._run(chunk, commit_declarations=True, own_outcomes=False, want_features=False)

    def observe_outcomes(self, frame: pl.DataFrame) -> None:
        """Register inspection results: rows with ``offence`` set (others are ignored)."""
        frame = conform(frame).filter(pl.col("offence").is_not_null())
        if not frame.height:
            return
        prep = prepare(frame)
        now = max(self.clock, float(prep["t"].max()))
        prep["t_out"] = np.where(np.isnan(prep["t_out"]), now, prep["t_out"])
        self.n_outcomes += frame.height
        self.pending = concat(self.pending, prep)
        t_out = self.pending["t_out"]
        if len(t_out) > 1 and not (t_out[1:] >= t_out[:-1]).all():
            # kept sorted by outcome time, so the due ones are a prefix (sliced as views, not copied)
            self.pending = take(self.pending, np.argsort(t_out, kind="stable"))
        self.flush_pending()

    @property
    def nbytes(self) -> int:
        """Approximate memory held by the aggregate tables."""
        return sum(t.nbytes for t in self.tables.values())

    def n_keys(self) -> dict[str, int]:
        """Keys held per family."""
        return {name: len(t) for name, t in self.tables.items()}

    def flush_pending(self) -> None:
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
            if fam.kind not in HAS_OUTCOMES:
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
            idx = [fam.cols.index(c) for c in OUT_COLS]
            table.put(keys, idx, table.get(keys)[:, idx] + add)

    def _fold_outcomes_rowwise(self, ev: Prepared) -> None:
        """:meth:`flush_pending` for a few events: one key at a time (live: an officer's result)."""
        offs, crits, drs = ev["off"].tolist(), ev["crit"].tolist(), ev["dr"].tolist()
        for fam in FAMILIES:
            if fam.kind not in HAS_OUTCOMES:
                continue
            table, start = self.tables[fam.name], len(fam.decl_cols)
            for h, ok, off, crit, dr in zip(
                ev[f"h_{fam.name}"].tolist(), ev[f"v_{fam.name}"].tolist(), offs, crits, drs, strict=True
            ):
                if ok:
                    ni, no, nc, rec = table.get_one(h)[start:]
                    table.put_one(h, [ni + 1.0, no + off, nc + crit, rec + dr], start)

    # -- internals --------------------------------------------------------------------------
    def _run(
        self,
        frame: pl.DataFrame,
        *,
        commit_declarations: bool,
        own_outcomes: bool,
        want_features: bool = True,
    ) -> pl.DataFrame:
        """The columnar path over a frame spanning less than ``MAX_SPAN_DAYS``."""
        features, latest = columnar.run(
            self.tables,
            self.pending,
            self.prior_strength,
            frame,
            commit_declarations=commit_declarations,
            own_outcomes=own_outcomes,
            want_features=want_features,
        )
        if commit_declarations:
            self._declared(frame.height, latest)
        return features

    def _run_rows(
        self, rows: Sequence[Mapping[str, Any]], *, commit: bool, want_features: bool = True
    ) -> LiveFeatures | None:
        """The row-wise path over a few time-sorted rows."""
        features, latest = rowwise.run_rows(
            self.tables, self.pending, self.prior_strength, rows, commit=commit, want_features=want_features
        )
        if commit:
            self._declared(len(rows), latest)
        return features

    def _declared(self, n: int, latest: float) -> None:
        """After ``n`` declarations were folded into the tables: count them, advance the clock, fold due outcomes."""
        self.n_declarations += n
        if n:
            self.clock = max(self.clock, latest)
        self.flush_pending()


def build_features(frame: pl.DataFrame, state: HistoryState | None = None) -> tuple[pl.DataFrame, HistoryState]:
    """Features of a time-sorted item frame, folding its rows into ``state`` as it goes.

    Each row sees the declarations before it and the outcomes (of earlier rows in this frame, or
    already registered in ``state``) whose ``outcome_at`` is at or before its ``declared_at``.
    Labelled rows' outcomes are registered and become visible once their ``outcome_at`` passes.
    Returns ``(features, state)``; ``features`` has :data:`CONTEXT_COLUMNS` then
    :data:`FEATURE_NAMES`, one row per input row, same order.
    """
    state = state if state is not None else HistoryState()
    frame = conform_sorted(frame)
    outs = []
    for chunk in time_chunks(frame):
        outs.append(state._run(chunk, commit_declarations=True, own_outcomes=True))
        state.observe_outcomes(chunk.filter(pl.col("outcome_at").is_not_null()))
    return (outs[0] if len(outs) == 1 else pl.concat(outs)), state
