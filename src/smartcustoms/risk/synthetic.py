"""Seeded synthetic goods-item frames for tests and benchmarks of the risk pipeline.

Not a realistic simulator (that is ``smartcustoms.simulate``): just canonical item frames of any
size with skewed party activity, per-HS price levels and offences that depend on a hidden per-importer
propensity and on undervaluation, so that history features carry signal.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import polars as pl

from smartcustoms.risk.frame import DEFAULT_OUTCOME_LAG, conform

COUNTRIES = ("CN", "VN", "US", "DE", "JP", "KR", "IN", "TH", "MY", "ID", "IT", "FR", "GB", "TR", "MX")


def _zipf_ids(rng: np.random.Generator, n: int, k: int, prefix: str, a: float = 1.3) -> np.ndarray:
    ranks = np.minimum(rng.zipf(a, n), k) - 1
    perm = rng.permutation(k)  # so that id order carries no signal
    return np.char.add(prefix, perm[ranks].astype(str))


def item_frame(
    n: int,
    *,
    seed: int = 0,
    start: datetime = datetime(2024, 1, 1),
    days: float = 365.0,
    importers: int | None = None,
    outcome_lag: timedelta = DEFAULT_OUTCOME_LAG,
) -> pl.DataFrame:
    """``n`` time-sorted, labelled item rows (one item per declaration), deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    importers = importers or max(10, n // 20)
    t = np.sort(rng.uniform(0, days * 86_400, n))
    importer = _zipf_ids(rng, n, importers, "IM")
    imp_idx = np.char.lstrip(importer, "IM").astype(np.int64)
    propensity = np.random.default_rng(seed + 1).beta(1.0, 6.0, importers)[imp_idx]
    hs_pool = np.char.zfill(rng.integers(10_000, 970_000, max(20, min(5000, n // 50))).astype(str), 6)
    hs = hs_pool[np.minimum(rng.zipf(1.2, n), len(hs_pool)) - 1]
    price_level = 4.0 + (hs.astype(np.int64) % 97) / 20.0
    origin = np.asarray(COUNTRIES)[np.minimum(rng.zipf(1.5, n), len(COUNTRIES)) - 1]
    same = rng.random(n) < 0.8
    departure = np.where(same, origin, np.asarray(COUNTRIES)[rng.integers(0, len(COUNTRIES), n)])
    mass = np.round(np.exp(rng.normal(4.0, 1.5, n)), 1)
    under = rng.random(n) < 0.15
    log_uv = price_level + rng.normal(0, 0.4, n) - np.where(under, rng.uniform(0.7, 2.0, n), 0.0)
    value = np.round(np.exp(log_uv) * mass, 2)
    tax_rate = np.asarray([0.0, 5.0, 8.0, 13.0])[hs.astype(np.int64) % 4]
    logit = -2.2 + 4.0 * propensity + 1.8 * under + 0.2 * (tax_rate > 5)
    offence = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int8)
    critical = np.where(offence == 1, np.where(rng.random(n) < 0.1, 2, 1), 0).astype(np.int8)
    declared = np.datetime64(start, "us") + (t * 1e6).astype("timedelta64[us]")
    frame = pl.DataFrame(
        {
            "declaration_no": np.char.add("D", np.arange(n).astype(str)),
            "item_no": np.ones(n, np.int64),
            "declared_at": declared,
            "office_code": np.asarray(["2200", "2201", "5100", "5300", "4200"])[rng.integers(0, 5, n)],
            "trade_mode": np.where(rng.random(n) < 0.8, "0110", "9610"),
            "transport_mode": np.asarray(["2", "4", "5"])[rng.integers(0, 3, n)],
            "declarant_code": _zipf_ids(rng, n, max(5, importers // 10), "DC", 1.1),
            "importer_code": importer,
            "seller_code": _zipf_ids(rng, n, importers, "SL"),
            "has_seller": rng.random(n) < 0.9,
            "courier_code": _zipf_ids(rng, n, 20, "CR", 1.5),
            "has_courier": rng.random(n) < 0.2,
            "hs_code": hs,
            "origin_country": origin,
            "departure_country": departure,
            "tax_type": np.where(rng.random(n) < 0.7, "A", "FTA"),
            "tax_rate": tax_rate,
            "net_mass_kg": mass,
            "customs_value": value,
            "offence": offence,
            "critical": critical,
            "duty_recovered": offence * value * tax_rate / 100.0,
        }
    )
    frame = frame.with_columns(
        (pl.col("declared_at") + outcome_lag).alias("outcome_at"),
        pl.when(pl.col("has_seller")).then(pl.col("seller_code")).alias("seller_code"),
        pl.when(pl.col("has_courier")).then(pl.col("courier_code")).alias("courier_code"),
    )
    return conform(frame)
