"""The pre-loading model trained from the database's own decided referrals (the registry path, issue #19).

    python bench/manifest_registry.py --json                  # seed 11, 2 % exploration
    python bench/manifest_registry.py --seed 4 --explore 0 --json

The labelled simulated month (:mod:`smartcustoms.simulate.manifest_month`: 5 weeks of 2,000 sea consignments)
goes through the live ``ManifestService`` into a fresh SQLite file, rules only, with ``--explore`` of the
consignments the rules do not refer referred at random. At each week's end an officer decides every open
referral from the hidden labels (screening: threat found / clear; do not load: confirmed / lifted; a request for
information: answered, then complete, or escalated and threat found when it hid an offence). Then
:func:`smartcustoms.manifests.registry.train_manifest_candidate` trains from the database and compares the
candidate with the rules' severity on the most recent 20 % of the decided referrals (P@5/10/20 %, unweighted).
Prints the comparison and the CPU seconds of each part (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartcustoms.core.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from smartcustoms.core.security import SYSTEM, Principal, Role  # noqa: E402
from smartcustoms.manifests import registry  # noqa: E402
from smartcustoms.manifests.rules import ManifestSettings  # noqa: E402
from smartcustoms.manifests.schemas import DecisionIn, Outcome  # noqa: E402
from smartcustoms.manifests.schemas import ReferralAction as A  # noqa: E402
from smartcustoms.manifests.service import ManifestService  # noqa: E402
from smartcustoms.simulate.manifest_month import labelled_month  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--explore", type=float, default=0.02, help="exploration rate of the live service")
    ap.add_argument("--per-week", type=int, default=2000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    month = labelled_month(seed=a.seed, weeks=5, history_weeks=2, per_week=a.per_week)
    url = f"sqlite:///{Path(tempfile.mkdtemp()) / 'manifests.db'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = session_factory(engine)
    settings = ManifestSettings(high_risk_places=month.high_risk_places)
    now = [month.messages[0][1]]
    svc = ManifestService(sessions, settings, clock=lambda: now[0])
    svc.explore_rate, svc.rng = a.explore, random.Random(a.seed)
    officer = Principal(0, "officer", Role.OFFICER, internal=True)

    def decide(fid: int, action: A) -> None:
        svc.decide(fid, DecisionIn(action=action, reason="checked"), officer)

    def decide_all() -> None:
        while refs := svc.referrals(limit=500):
            for r in refs:
                offence = month.labels.get(r.transport_document_no) is not None
                if r.outcome is Outcome.REQUEST_FOR_INFORMATION:
                    svc.answer_information(r.id, "as described", r.filer_code, SYSTEM)
                    if offence:
                        decide(r.id, A.INFORMATION_ESCALATED)
                        decide(r.id, A.THREAT_FOUND)
                    else:
                        decide(r.id, A.INFORMATION_COMPLETE)
                elif r.outcome is Outcome.REQUEST_FOR_SCREENING:
                    decide(r.id, A.THREAT_FOUND if offence else A.SCREENING_CLEAR)
                else:
                    decide(r.id, A.DO_NOT_LOAD_CONFIRMED if offence else A.DO_NOT_LOAD_LIFTED)

    t0 = time.process_time()
    week = None
    for w, at, body in month.messages:
        if week is not None and w != week:  # the week's end: every open referral decided
            now[0] = at - timedelta(seconds=1)
            decide_all()
        week, now[0] = w, at
        svc.ingest(body, "CARRIER1", SYSTEM)
    now[0] += timedelta(days=1)
    decide_all()
    ingest_cpu = time.process_time() - t0
    t1 = time.process_time()
    with sessions() as s:
        registry.training_set(s, settings)
    replay_cpu = time.process_time() - t1
    t2 = time.process_time()
    with transaction(sessions) as s:
        v = registry.train_manifest_candidate(s, Principal(0, "analyst", Role.ANALYST, internal=True),
                                              settings=settings)
    train_cpu = time.process_time() - t2
    engine.dispose()
    m = v.metrics
    out = {"seed": a.seed, "explore_rate": a.explore, "filings": m["n_filings"], "labelled": m["n_labelled"],
           "train": m["n_train"], "holdout": m["n_holdout"], "train_offence_rate": round(m["train_offence_rate"], 4),
           "explored_rows": m["weighting"]["explored"], "clipped_weights": m["weighting"]["clipped"],
           "holdout_offence_rate": round(m["candidate"]["offence_rate"], 4),
           "candidate_precision_at": {k: round(p, 3) for k, p in m["candidate"]["precision_at"].items()},
           "rules_precision_at": {k: round(p, 3) for k, p in m["rules"]["precision_at"].items()},
           "cpu_seconds": {"ingest_and_decide": round(ingest_cpu, 1), "training_set": round(replay_cpu, 2),
                           "train_candidate": round(train_cpu, 2)}}
    print(json.dumps(out) if a.json else json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
