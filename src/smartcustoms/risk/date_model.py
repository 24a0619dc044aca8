"""A DATE-style offence model (Kim et al., KDD 2020, "Dual Attentive Tree-aware Embedding"), our own code.

Needs PyTorch (the optional ``train-images`` extra); production never imports this module (issue #17 experiment,
``bench/risk_date.py``; docs/risk.md, "A DATE-style model"). A gradient-boosted forest's leaf per tree becomes
a token; tokens are embedded (optionally mixed by multi-head self-attention), and a query built from the
declaration's categorical embeddings (HS2 + HS4 + HS6 summed, so a rare HS6 backs off to its chapter and
heading; origin, office, importer, declarant) attends over them (additive attention, as DATE's importer x item
query). The attended leaf vector, the goods, route and party vectors are fused by two dense layers into two
heads: the offence logit and the log duty recovered (DATE's revenue head), trained jointly.

Categorical values seen fewer than ``min_count`` times in training map to the zero "unknown" vector, as every
value unseen in training does, so training rows teach the model what an unknown party or code looks like.
Training is seeded and deterministic on one thread; early stopping reads only the validation rows the caller
passes (a slice of the training period).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import lightgbm as lgb
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: the declaration's categorical inputs, in model order (HS2 / HS4 / HS6 are summed into one goods vector)
CATEGORICALS: tuple[str, ...] = ("hs2", "hs4", "hs6", "origin", "office", "importer", "declarant")


@dataclass(frozen=True)
class DateConfig:
    """Network and training settings."""

    dim: int = 16
    heads: int = 2
    self_attention: bool = False  # DATE's leaf-wise self-attention (cost grows with trees squared)
    revenue_weight: float = 0.1  # the revenue head's share of the loss (DATE's alpha)
    dropout: float = 0.1
    lr: float = 3e-3
    weight_decay: float = 1e-5
    batch_size: int = 256
    max_epochs: int = 20
    patience: int = 3
    min_count: int = 5


def leaf_tokens(booster: lgb.Booster, x: np.ndarray) -> tuple[np.ndarray, int]:
    """Every row's leaf in every tree as a global token id (tree offset + leaf index), and the token count."""
    leaves = np.asarray(booster.predict(x, pred_leaf=True), dtype=np.int64).reshape(len(x), -1)
    sizes = [int(t["num_leaves"]) for t in booster.dump_model()["tree_info"]]
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
    return leaves + offsets[None, : leaves.shape[1]], int(sum(sizes))


@dataclass
class Vocabulary:
    """Value -> id per categorical input; ids start at 1, 0 is "unknown or rare" (seen < ``min_count``)."""

    ids: dict[str, dict[str, int]] = field(default_factory=dict)

    @classmethod
    def fit(cls, columns: dict[str, Sequence[str | None]], min_count: int) -> Vocabulary:
        """Ids of the values seen at least ``min_count`` times, sorted."""
        ids = {}
        for name, values in columns.items():
            counts = Counter(v for v in values if v is not None)
            kept = sorted(v for v, n in counts.items() if n >= min_count)
            ids[name] = {v: i + 1 for i, v in enumerate(kept)}
        return cls(ids)

    def encode(self, columns: dict[str, Sequence[str | None]]) -> np.ndarray:
        """(rows, len(CATEGORICALS)) int64 ids."""
        return np.column_stack(
            [np.array([self.ids[c].get(v, 0) if v is not None else 0 for v in columns[c]], dtype=np.int64)
             for c in CATEGORICALS]
        )  # fmt: skip

    def sizes(self) -> list[int]:
        """Embedding rows per categorical input (unknown included)."""
        return [len(self.ids[c]) + 1 for c in CATEGORICALS]


class AdditiveAttention(nn.Module):
    """Score each leaf vector against the query (``h . relu(W [query; leaf])``), softmax over the trees, sum."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Linear(2 * dim, dim)
        self.h = nn.Linear(dim, 1, bias=False)

    def forward(self, query: torch.Tensor, leaves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The attended leaf vector (batch, dim) and the weights (batch, trees)."""
        q = query.unsqueeze(1).expand(-1, leaves.shape[1], -1)
        weight = torch.softmax(self.h(torch.relu(self.project(torch.cat([q, leaves], dim=-1)))), dim=1)
        return (weight * leaves).sum(dim=1), weight.squeeze(-1)


