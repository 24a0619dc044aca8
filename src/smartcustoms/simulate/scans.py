"""Seeded synthetic dual-energy X-ray scans of declared goods, with concealments and their ground truth.

SYNTHETIC, NOT A REAL SCANNER. No public cargo X-ray data may be used, so images are rendered from physics:
a side view of a container on a trailer (or a parcel on a belt), transmission T = exp(-Σ μ_m(E)·(ρt)_m)
per pixel at a low and a high energy (Beer–Lambert, scatter-free, one effective energy per beam; μ from
``inspection.images.materials``), then a Gaussian detector PSF, per-pulse source flicker, Poisson-like
quantum noise plus electronic noise, and log-domain 16-bit quantisation with a 10⁻⁵ transmission floor.

The container has corrugated steel side walls, roof, floor plywood over steel cross members, corner
posts and castings, a front wall and rear doors with locking bars; the trailer has a chassis, axles and
dual tyres. The goods of each declared line (``material_for_hs``: material and bulk density; mass from
``line_mass_kg``) become stacks of packages on pallets with packing gaps, filling as much of the container
as their packed volume needs; clutter (dunnage, straps, a few small objects) is added. Concealments are
injected the way threat image projection does, with a pixel mask of where they are:

* ``dense_in_light``: a dense (metal) package inside a stack of light goods;
* ``organic_in_metal``: an organic package replacing part of a stack of the densest (metal) goods;
* ``hidden_compartment``: a false front wall or false floor with packages behind or under it;
* ``undeclared_goods``: one or more stacks of a material the declaration does not explain.

Same seed and inputs -> identical bytes. ``dataset`` yields random declarations' scans for training.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

from smartcustoms.inspection.images.materials import (
    CARGO,
    CONTAINER_INNER_WIDTH_CM,
    PARCEL,
    Energies,
    Material,
    line_mass_kg,
    material,
    material_for_hs,
)
from smartcustoms.inspection.images.schemas import Box, DeclaredGoods, ScanImage

__all__ = ["CONCEALMENTS", "RenderedScan", "dataset", "random_goods", "render_scan"]

CONCEALMENTS: tuple[str, ...] = ("dense_in_light", "organic_in_metal", "hidden_compartment", "undeclared_goods")
T_FLOOR = 1e-5  # the detector's dynamic range: transmissions below read as this
_LN_FLOOR = -math.log(T_FLOOR)
_STEEL = 7.87  # g/cm³
_MAX_SIDE = 4096

# ISO 668 / 1496-1 general-purpose containers, mm: outer length, inner length; common outer height and widths
_CONTAINERS = {"20ft": (6058.0, 5898.0), "40ft": (12192.0, 12032.0)}
_OUTER_H, _INNER_H, _INNER_W = 2591.0, 2393.0, CONTAINER_INNER_WIDTH_CM * 10.0
_FLOOR_Z = 1300.0  # container underside above the road on a flat-bed trailer, mm
_DENSE = {"steel", "copper", "heavy_metal", "ore", "stone", "machinery"}


@dataclass(frozen=True)
class RenderedScan:
    """A rendered scan with its ground truth.

    ``mask`` (bool HxW) marks the concealment (all False when clean); ``cargo`` marks every goods pixel,
    concealment included; ``container`` is the container's inside (or the parcel) as a pixel box;
    ``materials`` the declared lines' materials; ``hidden_material`` what the concealment is made of;
    ``rendered_mass_kg`` the goods' mass in the image (concealment included), ``declared_mass_kg`` the goods'."""

    image: ScanImage
    mask: np.ndarray
    cargo: np.ndarray
    concealment: str | None
    goods: tuple[DeclaredGoods, ...]
    container: Box
    materials: tuple[str, ...]
    hidden_material: str | None
    seed: int
    mode: str = "container"
    declared_mass_kg: float = 0.0
    rendered_mass_kg: float = 0.0

    @property
    def label(self) -> int:
        """1 if a concealment was injected, else 0."""
        return int(self.concealment is not None)

    @property
    def bbox(self) -> Box | None:
        """The concealment's bounding box (None when clean)."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(self.mask.any(axis=0))
        return Box(int(rows[0]), int(cols[0]), int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1))


class _Canvas:
    """Two attenuation maps (Σ μ ρ t at the low and high energy) drawn in millimetres.

    x runs from the scene's left edge to the right, z from the ground (or belt) up; a thin feature's mass is
    spread over the one pixel it falls in, so mass is conserved."""

    def __init__(self, shape: tuple[int, int], pixel_mm: float, x0_px: float, ground_px: float,
                 energies: Energies) -> None:
        self.h, self.w = shape
        self.p = pixel_mm
        self.x0 = x0_px
        self.ground = ground_px
        self.energies = energies
        self.low = np.zeros(shape, dtype=np.float32)
        self.high = np.zeros(shape, dtype=np.float32)
        self.mass = np.zeros(shape, dtype=np.float32)  # g/cm² of everything, for the mass check
        self.cargo = np.zeros(shape, dtype=bool)
        self.texture: np.ndarray | None = None  # smooth unit-variance noise for goods' density
        self._mu: dict[str, tuple[float, float]] = {}

    def mu(self, mat: Material) -> tuple[float, float]:
        if mat.name not in self._mu:
            self._mu[mat.name] = (mat.mu(self.energies.low_mev), mat.mu(self.energies.high_mev))
        return self._mu[mat.name]

    def cols(self, x0: float, x1: float) -> tuple[int, int, float]:
        """Pixel columns covering x0..x1 mm and the coverage factor of a sub-pixel feature."""
        a, b = self.x0 + x0 / self.p, self.x0 + x1 / self.p
        return self._span(a, b, self.w)

    def rows(self, z0: float, z1: float) -> tuple[int, int, float]:
        """Pixel rows covering heights z0..z1 mm (z up) and the coverage factor of a sub-pixel feature."""
        a, b = self.ground - z1 / self.p, self.ground - z0 / self.p
        return self._span(a, b, self.h)

    @staticmethod
    def _span(a: float, b: float, n: int) -> tuple[int, int, float]:
        if b - a < 1.0:  # thinner than a pixel: the one pixel holding its centre, its mass scaled
            lo = int(math.floor((a + b) / 2))
            return max(lo, 0), min(lo + 1, n), max(b - a, 0.0)
        lo, hi = int(math.floor(a + 0.5)), int(math.floor(b + 0.5))
        return max(lo, 0), min(hi, n), 1.0

    def add(self, x0: float, x1: float, z0: float, z1: float, mat: Material, mass_cm2: float | np.ndarray,
            cargo: bool = False) -> tuple[slice, slice]:
        """Add ``mass_cm2`` g/cm² (ρ × path length across the beam) of ``mat`` over a box in mm; cargo boxes
        get the goods' density texture and are marked in the cargo mask."""
        c0, c1, fx = self.cols(x0, x1)
        r0, r1, fz = self.rows(z0, z1)
        sl = (slice(r0, r1), slice(c0, c1))
        if c1 <= c0 or r1 <= r0:
            return sl
        m = mass_cm2 * (fx * fz) if not isinstance(mass_cm2, np.ndarray) else mass_cm2[: r1 - r0, : c1 - c0]
        if cargo and self.texture is not None:
            m = m * np.clip(1.0 + 0.15 * self.texture[sl], 0.3, None)
        self.apply(sl, mat, m)
        if cargo:
            self.cargo[sl] = True
        return sl

    def apply(self, sl: tuple[slice, slice], mat: Material, m: float | np.ndarray) -> None:
        mu_low, mu_high = self.mu(mat)
        self.low[sl] += mu_low * m
        self.high[sl] += mu_high * m
        self.mass[sl] += m

    def disk(self, xc: float, zc: float, r_out: float, r_in: float, mat: Material, mass_cm2: float) -> None:
        """A ring (or disk when r_in = 0) seen face-on, of uniform mass thickness."""
        c0, c1, _ = self.cols(xc - r_out, xc + r_out)
        r0, r1, _ = self.rows(zc - r_out, zc + r_out)
        if c1 <= c0 or r1 <= r0:
            return
        yy, xx = np.mgrid[r0:r1, c0:c1]
        d = np.hypot((xx + 0.5 - self.x0) * self.p - xc, (self.ground - yy - 0.5) * self.p - zc)
        ring = ((d <= r_out) & (d >= r_in)).astype(np.float32)
        self.apply((slice(r0, r1), slice(c0, c1)), mat, mass_cm2 * ring)


