"""Best-of-N selection effects: E[max of N normals], the inflation and the correction."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.arena import RatingsError, best_of_n_correction, best_of_n_inflation, expected_max_normal

# Known values of E[max of n standard normals] (tables of order statistics).
KNOWN = {1: 0.0, 2: 1 / np.sqrt(np.pi), 3: 1.5 / np.sqrt(np.pi), 5: 1.16296, 10: 1.53875, 100: 2.50759}


@pytest.mark.parametrize(("n", "value"), sorted(KNOWN.items()))
def test_expected_max_matches_tables(n: int, value: float) -> None:
    assert expected_max_normal(n) == pytest.approx(value, abs=2e-5)


def test_expected_max_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    draws = rng.standard_normal((200_000, 7)).max(axis=1)
    assert expected_max_normal(7) == pytest.approx(draws.mean(), abs=4 * draws.std() / np.sqrt(len(draws)))


@given(st.integers(1, 400))
@settings(max_examples=40, deadline=None)
def test_expected_max_increases_with_n(n: int) -> None:
    assert expected_max_normal(n + 1) > expected_max_normal(n) >= 0


def test_correction_removes_the_inflation_of_a_published_best() -> None:
    rng = np.random.default_rng(1)
    truth, se, n = 1200.0, 12.0, 8
    best = (truth + se * rng.standard_normal((50_000, n))).max(axis=1)
    assert best.mean() - truth == pytest.approx(float(best_of_n_inflation(se, n)), rel=0.02)
    corrected = best_of_n_correction(best, se, n)
    assert abs(corrected.mean() - truth) < 0.2
    assert best_of_n_correction([1000.0], [5.0], [1])[0] == 1000.0  # one variant: nothing to correct


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_bad_n_is_refused(bad: float) -> None:
    with pytest.raises(RatingsError):
        expected_max_normal(bad)  # type: ignore[arg-type]


def test_bad_se_is_refused() -> None:
    with pytest.raises(RatingsError):
        best_of_n_inflation([-1.0], [2])
    with pytest.raises(RatingsError):
        best_of_n_inflation([np.nan], [2])
