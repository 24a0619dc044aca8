"""Officers' parcel results as training data for the risk engine's parcel model (CBEC passes them down).

:func:`recorded_results` replays the decided parcels in decision order through a fresh
:class:`~smartcustoms.cbec.seams.ParcelHistory`, as the writer did, so each parcel gets the features it had
when it was decided (point in time: officers' results feed the enterprise hit rate from the moment they were
recorded). For each parcel it reads, from ``cbec_parcel_event``, the selection (the first ``system`` event:
status and reasons) and the officer's result (the last officer event with an outcome status); the selection
probability comes from the reasons (:func:`~smartcustoms.risk.parcels.model.selection_probability_of`).

A parcel the selectivity released has no result for training even when an officer later recorded one (a
post-clearance check: not chosen by the selectivity, so no known probability; the declarations' rule).
Parcels whose inventory is no longer in the message log are skipped. Within one writer batch the pipeline
computes every parcel's features before counting any of them; the replay counts each parcel before the
next one's features: the buyer counts of parcels of one batch can differ by the batch's own parcels.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from smartcustoms.cbec.ceb.spec import INVENTORY
from smartcustoms.cbec.ceb.statuses import INSPECTION, MANUAL_REVIEW, RELEASED
from smartcustoms.cbec.log import MessageLog
from smartcustoms.cbec.seams import ParcelHistory
from smartcustoms.risk.parcels.model import ParcelResult, outcome_of, selection_probability_of
from smartcustoms.risk.targeting.policy import SelectivityConfig
from smartcustoms.tax.retail import SINGLE_LIMIT

SELECTED = frozenset({RELEASED, MANUAL_REVIEW, INSPECTION})


def recorded_results(store: Any, log: MessageLog, config: SelectivityConfig) -> list[ParcelResult]:
    """Every parcel the selectivity decided, in decision order, with its features then, the officer's result
    (None when never inspected) and its selection probability."""
    selection: dict[tuple[str, str], tuple[int, str, int]] = {}
    result: dict[tuple[str, str], int] = {}
    officer_events: list[tuple[int, tuple[str, str], int]] = []
    for ebp, order, status, info, actor, at in store.execute(
            "SELECT ebp_code, order_no, status, info, actor, at_ms FROM cbec_parcel_event ORDER BY id").fetchall():
        key = (ebp, order)
        if actor == "system":
            selection.setdefault(key, (status, info or "", at))
        elif outcome_of(status) is not None:
            result[key] = status
            officer_events.append((at, key, status))
    officer_events.sort(key=lambda e: e[0])
    rates = {name: float(rate) for name, rate in store.execute("SELECT name, target_rate FROM risk_rules").fetchall()}
    rows = store.execute("SELECT ebp_code, order_no, inventory_guid, ebc_code, quota_year, dutiable_fen "
                         "FROM cbec_parcel ORDER BY id").fetchall()
    enterprise = {(ebp, order): ebc for ebp, order, _g, ebc, _y, _d in rows}
    history = ParcelHistory()
    out: list[ParcelResult] = []
    seen = 0
    for ebp, order, guid, _ebc, year, dutiable_fen in rows:
        key = (ebp, order)
        chosen = selection.get(key)
        if chosen is None or chosen[0] not in SELECTED or not guid:
            continue
        status, info, at = chosen
        while seen < len(officer_events) and officer_events[seen][0] <= at:
            _at, k, s = officer_events[seen]
            history.observe_outcome(enterprise.get(k), s)
            seen += 1
        inv = log.document(INVENTORY, guid)
        if inv is None:
            continue
        features = history.features(inv, Decimal(dutiable_fen) / 100, year or 0, SINGLE_LIMIT)
        history.observe(inv, year or 0, status)
        reasons = [r for r in info.split("; ") if r]
        offence = None if status == RELEASED else outcome_of(result.get(key))
        out.append(ParcelResult(features, offence, selection_probability_of(status, reasons, config, rates),
                                datetime.fromtimestamp(at / 1000, UTC).replace(tzinfo=None)))
    return out


__all__ = ["recorded_results"]