@dataclass
class _Stack:
    """A stack of packages of one material in the container, as drawn (mm)."""

    x0: float
    x1: float
    z0: float
    z1: float
    mat: Material
    density: float  # g/cm³ inside the stack
    depth_cm: float  # goods path across the beam
    line: int  # index of the declared line (-1: concealment)
    pattern: str = "plain"  # how the packages look inside: plain, bottles, appliances, tyres, vehicle
    pallet: bool = True
    item_scale: float = 1.0  # package size relative to cargo cartons (parcels hold small items)

    @property
    def mass_cm2(self) -> float:
        return self.density * self.depth_cm


def _truck(c: _Canvas, length: float, rng: np.random.Generator) -> None:
    """Trailer chassis, axles and dual tyres under a container of outer ``length`` mm (x from the front)."""
    steel, rubber = material("steel"), material("rubber")
    # two longitudinal I-beams: webs (8 mm each across the beam) and flanges (120 mm across, 12 mm tall)
    c.add(-150, length + 300, _FLOOR_Z - 320, _FLOOR_Z - 20, steel, 2 * 0.8 * _STEEL)
    for z in (_FLOOR_Z - 320, _FLOOR_Z - 32):
        c.add(-150, length + 300, z, z + 12, steel, 2 * 12.0 * _STEEL)
    axles = [length - 1300 - i * 1310 for i in range(3 if length > 9000 else 2)]
    axles.append(1200.0 + rng.uniform(-100, 100))  # the landing legs near the front (drawn below, no wheels)
    for i, ax in enumerate(axles):
        if i == len(axles) - 1:  # landing legs: two steel tubes, no wheel
            c.add(ax - 60, ax + 60, 350, _FLOOR_Z - 320, steel, 2 * 2 * 0.6 * _STEEL)
            c.add(ax - 150, ax + 150, 300, 350, steel, 2 * 30.0 * _STEEL * 0.3)
            continue
        c.disk(ax, 510, 510, 330, rubber, 4 * 28.0 * 1.15)  # four tyres in line across the beam
        c.disk(ax, 510, 330, 90, steel, 4 * 1.2 * _STEEL)  # rim discs
        c.disk(ax, 510, 90, 0, steel, 250.0 * _STEEL * 0.35)  # the axle tube along the beam: near opaque
        c.add(ax - 500, ax + 500, 900, 960, steel, 2 * 9.0 * _STEEL * 0.5)  # leaf springs/hangers


def _corrugated_wall(c: _Canvas, x: float, z0: float, z1: float, share: float = 1.0) -> None:
    """A corrugated steel wall across the container (front wall, doors, a false wall) seen edge-on: the
    2 mm sheet zig-zags over 45 mm; the beam runs along its flat parts (two dense lines) and through its
    flanks (a band)."""
    steel = material("steel")
    c.add(x, x + 45, z0, z1, steel, 4 * 0.2 / 0.5 * _STEEL * share)  # flanks crossed obliquely, ~16 of them
    for xl in (x, x + 43):
        c.add(xl, xl + 2, z0, z1, steel, _INNER_W / 10 / 2 * _STEEL * share)  # flats along the beam


