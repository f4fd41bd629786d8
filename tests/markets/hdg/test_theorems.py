"""Property tests of the known structure, each over at least 1,000 seeded random instances."""

from __future__ import annotations

import numpy as np

from trustplane.markets.hdg import (
    EpsilonCertifier,
    GridEquilibriumSolver,
    HeterogeneousDataGame,
    critical_temperature,
    homogeneous_gain,
    proportional_counts,
    proportional_split_condition,
    random_game,
    split_profile,
)

CERT = EpsilonCertifier()


def test_n2_prox_pne_iff_dominant_source() -> None:
    rng = np.random.default_rng(101)
    seen = {True: 0, False: 0}
    for _ in range(1000):
        k = int(rng.integers(2, 4))  # the statement fails for K ≥ 4, see the counterexample test
        g = random_game(k, 2, 2, rule="prox", random_state=rng)
        star = int(np.argmax(g.weights))
        dominant = bool(g.weights[star] >= 0.5)
        seen[dominant] += 1
        res = GridEquilibriumSolver(resolution={2: 20, 3: 6}[k]).solve(g).result_
        if dominant:
            # both providers at θ_k* is an equilibrium of the continuous game (exact ε) …
            assert CERT.certify(g, np.vstack([g.thetas[star]] * 2)).epsilon <= 1e-12
            # … and the only one of the grid game, which contains θ_k* and the copy deviation.
            assert res.n_equilibria == 1
            assert np.allclose(res.profiles()[0], g.thetas[star])
        else:
            for prof in res.profiles():  # grid artefacts are not equilibria of the continuous game
                assert CERT.certify(g, prof).epsilon_lower > 0
    assert min(seen.values()) > 100


def test_n2_prox_counterexample_collinear_sources() -> None:
    """Hotelling: with collinear sources (D = 1) the weighted median is an equilibrium with max w < 1/2."""
    g = HeterogeneousDataGame([0.4, 0.2, 0.4], [[0.0], [1.0], [2.0]], np.ones((3, 1, 1)), n_providers=2)
    cert = CERT.certify(g, [[1.0], [1.0]])
    assert cert.epsilon <= 1e-12
    assert g.weights.max() < 0.5


def test_n2_prox_counterexample_four_sources() -> None:
    """K = 4, D = 2, generic: both providers at θ_1 with w_1 = 0.455 < 1/2 is a PNE.

    No deviation can strictly win sources 2, 3 and 4 together (0 lies in the convex hull of their loss
    gradients at θ_1), and any two of them weigh less than 1/2.
    """
    rng = np.random.default_rng(101)
    hits = []
    for _ in range(1000):
        k = int(rng.integers(2, 5))
        g = random_game(k, 2, 2, rule="prox", random_state=rng)
        if k == 4 and g.weights.max() < 0.5:
            j = int(np.argmax(g.weights))
            prof = np.vstack([g.thetas[j]] * 2)
            if CERT.certify(g, prof).epsilon <= 1e-12:
                hits.append((g, prof))
    assert hits, "expected counterexamples with K = 4"
    g, prof = hits[0]
    r = np.random.default_rng(0)
    pts = prof[0] + r.normal(size=(200_000, 2)) * r.choice([1e-3, 1e-2, 0.1, 1.0, 3.0], size=(200_000, 1))
    assert g.deviation_utilities(pts, prof[1:]).max() <= 0.5  # brute force agrees


def test_n2_prop_threshold() -> None:
    rng = np.random.default_rng(202)
    violations_wopt = []
    for i in range(1000):
        g = random_game(2, 2, 2, rule="prop", temperature=1.0, random_state=rng)
        ct = critical_temperature(g, resolution=600)
        assert ct.t_lower > 0
        # iff: below t̲ an explicit deviation gains; at and above, none does on the grid
        gains = homogeneous_gain(g, ct.t_lower * np.array([0.999, 1.0, 1.5, 3.0, 10.0]), resolution=600)
        assert gains[0] > 0
        assert np.all(gains[1:] <= 1e-12)
        # bound with ℓ'_max = max_{j,k} ℓ_k(θ_j): holds on every instance
        assert ct.t_lower <= 2 * g.losses(g.thetas).max()
        if ct.ratio > 1:
            violations_wopt.append(i)
    # with ℓ_max = max_k ℓ_k(θ̄(w)) the bound t̲ ≤ 2ℓ_max fails on rare instances (see the docs)
    assert len(violations_wopt) <= 10


