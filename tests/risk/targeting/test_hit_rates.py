"""The one definition of hit rate, pinned on a small constructed history (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import pytest

from smartcustoms.core.db import Base, make_engine, session_factory, transaction
from smartcustoms.declarations.models import Declaration
from smartcustoms.inspection.models import InspectionResult
from smartcustoms.risk.targeting.models import RiskDecision
from smartcustoms.risk.targeting.service import decision_counts, hit_rates, weekly_hit_rates

NOW = datetime(2026, 6, 3, 12)  # a Wednesday
WEEK = timedelta(weeks=1)

#: (mechanism, lane, result, days before NOW the result was recorded); None: not inspected (yet)
HISTORY = [
    ("model", "red", "offence", 1),
    ("model", "yellow", "offence", 8),
    ("model", "blue", "no_offence", 1),
    ("model", "red", None, None),  # held, no result yet: not an inspection
    ("model", "green", "offence", 2),  # a post-clearance audit of a release: not a model inspection
    ("model", "green", None, None),
    ("exploration", "red", "no_offence", 1),
    ("exploration", "yellow", "no_offence", 8),
    ("rule", "red", "offence", 1),
    ("rule", "green", "no_offence", 1),  # an audit that found nothing: not an inspection either
]


@pytest.fixture
def sessions(db_url):
    engine = make_engine(db_url)
    Base.metadata.create_all(
        engine, tables=[Declaration.__table__, InspectionResult.__table__, RiskDecision.__table__]
    )
    factory = session_factory(engine)
    with transaction(factory) as s:
        for i, (mechanism, lane, outcome, days) in enumerate(HISTORY):
            d = Declaration(
                declaration_no=f"2200{i:014d}", client_message_id=f"m{i}", lodged_by="3101000001",
                declarant_code="3101000001", importer_code="3101000001", trade_mode="0110", transport_mode="2",
                office_code="2200", departure_country="US", origin_country="US", currency="USD", incoterm="FOB",
                freight=Decimal(0), gross_mass_kg=Decimal(1), net_mass_kg=Decimal(1), packages=1,
                total_value=Decimal(100), declared_at=NOW - 3 * WEEK, lodged_at=NOW - 3 * WEEK, status="released",
                lane=lane,
            )
            s.add(d)
            s.flush()
            s.add(RiskDecision(declaration_id=d.id, decided_at=NOW - 3 * WEEK + timedelta(minutes=i),
                               office_code="2200", importer_code="3101000001", credit_grade="general", score=0.5,
                               lane=lane, mechanism=mechanism, reasons=[]))
            if outcome is not None:
                s.add(InspectionResult(declaration_id=d.id, recorded_at=NOW - timedelta(days=days), officer="officer",
                                       outcome=outcome, critical=False, duty_recovered=Decimal(0), notes=""))
    yield factory
    engine.dispose()


def test_hit_rate_counts_only_the_inspections_the_selectivity_chose(sessions):
    with sessions() as s:
        rates = hit_rates(s)
    assert rates["model"] == {"decisions": 6, "held": 4, "inspected": 3, "hits": 2, "hit_rate": 2 / 3,
                              "audited": 1, "audit_hits": 1}
    assert rates["exploration"] == {"decisions": 2, "held": 2, "inspected": 2, "hits": 0, "hit_rate": 0.0,
                                    "audited": 0, "audit_hits": 0}
    assert rates["rule"] == {"decisions": 2, "held": 1, "inspected": 1, "hits": 1, "hit_rate": 1.0,
                             "audited": 1, "audit_hits": 0}


def test_decision_counts_passed_in_give_the_same_hit_rates(sessions):
    with sessions() as s:
        assert hit_rates(s, decisions=decision_counts(s)) == hit_rates(s)
        later = NOW - 3 * WEEK + timedelta(minutes=6)  # the exploration and rule decisions only
        assert set(hit_rates(s, since=later)) == {"exploration", "rule"}
        assert hit_rates(s, since=later, decisions=decision_counts(s, later)) == hit_rates(s, since=later)


def test_weekly_hit_rates_count_chosen_inspections_by_the_week_of_their_result(sessions):
    with sessions() as s:
        weekly = weekly_hit_rates(s, weeks=3, now=NOW)
    assert weekly.weeks == ["2026-05-18", "2026-05-25", "2026-06-01"]
    assert weekly.inspected == {"model": [0, 1, 2], "exploration": [0, 1, 1], "rule": [0, 0, 1]}
    assert weekly.hits == {"model": [0, 1, 1], "exploration": [0, 0, 0], "rule": [0, 0, 1]}
    assert weekly.rates == {"model": [None, 1.0, 0.5], "exploration": [None, 0.0, 0.0], "rule": [None, None, 1.0]}
