"""The declaration the image model is told (issue #20): the declaration vector served to the network, its neutral
value for images without usable declared goods, and (with PyTorch) the network's declaration channels and an
export that takes the vector."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from smartcustoms.inspection.images.model import (
    DECLARED_SIZE,
    NEUTRAL_BAND,
    DeclaredCalibration,
    OnnxImageModel,
    calibrate_declared,
    declared_band,
    declared_vector,
)
from smartcustoms.inspection.images.schemas import DeclaredGoods
from smartcustoms.simulate.scans import dataset, render_scan

TSHIRTS = DeclaredGoods("6109100000", "Cotton T-shirts", quantity=6000, unit="035", gross_kg=6000, net_kg=5580,
                        packages=300)
STEEL = DeclaredGoods("7208390000", "Hot-rolled steel coils", quantity=18000, unit="035", gross_kg=18000)


def test_the_vector_starts_with_the_band_and_tells_each_declared_material() -> None:
    v = declared_vector([TSHIRTS, STEEL])
    assert v.shape == (DECLARED_SIZE,) and v.dtype == np.float32
    assert np.array_equal(v[:3], declared_band([TSHIRTS, STEEL]))
    slots = v[4:].reshape(-1, 3)
    assert slots[0, 2] == pytest.approx(0.75) and slots[1, 2] == pytest.approx(0.25)  # heaviest first
    assert slots[0, 0] < slots[1, 0]  # steel: the lower dual-energy ratio
    assert slots[0, 1] > slots[1, 1] > 0  # and the larger expected attenuation
    assert not slots[2:].any() and 0 < v[3] < 2


def test_no_usable_goods_give_the_neutral_vector() -> None:
    v = declared_vector([DeclaredGoods("XX", "unknown", quantity=1, unit="035")])
    assert np.allclose(v[:3], NEUTRAL_BAND) and not v[3:].any()
    assert np.array_equal(declared_vector([]), v)


def test_a_calibration_shifts_each_declared_material_by_heading_then_material() -> None:
    calibration = DeclaredCalibration(heading={"6109": (-0.02, -0.5)}, material={"steel": (0.01, 0.1)})
    assert calibration.shift("6109.10.0000", "textile") == ("6109", -0.02, -0.5)
    assert calibration.shift("7208390000", "steel") == ("steel", 0.01, 0.1)
    assert calibration.shift("8703231900", "vehicle") == ("", 0.0, 0.0)
    plain, shifted = declared_vector([TSHIRTS, STEEL]), declared_vector([TSHIRTS, STEEL], calibration)
    assert np.array_equal(plain[:4], shifted[:4])  # the band (band-only networks, consistency) is not calibrated
    a, b = plain[4:10].reshape(2, 3), shifted[4:10].reshape(2, 3)  # steel (the heavier line), then T-shirts
    assert b[0, 0] == pytest.approx(a[0, 0] + 0.01) and b[1, 0] == pytest.approx(a[1, 0] - 0.02)
    assert b[0, 1] + 0.05 == pytest.approx((a[0, 1] + 0.05) * np.exp(0.1), rel=1e-5)
    assert b[1, 1] + 0.05 == pytest.approx((a[1, 1] + 0.05) * np.exp(-0.5), rel=1e-5)
    assert np.array_equal(a[:, 2], b[:, 2])
    assert np.array_equal(declared_vector([TSHIRTS, STEEL], DeclaredCalibration({}, {})), plain)
    assert DeclaredCalibration.from_json(calibration.to_json()) == calibration


def test_calibration_reads_what_clean_scans_of_one_declared_line_show() -> None:
    cars = DeclaredGoods("8703231900", "Passenger cars", quantity=2600, unit="035", gross_kg=2600)
    scans = [render_scan([goods], seed=seed, size=(128, 256)) for goods in (cars, TSHIRTS) for seed in (1, 2, 3)]
    mixed = render_scan([TSHIRTS, STEEL], seed=4, size=(128, 256))
    calibration = calibrate_declared([(s.image, s.cargo, s.goods) for s in [*scans, mixed]])
    assert set(calibration.heading) == {"8703", "6109"} and set(calibration.material) == {"vehicle", "textile"}
    assert calibration.heading["8703"][1] < -0.3  # a car is mostly open volume: far lighter than its bulk density
    assert abs(calibration.heading["6109"][1]) < 0.2  # cartons of T-shirts look as their bulk density says
    assert calibrate_declared([(s.image, s.cargo, s.goods) for s in scans], min_scans=4).heading == {}


def test_the_model_file_says_whether_its_declaration_vector_is_calibrated() -> None:
    shipped = OnnxImageModel.load()
    plain = {k: v for k, v in shipped.metadata.items() if k != "declared_calibration"}
    uncalibrated = OnnxImageModel(shipped._session, plain)  # files before scan-cnn-4 carry none
    assert uncalibrated.calibration is None
    calibration = DeclaredCalibration(heading={"6109": (0.05, -1.0)}, material={})
    calibrated = OnnxImageModel(shipped._session, {**plain, "declared_calibration": calibration.to_json()})
    assert calibrated.calibration == calibration
    scan = render_scan([TSHIRTS], seed=5, size=(128, 256))
    assert calibrated.score(scan.image, scan.goods)[0] != uncalibrated.score(scan.image, scan.goods)[0]


def test_the_shipped_model_scores_images_with_and_without_a_declaration() -> None:
    model = OnnxImageModel.load()
    scan = render_scan([TSHIRTS], seed=5)
    told, untold = model.score(scan.image, scan.goods)[0], model.score(scan.image, [])[0]
    assert 0.0 <= told <= 1.0 and 0.0 <= untold <= 1.0
    assert model.declared_size in (3, DECLARED_SIZE)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 calls its TorchScript exporter legacy
def test_declaration_channels_and_export(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from smartcustoms.inspection.images.train import (
        DECLARATION_CHANNELS,
        ScanNet,
        TrainingData,
        export_onnx,
        fit,
        heat_target,
        mirror_average,
        net_from_onnx,
        prepare_scans,
    )

    scan = render_scan([TSHIRTS], seed=9, size=(128, 256), concealment="undeclared_goods")
    x = torch.from_numpy(np.stack([scan.image.high, scan.image.low])[None])
    net = ScanNet()
    told = net.channels(x, torch.from_numpy(declared_vector(scan.goods)[None]))[0]
    assert told.shape[0] == 6 + len(DECLARATION_CHANNELS)
    mismatch = told[6].numpy()
    cargo = scan.cargo & ~scan.mask
    assert np.median(mismatch[scan.mask]) > np.median(mismatch[cargo])  # the undeclared block stands out
    neutral = net.channels(x, torch.from_numpy(declared_vector([])[None]))[0]
    assert not neutral[6:8].any()  # nothing declared: no mismatch, no residual
    assert ScanNet(declaration=False).channels(x, torch.from_numpy(declared_band(scan.goods)[None])).shape[1] == 6

    scans = list(dataset(12, seed=104, concealed_share=0.5, size=(128, 256)))
    data = TrainingData(prepared=prepare_scans([(s.image.high, s.image.low) for s in scans],
                                               np.stack([declared_vector(s.goods) for s in scans])),
                        labels=np.array([s.label for s in scans]),
                        targets=np.stack([heat_target(s.mask)[None] for s in scans]).astype(np.float32))
    trained = fit(data, data, epochs=1, batch=6, progress=False)
    assert trained.declaration
    path = tmp_path / "m.onnx"
    export_onnx(trained, path, {"version": "scan-cnn-3.smoke"}, size=(128, 256))
    served = OnnxImageModel.load(path)
    assert served.declared_size == DECLARED_SIZE
    d = torch.from_numpy(declared_vector(scan.goods)[None])
    with torch.no_grad():
        expected = float(mirror_average(trained, trained.prepare(x, d))[0][0])
    assert served.score(scan.image, scan.goods)[0] == pytest.approx(expected, abs=1e-4)
    assert 0.0 <= served.score(scan.image, [])[0] <= 1.0  # no declaration: the neutral vector
    again = net_from_onnx(path)
    assert again.declaration
    with torch.no_grad():
        assert float(mirror_average(again, again.prepare(x, d))[0][0]) == pytest.approx(expected, abs=1e-5)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_ensemble_of_a_told_and_a_band_only_network(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from smartcustoms.inspection.images.train import ScanNet, export_onnx, mirror_average

    torch.manual_seed(3)
    told, band_only = ScanNet().eval(), ScanNet(declaration=False).eval()
    path = tmp_path / "pair.onnx"
    export_onnx([told, band_only], path, {"version": "scan-cnn-3.2x-smoke"}, size=(128, 256))
    served = OnnxImageModel.load(path)
    assert served.declared_size == DECLARED_SIZE
    scan = render_scan([TSHIRTS], seed=4, size=(128, 256))
    x = torch.from_numpy(np.stack([scan.image.high, scan.image.low])[None])
    with torch.no_grad():
        a = mirror_average(told, told.prepare(x, torch.from_numpy(declared_vector(scan.goods)[None])))[0]
        b = mirror_average(band_only, band_only.prepare(x, torch.from_numpy(declared_band(scan.goods)[None])))[0]
    assert served.score(scan.image, scan.goods)[0] == pytest.approx(float(a[0] + b[0]) / 2, abs=1e-4)
