"""Partial information: the plug-in estimator's bias, variance and CI coverage (seeded Monte Carlo)."""

from __future__ import annotations

import numpy as np
import pytest

from trustplane.markets.performative import (
    NotFittedError,
    PerformativeEstimator,
    PerformativeInputError,
    monte_carlo,
    quantity,
    simulate_exploration,
)


def _within_binomial_error(coverage: float, level: float, n: int, k: float = 3.5) -> bool:
    return abs(coverage - level) <= k * np.sqrt(level * (1 - level) / n)


def test_one_period_coverage_is_nominal() -> None:
    res = monte_carlo(
        0.3, 0.2, 0.0, quantity_name="theta_po", n_runs=3000, n_periods=300, n_samples=100, random_state=7
    )
    assert res.n_valid == 3000 and not res.dynamic
    assert _within_binomial_error(res.coverage, 0.95, res.n_valid), res
    assert abs(res.bias) < 4 * np.sqrt(res.variance / res.n_valid) + 1e-3
    assert res.mean_se == pytest.approx(np.sqrt(res.variance), rel=0.1)


def test_dynamic_coverage_is_nominal() -> None:
    res = monte_carlo(
        0.2, 0.2, 0.3, quantity_name="theta_po", n_runs=1500, n_periods=300, n_samples=100, random_state=3
    )
    assert res.dynamic and res.n_valid >= 1490
    assert _within_binomial_error(res.coverage, 0.95, res.n_valid), res
    assert res.mean_se == pytest.approx(np.sqrt(res.variance), rel=0.15)


def test_fit_recovers_parameters_without_attenuation() -> None:
    data = simulate_exploration(0.2, 0.2, 0.5, n_periods=400, n_samples=200, n_runs=400, random_state=1)
    est = PerformativeEstimator().fit(data.theta, data.y_bar, data.n_samples)
    assert est.converged_.all()
    for value, truth, cov_idx in ((est.a_, 0.2, 0), (est.b_, 0.2, 1), (est.c_, 0.5, 2)):
        se = np.sqrt(est.cov_[:, cov_idx, cov_idx]).mean()
        assert abs(value.mean() - truth) < 4 * se / np.sqrt(400) + 2e-3


def test_seeded_determinism_and_sklearn_contract() -> None:
    one = simulate_exploration(0.3, 0.1, 0.2, n_periods=50, n_runs=3, random_state=11)
    two = simulate_exploration(0.3, 0.1, 0.2, n_periods=50, n_runs=3, random_state=11)
    assert one.y_bar.tobytes() == two.y_bar.tobytes() and one.random_state == 11
    est = PerformativeEstimator(dynamic=True, level=0.9)
    assert est.fit(one.theta, one.y_bar, one.n_samples) is est
    assert est.dynamic and est.level == 0.9
    single = PerformativeEstimator().fit(one.theta[0], one.y_bar[0], one.n_samples)
    assert single.a_.shape == (1,) and single.a_[0] == pytest.approx(est.a_[0], abs=1e-9)
    pi = est.estimate("shift_po")
    assert np.all(pi.ci_low <= pi.estimate) and np.all(pi.estimate <= pi.ci_high)


def test_quantities_match_closed_forms() -> None:
    a, b, c = 0.2, 0.2, 0.3
    a1, b1 = a / (1 - c), b / (1 - c)
    th = (2 * a1 - b1) / (2 * (1 - 2 * b1))
    assert float(quantity("theta_po", a, b, c)) == pytest.approx(th, abs=1e-15)
    assert float(quantity("shift_po", a, b, c)) == pytest.approx(b1 * th, abs=1e-15)
    assert float(quantity("theta_rrm", a, b, c)) == pytest.approx(a / (1 - b - c), abs=1e-15)
    assert np.isnan(quantity("theta_po", 0.1, 0.6, 0.0))


def test_estimator_errors() -> None:
    with pytest.raises(NotFittedError):
        PerformativeEstimator().estimate()
    with pytest.raises(PerformativeInputError, match="one more period"):
        PerformativeEstimator().fit(np.zeros(10), np.zeros(10), 10)
    with pytest.raises(PerformativeInputError, match="unknown quantity"):
        quantity("nope", 0.1, 0.1)
    with pytest.raises(PerformativeInputError, match="undefined"):
        monte_carlo(0.1, 0.6, 0.0, n_runs=10)
