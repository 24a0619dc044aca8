"""The seeded declaration simulator: repeatable, valid declarations, offences labelled with their truth."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from smartcustoms.codes import code_lists
from smartcustoms.declarations.schemas import DeclarationIn
from smartcustoms.declarations.service import validate
from smartcustoms.simulate import DeclarationSimulator
from smartcustoms.simulate.declarations import MISCLASSIFY, PROHIBITED_HS


def test_simulator_is_seeded_and_its_declarations_are_valid():
    a = DeclarationSimulator(5).generate(300, datetime(2026, 1, 1), datetime(2026, 2, 1))
    b = DeclarationSimulator(5).generate(300, datetime(2026, 1, 1), datetime(2026, 2, 1))
    assert [x.payload for x in a] == [x.payload for x in b]
    codes = code_lists()
    for sim in a:
        assert validate(DeclarationIn.model_validate(sim.payload), codes, datetime(2026, 2, 2)) == []


def test_simulated_offences_hide_the_truth_they_are_labelled_with():
    sims = DeclarationSimulator(9, offence_rate=0.3).generate(3000, datetime(2026, 1, 1), datetime(2026, 3, 1))
    kinds = {s.offence for s in sims if s.offending}
    assert kinds == {"undervaluation", "misclassification", "false_origin", "quantity", "prohibited"}
    for s in sims:
        first = s.payload["items"][0]
        if s.offence == "undervaluation":
            assert Decimal(first["unit_price"]) < Decimal(str(s.truth["unit_price"]))
        elif s.offence == "misclassification":
            assert MISCLASSIFY[s.truth["hs_code"]][0] == first["hs_code"]
        elif s.offence == "false_origin":
            assert first["origin_country"] != s.truth["origin_country"]
        elif s.offence == "quantity":
            assert Decimal(first["quantity"]) < Decimal(str(s.truth["quantity"]))
        elif s.offence == "prohibited":
            assert first["hs_code"] in PROHIBITED_HS and s.critical
    rate = sum(s.offending for s in sims) / len(sims)
    assert 0.05 < rate < 0.6
