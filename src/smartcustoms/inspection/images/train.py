"""Training of the scan-image CNN (PyTorch) and its export to ONNX, over arrays: no generator imported here.

Needs the ``train-images`` extra (``pip install -e '.[train-images]'``); production serves the exported file
with onnxruntime (``model.py``) and never imports this module. The driver that renders synthetic scans and
calls :func:`fit` is ``bench/train_images.py`` (``make train-images``).

The network is fully convolutional: the two transmissions and the declaration vector go in (``model.
declared_vector``: the declared goods' ratio band, fill, and per declared material its ratio and expected
attenuation), the graph itself derives the attenuations -ln T, the dual-energy ratio, how far each pixel's ratio
lies outside the declared goods' range and how far each pixel lies from every declared material's expected
(ratio, attenuation) (so training and serving cannot preprocess differently; the network cannot tell undeclared
goods unless it is told what was declared); three stride-2 convolutions and two dilated ones give a feature
map at 1/8 of the image, a 1x1 head turns it into the heat map (trained against the generator's concealment
mask), and the image-level logit is an affine function of the heat map's hottest cell (multiple-instance
style: the score and the heat map tell one story; the anomaly score is its sigmoid).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from smartcustoms.inspection.images.model import DECLARED_SLOTS, MIN_RATIO_ATTENUATION

LN_FLOOR = math.log(1e5)  # transmissions below 1e-5 read as 1e-5 (the generator's and a detector's floor)
MIN_ATTENUATION = MIN_RATIO_ATTENUATION  # -ln T(high) below this: too little matter for a dual-energy ratio
STRIDE = 8  # the heat map's cell, in image pixels
SLOTS = DECLARED_SLOTS  # declared materials in the declaration vector
RATIO_TOLERANCE = 0.05  # the mismatch channel's unit along the dual-energy ratio
ATTENUATION_TOLERANCE = 0.5  # and along ln(-ln T(high))
DECLARATION_CHANNELS = ("mismatch", "attenuation_residual", "fill")


def declaration_channels(high: torch.Tensor, ratio: torch.Tensor, seen: torch.Tensor, declared: torch.Tensor
                         ) -> list[torch.Tensor]:
    """What the image shows against what the declared goods predict, per pixel (the declaration vector of
    ``model.declared_vector``: band, fill, then per declared material ratio, expected -ln T(high), mass share):

    * ``mismatch``: the distance, in tolerance units, from the pixel's (ratio, ln attenuation) to the nearest
      declared material's expected pair (0 where there is no matter or nothing usable was declared);
    * ``attenuation_residual``: ln(pixel's attenuation / the expected one) of the declared materials, weighted
      by how near each is (softmin of the distances): denser or lighter than the declared goods explain;
    * ``fill``: the declared packed volume over a 40 ft container's, as a plane (a full container packs denser).
    """
    n = declared.shape[0]
    slots = declared[:, 4:4 + 3 * SLOTS].reshape(n, SLOTS, 3, 1, 1)
    r_k, a_k, w_k = slots[:, :, 0], slots[:, :, 1], slots[:, :, 2]  # (N, SLOTS, 1, 1)
    present = (w_k > 0).float()
    any_present = (present.sum(dim=1, keepdim=True) > 0).float()  # (N,1,1,1)
    log_att = torch.log(high + MIN_ATTENUATION)  # (N,1,H,W)
    residual_k = log_att - torch.log(a_k + MIN_ATTENUATION)  # (N,SLOTS,H,W)
    dist_k = ((ratio - r_k) / RATIO_TOLERANCE) ** 2 + (residual_k / ATTENUATION_TOLERANCE) ** 2
    dist_k = dist_k + (1.0 - present) * 1e4  # unused slots are never the nearest
    nearest = torch.amin(dist_k, dim=1, keepdim=True)
    mismatch = torch.sqrt(torch.clamp(nearest, max=9.0) + 1e-6) * seen * any_present
    weights = torch.softmax(-dist_k, dim=1)
    residual = (weights * residual_k).sum(dim=1, keepdim=True) * seen * any_present
    fill = declared[:, 3].view(-1, 1, 1, 1) * torch.ones_like(high)
    return [mismatch, residual, fill]


class ScanNet(nn.Module):
    """Transmissions (N,2,H,W: high, low) and the declaration vector (N,16, ``model.declared_vector``; N,3, the
    ratio band alone, with ``declaration=False``: the networks of scan-cnn-1/2) -> (score logit (N,), heat-map
    logits (N,1,H/8,W/8))."""

    def __init__(self, width: tuple[int, int, int, int] = (16, 32, 48, 48), declaration: bool = True) -> None:
        super().__init__()
        c1, c2, c3, c4 = width
        self.declaration = declaration  # reads the declaration vector (N, DECLARED_SIZE), else the band (N, 3)
        cin = self.in_channels = 6 + len(DECLARATION_CHANNELS) if declaration else 6

        def block(cin: int, cout: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation,
                                           bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.pool = nn.AvgPool2d(2, ceil_mode=True)
        self.features = nn.Sequential(block(cin, c1, 2), block(c1, c2, 2), block(c2, c3, 1, 2), block(c3, c4, 1, 4))
        self.heat = nn.Conv2d(c4, 1, 1)
        self.scale = nn.Parameter(torch.tensor(1.0))
        self.bias = nn.Parameter(torch.tensor(0.0))

    def channels(self, scan: torch.Tensor, declared: torch.Tensor) -> torch.Tensor:
        """The input channels: attenuation at both energies, ratio, ratio outside the declared band, where there
        is matter, the declared mean ratio as a plane and, with the declaration vector,
        :data:`DECLARATION_CHANNELS`."""
        t = torch.clamp(scan, 1e-5, 1.0)
        att = -torch.log(t)
        high, low = att[:, 0:1], att[:, 1:2]
        seen = (high >= MIN_ATTENUATION).float()
        ratio = low / torch.clamp(high, min=MIN_ATTENUATION)
        mean = declared[:, 0].view(-1, 1, 1, 1)
        lo = declared[:, 1].view(-1, 1, 1, 1)
        hi = declared[:, 2].view(-1, 1, 1, 1)
        outside = (F.relu(lo - ratio) + F.relu(ratio - hi)) * seen * 10.0
        centred = (ratio - 1.3) * 5.0 * seen
        plane = (mean - 1.3) * 5.0 * torch.ones_like(high)
        base = [high / LN_FLOOR * 2.0, low / LN_FLOOR * 2.0, centred, outside, seen, plane]
        if not self.declaration:
            return torch.cat(base, dim=1)
        return torch.cat(base + declaration_channels(high, ratio, seen, declared), dim=1)

    def prepare(self, scan: torch.Tensor, declared: torch.Tensor) -> torch.Tensor:
        """The input channels at half resolution (2x2 means): what :meth:`trunk` reads. Training caches it."""
        return self.pool(self.channels(scan, declared))

    def forward(self, scan: torch.Tensor, declared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(score logit (N,), heat-map logits (N,1,ceil(H/8),ceil(W/8)))."""
        return self.trunk(self.prepare(scan, declared))

    def trunk(self, prepared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Score logit and heat-map logits from :meth:`prepare`'s channels."""
        heat = self.heat(self.features(torch.clamp(prepared, -3.0, 3.0)))  # noisy ratios of thin matter: bounded
        return self.scale * heat.amax(dim=(1, 2, 3)) + self.bias, heat


def mirror_average(net: ScanNet, prepared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities (score (N,), heat map (N,1,h,w)) averaged over the scan and its left-right mirror (a
    container may face either way; training mirrors half the scans): the mirrored pass's heat map is mirrored
    back before the mean."""
    logit, heat = net.trunk(prepared)
    logit_m, heat_m = net.trunk(torch.flip(prepared, dims=(3,)))
    score = (torch.sigmoid(logit) + torch.sigmoid(logit_m)) / 2.0
    return score, (torch.sigmoid(heat) + torch.flip(torch.sigmoid(heat_m), dims=(3,))) / 2.0


class _Exported(nn.Module):
    """What the ONNX file holds: probabilities rather than logits, each network's averaged over the scan and its
    mirror (:func:`mirror_average`); with several networks (an ensemble), the mean of their probabilities."""

    def __init__(self, nets: list[ScanNet]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(nets)

    def forward(self, scan: torch.Tensor, declared: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores, heats = [], []
        for net in self.nets:  # a band-only network reads the vector's first three values (the band)
            score, heat = mirror_average(net, net.prepare(scan, declared if net.declaration else declared[:, :3]))
            scores.append(score)
            heats.append(heat)
        if len(scores) == 1:
            return scores[0], heats[0]
        return torch.stack(scores).mean(dim=0), torch.stack(heats).mean(dim=0)


@dataclass
class TrainingData:
    """Scans as :meth:`ScanNet.prepare` channels (N,6,H/2,W/2, float16), labels (N,) and heat targets
    (N,1,H/8,W/8: the concealment's share of each cell)."""

    prepared: np.ndarray
    labels: np.ndarray
    targets: np.ndarray
    kinds: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def prepare_scans(scans: list[tuple[np.ndarray, np.ndarray]], declared: np.ndarray, batch: int = 64) -> np.ndarray:
    """:meth:`ScanNet.prepare` of (high, low) transmission pairs and their declared bands, as float16
    (it has no weights: computed once, before training)."""
    net = ScanNet(declaration=declared.shape[1] > 3)
    out = []
    with torch.no_grad():
        for start in range(0, len(scans), batch):
            part = scans[start:start + batch]
            x = torch.from_numpy(np.stack([np.stack(pair) for pair in part]).astype(np.float32))
            d = torch.from_numpy(declared[start:start + len(part)].astype(np.float32))
            out.append(net.prepare(x, d).numpy().astype(np.float16))
    return np.concatenate(out)


def heat_target(mask: np.ndarray) -> np.ndarray:
    """A concealment mask (HxW bool) as the share of each 8x8 cell it covers (padded to whole cells)."""
    h, w = mask.shape
    hh, ww = -(-h // STRIDE), -(-w // STRIDE)
    padded = np.zeros((hh * STRIDE, ww * STRIDE), dtype=np.float32)
    padded[:h, :w] = mask
    return padded.reshape(hh, STRIDE, ww, STRIDE).mean(axis=(1, 3))


@dataclass
class TrainingLog:
    """What happened in training: per-epoch losses and validation figures, seconds, parameter count."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    parameters: int = 0
    seconds: float = 0.0


def _setup(seed: int, threads: int) -> None:
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def _batch(data: TrainingData, idx: np.ndarray, flip: np.ndarray | None = None
           ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    prepared = torch.from_numpy(data.prepared[idx].astype(np.float32))
    targets = torch.from_numpy(data.targets[idx])
    if flip is not None and flip.any():  # a container may face either way: mirror some scans
        f = torch.from_numpy(flip)
        prepared[f] = torch.flip(prepared[f], dims=(3,))
        targets[f] = torch.flip(targets[f], dims=(3,))
    return prepared, torch.from_numpy(data.labels[idx].astype(np.float32)), targets


def predict(net: ScanNet, data: TrainingData, batch: int = 32) -> np.ndarray:
    """Anomaly scores (probabilities) of every scan of ``data``, as served: the mean over the scan and its
    mirror (:func:`mirror_average`)."""
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data), batch):
            idx = np.arange(start, min(start + batch, len(data)))
            prepared, _, _ = _batch(data, idx)
            score, _ = mirror_average(net, prepared[:, :net.in_channels])  # a band-only network: its 6 channels
            out.append(score.numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def recall_at_false_alarms(scores: np.ndarray, labels: np.ndarray, false_alarms: float = 0.05
                           ) -> tuple[float, float]:
    """(recall, threshold): the share of positives at or above the lowest threshold that flags at most
    ``false_alarms`` of the negatives."""
    neg = np.sort(scores[labels == 0])[::-1]
    pos = scores[labels == 1]
    if neg.size == 0 or pos.size == 0:
        return float("nan"), float("nan")
    allowed = int(math.floor(false_alarms * neg.size))  # negatives that may be flagged
    # the threshold sits just above the (allowed+1)-th highest negative score
    threshold = float(np.nextafter(neg[allowed], np.inf)) if allowed < neg.size else float(neg[-1])
    return float((pos >= threshold).mean()), threshold


def fit(train: TrainingData, valid: TrainingData, *, epochs: int = 12, batch: int = 16, lr: float = 3e-3,
        seed: int = 20, threads: int = 2, heat_weight: float = 1.0, pos_weight: float = 10.0,
        kind_weights: dict[str, float] | None = None, log: TrainingLog | None = None,
        progress: bool = True, declaration: bool | None = None, valid_every: int = 1) -> ScanNet:
    """Train a :class:`ScanNet` (seeded, deterministic on CPU): binary cross-entropy on the label plus
    ``heat_weight`` x cross-entropy of the heat map against the concealment's cell shares (positive cells
    weighted ``pos_weight``); each scan's loss is weighted by ``kind_weights`` of its kind (default 1).
    Validation recall every ``valid_every`` epochs and after the last (NaN in the log between: saves CPU)."""
    _setup(seed, threads)
    weights = kind_weights or {}
    if train.kinds and len(train.kinds) != len(train):
        raise ValueError("train.kinds: one kind per scan, or none")
    sample_weight = np.array([weights.get(k, 1.0) for k in train.kinds] if train.kinds else [1.0] * len(train),
                             dtype=np.float32)
    weighted = bool((sample_weight != 1.0).any())
    if declaration is None:  # the prepared channels say which network reads them
        declaration = train.prepared.shape[1] > 6
    net = ScanNet(declaration=declaration)
    log = log if log is not None else TrainingLog()
    log.parameters = sum(p.numel() for p in net.parameters())
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train) / batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    rng = np.random.default_rng(seed)
    positive = torch.tensor(pos_weight)
    started = time.perf_counter()
    for epoch in range(epochs):
        net.train()
        order = rng.permutation(len(train))
        flips = rng.random(len(train)) < 0.5
        total = heat_total = 0.0
        for start in range(0, len(order), batch):
            idx = order[start:start + batch]
            prepared, labels, targets = _batch(train, idx, flips[start:start + batch])
            logit, heat = net.trunk(prepared)
            if weighted:
                w = torch.from_numpy(sample_weight[idx])
                w = w / w.mean()
                loss_score = (F.binary_cross_entropy_with_logits(logit, labels, reduction="none") * w).mean()
                loss_heat = (F.binary_cross_entropy_with_logits(heat, targets, pos_weight=positive,
                                                                reduction="none").mean(dim=(1, 2, 3)) * w).mean()
            else:  # the unweighted loss exactly as before (the shipped model's runs reproduce bit for bit)
                loss_score = F.binary_cross_entropy_with_logits(logit, labels)
                loss_heat = F.binary_cross_entropy_with_logits(heat, targets, pos_weight=positive)
            loss = loss_score + heat_weight * loss_heat
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss_score.detach()) * len(idx)
            heat_total += float(loss_heat.detach()) * len(idx)
        recall = float("nan")
        if (epoch + 1) % max(1, valid_every) == 0 or epoch + 1 == epochs:
            recall, _ = recall_at_false_alarms(predict(net, valid), valid.labels)
        row = {"epoch": epoch + 1, "train_score_loss": total / len(train), "train_heat_loss": heat_total / len(train),
               "valid_recall_at_5pct": recall, "seconds": time.perf_counter() - started}
        log.epochs.append(row)
        if progress:
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()),
                  flush=True)
    log.seconds = time.perf_counter() - started
    net.eval()
    return net


def net_from_onnx(path: Path) -> ScanNet:
    """A :class:`ScanNet` holding the weights of an exported single-network file, with or without the mirror
    average (batch norm folded into the convolutions by the export: each becomes an identity with the folded
    bias), to re-export a trained model with another graph around it; the same predictions up to float rounding.
    ValueError for an ensemble's file."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    heads = [name.removesuffix("heat.weight") for name in weights if name.endswith("heat.weight")]
    if len(heads) != 1:
        raise ValueError(f"{path}: {len(heads)} heat-map heads (networks) where one is expected")
    prefix = heads[0]  # "net." (one network) or "nets.0." (the mirror-averaging graph)
    convs, seen = [], set[bytes]()
    for node in model.graph.node:  # the mirror pass reads the same (folded) weights: each convolution once
        if node.op_type != "Conv" or node.input[1] == f"{prefix}heat.weight" or node.input[1] not in weights:
            continue  # (the mirror pass's weights are Identity copies of the first pass's initializers)
        key = weights[node.input[1]].tobytes() + weights[node.input[2]].tobytes()
        if key not in seen:
            seen.add(key)
            convs.append(node)
    first = weights[convs[0].input[1]] if convs else None
    net = ScanNet(declaration=first is not None and first.shape[1] > 6)
    blocks = list(net.features)
    if len(convs) != len(blocks):
        raise ValueError(f"{path}: {len(convs)} convolutions where a single ScanNet has {len(blocks)}")
    with torch.no_grad():
        for node, block in zip(convs, blocks, strict=True):
            conv, norm = block[0], block[1]
            conv.weight.copy_(torch.tensor(weights[node.input[1]]))
            norm.weight.fill_(1.0)
            norm.bias.copy_(torch.tensor(weights[node.input[2]]))
            norm.running_mean.zero_()
            norm.running_var.fill_(1.0 - norm.eps)
        for name in ("heat.weight", "heat.bias", "scale", "bias"):
            net.get_parameter(name).copy_(torch.tensor(weights[f"{prefix}{name}"]))
    return net.eval()


def export_onnx(net: ScanNet | list[ScanNet], path: Path, metadata: dict[str, str],
                size: tuple[int, int] = (256, 512)) -> None:
    """Write ``net`` (or an ensemble: the mean of several networks' probabilities) as ONNX (inputs ``scan``
    N,2,H,W and ``declared`` N,16, or N,3 for a band-only network; outputs ``score`` N and ``heat``
    N,1,H/8,W/8; H and W dynamic) with ``metadata`` in the file's metadata properties."""
    import onnx

    nets = net if isinstance(net, list) else [net]
    if not nets:
        raise ValueError("net: at least one network to export")
    wrapped = _Exported(nets).eval()
    scan = torch.rand(1, 2, *size)
    declared = torch.tensor([[1.3, 1.2, 1.45]])
    if any(n.declaration for n in nets):
        declared = torch.cat([declared, torch.tensor([[0.3, 1.35, 2.0, 1.0]]), torch.zeros(1, 3 * SLOTS - 3)], dim=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(wrapped, (scan, declared), str(path), input_names=["scan", "declared"],
                      output_names=["score", "heat"], opset_version=17, dynamo=False,
                      dynamic_axes={"scan": {0: "n", 2: "h", 3: "w"}, "declared": {0: "n"},
                                    "score": {0: "n"}, "heat": {0: "n", 2: "hh", 3: "ww"}})
    model = onnx.load(str(path))
    for key, value in sorted(metadata.items()):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, value
    onnx.save(model, str(path))
