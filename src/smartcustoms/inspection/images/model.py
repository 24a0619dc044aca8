"""The image model: a small CNN served with onnxruntime, and a physics check of the declared goods.

``OnnxImageModel.assess`` gives two readings of a scan, reported separately (the service routes an image to an
officer when either alarms):

* ``anomaly_score`` and ``heatmap`` from the CNN (``model.onnx``, trained on synthetic scans by
  ``bench/train_images.py``; see docs/images-training.md): the sigmoid of its image-level output, and its
  per-cell concealment probabilities (1/8 of the image) interpolated back to the image's size (the graph
  averages both over the scan and its left-right mirror, and over its networks when it holds several); the
  network is told the declaration tied to the image (``declared_vector``: per declared material its dual-energy
  ratio and the attenuation a stack of it should show), neutral zeros when there is none;
* ``consistent`` and ``consistency_reasons`` from physics: the mass in the beam (read from the dual-energy
  decomposition, ``materials.decompose``) against the declared mass, and the mass-weighted median dual-energy
  ratio of the goods against what the declared HS codes' materials predict (``materials.expected_profile``).
  Both tolerances were calibrated on clean synthetic training scans and travel in the model file.

The model knows container and vehicle side views at MeV energies: a single-energy scan, or one with a pixel pitch
under 5 mm (a parcel or baggage scanner), is scored but called inconsistent with that reason, so an officer
looks. No PyTorch here: ``train.py`` (the ``train-images`` extra) trains and exports.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from smartcustoms.inspection.images.materials import (
    CARGO,
    CONTAINER_INNER_WIDTH_CM,
    decompose,
    expected_profile,
    hs_digits,
    material_for_hs,
)
from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanImage

__all__ = ["DECLARED_SIZE", "MODEL_FILE", "ConsistencyRule", "DeclaredCalibration", "ImageAssessment", "OnnxImageModel",
           "PhysicsReading", "calibrate_declared", "check_consistency", "declared_band", "declared_vector",
           "load_default_model", "read_physics"]

MODEL_FILE = Path(__file__).with_name("model.onnx")
NEUTRAL_BAND = (1.30, 0.90, 1.60)  # no usable declared goods: a band no material falls outside of
MAX_SIDE = 1024  # larger scans are averaged down by a whole factor before the CNN (the heat map is scaled back)
GOODS_ATTENUATION = (0.3, 8.0)  # -ln T(high) of pixels counted as goods: not air or thin walls, not opaque
HEAT_CELL = 8  # the CNN's heat-map cell, in its input's pixels
MIN_CARGO_PIXEL_MM = 5.0  # finer pitches are parcel/baggage scanners (keV beams): not what the model knows
DECLARED_SLOTS = 4  # declared materials the network is told about (the heaviest; lighter ones merge into the band)
DECLARED_SIZE = 4 + 3 * DECLARED_SLOTS  # band (3), fill, then per material: ratio, expected attenuation, mass share
CONTAINER_40FT_M3 = 67.7  # inner volume of a 40 ft general-purpose container: the fill plane's unit
MAX_EXPECTED_ATTENUATION = 6.5  # loaders keep dense goods low and spread: a stack stops at most ~this -ln T(high)
MIN_RATIO_ATTENUATION = 0.05  # -ln T(high) below this: too little matter for a ratio (also the trained graph's)


@dataclass(frozen=True)
class ImageAssessment:
    """What the model reads from a scan (the contract of the images service's ``ImageModel``)."""

    anomaly_score: float
    heatmap: np.ndarray
    consistent: bool
    consistency_reasons: list[str]
    model_version: str


@dataclass(frozen=True)
class PhysicsReading:
    """What a dual-energy scan shows as a whole: the mass in the beam (kg, container and vehicle included)
    and the mass-weighted median dual-energy ratio of the goods' pixels (NaN if none)."""

    mass_kg: float
    goods_ratio: float
    dual_energy: bool


@dataclass(frozen=True)
class ConsistencyRule:
    """The bands a clean scan of the declared goods falls in (calibrated on clean synthetic scans):
    ``tare_kg`` the mass in the beam beyond the declared mass (container, vehicle), ``ratio_shift`` the goods'
    ratio minus the declared mass-weighted mean ratio."""

    tare_kg: tuple[float, float] = (-1500.0, 7000.0)
    ratio_shift: tuple[float, float] = (-0.25, 0.08)

    def to_json(self) -> str:
        """The rule as JSON (stored in the model file's metadata)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ConsistencyRule:
        """The rule from :meth:`to_json`'s text."""
        data = json.loads(text)
        return cls(tare_kg=tuple(data["tare_kg"]), ratio_shift=tuple(data["ratio_shift"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class DeclaredCalibration:
    """How clean scans of declared goods look against what :func:`declared_vector` predicts from first principles
    (bulk density across the container): per HS heading (4 digits), else per material, the median shift of the
    goods pixels' dual-energy ratio and of their ln(-ln T(high)). Goods packed with much open volume (appliances
    in cartons, vehicles, tyres, bottles) show most pixels far lighter than their bulk average; calibrated on the
    clean training scans, it travels in the model file (``declared_calibration``)."""

    heading: dict[str, tuple[float, float]]
    material: dict[str, tuple[float, float]]

    def shift(self, hs_code: str, material_name: str) -> tuple[str, float, float]:
        """(key used, ratio shift, ln-attenuation shift) for a declared line; zeros when neither is known."""
        heading = hs_digits(hs_code)[:4]
        if heading in self.heading:
            return heading, *self.heading[heading]
        if material_name in self.material:
            return material_name, *self.material[material_name]
        return "", 0.0, 0.0

    def to_json(self) -> str:
        """The calibration as JSON (stored in the model file's metadata)."""
        return json.dumps({"heading": self.heading, "material": self.material}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> DeclaredCalibration:
        """The calibration from :meth:`to_json`'s text."""
        data = json.loads(text)
        return cls(heading={k: (float(v[0]), float(v[1])) for k, v in data["heading"].items()},
                   material={k: (float(v[0]), float(v[1])) for k, v in data["material"].items()})


def calibrate_declared(scans: Sequence[tuple[ScanImage, np.ndarray, Sequence[DeclaredGoods]]],
                       min_scans: int = 3) -> DeclaredCalibration:
    """:class:`DeclaredCalibration` from clean scans: (image, goods pixel mask, declared goods) of declarations with
    one usable line (so every goods pixel is that line's); per scan the median residual of the goods pixels
    (ratio, ln(-ln T(high) + 0.05)) against the uncalibrated :func:`declared_vector`, then the median over the
    scans of each heading (and of each material) seen in at least ``min_scans`` scans."""
    by_heading: dict[str, list[tuple[float, float]]] = {}
    by_material: dict[str, list[tuple[float, float]]] = {}
    for image, goods_mask, declared in scans:
        usable = [g for g in declared if _hs_ok(g.hs_code)]
        if len(usable) != 1 or not image.dual_energy:
            continue
        vector = declared_vector(usable)
        ratio_k, att_k = float(vector[4]), float(vector[5])
        high = -np.log(np.clip(image.high.astype(np.float64), 1e-5, 1.0))
        low = -np.log(np.clip(image.low.astype(np.float64), 1e-5, 1.0))
        seen = goods_mask & (high >= MIN_RATIO_ATTENUATION)
        if seen.sum() < 50:
            continue
        residual = (float(np.median(low[seen] / high[seen])) - ratio_k,
                    float(np.median(np.log(high[seen] + MIN_RATIO_ATTENUATION)))
                    - math.log(att_k + MIN_RATIO_ATTENUATION))
        heading = hs_digits(usable[0].hs_code)[:4]
        by_heading.setdefault(heading, []).append(residual)
        by_material.setdefault(material_for_hs(usable[0].hs_code).name, []).append(residual)

    def medians(groups: dict[str, list[tuple[float, float]]]) -> dict[str, tuple[float, float]]:
        return {k: (round(float(np.median([r for r, _ in v])), 4), round(float(np.median([a for _, a in v])), 4))
                for k, v in sorted(groups.items()) if len(v) >= min_scans}

    return DeclaredCalibration(heading=medians(by_heading), material=medians(by_material))


def declared_band(declared: Sequence[DeclaredGoods]) -> np.ndarray:
    """The declared goods' dual-energy ratio at the cargo energies as (mass-weighted mean, low, high), float32;
    a neutral band when no line has a usable HS code."""
    usable = [g for g in declared if _hs_ok(g.hs_code)]
    if not usable:
        return np.array(NEUTRAL_BAND, dtype=np.float32)
    profile = expected_profile(usable, CARGO)
    return np.array([profile.mean_ratio, *profile.ratio_range], dtype=np.float32)


def declared_vector(declared: Sequence[DeclaredGoods], calibration: DeclaredCalibration | None = None
                    ) -> np.ndarray:
    """The declaration as the network reads it (``DECLARED_SIZE`` float32): the ratio band of
    :func:`declared_band`, the declared packed volume over a 40 ft container's, then for each of the
    ``DECLARED_SLOTS`` heaviest declared materials its dual-energy ratio, the -ln T(high) a stack of it across the
    container should show (bulk density x inner width x μ(high), capped where loaders stop; both shifted by
    ``calibration`` when given: what a typical goods pixel of that heading shows) and its share of the
    declared mass; unused slots and a declaration with no usable HS code are zeros (the network then reads the
    image alone, as before)."""
    out = np.zeros(DECLARED_SIZE, dtype=np.float32)
    out[:3] = declared_band(declared)
    usable = [g for g in declared if _hs_ok(g.hs_code)]
    if not usable:
        return out
    profile = expected_profile(usable, CARGO)
    out[3] = min(profile.volume_m3 / CONTAINER_40FT_M3, 2.0)
    by_material: dict[str, list[float]] = {}
    for line in profile.lines:
        mat = line.material
        att = min(mat.bulk_density * CONTAINER_INNER_WIDTH_CM * mat.mu(CARGO.high_mev), MAX_EXPECTED_ATTENUATION)
        ratio, key = mat.ratio(CARGO), f"{mat.name}:{mat.bulk_density:g}"
        if calibration is not None:
            used, d_ratio, d_log_att = calibration.shift(line.hs_code, mat.name)
            ratio, key = ratio + d_ratio, f"{key}:{used}"
            att = (att + MIN_RATIO_ATTENUATION) * math.exp(d_log_att) - MIN_RATIO_ATTENUATION
        slot = by_material.setdefault(key, [ratio, att, 0.0])
        slot[2] += line.mass_kg / profile.mass_kg
    ranked = sorted(by_material.values(), key=lambda v: -v[2])[:DECLARED_SLOTS]
    for k, (ratio, att, share) in enumerate(ranked):
        out[4 + 3 * k: 7 + 3 * k] = (ratio, att, share)
    return out


def _hs_ok(hs_code: str) -> bool:
    try:
        material_for_hs(hs_code)
    except ValueError:
        return False
    return True


def read_physics(image: ScanImage) -> PhysicsReading:
    """The mass in the beam and the goods' median dual-energy ratio (``materials.decompose``)."""
    ratio, thickness = decompose(image, CARGO)
    mass = float(thickness.sum(dtype=np.float64)) * (image.pixel_mm / 10.0) ** 2 / 1000.0
    att = -np.log(np.clip(image.high, 1e-5, 1.0))
    goods = (att > GOODS_ATTENUATION[0]) & (att < GOODS_ATTENUATION[1]) & np.isfinite(ratio)
    weights = thickness[goods].astype(np.float64)
    if not image.dual_energy or weights.sum() <= 0:
        return PhysicsReading(mass, float("nan"), image.dual_energy)
    values = ratio[goods].astype(np.float64)
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    median = float(values[order][int(np.searchsorted(cumulative, cumulative[-1] / 2.0))])
    return PhysicsReading(mass, median, True)


def _kind(ratio: float) -> str:
    if ratio >= 1.36:
        return "organic-like"
    if ratio >= 1.25:
        return "light-metal or mineral-like"
    return "metal-like"


def check_consistency(reading: PhysicsReading, declared: Sequence[DeclaredGoods],
                      rule: ConsistencyRule) -> tuple[bool, list[str]]:
    """Whether the scan fits the declared goods, and why (in words)."""
    usable = [g for g in declared if _hs_ok(g.hs_code)]
    if not usable:
        return False, ["no declared goods with a valid HS code to compare the image with"]
    profile = expected_profile(usable, CARGO)
    reasons: list[str] = []
    ok = True
    materials = ", ".join(sorted({line.material.label for line in profile.lines}))
    excess = reading.mass_kg - profile.mass_kg
    lo, hi = rule.tare_kg
    if excess > hi:
        ok = False
        reasons.append(f"about {reading.mass_kg / 1000:.1f} t in the beam where the declared "
                       f"{profile.mass_kg / 1000:.1f} t and at most {hi / 1000:.1f} t of container and vehicle "
                       f"explain {(profile.mass_kg + hi) / 1000:.1f} t: more mass than declared")
    elif excess < lo:
        ok = False
        reasons.append(f"about {reading.mass_kg / 1000:.1f} t in the beam where the declaration gives "
                       f"{profile.mass_kg / 1000:.1f} t of goods: less mass than declared")
    else:
        reasons.append(f"mass in the beam ({reading.mass_kg / 1000:.1f} t) fits the declared "
                       f"{profile.mass_kg / 1000:.1f} t plus container and vehicle")
    if not reading.dual_energy:
        ok = False
        reasons.append("single-energy scan: the material cannot be told and the model was trained on "
                       "dual-energy scans; an officer should look")
    elif math.isnan(reading.goods_ratio):
        ok = False
        reasons.append("no goods seen in the image (nothing attenuates the beam beyond the container)")
    else:
        shift = reading.goods_ratio - profile.mean_ratio
        lo_r, hi_r = rule.ratio_shift
        measured = f"dual-energy ratio of the goods {reading.goods_ratio:.2f} ({_kind(reading.goods_ratio)})"
        expected = f"the declared {materials} predict {profile.mean_ratio:.2f} ({_kind(profile.mean_ratio)})"
        if lo_r <= shift <= hi_r:
            reasons.append(f"{measured} fits: {expected}")
        else:
            ok = False
            reasons.append(f"{measured} where {expected}: another material than declared")
    return ok, reasons


def _neutral_vector() -> np.ndarray:
    out = np.zeros(DECLARED_SIZE, dtype=np.float32)
    out[:3] = NEUTRAL_BAND
    return out


def _upsample(heat: np.ndarray, shape: tuple[int, int], cell: float) -> np.ndarray:
    """Bilinear interpolation of a coarse grid (cell centres every ``cell`` pixels) to ``shape``."""
    h, w = shape
    rows = np.clip((np.arange(h) + 0.5) / cell - 0.5, 0, heat.shape[0] - 1)
    cols = np.clip((np.arange(w) + 0.5) / cell - 0.5, 0, heat.shape[1] - 1)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, heat.shape[0] - 1)
    c1 = np.minimum(c0 + 1, heat.shape[1] - 1)
    fr = (rows - r0)[:, None]
    fc = (cols - c0)[None, :]
    top = heat[r0][:, c0] * (1 - fc) + heat[r0][:, c1] * fc
    bottom = heat[r1][:, c0] * (1 - fc) + heat[r1][:, c1] * fc
    return np.clip(top * (1 - fr) + bottom * fr, 0.0, 1.0).astype(np.float32)


def _shrink(t: np.ndarray, k: int) -> np.ndarray:
    """Mean over k x k blocks (edges padded with empty beam)."""
    h, w = t.shape
    hh, ww = -(-h // k), -(-w // k)
    padded = np.ones((hh * k, ww * k), dtype=np.float32)
    padded[:h, :w] = t
    return padded.reshape(hh, k, ww, k).mean(axis=(1, 3))


class OnnxImageModel:
    """The CNN (ONNX on onnxruntime, 2 threads) plus the physics consistency check."""

    def __init__(self, session: ort.InferenceSession, metadata: dict[str, str]) -> None:
        self._session = session
        self.metadata = dict(metadata)
        self.model_version = metadata.get("version", "scan-cnn")
        self.rule = ConsistencyRule.from_json(metadata["consistency_rule"]) if "consistency_rule" in metadata \
            else ConsistencyRule()
        self.review_threshold = float(metadata.get("review_threshold", "0.5"))
        self.calibration = DeclaredCalibration.from_json(metadata["declared_calibration"]) \
            if "declared_calibration" in metadata else None  # files before scan-cnn-4: uncalibrated
        shape = session.get_inputs()[1].shape  # declared: (n, 3) in files before the declaration vector
        self.declared_size = int(shape[1]) if len(shape) == 2 and isinstance(shape[1], int) else 3

    @classmethod
    def load(cls, path: Path | None = None, threads: int = 2) -> OnnxImageModel:
        """Load the model file (default: the one shipped in the package); FileNotFoundError if absent."""
        path = MODEL_FILE if path is None else Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"image model file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        meta: dict[str, Any] = session.get_modelmeta().custom_metadata_map
        return cls(session, {str(k): str(v) for k, v in meta.items()})

    def score(self, image: ScanImage, declared: Sequence[DeclaredGoods]) -> tuple[float, np.ndarray]:
        """The CNN alone: anomaly score in 0..1 and the heat map (float32, the image's size, 0..1)."""
        high, low = image.high.astype(np.float32), image.low.astype(np.float32)
        k = max(1, -(-max(image.shape) // MAX_SIDE))
        if k > 1:
            high, low = _shrink(high, k), _shrink(low, k)
        if self.declared_size == 3:  # an older file: the ratio band only
            told = declared_band(declared) if image.dual_energy else np.array(NEUTRAL_BAND, dtype=np.float32)
        else:
            told = declared_vector(declared, self.calibration) if image.dual_energy else _neutral_vector()
        scan = np.clip(np.stack([high, low])[None], 0.0, 1.0).astype(np.float32)
        score, heat = self._session.run(["score", "heat"], {"scan": scan, "declared": told[None]})
        heatmap = _upsample(np.asarray(heat, dtype=np.float32)[0, 0], image.shape, HEAT_CELL * k)
        return float(np.clip(np.asarray(score).reshape(-1)[0], 0.0, 1.0)), heatmap

    def assess(self, image: ScanImage, declared: Sequence[DeclaredGoods]) -> ImageAssessment:
        """Score, heat map and the physics consistency check of ``image`` against ``declared``."""
        score, heatmap = self.score(image, declared)
        if image.pixel_mm < MIN_CARGO_PIXEL_MM:
            return ImageAssessment(anomaly_score=score, heatmap=heatmap, consistent=False, consistency_reasons=[
                f"pixel pitch {image.pixel_mm:g} mm: a parcel or baggage scanner's image; the model and the material "
                "check are made for container and vehicle scans (MeV beams), so an officer should look"],
                model_version=self.model_version)
        consistent, reasons = check_consistency(read_physics(image), declared, self.rule)
        return ImageAssessment(anomaly_score=score, heatmap=heatmap, consistent=consistent,
                               consistency_reasons=reasons, model_version=self.model_version)


@cache
def _default() -> OnnxImageModel:
    return OnnxImageModel.load()


def load_default_model() -> OnnxImageModel:
    """The shipped model (loaded once per process); FileNotFoundError when the file is missing."""
    if not MODEL_FILE.is_file():
        raise FileNotFoundError(f"image model file not found: {MODEL_FILE}")
    return _default()
