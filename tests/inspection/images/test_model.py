"""The image model: output contract, determinism, the shipped ONNX file's behaviour on synthetic scans, the
physics consistency check in words, and (with PyTorch installed) a training + export smoke run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from smartcustoms.inspection.images.model import (
    MODEL_FILE,
    ConsistencyRule,
    ImageAssessment,
    OnnxImageModel,
    load_default_model,
)
from smartcustoms.inspection.images.schemas import DeclaredGoods, ScanImage
from smartcustoms.simulate.scans import dataset, render_scan

TSHIRTS = DeclaredGoods("6109100000", "Cotton T-shirts", quantity=6000, unit="035", gross_kg=6000, net_kg=5580,
                        packages=300)


@pytest.fixture(scope="module")
def model() -> OnnxImageModel:
    return load_default_model()


@pytest.fixture(scope="module")
def held_out() -> list:
    # seed 11: neither the training (1), validation (3) nor the benchmark (2) set
    return list(dataset(48, seed=11, concealed_share=0.5))


def test_the_shipped_model_is_small_and_loads_with_onnxruntime(model: OnnxImageModel) -> None:
    assert MODEL_FILE.stat().st_size < 2 * 1024 * 1024
    assert model.model_version.startswith("scan-cnn-")
    assert 0.0 < model.review_threshold < 1.0
    assert "synthetic" in model.metadata["trained_on"]


def test_assessment_honours_the_output_contract(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=5)
    a = model.assess(scan.image, scan.goods)
    assert isinstance(a, ImageAssessment)
    assert 0.0 <= a.anomaly_score <= 1.0
    assert a.heatmap.dtype == np.float32 and a.heatmap.shape == scan.image.shape
    assert float(a.heatmap.min()) >= 0.0 and float(a.heatmap.max()) <= 1.0
    assert a.consistency_reasons and all(isinstance(r, str) and " " in r for r in a.consistency_reasons)
    assert a.model_version == model.model_version


def test_the_shipped_model_reads_a_scan_and_its_mirror_alike(model: OnnxImageModel) -> None:
    # the graph averages each scan with its left-right mirror: a container facing the other way scores the same
    scan = render_scan([TSHIRTS], seed=7, concealment="undeclared_goods")
    mirror = replace(scan.image, high=scan.image.high[:, ::-1].copy(), low=scan.image.low[:, ::-1].copy())
    score, heat = model.score(scan.image, scan.goods)
    score_m, heat_m = model.score(mirror, scan.goods)
    assert score_m == pytest.approx(score, abs=1e-6)
    assert np.allclose(heat_m, heat[:, ::-1], atol=1e-5)
    assert model.model_version.startswith(("scan-cnn-2.", "scan-cnn-3."))  # 2 and later: the mirror-averaging graph


def test_assessment_is_deterministic(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=6, concealment="dense_in_light")
    a, b = model.assess(scan.image, scan.goods), model.assess(scan.image, scan.goods)
    assert a.anomaly_score == b.anomaly_score
    assert np.array_equal(a.heatmap, b.heatmap)
    assert a.consistency_reasons == b.consistency_reasons


def test_concealed_scans_score_higher_than_clean_ones(model: OnnxImageModel, held_out: list) -> None:
    scores = np.array([model.assess(s.image, s.goods).anomaly_score for s in held_out])
    labels = np.array([s.label for s in held_out])
    assert 10 <= labels.sum() <= 38
    pos, neg = scores[labels == 1], scores[labels == 0]
    auc = float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())
    assert auc >= 0.8, f"ranking of concealed over clean scans: AUC {auc:.3f}"
    assert float(np.median(pos)) > float(np.median(neg))


def test_heat_map_is_hotter_on_the_concealment_than_elsewhere(model: OnnxImageModel, held_out: list) -> None:
    hotter = []
    for scan in held_out:
        if not scan.label:
            continue
        heat = model.assess(scan.image, scan.goods).heatmap
        hotter.append(float(heat[scan.mask].mean()) > float(heat[~scan.mask].mean()))
    assert np.mean(hotter) >= 0.75


def test_scan_of_the_declared_goods_is_consistent(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=21)
    a = model.assess(scan.image, scan.goods)
    assert a.consistent, a.consistency_reasons
    assert any("fits" in r for r in a.consistency_reasons)


def test_textiles_declared_as_steel_are_another_material(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=21)
    declared = [replace(TSHIRTS, hs_code="7308900000", description="Steel structures")]
    a = model.assess(scan.image, declared)
    assert not a.consistent
    assert any("another material than declared" in r and "organic-like" in r for r in a.consistency_reasons)


def test_far_more_mass_than_declared_is_inconsistent(model: OnnxImageModel) -> None:
    wine = DeclaredGoods("2204210000", "Red wine, bottled", gross_kg=18000)
    scan = render_scan([wine], seed=22)
    a = model.assess(scan.image, [replace(wine, gross_kg=2000, net_kg=None)])
    assert not a.consistent
    assert any("more mass than declared" in r for r in a.consistency_reasons)


def test_single_energy_scan_goes_to_an_officer(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=23)
    single = ScanImage(high=scan.image.high, low=scan.image.high, pixel_mm=scan.image.pixel_mm)
    a = model.assess(single, scan.goods)
    assert not a.consistent
    assert any("single-energy" in r for r in a.consistency_reasons)
    assert a.heatmap.shape == single.shape


def test_parcel_scanner_image_is_not_judged_by_the_container_model(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=25, mode="parcel", size=(128, 256))
    a = model.assess(scan.image, scan.goods)
    assert not a.consistent
    assert "parcel or baggage scanner" in a.consistency_reasons[0]


def test_no_declared_goods_is_said_in_words(model: OnnxImageModel) -> None:
    scan = render_scan([TSHIRTS], seed=24)
    a = model.assess(scan.image, [])
    assert not a.consistent
    assert a.consistency_reasons == ["no declared goods with a valid HS code to compare the image with"]


@pytest.mark.parametrize("shape", [(300, 700), (2100, 1100)])
def test_other_image_sizes_give_a_heat_map_of_their_size(model: OnnxImageModel, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(3)
    t = rng.uniform(0.05, 1.0, size=shape).astype(np.float32)
    image = ScanImage(high=t, low=t ** 1.4, pixel_mm=10.0)
    a = model.assess(image, [TSHIRTS])
    assert a.heatmap.shape == shape
    assert 0.0 <= a.anomaly_score <= 1.0


def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="image model file not found"):
        OnnxImageModel.load(tmp_path / "absent.onnx")


def test_consistency_rule_travels_as_json() -> None:
    rule = ConsistencyRule(tare_kg=(-800.0, 6500.0), ratio_shift=(-0.2, 0.07))
    assert ConsistencyRule.from_json(rule.to_json()) == rule


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch 2.13 calls its TorchScript exporter legacy
def test_training_and_export_smoke(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from smartcustoms.inspection.images.model import declared_band
    from smartcustoms.inspection.images.train import (
        TrainingData,
        export_onnx,
        fit,
        heat_target,
        mirror_average,
        net_from_onnx,
        predict,
        prepare_scans,
    )

    def build(n: int, seed: int) -> TrainingData:
        scans = list(dataset(n, seed=seed, concealed_share=0.5, size=(128, 256)))
        prepared = prepare_scans([(s.image.high, s.image.low) for s in scans],
                                 np.stack([declared_band(s.goods) for s in scans]))
        return TrainingData(prepared=prepared, labels=np.array([s.label for s in scans]),
                            targets=np.stack([heat_target(s.mask)[None] for s in scans]).astype(np.float32))

    train, valid = build(12, 101), build(6, 102)
    net = fit(train, valid, epochs=1, batch=6, progress=False)
    again = fit(train, valid, epochs=1, batch=6, progress=False)
    assert np.array_equal(predict(net, valid), predict(again, valid))  # seeded and deterministic
    path = tmp_path / "m.onnx"
    export_onnx(net, path, {"version": "scan-cnn-smoke", "review_threshold": "0.5"}, size=(128, 256))
    served = OnnxImageModel.load(path)
    scan = render_scan([TSHIRTS], seed=9, size=(128, 256))
    a = served.assess(scan.image, scan.goods)
    assert a.model_version == "scan-cnn-smoke" and a.heatmap.shape == (128, 256)
    with torch.no_grad():  # the ONNX file computes what the torch network does, averaged with the mirror
        x = torch.from_numpy(np.stack([scan.image.high, scan.image.low])[None])
        d = torch.from_numpy(declared_band(scan.goods)[None])
        score, _ = mirror_average(net, net.prepare(x, d))
        logit, _ = net(x, d)
        mirrored, _ = net(torch.flip(x, dims=(3,)), d)
    assert a.anomaly_score == pytest.approx(float(score[0]), abs=1e-4)
    assert float(score[0]) == pytest.approx(float((torch.sigmoid(logit) + torch.sigmoid(mirrored))[0]) / 2, abs=1e-6)
    # a file's network read back (batch norm folded by the export) and an ensemble of two exported as one graph
    again_net = net_from_onnx(path)
    with torch.no_grad():
        assert float(mirror_average(again_net, again_net.prepare(x, d))[0][0]) == pytest.approx(float(score[0]),
                                                                                                abs=1e-5)
    pair = tmp_path / "pair.onnx"
    export_onnx([net, again_net], pair, {"version": "scan-cnn-pair"}, size=(128, 256))
    assert OnnxImageModel.load(pair).score(scan.image, scan.goods)[0] == pytest.approx(a.anomaly_score, abs=1e-5)
    other = fit(train, valid, epochs=1, batch=6, seed=21, progress=False)
    export_onnx([net, other], pair, {"version": "scan-cnn-pair"}, size=(128, 256))
    with torch.no_grad():
        other_score = float(mirror_average(other, other.prepare(x, d))[0][0])
    assert OnnxImageModel.load(pair).score(scan.image, scan.goods)[0] == pytest.approx(
        (float(score[0]) + other_score) / 2, abs=1e-4)
    with pytest.raises(ValueError, match="networks"):
        net_from_onnx(pair)


def test_kind_weights_change_training_and_need_one_kind_a_scan() -> None:
    pytest.importorskip("torch")
    from smartcustoms.inspection.images.model import declared_band
    from smartcustoms.inspection.images.train import TrainingData, fit, heat_target, predict, prepare_scans

    scans = list(dataset(12, seed=103, concealed_share=0.5, size=(128, 256)))
    data = TrainingData(prepared=prepare_scans([(s.image.high, s.image.low) for s in scans],
                                               np.stack([declared_band(s.goods) for s in scans])),
                        labels=np.array([s.label for s in scans]),
                        targets=np.stack([heat_target(s.mask)[None] for s in scans]).astype(np.float32),
                        kinds=[s.concealment or "clean" for s in scans])
    plain = predict(fit(data, data, epochs=1, batch=6, progress=False), data)
    unit = predict(fit(data, data, epochs=1, batch=6, progress=False, kind_weights={"clean": 1.0}), data)
    clean_heavy = predict(fit(data, data, epochs=1, batch=6, progress=False, kind_weights={"clean": 5.0}), data)
    assert np.allclose(plain, unit, atol=1e-5)  # weight 1 everywhere is the unweighted loss
    assert not np.allclose(plain, clean_heavy, atol=1e-5)
    data.kinds = data.kinds[:-1]
    with pytest.raises(ValueError, match="kinds"):
        fit(data, data, epochs=1, progress=False)
