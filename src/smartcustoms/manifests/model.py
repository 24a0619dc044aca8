"""The pre-loading model beside the rules: LightGBM over manifest features, with its reasons in words.

Features of one consignment (:func:`features`) are read point in time from history aggregates (the same
``manifest_history_stat`` table the rules read, with a few more keys, see :func:`history_keys` and
:func:`observations`): shipper and consignee filings and their pair, the shipper's past referral outcomes
(:func:`outcome_observations`, added when an officer decides a referral), whether the route is new for the
shipper, transshipment, how often the goods description came with this HS heading before, weight per package
against the usual for the goods, value per kg, risk words of the description (English and Chinese) and a
hashed bag of its words, and the rules' own findings.

The model is trained on referred consignments only (selective labels), each weighted by the inverse of its
selection probability (:mod:`smartcustoms.risk.propensity`). Its scores above the threshold that fills the
referral budget become ``request_for_information`` (above the higher threshold ``request_for_screening``), with
the features that pushed the score most (LightGBM ``pred_contrib``) named in English and Chinese. It never
lowers a rule's outcome, and ``do_not_load`` stays with the rules.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from smartcustoms.manifests.rules import (
    ManifestSettings,
    WeightStats,
    _has,
    _is_vague,
    goods_key,
    log_kg_per_package,
    party_key,
)
from smartcustoms.manifests.schemas import SEVERITY, Assessment, Consignment, Outcome
from smartcustoms.risk.propensity import ipw_weights, self_normalised

if TYPE_CHECKING:  # LightGBM is imported when a model is trained or loaded, not with the ingest
    import lightgbm as lgb

_WORD = re.compile(r"[a-z]+|[\u4e00-\u9fff]")
HASH_BINS = 16
#: risk-term groups of goods descriptions (English words, Chinese characters or words)
TERMS: list[tuple[str, tuple[str, ...], str, str]] = [
    ("term_accessories", ("accessories", "accessory", "配件"), "'accessories' in the goods description",
     "货物描述含“配件”"),
    ("term_electronic", ("electronic", "electronics", "phone", "电子"), "electronics words in the goods description",
     "货物描述含电子产品词语"),
    ("term_battery", ("battery", "batteries", "lithium", "power", "电池", "锂"),
     "battery words in the goods description", "货物描述含电池词语"),
    ("term_textile", ("cotton", "shirts", "t", "trousers", "denim", "linen", "yarn", "棉", "纺"),
     "textile words in the goods description", "货物描述含纺织品词语"),
    ("term_plastic", ("plastic", "toys", "boxes", "塑料", "玩具"), "plastics or toys words in the goods description",
     "货物描述含塑料或玩具词语"),
    ("term_parts", ("parts", "spare", "零件"), "'parts' in the goods description", "货物描述含“零件”"),
]

#: (name, English words, Chinese words) of every feature, in column order
FEATURES: list[tuple[str, str, str]] = [
    ("rule_severity", "the rules' own finding", "规则评估结果"),
    ("shipper_filings", "the shipper's filings so far", "发货人以往申报次数"),
    ("consignee_filings", "the consignee's filings so far", "收货人以往申报次数"),
    ("pair_filings", "filings between this shipper and consignee so far", "该发货人与收货人以往往来次数"),
    ("shipper_decided", "the shipper's referrals decided so far", "发货人以往被布控并已处理的次数"),
    ("shipper_hit_rate", "the share of the shipper's decided referrals that found an offence",
     "发货人以往布控查获比例"),
    ("consignee_hit_rate", "the share of the consignee's decided referrals that found an offence",
     "收货人以往布控查获比例"),
    ("route_filings", "the shipper's filings on this route so far", "发货人在该航线上的以往申报次数"),
    ("transit_places", "the number of transshipment places", "中转地数量"),
    ("transit_listed", "a transshipment place on the high-risk list", "中转地在高风险名单上"),
    ("weight_z_abs", "how far the weight per package is from the usual for the goods",
     "每件毛重偏离该类货物通常重量的程度"),
    ("weight_z", "the weight per package against the usual for the goods (heavier or lighter)",
     "每件毛重相对通常重量（偏重或偏轻）"),
    ("description_hs_share", "how often this goods description came with this HS heading before",
     "该货物描述以往与该税号同时出现的比例"),
    ("description_filings", "how often this goods description was filed before", "该货物描述以往出现次数"),
    ("hs_missing", "the share of goods items without an HS code", "未申报税号的货物项比例"),
    ("hs_chapter", "the HS chapter of the goods", "货物税号章"),
    ("dg_word_without_un", "a dangerous-goods word without a UN number", "含危险品词语但未申报联合国编号"),
    ("un_declared", "a UN dangerous-goods number declared", "申报了联合国危险货物编号"),
    ("vague_description", "a vague goods description", "货物描述笼统"),
    ("late", "a late filing", "申报迟延"),
    ("log_kg_per_package", "the weight per package", "每件毛重"),
    ("log_value_per_kg", "the declared value per kg", "每千克申报价值"),
    ("items", "the number of goods items", "货物项数"),
    *((t[0], t[2], t[3]) for t in TERMS),
    *((f"word_hash_{i}", f"goods-description words (group {i})", f"货物描述用词（第{i}组）")
      for i in range(HASH_BINS)),
]
NAMES = [f[0] for f in FEATURES]
COLUMN = {n: i for i, n in enumerate(NAMES)}


@lru_cache(maxsize=8192)
def _desc_key(description: str) -> str:
    return " ".join(_WORD.findall(description.lower())[:4])


@lru_cache(maxsize=1)
def _term_index() -> dict[str, tuple[int, ...]]:
    """Each risk-term word with the :data:`TERMS` groups it belongs to."""
    out: dict[str, list[int]] = {}
    for i, t in enumerate(TERMS):
        for w in t[1]:
            out.setdefault(w, []).append(i)
    return {w: tuple(ix) for w, ix in out.items()}


@lru_cache(maxsize=8192)
def _words_profile(description: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A goods description's word-hash bins (one a word, repeats kept) and the risk-term groups it names (goods
    descriptions repeat: computed once per distinct description)."""
    words = _WORD.findall(description.lower())
    index = _term_index()
    return (tuple(zlib.crc32(w.encode()) % HASH_BINS for w in words),
            tuple(sorted({i for w in words for i in index.get(w, ())})))