def _container(c: _Canvas, kind: str, rng: np.random.Generator) -> tuple[float, float]:
    """Draw the container shell; return its inner (x0, x1) in mm."""
    steel, wood = material("steel"), material("wood")
    outer, inner = _CONTAINERS[kind]
    e = (outer - inner) / 2  # end wall allowance
    zb, zt = _FLOOR_Z, _FLOOR_Z + _OUTER_H
    z_floor, z_roof = zb + 160 + 28, zb + 160 + 28 + _INNER_H
    # side walls: two 1.6 mm corrugated sheets; the trapezoid flanks lie oblique to the beam: twice the path
    pitch, flank = 278.0, 70.0
    cols = np.arange(c.w)
    x_mm = (cols + 0.5 - c.x0) * c.p
    phase = np.mod(x_mm - e + rng.uniform(0, pitch), pitch)
    on_flank = ((phase > 0.25 * pitch) & (phase < 0.25 * pitch + flank)) | (
        (phase > 0.75 * pitch) & (phase < 0.75 * pitch + flank))
    wall = np.where(on_flank, 2.0, 1.0) * 2 * 0.16 * _STEEL
    wall = np.where((x_mm > e) & (x_mm < outer - e), wall, 0.0).astype(np.float32)
    r0, r1, _ = c.rows(z_floor, z_roof)
    c.apply((slice(r0, r1), slice(0, c.w)), steel, np.broadcast_to(wall, (r1 - r0, c.w)))
    # roof sheet (2 mm, crossed along the whole width) and top rails; floor: plywood on cross members
    c.add(0, outer, z_roof, z_roof + 25, steel, _INNER_W / 10 * _STEEL * 2.0 / 25)
    c.add(0, outer, zt - 60, zt, steel, 2 * 2 * 0.3 * _STEEL + 2 * 6.0 * _STEEL * 0.1)
    c.add(0, outer, zb, zb + 160, steel, 2 * 0.45 * _STEEL)  # bottom side rails' webs
    for z in (zb, zb + 155):
        c.add(0, outer, z, z + 5, steel, 2 * 4.8 * _STEEL)
    c.add(e, outer - e, z_floor - 28, z_floor, wood, _INNER_W / 10 * 0.70)  # 28 mm plywood floor
    x = e + rng.uniform(100, 200)
    while x < outer - e - 100:
        c.add(x, x + 4, zb + 30, zb + 152, steel, _INNER_W / 10 * _STEEL)  # cross member web, along the beam
        c.add(x - 20, x + 25, zb + 148, zb + 152, steel, _INNER_W / 10 * _STEEL)
        x += rng.uniform(280, 320)
    # ends: corner posts (6 mm profiles), front wall and doors (sheets along the beam), locking bars
    for x0 in (0.0, outer - 150):
        c.add(x0, x0 + 150, zb, zt, steel, 2 * 2 * 0.6 * _STEEL)
        for z0 in (zb, zt - 118):
            c.add(x0 if x0 == 0 else outer - 178, (x0 if x0 == 0 else outer - 178) + 178, z0, z0 + 118,
                  steel, 2 * 16.2 * _STEEL * 0.45)  # corner castings
    _corrugated_wall(c, e - 45, z_floor, z_roof)  # front wall
    _corrugated_wall(c, outer - e, z_floor, z_roof, share=0.8)  # doors (flatter, with stiffeners)
    c.add(outer - e + 2, outer - e + 60, zb + 100, zt - 100, steel, 4 * 2.7 * _STEEL * 0.5)  # locking bars
    return e, outer - e


def _package_size(mat: Material, rng: np.random.Generator) -> tuple[float, float]:
    """(length, height) of one package in mm."""
    if mat.name in _DENSE:
        return rng.uniform(500, 1400), rng.uniform(250, 700)
    if mat.name == "vehicle":
        return rng.uniform(3800, 4600), rng.uniform(1400, 1600)
    if mat.name == "rubber":  # a tyre standing: its diameter both ways
        d = rng.uniform(550, 750)
        return d, d
    return rng.uniform(350, 650), rng.uniform(250, 500)


def _pattern(hs_code: str, mat: Material) -> str:
    """How a line's packages look inside, from its HS heading and material."""
    digits = hs_code.replace(".", "").replace(" ", "")
    if digits[:4] in ("4011", "4012", "4013"):
        return "tyres"
    if digits[:2] == "87" and digits[:4] not in ("8708", "8714"):
        return "vehicle"
    if digits[:2] in ("22", "15", "33") or digits[:4] in ("7010", "7013"):
        return "bottles"
    if mat.name in ("electronics", "machinery"):
        return "appliances"
    return "plain"


def _nominal(mat: Material, energies: Energies, rng: np.random.Generator) -> tuple[float, float]:
    """(mass thickness g/cm², stack height mm) a line's stacks start from: bulk density across the container,
    capped where the high-energy beam would be all but stopped (dense goods are loaded low and spread)."""
    mt = mat.bulk_density * _INNER_W / 10 * rng.uniform(0.85, 1.0)
    mt = min(mt, rng.uniform(5.0, 7.5) / mat.mu(energies.high_mev))
    if mat.name in _DENSE:
        return mt, rng.uniform(500, 1100)
    if mat.name == "vehicle":
        return mt, rng.uniform(1400, 1600)
    return mt, min(_INNER_H - rng.uniform(80, 400), 2200.0)


def _stacks(lines: list[tuple[int, Material, float]], x_start: float, x_end: float, z_floor: float,
            energies: Energies, rng: np.random.Generator) -> list[_Stack]:
    """Lay the goods out as stacks from the front of the container to the doors; mass is conserved (a full
    container gets taller, then denser stacks)."""
    nominal = [_nominal(mat, energies, rng) for _, mat, _ in lines]
    need = sum(kg * 1000.0 / (mt * h / 10) * 10 for (_, _, kg), (mt, h) in zip(lines, nominal, strict=True))
    squeeze = max(1.0, need / (0.8 * (x_end - x_start)))
    out: list[_Stack] = []
    x = x_start + rng.uniform(0, 60)
    for (idx, mat, kg), (mt0, h0) in zip(lines, nominal, strict=True):
        grow_h = min(squeeze, (_INNER_H - 200) / h0)
        remaining = kg * 1000.0  # g
        while remaining > 1000.0 and x < x_end - 150:
            w = rng.uniform(900, 1250) if mat.name != "vehicle" else rng.uniform(3900, 4600)
            w = min(w, x_end - x - 20)
            mt = mt0 * rng.uniform(0.92, 1.08) * squeeze / grow_h
            h = min(h0 * grow_h * rng.uniform(0.9, 1.0), remaining / (mt * w / 10) * 10)
            if h < 150:  # the remainder: a low, short stack
                h = 150.0
                w = min(max(100.0, remaining / (mt * 15) * 10), x_end - x - 20)
            pallet = 0.0 if mat.name in _DENSE or mat.name == "vehicle" else 144.0
            depth_cm = _INNER_W / 10 * (rng.uniform(0.35, 0.8) if mat.name in _DENSE else rng.uniform(0.8, 0.95))
            out.append(_Stack(x, x + w, z_floor + pallet, z_floor + pallet + h, mat, mt / depth_cm, depth_cm, idx))
            remaining -= mt * (w / 10) * (h / 10)
            x += w + rng.uniform(20, 120)
    return out


