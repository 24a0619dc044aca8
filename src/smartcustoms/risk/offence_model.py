"""The offence model: seeded LightGBM over the point-in-time features, with reasons in words.

``RiskModel.fit`` takes the feature frame from :func:`smartcustoms.risk.features.state.build_features`
and 0/1 offence labels; ``predict_proba`` returns offence probabilities; ``rank_scores`` returns
either the probability or the expected duty at stake (probability x duty at stake); ``explain``
turns LightGBM's per-feature contributions (``pred_contrib=True``) into customs-English reasons.
``to_bytes``/``from_bytes`` serialise model + vocabulary + metadata for a registry table.
"""

from __future__ import annotations

import json
import math
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import polars as pl

from smartcustoms.risk.calibration import Calibration, fit_calibration
from smartcustoms.risk.features.families import (
    CATEGORICAL_FEATURES,
    FAMILIES,
    FEATURE_NAMES,
    NUMERIC_FEATURES,
    family_feature_names,
)
from smartcustoms.risk.features.rowwise import NUMERIC_INDEX, LiveFeatures
from smartcustoms.risk.features.state import HistoryState, build_features

MODEL_FORMAT = "smartcustoms.risk.RiskModel/2"
#: earlier formats :meth:`RiskModel.from_bytes` still reads (/1: no novel-goods booster)
READABLE_FORMATS = ("smartcustoms.risk.RiskModel/1", MODEL_FORMAT)
Ranking = Literal["probability", "duty"]

DEFAULT_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.06,
    "num_leaves": 31,
    "min_data_in_leaf": 20,
    "feature_fraction": 0.6,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "cat_smooth": 10.0,
    "max_cat_to_onehot": 8,
    "num_threads": 1,  # measured: on the shared 2-core machine 2 threads train ~8x slower (contention)
    "deterministic": True,
    "force_row_wise": True,
    "verbose": -1,
}
# time-based CV inside 2020 (docs/risk.md): 600, 300 (rate 0.03) and 150 (rate 0.06) rounds tie; 150 scores and
# explains twice as fast as 300, four times as fast as 600
DEFAULT_ROUNDS = 150
#: share of the training rows (the most recent) held out to fit the calibration map; the least it needs
CALIBRATION_SHARE = 0.2
CALIBRATION_MIN_ROWS = 500

# -- the novel-goods part (issue #17; docs/risk.md "Novel goods") ------------------------------------------
#: the gate: goods whose exact (HS6, value, net mass) has no known outcome yet are scored by the novel-goods
#: booster; repeats of a triple with known outcomes by the main booster
NOVEL_GATE = "hs6_value_mass_inspections"
#: rows the novel-goods booster learns from: those whose triple had never been declared before
NOVEL_TRAIN_GATE = "hs6_value_mass_count"
#: a compact, strongly regularised model over goods / value / route signals (KCS CV: 27 features, 7 leaves
#: beat 250 features, 15-63 leaves and any share of repeat rows in its training set)
NOVEL_FEATURES: tuple[str, ...] = (
    "hs6_offence_rate",
    "hs4_offence_rate",
    "hs2_offence_rate",
    "hs6_origin_offence_rate",
    "hs6_origin_tax_type_offence_rate",
    "hs6_departure_offence_rate",
    "tax_type_offence_rate",
    "origin_offence_rate",
    "route_offence_rate",
    "log_value",
    "log_mass",
    "log_unit_value",
    "hs6_unit_value_deviation",
    "hs4_unit_value_deviation",
    "hs6_value_deviation",
    "tax_rate",
    "log_duty_at_stake",
    "origin_is_departure",
    "hs6_count",
    "hs4_count",
    "hs6_value_offence_rate",
    "hs6_mass_offence_rate",
    "hs6_value_count",
    "hs6_mass_count",
    "value_offence_rate",
    "value_age_days",
    "hs6_number",
    # reference prices: how far outside the HS6 / HS4 spread and the HS6 x origin median the unit value is
    "hs6_unit_value_z",
    "hs4_unit_value_z",
    "hs6_origin_unit_value_deviation",
)
NOVEL_PARAMS: dict[str, Any] = {
    **DEFAULT_PARAMS,
    "learning_rate": 0.03,
    "num_leaves": 7,
    "min_data_in_leaf": 100,
    "feature_fraction": 0.8,
    # randomised split thresholds: with the three reference-price inputs above, +0.009 / +0.008 novel AUC and
    # +0.04 / +0.05 novel P@10 on KCS's two splits (seeds 0-2; docs/risk.md, "Novel goods")
    "extra_trees": True,
}
NOVEL_ROUNDS = 300
NOVEL_MIN_ROWS = 500  # fewer first-seen training rows (or < 10 offences among them): no novel-goods booster
#: the two-part model is for repeat-dominated training data (KCS: 60% of rows repeat an earlier triple); below
#: this share of repeats the main booster already learns from novel rows and scores every row alone
NOVEL_MIN_REPEAT_SHARE = 0.3

