"""Every closed form against numeric optimisation / iteration, to 1e-10, over parameter grids."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.optimize import brentq

from trustplane.markets.performative import (
    PerformativeInputError,
    check_params,
    fixed_points,
    numeric_argmin,
    numeric_argmin_brent,
    numeric_fixed_points_prm,
    path,
    performative_risk,
    prm_one_period,
    rrm_one_period,
    simulate_recursion,
    slow_params,
)

TOL = 1e-10


def _valid(a: float, b: float, c: float = 0.0) -> bool:
    try:
        check_params(a, b, c)
    except PerformativeInputError:
        return False
    return True


AB_GRID = [
    (a, b)
    for a, b in itertools.product(np.linspace(0, 1, 21), np.linspace(-0.5, 0.45, 20))
    if _valid(float(a), float(b))
]
ABC_GRID = [
    (float(a), float(b), float(c))
    for a, b, c in itertools.product(np.linspace(0, 0.9, 7), np.linspace(-0.4, 0.45, 7), np.linspace(-0.5, 0.6, 6))
    if _valid(float(a), float(b), float(c))
]


def test_issue_sanity_check() -> None:
    a, b = 0.3, 0.2
    sol = prm_one_period(a, b)
    assert sol.theta == pytest.approx((2 * a - b) / (2 * (1 - 2 * b)), abs=1e-15)
    assert rrm_one_period(a, b).theta == pytest.approx(a / (1 - b), abs=1e-15)
    # PR(θ) = a + (b − 2a)θ + (1 − 2b)θ² equals the Bernoulli expectation
    for theta in np.linspace(0, 1, 11):
        p = a + b * theta
        assert performative_risk(theta, a, b) == pytest.approx(p * (1 - theta) ** 2 + (1 - p) * theta**2, abs=1e-15)


def test_grids_are_not_trivial() -> None:
    assert len(AB_GRID) > 150 and len(ABC_GRID) > 80
    clipped = [prm_one_period(a, b).clipped for a, b in AB_GRID]
    assert any(clipped) and not all(clipped)


@pytest.mark.parametrize(("a", "b"), AB_GRID)
def test_one_period_prm_matches_numeric_optimum(a: float, b: float) -> None:
    sol = prm_one_period(a, b)
    numeric = numeric_argmin(lambda th: a + b * th)
    assert abs(sol.theta - numeric) < TOL
    # bounded Brent on risk values: only ~1e-7 is attainable (flat minimum), but it is an independent check
    assert abs(sol.theta - numeric_argmin_brent(lambda th: a + b * th)) < 1e-6
    grid = np.linspace(0, 1, 2001)
    assert sol.risk is not None and sol.risk <= np.min(performative_risk(grid, a, b)) + 1e-15
    assert abs(sol.p - (a + b * sol.theta)) < 1e-15
    if not sol.clipped:  # bias in closed form b(2a + b − 1)/(2(1 − 2b))
        assert abs(sol.bias - b * (2 * a + b - 1) / (2 * (1 - 2 * b))) < TOL


@pytest.mark.parametrize(("a", "b"), AB_GRID)
def test_one_period_rrm_is_fixed_point_of_retraining(a: float, b: float) -> None:
    sol = rrm_one_period(a, b)
    theta = sol.theta
    assert abs(theta - (a + b * theta)) < 1e-15  # retraining on D(θ) returns θ
    p, _ = simulate_recursion("rrm", a, b, 0.0, p0=0.5, horizon=200)
    assert abs(p[-1] - theta) < TOL


@pytest.mark.parametrize(("a", "b"), AB_GRID)
def test_amplification_rule_one_period(a: float, b: float) -> None:
    """PRM shifts further than RRM iff sign(b)·(a/(1 − b) − 1/2) > 0 (weakly, with clipping)."""
    prm, rrm = prm_one_period(a, b), rrm_one_period(a, b)
    amp = abs(prm.shift) - abs(rrm.shift)
    rule = np.sign(b) * (rrm.theta - 0.5)
    if rule > 1e-9:
        assert amp >= -1e-12
    elif rule < -1e-9:
        assert amp <= 1e-12
    if not prm.clipped:
        diff = b * (2 * a + b - 1) / (2 * (1 - 2 * b) * (1 - b))
        assert abs((prm.theta - rrm.theta) - diff) < TOL


@pytest.mark.parametrize(("a", "b", "c"), ABC_GRID)
@pytest.mark.parametrize("regime", ["rapid", "slow"])
@pytest.mark.parametrize("method", ["prm", "rrm", "rgd"])
def test_paths_match_iterated_recursion(method: str, regime: str, a: float, b: float, c: float) -> None:
    try:
        closed = path(method, a, b, c, p0=0.15, theta0=0.8, eta=0.3, horizon=30, regime=regime)  # type: ignore[arg-type]
    except PerformativeInputError:
        pytest.skip("method/regime undefined here (b ≥ 1/2 or b/(1 − c) ≥ 1/2)")
    p, theta = simulate_recursion(method, a, b, c, p0=0.15, theta0=0.8, eta=0.3, horizon=30, regime=regime)  # type: ignore[arg-type]
    assert np.max(np.abs(closed.p - p)) < TOL
    assert np.max(np.abs(closed.theta - theta)) < TOL
    assert np.allclose(closed.bias, closed.theta - closed.p[1:])
    assert np.allclose(closed.shift, closed.p - closed.baseline)


@pytest.mark.parametrize(("a", "b", "c"), ABC_GRID[::3])
def test_rapid_prm_fixed_points_match_numeric_roots(a: float, b: float, c: float) -> None:
    try:
        fps = fixed_points("prm", a, b, c)
    except PerformativeInputError:
        pytest.skip("b ≥ 1/2")
    roots = numeric_fixed_points_prm(a, b, c)
    assert len(fps) == len(roots)
    for s, r in zip(fps, roots, strict=True):
        assert abs(s.p - r) < TOL


@pytest.mark.parametrize(("a", "b", "c"), ABC_GRID)
def test_stable_fixed_points_are_limits(a: float, b: float, c: float) -> None:
    for method in ("rrm", "rgd"):
        (fp,) = fixed_points(method, a, b, c, eta=0.3)  # type: ignore[arg-type]
        assert fp.p == pytest.approx(a / (1 - b - c), abs=1e-15)
        if fp.rate < 0.9:
            p, theta = simulate_recursion(method, a, b, c, p0=0.15, theta0=0.8, eta=0.3, horizon=400)  # type: ignore[arg-type]
            assert abs(p[-1] - fp.p) < TOL and abs(theta[-1] - fp.theta) < TOL
    try:
        a1, b1 = slow_params(a, b, c)
        slow = fixed_points("prm", a, b, c, regime="slow")
    except PerformativeInputError:
        return
    assert len(slow) == 1 and abs(slow[0].theta - prm_one_period(a1, b1).theta) < 1e-15


def test_rapid_interior_fixed_point_formula() -> None:
    a, b, c = 0.2, 0.2, 0.3
    (fp,) = fixed_points("prm", a, b, c)
    assert fp.p == pytest.approx((2 * a * (1 - b) - b * b) / (2 * (1 - 2 * b - c + b * c)), abs=1e-15)
    assert fp.rate == pytest.approx(c * (1 - b) / (1 - 2 * b), abs=1e-15)


def test_rapid_prm_can_be_unstable_with_three_fixed_points() -> None:
    """r = c(1 − b)/(1 − 2b) > 1: interior fixed point unstable, two clipped corners stable."""
    fps = fixed_points("prm", 0.05, 0.4, 0.5)
    assert [s.stable for s in fps] == [True, False, True]
    up = path("prm", 0.05, 0.4, 0.5, p0=0.55, horizon=300)
    down = path("prm", 0.05, 0.4, 0.5, p0=0.45, horizon=300)
    assert up.limit == fps[2] and down.limit == fps[0]
    assert up.segments >= 2


def test_rgd_with_half_step_is_rrm() -> None:
    for a, b, c in ABC_GRID[::5]:
        r = path("rrm", a, b, c, p0=0.3, horizon=20)
        g = path("rgd", a, b, c, p0=0.3, theta0=0.3, eta=0.5, horizon=20)
        assert np.max(np.abs(r.p - g.p)) < 1e-12


def test_rgd_repeated_eigenvalue_path() -> None:
    """disc(M) = (c − q)² + 8ηbc with q = 1 − 2η(1 − b): a double eigenvalue needs bc < 0."""
    a, b, c = 0.4, -0.3, 0.3

    def disc(eta: float) -> float:
        tr = c + 1 - 2 * eta + 2 * eta * b
        det = c * (1 - 2 * eta + 2 * eta * b) - b * 2 * eta * c
        return tr * tr - 4 * det

    etas = np.linspace(0.01, 0.5, 500)
    vals = [disc(e) for e in etas]
    i = next(k for k in range(len(vals) - 1) if vals[k] * vals[k + 1] < 0)
    eta = float(brentq(disc, etas[i], etas[i + 1], xtol=1e-16))
    closed = path("rgd", a, b, c, p0=0.9, theta0=0.1, eta=eta, horizon=200)
    p, theta = simulate_recursion("rgd", a, b, c, p0=0.9, theta0=0.1, eta=eta, horizon=200)
    assert np.max(np.abs(closed.p - p)) < TOL and np.max(np.abs(closed.theta - theta)) < TOL