class DateNet(nn.Module):
    """Leaf tokens and categorical ids in; offence logit and standardised log duty out."""

    def __init__(self, n_tokens: int, sizes: Sequence[int], config: DateConfig) -> None:
        super().__init__()
        d = config.dim
        self.leaf = nn.Embedding(n_tokens, d)
        self.cats = nn.ModuleList(nn.Embedding(n, d, padding_idx=0) for n in sizes)
        self.self_attention = nn.MultiheadAttention(d, config.heads, batch_first=True) if config.self_attention \
            else None  # fmt: skip
        self.query = nn.Linear(len(sizes) * d, d)
        self.attention = AdditiveAttention(d)
        self.fuse = nn.Linear(4 * d, d)
        self.hidden = nn.Linear(d, d)
        self.drop = nn.Dropout(config.dropout)
        self.offence = nn.Linear(d, 1)
        self.revenue = nn.Linear(d, 1)

    def forward(self, tokens: torch.Tensor, cats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Offence logits and revenue predictions, one per row."""
        leaves = self.leaf(tokens)
        if self.self_attention is not None:
            mixed, _ = self.self_attention(leaves, leaves, leaves, need_weights=False)
            leaves = leaves + mixed
        e = [emb(cats[:, i]) for i, emb in enumerate(self.cats)]
        goods = e[0] + e[1] + e[2]  # HS2 + HS4 + HS6: the hierarchy, rare HS6 fall back to the heading
        route, parties = e[3] + e[4], e[5] + e[6]
        attended, _ = self.attention(self.query(torch.cat(e, dim=-1)), leaves)
        h = F.leaky_relu(self.fuse(self.drop(torch.cat([goods, route, parties, attended], dim=-1))))
        h = self.drop(F.leaky_relu(self.hidden(h)))
        return self.offence(h).squeeze(-1), self.revenue(h).squeeze(-1)


@dataclass
class DateData:
    """One set of rows: leaf tokens, categorical ids, 0/1 offence and log1p duty recovered (standardised)."""

    tokens: np.ndarray
    cats: np.ndarray
    offence: np.ndarray
    revenue: np.ndarray


def _auc(scores: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(scores, kind="stable")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]  # ties share their mean rank
    pos = float(y.sum())
    neg = len(y) - pos
    return float("nan") if pos == 0 or neg == 0 else float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def predict(net: DateNet, data: DateData, batch: int = 1024) -> np.ndarray:
    """Offence probabilities of the rows."""
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(data.offence), batch):
            t = torch.from_numpy(data.tokens[start : start + batch])
            c = torch.from_numpy(data.cats[start : start + batch])
            out.append(torch.sigmoid(net(t, c)[0]).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def fit(
    train: DateData, n_tokens: int, sizes: Sequence[int], config: DateConfig = DateConfig(), *, seed: int = 0,
    valid: DateData | None = None, epochs: int | None = None, progress: Callable[[str], None] | None = None,
) -> tuple[DateNet, int]:  # fmt: skip
    """Train a :class:`DateNet`; returns it and the epochs it was trained.

    With ``valid``: up to ``config.max_epochs``, stopped after ``config.patience`` epochs without a better
    validation AUC, the best epoch's weights kept. Without it: exactly ``epochs`` (default ``max_epochs``).
    """
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DateNet(n_tokens, sizes, config)
    opt = torch.optim.Adam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    tokens, cats = torch.from_numpy(train.tokens), torch.from_numpy(train.cats)
    y = torch.from_numpy(train.offence.astype(np.float32))
    rev = torch.from_numpy(train.revenue.astype(np.float32))
    best, best_state, best_epoch, waited = -math.inf, None, 0, 0
    for epoch in range(1, (epochs or config.max_epochs) + 1):
        net.train()
        order = torch.from_numpy(rng.permutation(len(y)))
        for start in range(0, len(y), config.batch_size):
            i = order[start : start + config.batch_size]
            logit, revenue = net(tokens[i], cats[i])
            loss = F.binary_cross_entropy_with_logits(logit, y[i])
            loss = loss + config.revenue_weight * F.mse_loss(revenue, rev[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if valid is None:
            continue
        area = _auc(predict(net, valid), valid.offence)
        if progress:
            progress(f"epoch {epoch}: validation AUC {area:.4f}")
        if area > best:
            best, best_epoch, waited = area, epoch, 0
            best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    if valid is None:
        return net, epochs or config.max_epochs
    assert best_state is not None
    net.load_state_dict(best_state)
    return net, best_epoch
