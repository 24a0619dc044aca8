"""A DATE-style model for novel goods on KCS beside the shipped novel-goods booster, same run (issue #17).

DATE (Kim et al., KDD 2020): a gradient-boosted forest's leaf per tree becomes a token, tokens are embedded and
a query from the declaration's categorical embeddings attends over them; two heads, offence and revenue
(``smartcustoms.risk.date_model``, PyTorch, CPU, one thread). Here the forest is the shipped novel-goods
booster (``NOVEL_FEATURES``, ``NOVEL_PARAMS``, 300 trees of 7 leaves, trained on the first-seen rows) or a
plain one (``--leaves plain``: 100 trees of 15 leaves on the same rows and inputs); the categoricals are HS2 /
HS4 / HS6 (summed), origin, office, importer and declarant; the revenue target is log(1 + duty recovered).

Protocol per split, per seed: the DATE model learns from the rows the novel-goods booster learns from (training
rows whose exact (HS6, value, mass) triple had never been declared before). Phase 1: booster and network on the
first 85 % of those rows (time order), the network's epochs chosen by early stopping on the last 15 % (a slice
of the training period; never the test quarter). Phase 2: booster (= the shipped novel-goods booster of that
seed) and network retrained on all of them for that many epochs. Test outcomes stay hidden; "novel" = test rows
whose triple is in no training row (``risk.evaluate.novel_goods``), ranked by

* booster: the novel-goods booster (what ``RiskModel`` gives those rows);
* DATE: the network;
* blend: the mean of the two ranks.

Each is the mean rank of ``--seeds`` models (the booster's too, so both are equally averaged); "seed mean" is
the mean of the per-seed AUCs. dAUC / dP@10 are against the booster on the same rows, with a paired bootstrap
standard error (500 resamples of the novel test rows). Overall (target splits): ``RiskModel(seed=first seed)``
(the live two-part model) against the same model with the rows it gates to the novel-goods booster
(``hs6_value_mass_inspections == 0``) scored by DATE, or by the blend mapped onto the booster's probabilities
(same distribution, the blend's order). Splits: the inner selection split Jan-Jun -> Jul-Sep 2020 (choices are
made there only), then the two target splits of ``bench/risk_novel.py``.

    nice -n 10 .venv/bin/python bench/risk_date.py [--seeds 0 1 2] [--leaves novel|plain] [--self-attention]
        [--revenue-weight 0.1] [--dim 16] [--no-inner] [--inner-only]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import polars as pl
import torch

from risk_novel import splits
from risk_novel_variants import Split, auc_se, inner_split
from smartcustoms.risk.datasets.kcs import default_kcs_dir
from smartcustoms.risk.date_model import CATEGORICALS, DateConfig, DateData, Vocabulary, fit, leaf_tokens, predict
from smartcustoms.risk.evaluate import auc, metrics_at
from smartcustoms.risk.offence_model import NOVEL_FEATURES, NOVEL_GATE, NOVEL_PARAMS, NOVEL_ROUNDS, RiskModel

VALID_SHARE = 0.15  # the last share of the DATE model's training rows (time order) that early stopping reads
LEAVES = {  # forest whose leaves are the tokens: (params, rounds)
    "novel": (NOVEL_PARAMS, NOVEL_ROUNDS),
    "plain": ({**NOVEL_PARAMS, "num_leaves": 15, "learning_rate": 0.1, "extra_trees": False}, 100),
}
BOOTSTRAP = 500
DROPPED: set[str] = set()  # categorical inputs left out (every row "unknown"), --drop


def categoricals(frame: pl.DataFrame) -> dict[str, list[str | None]]:
    """The model's categorical inputs of item rows (KCS canonical frame)."""
    hs = frame["hs_code"].cast(pl.Utf8)
    columns: dict[str, list[str | None]] = {
        "hs2": hs.str.slice(0, 2).to_list(),
        "hs4": hs.str.slice(0, 4).to_list(),
        "hs6": hs.str.slice(0, 6).to_list(),
        "origin": frame["origin_country"].cast(pl.Utf8).to_list(),
        "office": frame["office_code"].cast(pl.Utf8).to_list(),
        "importer": frame["importer_code"].cast(pl.Utf8).to_list(),
        "declarant": frame["declarant_code"].cast(pl.Utf8).to_list(),
    }
    return {k: [None] * frame.height if k in DROPPED else v for k, v in columns.items()}


