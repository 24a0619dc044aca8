"""Threat image projection (TIP): a known threat's transmission multiplied into a real scan.

Transmission through two objects in the beam is the product of their transmissions (Beer–Lambert:
``exp(-(mu1 + mu2))``), so a threat patch "in" the scan is a pixel-wise multiplication, at each energy.
The threat library is synthetic: a few shapes of steel, lead and an organic brick, with mass attenuation
coefficients (cm²/g at 3 and 6 MeV, the cargo stand-in energies of ``materials.py``) from the NIST XCOM
tables, rounded. Production code projects threats from here; the synthetic scan generator may reuse it.

A decision on a TIP presentation is scored by where the officer marked (``tip_outcome``): a hit needs a threat
call with a mark on the projected threat's box, as TIP quality control of aviation screeners counts only a
threat the screener localised.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np

from smartcustoms.inspection.images.schemas import Box, ScanImage

# (mass attenuation cm²/g at the low, high energy; density g/cm³) — NIST XCOM, total with coherent scattering
_STEEL = (0.0362, 0.0305, 7.87)
_LEAD = (0.0423, 0.0439, 11.35)
_ORGANIC = (0.0397, 0.0277, 1.2)  # a pressed organic brick (drugs-like: ~ water's coefficients, denser)


def project_threat(image: ScanImage, threat: ScanImage, position: tuple[int, int]) -> ScanImage:
    """``image`` with ``threat`` (a small transmission patch) multiplied in, its top-left at ``position``
    (row, column); the part outside the image is dropped. Single-energy images take the high-energy patch."""
    r0, c0 = position
    h, w = image.shape
    th, tw = threat.shape
    rs, cs = max(r0, 0), max(c0, 0)
    re, ce = min(r0 + th, h), min(c0 + tw, w)
    high = image.high.copy()
    if rs >= re or cs >= ce:
        return ScanImage(high, high if not image.dual_energy else image.low.copy(), image.pixel_mm, image.modality)
    patch = (slice(rs - r0, re - r0), slice(cs - c0, ce - c0))
    high[rs:re, cs:ce] *= threat.high[patch]
    if image.dual_energy:
        low = image.low.copy()
        low[rs:re, cs:ce] *= threat.low[patch]
    else:
        low = high
    return ScanImage(high, low, image.pixel_mm, image.modality)


def _patch(mask_thickness_cm: np.ndarray, material: tuple[float, float, float], pixel_mm: float) -> ScanImage:
    mu_low, mu_high, rho = material
    high = np.exp(-mu_high * rho * mask_thickness_cm).astype(np.float32)
    low = np.exp(-mu_low * rho * mask_thickness_cm).astype(np.float32)
    return ScanImage(high, low, pixel_mm)


def threat_library(pixel_mm: float = 5.0) -> dict[str, ScanImage]:
    """The synthetic threats TIP projects, sized for ``pixel_mm``: a steel block (a weapon-sized dense object),
    a lead-lined pipe (shielding) and an organic brick (a concealed package of drugs or explosives)."""
    def px(cm: float) -> int:
        return max(3, round(cm * 10 / pixel_mm))

    lib: dict[str, ScanImage] = {}
    # steel block 30 x 20 cm, 6 cm thick along the beam
    lib["steel_block"] = _patch(np.full((px(20), px(30)), 6.0), _STEEL, pixel_mm)
    # lead pipe, 50 cm long, 8 cm across, 1 cm wall: thickness through a hollow cylinder across its diameter
    rows, cols = px(8), px(50)
    y = (np.arange(rows) + 0.5) / rows * 8.0 - 4.0
    outer = 2 * np.sqrt(np.clip(16.0 - y**2, 0, None))
    inner = 2 * np.sqrt(np.clip(9.0 - y**2, 0, None))
    lib["lead_pipe"] = _patch(np.repeat((outer - inner)[:, None], cols, axis=1), _LEAD, pixel_mm)
    # organic brick 40 x 30 cm, 25 cm deep, with soft (rounded) edges
    r, c = px(30), px(40)
    yy, xx = np.mgrid[0:r, 0:c]
    edge = np.minimum(np.minimum(yy + 1, r - yy), np.minimum(xx + 1, c - xx)).astype(float)
    soft = np.clip(edge / max(2.0, min(r, c) / 6), 0, 1)
    lib["organic_brick"] = _patch(25.0 * soft, _ORGANIC, pixel_mm)
    return lib


def place_threat(image: ScanImage, name: str, rng: np.random.Generator) -> tuple[ScanImage, Box]:
    """Project the library threat ``name`` at a random position fully inside ``image`` (a margin kept when
    the image allows); the projected image and where the threat is."""
    threat = threat_library(image.pixel_mm)[name]
    h, w = image.shape
    th, tw = min(threat.shape[0], h), min(threat.shape[1], w)
    margin_r, margin_c = min(h // 10, h - th), min(w // 10, w - tw)
    r = int(rng.integers(margin_r, max(margin_r, h - th - margin_r) + 1))
    c = int(rng.integers(margin_c, max(margin_c, w - tw - margin_c) + 1))
    return project_threat(image, threat, (r, c)), Box(r, c, th, tw)


# -- scoring ------------------------------------------------------------------------------------------------------
#: a mark finds the projected threat when its intersection over union with the threat's box is at least this ...
TIP_MIN_IOU = 0.1
#: ... or when it holds the box's centre and is at most this many times the box's area (a point-like mark on a
#: large threat counts; a mark drawn round half the container does not)
TIP_MAX_AREA_RATIO = 10.0

TipOutcome = Literal["hit", "false_location", "miss"]


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two pixel rectangles (0 when they do not overlap)."""
    rows = min(a.top + a.height, b.top + b.height) - max(a.top, b.top)
    cols = min(a.left + a.width, b.left + b.width) - max(a.left, b.left)
    inter = max(rows, 0) * max(cols, 0)
    union = a.height * a.width + b.height * b.width - inter
    return inter / union if union > 0 else 0.0


def localises(mark: Box, threat: Box) -> bool:
    """Whether an officer's marked region points at the projected threat's box: IoU >= ``TIP_MIN_IOU``, or the
    mark holds the box's centre and is at most ``TIP_MAX_AREA_RATIO`` times the box's area."""
    if iou(mark, threat) >= TIP_MIN_IOU:
        return True
    cy, cx = threat.top + threat.height / 2, threat.left + threat.width / 2
    inside = mark.top <= cy <= mark.top + mark.height and mark.left <= cx <= mark.left + mark.width
    return inside and mark.height * mark.width <= TIP_MAX_AREA_RATIO * threat.height * threat.width


def tip_outcome(verdict: str, marks: Iterable[Box], threat: Box) -> TipOutcome:
    """How a decision on a TIP presentation scores: ``hit`` a threat call with a mark on the projected threat,
    ``false_location`` a threat call with no mark or marks elsewhere only, ``miss`` a clear call."""
    if verdict != "threat":
        return "miss"
    return "hit" if any(localises(m, threat) for m in marks) else "false_location"
