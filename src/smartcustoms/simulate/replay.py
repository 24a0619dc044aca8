"""Replaying simulated history through the live platform: lodge in time order, inspect, learn.

Declarations are lodged in small batches with the platform's clock set to their time, so history
features, lanes and events carry realistic times. Held declarations are inspected and a share of
released ones audited after clearance, ``result_lag`` later, with the simulator's hidden truth as
the finding; each result feeds the risk engine as it would live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np

from smartcustoms.core.security import SYSTEM, Principal, Role
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.inspection.schemas import InspectionResultIn
from smartcustoms.platform import Platform
from smartcustoms.simulate.declarations import SimulatedDeclaration

REPLAY_OFFICER = Principal(0, "replay-officer", Role.OFFICER)


class SettableClock:
    """A clock that returns a time the replay sets."""
    def __init__(self, t: datetime) -> None:
        self.t = t

    def __call__(self) -> datetime:
        """The time last set."""
        return self.t


@dataclass
class ReplaySummary:
    """Counts of a replay run (lodged, held, inspected, audited, hits) and of its lanes and mechanisms."""
    lodged: int = 0
    held: int = 0
    inspected: int = 0
    audited: int = 0
    hits: int = 0
    waiting: int = 0  # held declarations left without a finding (in the officers' queue)
    lanes: dict[str, int] = field(default_factory=dict)
    mechanisms: dict[str, int] = field(default_factory=dict)
    declaration_nos: list[str] = field(default_factory=list)


def finding(sim: SimulatedDeclaration) -> InspectionResultIn:
    """The inspection result that the simulator's hidden truth implies."""
    if not sim.offending:
        return InspectionResultIn(outcome="no_offence")
    value = sum(Decimal(i["total_value"]) for i in sim.payload["items"])
    duty = (value * Decimal("0.08")).quantize(Decimal("0.01"))
    return InspectionResultIn(outcome="offence", offence_type=sim.offence, critical=sim.critical,
                              duty_recovered=duty, notes="replayed finding")


def replay_history(platform: Platform, sims: list[SimulatedDeclaration], *, audit_share: float = 0.3,
                   result_lag: timedelta = timedelta(days=2), batch: int = 50, seed: int = 0,
                   progress: Callable[[int], None] | None = None, until: datetime | None = None,
                   open_per_lane: int = 0) -> ReplaySummary:
    """Lodge ``sims`` (time-ordered) through the platform and record their findings as they fall due.

    With ``until`` (e.g. now), findings not yet due then stay unrecorded; with ``open_per_lane``, so do
    the findings of the latest that many held declarations of each lane (an earlier one's finding is
    recorded, late, when a newer one of its lane falls due). Those declarations wait in the officers'
    hold queue; ``ReplaySummary.waiting`` counts them."""
    rng = np.random.default_rng(seed)
    svc, risk = platform.declarations, platform.risk
    saved = svc.clock, risk.clock
    clock = SettableClock(datetime.fromisoformat(sims[0].payload["declared_at"]) if sims else datetime.now())
    svc.clock = risk.clock = clock
    pending = _Pending([], {}, open_per_lane)
    out = ReplaySummary()
    try:
        for start in range(0, len(sims), batch):
            chunk = sims[start:start + batch]
            clock.t = datetime.fromisoformat(chunk[-1].payload["declared_at"]) + timedelta(minutes=1)
            _record_due(platform, pending, clock, out)
            results = svc.lodge_many(SYSTEM, [DeclarationIn.model_validate(s.payload) for s in chunk])
            for sim, res in zip(chunk, results, strict=True):
                if res.errors or res.lane is None or res.declaration_no is None:
                    continue
                out.lodged += 1
                out.declaration_nos.append(res.declaration_no)
                out.lanes[res.lane] = out.lanes.get(res.lane, 0) + 1
                held = res.lane != "green"
                out.held += held
                if held or rng.random() < audit_share:
                    pending.due.append((clock.t + result_lag, res.declaration_no, sim, res.lane))
            if progress:
                progress(len(chunk))
        clock.t = clock.t + result_lag if until is None else max(clock.t, until)
        _record_due(platform, pending, clock, out)
        out.waiting = sum(lane != "green" for *_, lane in pending.due) + sum(map(len, pending.parked.values()))
    finally:
        svc.clock, risk.clock = saved
    return out


@dataclass
class _Pending:
    """Findings not yet recorded: those not yet due, and the latest held ones per lane kept open."""

    due: list[tuple[datetime, str, SimulatedDeclaration, str]]
    parked: dict[str, deque[tuple[str, SimulatedDeclaration]]]
    keep: int


def _record_due(platform: Platform, pending: _Pending, clock: SettableClock, out: ReplaySummary) -> None:
    ready = [d for d in pending.due if d[0] <= clock.t]
    if not ready:
        return
    pending.due[:] = [d for d in pending.due if d[0] > clock.t]
    for _, no, sim, lane in ready:
        held = lane != "green"
        if held and pending.keep:  # park it as the newest of its lane; record the oldest parked beyond keep
            parked = pending.parked.setdefault(lane, deque())
            parked.append((no, sim))
            if len(parked) <= pending.keep:
                continue
            no, sim = parked.popleft()
        platform.inspections.record(REPLAY_OFFICER, no, finding(sim))
        out.inspected += held
        out.audited += not held
        out.hits += sim.offending and held
