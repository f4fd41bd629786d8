"""Permutation p-values are valid; ROC summaries agree with their definitions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.provenance import TooFewSamplesError, auroc, calibration_needed, fpr_at_tpr
from trustplane.provenance._stats import check_attainable, permutation_pvalues


def _mean_stat(x: np.ndarray):  # type: ignore[no-untyped-def]
    return lambda idx: x[idx].mean(axis=1)


@pytest.mark.parametrize("n", [1, 5, 40])
def test_type_one_error_is_controlled_under_exchangeability(n: int) -> None:
    rng = np.random.default_rng(n)
    alpha, trials, m = 0.1, 300, 200
    rejections = 0
    for t in range(trials):
        pooled = rng.standard_normal(m + n)
        (p,), _ = permutation_pvalues(pooled, n, [_mean_stat(pooled)], permutations=199, random_state=t)
        rejections += p <= alpha
    # Binomial(300, 0.1): mean 30, sd 5.2; a valid test stays below ~46 (3 sd) essentially always.
    assert rejections <= 46


def test_power_against_a_shift() -> None:
    rng = np.random.default_rng(1)
    pooled = np.concatenate([rng.standard_normal(300), rng.standard_normal(30) + 1.0])
    (p,), _ = permutation_pvalues(pooled, 30, [_mean_stat(pooled)], permutations=999, random_state=0)
    assert p <= 0.002


@given(scores=st.lists(st.floats(-5, 5), min_size=2, max_size=60), test=st.floats(-5, 5))
@settings(max_examples=50, deadline=None)
def test_single_sample_p_value_is_the_exact_conformal_one(scores: list[float], test: float) -> None:
    pooled = np.asarray([*scores, test])
    (p,), used = permutation_pvalues(pooled, 1, [_mean_stat(pooled)], permutations=999, random_state=0)
    m = len(scores)
    expected = (1 + sum(s >= test - 1e-12 * max(1.0, abs(test)) for s in scores)) / (m + 1)
    assert used == m
    assert p == pytest.approx(expected)


@given(alpha=st.floats(0.001, 0.5), n=st.integers(1, 5))
@settings(max_examples=50, deadline=None)
def test_calibration_needed_is_the_smallest_sufficient_size(alpha: float, n: int) -> None:
    m = calibration_needed(alpha, n)
    assert math.comb(m + n, n) * alpha >= 1
    assert m == 1 or math.comb(m - 1 + n, n) * alpha < 1
    check_attainable(alpha, m, n)
    if m > 1:
        with pytest.raises(TooFewSamplesError) as info:
            check_attainable(alpha, m - 1, n)
        assert info.value.extra["needed"] == m
        assert str(m) in (info.value.hint or "")


def test_large_batches_do_not_overflow() -> None:
    check_attainable(0.05, 2000, 1000)  # C(3000, 1000) has hundreds of digits
    assert calibration_needed(1e-6, 500) == 3  # C(503, 500) = 21 084 251 >= 10^6 > C(502, 500)


def test_auroc_and_fpr_on_known_cases() -> None:
    neg = np.array([0.0, 1.0, 2.0, 3.0])
    pos = np.array([2.0, 4.0, 5.0, 6.0])
    # pairs (pos > neg): 2>0,1 and tie with 2 (half): 2.5; 4,5,6 beat all four: 12 -> 14.5 / 16
    assert auroc(neg, pos) == pytest.approx(14.5 / 16)
    assert auroc(pos, neg) == pytest.approx(1.5 / 16)
    cert = np.arange(100, dtype=float)
    assert fpr_at_tpr(cert, cert + 1000) == 0.0
    assert fpr_at_tpr(cert, cert - 1000) == 1.0
    assert fpr_at_tpr(cert, cert) == pytest.approx(0.96)
