"""Materials as an X-ray scanner sees them: attenuation at two energies, HS code -> material, expected profile.

The bundled table (``attenuation.json``) holds approximate mass attenuation coefficients (cm²/g, total with
coherent scattering) of a few elements from the NIST XCOM tables at parcel (keV) and cargo (MeV) energies;
a material is a mixture of elements by mass fraction (mixture rule: μ/ρ = Σ wᵢ (μ/ρ)ᵢ) with a solid density
and a typical bulk density *as packed* (mass of goods over the cargo volume they take, packaging included).

``material_for_hs`` maps an HS code (heading first, then chapter; every chapter 01-97 has an entry, anything
else falls back to ``mixed``) to a material. ``expected_profile`` turns declared goods into what an image of
them should show: the mass, the volume, and the dual-energy ratio μ(low)/μ(high) range — the basis of
"image consistent with the declared goods". ``decompose`` reads the ratio and mass thickness back from a scan.

These figures serve synthesis and coarse consistency checks, not dosimetry; scanners' polychromatic beams
are approximated by one effective energy each (``CARGO`` 3/6 MeV, ``PARCEL`` 60/150 keV).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np

from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanImage

__all__ = [
    "CARGO",
    "CONTAINER_INNER_WIDTH_CM",
    "PARCEL",
    "Energies",
    "ExpectedLine",
    "ExpectedProfile",
    "Material",
    "decompose",
    "expected_profile",
    "hs_digits",
    "line_mass_kg",
    "material",
    "material_for_hs",
    "materials",
]

CONTAINER_INNER_WIDTH_CM = 235.2  # ISO 1496-1 general-purpose container: the beam crosses this much cargo


@dataclass(frozen=True, slots=True)
class Energies:
    """The effective energies (MeV) standing for a dual-energy scanner's low and high beams."""

    low_mev: float
    high_mev: float


CARGO = Energies(3.0, 6.0)  # stand-ins for a 6/9 MeV-endpoint linac's spectra (see docs/images.md)
PARCEL = Energies(0.06, 0.15)  # stand-ins for a 140-160 kVp dual-energy parcel scanner


@dataclass(frozen=True, slots=True)
class Material:
    """A material: its element mix, densities (g/cm³) and mass attenuation (cm²/g) at the tabulated energies."""

    name: str
    label: str
    organic: bool
    solid_density: float
    bulk_density: float
    composition: tuple[tuple[str, float], ...]
    _mu: tuple[tuple[float, float], ...]

    def mu(self, energy_mev: float) -> float:
        """Mass attenuation coefficient μ/ρ in cm²/g at a tabulated energy (ValueError for another one)."""
        for energy, value in self._mu:
            if math.isclose(energy, energy_mev, rel_tol=1e-6):
                return value
        raise ValueError(f"energy_mev: {energy_mev} is not tabulated; use one of {[e for e, _ in self._mu]}")

    def ratio(self, energies: Energies = CARGO) -> float:
        """The dual-energy ratio μ(low)/μ(high): higher for organic (low Z), lower for metals (high Z)."""
        return self.mu(energies.low_mev) / self.mu(energies.high_mev)

    def with_bulk_density(self, bulk_density: float) -> Material:
        """The same material packed at another bulk density (e.g. steel coils vs steel articles)."""
        return Material(self.name, self.label, self.organic, self.solid_density, bulk_density,
                        self.composition, self._mu)