def _route(c: Consignment) -> str:
    return ">".join([c.loading_place or "?", *c.transit_places])


def history_keys(c: Consignment) -> set[str]:
    """Every history aggregate the features of ``c`` read (the rules' keys included)."""
    sk, ck = party_key(c.shipper), party_key(c.consignee)
    keys = {k for k in (sk, ck) if k}
    keys |= {"hit:" + k for k in (sk, ck) if k}
    if sk and ck:
        keys.add(f"pair:{sk}|{ck}")
    if sk:
        keys.add(f"route:{sk}|{_route(c)}")
    for it in c.items:
        if (g := goods_key(it)) is not None:
            keys.add(g)
        d = _desc_key(it.description)
        keys.add("dsc:" + d)
        if it.hs_code:
            keys.add(f"deschs:{d}|{it.hs_code[:4]}")
    return keys


def observations(c: Consignment) -> list[str]:
    """The count-only aggregates a filing of ``c`` adds to, beyond the rules' (party filings, goods weights)."""
    sk, ck = party_key(c.shipper), party_key(c.consignee)
    out = []
    if sk and ck:
        out.append(f"pair:{sk}|{ck}")
    if sk:
        out.append(f"route:{sk}|{_route(c)}")
    for it in c.items:
        d = _desc_key(it.description)
        out.append("dsc:" + d)
        if it.hs_code:
            out.append(f"deschs:{d}|{it.hs_code[:4]}")
    return out