def _take(columns: dict[str, list[str | None]], rows: np.ndarray) -> dict[str, list[str | None]]:
    return {k: [v[i] for i in rows] for k, v in columns.items()}


class Prepared:
    """A split's inputs for the DATE model: novel-booster matrix, categoricals, revenue target."""

    def __init__(self, s: Split) -> None:
        self.s = s
        self.x_train = s.train_f.select([pl.col(c).cast(pl.Float64) for c in NOVEL_FEATURES]).to_numpy()
        self.x_test = s.test_f.select([pl.col(c).cast(pl.Float64) for c in NOVEL_FEATURES]).to_numpy()
        self.cats_train, self.cats_test = categoricals(s.train), categoricals(s.test)
        self.rows = np.flatnonzero(s.first)  # time order (the frames are time-sorted)
        log_duty = np.log1p(s.train["duty_recovered"].fill_null(0.0).to_numpy())
        self.revenue = log_duty / max(float(log_duty[self.rows].std()), 1e-9)
        self.gated = s.test_f[NOVEL_GATE].fill_null(0).to_numpy() == 0

    def data(self, booster: lgb.Booster, vocab: Vocabulary, rows: np.ndarray | None) -> DateData:
        """Training rows ``rows`` (None: every test row, outcomes unknown) as network inputs."""
        if rows is None:
            tokens, _ = leaf_tokens(booster, self.x_test)
            n = len(tokens)
            return DateData(tokens, vocab.encode(self.cats_test), np.zeros(n), np.zeros(n))
        tokens, _ = leaf_tokens(booster, self.x_train[rows])
        return DateData(tokens, vocab.encode(_take(self.cats_train, rows)), self.s.y[rows], self.revenue[rows])


def train_forest(p: Prepared, rows: np.ndarray, leaves: str, seed: int) -> lgb.Booster:
    params, rounds = LEAVES[leaves]
    data = lgb.Dataset(p.x_train[rows], p.s.y[rows], feature_name=list(NOVEL_FEATURES), params={"verbose": -1})
    return lgb.train({**params, "seed": seed}, data, num_boost_round=rounds)


def run_seed(p: Prepared, config: DateConfig, leaves: str, seed: int) -> dict[str, Any]:
    """Phases 1 and 2 for one seed: test-row scores of the network and of the novel-goods booster."""
    t0 = time.perf_counter()
    cut = int(len(p.rows) * (1 - VALID_SHARE))
    fit_rows, valid_rows = p.rows[:cut], p.rows[cut:]
    forest = train_forest(p, fit_rows, leaves, seed)
    vocab = Vocabulary.fit(_take(p.cats_train, fit_rows), config.min_count)
    _, n_tokens = leaf_tokens(forest, p.x_train[:1])
    _, epochs = fit(p.data(forest, vocab, fit_rows), n_tokens, vocab.sizes(), config, seed=seed,
                    valid=p.data(forest, vocab, valid_rows))  # fmt: skip
    forest = train_forest(p, p.rows, leaves, seed)
    vocab = Vocabulary.fit(_take(p.cats_train, p.rows), config.min_count)
    _, n_tokens = leaf_tokens(forest, p.x_train[:1])
    net, _ = fit(p.data(forest, vocab, p.rows), n_tokens, vocab.sizes(), config, seed=seed, epochs=epochs)
    booster = forest if leaves == "novel" else train_forest(p, p.rows, "novel", seed)
    return {"date": predict(net, p.data(forest, vocab, None)), "booster": np.asarray(booster.predict(p.x_test)),
            "epochs": epochs, "seconds": time.perf_counter() - t0}  # fmt: skip


