"""The material table: NIST-like attenuation, the HS -> material map and what declared goods should look like."""

from __future__ import annotations

import numpy as np
import pytest

from smartcustoms.inspection.images.materials import (
    CARGO,
    PARCEL,
    decompose,
    expected_profile,
    line_mass_kg,
    material,
    material_for_hs,
    materials,
)
from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanImage


def test_water_mixture_reproduces_nist_water():
    water = material("water")
    # NIST XCOM, water, total with coherent scattering (cm²/g)
    for energy, nist in ((1.0, 0.07072), (3.0, 0.03969), (6.0, 0.02770), (10.0, 0.02219), (0.1, 0.1707)):
        assert water.mu(energy) == pytest.approx(nist, rel=0.01)


def test_untabulated_energy_is_refused_by_name():
    with pytest.raises(ValueError, match="energy_mev"):
        material("steel").mu(7.0)


def test_dual_energy_ratio_orders_materials_by_atomic_number():
    r = {name: m.ratio(CARGO) for name, m in materials().items()}
    organic = [r[n] for n in ("water", "paper", "textile", "plastic", "tobacco", "sugar")]
    assert min(organic) > r["aluminium"] > r["steel"] > r["copper"] > r["heavy_metal"]
    assert min(organic) - r["steel"] > 0.2  # wide enough for the model to tell organic from metal


def test_higher_energy_is_attenuated_less_except_where_pair_production_dominates():
    for name in ("water", "textile", "aluminium", "steel", "copper"):
        m = material(name)
        assert m.mu(CARGO.high_mev) < m.mu(CARGO.low_mev)
        assert m.mu(PARCEL.high_mev) < m.mu(PARCEL.low_mev)
    lead = material("heavy_metal")
    assert lead.mu(6.0) > lead.mu(3.0)  # lead's minimum lies near 3.5 MeV


def test_every_hs_chapter_has_a_material_and_unknown_chapters_fall_back():
    names = set(materials())
    for chapter in range(1, 98):
        assert material_for_hs(f"{chapter:02d}").name in names
    for heading in range(100, 9800):  # every heading resolves, including those with their own entry
        assert material_for_hs(f"{heading:04d}").name in names
    assert material_for_hs("77").name == "mixed"  # reserved in the HS
    assert material_for_hs("9801000000").name == "mixed"  # national chapter


@pytest.mark.parametrize(("hs", "name"), [
    ("6109100000", "textile"), ("7208390000", "steel"), ("7604291000", "aluminium"), ("8471300000", "electronics"),
    ("8450111000", "machinery"), ("2204210000", "water"), ("2402200000", "tobacco"), ("4407110000", "wood"),
    ("4802560000", "paper"), ("3926909000", "plastic"), ("7010909000", "glass"), ("0201300000", "food"),
    ("7113190000", "heavy_metal"), ("8544421100", "copper"), ("8703231900", "vehicle"), ("1701.99", "sugar"),
])
def test_hs_headings_and_chapters_map_to_their_material(hs: str, name: str):
    assert material_for_hs(hs).name == name


def test_heading_bulk_density_overrides_the_materials():
    assert material_for_hs("7208").bulk_density > material_for_hs("7308").bulk_density  # coils vs structures
    assert material_for_hs("7308").mu(6.0) == material("steel").mu(6.0)


@pytest.mark.parametrize("bad", ["", "7", "61O9", "12345678901", "abc"])
def test_a_malformed_hs_code_is_refused_naming_the_field(bad: str):
    with pytest.raises(ValueError, match="hs_code"):
        material_for_hs(bad)


def test_line_mass_comes_from_the_best_declared_figure():
    assert line_mass_kg(DeclaredGoods("61", gross_kg=1200.0, net_kg=1000.0)) == (1200.0, "gross")
    assert line_mass_kg(DeclaredGoods("61", net_kg=1000.0)) == (pytest.approx(1080.0), "net")
    assert line_mass_kg(DeclaredGoods("61", quantity=3.0, unit="070")) == (3000.0, "quantity")
    assert line_mass_kg(DeclaredGoods("61", quantity=3.0, unit="011", packages=10)) == (200.0, "packages")
    assert line_mass_kg(DeclaredGoods("61", quantity=3.0, unit="011"))[1] == "default"


def test_expected_profile_of_mixed_goods():
    p = expected_profile([DeclaredGoods("6109100000", gross_kg=5000.0), DeclaredGoods("7208390000", gross_kg=15000.0)])
    assert p.mass_kg == 20000.0
    assert p.material_shares == {"textile": 0.25, "steel": 0.75}
    assert p.organic_share == 0.25
    lo, hi = p.ratio_range
    assert lo < material("steel").ratio() < p.mean_ratio < material("textile").ratio() < hi
    assert p.volume_m3 == pytest.approx(5000 / 350 + 15000 / 2000)
    assert p.areal_density_range[0] < p.areal_density_range[1]


def test_expected_profile_needs_goods():
    with pytest.raises(ValueError, match="declared"):
        expected_profile([])


def test_decompose_reads_back_material_and_mass_thickness():
    steel, water = material("steel"), material("water")
    high = np.ones((4, 6), dtype=np.float32)
    low = np.ones((4, 6), dtype=np.float32)
    for cols, mat, rho_t in ((slice(0, 3), steel, 80.0), (slice(3, 6), water, 120.0)):
        high[:2, cols] = np.exp(-mat.mu(6.0) * rho_t)
        low[:2, cols] = np.exp(-mat.mu(3.0) * rho_t)
    ratio, thickness = decompose(ScanImage(high=high, low=low))
    assert np.isnan(ratio[2:]).all() and (thickness[2:] == 0).all()  # air
    assert ratio[:2, :3] == pytest.approx(steel.ratio(), rel=1e-3)
    assert ratio[:2, 3:] == pytest.approx(water.ratio(), rel=1e-3)
    assert thickness[:2, :3] == pytest.approx(80.0, rel=0.05)
    assert thickness[:2, 3:] == pytest.approx(120.0, rel=0.05)