def history_observations(c: Consignment) -> list[tuple[str, float | None]]:
    """Everything one filing of ``c`` adds to the history aggregates, for the live ingest and the replay alike:
    ``(key, None)`` counts a filing (shipper, consignee, the model's keys), ``(key, x)`` adds a sample ``x`` (log
    kg per package of a goods item) to its goods' statistics."""
    out: list[tuple[str, float | None]] = [(k, None) for k in {party_key(c.shipper), party_key(c.consignee)} if k]
    for it in c.items:
        k, x = goods_key(it), log_kg_per_package(it)
        if k is not None and x is not None:
            out.append((k, x))
    out.extend((k, None) for k in observations(c))
    return out


class HistoryStats(dict[str, WeightStats]):
    """History aggregates kept in memory, as ``manifest_history_stat`` keeps them (a replay's, a retraining's)."""

    def count(self, key: str) -> None:
        """One more filing of ``key``."""
        st = self.get(key)
        self[key] = WeightStats(st.n + 1, st.mean, st.m2) if st else WeightStats(1, 0.0, 0.0)

    def add(self, key: str, x: float) -> None:
        """One more sample ``x`` of ``key`` (Welford)."""
        st = self.get(key) or WeightStats(0, 0.0, 0.0)
        n = st.n + 1
        d = x - st.mean
        mean = st.mean + d / n
        self[key] = WeightStats(n, mean, st.m2 + d * (x - mean))

    def observe(self, c: Consignment) -> None:
        """What one filing of ``c`` adds (:func:`history_observations`)."""
        for k, x in history_observations(c):
            if x is None:
                self.count(k)
            else:
                self.add(k, x)


def outcome_observations(c: Consignment, offence_found: bool) -> list[tuple[str, float]]:
    """What a decided referral of ``c`` adds: 1 (offence found) or 0 to its shipper's and consignee's record."""
    return [("hit:" + k, 1.0 if offence_found else 0.0)
            for k in (party_key(c.shipper), party_key(c.consignee)) if k]


