"""Tie models recover planted parameters; style control recovers coefficients; IPW removes sampling bias."""

from __future__ import annotations

import math

import numpy as np
import pytest

from trustplane.arena.ratings import BradleyTerry, StyleControlledBT

from ._helpers import ALPHA, simulate


@pytest.mark.parametrize(("ties", "param"), [("davidson", 0.8), ("rao_kupper", 1.8)])
def test_tie_models_recover_planted_parameters(ties, param):
    rng = np.random.default_rng(3)
    theta = np.linspace(-1, 1, 6)
    a, b, out = simulate(theta, 200_000, rng, ties=ties, tie_param=param)
    bt = BradleyTerry(ties=ties, anchor="m0", anchor_rating=0.0).fit(a, b, out)
    order = [bt.models_.index(f"m{i}") for i in range(6)]
    truth = ALPHA * (theta - theta[0])
    got = bt.ratings_[order]
    se = bt.result_.se[order]
    assert np.all(np.abs(got - truth) <= 4 * se + 1e-9)
    assert bt.tie_param_ == pytest.approx(param, rel=0.03)


def test_half_ties_on_davidson_data_shrink_but_keep_order():
    rng = np.random.default_rng(4)
    theta = np.linspace(-1, 1, 5)
    a, b, out = simulate(theta, 100_000, rng, ties="davidson", tie_param=1.0)
    r = BradleyTerry(ci=None).fit(a, b, out).result_.as_dict()
    assert [r[f"m{i}"] for i in range(5)] == sorted(r[f"m{i}"] for i in range(5))


def test_both_bad_is_a_tie_by_default_or_dropped():
    a = np.array(["x", "y", "x", "y", "x"])
    b = np.array(["y", "x", "y", "x", "y"])
    out = np.array(["a", "a", "both_bad", "tie", "b"])
    tie = BradleyTerry(ci=None).fit(a, b, np.where(out == "both_bad", "tie", out)).ratings_
    default = BradleyTerry(ci=None).fit(a, b, out).ratings_
    np.testing.assert_allclose(default, tie)
    dropped = BradleyTerry(ci=None, both_bad="drop").fit(a, b, out).ratings_
    assert not np.allclose(dropped, default)
    fastchat = np.array(["model_a", "model_a", "tie (bothbad)", "tie", "model_b"])
    np.testing.assert_allclose(BradleyTerry(ci=None).fit(a, b, fastchat).ratings_, default)


def test_style_coefficients_recovered():
    rng = np.random.default_rng(5)
    m, n = 6, 60_000
    theta = np.linspace(-0.8, 0.8, m)
    beta = np.array([0.6, -0.3])
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    x = rng.normal(size=(n, 2))
    x[:, 0] += theta[a] - theta[b]  # length correlated with strength
    p = 1 / (1 + np.exp(-(theta[a] - theta[b] + x @ beta)))
    out = np.where(rng.random(n) < p, 0, 1)
    names = np.array([f"m{i}" for i in range(m)])
    sc = StyleControlledBT(anchor="m0", anchor_rating=0.0).fit(names[a], names[b], out, x, style_names=["len", "md"])
    res = sc.result_
    assert set(res.coefficients()) == {"len", "md"}
    np.testing.assert_array_less(np.abs(res.style_coef - ALPHA * beta), 4 * res.style_se)
    order = [res.models.index(f"m{i}") for i in range(m)]
    truth = ALPHA * (theta - theta[0])
    np.testing.assert_array_less(np.abs(res.rating[order] - truth), 4 * res.se[order] + 1e-9)
    # without style control the ratings absorb the style effect
    raw = BradleyTerry(anchor="m0", anchor_rating=0.0, ci=None).fit(names[a], names[b], out)
    spread_raw = np.ptp(raw.ratings_)
    assert spread_raw > 1.2 * np.ptp(res.rating)


def test_style_matches_sklearn_logistic_regression():
    lm = pytest.importorskip("sklearn.linear_model")
    rng = np.random.default_rng(6)
    a, b, out = simulate(np.linspace(-1, 1, 5), 4000, rng, ties="davidson", tie_param=0.5)
    x = rng.normal(size=(len(a), 2))
    sc = StyleControlledBT().fit(a, b, out, x)
    idx = {m: i for i, m in enumerate(sc.models_)}
    ia, ib = np.array([idx[v] for v in a]), np.array([idx[v] for v in b])
    n, m = len(a), len(idx)
    design = np.zeros((2 * n, m + 2))
    rows = np.arange(2 * n)
    design[rows, np.concatenate([ia, ia])] = 1.0
    design[rows, np.concatenate([ib, ib])] = -1.0
    design[:, m:] = np.concatenate([x, x])
    y = np.concatenate([(out == 0) | (out == 2), out == 0]).astype(float)
    lr = lm.LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-14, max_iter=10_000).fit(design, y)
    coef = lr.coef_[0]
    np.testing.assert_allclose(sc.result_.style_coef, ALPHA * coef[m:], atol=1e-5)
    np.testing.assert_allclose(sc.ratings_, ALPHA * (coef[:m] - coef[:m].mean()) + 1000, atol=1e-5)


def test_ipw_removes_sampling_bias():
    """Pair A-B: prompt type 0 (A wins 80%) or 1 (A wins 30%), equally common in the population, so A wins
    55%. Type 0 is logged with probability 0.9, type 1 with 0.1: the naive fit sees 75%, IPW recovers 55%."""
    rng = np.random.default_rng(7)
    target = ALPHA * math.log(0.55 / 0.45)
    naive, ipw = [], []
    for _ in range(20):
        n = 20_000
        kind = rng.random(n) < 0.5
        p_log = np.where(kind, 0.9, 0.1)
        logged = rng.random(n) < p_log
        win = rng.random(n) < np.where(kind, 0.8, 0.3)
        a = np.full(logged.sum(), "A")
        b = np.full(logged.sum(), "B")
        out = np.where(win[logged], "a", "b")
        for sink, kw in ((naive, {}), (ipw, {"sampling_prob": p_log[logged]})):
            r = BradleyTerry(ci=None, anchor="B", anchor_rating=0.0).fit(a, b, out, **kw).result_.as_dict()
            sink.append(r["A"])
    assert abs(np.mean(ipw) - target) < 3.0
    assert abs(np.mean(naive) - ALPHA * math.log(0.75 / 0.25)) < 3.0
    # the sandwich SE accounts for the weights: it is larger than the naive one
    rw = BradleyTerry(anchor="B").fit(a, b, out, sampling_prob=p_log[logged]).result_
    rn = BradleyTerry(anchor="B").fit(a, b, out).result_
    assert rw.se[rw.models.index("A")] > rn.se[rn.models.index("A")]