# -- known goods ("B3", issue #17; docs/risk.md "Known goods") ---------------------------------------------
#: goods whose exact (HS6, value, net mass) triple has point-in-time inspections are scored by the triple's
#: plain found-offence rate, the model's probability standing in for KNOWN_GOODS_PRIOR pseudo-inspections:
#: ``(offences + prior * p) / (inspections + prior)``. Small, so the plain rate orders the rows and the model
#: mostly breaks ties and orders small counts (1 of 1 below 5 of 5 at the same model score)
KNOWN_GOODS_INSPECTIONS = "hs6_value_mass_inspections"
KNOWN_GOODS_OFFENCES = "hs6_value_mass_offences"
KNOWN_GOODS_PRIOR = 1.0


@dataclass(frozen=True)
class Reason:
    """One reason a declaration scored high: the feature, its value, its pull on the log-odds."""

    feature: str
    value: float | str | None
    contribution: float
    text: str


@dataclass
class RiskModel:
    """Gradient-boosted offence model over :data:`~smartcustoms.risk.features.families.FEATURE_NAMES`."""

    params: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_PARAMS))
    num_boost_round: int = DEFAULT_ROUNDS
    seed: int = 0
    features: tuple[str, ...] = FEATURE_NAMES
    metadata: dict[str, Any] = field(default_factory=dict)
    booster: lgb.Booster | None = None
    vocabulary: dict[str, list[str]] = field(default_factory=dict)
    #: threads for scoring and explaining (training uses ``params["num_threads"]``); None = the same
    predict_threads: int | None = field(default=None, compare=False)
    _codes: dict[str, dict[str, float]] | None = field(default=None, repr=False, compare=False)
    #: raw score -> calibrated probability (:mod:`smartcustoms.risk.calibration`), fitted in ``fit`` (see
    #: :meth:`_fit_calibration`); None: scores are the booster's raw probabilities (too few rows, old blobs)
    calibration: Calibration | None = None
    calibrate: bool = field(default=True, compare=False)
    #: train the novel-goods booster in ``fit`` (when the features carry :data:`NOVEL_FEATURES` and the gate)
    novel_goods: bool = field(default=True, compare=False)
    #: scores goods whose exact triple has no known outcome (:data:`NOVEL_GATE` = 0); None: main booster only
    novel_booster: lgb.Booster | None = field(default=None, repr=False)
    #: known goods (B3): score rows whose exact triple has inspections by its found-offence rate, blended with
    #: the model (:meth:`_known_goods`); a training option saved in the blob (blobs without it: off)
    known_goods: bool = True
    #: the model's weight in pseudo-inspections in that blend (:data:`KNOWN_GOODS_PRIOR`)
    known_goods_prior: float = KNOWN_GOODS_PRIOR

    # -- encoding -----------------------------------------------------------------------------
    @property
    def categorical(self) -> list[str]:
        """The model's categorical inputs, in model order."""
        return [f for f in self.features if f in CATEGORICAL_FEATURES]

    def _fit_vocabulary(self, frame: pl.DataFrame) -> None:
        self.vocabulary, self._codes = {}, None
        for name in self.categorical:
            counts = frame[name].drop_nulls().value_counts(sort=True)
            # most frequent first; ties broken by value so the encoding is deterministic
            counts = counts.sort(["count", name], descending=[True, False])
            self.vocabulary[name] = counts[name].to_list()

    def matrix(self, frame: pl.DataFrame | LiveFeatures) -> np.ndarray:
        """The model's float matrix: numeric features as is, categoricals as vocabulary codes."""
        if self._codes is None or set(self._codes) != set(self.vocabulary):
            self._codes = {name: {v: float(i) for i, v in enumerate(vs)} for name, vs in self.vocabulary.items()}
        if isinstance(frame, LiveFeatures):
            return self._live_matrix(frame)
        present = set(frame.columns)
        missing = [f for f in self.features if f not in present]
        if missing:
            raise ValueError(f"feature frame lacks {len(missing)} feature(s), e.g. {missing[:3]}")
        if frame.height > 256:
            # large frames: one query, column-major out (LightGBM reads it as is; no row-major copy)
            exprs = [
                pl.col(f).replace_strict(self._codes[f], default=None, return_dtype=pl.Float64)
                if f in self._codes
                else pl.col(f).cast(pl.Float64)
                for f in self.features
            ]
            return frame.select(exprs).to_numpy(order="fortran")
        x = np.empty((frame.height, len(self.features)))
        numeric = [i for i, f in enumerate(self.features) if f not in self._codes]
        if numeric:
            block = frame[[self.features[i] for i in numeric]]
            if not all(dtype == pl.Float64 for dtype in block.schema.values()):
                block = block.cast(pl.Float64)
            x[:, numeric] = block.to_numpy()
        for i, name in enumerate(self.features):
            codes = self._codes.get(name)
            if codes is None:
                continue
            x[:, i] = [codes.get(v, np.nan) for v in frame[name].to_list()]  # small frames: dict lookups
        return x

    def _live_matrix(self, feats: LiveFeatures) -> np.ndarray:
        """:meth:`matrix` of row-wise features: columns taken from their float matrix, no frame."""
        assert self._codes is not None
        numeric = [(i, NUMERIC_INDEX[f]) for i, f in enumerate(self.features) if f in NUMERIC_INDEX]
        other = [f for f in self.features if f not in NUMERIC_INDEX and f not in self._codes]
        if other:
            raise ValueError(f"feature frame lacks {len(other)} feature(s), e.g. {other[:3]}")
        x = np.empty((feats.height, len(self.features)))
        x[:, [i for i, _ in numeric]] = feats.numeric[:, [j for _, j in numeric]]
        for i, name in enumerate(self.features):
            codes = self._codes.get(name)
            if codes is not None:
                x[:, i] = [codes.get(v, np.nan) for v in feats.values(name)]
        return x

    # -- training and scoring -----------------------------------------------------------------
    def fit(
        self,
        features: pl.DataFrame,
        labels: np.ndarray | pl.Series,
        *,
        training_window: tuple[str, str] | None = None,
        weights: np.ndarray | None = None,
    ) -> RiskModel:
        """Train on a feature frame and 0/1 offence labels (seeded, deterministic)."""
        y = np.asarray(labels, dtype=np.float64)
        if len(y) != features.height:
            raise ValueError("labels and features differ in length")
        if np.isnan(y).any():
            raise ValueError("labels contain nulls; train only on inspected declarations")
        self._fit_vocabulary(features)
        x = self.matrix(features)
        params = {**self.params, "seed": self.seed}
        data = lgb.Dataset(
            x,
            y,
            weight=weights,
            feature_name=list(self.features),
            categorical_feature=self.categorical,
            free_raw_data=True,
            params={"verbose": -1},
        )
        self.booster = lgb.train(params, data, num_boost_round=self.num_boost_round)
        self.calibration = self._fit_calibration(x, y, weights, params) if self.calibrate else None
        novel = self._fit_novel_goods(x, y, weights)
        self.metadata = {
            "format": MODEL_FORMAT,
            "features": list(self.features),
            "n_features": len(self.features),
            "training_window": list(training_window) if training_window else None,
            "n_train": int(len(y)),
            "train_offence_rate": float(y.mean()) if len(y) else None,
            "seed": self.seed,
            "params": params,
            "num_boost_round": self.num_boost_round,
            "lightgbm_version": lgb.__version__,
            "novel_goods": novel,
            "known_goods": self._known_goods_setting(),
            **{k: v for k, v in self.metadata.items() if k == "metrics"},
        }
        return self

    def _novel_columns(self) -> np.ndarray | None:
        """Matrix columns of the novel-goods booster's inputs, or None when the model's features lack one or
        the gates. A fitted booster's own feature names count (blobs written with an earlier
        :data:`NOVEL_FEATURES` keep theirs); before fitting, :data:`NOVEL_FEATURES`."""
        names = self.novel_booster.feature_name() if self.novel_booster is not None else NOVEL_FEATURES
        index = {f: i for i, f in enumerate(self.features)}
        if not all(f in index for f in (*names, NOVEL_GATE, NOVEL_TRAIN_GATE)):
            return None
        return np.array([index[f] for f in names], dtype=np.intp)

    def _fit_novel_goods(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None) -> dict[str, Any] | None:
        """The novel-goods booster, trained on the rows whose exact triple had never been declared before.

        The main booster learns "look the triple up" from the repeat consignments that dominate the training
        rows; for goods without such history it ranks little better than chance. This booster sees only what
        a novel declaration offers (goods, value and route history, no repeat), so it learns that instead.
        Returns its metadata, or None (and no booster) when disabled, when fewer than
        :data:`NOVEL_MIN_REPEAT_SHARE` of the rows repeat a triple, or when too few rows are first-seen.
        """
        self.novel_booster = None
        cols = self._novel_columns()
        if not self.novel_goods or cols is None:
            return None
        first = x[:, self.features.index(NOVEL_TRAIN_GATE)] == 0
        if first.mean() > 1 - NOVEL_MIN_REPEAT_SHARE or first.sum() < NOVEL_MIN_ROWS or y[first].sum() < 10:
            return None
        params = {**NOVEL_PARAMS, "seed": self.seed}
        data = lgb.Dataset(
            x[np.ix_(first, cols)],
            y[first],
            weight=None if weights is None else np.asarray(weights)[first],
            feature_name=list(NOVEL_FEATURES),
            free_raw_data=True,
            params={"verbose": -1},
        )
        self.novel_booster = lgb.train(params, data, num_boost_round=NOVEL_ROUNDS)
        return {
            "gate": f"{NOVEL_GATE} == 0",
            "n_train": int(first.sum()),
            "train_offence_rate": float(y[first].mean()),
            "features": list(NOVEL_FEATURES),
            "params": params,
            "num_boost_round": NOVEL_ROUNDS,
        }

    def _novel_rows(self, x: np.ndarray) -> np.ndarray | None:
        """Rows the novel-goods booster scores (no known outcome on the exact triple), or None (no booster)."""
        if self.novel_booster is None:
            return None
        gated = x[:, self.features.index(NOVEL_GATE)] == 0
        return gated if gated.any() else None

    def _fit_calibration(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None,
                         params: dict[str, Any]) -> Calibration | None:
        """The calibration map, out of time: a twin booster trained on the first
        ``1 - CALIBRATION_SHARE`` of the (time-ordered) training rows scores the last ``CALIBRATION_SHARE``;
        the map from those held-out scores to their outcomes is applied to the final booster (trained on
        every row). None when the hold-out has fewer than ``CALIBRATION_MIN_ROWS`` rows or 10 offences."""
        cut = int(len(y) * (1 - CALIBRATION_SHARE))
        held = y[cut:]
        if len(held) < CALIBRATION_MIN_ROWS or held.sum() < 10 or y[:cut].sum() < 10:
            return None
        w = None if weights is None else np.asarray(weights)
        data = lgb.Dataset(x[:cut], y[:cut], weight=None if w is None else w[:cut],
                           feature_name=list(self.features), categorical_feature=self.categorical,
                           free_raw_data=True, params={"verbose": -1})
        twin = lgb.train(params, data, num_boost_round=self.num_boost_round)
        scores = np.asarray(twin.predict(x[cut:], num_threads=self._predict_threads()))
        return fit_calibration(scores, held, None if w is None else w[cut:],
                               scheme=f"out of time: last {CALIBRATION_SHARE:.0%} of the training rows")

    def _require(self) -> lgb.Booster:
        if self.booster is None:
            raise RuntimeError("RiskModel is not fitted")
        return self.booster

    def _predict_threads(self) -> int:
        return self.predict_threads or self.params.get("num_threads", 1)

    def _known_goods_setting(self) -> dict[str, Any] | None:
        """The known-goods blend as saved in the blob and metadata, or None (off)."""
        return {"prior": self.known_goods_prior} if self.known_goods else None

    def _known_goods_counts(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """(inspections, offences) of each row's exact triple when the blend is on and the model has those
        inputs, else None."""
        if not self.known_goods:
            return None
        try:
            i, o = self.features.index(KNOWN_GOODS_INSPECTIONS), self.features.index(KNOWN_GOODS_OFFENCES)
        except ValueError:
            return None
        return np.nan_to_num(x[:, i]), np.nan_to_num(x[:, o])

    def _known_goods(self, x: np.ndarray, p: np.ndarray) -> np.ndarray:
        """Known goods (B3): rows whose exact (HS6, value, net mass) triple has point-in-time inspections get
        ``(offences + prior * p) / (inspections + prior)``: the triple's plain found-offence rate (not the
        feature pipeline's ``_offence_rate``, shrunk toward the global rate), with the model's probability ``p``
        counted as ``prior`` pseudo-inspections. Other rows keep ``p``."""
        counts = self._known_goods_counts(x)
        if counts is None:
            return p
        inspections, offences = counts
        known = inspections > 0
        if known.any():
            k = self.known_goods_prior
            p = p.copy()
            p[known] = (offences[known] + k * p[known]) / (inspections[known] + k)
        return p

    def _model_proba(self, x: np.ndarray) -> np.ndarray:
        """The boosters' probability per row (main booster, calibrated; the novel-goods booster where gated)."""
        p = np.asarray(self._require().predict(x, num_threads=self._predict_threads()))
        p = p if self.calibration is None else self.calibration(p)
        gated = self._novel_rows(x)
        if gated is not None:  # the novel-goods part: its own probability (trained on novel-at-the-time rows)
            cols = self._novel_columns()
            assert self.novel_booster is not None and cols is not None
            p[gated] = self.novel_booster.predict(x[np.ix_(gated, cols)], num_threads=self._predict_threads())
        return p

    def predict_proba(self, features: pl.DataFrame | LiveFeatures) -> np.ndarray:
        """Offence probability per row (calibrated when the model has a calibration map; known goods blended
        with their found-offence rate, :meth:`_known_goods`)."""
        x = self.matrix(features)
        return self._known_goods(x, self._model_proba(x))

    def rank_scores(self, features: pl.DataFrame | LiveFeatures, ranking: Ranking = "probability") -> np.ndarray:
        """Scores to rank by: offence probability, or expected duty at stake (p x duty at stake)."""
        p = self.predict_proba(features)
        if ranking == "probability":
            return p
        if ranking == "duty":
            return p * features["duty_at_stake"].fill_null(0.0).to_numpy()
        raise ValueError(f"unknown ranking {ranking!r}; use 'probability' or 'duty'")

    def explain(self, features: pl.DataFrame | LiveFeatures, top: int = 3) -> list[list[Reason]]:
        """Top ``top`` reasons per row that raised its score, in words, from tree contributions."""
        booster = self._require()
        x = self.matrix(features)
        contrib = booster.predict(x, pred_contrib=True, num_threads=self._predict_threads())
        contrib = np.asarray(contrib)[:, : len(self.features)]
        gated = self._novel_rows(x)
        if gated is not None:  # reasons of novel goods come from the booster that scored them
            cols = self._novel_columns()
            assert self.novel_booster is not None and cols is not None
            novel = self.novel_booster.predict(
                x[np.ix_(gated, cols)], pred_contrib=True, num_threads=self._predict_threads()
            )
            contrib[gated] = 0.0
            contrib[np.ix_(gated, cols)] = np.asarray(novel)[:, : len(cols)]
        known = self._known_goods_reasons(x)
        rows = features.to_dicts()
        out: list[list[Reason]] = []
        for i, row in enumerate(rows):
            order = np.argsort(-contrib[i], kind="stable")
            reasons: list[Reason] = []
            for j in order[: max(top * 3, top)]:
                c = float(contrib[i, j])
                if c <= 0 or len(reasons) >= top:
                    break
                name = self.features[j]
                reasons.append(Reason(name, row.get(name), c, describe(name, row)))
            if i in known:  # the known-goods reason, in order of its pull on the log-odds
                reasons = sorted([known[i], *reasons], key=lambda r: -r.contribution)[:top]
            out.append(reasons)
        return out

    def _known_goods_reasons(self, x: np.ndarray) -> dict[int, Reason]:
        """Per row whose score the known-goods blend raised (an offence found on its exact triple): the reason,
        "same goods found in offence in N of M inspections", with the blend's pull on the log-odds."""
        counts = self._known_goods_counts(x)
        if counts is None:
            return {}
        inspections, offences = counts
        rows = np.flatnonzero((inspections > 0) & (offences > 0))
        if not len(rows):
            return {}
        p = self._model_proba(x[rows])
        blended = self._known_goods(x[rows], p)
        eps = 1e-6
        pull = np.log(np.clip(blended, eps, 1 - eps) / np.clip(1 - blended, eps, 1 - eps)) - np.log(
            np.clip(p, eps, 1 - eps) / np.clip(1 - p, eps, 1 - eps))
        out: dict[int, Reason] = {}
        for r, c in zip(rows, pull, strict=True):
            if c > 0:
                n, m = offences[r], inspections[r]
                out[int(r)] = Reason(KNOWN_GOODS_OFFENCES, float(n), float(c),
                                     f"same goods found in offence in {n:.0f} of {m:.0f} inspections")
        return out

    # -- persistence --------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Serialise booster, vocabulary and metadata (JSON envelope, UTF-8)."""
        payload = {
            "format": MODEL_FORMAT,
            "params": self.params,
            "num_boost_round": self.num_boost_round,
            "seed": self.seed,
            "features": list(self.features),
            "vocabulary": self.vocabulary,
            "metadata": self.metadata,
            "booster": self._require().model_to_string(),
            "calibration": self.calibration.to_dict() if self.calibration is not None else None,
            "novel_booster": self.novel_booster.model_to_string() if self.novel_booster is not None else None,
            "known_goods": self._known_goods_setting(),
        }
        return json.dumps(payload, default=str).encode()

    @classmethod
    def from_bytes(cls, blob: bytes) -> RiskModel:
        """A model from :meth:`to_bytes`' blob."""
        payload = json.loads(blob.decode())
        if payload.get("format") not in READABLE_FORMATS:
            found, readable = payload.get("format"), ", ".join(READABLE_FORMATS)
            raise ValueError(f"not a RiskModel blob (format {found!r}; this version reads {readable})")
        model = cls(
            params=payload["params"],
            num_boost_round=payload["num_boost_round"],
            seed=payload["seed"],
            features=tuple(payload["features"]),
            metadata=payload["metadata"],
            vocabulary=payload["vocabulary"],
        )
        model.booster = lgb.Booster(model_str=payload["booster"])
        calibration = payload.get("calibration")  # absent from blobs written before calibration: raw scores
        model.calibration = Calibration.from_dict(calibration) if calibration else None
        novel = payload.get("novel_booster")  # absent from /1 blobs: the main booster scores every row
        model.novel_booster = lgb.Booster(model_str=novel) if novel else None
        known = payload.get("known_goods")  # absent from blobs written before the blend: the model scores alone
        model.known_goods = known is not None
        model.known_goods_prior = float(known["prior"]) if known else KNOWN_GOODS_PRIOR
        return model


BATCH_CHUNK = 25_000  # rows per chunk of score_batch


def score_batch(
    frame: pl.DataFrame,
    model: RiskModel,
    state: HistoryState | None = None,
    *,
    ranking: Ranking = "probability",
    chunk: int = BATCH_CHUNK,
) -> tuple[pl.DataFrame, np.ndarray, HistoryState]:
    """Batch scoring: :func:`build_features` then ``model.rank_scores``, overlapped chunk by chunk.

    The time-sorted ``frame`` goes through the feature pipeline in chunks of ``chunk`` rows (the
    same features as one call: history is carried from chunk to chunk); while a chunk's features are
    built, a worker thread scores the previous chunk (LightGBM releases the GIL), so on two cores
    features and model run side by side. Returns ``(features, scores, state)``.
    """
    state = state if state is not None else HistoryState()
    parts: list[pl.DataFrame] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="score-batch") as pool:
        pending: list[Future[np.ndarray]] = []
        for start in range(0, max(frame.height, 1), chunk):
            feats, state = build_features(frame.slice(start, chunk), state)
            parts.append(feats)
            pending.append(pool.submit(model.rank_scores, feats, ranking))
        scores = np.concatenate([f.result() for f in pending]) if pending else np.empty(0)
    return (parts[0] if len(parts) == 1 else pl.concat(parts)), scores, state


