"""Train the scan-image CNN on synthetic scans and ship it (``make train-images``).

Renders seeded synthetic dual-energy scans (``simulate.scans``: training seed 1, validation seed 3; the
benchmark's held-out seed 2 is never used here), trains ``inspection.images.train.ScanNet`` (PyTorch, CPU,
deterministic), calibrates the physics consistency bands on the clean training scans, picks the review
threshold on the validation scans, exports ONNX into the package and writes docs/images-training.md.

    make train-images                           # the shipped ensemble: the two runs below
    python bench/train_images.py --band-only --epochs 30 --out var/images-band-only.onnx --report -
    python bench/train_images.py --epochs 12 --valid-every 4 --also-from var/images-band-only.onnx
    python bench/train_images.py --quick --out /tmp/m.onnx --report -   # a smoke run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from smartcustoms.inspection.images import model as image_model
from smartcustoms.inspection.images.train import (
    ScanNet,
    TrainingData,
    TrainingLog,
    export_onnx,
    fit,
    heat_target,
    predict,
    prepare_scans,
    recall_at_false_alarms,
)
from smartcustoms.simulate.scans import CONCEALMENTS, dataset

ROOT = Path(__file__).resolve().parents[1]
TRAIN_SEED, VALID_SEED, TORCH_SEED = 1, 3, 20
SIZE = (256, 512)


def build(n: int, seed: int, cache: Path | None = None, declaration: bool = True, calibrate_from: bool = False,
          calibration: image_model.DeclaredCalibration | None = None
          ) -> tuple[TrainingData, list[image_model.PhysicsReading | None], list[tuple],
                     image_model.DeclaredCalibration | None]:
    """Render ``n`` scans (half concealed), read the clean ones' physics and prepare them for the network, told
    the declaration vector (``declaration``; shifted by ``calibration``, or by one calibrated on these scans' clean
    ones with ``calibrate_from``) or only the ratio band (kept in ``cache`` when given, so a second run skips the
    rendering). Returns the calibration used as well."""
    if cache is not None and cache.is_file():
        with cache.open("rb") as fh:
            saved = pickle.load(fh)  # noqa: S301 - a file this script wrote
        return saved if len(saved) == 4 else (*saved, None)
    pairs, labels, targets, kinds, readings, goods, clean = [], [], [], [], [], [], []
    for scan in dataset(n, seed=seed, concealed_share=0.5, size=SIZE):
        pairs.append((scan.image.high, scan.image.low))
        labels.append(scan.label)
        targets.append(heat_target(scan.mask)[None])
        kinds.append(scan.concealment or "clean")
        goods.append(scan.goods)
        readings.append(image_model.read_physics(scan.image))
        if calibrate_from and not scan.label:
            clean.append((scan.image, scan.cargo, scan.goods))
    if calibrate_from and declaration:
        calibration = image_model.calibrate_declared(clean)
    if declaration:
        bands = [image_model.declared_vector(g, calibration) for g in goods]
    else:
        bands = [image_model.declared_band(g) for g in goods]
    prepared = prepare_scans(pairs, np.stack(bands))
    data = TrainingData(prepared=prepared, labels=np.array(labels, dtype=np.int64),
                        targets=np.stack(targets).astype(np.float32), kinds=kinds)
    if cache is not None:
        with cache.open("wb") as fh:
            pickle.dump((data, readings, goods, calibration), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return data, readings, goods, calibration


def calibrate(readings: list[image_model.PhysicsReading | None], goods: list[tuple], labels: np.ndarray
              ) -> image_model.ConsistencyRule:
    """The consistency bands: 0.5 %-99.5 % of the clean training scans, widened by a margin."""
    tare, shift = [], []
    for reading, declared, label in zip(readings, goods, labels, strict=True):
        if label or reading is None:
            continue
        band = image_model.declared_band(declared)
        profile_mass = image_model.expected_profile(declared).mass_kg
        tare.append(reading.mass_kg - profile_mass)
        if np.isfinite(reading.goods_ratio):
            shift.append(reading.goods_ratio - float(band[0]))
    t_lo, t_hi = np.percentile(tare, [0.5, 99.5])
    s_lo, s_hi = np.percentile(shift, [0.5, 99.5])
    return image_model.ConsistencyRule(tare_kg=(round(float(t_lo) - 500.0, -1), round(float(t_hi) + 500.0, -1)),
                                       ratio_shift=(round(float(s_lo) - 0.02, 3), round(float(s_hi) + 0.02, 3)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=2000, help="training scans (seed 1)")
    parser.add_argument("--valid", type=int, default=1000, help="validation scans (seed 3)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--undeclared-weight", type=float, default=1.0,
                        help="loss weight of the undeclared_goods scans (the others weigh 1)")
    parser.add_argument("--members", type=int, default=1,
                        help="networks in the shipped ensemble (torch seeds --seed, --seed+1, ...; mean probability)")
    parser.add_argument("--seed", type=int, default=TORCH_SEED, help="torch seed of the first member")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder keeping the rendered scans and each trained member between runs")
    parser.add_argument("--weights-from", type=Path, default=None,
                        help="no training: re-export the single network of this model file (trained by this script "
                             "with the same --train and --epochs) with the current graph and a re-picked threshold")
    parser.add_argument("--also-from", type=Path, action="append", default=[],
                        help="add the single network of this earlier model file of this script as one more ensemble "
                             "member (e.g. a --band-only run's: `make train-images` does both)")
    parser.add_argument("--valid-every", type=int, default=1,
                        help="validation recall every this many epochs (and after the last); saves CPU")
    parser.add_argument("--band-only", action="store_true",
                        help="the network of scan-cnn-1/2: told only the declared ratio band, not the declaration "
                             "vector (expected attenuation of each declared material; needed by --weights-from of "
                             "such a file)")
    parser.add_argument("--calibrate", action="store_true",
                        help="shift the declaration vector's expected ratio and attenuation per HS heading (else "
                             "material) to what the clean training scans show (scan-cnn-4; stored in the model file)")
    parser.add_argument("--threads", type=int, default=2,
                        help="torch threads (the report's figures: 2; 1 on a busy shared machine)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 48 + 32 scans, 1 epoch")
    parser.add_argument("--out", type=Path, default=image_model.MODEL_FILE)
    parser.add_argument("--report", default=str(ROOT / "docs" / "images-training.md"),
                        help="markdown report path, or - for none")
    args = parser.parse_args(argv)
    if args.quick:
        args.train, args.valid, args.epochs = 48, 32, 1
    import torch

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    cache = args.cache
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    declaration = not args.band_only
    if args.calibrate and not declaration:
        parser.error("--calibrate: calibrates the declaration vector, which a --band-only network is not told")
    tag = ("-cal" if args.calibrate else "") if declaration else "-band"
    train, readings, goods, calibration = build(
        args.train, TRAIN_SEED, cache / f"train-{TRAIN_SEED}-{args.train}{tag}.pkl" if cache else None, declaration,
        calibrate_from=args.calibrate)
    valid, valid_readings, valid_goods, _ = build(
        args.valid, VALID_SEED, cache / f"valid-{VALID_SEED}-{args.valid}{tag}.pkl" if cache else None, declaration,
        calibration=calibration)
    render_seconds = time.perf_counter() - started
    print(f"rendered {len(train)} + {len(valid)} scans in {render_seconds:.0f} s", flush=True)
    rule = calibrate(readings, goods, train.labels)
    log = TrainingLog()
    if not 0.1 <= args.undeclared_weight <= 10.0:
        parser.error("--undeclared-weight: must be between 0.1 and 10")
    if not 1 <= args.members <= 5:
        parser.error("--members: must be between 1 and 5")
    nets, logs = [], []
    source_version = ""
    if args.weights_from is not None:
        if args.members != 1:
            parser.error("--weights-from: re-exports one network; leave --members at 1")
        net, member_log, source_version = _reexported(args.weights_from, args.train, args.epochs, args.report)
        nets.append(net)
        logs.append(member_log)
    for member in range(args.members - len(nets)):
        seed = args.seed + member
        name = f"net-{args.train}x{args.epochs}-w{args.undeclared_weight:g}-s{seed}{tag}.pt"
        net, member_log = _member(train, valid, args.epochs, seed, args.undeclared_weight, args.valid_every,
                                  args.threads, cache / name if cache else None)
        nets.append(net)
        logs.append(member_log)
    also = []
    for path in args.also_from:
        net, member_log, member_version = _from_file(path)
        nets.append(net)
        logs.append(member_log)
        also.append(member_version)
    log.parameters = sum(m.parameters for m in logs)
    log.seconds = sum(m.seconds for m in logs)
    log.epochs = [{**row, "member": k + 1} for k, m in enumerate(logs) for row in m.epochs]
    member_scores = [predict(net, valid) for net in nets]  # each network once: 3 of them take minutes
    scores = np.mean(member_scores, axis=0)
    member_recalls = [recall_at_false_alarms(s, valid.labels)[0] for s in member_scores]
    consistent = np.array([image_model.check_consistency(r, g, rule)[0]
                           for r, g in zip(valid_readings, valid_goods, strict=True)])  # type: ignore[arg-type]
    recall_cnn, thr_cnn = recall_at_false_alarms(scores, valid.labels)
    # the routing flags an image when score >= threshold or it is inconsistent: pick the threshold on validation
    routed_score = np.where(consistent, scores, 1.0)
    recall_routed, threshold = recall_at_false_alarms(routed_score, valid.labels)
    threshold = float(min(max(threshold, 0.01), 0.99))
    clean = valid.labels == 0
    result = {
        "train_scans": len(train), "valid_scans": len(valid), "epochs": args.epochs,
        "undeclared_weight": args.undeclared_weight,
        "seeds": {"train_data": TRAIN_SEED, "valid_data": VALID_SEED,
                  "torch": [args.seed + k for k in range(args.members)]},
        "members": len(nets), "also_from": also, "valid_recall_at_5pct_members": [round(r, 4) for r in member_recalls],
        "parameters": log.parameters, "train_seconds": round(log.seconds, 1),
        "render_seconds": round(render_seconds, 1),
        "valid_recall_at_5pct_cnn": round(recall_cnn, 4), "valid_threshold_cnn": round(thr_cnn, 4),
        "valid_recall_at_5pct_routed": round(recall_routed, 4), "review_threshold": round(threshold, 4),
        "valid_inconsistent_clean_share": round(float((~consistent[clean]).mean()), 4),
        "valid_auto_cleared_share": round(float(((scores < threshold) & consistent)[clean].mean()), 4),
        "valid_recall_by_kind": {k: round(float(((scores >= threshold) | ~consistent)[
            np.array(valid.kinds) == k].mean()), 4) for k in CONCEALMENTS if k in valid.kinds},
        "consistency_rule": json.loads(rule.to_json()), "epochs_log": log.epochs,
        "reexported_from": source_version, "declaration": declaration, "valid_every": args.valid_every,
        "declared_calibration": None if calibration is None else json.loads(calibration.to_json()),
        "threads": args.threads,
    }
    weights = hashlib.sha256()
    for net in nets:
        for tensor in net.state_dict().values():
            weights.update(tensor.detach().cpu().numpy().tobytes())
    digest = weights.hexdigest()[:8] if not source_version else source_version.rsplit("-", 1)[1]
    ensemble = f"{len(nets)}x" if len(nets) > 1 else ""
    # 2: scores averaged with the mirror; 3: told the declaration vector (expected attenuation per declared material);
    # 4: that vector calibrated on the clean training scans
    generation = (4 if calibration is not None else 3) if declaration else 2
    version = f"scan-cnn-{generation}.{ensemble}{args.train}x{args.epochs}-{digest}"
    metadata = {} if calibration is None else {"declared_calibration": calibration.to_json()}
    export_onnx(nets, args.out, {**metadata, "version": version, "consistency_rule": rule.to_json(),
                                "review_threshold": f"{threshold:.4f}",
                                "training_log": json.dumps(log.epochs, separators=(",", ":")),
                                "trained_on": "synthetic scans (smartcustoms.simulate.scans), not real scanner data",
                                "train_pixel_mm": "16-27 (256x512 container side views)"})
    result["model_file"] = str(args.out)
    result["model_bytes"] = args.out.stat().st_size
    result["version"] = version
    print(json.dumps(result, indent=1))
    if args.report != "-":
        Path(args.report).write_text(_report(result), encoding="utf-8")
    return 0


def _member(train: TrainingData, valid: TrainingData, epochs: int, seed: int, undeclared_weight: float,
            valid_every: int, threads: int, cache: Path | None) -> tuple[ScanNet, TrainingLog]:
    """One network of the ensemble, trained with torch seed ``seed`` (or read from ``cache``, which a run with
    the same data, epochs, weighting and seed wrote: training is deterministic, the file only saves time)."""
    import torch

    if cache is not None and cache.is_file():
        saved = torch.load(cache, weights_only=False)
        net = ScanNet(declaration=train.prepared.shape[1] > 6)
        net.load_state_dict(saved["state"])
        net.eval()
        return net, saved["log"]
    log = TrainingLog()
    net = fit(train, valid, epochs=epochs, seed=seed, log=log, kind_weights={"undeclared_goods": undeclared_weight},
              valid_every=valid_every, threads=threads)
    if cache is not None:
        torch.save({"state": net.state_dict(), "log": log}, cache)
    return net, log


def _from_file(path: Path) -> tuple[ScanNet, TrainingLog, str]:
    """The single network of an earlier model file of this script, its training log (from the file's metadata)
    and its version: one more ensemble member (``--also-from``)."""
    import onnxruntime as ort

    from smartcustoms.inspection.images.train import net_from_onnx

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    if "declared_calibration" in meta:  # its network reads a calibrated vector: the new run's may differ
        raise SystemExit(f"--also-from: {path} was trained on a calibrated declaration vector (--calibrate)")
    net = net_from_onnx(path)
    log = TrainingLog(parameters=sum(p.numel() for p in net.parameters()))
    log.epochs = json.loads(meta.get("training_log", "[]"))
    log.seconds = float(log.epochs[-1]["seconds"]) if log.epochs else 0.0
    return net, log, str(meta.get("version", path.name))


def _reexported(path: Path, train: int, epochs: int, report: str) -> tuple[ScanNet, TrainingLog, str]:
    """The network of an earlier model file of this script (same training scans and epochs: its weights are what a
    seeded run gives), its training log (from the file's metadata, else from the epoch table of the report that
    names its version) and its version."""
    import onnxruntime as ort

    from smartcustoms.inspection.images.train import net_from_onnx

    meta = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).get_modelmeta().custom_metadata_map
    version = str(meta.get("version", ""))
    if "declared_calibration" in meta:
        raise SystemExit(f"--weights-from: {path} was trained on a calibrated declaration vector (--calibrate)")
    if f".{train}x{epochs}-" not in version:
        raise SystemExit(f"--weights-from: {path} is version {version!r}, not a {train}x{epochs} run of this script")
    log = TrainingLog()
    net = net_from_onnx(path)
    log.parameters = sum(p.numel() for p in net.parameters())
    if "training_log" in meta:
        log.epochs = json.loads(meta["training_log"])
    elif report != "-" and Path(report).is_file() and version in Path(report).read_text(encoding="utf-8"):
        for line in Path(report).read_text(encoding="utf-8").splitlines():
            cells = [c.strip() for c in line.strip("|").split("|")]
            if len(cells) == 5 and cells[0].isdigit():  # | epoch | score loss | heat loss | recall | seconds |
                log.epochs.append({"epoch": int(cells[0]), "train_score_loss": float(cells[1]),
                                   "train_heat_loss": float(cells[2]), "valid_recall_at_5pct": float(cells[3]),
                                   "seconds": float(cells[4])})
    log.seconds = float(log.epochs[-1]["seconds"]) if log.epochs else 0.0
    return net, log, version


def _command(r: dict) -> str:
    if r["reexported_from"]:
        return f"`python bench/train_images.py --weights-from <the model.onnx of {r['reexported_from']}>`"
    if r.get("also_from"):
        members = len(r["seeds"]["torch"])
        calibrate = " --calibrate" if r.get("declared_calibration") is not None else ""
        threads = f" --threads {r['threads']}" if r.get("threads", 2) != 2 else ""
        return (f"`make train-images` (its second step: `python bench/train_images.py{calibrate} --epochs {r['epochs']}"
                f" --valid-every {r['valid_every']}{threads}{f' --members {members}' if members > 1 else ''}\n"
                f"--also-from <the --band-only run's model.onnx, version {', '.join(r['also_from'])}>`)")
    return "`make train-images` (`python bench/train_images.py`)"


def _reexport_note(r: dict) -> str:
    if not r["reexported_from"]:
        return ""
    return (f"**Not retrained**: `--weights-from` re-exported the network of `{r['reexported_from']}` (this\n"
            "script's seeded run; training is deterministic, so a full run gives the same weights) inside the current\n"
            "graph (mirror average) and re-picked the threshold on the validation scans. The table is that run's\n"
            "training; its validation column was measured on the first 400 validation scans without the mirror\n"
            "average.\n\n")


def _weighting(undeclared_weight: float) -> str:
    if undeclared_weight == 1.0:
        return ""
    return f", each undeclared-goods scan's loss weighted {undeclared_weight:g} (normalised per batch)"


def _added_epochs(r: dict) -> str:
    if not r.get("also_from"):
        return ""
    added = max((e["epoch"] for e in r["epochs_log"] if e["member"] > 1), default=0)
    return f"; the added network's own run: {added} epochs; seconds summed over runs at very different loads"


def _cell(recall: float) -> str:
    return "–" if recall != recall else f"{recall:.3f}"  # NaN: not validated that epoch (--valid-every)


def _threads(r: dict) -> str:
    threads = r.get("threads", 2)
    return f"{threads} CPU thread{'s' if threads != 1 else ''}"


def _calibration_note(r: dict) -> str:
    calibration = r.get("declared_calibration")
    if calibration is None:
        return ""
    rows = "\n".join(f"| {k} | {v[0]:+.3f} | {v[1]:+.2f} |" for k, v in calibration["heading"].items())
    materials = ", ".join(f"{k} {v[0]:+.3f} / {v[1]:+.2f}" for k, v in calibration["material"].items())
    return f"""## Declaration vector calibrated on clean training scans (`--calibrate`, scan-cnn-4)
The declaration side predicts, per declared material, a stack's dual-energy ratio and -ln T(high) from its bulk
density across the container; goods packed with much open volume (appliances in cartons, cars, tyres, bottles)
show most pixels far lighter than that average (the table: washing machines, cars, tyres, monitors and laptops;
tyres, electronics and bottled drinks also lower in ratio), so the network's "nearest declared material" channels
called most pixels of such clean scans far from every declared material. `model.calibrate_declared` reads,
on the clean training scans declaring one line (seed 1 only), the median shift of the goods pixels' ratio and
ln(-ln T(high)) per HS heading (at least 3 scans), else per material; `model.declared_vector` applies it and the
model file carries it (`declared_calibration`; files without it are served uncalibrated, as before). The ratio
band (the vector's first three values, the band-only network's input and the physics check) is not calibrated.

| HS heading | ratio shift | ln attenuation shift |
|---|---:|---:|
{rows}

Per material, for headings without their own: {materials}.

"""


def _told(r: dict) -> str:
    base = ("-ln T at both energies, the ratio ln T(low)/ln T(high), how far each pixel's ratio lies outside the "
            "declared band, a matter mask and the\ndeclared mean ratio as a plane")
    if not r["declaration"]:
        return ("the declared goods' dual-energy ratio band (N,3: mass-weighted mean,\nlow, high from "
                f"`materials.expected_profile`) and derives six channels itself: {base}.")
    return ("the declaration tied to the image as a vector (N,16, `model.declared_vector`: the declared goods'\n"
            "dual-energy ratio band, their packed volume over a 40 ft container's, then for each of the four heaviest\n"
            "declared materials its ratio, the -ln T(high) a stack of it across the container should show (bulk\n"
            "density x inner width x mu(high), capped at 6.5) and its mass share; zeros when no HS code is usable) "
            f"and derives\nnine channels itself: {base}, and from the declaration: how far each pixel's (ratio, "
            "ln attenuation) lies from the\nnearest declared material's expected pair (units 0.05 and 0.5), "
            "ln(attenuation / expected) weighted by nearness, and the\nfill as a plane.")


def _declaration_note(r: dict) -> str:
    if not r["declaration"]:
        return ""
    also = ""
    if r.get("also_from"):
        also = (f"The shipped ensemble adds the network of {', '.join(f'`{v}`' for v in r['also_from'])} (read "
                "from its file with `--also-from`; a\n`--band-only` network, told the ratio band only: the graph "
                "hands it the vector's first three values); the table's\nlast member is that network's training.\n\n")
    return also + ("Issue #20, IMG-G: the network is told the declaration (version `scan-cnn-3.…`): per declared "
                   "material its ratio and\nthe attenuation a stack of it should show, so it can learn \"image "
                   "inconsistent with the declared goods\"\nrather than guess what is undeclared. Figures and what "
                   "was compared: docs/benchmarks.md, \"Images (issue #20)\".\n"
                   "On the 1,000 validation scans (routed, 5 % false alarms) the told network alone (12 epochs, at "
                   "load ~9 a\n30-epoch run did not fit the session) scored 0.847, the band-only network of "
                   "scan-cnn-2 0.862, and the\nmean of the two 0.878 (undeclared goods 0.758 vs 0.705): the "
                   "ensemble was chosen on that, then\nmeasured once on the held-out seeds 2 and 4 "
                   "(`bench/images_compare.py`, paired bootstrap): +0.029 (SE 0.011)\nand +0.022 (SE 0.012) over "
                   "scan-cnn-2. An ensemble of the told network with itself or another band-only\nnetwork was not "
                   "trained (CPU).\n"
                   "IMG-J: the told network trained longer and on more scans (4,000 scans, 30 epochs: "
                   "`make train-images`),\nchosen on validation among 12 epochs on 2,000 scans (0.878), 30 on "
                   "2,000 with and without the\ndeclaration vector's calibration (0.888, 0.902) and 30 on 4,000 "
                   "(0.914), then measured once on the\nheld-out seeds (docs/benchmarks.md, IMG-J).\n\n")


def _report(r: dict) -> str:
    rows = "\n".join(f"| {e.get('member', 1)} | {e['epoch']} | {e['train_score_loss']:.4f} | "
                     f"{e['train_heat_loss']:.4f} | {_cell(e['valid_recall_at_5pct'])} | {e['seconds']:.0f} |"
                     for e in r["epochs_log"])
    kinds = "\n".join(f"| {k} | {v:.3f} |" for k, v in r["valid_recall_by_kind"].items())
    return f"""# Image model: training report

Generated by {_command(r)} on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC,
Python {platform.python_version()}, {_threads(r)}, PyTorch (CPU) deterministic algorithms. **All data are
synthetic** (`smartcustoms.simulate.scans`, physics-based renders of container side views, 256x512 pixels);
no real scanner image was used. Model version `{r['version']}`, `{Path(r['model_file']).name}`,
{r['model_bytes'] / 1024:.0f} KiB, {r['parameters']:,} parameters.

## Data and seeds
- training: {r['train_scans']} scans, `dataset(n, seed={r['seeds']['train_data']}, concealed_share=0.5)` (the four
  concealment kinds drawn evenly); validation: {r['valid_scans']} scans, seed {r['seeds']['valid_data']};
  the benchmark (`bench/images.py`) uses seeds 2 and 4, never seen here.
- torch seed{'s' if r['members'] > 1 else ''} {', '.join(str(x) for x in r['seeds']['torch'])} ({r['members']} \
network{'s, an ensemble: the mean of their probabilities' if r['members'] > 1 else ''}); horizontal flips as
  augmentation; rendering (or reading the scans rendered earlier from `--cache`) took {r['render_seconds']:.0f} s.

## Training ({r['epochs']} epochs, AdamW, one-cycle learning rate, {r['train_seconds']:.0f} s{_added_epochs(r)})
Loss = BCE(image label) + BCE(heat map vs the share of each 8x8 cell the concealment covers, positive cells
weighted 10){_weighting(r['undeclared_weight'])};
the image logit is an affine function of the heat map's hottest cell. Validation recall is at the
threshold that flags at most 5 % of the clean validation scans. Seeded and deterministic on this CPU with
{_threads(r)} (another CPU or thread count may differ in the last bits).

{_reexport_note(r)}| network | epoch | score loss | heat loss | valid recall @5 % FA | seconds |
|---|---|---|---|---|---|
{rows}

## Held-out validation (seed {r['seeds']['valid_data']})
- Scores as served: each network's probability averaged over the scan and its left-right mirror (the
  exported graph does it{', then over the networks' if r['members'] > 1 else ''}). Validation recall per \
