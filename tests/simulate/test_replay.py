"""Replaying history for the demo leaves work for officers: recent findings, and the latest held ones of
each lane, stay unrecorded."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

from smartcustoms.core.config import Settings
from smartcustoms.declarations import holds
from smartcustoms.declarations.lifecycle import Lane
from smartcustoms.declarations.service import LaneDecision
from smartcustoms.platform import build_platform
from smartcustoms.simulate import DeclarationSimulator
from smartcustoms.simulate.demo import load_demo
from smartcustoms.simulate.replay import replay_history

NOW = datetime(2026, 6, 1)


class Rotating:
    """Green, yellow, blue, red, green, ... in lodging order (so each lane has held declarations)."""

    def __init__(self) -> None:
        self.lanes = itertools.cycle([Lane.GREEN, Lane.YELLOW, Lane.BLUE, Lane.RED])

    def decide(self, session, batch):
        return [LaneDecision(next(self.lanes), 0.5, ["rotation"], "rule") for _ in batch]


def test_the_latest_held_declarations_of_each_lane_and_recent_ones_wait_for_an_officer(tmp_path):
    platform = build_platform(Settings(data_dir=tmp_path))
    try:
        load_demo(platform, declarations=0, seed=3)
        platform.set_selectivity(Rotating())
        sims = DeclarationSimulator(3).generate(80, NOW - timedelta(days=30), NOW - timedelta(days=5))
        out = replay_history(platform, sims, until=NOW, open_per_lane=2, audit_share=0.0)
        assert out.lodged == 80 and out.held == 60
        # every finding was due by NOW (lodged 5+ days before, 2 days' lag) but for two per held lane
        assert out.waiting == 6 and out.inspected == 54
        with platform.sessions() as s:
            q = holds.hold_queue(s, limit=100)
        assert q.total == 6
        lanes = ["green", "yellow", "blue", "red"]  # the rotation, in lodging order
        latest = [no for lane in lanes[1:]
                  for no in [n for i, n in enumerate(out.declaration_nos) if lanes[i % 4] == lane][-2:]]
        assert sorted(r["declaration_no"] for r in q.rows) == sorted(latest)
    finally:
        platform.close()

