"""``CbecService``: the deadline check a scheduler runs on a timer."""

from __future__ import annotations

import threading

from smartcustoms.cbec.ceb.spec import INVENTORY, ORDER
from smartcustoms.cbec.service import CbecService
from smartcustoms.core.config import CbecSettings
from tests.cbec.test_pipeline import parcel, xml


def test_expire_on_a_timer_rejects_an_overdue_inventory_once_and_stops_after_close(db_url, clock):
    svc = CbecService(db_url, CbecSettings(deadline_s=60))
    svc.engine.clock = clock
    docs = parcel("T1")
    svc.submit([xml(docs, INVENTORY), xml(docs, ORDER)])
    assert svc.expire() == []  # nothing overdue yet
    clock.t += 61_000
    got: list = []
    timers = [threading.Timer(0, lambda: got.append(svc.expire())) for _ in range(4)]
    for t in timers:
        t.start()
    other = parcel("T2")
    svc.submit([xml(other, ORDER)])  # a batch arriving meanwhile: serialised with the timer's calls
    for t in timers:
        t.join()
    receipts = [r for batch in got for r in batch]
    [r] = [r for r in receipts if r.kind == "CEB622"]  # reported once, whichever call came first
    assert r.status == 100 and "incomplete after deadline" in r.info
    assert svc.parcel(docs[INVENTORY][1]["ebpCode"], "T1")["status"] == 100
    svc.close()
    assert svc.expire() == []