def _draw_stack(c: _Canvas, s: _Stack, texture: np.ndarray, rng: np.random.Generator) -> tuple[slice, slice]:
    """A stack: pallet, packages in layers and columns with seams, density texture by kind of goods."""
    wood, paper = material("wood"), material("paper")
    if s.pallet and s.mat.name not in _DENSE and s.pattern != "vehicle":
        z = s.z0 - 144
        c.add(s.x0, s.x1, z + 122, z + 144, wood, s.depth_cm * 0.55 * 0.75)  # top deck boards
        c.add(s.x0, s.x1, z, z + 22, wood, s.depth_cm * 0.55 * 0.5)  # bottom deck boards
        for bx in (s.x0, (s.x0 + s.x1) / 2 - 50, s.x1 - 100):
            c.add(bx, bx + 100, z + 22, z + 122, wood, 3 * 14.5 * 0.55)  # blocks
    r0, r1, _ = c.rows(s.z0, s.z1)
    c0, c1, _ = c.cols(s.x0, s.x1)
    if r1 <= r0 or c1 <= c0:
        return slice(r0, r0), slice(c0, c0)
    hh, ww = r1 - r0, c1 - c0
    field_ = 1.0 + 0.12 * texture[r0:r1, c0:c1]
    name = s.pattern
    pl, ph = _package_size(s.mat, rng)
    pl, ph = max(pl * s.item_scale, c.p * 3), max(ph * s.item_scale, c.p * 3)
    xs = np.arange(ww) * c.p + rng.uniform(0, pl)
    zs = np.arange(hh) * c.p + rng.uniform(0, ph)
    u = (xs % pl / pl)[None, :]  # position inside its package, 0..1, along the length
    v = (zs % ph / ph)[:, None]  # and down from the package's top
    if name == "bottles":  # bottles or jerrycans side by side: stripes, lighter necks on top
        period = max(2.0, rng.uniform(70, 110) / c.p)
        stripes = 1.0 + 0.3 * np.cos(2 * np.pi * (np.arange(ww) + rng.uniform(0, period)) / period)
        field_ = field_ * stripes[None, :] * np.where(v < 0.2, 0.45, 1.0)
    elif name == "vehicle":  # a car: cabin of glass and thin sheet, body, engine block, wheels
        yy, xx = np.mgrid[0:hh, 0:ww]
        fy, fx = yy / hh, xx / ww
        cabin = (fy < 0.45) & (fx > 0.25 + 0.15 * (0.45 - fy)) & (fx < 0.85 - 0.1 * (0.45 - fy))
        body = (fy >= 0.45) & (fy < 0.85) & (fx > 0.02) & (fx < 0.98)
        engine = (fy > 0.5) & (fy < 0.85) & (fx > 0.05) & (fx < 0.22)
        wheel = np.zeros((hh, ww), dtype=bool)
        for wx in (0.17, 0.8):
            wheel |= np.hypot((fx - wx) * ww, (fy - 0.82) * hh) < 0.18 * hh
        field_ = np.where(engine, 5.0, np.where(wheel, 2.5, np.where(body, 1.0, np.where(cabin, 0.3, 0.0))))
    elif name == "appliances":  # one appliance per carton: casing, foam, a dense part
        a, b = rng.uniform(0.06, 0.15), rng.uniform(0.08, 0.2)
        device = (u > a) & (u < 1 - a) & (v > b) & (v < 1 - b)
        frame = device & ~((u > a + 0.05) & (u < 1 - a - 0.05) & (v > b + 0.05) & (v < 1 - b - 0.05))
        u0, v0 = rng.uniform(0.2, 0.5), rng.uniform(0.3, 0.5)
        core = np.hypot((u - u0) / 0.16, (v - v0) / 0.2) < 1.0
        dense_part = 4.0 if s.mat.name == "machinery" else 2.5
        field_ = field_ * np.where(core & device, dense_part, np.where(frame, 1.6, np.where(device, 0.9, 0.15)))
    elif name == "tyres":  # tyres standing in rows: rings
        r = np.hypot(u - 0.5, (v - 0.5) * ph / pl)
        field_ = field_ * np.where((r > 0.28) & (r < 0.48), 2.0, np.where(r <= 0.28, 0.15, 0.4))
    # package seams: thin gaps between packages along the length and between layers
    col_seams = (xs % pl) < c.p * 0.9
    row_seams = (zs % ph) < c.p * 0.9
    seams = row_seams[:, None] | col_seams[None, :]
    field_ = field_ * np.where(seams, 0.75, 1.0)
    field_ = field_ / max(float(field_.mean()), 1e-6)  # the pattern moves mass around, it does not add any
    m = (s.mass_cm2 * np.clip(field_, 0.05, None)).astype(np.float32)
    sl = (slice(r0, r1), slice(c0, c1))
    c.apply(sl, s.mat, m)
    c.cargo[sl] = True
    if s.mat.name not in _DENSE:  # carton walls at the seams
        c.apply(sl, paper, np.where(seams, 0.4 * s.depth_cm / 10, 0.0))
    return sl


def _clutter(c: _Canvas, x0: float, x1: float, z_floor: float, stacks: list[_Stack],
             rng: np.random.Generator) -> None:
    """Benign extras: wooden bracing at the doors, steel straps over some stacks, a few small objects."""
    wood, steel = material("wood"), material("steel")
    if rng.random() < 0.6:
        bx = (stacks[-1].x1 if stacks else x0) + rng.uniform(20, 80)
        if bx < x1 - 100:
            c.add(bx, bx + 90, z_floor, z_floor + rng.uniform(800, 2200), wood, 0.8 * _INNER_W / 10 * 0.55)
    for s in stacks:
        if rng.random() < 0.25:
            for k in range(int(rng.integers(1, 3))):
                sx = s.x0 + (k + 1) * (s.x1 - s.x0) / 3
                c.add(sx, sx + 2, s.z0, s.z1, steel, 0.1 * s.depth_cm * _STEEL)  # strap along the beam
    for _ in range(int(rng.integers(0, 4))):
        ox = rng.uniform(x0 + 100, x1 - 400)
        w, h = rng.uniform(100, 400), rng.uniform(60, 250)
        mat = material(str(rng.choice(["wood", "plastic", "steel", "textile"], p=[0.4, 0.3, 0.1, 0.2])))
        thick = rng.uniform(5, 40) * (0.15 if mat.name == "steel" else 0.5)
        top = max((s.z1 for s in stacks if s.x0 <= ox <= s.x1), default=z_floor)
        c.add(ox, ox + w, top, top + h, mat, thick * mat.solid_density)


