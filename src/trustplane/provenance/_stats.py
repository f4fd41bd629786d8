"""Statistics shared by the image and LLM tests: permutation p-values, ROC summaries, bootstrap intervals."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from trustplane.provenance._errors import TooFewSamplesError

DEFAULT_PERMUTATIONS = 1999


def n_permutations(alpha: float, requested: int | None = None) -> int:
    """Monte Carlo permutations: enough that the smallest p-value, 1/(B+1), is at most alpha/20."""
    floor = math.ceil(20.0 / alpha) - 1
    return max(requested or DEFAULT_PERMUTATIONS, floor)


def calibration_needed(alpha: float, n: int) -> int:
    """Smallest calibration size m with C(m+n, n) >= 1/alpha, so a p-value <= alpha is attainable."""
    m = 1
    while math.comb(m + n, n) < 1.0 / alpha:  # int < float compares exactly, whatever the size
        m += 1
    return m


def check_attainable(alpha: float, m: int, n: int) -> None:
    """Raise :class:`TooFewSamplesError` when no p-value <= alpha can come out of m calibration and n test samples."""
    if not 0.0 < alpha < 1.0:
        from trustplane.provenance._errors import ProvenanceInputError

        raise ProvenanceInputError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    if math.comb(m + n, n) < 1.0 / alpha:
        needed = calibration_needed(alpha, n)
        raise TooFewSamplesError(
            f"{m} calibration samples and {n} test sample(s) cannot reach a p-value of {alpha:g}: "
            f"the smallest attainable is 1/C({m + n},{n}) = {1 / math.comb(m + n, n):.3g}",
            hint=f"needs at least {needed} calibration samples at n={n} (re-certify with more), "
            "or submit more images, or ask for a larger error rate",
            needed=needed,
            have=m,
            n=n,
            alpha=alpha,
        )


def permutation_pvalues(
    pooled: np.ndarray,
    n_test: int,
    statistics: list[Callable[[np.ndarray], np.ndarray]],
    *,
    permutations: int,
    random_state: int,
) -> tuple[list[float], int]:
    """One-sided p-values of several statistics of the last ``n_test`` rows of ``pooled`` against random subsets.

    Each statistic maps an index array of shape (B, n_test) into ``pooled`` to B values (larger means
    less like the calibration). With one test row and no more calibration rows than ``permutations``,
    every subset is enumerated and the p-value is the exact conformal one, (1 + #{s_i >= s}) / (m + 1);
    otherwise ``permutations`` random subsets give the Monte Carlo p-value (1 + #{T_b >= T}) / (B + 1).
    Both are valid (type-I error at most alpha) when the rows are exchangeable under the null.
    Returns the p-values and the number of subsets compared.
    """
    total = pooled.shape[0]
    m = total - n_test
    observed = np.arange(m, total)[None, :]
    obs = [float(s(observed)[0]) for s in statistics]
    if n_test == 1 and m <= permutations:
        idx = np.arange(m)[:, None]
        exceed = [int(np.sum(s(idx) >= o - 1e-12 * max(1.0, abs(o)))) for s, o in zip(statistics, obs, strict=True)]
        return [(1 + e) / (m + 1) for e in exceed], m
    rng = np.random.default_rng(random_state)
    exceed = [0] * len(statistics)
    done = 0
    chunk = max(1, min(permutations, 2_000_000 // max(1, n_test * max(1, pooled.shape[1] if pooled.ndim > 1 else 1))))
    while done < permutations:
        b = min(chunk, permutations - done)
        keys = rng.random((b, total))
        idx = (
            np.argpartition(keys, n_test - 1, axis=1)[:, :n_test]
            if n_test < total
            else np.tile(np.arange(total), (b, 1))
        )
        for j, (s, o) in enumerate(zip(statistics, obs, strict=True)):
            exceed[j] += int(np.sum(s(idx) >= o - 1e-12 * max(1.0, abs(o))))
        done += b
    return [(1 + e) / (permutations + 1) for e in exceed], permutations


def auroc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """Area under the ROC curve: P(positive score > negative score), ties counted half (Mann-Whitney)."""
    from scipy.stats import rankdata

    neg = np.asarray(negatives, dtype=np.float64).ravel()
    pos = np.asarray(positives, dtype=np.float64).ravel()
    ranks = rankdata(np.concatenate([neg, pos]))
    u = ranks[neg.size :].sum() - pos.size * (pos.size + 1) / 2
    return float(u / (neg.size * pos.size))


def fpr_at_tpr(certified: np.ndarray, substitute: np.ndarray, tpr: float = 0.95) -> float:
    """AuthPrint's metric: accept the fraction ``tpr`` of certified outputs; the fraction of substitutes accepted too.

    The threshold is the ``tpr`` quantile of certified scores (a score above it is rejected); the
    false-positive rate is the share of substitute scores at or below it (the substitute passes).
    """
    threshold = float(np.quantile(np.asarray(certified, dtype=np.float64), tpr, method="higher"))
    return float(np.mean(np.asarray(substitute, dtype=np.float64) <= threshold))


def bootstrap_ci(
    fn: Callable[[np.ndarray, np.ndarray], float],
    a: np.ndarray,
    b: np.ndarray,
    *,
    rounds: int = 500,
    level: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``fn(a, b)``, resampling both samples with replacement."""
    rng = np.random.default_rng(random_state)
    vals = np.empty(rounds)
    for r in range(rounds):
        vals[r] = fn(a[rng.integers(0, a.size, a.size)], b[rng.integers(0, b.size, b.size)])
    lo, hi = np.quantile(vals, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def group_means(scores: np.ndarray, n: int, groups: int, random_state: int) -> np.ndarray:
    """Means of ``groups`` random size-``n`` subsets of ``scores`` (each drawn without replacement)."""
    rng = np.random.default_rng(random_state)
    s = np.asarray(scores, dtype=np.float64)
    if n == 1:
        return s.copy()
    keys = rng.random((groups, s.size))
    idx = np.argpartition(keys, n - 1, axis=1)[:, :n]
    return np.asarray(s[idx].mean(axis=1))
