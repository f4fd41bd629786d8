"""The battle generator: the right probabilities, the logged sampling probabilities, seeding and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustplane.arena import BattleTable, BradleyTerry
from trustplane.arena.simulate import (
    ELO_PER_NAT,
    SimulatedBattles,
    SimulationInputError,
    TrueRatings,
    generate_battles,
    play_battles,
    provider_shares,
)
from trustplane.core.errors import InvalidInputError


def _within(observed: float, expected: float, n: int, k: float = 4.5) -> bool:
    """A binomial proportion within k standard errors of its expectation."""
    return abs(observed - expected) <= k * np.sqrt(max(expected * (1 - expected), 1e-12) / n)


def test_outcomes_follow_davidson() -> None:
    truth = TrueRatings.from_ratings([1000.0, 1150.0, 850.0], tie_param=0.8)
    n = 60_000
    a = np.repeat([0, 0, 1], n)
    b = np.repeat([1, 2, 2], n)
    battles = play_battles(truth, a, b, random_state=3)
    for k, (i, j) in enumerate([(0, 1), (0, 2), (1, 2)]):
        out = battles.outcome[k * n : (k + 1) * n]
        d = (truth.rating[i, 0] - truth.rating[j, 0]) / ELO_PER_NAT
        den = np.exp(d / 2) + np.exp(-d / 2) + 0.8
        for code, p in ((0, np.exp(d / 2) / den), (1, np.exp(-d / 2) / den), (2, 0.8 / den)):
            assert _within(float((out == code).mean()), float(p), n), (i, j, code)


def test_pairs_categories_and_logged_probabilities() -> None:
    rating = np.zeros((4, 2))
    rate = np.array([[1.0, 1.0], [5.0, 1.0], [1.0, 0.0], [1.0, 2.0]])
    truth = TrueRatings.from_ratings(rating)
    n = 200_000
    battles = generate_battles(truth, n, mix=[0.25, 0.75], sampling_rate=rate, random_state=11)
    assert _within(float((battles.category == 0).mean()), 0.25, n)
    for c in (0, 1):
        sel = battles.category == c
        lo = np.minimum(battles.model_a[sel], battles.model_b[sel])
        hi = np.maximum(battles.model_a[sel], battles.model_b[sel])
        w = {(i, j): rate[i, c] * rate[j, c] for i in range(4) for j in range(i + 1, 4)}
        z = sum(w.values())
        for (i, j), wij in w.items():
            pair = (lo == i) & (hi == j)
            assert _within(float(pair.mean()), wij / z, int(sel.sum())), (c, i, j)
            if pair.any():
                assert np.allclose(battles.sampling_prob[sel][pair], wij / z)
        assert not np.any((battles.model_a[sel] == 2) | (battles.model_b[sel] == 2)) or c == 0
    # sides are a fair coin
    assert _within(float((battles.model_a < battles.model_b).mean()), 0.5, n)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    m=st.integers(2, 7),
    c=st.integers(1, 3),
    n=st.integers(0, 3000),
    seed=st.integers(0, 2**32 - 1),
    nu=st.sampled_from([0.0, 0.5, 2.0]),
)
def test_generator_invariants_and_seeding(m: int, c: int, n: int, seed: int, nu: float) -> None:
    rng = np.random.default_rng(seed)
    truth = TrueRatings.from_ratings(rng.normal(1000, 200, (m, c)), tie_param=nu)
    rate = rng.uniform(0.5, 3.0, (m, c))
    rate[0] = 0.0  # model 0 is switched off: it must never appear
    if m == 2:
        rate[0] = 1.0
    one = generate_battles(truth, n, sampling_rate=rate, random_state=seed)
    two = generate_battles(truth, n, sampling_rate=rate, random_state=seed)
    assert len(one) == n
    for name in ("model_a", "model_b", "outcome", "category", "sampling_prob"):
        assert getattr(one, name).tobytes() == getattr(two, name).tobytes()
    assert np.all(one.model_a != one.model_b)
    assert set(np.unique(one.outcome).tolist()) <= ({0, 1, 2} if nu > 0 else {0, 1})
    assert np.all((one.sampling_prob > 0) & (one.sampling_prob <= 1))
    if m > 2:
        assert not np.any(one.model_a == 0) and not np.any(one.model_b == 0)
    assert one.appearances().sum() == 2 * n


@settings(max_examples=15, deadline=None)
@given(
    ratings=st.lists(st.floats(600, 1400, allow_nan=False), min_size=2, max_size=6),
    nu=st.sampled_from([0.0, 0.3, 1.5]),
)
def test_population_ratings_with_one_category_are_the_true_ratings(ratings: list[float], nu: float) -> None:
    truth = TrueRatings.from_ratings(ratings, tie_param=nu)
    expected = np.asarray(ratings) - np.mean(ratings) + 1000.0
    assert np.allclose(truth.population_ratings(), expected, atol=1e-6)
    sub = truth.population_ratings(models=[0, 1])
    assert np.isnan(sub[2:]).all()
    assert sub[0] - sub[1] == pytest.approx(ratings[0] - ratings[1], abs=1e-6)


def test_population_ratings_depend_on_the_mix() -> None:
    truth = TrueRatings.from_ratings([[1100.0, 900.0], [1000.0, 1000.0], [900.0, 1100.0]])
    assert truth.population_ratings([1.0, 0.0]) == pytest.approx([1100.0, 1000.0, 900.0], abs=1e-6)
    assert truth.population_ratings([0.0, 1.0]) == pytest.approx([900.0, 1000.0, 1100.0], abs=1e-6)
    even = truth.population_ratings()
    assert even == pytest.approx(even[::-1], abs=1e-6)  # symmetric world, equal mix: symmetric ratings


def test_a_fit_of_many_battles_recovers_the_truth() -> None:
    rating = np.array([1000.0, 1080.0, 920.0, 1200.0, 1010.0])
    truth = TrueRatings.from_ratings(rating, tie_param=0.5)
    battles = generate_battles(truth, 1_000_000, random_state=5)
    bt = BradleyTerry(ties="davidson").fit(**battles.table().fit_arrays())
    est = np.array([bt.result_.as_dict()[m] for m in truth.models])
    se = np.array([bt.result_.se[bt.models_.index(m)] for m in truth.models])  # type: ignore[index]
    assert np.all(np.abs(est - (rating - rating.mean() + 1000)) < 4.5 * se)
    assert bt.tie_param_ == pytest.approx(0.5, rel=0.03)


def test_inverse_propensity_weights_remove_outcome_dependent_sampling_bias() -> None:
    # model 0 is strong on category 0 and weak on category 1, and is sampled 6x more on category 0
    truth = TrueRatings.from_ratings([[1150.0, 850.0], [1000.0, 1000.0], [1000.0, 1000.0], [1000.0, 1000.0]])
    rate = np.ones((4, 2))
    rate[0, 0] = 6.0
    battles = generate_battles(truth, 300_000, sampling_rate=rate, random_state=2)
    target = truth.population_ratings()
    naive = BradleyTerry().fit(battles.model_a, battles.model_b, battles.outcome)
    ipw = BradleyTerry().fit(battles.model_a, battles.model_b, battles.outcome, sampling_prob=battles.sampling_prob)
    naive_0 = naive.result_.as_dict()["0"]
    ipw_0 = ipw.result_.as_dict()["0"]
    ipw_se = float(ipw.result_.se[ipw.models_.index("0")])  # type: ignore[index]
    assert abs(ipw_0 - target[0]) < 4 * ipw_se
    # 63% of model 0's battles are on its strong category (not 50%): about +28 Elo for the naive fit
    assert naive_0 - target[0] > 20


def test_table_and_shares() -> None:
    truth = TrueRatings.from_ratings([1000.0, 1100.0, 900.0], providers=["x", "x", "y"], tie_param=0.5)
    battles = generate_battles(truth, 30_000, sampling_rate=[1.0, 1.0, 4.0], random_state=1)
    table = battles.table()
    assert isinstance(table, BattleTable) and len(table) == 30_000
    assert set(table.outcome.tolist()) == {"a", "b", "tie"}
    assert table.models == ["m00", "m01", "m02"]
    assert np.array_equal(table.column("provider_b") == "y", battles.model_b == 2)
    shares = {s.provider: s for s in provider_shares(battles)}
    # P(model i in a battle) = r_i (S − r_i) / Z with S = 6, Z = 1 + 4 + 4 = 9; a provider's share is half its sum
    expected_y = 4 * 2 / 9 / 2
    assert _within(shares["y"].share, expected_y, 30_000)
    assert shares["y"].fair_share == pytest.approx(1 / 3) and shares["x"].n_models == 2
    assert shares["y"].ratio == pytest.approx(shares["y"].share * 3)
    both = SimulatedBattles.concat([battles.take(np.arange(10)), battles.take(np.arange(10, 30))])
    assert np.array_equal(both.outcome, battles.outcome[:30])


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda t: TrueRatings.from_ratings([1000.0]), "at least 2 models"),
        (lambda t: TrueRatings.from_ratings([1000.0, np.nan]), "finite"),
        (lambda t: TrueRatings.from_ratings([1000.0, 900.0], tie_param=-1), "ν"),
        (lambda t: TrueRatings.from_ratings([1000.0, 900.0], models=["a", "a"]), "distinct"),
        (lambda t: TrueRatings.from_ratings([1000.0, 900.0], providers=["a"]), "providers"),
        (lambda t: generate_battles(t, -1), "non-negative"),
        (lambda t: generate_battles(t, 10, mix=[0.5, 0.5]), "1 values"),
        (lambda t: generate_battles(t, 10, sampling_rate=[1.0, -1.0, 1.0]), "non-negative"),
        (lambda t: generate_battles(t, 10, sampling_rate=[1.0, 0.0, 0.0]), "fewer than two models"),
        (lambda t: generate_battles(t, 10, sampling_rate=np.ones((3, 2))), "shape"),
        (lambda t: play_battles(t, [0, 1], [0, 2]), "itself"),
        (lambda t: play_battles(t, [0, 5], [1, 2]), "indices"),
        (lambda t: play_battles(t, [0], [1], category=1), "category"),
        (lambda t: t.population_ratings(models=[1]), "two models"),
    ],
)
def test_bad_input_is_a_specific_error(call: object, match: str) -> None:
    truth = TrueRatings.from_ratings([1000.0, 1100.0, 900.0])
    with pytest.raises(SimulationInputError, match=match) as info:
        call(truth)  # type: ignore[operator]
    assert isinstance(info.value, InvalidInputError) and info.value.code == "arena.simulate.invalid"