network: {', '.join(f"{x:.3f}" for x in r['valid_recall_at_5pct_members'])}.
- CNN score alone: recall {r['valid_recall_at_5pct_cnn']:.3f} at 5 % false alarms (threshold
  {r['valid_threshold_cnn']:.3f}).
- As routed (score >= threshold **or** physics inconsistent): recall {r['valid_recall_at_5pct_routed']:.3f} at 5 %
  false alarms; proposed review threshold **{r['review_threshold']:.3f}** (stored in the model file);
  clean scans auto-cleared at it: {r['valid_auto_cleared_share']:.3f}; clean scans called inconsistent:
  {r['valid_inconsistent_clean_share']:.3f}.

| concealment | recall as routed |
|---|---|
{kinds}

## How the settings were chosen
Two earlier runs (on an earlier version of the generator, 1,200 training scans, 6 and 12 epochs) reached only
0.27 and 0.39 validation recall at 5 % false alarms; the score head was then changed from pooled features to
the heat map's hottest cell, the positive cells' weight raised from 4 to 10, the data to 2,000 scans and the
epochs to 30. Those choices looked at the validation set (seed 3); the benchmark's seed-2 scans were not
looked at before the figures in docs/benchmarks.md were measured.

Tried for issue #20 and **not shipped** (IMG-F): `--train 4000 --epochs 16 --undeclared-weight 2` (the
undeclared-goods scans weighted 2 in the loss; 1,130 s on the shared machine) reached 0.936 validation recall
(undeclared goods 0.837) but 0.861 on the held-out seed-2 scans (`bench/images.py --model`, one evaluation),
against 0.866 for the shipped model: no held-out gain, so the shipped model stayed. Most undeclared-goods scans the
shipped model misses on the validation set hide a material whose dual-energy ratio lies inside the declared
goods' band (machinery in steel, water in textiles or chemicals, steel in copper) or a block of under 250 pixels.

