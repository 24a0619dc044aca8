"""Why a parcel was held stays readable after an officer's decision; the officer's note is kept apart."""

from __future__ import annotations

from smartcustoms.cbec import service as cbec
from smartcustoms.cbec.service import CbecService
from smartcustoms.core.config import CbecSettings
from smartcustoms.core.db import make_engine, session_factory
from smartcustoms.risk.targeting.schemas import RuleIn
from tests.cbec.test_pipeline import CREAM, parcel, xml
from tests.cbec.test_risk import _save_rules

EBP = "1101980001"
HELD_FOR = "mandatory hold, rule 'Cream alert' (physical inspection)"


def test_an_officers_note_does_not_replace_the_reasons_a_parcel_was_held_for(db_url):
    _save_rules(db_url, RuleIn(name="Cream alert", criteria=[{"field": "hs_code", "op": "prefix", "value": ["3304"]}],
                               lane="red", mandatory=True))
    svc = CbecService(db_url, CbecSettings(deadline_s=60))
    try:
        for i, order_no in enumerate(("K01", "K02")):
            docs = parcel(order_no, hs=CREAM, buyer=(f"11010119900307{i:04d}", "张三", f"1390000000{i}", "广州市1号"))
            svc.submit([xml(docs, k) for k in docs])
            assert svc.parcel(EBP, order_no)["status"] == 500
        svc.set_status(EBP, "K01", 800, "genuine creams, brand owner's invoice", "officer1")
    finally:
        svc.close()
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            released = cbec.parcel_queue(s, (800,)).rows
            held = cbec.parcel_queue(s).rows
            view = cbec.parcel_view(s, EBP, "K01")
    finally:
        engine.dispose()
    assert [r["order_no"] for r in released] == ["K01"]
    assert HELD_FOR in released[0]["risk_reasons"][0]
    assert released[0]["note"] == "genuine creams, brand owner's invoice"
    assert [r["order_no"] for r in held] == ["K02"] and held[0]["note"] is None
    assert HELD_FOR in held[0]["risk_reasons"][0] and held[0]["risk_reasons"] == held[0]["reasons"]
    assert view is not None and view["risk_reasons"] == released[0]["risk_reasons"]
    assert view["decided_by"]["actor"] == "officer1" and view["note"] == released[0]["note"]
