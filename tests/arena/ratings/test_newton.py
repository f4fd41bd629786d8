"""The Newton solver's pieces: the fast logistic helpers, the Hessian in free parameters, the log-odds start,
and the dense strong-connectivity check, each against a plain reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import expit as scipy_expit

from trustplane.arena.ratings import BradleyTerry
from trustplane.arena.ratings._graph import _strongly_connected
from trustplane.arena.ratings._newton import PairProblem, expit, log_odds_start, newton, softplus

FINITE = st.floats(-800, 800, allow_nan=False)


@given(st.lists(FINITE, min_size=1, max_size=50))
def test_expit_and_softplus_match_the_reference(values: list[float]) -> None:
    x = np.array(values)
    np.testing.assert_allclose(expit(x), scipy_expit(x), rtol=1e-14, atol=1e-300)
    np.testing.assert_allclose(softplus(x), np.logaddexp(0.0, x), rtol=1e-14, atol=1e-14)


def _problem(m: int, ref: int, ties: str, seed: int) -> tuple[PairProblem, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = np.triu_indices(m, k=1)
    keep = rng.random(len(lo)) < 0.7
    lo, hi = lo[keep].astype(np.int64), hi[keep].astype(np.int64)
    n = rng.integers(1, 30, (1, len(lo), 3)).astype(float)
    prob = PairProblem(lo, hi, m, ref, ties)
    x = rng.normal(0, 0.5, (1, prob.k))
    if prob.has_eta:
        x[0, -1] = 0.4
    return prob, n, x


@pytest.mark.parametrize("ties", ["half", "davidson", "rao_kupper"])
@pytest.mark.parametrize("ref", [0, 3, 6])
def test_hessian_matches_finite_differences_of_the_gradient(ties: str, ref: int) -> None:
    prob, n, x = _problem(7, ref, ties, seed=ref)
    prepared = prob.prepare(n)
    _, _, h = prob.derivatives(prepared, x)
    assert h is not None and h.shape == (1, prob.k, prob.k)
    eps = 1e-6
    numeric = np.empty((prob.k, prob.k))
    for j in range(prob.k):
        step = np.zeros_like(x)
        step[0, j] = eps
        gp = prob.derivatives(prepared, x + step, hessian=False)[1]
        gm = prob.derivatives(prepared, x - step, hessian=False)[1]
        numeric[:, j] = (gp - gm)[0] / (2 * eps)
    np.testing.assert_allclose(h[0], numeric, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h[0], h[0].T)


def test_batched_hessians_are_each_problems_own() -> None:
    prob, n, x = _problem(6, 2, "half", seed=9)
    n2 = np.concatenate([n, 2 * n, n[:, ::-1]])
    x2 = np.concatenate([x, -x, 0 * x])
    _, _, batch = prob.derivatives(prob.prepare(n2), x2)
    assert batch is not None
    for b in range(3):
        _, _, single = prob.derivatives(prob.prepare(n2[b : b + 1]), x2[b : b + 1])
        assert single is not None
        np.testing.assert_allclose(batch[b], single[0])


def test_the_log_odds_start_is_near_the_mle_and_changes_nothing_but_the_path() -> None:
    rng = np.random.default_rng(5)
    m, n_battles = 40, 200_000
    theta = rng.normal(0, 0.7, m)
    a = rng.integers(0, m, n_battles)
    b = (a + rng.integers(1, m, n_battles)) % m
    a_wins = rng.random(n_battles) < 1 / (1 + np.exp(-(theta[a] - theta[b])))
    names = np.array([f"m{i}" for i in range(m)], dtype=object)
    fit = BradleyTerry(ci=None).fit(names[a], names[b], np.where(a_wins, "a", "b"))
    prob, x_hat = fit._prob, fit._x
    lo, hi = prob.lo, prob.hi
    start = prob.join(log_odds_start(lo, hi, fit._n, m)[None], np.zeros((1, 1)))
    assert np.abs(start - x_hat).max() < 0.04 * np.ptp(x_hat)  # within a few percent of the spread already
    from_start = newton(prob, fit._n[None], start, tol=1e-10)
    from_zero = newton(prob, fit._n[None], np.zeros_like(start), tol=1e-10)
    assert from_start[2] < from_zero[2] and from_start[3].all() and from_zero[3].all()
    np.testing.assert_allclose(from_start[0], from_zero[0], atol=1e-8)


@settings(max_examples=150, deadline=None)
@given(st.integers(2, 12), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=60))
def test_dense_strong_connectivity_agrees_with_tarjan(m: int, edges: list[tuple[int, int]]) -> None:
    pairs = np.array([(i % m, j % m) for i, j in edges], dtype=np.int64).reshape(-1, 2)
    rows, cols = pairs[:, 0], pairs[:, 1]
    graph = coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(m, m))
    expected = connected_components(graph, directed=True, connection="strong")[0] == 1
    assert _strongly_connected(rows, cols, m) == expected