def _rank(a: np.ndarray) -> np.ndarray:
    return np.asarray(pl.Series(a).rank("average").to_numpy()) / len(a)


def p_at_10(scores: np.ndarray, y: np.ndarray) -> float:
    return float(metrics_at(scores, y, ks=(10,))["precision_at"]["10"])


def paired(a: np.ndarray, b: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """AUC and P@10 of ``a`` minus ``b`` on the same rows, each with a paired bootstrap standard error."""
    rng = np.random.default_rng(0)
    d_auc, d_p10 = [], []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(y), len(y))
        d_auc.append(auc(a[i], y[i]) - auc(b[i], y[i]))
        d_p10.append(p_at_10(a[i], y[i]) - p_at_10(b[i], y[i]))
    return {"d_auc": auc(a, y) - auc(b, y), "d_auc_se": float(np.nanstd(d_auc)),
            "d_p10": p_at_10(a, y) - p_at_10(b, y), "d_p10_se": float(np.std(d_p10))}  # fmt: skip


def evaluate_split(s: Split, config: DateConfig, leaves: str, seeds: list[int], overall: bool) -> dict[str, Any]:
    p = Prepared(s)
    runs = []
    for seed in seeds:
        runs.append(run_seed(p, config, leaves, seed))
        print(f"  {s.name}: seed {seed}, {runs[-1]['epochs']} epochs, {runs[-1]['seconds']:.0f} s", file=sys.stderr)
    y = s.y_novel.astype(np.float64)
    scores = {name: np.mean([_rank(r[name][s.novel]) for r in runs], axis=0) for name in ("booster", "date")}
    scores["blend"] = (scores["booster"] + scores["date"]) / 2
    per_seed = {
        "booster": [auc(r["booster"][s.novel], y) for r in runs],
        "date": [auc(r["date"][s.novel], y) for r in runs],
        "blend": [auc(_rank(r["booster"][s.novel]) + _rank(r["date"][s.novel]), y) for r in runs],
    }
    out: dict[str, Any] = {"n_novel": int(s.novel.sum()), "random": float(y.mean()), "novel": {},
                           "epochs": [r["epochs"] for r in runs]}  # fmt: skip
    for name, sc in scores.items():
        area = auc(sc, y)
        top = max(1, round(len(y) / 10))
        p10 = p_at_10(sc, y)
        out["novel"][name] = {
            "auc": area, "auc_se": auc_se(area, y), "auc_seed_mean": float(np.mean(per_seed[name])),
            "p5": float(metrics_at(sc, y, ks=(5,))["precision_at"]["5"]), "p10": p10,
            "p10_se": math.sqrt(p10 * (1 - p10) / top),
            **({} if name == "booster" else paired(sc, scores["booster"], y)),
        }  # fmt: skip
    if overall:
        out["overall"] = overall_figures(s, p, runs, seeds[0])
    return out


