"""Week-by-week replay of the labelled month: rules only, rules + model, and random, at a referral budget.

The messages of :func:`smartcustoms.simulate.manifest_month.labelled_month` go through the real parser
(:mod:`smartcustoms.manifests.intake`), the real rules and the real model features, in filing order, each
consignment seeing the history aggregates as they were before it (as the ingest does). Each week officers refer
``budget`` of the week's consignments: the deployed policy ranks them (rules' ``do_not_load`` first, then the
model's score; the rules' severity before the model exists) and fills ``1 - explore_share`` of the budget from
the top, the rest drawn at random from the others (exploration, with its known probability). Only the referred
consignments' outcomes become known, at the week's end (selective labels): they feed the shippers' and
consignees' past outcomes and the training set, weighted by inverse selection probability. The model that
scores week ``w`` is trained before it, on outcomes of weeks before ``w`` only.

Per week the replay reports the hit rate (share of referred consignments with an offence) of
* ``rules``: the rules alone ranking the whole budget (severity, ties in random order), no exploration;
* ``model``: the deployed policy (rules + model, exploration included: what officers would find);
* ``random``: the week's offence rate (the expected hit rate of a random referral), and one seeded random draw;
and the ratios over random. The first ``history_weeks`` are the history before the month (rules only) and are
listed but not in the minimum. All of it is synthetic.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from smartcustoms.manifests import intake
from smartcustoms.manifests import model as mm
from smartcustoms.manifests.rules import (
    ManifestSettings,
    assess,
    history_of,
)
from smartcustoms.manifests.schemas import Consignment, Conveyance, MessageKind
from smartcustoms.simulate.manifest_month import LabelledMonth


@dataclass
class _Filing:
    week: int
    received_at: datetime
    conveyance: Conveyance
    kind: MessageKind
    consignment: Consignment
    offence: bool


def filings(month: LabelledMonth) -> list[_Filing]:
    """Every consignment of the month as the parser reads it, in filing order, with its label kept aside."""
    out = []
    for week, at, body in month.messages:
        for _part, parsed in intake.parse_stream(body):
            if parsed.manifest is None:
                raise ValueError(f"a simulated message was refused: {parsed.problems[:3]}")
            m = parsed.manifest
            for c in m.consignments:
                out.append(_Filing(week, at, m.conveyance, m.kind, c,
                                   month.labels[c.transport_document_no] is not None))
    return out


def replay(month: LabelledMonth, *, budget: float = 0.05, explore_share: float = 0.2, seed: int = 5,
           min_offences: int = 10, save_model: Path | None = None) -> dict[str, Any]:
    """The per-week table (``weeks``) and ``weekly_hit_ratio_min`` (the month's lowest model ratio over random).
    A model is trained once the labelled outcomes hold ``min_offences`` offences (before that, rules only)."""
    rng = random.Random(seed)
    settings = ManifestSettings(high_risk_places=month.high_risk_places)
    stats = mm.HistoryStats()
    all_filings = filings(month)
    labelled_x: list[list[float]] = []
    labelled_y: list[float] = []
    labelled_p: list[float] = []
    labelled_week: list[int] = []
    model: mm.ManifestModel | None = None
    model_weeks: list[int] = []
    weeks: list[dict[str, Any]] = []
    for week in range(month.weeks):
        fs = [f for f in all_filings if f.week == week]
        rows, severity = [], []
        for f in fs:
            c = f.consignment
            a = assess(c, f.conveyance, f.kind, f.received_at, history_of(c, stats.get), settings)
            rows.append(mm.features(c, a, stats, settings))
            severity.append(rows[-1][mm.COLUMN["rule_severity"]])
            stats.observe(c)
        x = mm.matrix(rows)
        y = np.array([f.offence for f in fs], dtype=bool)
        n = len(fs)
        quota = max(1, int(round(budget * n)))
        sev = np.array(severity)
        tie = np.array([rng.random() for _ in range(n)])
        rules_order = np.lexsort((tie, -sev))  # most severe first, ties at random
        rules_pick = rules_order[:quota]
        scores = model.score(x) if model is not None else None
        # deployed: do_not_load first, then the model's score (the rules' order before a model exists)
        deployed_order = np.lexsort((-scores, -(sev >= 3).astype(float))) if scores is not None else rules_order
        k_top = int(round(quota * (1 - explore_share)))
        top = deployed_order[:k_top]
        rest = deployed_order[k_top:]
        explored = np.array(rng.sample(list(rest), min(quota - k_top, len(rest))), dtype=int)
        p_explore = len(explored) / len(rest) if len(rest) else 1.0
        deployed = np.concatenate([top, explored])
        random_draw = np.array(rng.sample(range(n), quota), dtype=int)
        prevalence = float(y.mean())
        rules_rate, model_rate = float(y[rules_pick].mean()), float(y[deployed].mean())
        weeks.append({
            "week": week, "history": week < month.history_weeks, "filings": n, "offences": int(y.sum()),
            "referred": quota, "random_hit_rate": round(prevalence, 4),
            "random_draw_hit_rate": round(float(y[random_draw].mean()), 4),
            "rules_hit_rate": round(rules_rate, 4), "model_hit_rate": round(model_rate, 4),
            "rules_ratio": round(rules_rate / prevalence, 2) if prevalence else None,
            "model_ratio": round(model_rate / prevalence, 2) if prevalence else None,
            "model_used": scores is not None, "trained_on_weeks": sorted(set(model_weeks)),
            "rules_referred_total": int((sev >= 1).sum()),
            "referred_digest": hashlib.sha256(" ".join(sorted(fs[int(i)].consignment.transport_document_no
                                                               for i in deployed)).encode()).hexdigest()[:16],
        })
        # the week's referred outcomes become known at its end (selective labels)
        for i, p in [(int(i), 1.0) for i in top] + [(int(i), p_explore) for i in explored]:
            labelled_x.append(rows[i])
            labelled_y.append(float(y[i]))
            labelled_p.append(p)
            labelled_week.append(week)
            for key, v in mm.outcome_observations(fs[i].consignment, bool(y[i])):
                stats.add(key, v)
        if week + 1 >= month.history_weeks and week + 1 <= month.weeks:
            model_weeks = sorted(set(labelled_week))
            try:
                if sum(labelled_y) < min_offences:
                    raise ValueError("too few offences found yet to train on")
                model = mm.train(mm.matrix(labelled_x), np.array(labelled_y), np.array(labelled_p), recent=x,
                                 budget=budget, trained_on=f"weeks {model_weeks[0]}-{model_weeks[-1]}, "
                                 f"{len(labelled_y)} referred consignments (simulated)")
            except ValueError:
                model, model_weeks = None, []
    month_weeks = [w for w in weeks if not w["history"]]
    ratios = [w["model_ratio"] for w in month_weeks if w["model_ratio"] is not None]
    rules_ratios = [w["rules_ratio"] for w in month_weeks if w["rules_ratio"] is not None]
    if save_model is not None and model is not None:
        model.save(save_model)
    return {"weekly_hit_ratio_min": min(ratios) if ratios else None,
            "rules_weekly_hit_ratio_min": min(rules_ratios) if rules_ratios else None,
            "budget": budget, "explore_share": explore_share, "weeks": weeks,
            "labelled_rows": len(labelled_y), "synthetic": True}