def features(c: Consignment, a: Assessment, stats: Mapping[str, WeightStats], s: ManifestSettings) -> list[float]:
    """One consignment's feature row (column order :data:`NAMES`), from the aggregates as they were before it."""
    nan = math.nan
    row = [nan] * len(NAMES)

    def n(key: str | None) -> int:
        st = stats.get(key) if key else None
        return st.n if st else 0

    def rate(key: str | None) -> float:
        st = stats.get("hit:" + key) if key else None
        return st.mean if st and st.n else nan

    sk, ck = party_key(c.shipper), party_key(c.consignee)
    row[COLUMN["rule_severity"]] = SEVERITY[a.outcome]
    row[COLUMN["shipper_filings"]] = math.log1p(n(sk))
    row[COLUMN["consignee_filings"]] = math.log1p(n(ck))
    row[COLUMN["pair_filings"]] = math.log1p(n(f"pair:{sk}|{ck}")) if sk and ck else nan
    row[COLUMN["shipper_decided"]] = math.log1p(n("hit:" + sk)) if sk else nan
    row[COLUMN["shipper_hit_rate"]] = rate(sk)
    row[COLUMN["consignee_hit_rate"]] = rate(ck)
    row[COLUMN["route_filings"]] = math.log1p(n(f"route:{sk}|{_route(c)}")) if sk else nan
    row[COLUMN["transit_places"]] = len(c.transit_places)
    risky = {p.upper() for p in s.high_risk_places}
    row[COLUMN["transit_listed"]] = float(any(p.upper() in risky or p[:2].upper() in risky
                                              for p in c.transit_places))
    best_z, shares, seen, hs_missing = nan, [], [], 0
    dg = un = vague = 0.0
    bins = [0.0] * HASH_BINS
    terms = [0.0] * len(TERMS)
    for it in c.items:
        g, x = goods_key(it), log_kg_per_package(it)
        st = stats.get(g) if g else None
        if x is not None and st is not None and st.n >= 5:
            z = st.z(x)
            if math.isnan(best_z) or abs(z) > abs(best_z):
                best_z = z
        d = _desc_key(it.description)
        nd = n("dsc:" + d)
        seen.append(math.log1p(nd))
        if it.hs_code:
            if nd:
                shares.append(n(f"deschs:{d}|{it.hs_code[:4]}") / nd)
        else:
            hs_missing += 1
        if it.un_number:
            un = 1.0
        elif _has(it.description, s.dangerous_goods_words):
            dg = 1.0
        if _is_vague(it.description, s.vague_words):
            vague = 1.0
        word_bins, named = _words_profile(it.description)
        for b in word_bins:
            bins[b] += 1.0
        for i in named:
            terms[i] = 1.0
    first = c.items[0] if c.items else None
    row[COLUMN["weight_z_abs"]] = abs(best_z)
    row[COLUMN["weight_z"]] = best_z
    row[COLUMN["description_hs_share"]] = min(shares) if shares else nan
    row[COLUMN["description_filings"]] = min(seen) if seen else nan
    row[COLUMN["hs_missing"]] = hs_missing / len(c.items) if c.items else nan
    row[COLUMN["hs_chapter"]] = float(first.hs_code[:2]) if first and first.hs_code and \
        first.hs_code[:2].isdigit() else nan
    row[COLUMN["dg_word_without_un"]] = dg
    row[COLUMN["un_declared"]] = un
    row[COLUMN["vague_description"]] = vague
    row[COLUMN["late"]] = float(a.late)
    lk = log_kg_per_package(first) if first else None
    row[COLUMN["log_kg_per_package"]] = lk if lk is not None else nan
    kg = float(c.gross_mass_kg) if c.gross_mass_kg else sum(float(it.gross_mass_kg or 0) for it in c.items)
    row[COLUMN["log_value_per_kg"]] = math.log(float(c.value) / kg) if c.value and kg > 0 else nan
    row[COLUMN["items"]] = len(c.items)
    t0 = COLUMN[TERMS[0][0]]
    row[t0:t0 + len(TERMS)] = terms
    h0 = COLUMN["word_hash_0"]
    row[h0:h0 + HASH_BINS] = bins
    return row


@dataclass(frozen=True, slots=True)
class Advice:
    """The model's word on one consignment: its score, the outcome it asks for (None: nothing) and why."""
    score: float
    outcome: Outcome | None
    reasons: list[str]
    reasons_zh: list[str]


PARAMS = {"objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 10,
          "min_sum_hessian_in_leaf": 1e-3, "feature_fraction": 0.8, "bagging_fraction": 0.8, "bagging_freq": 1,
          "lambda_l2": 1.0, "verbose": -1, "num_threads": 1, "deterministic": True, "seed": 7}


