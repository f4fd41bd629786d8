"""Unequal sampling: bias and rank gain when sampling follows the category, removed by IPW; the share report."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustplane.arena.simulate import SamplingResult, SamplingSetup, SimulationInputError, simulate_sampling


@pytest.fixture(scope="module")
def result() -> SamplingResult:
    return simulate_sampling(n_repetitions=30, n_battles=40_000, random_state=2)


def test_category_dependent_sampling_biases_the_naive_fit_and_ipw_removes_it(result: SamplingResult) -> None:
    naive, ipw = result.summary("category", "naive"), result.summary("category", "ipw")
    assert naive.favoured_bias > 15 and naive.favoured_bias > 10 * naive.favoured_bias_mc_se
    assert naive.other_bias < -5  # ratings are centred: the others pay for it
    assert naive.favoured_rank_gain > 0.5
    assert naive.coverage < 0.5
    assert abs(ipw.favoured_bias) <= 4 * ipw.favoured_bias_mc_se + 1.0
    assert abs(ipw.other_bias) <= 4 * ipw.other_bias_mc_se + 1.0
    assert abs(ipw.favoured_rank_gain) < 0.5
    assert abs(ipw.coverage - 0.95) <= 4 * ipw.coverage_mc_se + 0.02
    ill = result.illusions[0]
    assert ill.unit == "Elo" and ill.without == naive.favoured_bias and ill.with_safeguard == ipw.favoured_bias


def test_provider_level_sampling_narrows_intervals_without_bias(result: SamplingResult) -> None:
    naive = result.summary("provider", "naive")
    assert naive.favoured_ci_width < 0.7 * naive.other_ci_width
    assert abs(naive.favoured_bias) <= 4 * naive.favoured_bias_mc_se + 1.5
    assert abs(naive.coverage - 0.95) <= 4 * naive.coverage_mc_se + 0.03


def test_share_report_reveals_the_imbalance(result: SamplingResult) -> None:
    setup = result.setup
    fav = np.asarray(result.favoured)
    rate = setup.rates("provider")[:, 0]
    s, z = rate.sum(), (rate.sum() ** 2 - (rate**2).sum()) / 2
    model_share = rate * (s - rate) / z / 2  # P(model in a battle) / 2 appearances per battle
    for share in (x for x in result.shares if x.scenario == "provider"):
        members = np.array([p == share.provider for p in result.providers])
        assert share.share == pytest.approx(model_share[members].sum(), rel=0.02)
        assert share.favoured == bool(fav[members].any())
        assert (share.ratio > 1.5) == share.favoured
    for share in (x for x in result.shares if x.scenario == "category"):
        strong = int(share.provider[1:]) % setup.n_categories
        if share.favoured:
            assert share.category_ratio[strong] > 2.0  # revealed per category
            assert share.ratio < share.category_ratio[strong]  # diluted overall
        else:
            assert max(share.category_ratio) < 1.1


def test_world_and_determinism() -> None:
    setup = SamplingSetup(category_sd=0.0, specialty=120.0).validate()
    truth = setup.truth()
    fav = setup.favoured()
    assert fav.sum() == setup.n_favoured * setup.models_per_provider
    # a favoured model is +specialty on its strong category relative to its own average; the others are flat
    provider = np.repeat(np.arange(setup.n_providers), setup.models_per_provider)
    for i in range(truth.n_models):
        gap = truth.rating[i] - truth.rating[i].mean()
        if fav[i]:
            assert gap[provider[i] % setup.n_categories] == pytest.approx(120.0)
        else:
            assert gap == pytest.approx(np.zeros(setup.n_categories), abs=1e-9)
    kw = dict(n_repetitions=3, n_battles=5000, n_providers=3, random_state=9)
    one, two = simulate_sampling(**kw), simulate_sampling(**kw)  # type: ignore[arg-type]
    assert json.dumps(one.as_dict()) == json.dumps(two.as_dict())
    assert one.as_dict()["setup"]["world_seed"] == 9


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_favoured": 6}, "n_favoured"),
        ({"rate_ratio": 0.5}, "rate_ratio"),
        ({"n_categories": 1}, "n_categories"),
        ({"n_battles": 10}, "n_battles"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SimulationInputError, match=match):
        simulate_sampling(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(SimulationInputError, match="unknown scenario"):
        SamplingSetup().rates("nope")
