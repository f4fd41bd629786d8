"""Agreement with direct references: scipy on the battle-level likelihood, sklearn the FastChat way, choix."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from trustplane.arena.ratings import BradleyTerry

from ._helpers import ALPHA, reference_half, simulate


@pytest.fixture(scope="module")
def battles() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    theta = rng.normal(0, 0.8, 8)
    return simulate(theta, 3000, rng, ties="davidson", tie_param=0.7)


def test_half_matches_scipy_full_likelihood(battles):
    a, b, out = battles
    bt = BradleyTerry(anchor="m0", anchor_rating=1000.0, ci=None).fit(a, b, out)
    ref = reference_half(a, b, out, list(bt.models_))
    ref -= ref[bt.models_.index("m0")]
    np.testing.assert_allclose(bt.ratings_, 1000.0 + ALPHA * ref, atol=1e-6)
    assert bt.converged_


def test_half_matches_sklearn_fastchat_way(battles):
    sklearn = pytest.importorskip("sklearn.linear_model")
    a, b, out = battles
    bt = BradleyTerry(ci=None).fit(a, b, out)  # no anchor: centred at 1000, like FastChat's unanchored fit
    models = list(bt.models_)
    idx = {m: i for i, m in enumerate(models)}
    ia, ib = np.array([idx[x] for x in a]), np.array([idx[x] for x in b])
    n, m = len(a), len(models)
    # FastChat: duplicate battles; a tie is one win for each side; features ±ln(10); scale 400, init 1000
    x = np.zeros((2 * n, m))
    rows = np.arange(2 * n)
    x[rows, np.concatenate([ia, ia])] = math.log(10)
    x[rows, np.concatenate([ib, ib])] = -math.log(10)
    y = np.concatenate([(out == 0) | (out == 2), out == 0]).astype(float)
    lr = sklearn.LogisticRegression(fit_intercept=False, C=np.inf, tol=1e-14, max_iter=10_000)
    lr.fit(x, y)
    elo = 400 * lr.coef_[0] + 1000
    np.testing.assert_allclose(bt.ratings_, elo, atol=1e-5)


def test_no_ties_matches_choix():
    choix = pytest.importorskip("choix")
    rng = np.random.default_rng(2)
    theta = rng.normal(0, 1, 6)
    a, b, out = simulate(theta, 2000, rng)
    bt = BradleyTerry(ci=None).fit(a, b, out)
    idx = {m: i for i, m in enumerate(bt.models_)}
    data = [(idx[x], idx[y]) if o == 0 else (idx[y], idx[x]) for x, y, o in zip(a, b, out, strict=True)]
    params = choix.opt_pairwise(len(idx), data, alpha=0.0, method="BFGS", tol=1e-12)
    theirs = ALPHA * (params - params.mean()) + 1000
    np.testing.assert_allclose(bt.ratings_, theirs, atol=1e-4)
    ilsr = choix.ilsr_pairwise(len(idx), data, alpha=0.0, tol=1e-14, max_iter=10_000)
    np.testing.assert_allclose(bt.ratings_, ALPHA * (ilsr - ilsr.mean()) + 1000, atol=1e-6)


@pytest.mark.parametrize("ties", ["davidson", "rao_kupper"])
def test_tie_models_match_scipy_full_likelihood(battles, ties):
    a, b, out = battles
    bt0 = BradleyTerry(ties=ties, ci=None).fit(a, b, out)
    bt = BradleyTerry(ties=ties, anchor=bt0.models_[0], ci=None).fit(a, b, out)
    models = list(bt.models_)
    idx = {m: i for i, m in enumerate(models)}
    ia, ib = np.array([idx[x] for x in a]), np.array([idx[x] for x in b])
    m = len(models)

    def nll(p: np.ndarray) -> float:
        th = np.concatenate([[0.0], p[:-1]])
        e = p[-1]
        d = th[ia] - th[ib]
        if ties == "davidson":
            logd = np.logaddexp(np.logaddexp(d / 2, -d / 2), e)
            lp = np.select([out == 0, out == 1], [d / 2 - logd, -d / 2 - logd], e - logd)
        else:
            if e <= 0:
                return 1e300
            la, lb = -np.logaddexp(0, -(d - e)), -np.logaddexp(0, -(-d - e))
            lp = np.select([out == 0, out == 1], [la, lb], np.log(np.expm1(2 * e)) + la + lb)
        return float(-lp.sum())

    x0 = np.concatenate([bt.theta_[1:] + 0.01, [math.log(bt.tie_param_) + 0.01]])
    res = minimize(nll, x0, method="Nelder-Mead" if m > 20 else "BFGS", options={"gtol": 1e-9, "maxiter": 10_000})
    np.testing.assert_allclose(bt.theta_[1:] * ALPHA, res.x[:-1] * ALPHA, atol=1e-3)
    assert math.log(bt.tie_param_) == pytest.approx(res.x[-1], abs=1e-5)
    # and our optimum is at least as good as scipy's
    ours = np.concatenate([bt.theta_[1:], [math.log(bt.tie_param_)]])
    assert nll(ours) <= res.fun + 1e-9