@cache
def _table() -> dict[str, Any]:
    text = resources.files("smartcustoms.inspection.images").joinpath("attenuation.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def materials() -> Mapping[str, Material]:
    """Every material of the bundled table, by name."""
    table = _table()
    energies: list[float] = table["energies_mev"]
    elements: dict[str, list[float]] = table["elements"]
    out: dict[str, Material] = {}
    for name, spec in table["materials"].items():
        comp: dict[str, float] = spec["composition"]
        mu = tuple((e, sum(w * elements[el][i] for el, w in comp.items())) for i, e in enumerate(energies))
        out[name] = Material(name, spec["label"], bool(spec["organic"]), float(spec["solid_density"]),
                             float(spec["bulk_density"]), tuple(comp.items()), mu)
    return out


def material(name: str) -> Material:
    """One material by name (KeyError names the known ones)."""
    try:
        return materials()[name]
    except KeyError:
        raise KeyError(f"unknown material {name!r}; known: {sorted(materials())}") from None


# HS chapter (2 digits) or heading (4 digits) -> (material, bulk density as packed or None for the material's)
_HS: dict[str, tuple[str, float | None]] = {
    # I-IV live animals, animal and vegetable products, prepared foodstuffs, beverages, tobacco
    **{f"{c:02d}": ("food", None) for c in range(1, 9)},
    "09": ("sugar", 0.55), "10": ("sugar", 0.75), "11": ("sugar", 0.65), "12": ("sugar", 0.65),
    "13": ("chemical", 0.6), "14": ("wood", 0.3), "15": ("oil", None),
    **{f"{c:02d}": ("food", None) for c in range(16, 22)},
    "17": ("sugar", 0.85), "19": ("sugar", 0.45), "22": ("water", None), "23": ("sugar", 0.6),
    "24": ("tobacco", None),
    # V-VII mineral products, chemicals, plastics, rubber
    "25": ("stone", None), "26": ("ore", None), "27": ("oil", None),
    **{f"{c:02d}": ("chemical", None) for c in range(28, 39)},
    "28": ("stone", 1.0), "31": ("chemical", 1.0),
    "39": ("plastic", None), "40": ("rubber", None), "4011": ("rubber", 0.35),
    # VIII-XII hides, wood, paper, textiles, footwear
    "41": ("textile", 0.5), "42": ("textile", 0.3), "43": ("textile", 0.25),
    "44": ("wood", None), "45": ("wood", 0.25), "46": ("wood", 0.2),
    "47": ("paper", 0.9), "48": ("paper", None), "49": ("paper", 0.6),
    **{f"{c:02d}": ("textile", None) for c in range(50, 64)},
    "64": ("rubber", 0.3), "65": ("textile", 0.15), "66": ("textile", 0.25), "67": ("textile", 0.2),
    # XIII-XV stone, ceramics, glass, precious metals, base metals
    "68": ("stone", None), "69": ("stone", 1.0), "70": ("glass", None), "7007": ("glass", 1.8),
    "71": ("heavy_metal", 2.0), "7101": ("stone", 0.8), "7102": ("stone", 0.8), "7103": ("stone", 0.8),
    "7104": ("stone", 0.8), "7105": ("stone", 0.8), "7117": ("copper", 0.6), "7118": ("copper", 2.0),
    "72": ("steel", None), "73": ("steel", 0.8), "74": ("copper", None), "75": ("copper", 2.0),
    "76": ("aluminium", None), "78": ("heavy_metal", None), "79": ("copper", 2.0), "80": ("copper", 2.0),
    "81": ("copper", 1.5), "82": ("steel", 1.0), "83": ("steel", 0.6),
    # XVI-XXI machinery, electronics, vehicles, instruments, arms, miscellaneous, art
    "84": ("machinery", None), "8443": ("electronics", 0.3), "8471": ("electronics", 0.3),
    "8473": ("electronics", 0.4),
    "85": ("electronics", None), "8501": ("machinery", 1.2), "8502": ("machinery", 1.0),
    "8504": ("machinery", 1.5), "8507": ("electronics", 1.0), "8544": ("copper", 1.0),
    "86": ("steel", 0.5), "87": ("vehicle", None), "8708": ("machinery", 0.8), "8714": ("machinery", 0.5),
    "88": ("aluminium", 0.15), "89": ("steel", 0.3),
    "90": ("electronics", 0.3), "91": ("electronics", 0.4), "92": ("wood", 0.3), "93": ("steel", 0.8),
    "94": ("wood", 0.3), "9405": ("electronics", 0.25), "95": ("plastic", 0.3), "96": ("plastic", 0.4),
    "97": ("paper", 0.3),
}
# chapter 77 is reserved in the HS; 98 and 99 are national chapters: the fallback covers them


def hs_digits(hs_code: str) -> str:
    """``hs_code`` without its dots and spaces (``6109.10 00`` -> ``61091000``); its first four are the heading."""
    return hs_code.replace(".", "").replace(" ", "")


def material_for_hs(hs_code: str) -> Material:
    """The material goods under ``hs_code`` are mostly made of (heading, then chapter, else ``mixed``).

    ``hs_code`` is 2 to 10 digits (dots and spaces ignored); ValueError names the field otherwise."""
    digits = hs_digits(hs_code)
    if not (2 <= len(digits) <= 10 and digits.isdigit()):
        raise ValueError(f"hs_code: {hs_code!r} is not an HS code (2 to 10 digits)")
    entry = _HS.get(digits[:4]) or _HS.get(digits[:2])
    if entry is None:
        return material("mixed")
    name, bulk = entry
    found = material(name)
    return found if bulk is None else found.with_bulk_density(bulk)


_KG_UNITS = {"035": 1.0, "kg": 1.0, "kgm": 1.0, "036": 0.001, "g": 0.001, "grm": 0.001,
             "070": 1000.0, "t": 1000.0, "tne": 1000.0}
KG_PER_PACKAGE = 20.0  # a carton's typical gross mass when only the package count is known
DEFAULT_LINE_KG = 2000.0  # a line with neither mass, a mass unit nor packages


def line_mass_kg(goods: DeclaredGoods) -> tuple[float, str]:
    """The gross mass (kg) of a goods line and where it came from: gross, net (+8 % packing), quantity in a
    mass unit, packages x 20 kg, or a 2 t default."""
    if goods.gross_kg is not None and goods.gross_kg > 0:
        return float(goods.gross_kg), "gross"
    if goods.net_kg is not None and goods.net_kg > 0:
        return float(goods.net_kg) * 1.08, "net"
    factor = _KG_UNITS.get(goods.unit.strip().lower())
    if factor is not None and goods.quantity > 0:
        return float(goods.quantity) * factor, "quantity"
    if goods.packages:
        return goods.packages * KG_PER_PACKAGE, "packages"
    return DEFAULT_LINE_KG, "default"


@dataclass(frozen=True, slots=True)
class ExpectedLine:
    """What one declared line should look like: its material, mass (kg, with source) and packed volume (m³)."""

    hs_code: str
    material: Material
    mass_kg: float
    mass_source: str
    volume_m3: float


@dataclass(frozen=True, slots=True)
class ExpectedProfile:
    """What an image of the declared goods should show.

    ``ratio_range`` bounds the dual-energy ratio μ(low)/μ(high) of goods pixels (the declared materials'
    ratios widened by ``tolerance``); ``areal_density_range`` bounds the mass thickness (g/cm²) a beam
    meets through a stack of the goods across the container (30-100 % of its inner width at bulk density);
    ``mass_kg`` is what the image's integrated mass thickness should come to, container and chassis aside."""

    lines: tuple[ExpectedLine, ...]
    energies: Energies
    mass_kg: float
    volume_m3: float
    mean_ratio: float
    ratio_range: tuple[float, float]
    areal_density_range: tuple[float, float]
    material_shares: dict[str, float]

    @property
    def organic_share(self) -> float:
        """Share of the declared mass that is organic (low Z)."""
        return sum(line.mass_kg for line in self.lines if line.material.organic) / self.mass_kg


def expected_profile(declared: Sequence[DeclaredGoods], energies: Energies = CARGO,
                     tolerance: float = 0.04) -> ExpectedProfile:
    """The expected profile of an image of ``declared`` (ValueError if there is no line)."""
    if not declared:
        raise ValueError("declared: at least one goods line is needed")
    lines = []
    for goods in declared:
        mat = material_for_hs(goods.hs_code)
        mass, source = line_mass_kg(goods)
        lines.append(ExpectedLine(goods.hs_code, mat, mass, source, mass / (mat.bulk_density * 1000.0)))
    total = sum(line.mass_kg for line in lines)
    shares: dict[str, float] = {}
    for line in lines:
        shares[line.material.name] = shares.get(line.material.name, 0.0) + line.mass_kg / total
    ratios = [line.material.ratio(energies) for line in lines]
    mean_ratio = sum(r * line.mass_kg for r, line in zip(ratios, lines, strict=True)) / total
    dens = [line.material.bulk_density for line in lines]
    return ExpectedProfile(
        lines=tuple(lines), energies=energies, mass_kg=total, volume_m3=sum(line.volume_m3 for line in lines),
        mean_ratio=mean_ratio, ratio_range=(min(ratios) - tolerance, max(ratios) + tolerance),
        areal_density_range=(0.3 * min(dens) * CONTAINER_INNER_WIDTH_CM, max(dens) * CONTAINER_INNER_WIDTH_CM),
        material_shares=shares)


def decompose(image: ScanImage, energies: Energies = CARGO, min_attenuation: float = 0.05
              ) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel dual-energy ratio ln T(low)/ln T(high) and mass thickness (g/cm²) read from a scan.

    The mass thickness divides -ln T(high) by the μ(high) of the table's materials interpolated at the pixel's
    ratio. Pixels attenuating less than ``min_attenuation`` (in -ln T(high)) get ratio NaN and thickness 0."""
    high = np.clip(image.high.astype(np.float64), 1e-7, 1.0)
    low = np.clip(image.low.astype(np.float64), 1e-7, 1.0)
    att_high = -np.log(high)
    att_low = -np.log(low)
    seen = att_high >= min_attenuation
    ratio = np.full(high.shape, np.nan, dtype=np.float32)
    ratio[seen] = att_low[seen] / att_high[seen]
    curve = sorted((m.ratio(energies), m.mu(energies.high_mev)) for m in materials().values())
    xs = np.array([r for r, _ in curve])
    ys = np.array([mu for _, mu in curve])
    mu_high = np.interp(np.where(seen, ratio, xs[0]), xs, ys)
    thickness = np.where(seen, att_high / mu_high, 0.0).astype(np.float32)
    return ratio, thickness
