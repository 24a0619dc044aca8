"""The DATE-style model (issue #17 experiment): leaf tokens, vocabulary, seeded training with early stopping."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from smartcustoms.risk.date_model import (  # noqa: E402
    CATEGORICALS,
    DateConfig,
    DateData,
    Vocabulary,
    fit,
    leaf_tokens,
    predict,
)


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread, as the bench trains (two threads on a shared, loaded machine run several times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _booster(x: np.ndarray, y: np.ndarray, trees: int = 20) -> lgb.Booster:
    params = {"objective": "binary", "num_leaves": 5, "min_data_in_leaf": 20, "verbose": -1, "num_threads": 1,
              "deterministic": True, "seed": 0}  # fmt: skip
    return lgb.train(params, lgb.Dataset(x, y, params={"verbose": -1}), num_boost_round=trees)


def _synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, list[str | None]]]:
    """Offence when a numeric input is high or the goods are in chapter 61."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    hs2 = rng.choice(["61", "84", "90"], size=n)
    y = ((x[:, 0] + 1.5 * (hs2 == "61") + rng.normal(scale=0.7, size=n)) > 1.0).astype(np.float64)
    cats: dict[str, list[str | None]] = {c: [None] * n for c in CATEGORICALS}
    cats["hs2"] = list(hs2)
    cats["hs4"] = [h + "01" for h in hs2]
    cats["hs6"] = [h + "0100" for h in hs2]
    return x, y, cats


def test_leaf_tokens_are_one_per_tree_in_disjoint_ranges() -> None:
    x, y, _ = _synthetic(400, 0)
    booster = _booster(x, y)
    tokens, n_tokens = leaf_tokens(booster, x)
    assert tokens.shape == (400, booster.num_trees())
    assert tokens.min() >= 0 and tokens.max() < n_tokens
    sizes = [t["num_leaves"] for t in booster.dump_model()["tree_info"]]
    assert n_tokens == sum(sizes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    for t, (start, size) in enumerate(zip(starts, sizes, strict=True)):  # tree t's tokens lie in its own range
        assert (tokens[:, t] >= start).all() and (tokens[:, t] < start + size).all()


def test_rare_unseen_and_missing_values_share_the_unknown_id() -> None:
    columns: dict[str, list[str | None]] = {c: ["a", "a", "b", None] for c in CATEGORICALS}
    vocab = Vocabulary.fit(columns, min_count=2)
    ids = vocab.encode({c: ["a", "b", "z", None] for c in CATEGORICALS})
    assert ids.shape == (4, len(CATEGORICALS))
    assert (ids[0] == 1).all() and (ids[1:] == 0).all()  # "b" seen once: rare; "z" never; None missing
    assert vocab.sizes() == [2] * len(CATEGORICALS)


def _data(x: np.ndarray, y: np.ndarray, cats: dict[str, list[str | None]], booster: lgb.Booster,
          vocab: Vocabulary) -> DateData:  # fmt: skip
    tokens, _ = leaf_tokens(booster, x)
    return DateData(tokens, vocab.encode(cats), y, y * 0.5)


def test_training_is_seeded_stops_early_and_learns() -> None:
    x, y, cats = _synthetic(1000, 1)
    xv, yv, cv = _synthetic(500, 2)
    booster = _booster(x, y)
    vocab = Vocabulary.fit(cats, min_count=5)
    _, n_tokens = leaf_tokens(booster, x[:1])
    train, valid = _data(x, y, cats, booster, vocab), _data(xv, yv, cv, booster, vocab)
    config = DateConfig(dim=8, max_epochs=5, patience=2, batch_size=128)
    net, epochs = fit(train, n_tokens, vocab.sizes(), config, seed=3, valid=valid)
    again, epochs_again = fit(train, n_tokens, vocab.sizes(), config, seed=3, valid=valid)
    p = predict(net, valid)
    np.testing.assert_array_equal(p, predict(again, valid))
    assert epochs == epochs_again and 1 <= epochs <= config.max_epochs
    assert p.shape == (500,) and ((p > 0) & (p < 1)).all()
    top = np.argsort(-p)[:50]
    assert yv[top].mean() > 1.5 * yv.mean()
    fixed, trained_for = fit(train, n_tokens, vocab.sizes(), config, seed=3, epochs=2)  # no validation: as told
    assert trained_for == 2 and predict(fixed, valid).shape == (500,)
