"""Interval coverage on battles simulated from known ratings (200 simulations each)."""

from __future__ import annotations

import numpy as np

from trustplane.arena.ratings import BradleyTerry

from ._helpers import ALPHA, simulate

N_SIM = 200
M = 8


def _truth_in(method: str, seed: int, ties: str = "half") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    theta = np.linspace(-0.6, 0.6, M)
    truth = ALPHA * (theta - theta.mean()) + 1000  # unanchored ratings are centred at 1000
    true_rank = M - np.arange(M)
    covered, ranks_ok = [], []
    for k in range(N_SIM):
        a, b, out = simulate(theta, 2000, rng, ties=ties, tie_param=0.6)
        bt = BradleyTerry(ties=ties, ci=method, n_bootstrap=100, random_state=k).fit(a, b, out)
        res = bt.result_
        order = [res.models.index(f"m{i}") for i in range(M)]
        assert res.lower is not None and res.upper is not None and res.ranks is not None
        covered.append((res.lower[order] <= truth) & (truth <= res.upper[order]))
        ranks_ok.append(np.all((res.ranks.lower[order] <= true_rank) & (true_rank <= res.ranks.upper[order])))
    return np.array(covered), np.array(ranks_ok)


def _check(covered: np.ndarray, ranks_ok: np.ndarray) -> None:
    rate = covered.mean()
    # pooled over 200 × 8 intervals (correlated within a simulation): allow 3.5 binomial SEs of 200 draws/8
    se = np.sqrt(0.95 * 0.05 / covered.size)
    assert abs(rate - 0.95) < 0.01 + 3.5 * se, rate
    assert ranks_ok.mean() >= 0.92, ranks_ok.mean()  # simultaneous (conservative) rank intervals


def test_sandwich_coverage():
    _check(*_truth_in("sandwich", 10))


def test_bootstrap_coverage():
    _check(*_truth_in("bootstrap", 11))


def test_davidson_sandwich_coverage():
    _check(*_truth_in("sandwich", 14, ties="davidson"))


def test_sandwich_and_bootstrap_agree_on_large_data():
    rng = np.random.default_rng(12)
    a, b, out = simulate(np.linspace(-1, 1, 10), 100_000, rng, ties="davidson", tie_param=0.5)
    bt = BradleyTerry(ci="sandwich", random_state=0).fit(a, b, out)
    boot = bt.intervals("bootstrap", n_bootstrap=200)
    np.testing.assert_allclose(boot.se, bt.result_.se, rtol=0.2)
    assert boot.bootstrap is not None and boot.bootstrap.shape == (200, 10)
    # bootstrap replicates reproduce with the same random_state
    again = BradleyTerry(ci="bootstrap", n_bootstrap=200, random_state=0).fit(a, b, out).result_
    assert again.bootstrap is not None
    np.testing.assert_array_equal(again.bootstrap, boot.bootstrap)


def test_anchor_fixes_rating_and_interval():
    rng = np.random.default_rng(13)
    a, b, out = simulate(np.linspace(-1, 1, 4), 5000, rng)
    res = BradleyTerry(anchor="m2", anchor_rating=1114.0).fit(a, b, out).result_
    k = res.models.index("m2")
    assert res.rating[k] == 1114.0
    assert res.se is not None and res.se[k] == 0.0


def test_bootstrap_on_tiny_data_drops_replicates_that_break_ford():
    a = np.array(["x", "y", "y", "z", "z", "x"])
    b = np.array(["y", "x", "z", "y", "x", "z"])
    out = np.array(["a", "a", "a", "a", "tie", "b"])
    res = BradleyTerry(ci="bootstrap", n_bootstrap=50, random_state=1).fit(a, b, out).result_
    assert res.bootstrap_failed > 0
    assert res.bootstrap is not None and len(res.bootstrap) == 50 - res.bootstrap_failed
    assert res.lower is not None and np.all(np.isfinite(res.lower))


def test_fast_multinomial_is_exact() -> None:
    """The Poisson-split-and-top-up draw has the multinomial's law: sums, zero cells, moments and marginals."""
    from scipy import stats

    from trustplane.arena.ratings._estimator import multinomial

    rng = np.random.default_rng(7)
    p = np.array([0.5, 0.2, 0.0, 0.25, 0.05])
    cdf = np.cumsum(p)
    cdf[-1] = np.inf
    total, reps = 2000, 20_000
    draws = np.array([multinomial(rng, total, p, cdf) for _ in range(reps)])
    assert np.all(draws.sum(axis=1) == total) and np.all(draws[:, 2] == 0)
    mean_se = np.sqrt(total * p * (1 - p) / reps)
    assert np.all(np.abs(draws.mean(axis=0) - total * p) <= 5 * mean_se + 1e-12)
    cov = np.cov(draws.T)
    theory = total * (np.diag(p) - np.outer(p, p))
    assert np.allclose(cov, theory, rtol=0.05, atol=2.0)
    # the marginal of a cell is Binomial(total, p_i): chi-square goodness of fit on binned counts
    x = draws[:, 4]
    edges = np.quantile(stats.binom.ppf(np.linspace(0.001, 0.999, 12), total, p[4]), np.linspace(0, 1, 12))
    edges = np.unique(np.round(edges))
    observed = np.histogram(x, bins=np.r_[-np.inf, edges[1:-1], np.inf])[0]
    cdf_b = stats.binom.cdf(np.r_[edges[1:-1] - 1, total], total, p[4])
    expected = np.diff(np.r_[0.0, cdf_b]) * reps
    assert stats.chisquare(observed, expected).pvalue > 1e-3