# -- reasons in words ---------------------------------------------------------------------------
_PARTY = {"importer": "importer", "declarant": "declarant", "seller": "seller", "courier": "courier"}
_CAT_LABELS = {
    "cat_office": "customs office",
    "cat_trade_mode": "trade mode",
    "cat_transport_mode": "mode of transport",
    "cat_process_type": "process type",
    "cat_import_type": "import type",
    "cat_import_use": "import use",
    "cat_payment_type": "payment type",
    "cat_origin_indicator": "origin indicator",
    "cat_tax_type": "tariff type",
    "cat_origin": "origin",
    "cat_departure": "departure country",
    "cat_hs2": "HS chapter",
}


def _pct(x: float) -> str:
    return f"{x * 100:.0f}%"


def _goods_label(family: str, row: dict[str, Any]) -> str:
    hs6, hs4, origin = row.get("hs6") or "?", row.get("hs4") or "?", row.get("origin_country") or "?"
    return {
        "hs6": f"HS {hs6}",
        "hs4": f"HS {hs4}",
        "hs2": f"HS chapter {hs6[:2]}",
        "hs6_origin": f"HS {hs6} / {origin}",
        "origin": f"goods from {origin}",
        "departure": "goods shipped from this departure country",
        "route": f"the route to {origin} via this departure country",
        "office": "this customs office",
        "tax_type": "this tariff type",
        "importer_hs6": f"this importer's HS {hs6} declarations",
        "importer_origin": f"this importer's imports from {origin}",
        "declarant_importer": "this declarant's declarations for this importer",
        "seller_importer": "this seller's sales to this importer",
        "hs6_departure": f"HS {hs6} shipped from this departure country",
        "hs6_origin_tax_type": f"HS {hs6} / {origin} under this tariff type",
        "hs6_value": f"earlier HS {hs6} declarations at exactly this value",
        "hs6_mass": f"earlier HS {hs6} declarations of exactly this net mass",
        "hs6_value_mass": f"earlier HS {hs6} declarations at exactly this value and net mass",
        "value": "earlier declarations at exactly this value",
    }.get(family, family.replace("_", " "))