def test_n2_prop_threshold_counterexample() -> None:
    g = HeterogeneousDataGame(
        [0.16053413, 0.83946587],
        [[0.8527484705742913, -0.6676872919350705], [0.16324400572267767, -0.8307519568543374]],
        [
            [[3.099314021232084, -0.15616348488104448], [-0.15616348488104448, 0.770643570284257]],
            [[0.15991723240862318, -0.1310804593796128], [-0.1310804593796128, 0.5810970506889439]],
        ],
        rule="prop",
        temperature=1.0,
    )
    g2 = g.with_(temperature=2 * g.ell_max())
    x0 = g.weighted_optimum(g.weights)
    dev = g2.deviation_utilities(g.thetas[1:2], x0[None, :])[0]
    assert dev > 0.5 + 1e-3  # moving to θ_2 beats the homogeneous 1/2 at t = 2ℓ_max
    assert critical_temperature(g).ratio > 1.1


def test_n2_prop_certified_subset() -> None:
    rng = np.random.default_rng(303)
    certified = 0
    for _ in range(10):
        g = random_game(2, 2, 2, rule="prop", temperature=1.0, random_state=rng)
        ct = critical_temperature(g, resolution=600)
        x0 = g.weighted_optimum(g.weights)
        above = EpsilonCertifier(max_evaluations=500_000).certify(g.with_(temperature=ct.t_lower * 1.05), [x0, x0])
        assert above.epsilon_lower <= 1e-12
        certified += above.epsilon <= 1e-5
        below = CERT.certify(g.with_(temperature=ct.t_lower * 0.95), [x0, x0])
        assert below.epsilon_lower > 0
    assert certified >= 3  # the Lipschitz bound is loose on some instances within the budget


def test_n_gt_2_prox_homogeneous_structure() -> None:
    """N > 2: a homogeneous PNE sits at some θ_j with w_j ≥ 1 − 2/N; so if max w < 1 − 2/N, all are heterogeneous."""
    rng = np.random.default_rng(404)
    for _ in range(1000):
        n = int(rng.integers(3, 6))
        k = int(rng.integers(2, 4))
        g = random_game(k, 2, n, rule="prox", random_state=rng)
        j = int(np.argmax(g.weights))
        cert = CERT.certify(g, np.vstack([g.thetas[j]] * n))
        if g.weights[j] >= 1 - 1 / n:
            assert cert.epsilon <= 1e-12
        if g.weights[j] < 1 - 2 / n:
            assert cert.epsilon_lower > 0
        x = g.weighted_optimum(rng.dirichlet(np.ones(k)))  # a generic point of the curve
        assert CERT.certify(g, np.vstack([x] * n)).epsilon_lower > 0


def test_n_gt_2_prox_grid_equilibria_heterogeneous() -> None:
    rng = np.random.default_rng(505)
    found = 0
    for _ in range(1000):
        n = int(rng.integers(5, 7))
        w1 = rng.uniform(2 / n, 1 - 2 / n)  # so that max w < 1 − 2/N
        g = random_game(2, 2, n, rule="prox", random_state=rng, weights=[w1, 1 - w1])
        res = GridEquilibriumSolver(resolution=8).solve(g).result_
        for prof, het in zip(res.profiles(), res.heterogeneous(), strict=True):
            if CERT.certify(g, prof).epsilon <= 1e-12:
                found += 1
                assert het
    assert found > 0


def test_proportional_splits_are_equilibria() -> None:
    rng = np.random.default_rng(606)
    holds = 0
    for _ in range(1000):
        k = int(rng.integers(2, 5))
        n = int(rng.integers(k, 9))
        if rng.random() < 0.5:  # exactly proportional: N·w_k integers
            counts = rng.multinomial(n - k, np.ones(k) / k) + 1
            w = counts / n
        else:
            w = rng.dirichlet(np.ones(k))
            counts = proportional_counts(w, n)
        g = random_game(k, 2, n, rule="prox", random_state=rng, weights=w)
        if proportional_split_condition(w, counts):
            holds += 1
            assert CERT.certify(g, split_profile(g, counts)).epsilon <= 1e-12
        if np.allclose(counts, n * w):
            assert proportional_split_condition(w, counts)
    assert holds > 500
