"""Deprecation under a shifting prompt mix: flips without the safeguards, none with them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustplane.arena.simulate import (
    DeprecationResult,
    DeprecationSetup,
    SimulatedBattles,
    SimulationInputError,
    generate_battles,
    simulate_deprecation,
)
from trustplane.arena.simulate._deprecation import _stratified_weights


@pytest.fixture(scope="module")
def result() -> DeprecationResult:
    return simulate_deprecation(n_repetitions=30, battles_per_period=10_000, random_state=1)


def test_silent_deprecation_flips_ranks_and_the_safeguards_do_not(result: DeprecationResult) -> None:
    drop, safe = result.fit("drop"), result.fit("keep_stratify")
    assert drop.flips > 4 * drop.flips_mc_se and drop.flips > 0.5
    assert drop.significant_flips > 0.3 and drop.share_with_flips > 0.3
    assert safe.flips <= 0.05 and safe.significant_flips <= 0.05
    assert safe.rmse < drop.rmse / 2
    assert result.illusions[0].without == drop.flips and result.illusions[0].with_safeguard == safe.flips
    assert result.n_survivors + result.n_deprecated == result.setup.n_models


def test_stratification_is_what_removes_the_mix_shift(result: DeprecationResult) -> None:
    assert result.fit("keep").flips > 0.5  # keeping the battles alone does not undo the mix shift
    assert result.fit("stratify").flips <= 0.05
    assert result.fit("keep_stratify").rmse <= result.fit("stratify").rmse + result.fit("stratify").rmse_mc_se


def test_no_mix_shift_no_flips() -> None:
    res = simulate_deprecation(
        n_repetitions=10, battles_per_period=8000, mix_start=(1, 1, 1), mix_end=(1, 1, 1), random_state=4
    )
    assert res.fit("drop").flips <= 0.2


def test_stratified_weights_restore_the_reference_mix() -> None:
    setup = DeprecationSetup().validate()
    truth = setup.truth(np.random.default_rng(0))
    mixes = setup.mixes()
    battles = SimulatedBattles.concat(
        generate_battles(truth, 4000, mix=mixes[t], period=t, random_state=t) for t in range(setup.n_periods)
    )
    reference = np.array([0.5, 0.3, 0.2])
    w = _stratified_weights(battles, reference, setup.n_periods)
    for t in range(setup.n_periods):
        sel = battles.period == t
        by_cat = np.bincount(battles.category[sel], weights=w[sel], minlength=3)
        assert by_cat / by_cat.sum() == pytest.approx(reference)


def test_lifetimes_and_mixes() -> None:
    setup = DeprecationSetup().validate()
    entry, end = setup.lifetimes()
    assert (entry[: setup.n_legacy] == 0).all() and (end[: setup.n_legacy] == setup.n_periods).all()
    assert (end - entry <= setup.n_periods).all() and (entry < end).all()
    assert setup.mixes()[0] == pytest.approx([0.7, 0.2, 0.1]) and setup.mixes()[-1] == pytest.approx([0.1, 0.2, 0.7])
    assert setup.survivors().sum() == 8


def test_same_result_whatever_the_number_of_workers() -> None:
    kw = dict(n_repetitions=4, battles_per_period=1500, random_state=12)
    serial = simulate_deprecation(workers=1, **kw)  # type: ignore[arg-type]
    pooled = simulate_deprecation(workers=2, **kw)  # type: ignore[arg-type]
    assert json.dumps(serial.as_dict()) == json.dumps(pooled.as_dict())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lifetime": 6}, "no model is deprecated"),
        ({"n_legacy": 1, "n_models": 3, "lifetime": 1, "n_periods": 6}, "fewer than two"),
        ({"mix_start": (1.0, 0.0), "mix_end": (1.0,)}, "same number"),
        ({"mix_start": (1.0, 0.0), "mix_end": (1.0, 0.0)}, "positive share"),
        ({"battles_per_period": 10}, "battles_per_period"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SimulationInputError, match=match):
        simulate_deprecation(**kwargs)  # type: ignore[arg-type]
