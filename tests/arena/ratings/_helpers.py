"""Synthetic battles from known ratings, and a reference fit on the full (battle-level) likelihood."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import minimize

ALPHA = 400 / math.log(10)


def simulate(
    theta: NDArray[np.float64],
    n: int,
    rng: np.random.Generator,
    *,
    ties: str = "none",
    tie_param: float = 1.0,
    pair_prob: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.str_], NDArray[np.str_], NDArray[np.int64]]:
    """Battles between models ``m0..`` with natural-log strengths ``theta``.

    ``ties``: ``none`` (plain BT), ``half`` (P(tie) = 2·tie_param·σ(1−σ) and P(a) = σ − P(tie)/2, so a tie as
    half a win is correctly specified in the mean), ``davidson`` (ν = tie_param) or ``rao_kupper``
    (θ_RK = tie_param).
    Outcome codes: 0 a wins, 1 b wins, 2 tie.
    """
    m = len(theta)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    d = theta[a] - theta[b]
    if ties == "none":
        pa, pt = 1 / (1 + np.exp(-d)), np.zeros(n)
    elif ties == "half":
        s = 1 / (1 + np.exp(-d))
        pt = 2 * tie_param * s * (1 - s)
        pa = s - pt / 2
    elif ties == "davidson":
        den = np.exp(d / 2) + np.exp(-d / 2) + tie_param
        pa, pt = np.exp(d / 2) / den, tie_param / den
    else:
        eta = math.log(tie_param)
        pa = 1 / (1 + np.exp(-(d - eta)))
        pb = 1 / (1 + np.exp(-(-d - eta)))
        pt = 1 - pa - pb
    u = rng.random(n)
    out = np.where(u < pa, 0, np.where(u < pa + pt, 2, 1))
    names = np.array([f"m{i}" for i in range(m)])
    return names[a], names[b], out


def reference_half(
    a: NDArray[np.str_], b: NDArray[np.str_], out: NDArray[np.int64], models: list[str]
) -> NDArray[np.float64]:
    """Battle-level BT log-likelihood (ties as half wins) maximised by scipy; log-strengths with models[0] at 0."""
    idx = {m: i for i, m in enumerate(models)}
    ia = np.array([idx[x] for x in a])
    ib = np.array([idx[x] for x in b])
    y = np.select([out == 0, out == 1], [1.0, 0.0], 0.5)
    m = len(models)

    def nll(p: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        th = np.concatenate([[0.0], p])
        d = th[ia] - th[ib]
        s = 1 / (1 + np.exp(-d))
        ll = np.sum(y * d - np.logaddexp(0, d))
        r = y - s
        g = np.bincount(ia, r, m) - np.bincount(ib, r, m)
        return -ll, -g[1:]

    res = minimize(nll, np.zeros(m - 1), jac=True, method="BFGS", options={"gtol": 1e-10, "maxiter": 10_000})
    return np.concatenate([[0.0], res.x])