@dataclass
class ManifestModel:
    """A trained booster with the score thresholds that fill the referral budget."""
    booster: lgb.Booster
    threshold_information: float  # scores at or above: request for information (the referral budget)
    threshold_screening: float  # scores at or above: request for screening (the top part of the budget)
    trained_on: str  # what it was trained on, in words (e.g. "weeks 0-2, 412 referred consignments")
    max_reasons: int = 3

    def score(self, x: np.ndarray) -> np.ndarray:
        """Offence probability of each row (one model call for all rows)."""
        if len(x) == 0:
            return np.zeros(0)
        return np.asarray(self.booster.predict(x, num_threads=1), dtype=np.float64)

    def advise(self, x: np.ndarray) -> list[Advice]:
        """Score every row and, for those at or above the budget's threshold, the outcome and the reasons."""
        scores = self.score(x)
        out: list[Advice] = [Advice(float(p), None, [], []) for p in scores]
        hot = np.flatnonzero(scores >= self.threshold_information)
        if len(hot):
            contrib = np.asarray(self.booster.predict(x[hot], pred_contrib=True, num_threads=1))[:, :-1]
            for r, i in enumerate(hot):
                p = float(scores[i])
                outcome = Outcome.REQUEST_FOR_SCREENING if p >= self.threshold_screening \
                    else Outcome.REQUEST_FOR_INFORMATION
                top = [j for j in np.argsort(-contrib[r])[:self.max_reasons] if contrib[r, j] > 0]
                en = "; ".join(FEATURES[j][1] for j in top)
                zh = "；".join(FEATURES[j][2] for j in top)
                out[i] = Advice(p, outcome, [f"model score {p:.2f} is in the referral budget: {en}"],
                                [f"模型评分{p:.2f}在布控比例之内：{zh}"])
        return out

    def save(self, path: Path) -> None:
        """The booster as LightGBM text at ``path`` and the thresholds beside it (``path`` + ``.json``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.booster.save_model(str(path))
        Path(str(path) + ".json").write_text(json.dumps({
            "features": NAMES, "threshold_information": self.threshold_information,
            "threshold_screening": self.threshold_screening, "trained_on": self.trained_on}))

    def to_bytes(self) -> bytes:
        """The model as one blob for the registry (``risk_model_versions.blob``): the thresholds, feature names
        and the booster as LightGBM text, in one JSON document."""
        return json.dumps({"features": NAMES, "threshold_information": self.threshold_information,
                           "threshold_screening": self.threshold_screening, "trained_on": self.trained_on,
                           "booster": self.booster.model_to_string()}).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ManifestModel:
        """A model from :meth:`to_bytes`; ValueError when it was made for other features."""
        meta = json.loads(blob)
        if meta.get("features") != NAMES:
            raise ValueError("the stored manifest model was trained on other features")
        import lightgbm as lgb

        return cls(lgb.Booster(model_str=meta["booster"]), float(meta["threshold_information"]),
                   float(meta["threshold_screening"]), str(meta["trained_on"]))

    @classmethod
    def load(cls, path: Path) -> ManifestModel | None:
        """The model saved at ``path``, or None when there is none (or it was made for other features)."""
        meta_path = Path(str(path) + ".json")
        if not path.is_file() or not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text())
        if meta.get("features") != NAMES:
            return None
        import lightgbm as lgb

        return cls(lgb.Booster(model_file=str(path)), float(meta["threshold_information"]),
                   float(meta["threshold_screening"]), str(meta["trained_on"]))


def train(x: np.ndarray, offence: np.ndarray, selection_probability: np.ndarray, *, recent: np.ndarray,
          budget: float = 0.05, screening_share: float = 0.4, rounds: int = 150, trained_on: str = ""
          ) -> ManifestModel:
    """Fit on the referred (labelled) rows ``x`` weighted by inverse selection probability; the thresholds are
    the scores that would have referred ``budget`` of the ``recent`` traffic (its top ``screening_share`` of
    that to screening). ValueError when the labels hold no offence or no innocent consignment."""
    y = np.asarray(offence, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("training needs both offences and innocent consignments among the labelled rows")
    w = self_normalised(ipw_weights(np.asarray(selection_probability), np.ones(len(y), dtype=bool)))
    import lightgbm as lgb

    booster = lgb.train(PARAMS, lgb.Dataset(x, y, weight=w, feature_name=NAMES, free_raw_data=True),
                        num_boost_round=rounds)
    model = ManifestModel(booster, 0.0, 0.0, trained_on)
    scores = np.sort(model.score(recent))[::-1]
    k = max(1, int(round(budget * len(scores))))
    model.threshold_information = float(scores[min(k, len(scores)) - 1]) if len(scores) else 1.0
    ks = max(1, int(round(budget * screening_share * len(scores))))
    model.threshold_screening = float(scores[min(ks, len(scores)) - 1]) if len(scores) else 1.0
    return model


def matrix(rows: Sequence[Sequence[float]]) -> np.ndarray:
    """Feature rows as the float64 matrix the booster reads."""
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(NAMES))
