"""Selectivity policy shared by declarations and parcels: budgets, exploration, credit-grade factors.

Kept free of heavy imports: the CBEC writer processes load it without the model stack.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

GRADE_FACTOR = {"advanced_certified": 0.2, "general_certified": 0.6, "general": 1.0, "discredited": 3.0}
GRADE_WORDS = {
    "advanced_certified": "advanced-certified enterprise (AEO): reduced inspection rate",
    "discredited": "discredited enterprise: increased inspection rate",
}


@dataclass
class SelectivityConfig:
    """The selectivity policy: control budget per office, exploration share, ranking and seed."""

    budget: float = 0.10  # share of declarations an office holds for control, per day
    exploration: float = 0.10  # share of that budget chosen at random
    office_budget: dict[str, float] = field(default_factory=dict)
    window: int = 2000  # recent scores per office that thresholds are taken from
    seed: int = 0
    reasons: int = 3
    ranking: str = "probability"  # or "duty": offence probability × duty at stake

    def budget_for(self, office: str) -> float:
        """The office's budget (its own, or the default)."""
        return self.office_budget.get(office, self.budget)


def key_hashes(keys: Sequence[bytes]) -> np.ndarray:
    """The CRC-32 of each key, what :func:`draws` draws from."""
    return np.fromiter(map(zlib.crc32, keys), np.uint64, len(keys))


def draws(seed: int, stream: int, hashes: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1), one per key hash, fixed by ``seed``, ``stream`` and the key: the same on every
    process and after a restart (the SplitMix64 finaliser over hash and stream; streams independent)."""
    x = hashes + np.uint64((seed * 0x9E3779B97F4A7C15 + (stream + 1) * 0xD1B54A32D192ED03) & 0xFFFFFFFFFFFFFFFF)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return (x >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