def overall_figures(s: Split, p: Prepared, runs: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """Every test row: the live two-part model, and the same with its novel-goods rows scored by DATE / blend."""
    model = RiskModel(seed=seed).fit(s.train_f, s.y)
    live = model.predict_proba(s.test_f)
    g = p.gated
    date_p = np.mean([r["date"] for r in runs], axis=0)
    with_date = live.copy()
    with_date[g] = date_p[g]
    blend_rank = _rank(_rank(live[g]) + _rank(date_p[g]))
    with_blend = live.copy()
    with_blend[g] = np.sort(live[g])[np.clip(np.ceil(blend_rank * g.sum()).astype(int) - 1, 0, g.sum() - 1)]
    y = s.test["offence"].fill_null(0).to_numpy().astype(np.float64)
    check = float(np.max(np.abs(live[s.novel] - runs[0]["booster"][s.novel]))) if s.novel.any() else 0.0
    out: dict[str, Any] = {"gated": int(g.sum()), "live_vs_booster_max_diff_on_novel": check}
    for name, sc in (("booster", live), ("date", with_date), ("blend", with_blend)):
        m = metrics_at(sc, y, ks=(5, 10))
        out[name] = {"p5": m["precision_at"]["5"], "p10": m["precision_at"]["10"], "auc": auc(sc, y)}
    return out


def report(name: str, r: dict[str, Any]) -> None:
    print(f"\n== {name}: novel {r['n_novel']:,} (random {r['random']:.3f}); DATE epochs {r['epochs']}")
    print(f"{'':8s} {'AUC +- se':>15s} {'seed mean':>9s} {'P@5':>6s} {'P@10 +- se':>14s} "
          f"{'dAUC +- se':>17s} {'dP@10 +- se':>17s}")  # fmt: skip
    for c, m in r["novel"].items():
        d = (f"{m['d_auc']:+.4f} +- {m['d_auc_se']:.4f} {m['d_p10']:+.4f} +- {m['d_p10_se']:.4f}" if "d_auc" in m
             else f"{'(base)':>17s} {'':>17s}")  # fmt: skip
        print(f"{c:8s} {m['auc']:.3f} +- {m['auc_se']:.3f} {m['auc_seed_mean']:9.3f} {m['p5']:6.3f} "
              f"{m['p10']:.3f} +- {m['p10_se']:.3f} {d}")  # fmt: skip
    if "overall" in r:
        o = r["overall"]
        print(f"overall ({o['gated']:,} rows gated to the novel-goods part; live model vs first seed's booster on "
              f"novel rows: max |diff| {o['live_vs_booster_max_diff_on_novel']:.2g}): "
              + "; ".join(f"{c} P@5 {o[c]['p5']:.3f} P@10 {o[c]['p10']:.3f} AUC {o[c]['auc']:.3f}"
                          for c in ("booster", "date", "blend")))  # fmt: skip


def main() -> None:
    kcs = default_kcs_dir()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", type=Path, default=kcs / "train.csv")
    ap.add_argument("--test", type=Path, default=kcs / "valid.csv")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--leaves", choices=sorted(LEAVES), default="novel")
    ap.add_argument("--self-attention", action="store_true")
    ap.add_argument("--revenue-weight", type=float, default=DateConfig.revenue_weight)
    ap.add_argument("--dim", type=int, default=DateConfig.dim)
    ap.add_argument("--lr", type=float, default=DateConfig.lr)
    ap.add_argument("--weight-decay", type=float, default=DateConfig.weight_decay)
    ap.add_argument("--dropout", type=float, default=DateConfig.dropout)
    ap.add_argument("--min-count", type=int, default=DateConfig.min_count)
    ap.add_argument("--drop", nargs="*", default=[], choices=CATEGORICALS, help="categorical inputs left out")
    ap.add_argument("--no-inner", action="store_true", help="skip the inner selection split")
    ap.add_argument("--inner-only", action="store_true", help="only the inner selection split")
    args = ap.parse_args()
    if not args.train.exists() or not args.test.exists():
        sys.exit(f"KCS data not found at {args.train.parent} (set SMARTCUSTOMS_KCS_DIR)")
    torch.set_num_threads(1)
    config = replace(DateConfig(), self_attention=args.self_attention, revenue_weight=args.revenue_weight,
                     dim=args.dim, lr=args.lr, weight_decay=args.weight_decay, dropout=args.dropout,
                     min_count=args.min_count)  # fmt: skip
    DROPPED.update(args.drop)
    print(f"DATE-style model: leaves {args.leaves}, {config}; categoricals left out: {sorted(DROPPED) or 'none'}; "
          f"seeds {args.seeds}; torch {torch.__version__}")  # fmt: skip
    todo: list[tuple[Split, bool]] = [] if args.no_inner else [(inner_split(args.train), False)]
    if not args.inner_only:
        todo += [(Split(n, tr, te), True) for n, (tr, te) in splits(args.train, args.test).items()]
    for s, overall in todo:
        t0 = time.perf_counter()
        r = evaluate_split(s, config, args.leaves, args.seeds, overall)
        report(f"{s.name} ({time.perf_counter() - t0:.0f} s)", r)
        sys.stdout.flush()


if __name__ == "__main__":
    main()
