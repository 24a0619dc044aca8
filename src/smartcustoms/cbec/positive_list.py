"""The positive list (正面清单): HS code prefixes allowed for CBEC retail import."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from importlib import resources
from pathlib import Path


class PositiveList:
    """HS codes allowed for CBEC retail import (正面清单), by prefix."""

    def __init__(self, prefixes: Iterable[str]) -> None:
        self.prefixes = frozenset(p.strip() for p in prefixes if p.strip())
        self._lengths = sorted({len(p) for p in self.prefixes}, reverse=True)
        self._cache: dict[str, bool] = {}

    def allows(self, hs: str) -> bool:
        """Is the 10-digit HS code under one of the list's prefixes? (memoised per code)"""
        hit = self._cache.get(hs)
        if hit is None:
            hit = self._cache[hs] = any(hs[:n] in self.prefixes for n in self._lengths)
        return hit

    @classmethod
    def from_csv(cls, path: Path | None = None) -> PositiveList:
        """The list of a CSV with an ``hs_prefix`` column; without ``path``, the packaged ``data/positive_list.csv``."""
        if path is None:
            text = resources.files("smartcustoms.cbec").joinpath("data", "positive_list.csv").read_text("utf-8")
        else:
            text = Path(path).read_text("utf-8")
        return cls(r["hs_prefix"] for r in csv.DictReader(text.splitlines()))