_ORGANIC_HIDDEN = ("tobacco", "sugar", "chemical", "plastic", "paper", "textile")
_DENSE_HIDDEN = ("steel", "copper", "heavy_metal", "ore")


def _conceal(c: _Canvas, kind: str, stacks: list[_Stack], inner: tuple[float, float], z_floor: float,
             declared: set[str], compartment: tuple[str, float, float, float] | None,
             rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Inject a concealment; return its pixel mask and the hidden material's name."""
    mask = np.zeros((c.h, c.w), dtype=bool)
    if kind in ("dense_in_light", "organic_in_metal") and stacks:
        def score(s: _Stack) -> float:
            return s.mat.ratio(c.energies)  # high for organic, low for metal
        key = (lambda s: -score(s)) if kind == "dense_in_light" else score
        pool = sorted(stacks, key=key)[: max(1, len(stacks) // 3)]
        host = pool[int(rng.integers(len(pool)))]
        hw, hh = host.x1 - host.x0, host.z1 - host.z0
        w = min(hw * 0.8, rng.uniform(200, 650))
        h = min(hh * 0.8, rng.uniform(150, 550))
        x0 = host.x0 + rng.uniform(0.1 * hw, max(0.1 * hw, hw - w - 0.1 * hw))
        z0 = host.z0 + rng.uniform(0.05 * hh, max(0.05 * hh, hh - h - 0.05 * hh))
        if kind == "dense_in_light":
            mat = material(str(rng.choice(_DENSE_HIDDEN, p=[0.45, 0.2, 0.15, 0.2])))
            t_cm = rng.uniform(4, 30) * (0.5 if mat.name == "heavy_metal" else 1.0)
            add = mat.solid_density * rng.uniform(0.3, 0.8) * t_cm
        else:
            mat = material(str(rng.choice(_ORGANIC_HIDDEN)))
            t_cm = host.depth_cm * rng.uniform(0.4, 0.9)
            add = min(mat.solid_density * rng.uniform(0.4, 0.9), 0.8 * host.density) * t_cm
        removed = host.density * t_cm  # the goods the package displaces
        sl = c.add(x0, x0 + w, z0, z0 + h, host.mat, -min(removed, 0.95 * host.mass_cm2))
        c.add(x0, x0 + w, z0, z0 + h, mat, add, cargo=True)
        mask[sl] = True
        return mask, mat.name
    if kind == "hidden_compartment" or not stacks:
        mat = material(str(rng.choice(_ORGANIC_HIDDEN + ("heavy_metal",), p=[0.3, 0.15, 0.15, 0.15, 0.1, 0.1,
                                                                                0.05])))
        steel = material("steel")
        fill = mat.solid_density * rng.uniform(0.3, 0.6) * _INNER_W / 10 * rng.uniform(0.5, 0.9)
        fill = min(fill, rng.uniform(3.0, 7.0) / mat.mu(c.energies.high_mev))
        if compartment is None:
            compartment = ("wall", inner[0], inner[0] + rng.uniform(300, 800), _INNER_H)
        variant, x0, x1, size = compartment
        if variant == "wall":  # false front wall: a steel sheet across the width, hidden packages behind
            _corrugated_wall(c, x1 - 45, z_floor, z_floor + _INNER_H, share=rng.uniform(0.6, 1.0))
            h = rng.uniform(0.4, 0.95) * _INNER_H
            sl = c.add(x0 + 40, x1 - 30, z_floor, z_floor + h, mat, fill, cargo=True)
        else:  # false floor: a raised deck over the packages, the declared goods standing on it
            c.add(x0, x1, z_floor + size, z_floor + size + 4, steel, _INNER_W / 10 * _STEEL)
            c.add(x0, x0 + 5, z_floor, z_floor + size, steel, _INNER_W / 10 * _STEEL * 0.5)
            c.add(x1 - 5, x1, z_floor, z_floor + size, steel, _INNER_W / 10 * _STEEL * 0.5)
            sl = c.add(x0 + 50, x1 - 50, z_floor + 10, z_floor + size - 10, mat, fill, cargo=True)
        mask[sl] = True
        return mask, mat.name
    # undeclared goods: a block of a material the declaration does not explain, in place of some goods
    others = [n for n in ("electronics", "tobacco", "steel", "textile", "copper", "plastic", "water", "machinery")
              if n not in declared]
    mat = material(str(rng.choice(others)))
    host = stacks[int(rng.integers(len(stacks)))]
    hw, hh = host.x1 - host.x0, host.z1 - host.z0
    w, h = hw * rng.uniform(0.5, 1.0), hh * rng.uniform(0.4, 1.0)
    x0 = host.x0 + rng.uniform(0, hw - w)
    z0 = host.z0 + (0.0 if rng.random() < 0.5 else hh - h)
    frac = rng.uniform(0.5, 1.0)  # share of the stack's depth the undeclared block takes
    sl = c.add(x0, x0 + w, z0, z0 + h, host.mat, -host.mass_cm2 * frac)
    mt = min(mat.bulk_density * rng.uniform(0.9, 1.3) * host.depth_cm * frac, rng.uniform(3.0, 7.0) / mat.mu(
        c.energies.high_mev))
    c.add(x0, x0 + w, z0, z0 + h, mat, mt, cargo=True)
    mask[sl] = True
    return mask, mat.name


_BANK_SIDE = 1024


@cache
def _texture_bank(sigma: float) -> np.ndarray:
    """A fixed field of smooth unit-variance noise (seeded once), from which images take random crops."""
    bank = ndimage.gaussian_filter(np.random.default_rng(20261204).standard_normal(
        (_BANK_SIDE, _BANK_SIDE)).astype(np.float32), sigma, truncate=2.0, mode="wrap")
    bank /= float(bank.std())
    bank.setflags(write=False)
    return bank


def _texture(rng: np.random.Generator, shape: tuple[int, int], sigma: float) -> np.ndarray:
    """Smooth unit-variance noise of ``shape``: a random crop of the bank, flipped at random (fresh noise when
    the image is larger than the bank)."""
    h, w = shape
    if h > _BANK_SIDE or w > _BANK_SIDE:
        field_ = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, truncate=2.0)
        return field_ / max(float(field_.std()), 1e-6)
    bank = _texture_bank(sigma)
    r, c = int(rng.integers(_BANK_SIDE - h + 1)), int(rng.integers(_BANK_SIDE - w + 1))
    crop = bank[r:r + h, c:c + w]
    if rng.random() < 0.5:
        crop = crop[::-1]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def _detect(att: np.ndarray, counts: float, psf_px: float, flicker: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Transmission through the detector: PSF blur, source flicker, quantum + electronic noise, 16-bit log."""
    t = np.exp(-att)
    t = ndimage.gaussian_filter(t, psf_px, mode="nearest", truncate=3.0)
    t *= flicker[None, :]
    t += np.sqrt(t / counts + 2e-5**2) * noise
    np.clip(t, T_FLOOR, 1.0, out=t)
    q = np.rint(-np.log(t) / _LN_FLOOR * 65535.0).astype(np.uint16)
    out = np.exp(q.astype(np.float32) * np.float32(-_LN_FLOOR / 65535.0))
    return np.clip(out, np.float32(T_FLOOR), np.float32(1.0)).astype(np.float32)


def render_scan(goods: Sequence[DeclaredGoods], *, seed: int, concealment: str | None = None,
                size: tuple[int, int] = (256, 512), mode: str = "container") -> RenderedScan:
    """Render a dual-energy scan of ``goods`` (container side view, or ``mode="parcel"``) with an optional
    concealment (one of ``CONCEALMENTS``). Same arguments -> identical pixels."""
    if concealment is not None and concealment not in CONCEALMENTS:
        raise ValueError(f"concealment: {concealment!r} is not one of {CONCEALMENTS}")
    if mode not in ("container", "parcel"):
        raise ValueError(f"mode: {mode!r} is not 'container' or 'parcel'")
    h, w = size
    if not (32 <= h <= _MAX_SIDE and 32 <= w <= _MAX_SIDE):
        raise ValueError(f"size: {size} must be between 32 and {_MAX_SIDE} pixels a side")
    if not goods:
        raise ValueError("goods: at least one declared goods line is needed")
    if mode == "parcel":
        return _render_parcel(goods, seed=seed, concealment=concealment, size=size)
    rng = np.random.default_rng(seed)
    lines = [(i, material_for_hs(g.hs_code), line_mass_kg(g)[0]) for i, g in enumerate(goods)]
    declared_kg = sum(m for _, _, m in lines)
    volume = sum(m / (mat.bulk_density * 1000.0) for _, mat, m in lines)
    kind = "20ft" if volume <= 28.0 and declared_kg <= 24000 and rng.random() < 0.8 else "40ft"
    outer = _CONTAINERS[kind][0]
    scene_h = _FLOOR_Z + _OUTER_H + 150
    pixel_mm = max((outer + 900) / (w * 0.97), scene_h / (h * 0.97))
    x0_px = (w - outer / pixel_mm) / 2 + 200 / pixel_mm
    ground_px = h - (h - scene_h / pixel_mm) / 2 - 60 / pixel_mm
    c = _Canvas((h, w), pixel_mm, x0_px, ground_px, CARGO)
    _truck(c, outer, rng)
    inner = _container(c, kind, rng)
    z_floor = _FLOOR_Z + 160 + 28
    start = inner[0] + 30
    compartment: tuple[str, float, float, float] | None = None
    if concealment == "hidden_compartment":  # decided before loading: the goods stand in front of / on it
        if rng.random() < 0.55:
            compartment = ("wall", inner[0], inner[0] + rng.uniform(300, 800), _INNER_H)
            start = compartment[2] + 30
        else:
            fx0 = inner[0] + rng.uniform(0, 0.3) * (inner[1] - inner[0])
            compartment = ("floor", fx0, fx0 + rng.uniform(0.3, 0.7) * (inner[1] - inner[0]), rng.uniform(100, 250))
    stacks = _stacks(lines, start, inner[1] - 30, z_floor, CARGO, rng)
    for s in stacks:
        s.pattern = _pattern(goods[s.line].hs_code, s.mat)
    if compartment is not None and compartment[0] == "floor":
        lift = compartment[3] + 4
        for s in stacks:
            if s.x1 > compartment[1] and s.x0 < compartment[2]:
                s.z0, s.z1 = s.z0 + lift, s.z1 + lift
    texture = c.texture = _texture(rng, (h, w), 2.5)
    for s in stacks:
        _draw_stack(c, s, texture, rng)
    _clutter(c, inner[0], inner[1], z_floor, stacks, rng)
    mask = np.zeros((h, w), dtype=bool)
    hidden: str | None = None
    if concealment is not None:
        mask, hidden = _conceal(c, concealment, stacks, inner, z_floor, {m.name for _, m, _ in lines}, compartment,
                                rng)
    return _finish(c, rng, mask, hidden, concealment, goods, inner, (z_floor, z_floor + _INNER_H), lines,
                   declared_kg, seed, "container")


def _finish(c: _Canvas, rng: np.random.Generator, mask: np.ndarray, hidden: str | None, concealment: str | None,
            goods: Sequence[DeclaredGoods], inner: tuple[float, float], inner_z: tuple[float, float],
            lines: list[tuple[int, Material, float]], declared_kg: float, seed: int, mode: str) -> RenderedScan:
    """Detect both energies and package the scan with its truth; ``inner``/``inner_z`` bound the cargo space."""
    h, w = c.h, c.w
    np.maximum(c.low, 0.0, out=c.low)
    np.maximum(c.high, 0.0, out=c.high)
    flicker = (1.0 + 0.004 * rng.standard_normal(w)).astype(np.float32)
    psf = float(rng.uniform(0.6, 0.9))
    high = _detect(c.high, 40000.0, psf, flicker, rng.standard_normal((h, w), dtype=np.float32))
    low = _detect(c.low, 25000.0, psf, flicker, rng.standard_normal((h, w), dtype=np.float32))
    c0, c1, _ = c.cols(inner[0], inner[1])
    r0, r1, _ = c.rows(inner_z[0], inner_z[1])
    cargo_px = float(c.mass[c.cargo].sum()) if c.cargo.any() else 0.0
    return RenderedScan(
        image=ScanImage(high=high, low=low, pixel_mm=round(c.p, 3), modality="DX"),
        mask=mask, cargo=c.cargo.copy(), concealment=concealment, goods=tuple(goods),
        container=Box(r0, c0, r1 - r0, c1 - c0), materials=tuple(m.name for _, m, _ in lines),
        hidden_material=hidden, seed=seed, mode=mode, declared_mass_kg=declared_kg,
        rendered_mass_kg=cargo_px * (c.p / 10.0) ** 2 / 1000.0)


def _render_parcel(goods: Sequence[DeclaredGoods], *, seed: int, concealment: str | None,
                   size: tuple[int, int]) -> RenderedScan:
    """A parcel (carton on a belt, top-down view) at parcel-scanner energies (60/150 keV)."""
    rng = np.random.default_rng(seed)
    h, w = size
    lines = [(i, material_for_hs(g.hs_code), min(line_mass_kg(g)[0], 30.0)) for i, g in enumerate(goods)]
    declared_kg = sum(m for _, _, m in lines)
    box_w = rng.uniform(300, 600)
    box_h = rng.uniform(250, 450)
    pixel_mm = max((box_w + 150) / w, (box_h + 150) / h)
    c = _Canvas((h, w), pixel_mm, (w - box_w / pixel_mm) / 2, h - (h - box_h / pixel_mm) / 2, PARCEL)
    depth_cm = rng.uniform(15, 40)
    paper = material("paper")
    c.add(-100, box_w + 100, -60, box_h + 60, material("rubber"), 0.4)  # belt
    c.add(0, box_w, 0, box_h, paper, 2 * 0.5 * 0.7)  # carton top and bottom
    for x in (0.0, box_w - 5):
        c.add(x, x + 5, 0, box_h, paper, depth_cm * 0.7)
    for z in (0.0, box_h - 5):
        c.add(0, box_w, z, z + 5, paper, depth_cm * 0.7)
    stacks: list[_Stack] = []
    x = 15.0
    for idx, mat, mass in lines:
        frac = mass / max(declared_kg, 1e-9)
        wi = (box_w - 30) * frac
        dens = min(mat.solid_density * 0.8, mass * 1000.0 / (wi / 10 * (box_h - 30) / 10 * depth_cm))
        stacks.append(_Stack(x, x + wi - 5, 15, box_h - 15, mat, float(dens), depth_cm, idx,
                             _pattern(goods[idx].hs_code, mat), pallet=False, item_scale=0.25))
        x += wi
    texture = c.texture = _texture(rng, (h, w), 1.5)
    for s in stacks:
        _draw_stack(c, s, texture, rng)
    mask = np.zeros((h, w), dtype=bool)
    hidden: str | None = None
    if concealment is not None:
        mask, hidden = _conceal_parcel(c, concealment, stacks, {m.name for _, m, _ in lines}, rng)
    return _finish(c, rng, mask, hidden, concealment, goods, (0.0, box_w), (0.0, box_h), lines, declared_kg, seed,
                   "parcel")


def _conceal_parcel(c: _Canvas, kind: str, stacks: list[_Stack], declared: set[str],
                    rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """A parcel concealment: a small block in or beside the declared contents."""
    mask = np.zeros((c.h, c.w), dtype=bool)
    host = stacks[int(rng.integers(len(stacks)))]
    hw, hh = host.x1 - host.x0, host.z1 - host.z0
    if kind == "hidden_compartment":  # a double side wall of the carton with a flat packet inside
        mat = material(str(rng.choice(_ORGANIC_HIDDEN)))
        t = rng.uniform(12, 30)
        x0 = host.x0 if rng.random() < 0.5 else host.x1 - t
        c.add(x0 - 3, x0, host.z0, host.z1, material("paper"), host.depth_cm * 0.7)  # inner false wall
        sl = c.add(x0, x0 + t, host.z0 + 5, host.z1 - 5, mat, mat.solid_density * rng.uniform(0.3, 0.7)
                   * host.depth_cm * rng.uniform(0.5, 0.9), cargo=True)
        mask[sl] = True
        return mask, mat.name
    w, h = min(hw * 0.7, rng.uniform(40, 150)), min(hh * 0.7, rng.uniform(40, 150))
    x0 = host.x0 + rng.uniform(0.1, 0.9) * (hw - w)
    z0 = host.z0 + rng.uniform(0.1, 0.9) * (hh - h)
    if kind == "dense_in_light" or (kind == "undeclared_goods" and "steel" not in declared):
        mat = material(str(rng.choice(_DENSE_HIDDEN)))
        add = mat.solid_density * rng.uniform(0.3, 2.0)
    elif kind == "organic_in_metal":
        mat = material(str(rng.choice(_ORGANIC_HIDDEN)))
        add = mat.solid_density * rng.uniform(3, 10)
    else:
        mat = material(str(rng.choice(("electronics", "tobacco", "chemical"))))
        add = mat.solid_density * rng.uniform(2, 8)
    sl = c.add(x0, x0 + w, z0, z0 + h, host.mat, -min(host.mass_cm2 * 0.5, host.density * add / mat.solid_density))
    c.add(x0, x0 + w, z0, z0 + h, mat, add, cargo=True)
    mask[sl] = True
    return mask, mat.name


# -- random declarations for training sets -------------------------------------------------------------------
# (HS code, description, unit, kg per line low..high): a spread of materials, densities and packings
_CATALOGUE: tuple[tuple[str, str, str, float, float], ...] = (
    ("6109100000", "Cotton T-shirts", "011", 2000, 9000),
    ("6203420000", "Men's cotton trousers", "011", 2000, 8000),
    ("8471300000", "Laptop computers", "001", 1000, 5000),
    ("8528520000", "Computer monitors", "001", 2000, 6000),
    ("8517130000", "Smartphones", "001", 500, 3000),
    ("2204210000", "Red wine, bottled", "095", 8000, 20000),
    ("2202100000", "Mineral water, sweetened", "095", 10000, 21000),
    ("7208390000", "Hot-rolled steel", "035", 10000, 24000),
    ("7308900000", "Steel structures", "035", 3000, 12000),
    ("7318150000", "Steel bolts and screws", "035", 5000, 18000),
    ("7604291000", "Aluminium profiles", "035", 4000, 14000),
    ("7403110000", "Copper cathodes", "035", 10000, 22000),
    ("4011100000", "New car tyres", "007", 3000, 8000),
    ("4407110000", "Sawn pine wood", "035", 8000, 18000),
    ("4802560000", "Copy paper", "035", 8000, 20000),
    ("3926909000", "Articles of plastics", "035", 1500, 6000),
    ("1701999000", "Cane sugar", "035", 10000, 22000),
    ("0901210000", "Roasted coffee beans", "035", 5000, 15000),
    ("2402200000", "Cigarettes", "035", 3000, 8000),
    ("3004900000", "Medicaments, packaged", "035", 1000, 5000),
    ("6907220000", "Ceramic wall tiles", "035", 12000, 24000),
    ("7010909000", "Glass bottles", "035", 4000, 10000),
    ("9403600000", "Wooden furniture", "011", 2000, 6000),
    ("8450111000", "Washing machines", "001", 3000, 8000),
    ("8703231900", "Passenger cars", "002", 1300, 3200),
    ("6403990000", "Leather footwear", "012", 2000, 6000),
    ("9503008900", "Toys", "035", 1500, 5000),
    ("1905900000", "Biscuits", "035", 3000, 9000),
)


_NEEDS = {"organic_in_metal": lambda m: m.ratio(CARGO) < 1.3, "dense_in_light": lambda m: m.organic}


def random_goods(rng: np.random.Generator) -> list[DeclaredGoods]:
    """A random declaration's goods (1 to 3 lines, masses from the catalogue's ranges)."""
    n = int(rng.choice([1, 1, 1, 2, 2, 3]))
    out = []
    for k in rng.choice(len(_CATALOGUE), size=n, replace=False):
        hs, desc, unit, lo, hi = _CATALOGUE[int(k)]
        kg = float(rng.uniform(lo, hi)) / (1.0 if n == 1 else n * 0.8)
        packages = max(1, int(kg / rng.uniform(10, 800)))
        out.append(DeclaredGoods(hs_code=hs, description=desc, quantity=round(kg, 1), unit="035",
                                 gross_kg=round(kg, 1), net_kg=round(kg * 0.93, 1), packages=packages))
    return out


def dataset(n: int, seed: int, concealed_share: float = 0.5, *, size: tuple[int, int] = (256, 512),
            kinds: Sequence[str] = CONCEALMENTS, mode: str = "container") -> Iterator[RenderedScan]:
    """``n`` scans of random declarations; each is concealed with probability ``concealed_share``, the kind
    drawn evenly from ``kinds``. Item i depends only on (seed, i): any slice is reproducible."""
    if not 0.0 <= concealed_share <= 1.0:
        raise ValueError("concealed_share: must be between 0 and 1")
    if n < 0:
        raise ValueError("n: must not be negative")
    bad = [k for k in kinds if k not in CONCEALMENTS]
    if bad or not kinds:
        raise ValueError(f"kinds: {bad or 'empty'}; each must be one of {CONCEALMENTS}")
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        goods = random_goods(rng)
        kind = str(kinds[int(rng.integers(len(kinds)))]) if rng.random() < concealed_share else None
        if kind in _NEEDS:  # metal goods to hide organics in, light goods to hide a dense package in
            want = _NEEDS[kind]
            if not any(want(material_for_hs(g.hs_code)) for g in goods):
                fits = [k for k, item in enumerate(_CATALOGUE) if want(material_for_hs(item[0]))]
                hs, desc, unit, lo, hi = _CATALOGUE[fits[int(rng.integers(len(fits)))]]
                kg = round(float(rng.uniform(lo, hi)) / 2, 1)
                goods[-1] = DeclaredGoods(hs_code=hs, description=desc, quantity=kg, unit="035", gross_kg=kg,
                                          net_kg=round(kg * 0.93, 1), packages=max(1, int(kg / 200)))
        yield render_scan(goods, seed=int(rng.integers(2**62)), concealment=kind, size=size, mode=mode)


def preview(scan: RenderedScan, outline: bool = True) -> np.ndarray:
    """An 8-bit RGB picture of a scan for people: high | low energy side by side, dark = dense (attenuation
    0..9 mapped with a gamma of 1.5); the concealment's outline in red on the high-energy half."""
    def gray(t: np.ndarray) -> np.ndarray:
        att = -np.log(np.clip(t, T_FLOOR, 1.0))
        return (np.clip(1.0 - att / 9.0, 0.0, 1.0) ** 1.5 * 255).astype(np.uint8)
    high = np.repeat(gray(scan.image.high)[:, :, None], 3, axis=2)
    low = np.repeat(gray(scan.image.low)[:, :, None], 3, axis=2)
    if outline and scan.mask.any():
        m = scan.mask
        inner = m & np.roll(m, 1, 0) & np.roll(m, -1, 0) & np.roll(m, 1, 1) & np.roll(m, -1, 1)
        high[m & ~inner] = (220, 20, 20)
    gap = np.full((high.shape[0], 6, 3), 255, dtype=np.uint8)
    return np.concatenate([high, gap, low], axis=1)


def write_examples(directory: str, seed: int = 2026) -> list[str]:
    """Write docs/images/synthetic-*.png: a clean scan and one of each concealment (same declared goods)."""
    from pathlib import Path

    from PIL import Image

    goods = [DeclaredGoods("6109100000", "Cotton T-shirts", gross_kg=5200.0, packages=260),
             DeclaredGoods("8528520000", "Computer monitors", gross_kg=2400.0, packages=300),
             DeclaredGoods("7318150000", "Steel bolts", gross_kg=3000.0, packages=60)]
    palette = [v for g in range(255) for v in (g, g, g)] + [220, 20, 20]

    def save(rgb: np.ndarray, path: Path) -> None:  # 8-bit palette PNG: the gray ramp and the red outline
        idx = np.minimum(rgb[:, :, 1] & 0xFE, 254)  # 128 gray levels keep each file under 100 KB
        idx[(rgb[:, :, 0] == 220) & (rgb[:, :, 1] == 20)] = 255
        img = Image.fromarray(idx).convert("P")
        img.putpalette(palette)
        img.save(path, optimize=True)

    out = []
    for kind in (None, *CONCEALMENTS):
        scan = render_scan(goods, seed=seed, concealment=kind)
        path = Path(directory) / f"synthetic-{kind or 'clean'}.png"
        save(preview(scan), path)
        out.append(str(path))
    parcel = render_scan([DeclaredGoods("8517130000", "Smartphones", gross_kg=1.5),
                          DeclaredGoods("6109100000", "T-shirts", gross_kg=1.0)], seed=seed,
                         concealment="dense_in_light", size=(128, 128), mode="parcel")
    path = Path(directory) / "synthetic-parcel-dense_in_light.png"
    save(preview(parcel), path)
    out.append(str(path))
    return out


if __name__ == "__main__":  # python -m smartcustoms.simulate.scans docs/images
    import sys

    print("\n".join(write_examples(sys.argv[1] if len(sys.argv) > 1 else ".")))
