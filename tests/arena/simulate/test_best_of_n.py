"""Best of N: the simulated inflation matches SE·E[max of N N(0,1)], and every safeguard removes it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from trustplane.arena.ratings import expected_max_normal
from trustplane.arena.simulate import BestOfNResult, SimulationInputError, plot_best_of_n, simulate_best_of_n


@pytest.fixture(scope="module")
def result() -> BestOfNResult:
    return simulate_best_of_n(
        n_values=(1, 2, 5, 20), n_repetitions=200, n_votes=400, fresh_votes=400, public_battles=10_000, random_state=7
    )


def _close(value: float, target: float, mc_se: float, slack: float = 0.5) -> bool:
    return abs(value - target) <= 4 * mc_se + slack


def test_inflation_matches_se_times_expected_max(result: BestOfNResult) -> None:
    assert result.variant_se == pytest.approx(result.independent_se, rel=0.02)  # the public models pin the scale
    for i, n in enumerate(result.n_values):
        expected = result.variant_se * expected_max_normal(n)
        assert result.theory[i] == pytest.approx(expected)
        assert _close(result.naive_mean[i], expected, result.naive_mc_se[i]), (n, result.naive_mean[i], expected)
    # the illusion is real: at N = 20 it is many Monte Carlo errors above 0
    assert result.naive_mean[-1] > 10 * result.naive_mc_se[-1] and result.naive_mean[-1] > 25


def test_safeguards_remove_the_inflation(result: BestOfNResult) -> None:
    for i, n in enumerate(result.n_values):
        assert _close(result.all_published_mean[i], 0.0, result.all_published_mc_se[i]), n
        assert _close(result.corrected_mean[i], 0.0, result.corrected_mc_se[i]), n
        assert _close(result.fresh_mean[i], 0.0, result.fresh_mc_se[i]), n
        # on all votes the score regresses by n/(n + k) = 1/2
        assert result.pooled_theory[i] == pytest.approx(result.theory[i] / 2)
        assert _close(result.pooled_mean[i], result.pooled_theory[i], result.pooled_mc_se[i]), n
    names = [i.safeguard for i in result.illusions]
    assert len(names) == 4 and all(i.name == "best-of-20 inflation" for i in result.illusions)
    for ill in result.illusions[:3]:
        assert ill.without == result.naive_mean[-1] and abs(ill.with_safeguard) <= 4 * ill.with_mc_se + 0.5


def test_more_votes_less_inflation() -> None:
    few = simulate_best_of_n(n_values=(10,), n_repetitions=30, n_votes=100, fresh_votes=100, public_battles=4000)
    many = simulate_best_of_n(n_values=(10,), n_repetitions=30, n_votes=1600, fresh_votes=100, public_battles=4000)
    assert many.variant_se == pytest.approx(few.variant_se / 4, rel=0.15)  # SE ∝ 1/√votes
    assert many.naive_mean[0] < few.naive_mean[0] / 2


def test_same_seed_same_bytes_and_plot(tmp_path) -> None:  # type: ignore[no-untyped-def]
    kw = dict(n_values=(1, 3), n_repetitions=6, n_votes=100, fresh_votes=100, public_battles=2000, random_state=3)
    one = simulate_best_of_n(**kw)  # type: ignore[arg-type]
    two = simulate_best_of_n(**kw)  # type: ignore[arg-type]
    other = simulate_best_of_n(**{**kw, "random_state": 4})  # type: ignore[arg-type]
    dump = lambda r: json.dumps(r.as_dict(), sort_keys=True)  # noqa: E731
    assert dump(one) == dump(two) != dump(other)
    data = one.as_dict()
    assert data["random_state"] == 3 and data["setup"]["n_votes"] == 100 and data["simulation"] == "best_of_n"
    a = plot_best_of_n(one, tmp_path / "a")
    b = plot_best_of_n(two, tmp_path / "b")
    assert a.png.read_bytes() == b.png.read_bytes() and a.html.read_text().startswith("<!doctype html>")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_values": ()}, "at least one N"),
        ({"n_values": (0, 2)}, "every N"),
        ({"n_values": (2, 2)}, "distinct"),
        ({"n_votes": 5}, "n_votes"),
        ({"n_repetitions": 1}, "n_repetitions"),
        ({"tie_param": -0.5}, "tie_param"),
        ({"public_battles": 10}, "public_battles"),
    ],
)
def test_bad_parameters(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(SimulationInputError, match=match):
        simulate_best_of_n(**kwargs)  # type: ignore[arg-type]


def test_nested_selection_is_monotone(result: BestOfNResult) -> None:
    # the best of the first N can only grow with N, repetition by repetition, so its mean must too
    assert np.all(np.diff(result.naive_mean) > 0)
