"""Statistics validated on synthetic respondents with planted effects: intervals cover at their nominal rate.

Each coverage test simulates a few hundred respondents; the tolerance (±2.5 points around 95%) is about
4 binomial standard errors of the pooled rate, so a biased or too-narrow interval fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.values import (
    AuditConfigError,
    FoundationPCA,
    FoundationScorer,
    InsufficientDataError,
    VarianceDecomposition,
    compare_to_baseline,
    correlation,
    imputation_sensitivity,
    severity_adjust,
)
from trustplane.values._stats import refusal_independence

FOUNDATIONS = ["care", "fairness", "loyalty", "authority", "sanctity"]
LABELS = [f for f in FOUNDATIONS for _ in range(6)]
MU = np.array([3.4, 3.2, 2.3, 2.6, 1.9])
NOMINAL = 0.95
TOL = 0.025


def _respondent(rng: np.random.Generator, mu: np.ndarray, rows: int = 3, tau: float = 0.7) -> np.ndarray:
    """Item means drawn around the planted foundation means; answers around the item means."""
    items = np.repeat(mu, 6) + tau * rng.standard_normal(30)
    return items[None, :] + 0.4 * rng.standard_normal((rows, 30))


def test_foundation_intervals_cover_the_planted_means() -> None:
    rng = np.random.default_rng(11)
    hits = []
    for s in range(300):
        res = FoundationScorer(n_boot=1000, random_state=s).fit(_respondent(rng, MU), LABELS).result_
        hits.append([lo <= m <= hi for lo, hi, m in zip(res.ci_low, res.ci_high, MU, strict=True)])
    rate = float(np.mean(hits))
    assert abs(rate - NOMINAL) <= TOL, rate


def test_plain_percentile_intervals_undercover_which_is_why_they_are_not_the_default() -> None:
    rng = np.random.default_rng(12)
    hits = []
    for s in range(300):
        res = FoundationScorer(n_boot=1000, ci_method="percentile", random_state=s).fit(_respondent(rng, MU), LABELS)
        r = res.result_
        hits.append([lo <= m <= hi for lo, hi, m in zip(r.ci_low, r.ci_high, MU, strict=True)])
    assert float(np.mean(hits)) < NOMINAL - 0.03


def test_condition_intervals_cover_the_fixed_item_truth() -> None:
    rng = np.random.default_rng(13)
    items = np.repeat(MU, 6) + 0.7 * rng.standard_normal(30)
    truth = items.reshape(5, 6).mean(axis=1)
    hits = []
    for s in range(300):
        x = items[None, :] + 0.9 * rng.standard_normal((12, 30))
        r = FoundationScorer(n_boot=1000, unit="conditions", random_state=s).fit(x, LABELS).result_
        hits.append([lo <= t <= hi for lo, hi, t in zip(r.ci_low, r.ci_high, truth, strict=True)])
    rate = float(np.mean(hits))
    assert abs(rate - NOMINAL) <= TOL, rate


def test_baseline_error_intervals_carry_the_human_standard_error() -> None:
    rng = np.random.default_rng(14)
    human_true = np.array([3.0, 3.3, 2.8, 2.5, 2.4])
    se = np.array([0.25, 0.2, 0.3, 0.25, 0.2])
    hits, hits_model_only = [], []
    for s in range(300):
        scorer = FoundationScorer(n_boot=1000, random_state=s).fit(_respondent(rng, MU), LABELS)
        observed = human_true + se * rng.standard_normal(5)  # the published human means are estimates too
        means = dict(zip(FOUNDATIONS, observed, strict=True))
        comp = compare_to_baseline(scorer, means, dict(zip(FOUNDATIONS, se, strict=True)), random_state=s)
        blind = compare_to_baseline(scorer, means, dict.fromkeys(FOUNDATIONS), random_state=s)
        truth = MU - human_true
        hits.append([lo <= t <= hi for (lo, hi), t in zip(comp.error_ci, truth, strict=True)])
        hits_model_only.append([lo <= t <= hi for (lo, hi), t in zip(blind.error_ci, truth, strict=True)])
        assert comp.human_se_known and not blind.human_se_known and "lower bounds" in blind.note
    assert abs(float(np.mean(hits)) - NOMINAL) <= TOL
    assert float(np.mean(hits_model_only)) < NOMINAL - 0.05  # ignoring the human SE would overstate certainty


def test_severity_adjustment_removes_compression_and_keeps_content() -> None:
    rng = np.random.default_rng(15)
    human = np.array([3.4, 3.4, 2.7, 2.8, 2.1])
    compressed = 2.5 + 0.35 * (human - 2.5)  # a model that only squeezes the human profile toward mid-scale
    planted = compressed.copy()
    planted[2] += 0.4  # ... and one that also rates loyalty higher than its compression explains
    raw_hits, adj_hits, detect = [], [], []
    for s in range(200):
        fit = FoundationScorer(n_boot=1000, random_state=s).fit(_respondent(rng, compressed, tau=0.15), LABELS)
        comp = compare_to_baseline(fit, dict(zip(FOUNDATIONS, human, strict=True)), dict.fromkeys(FOUNDATIONS, 0.0))
        raw_hits.append(all(lo <= 0 <= hi for lo, hi in comp.error_ci))
        adj_hits.append([lo <= 0 <= hi for lo, hi in comp.adjusted_error_ci])
        assert comp.slope < 0.7  # the compression is measured, not read as moral content
        fit2 = FoundationScorer(n_boot=1000, random_state=s).fit(_respondent(rng, planted, tau=0.15), LABELS)
        comp2 = compare_to_baseline(fit2, dict(zip(FOUNDATIONS, human, strict=True)), dict.fromkeys(FOUNDATIONS, 0.0))
        detect.append(comp2.adjusted_error[2] == max(comp2.adjusted_error))
    assert np.mean(raw_hits) < 0.05  # raw errors call the compressed profile different from humans
    assert float(np.mean(adj_hits)) >= NOMINAL - TOL  # adjusted errors do not
    assert np.mean(detect) > 0.9  # the planted loyalty excess stands out after adjustment


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.5, 4.5), min_size=5, max_size=5).filter(lambda v: np.std(v) > 0.1),
    st.floats(0.1, 3.0),
    st.floats(-1.5, 1.5),
)
def test_severity_adjustment_is_zero_for_any_affine_squeeze(human: list[float], scale: float, shift: float) -> None:
    h = np.asarray(human)
    assert np.allclose(severity_adjust(shift + scale * h, h), 0.0, atol=1e-9)


def test_spearman_intervals_cover_the_planted_rank_correlation() -> None:
    rng = np.random.default_rng(16)
    rho = 0.6
    truth = 6 / math.pi * math.asin(rho / 2)  # Spearman's rho of a bivariate normal
    hits = []
    for _ in range(400):
        z = rng.multivariate_normal([0, 0], [[1, rho], [rho, 1]], size=30)
        r = correlation(z[:, 0], z[:, 1], confidence=NOMINAL)
        hits.append(r.ci[0] <= truth <= r.ci[1])
    assert abs(float(np.mean(hits)) - NOMINAL) <= 0.03


def test_capability_correlation_with_few_models_is_honest() -> None:
    r = correlation([1.0, 2.0, 3.0], [10.0, 30.0, 20.0])
    assert r.n == 3 and math.isnan(r.ci[0])  # too few models for an interval: none is invented
    r = correlation([1, 2, 3, 4, 5, 6, 7, 8], [2, 1, 4, 3, 6, 5, 8, 7])
    assert 0.8 < r.estimate < 1 and r.ci[0] < r.estimate < r.ci[1] and r.p_value < 0.05


def test_pca_recovers_a_planted_axis_with_humans_included() -> None:
    rng = np.random.default_rng(17)
    axis = np.array([1.0, 1.0, -1.0, -1.0, -1.0]) / math.sqrt(5)
    t = rng.normal(0, 1.0, size=12)
    rows = 2.5 + t[:, None] * axis[None, :] + 0.05 * rng.standard_normal((12, 5))
    labels = [f"model{i}" for i in range(11)] + ["human"]
    pca = FoundationPCA(2).fit(rows, labels, FOUNDATIONS)
    assert abs(float(pca.components_[0] @ axis)) > 0.99
    assert pca.explained_variance_ratio_[0] > 0.95
    assert pca.result_.components[0][0] > 0  # sign convention: largest loading positive
    again = FoundationPCA(2).fit(rows, labels, FOUNDATIONS).result_
    assert again == pca.result_
    with pytest.raises(InsufficientDataError):
        FoundationPCA().fit(rows[:1], labels[:1], FOUNDATIONS)


def test_variance_decomposition_recovers_planted_components() -> None:
    rng = np.random.default_rng(18)
    sd = {"model": 0.6, "prompt": 0.3, "method": 0.45, "residual": 0.15}
    est = []
    for _ in range(200):
        y = (
            sd["model"] * rng.standard_normal((8, 1, 1))
            + sd["prompt"] * rng.standard_normal((1, 6, 1))
            + sd["method"] * rng.standard_normal((1, 1, 4))
            + sd["residual"] * rng.standard_normal((8, 6, 4))
        )
        res = VarianceDecomposition().fit(y).result_
        est.append({s: c for s, c in zip(res.sources, res.component, strict=True)})
    for source in ("model", "prompt", "method"):
        mean = np.mean([e[source] for e in est])
        assert mean == pytest.approx(sd[source] ** 2, rel=0.25), source
    assert np.mean([e["residual"] for e in est]) == pytest.approx(sd["residual"] ** 2, rel=0.1)
    for pair in ("model × prompt", "model × method", "prompt × method"):
        assert np.mean([e[pair] for e in est]) < 0.01


def test_variance_decomposition_shares_sum_to_one_and_needs_complete_tables() -> None:
    y = np.random.default_rng(3).standard_normal((3, 4, 2))
    res = VarianceDecomposition().fit(y).result_
    assert sum(res.share) == pytest.approx(1.0)
    y[0, 0, 0] = np.nan
    with pytest.raises(InsufficientDataError):
        VarianceDecomposition().fit(y)
    with pytest.raises(AuditConfigError):
        VarianceDecomposition().fit(np.zeros((2, 2)))


def test_imputation_bounds_contain_the_truth_when_refusals_are_not_random() -> None:
    rng = np.random.default_rng(19)
    inside, shifted = [], []
    for _ in range(100):
        x = np.clip(np.round(_respondent(rng, MU, rows=4)), 0, 5)
        truth = x.reshape(4, 5, 6).mean(axis=(0, 2))
        refused = x >= 4  # high answers refused: missing not at random
        observed = np.where(refused & (rng.random(x.shape) < 0.8), np.nan, x)
        res = imputation_sensitivity(observed, LABELS, 0, 5)
        lo, hi = np.array(res.scores["scale_min"]), np.array(res.scores["scale_max"])
        cc = np.array(res.scores["complete_case"])
        inside.append(np.all((lo <= truth + 1e-12) & (truth <= hi + 1e-12)))
        shifted.append(np.mean(cc - truth))
    assert all(inside)
    assert np.mean(shifted) < -0.1  # leaving refusals out biases the scores down: hence the sensitivity table


def test_refusal_independence_detects_foundation_dependent_refusals() -> None:
    even = {f: {"answered": 50, "refused": 5} for f in FOUNDATIONS}
    skewed = {**even, "sanctity": {"answered": 20, "refused": 35}}
    assert refusal_independence(even)["p_value"] > 0.5
    assert refusal_independence(skewed)["p_value"] < 1e-6


def test_estimators_follow_the_sklearn_contract() -> None:
    x = _respondent(np.random.default_rng(4), MU)
    est = FoundationScorer(n_boot=500, random_state=7)
    assert est.n_boot == 500 and est.random_state == 7 and not hasattr(est, "result_")
    assert est.fit(x, LABELS) is est
    again = FoundationScorer(n_boot=500, random_state=7).fit(x, LABELS)
    assert again.result_ == est.result_  # same seed, same result
    other = FoundationScorer(n_boot=500, random_state=8).fit(x, LABELS)
    assert other.result_.ci_low != est.result_.ci_low
    with pytest.raises(AuditConfigError):
        FoundationScorer(unit="respondents").fit(x, LABELS)  # type: ignore[arg-type]
    with pytest.raises(AuditConfigError):
        FoundationScorer(confidence=1.5).fit(x, LABELS)


def test_missing_items_are_counted_not_imputed() -> None:
    x = _respondent(np.random.default_rng(5), MU)
    x[:, :6] = np.nan  # every care item unanswered
    x[:, 6] = np.nan
    res = FoundationScorer(n_boot=200, random_state=0).fit(x, LABELS).result_
    assert math.isnan(res.scores[0]) and res.n_items[0] == 0 and res.n_missing[0] == 6
    assert res.n_items[1] == 5 and res.n_missing[1] == 1
    assert res.scores[1] == pytest.approx(float(np.nanmean(x[:, 7:12])))