Issue #20, IMG-E: held-out figures are now taken on 1,000 scans of each of two held-out seeds (2 and 4) with
bootstrap standard errors (`bench/images.py`). The gap between validation and held-out recall above is mostly the
validation set: the network of `scan-cnn-1.2000x30-7da1ac8e` scores 0.892 (bootstrap SE 0.029) on the 400 scans
that were the validation set, but 0.806 (0.048) on the next 600 scans of the same seed 3 and 0.849 (0.021) on all
1,000, as on the held-out seeds (0.848 ± 0.019 and 0.841 ± 0.019 at 1,000 scans each). Those 400 scans were a
favourable draw, their 5 % point rests on about ten clean scans, and the settings were chosen looking at them: the
validation set is now 1,000 scans (seed 3; the first 400 are the old set). Averaging each scan's probabilities with
its left-right mirror's (training already mirrors half the scans) raised held-out recall by 0.013 (paired bootstrap
SE 0.010) on seed 2 and 0.024 (0.011) on seed 4; it is in the exported graph (version `scan-cnn-2.…`), the trained
weights unchanged. Measured and not kept: two more passes shifted by 4 pixels (+0.006 ± 0.012 and -0.001 ± 0.010,
twice the cost). Not measured, for lack of CPU in the session (an epoch took about 350 s on the shared machine):
ensembles (`--members`, built and tested), more training scans, a larger network.

