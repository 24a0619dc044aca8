"""The synthetic scan generator (SYNTHETIC images): seeded, Beer–Lambert physics, concealments with their truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from smartcustoms.inspection.images.materials import decompose
from smartcustoms.inspection.images.schemas import DeclaredGoods
from smartcustoms.simulate.scans import CONCEALMENTS, dataset, render_scan

TEXTILES = [DeclaredGoods("6109100000", "Cotton T-shirts", gross_kg=6000.0)]
STEEL = [DeclaredGoods("7318150000", "Steel bolts", gross_kg=12000.0)]


def _attenuation(t: np.ndarray) -> np.ndarray:
    return -np.log(np.clip(t, 1e-5, 1.0))


def test_same_seed_gives_identical_bytes_and_another_seed_another_image():
    goods = TEXTILES + STEEL
    a = render_scan(goods, seed=11, concealment="dense_in_light")
    b = render_scan(goods, seed=11, concealment="dense_in_light")
    assert a.image.high.tobytes() == b.image.high.tobytes()
    assert a.image.low.tobytes() == b.image.low.tobytes()
    assert a.mask.tobytes() == b.mask.tobytes()
    c = render_scan(goods, seed=12, concealment="dense_in_light")
    assert a.image.high.tobytes() != c.image.high.tobytes()


def test_image_is_a_dual_energy_transmission_scan():
    scan = render_scan(TEXTILES, seed=1)
    img = scan.image
    assert img.shape == (256, 512) and img.high.dtype == np.float32 and img.low.dtype == np.float32
    assert img.dual_energy and img.modality == "DX" and img.pixel_mm > 0
    for t in (img.high, img.low):
        assert t.min() >= 1e-5 and t.max() <= 1.0
    assert np.median(img.high[:, :4]) > 0.98  # air beside the truck reads as full transmission
    assert scan.label == 0 and not scan.mask.any() and scan.bbox is None


def test_high_energy_transmits_more_than_low_through_the_same_goods():
    for goods in (TEXTILES, STEEL):
        scan = render_scan(goods, seed=3)
        cargo = scan.cargo
        assert np.mean(scan.image.high[cargo]) > np.mean(scan.image.low[cargo])


def test_denser_goods_transmit_less():
    light = render_scan([DeclaredGoods("6109100000", gross_kg=5000.0)], seed=4)  # textiles, ~0.35 g/cm³ packed
    dense = render_scan([DeclaredGoods("4802560000", gross_kg=5000.0)], seed=4)  # paper, ~0.7 g/cm³ packed
    assert np.median(_attenuation(dense.image.high)[dense.cargo]) > 1.5 * np.median(
        _attenuation(light.image.high)[light.cargo])


def test_more_of_the_same_goods_fills_more_of_the_container():
    small = render_scan([DeclaredGoods("4802560000", gross_kg=3000.0)], seed=5)
    large = render_scan([DeclaredGoods("4802560000", gross_kg=12000.0)], seed=5)
    assert large.cargo.sum() > 2.5 * small.cargo.sum()


def test_dual_energy_ratio_separates_organic_from_metal_goods():
    organic, metal = render_scan(TEXTILES, seed=6), render_scan(STEEL, seed=6)
    r_org = np.nanmedian(decompose(organic.image)[0][organic.cargo])
    r_met = np.nanmedian(decompose(metal.image)[0][metal.cargo])
    assert r_org > 1.38 and r_met < 1.25


def test_clean_scan_shows_the_declared_mass():
    for goods in (TEXTILES, STEEL, TEXTILES + STEEL):
        scan = render_scan(goods, seed=8)
        assert scan.rendered_mass_kg == pytest.approx(scan.declared_mass_kg, rel=0.15)


@pytest.mark.parametrize("kind", CONCEALMENTS)
def test_each_concealment_has_a_mask_inside_the_goods(kind: str):
    for seed in range(6):
        goods = STEEL if kind == "organic_in_metal" else TEXTILES if seed % 2 else TEXTILES + STEEL
        scan = render_scan(goods, seed=seed, concealment=kind)
        assert scan.label == 1 and scan.concealment == kind and scan.hidden_material
        assert scan.mask.sum() >= 4
        assert not (scan.mask & ~scan.cargo).any()
        box, c = scan.bbox, scan.container
        assert box is not None
        assert c.top <= box.top and box.top + box.height <= c.top + c.height
        assert c.left <= box.left and box.left + box.width <= c.left + c.width


def test_a_dense_package_in_light_goods_attenuates_more_and_reads_more_metallic():
    for seed in range(4):
        clean = render_scan(TEXTILES, seed=seed)
        hidden = render_scan(TEXTILES, seed=seed, concealment="dense_in_light")
        m = hidden.mask
        assert np.mean(_attenuation(hidden.image.high)[m]) > np.mean(_attenuation(clean.image.high)[m]) + 0.2
        ratio = decompose(hidden.image)[0]
        assert np.nanmedian(ratio[m]) < np.nanmedian(ratio[hidden.cargo & ~m])  # metal among organic


def test_an_organic_package_in_metal_goods_attenuates_less():
    for seed in range(4):
        hidden = render_scan(STEEL, seed=seed, concealment="organic_in_metal")
        m = hidden.mask
        around = ndimage.binary_dilation(m, iterations=3) & ~m & hidden.cargo
        assert np.median(_attenuation(hidden.image.high)[m]) < np.median(_attenuation(hidden.image.high)[around])


def test_undeclared_goods_are_of_a_material_not_declared():
    for seed in range(5):
        scan = render_scan(TEXTILES + STEEL, seed=seed, concealment="undeclared_goods")
        assert scan.hidden_material not in scan.materials


def test_parcel_mode_renders_a_small_scan_with_a_concealment():
    scan = render_scan([DeclaredGoods("6403990000", gross_kg=3.0)], seed=2, concealment="dense_in_light",
                       size=(128, 128), mode="parcel")
    assert scan.image.shape == (128, 128) and scan.mode == "parcel"
    assert scan.mask.any() and not (scan.mask & ~scan.cargo).any()
    box, c = scan.bbox, scan.container
    assert box is not None and c.top <= box.top and box.top + box.height <= c.top + c.height


def test_dataset_is_reproducible_item_by_item_and_mixes_clean_and_concealed():
    first = list(dataset(6, seed=21, concealed_share=0.5, size=(96, 192)))
    again = list(dataset(3, seed=21, concealed_share=0.5, size=(96, 192)))
    for a, b in zip(first, again, strict=False):
        assert a.image.high.tobytes() == b.image.high.tobytes() and a.concealment == b.concealment
    labels = [s.label for s in dataset(40, seed=22, concealed_share=0.5, size=(64, 128))]
    assert 8 <= sum(labels) <= 32
    assert all(s.label == 0 for s in dataset(5, seed=23, concealed_share=0.0, size=(64, 128)))
    kinds = {s.concealment for s in dataset(12, seed=24, concealed_share=1.0, size=(64, 128),
                                            kinds=("hidden_compartment",))}
    assert kinds == {"hidden_compartment"}


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"concealment": "smuggled"}, "concealment"), ({"size": (8, 8)}, "size"), ({"mode": "ct"}, "mode"),
])
def test_bad_arguments_are_refused_naming_the_field(kwargs: dict[str, object], field: str):
    with pytest.raises(ValueError, match=field):
        render_scan(TEXTILES, seed=1, **kwargs)  # type: ignore[arg-type]


def test_no_goods_is_refused():
    with pytest.raises(ValueError, match="goods"):
        render_scan([], seed=1)
    with pytest.raises(ValueError, match="concealed_share"):
        next(dataset(1, seed=1, concealed_share=1.5))


def test_speed_smoke_a_batch_renders():
    scans = list(dataset(10, seed=30))
    assert len(scans) == 10 and all(s.image.shape == (256, 512) for s in scans)


def test_dataset_gives_each_concealment_goods_it_can_hide_in():
    from smartcustoms.inspection.images.materials import material

    for scan in dataset(8, seed=25, concealed_share=1.0, size=(64, 128), kinds=("organic_in_metal",)):
        assert any(material(m).ratio() < 1.3 for m in scan.materials)
    for scan in dataset(8, seed=26, concealed_share=1.0, size=(64, 128), kinds=("dense_in_light",)):
        assert any(material(m).organic for m in scan.materials)


def test_transmissions_are_16_bit_log_quantised():
    t = render_scan(TEXTILES, seed=13).image.high.astype(np.float64)
    q = -np.log(t) / np.log(1e5) * 65535
    assert np.abs(q - np.rint(q)).max() < 0.05  # on the 16-bit log grid (float32 rounding aside)
    assert len(np.unique(np.rint(q))) > 1000  # and using it: noise and goods spread the levels