_FAMILY_OF: dict[str, tuple[str, str]] = {
    feature: (fam.name, feature[len(fam.name) + 1 :]) for fam in FAMILIES for feature in family_feature_names(fam)
}


def _split(name: str) -> tuple[str, str]:
    """Split a history feature name into (family, statistic); ("", name) for item features."""
    return _FAMILY_OF.get(name, ("", name))


def describe(name: str, row: dict[str, Any]) -> str:
    """A feature's value for one row in customs English (direction included)."""
    v = row.get(name)
    hs6, origin = row.get("hs6") or "?", row.get("origin_country") or "?"
    if v is None or (isinstance(v, float) and math.isnan(v)):
        if name.endswith("_z") or name.endswith("_deviation"):
            return f"no earlier {name.split('_')[0]} history to compare the value with"
        return f"{name.replace('_', ' ')} unknown"
    if name in _CAT_LABELS:
        return f"{_CAT_LABELS[name]} {v}"
    if name == "tax_rate":
        return f"duty rate {v:g}%"
    if name == "log_duty_at_stake":
        return f"duty at stake {math.expm1(v):,.0f}"
    if name in ("log_value", "value"):
        value = math.expm1(v) if name == "log_value" else v
        return f"declared value {value:,.0f}"
    if name in ("log_mass", "net_mass"):
        mass = math.expm1(v) if name == "log_mass" else v
        return f"net mass {mass:,.1f} kg"
    if name == "log_unit_value":
        return f"unit value {math.exp(v):,.0f} per kg"
    if name in ("hs6_number", "hs4_number", "hs2_number"):
        return f"HS {hs6}"
    if name == "origin_is_departure":
        return "shipped from the country of origin" if v else "shipped via a third country"
    family, stat = _split(name)
    if family == "global":
        return f"overall offence rate {_pct(v)}" if stat == "offence_rate" else f"{stat.replace('_', ' ')} {v:g}"
    who = _PARTY.get(family)
    n_insp = row.get(f"{family}_inspections")
    if stat == "unit_value_deviation":
        ratio = math.exp(v) - 1.0
        where = "below" if ratio < 0 else "above"
        return f"unit value {abs(ratio) * 100:.0f}% {where} the {_goods_label(family, row)} median"
    if stat == "value_deviation":
        ratio = math.exp(v) - 1.0
        where = "below" if ratio < 0 else "above"
        return f"value {abs(ratio) * 100:.0f}% {where} the usual for {_goods_label(family, row)}"
    if stat in ("offence_rate", "critical_rate"):
        kind = "offence" if stat == "offence_rate" else "critical-offence"
        insp = f" ({n_insp:.0f} inspections)" if n_insp is not None else ""
        subject = f"{who}'s" if who else f"{_goods_label(family, row)}:"
        return f"{subject} past {kind} rate {_pct(v)}{insp}"
    if stat == "is_new":
        if family == "importer_hs6":
            return f"first declaration of HS {hs6} by this importer" if v else f"importer declared HS {hs6} before"
        if family == "importer_origin":
            return f"first import from {origin} by this importer" if v else f"importer imported from {origin} before"
        if family == "declarant_importer":
            return "first declaration by this declarant for this importer" if v else "known declarant for importer"
        if family == "seller_importer":
            return "first purchase from this seller by this importer" if v else "known seller for this importer"
    if stat == "count":
        subject = f"this {who}" if who else _goods_label(family, row)
        return f"no earlier declarations for {subject}" if v == 0 else f"{v:.0f} earlier declarations for {subject}"
    if stat in ("burst_7d", "burst_30d"):
        days = stat[6:-1]
        subject = f"this {who}" if who else _goods_label(family, row)
        return f"about {v:.0f} declarations for {subject} in the last {days} days"
    if stat in ("value_z", "unit_value_z"):
        what = "value" if stat == "value_z" else "unit value"
        where = "above" if v > 0 else "below"
        subject = f"this {who}'s usual" if who else f"the {_goods_label(family, row)} usual"
        return f"{what} {abs(v):.1f} standard deviations {where} {subject}"
    if stat == "age_days":
        subject = f"{who}" if who else _goods_label(family, row)
        return f"{subject} first seen {v:.0f} days ago"
    if stat == "hs_diversity":
        return f"{who} has declared {v:.0f} different HS codes"
    if stat == "inspections":
        subject = f"this {who}" if who else _goods_label(family, row)
        return f"{v:.0f} earlier inspections of {subject}"
    if stat == "offences":
        subject = f"this {who}" if who else _goods_label(family, row)
        return f"{v:.0f} earlier offences by {subject}" if who else f"{v:.0f} earlier offences on {subject}"
    if isinstance(v, float):
        return f"{name.replace('_', ' ')} {v:.3g}"
    return f"{name.replace('_', ' ')} {v}"


__all__ = [
    "DEFAULT_PARAMS",
    "FEATURE_NAMES",
    "KNOWN_GOODS_PRIOR",
    "NUMERIC_FEATURES",
    "Reason",
    "RiskModel",
    "describe",
    "score_batch",
]