{_declaration_note(r)}{_calibration_note(r)}\
## Physics consistency bands (calibrated on the clean training scans, 0.5-99.5 % plus a margin)
`{json.dumps(r['consistency_rule'])}`: `tare_kg` is the mass in the beam beyond the declared mass (container
and trailer), `ratio_shift` the goods' median dual-energy ratio minus the declared goods' mean ratio.

## The network and how it is served
`inspection/images/train.py` (`ScanNet`, needs the `train-images` extra); the exported graph takes the two
transmissions (N,2,H,W; H and W free) and {_told(r)}
2x2 mean, two stride-2 and two dilated 3x3 convolutions (batch norm, ReLU) give features at 1/8 of the image;
a 1x1 convolution gives the heat map; the score is the sigmoid of an affine function of its hottest cell.
`inspection/images/model.py` serves it with onnxruntime (2 threads, no PyTorch), interpolates the heat map back
to the image's size, averages scans over 1024 pixels a side down by a whole factor first, and adds the physics
consistency check (reported separately as `consistent` with reasons in words; the images service sends an image
to an officer when the score is at or above the review threshold **or** the check fails).

## Limits
- Synthetic only: the figures say how well the network learned the generator, not how it would do on a
  real scanner's images; a deployment retrains on the administration's own labelled scans (same script,
  another data source).
- Container/vehicle side views at MeV energies, 16-27 mm pixels; parcel-scanner images (pixel pitch under
  5 mm) are sent to an officer with that reason; single-energy scans likewise.

Benchmark figures on the held-out seed-2 and seed-4 scans: docs/benchmarks.md, "Images (issue #20)".
"""


if __name__ == "__main__":
    sys.exit(main())
