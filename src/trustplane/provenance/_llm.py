"""Is an LLM API serving the model it claims? Two tests against a local authentic copy.

- **Model Equality Testing** (:func:`mmd_test`): a two-sample test between the candidate's answers and
  the reference's, by the maximum mean discrepancy with a character Hamming kernel
  ``k(x, y) = 1[same prompt] * (1/L) * #{i < L : x_i = y_i}`` (strings padded to L characters) and a
  permutation p-value (labels shuffled within each prompt).
- **Rank-based uniformity** (:func:`rank_uniformity_test`): for each query the candidate's answer is
  ranked, by the reference's log-probability, among m answers the reference sampled itself with the
  same settings. Without substitution the candidate's answer is one more draw from the same
  distribution, so its rank (ties broken at random) is uniform on {0..m}; a Kolmogorov-Smirnov test
  on the jittered ranks checks that.

Both need only sampled text from the candidate; the rank test needs log-probabilities from the
reference only. :func:`run_llm_test` collects the samples through :mod:`trustplane.core.models` and
runs both tests, combining them by Bonferroni.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

from trustplane.core.errors import UpstreamUnavailableError
from trustplane.provenance._errors import CandidateUnreachableError, ProvenanceInputError, TooFewSamplesError

DEFAULT_PROMPTS: tuple[str, ...] = (
    "Write one sentence about the sea.",
    "Name three fruits and say which you like best.",
    "Give me a short tip for learning to cook.",
    "Describe a cat in a few words.",
    "What is a good name for a small bakery?",
    "Tell me a fun fact about space.",
    "Write the first line of a story about a lighthouse.",
    "How do I stay focused while studying?",
    "Suggest a weekend activity for a rainy day.",
    "Explain what a rainbow is to a child.",
    "Write a short motto for a football team.",
    "What should I pack for a day hike?",
    "Give me an idea for a birthday present.",
    "Describe the taste of lemon.",
    "Write a two-line poem about autumn.",
    "What makes a good friend?",
)


@dataclass(frozen=True)
class MMDResult:
    """Model Equality Testing outcome: the unbiased MMD^2 estimate and its permutation p-value."""

    statistic: float
    p_value: float
    permutations: int
    n_candidate: int
    n_reference: int
    length: int


@dataclass(frozen=True)
class RankResult:
    """Rank-based uniformity outcome: ranks of the candidate's answers among m reference samples each."""

    ranks: list[int]
    samples_per_query: int
    ks_statistic: float
    p_value: float
    mean_rank: float


@dataclass(frozen=True)
class LLMTestResult:
    """Both LLM provenance tests on one set of queries, combined by Bonferroni."""

    reference: str
    candidate: str
    n_queries: int
    samples_per_query: int
    temperature: float
    max_tokens: int
    alpha: float
    p_value: float
    decision: Literal["same", "substituted"]
    mmd: MMDResult
    rank: RankResult
    random_state: int
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _encode(texts: Sequence[str], length: int) -> np.ndarray:
    out = np.full((len(texts), length), -1, dtype=np.int32)
    for i, t in enumerate(texts):
        codes = np.frombuffer(t[:length].encode("utf-32-le"), dtype=np.uint32).astype(np.int32)
        out[i, : codes.size] = codes
    return out


def hamming_kernel_matrix(
    texts: Sequence[str], prompts: Sequence[int] | None = None, *, length: int = 200
) -> np.ndarray:
    """Gram matrix of the character Hamming kernel (fraction of equal characters among the first ``length``).

    Strings are padded to ``length`` with a pad symbol (equal to itself), so the kernel is positive
    definite. With ``prompts``, pairs answering different prompts get 0.
    """
    if length < 1:
        raise ProvenanceInputError(f"the kernel length must be positive, got {length}")
    codes = _encode(texts, length)
    n = codes.shape[0]
    gram = np.empty((n, n))
    step = max(1, 2_000_000 // max(1, n * length))
    for s in range(0, n, step):
        gram[s : s + step] = (codes[s : s + step, None, :] == codes[None, :, :]).mean(axis=2)
    if prompts is not None:
        p = np.asarray(prompts)
        gram *= p[:, None] == p[None, :]
    return gram


def _mmd2(gram: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Unbiased MMD^2 for each row of ``labels`` (B, N), 1 = candidate, 0 = reference."""
    x = labels.astype(np.float64)
    y = 1.0 - x
    nx = x.sum(axis=1)
    ny = y.sum(axis=1)
    d = np.diag(gram)
    kxx = (np.einsum("bi,ij,bj->b", x, gram, x) - x @ d) / (nx * (nx - 1))
    kyy = (np.einsum("bi,ij,bj->b", y, gram, y) - y @ d) / (ny * (ny - 1))
    kxy = np.einsum("bi,ij,bj->b", x, gram, y) / (nx * ny)
    return np.asarray(kxx + kyy - 2 * kxy)


def mmd_test(
    candidate: Sequence[str],
    reference: Sequence[str],
    *,
    candidate_prompts: Sequence[int] | None = None,
    reference_prompts: Sequence[int] | None = None,
    length: int = 200,
    permutations: int = 999,
    random_state: int = 0,
) -> MMDResult:
    """Two-sample MMD test with the character Hamming kernel; p-value by permutation (within prompts)."""
    if len(candidate) < 2 or len(reference) < 2:
        raise TooFewSamplesError(
            "the MMD test needs at least 2 answers on each side", hint="ask more queries", needed=2
        )
    if (candidate_prompts is None) != (reference_prompts is None):
        raise ProvenanceInputError("give prompt indices for both samples or for neither")
    texts = [*candidate, *reference]
    prompts = None
    if candidate_prompts is not None and reference_prompts is not None:
        if len(candidate_prompts) != len(candidate) or len(reference_prompts) != len(reference):
            raise ProvenanceInputError("one prompt index per answer is needed")
        prompts = np.asarray([*candidate_prompts, *reference_prompts])
    gram = hamming_kernel_matrix(texts, None if prompts is None else prompts.tolist(), length=length)
    n = len(texts)
    labels = np.zeros(n, dtype=bool)
    labels[: len(candidate)] = True
    observed = float(_mmd2(gram, labels[None, :])[0])
    rng = np.random.default_rng(random_state)
    strata = [np.arange(n)] if prompts is None else [np.flatnonzero(prompts == p) for p in np.unique(prompts)]
    perms = np.empty((permutations, n), dtype=bool)
    for b in range(permutations):
        row = labels.copy()
        for idx in strata:
            row[idx] = row[rng.permutation(idx)]
        perms[b] = row
    null = np.concatenate([_mmd2(gram, perms[s : s + 256]) for s in range(0, permutations, 256)])
    p = (1 + int(np.sum(null >= observed - 1e-12))) / (permutations + 1)
    return MMDResult(observed, p, permutations, len(candidate), len(reference), length)


def rank_uniformity_test(
    candidate_scores: Sequence[float],
    reference_scores: Sequence[Sequence[float]],
    *,
    random_state: int = 0,
) -> RankResult:
    """KS test that the candidate's scores rank uniformly among each query's reference scores.

    ``candidate_scores[i]`` is the reference model's log-probability of the candidate's answer to
    query i; ``reference_scores[i]`` those of m answers the reference sampled for the same query.
    """
    from scipy.stats import kstest

    cand = np.asarray(candidate_scores, dtype=np.float64)
    ref = np.asarray(reference_scores, dtype=np.float64)
    if ref.ndim != 2 or ref.shape[0] != cand.shape[0]:
        raise ProvenanceInputError("reference_scores must hold one row of m scores per candidate score")
    if cand.size < 2 or ref.shape[1] < 1:
        raise TooFewSamplesError("the rank test needs at least 2 queries and 1 reference sample per query", needed=2)
    rng = np.random.default_rng(random_state)
    less = (ref < cand[:, None]).sum(axis=1)
    ties = (ref == cand[:, None]).sum(axis=1)
    ranks = less + rng.integers(0, ties + 1)
    m = ref.shape[1]
    u = (ranks + rng.random(ranks.size)) / (m + 1)
    ks = kstest(u, "uniform")
    return RankResult(
        ranks=[int(r) for r in ranks],
        samples_per_query=m,
        ks_statistic=float(ks.statistic),
        p_value=float(ks.pvalue),
        mean_rank=float(np.mean(ranks) / m),
    )


# --- collecting samples through the model backends ------------------------------------------------------
@dataclass(frozen=True)
class LLMSamples:
    """Answers collected for the tests: per query, the prompt index, the candidate's answer and its score."""

    prompts: list[str]
    prompt_index: list[int]
    candidate: list[str]
    candidate_scores: list[float]
    reference: list[list[str]]
    reference_scores: list[list[float]]


def _seeds(random_state: int, stream: int, n: int) -> list[int]:
    children = np.random.SeedSequence([random_state, stream]).spawn(n)
    return [int(c.generate_state(1, dtype=np.uint32)[0] & 0x7FFFFFFF) for c in children]


def _fallback_text(text: str) -> str:
    # Continuations must be non-empty to be scored; an empty answer is scored as a single space.
    return text if text else " "


def _check_reference(reference: Any) -> None:
    if not reference.capabilities.continuation_logprobs:
        raise ProvenanceInputError(
            f"the reference model {reference.name!r} cannot score continuations",
            hint="use a local model (backend local) as the reference",
        )


async def reference_samples(
    reference: Any,
    *,
    n_queries: int,
    samples_per_query: int,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    temperature: float = 1.0,
    max_tokens: int = 24,
    random_state: int = 0,
    progress: Any = None,
) -> tuple[list[list[str]], list[list[float]]]:
    """m answers per query sampled from ``reference``, and their log-probabilities under it."""
    _check_reference(reference)
    if not prompts:
        raise ProvenanceInputError("no prompts given")
    seeds = _seeds(random_state, 2, n_queries * samples_per_query)
    texts: list[list[str]] = []
    scores: list[list[float]] = []
    for q in range(n_queries):
        messages = [{"role": "user", "content": prompts[q % len(prompts)]}]
        own = []
        for j in range(samples_per_query):
            reply = await reference.chat(
                messages, temperature=temperature, max_tokens=max_tokens, seed=seeds[q * samples_per_query + j]
            )
            own.append(reply.content)
        scored = await reference.score_continuations(messages, [_fallback_text(t) for t in own])
        texts.append(own)
        scores.append([s.logprob for s in scored])
        if progress is not None:
            progress()
    return texts, scores


async def candidate_samples(
    reference: Any,
    candidate: Any,
    *,
    n_queries: int,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    temperature: float = 1.0,
    max_tokens: int = 24,
    random_state: int = 0,
    candidate_label: str = "candidate",
    progress: Any = None,
) -> tuple[list[str], list[float]]:
    """One answer per query from ``candidate`` (seeds disjoint from the reference's), scored by ``reference``."""
    _check_reference(reference)
    if not prompts:
        raise ProvenanceInputError("no prompts given")
    seeds = _seeds(random_state, 1, n_queries)
    texts: list[str] = []
    scores: list[float] = []
    for q in range(n_queries):
        messages = [{"role": "user", "content": prompts[q % len(prompts)]}]
        try:
            answer = await candidate.chat(messages, temperature=temperature, max_tokens=max_tokens, seed=seeds[q])
        except UpstreamUnavailableError as exc:
            raise CandidateUnreachableError(
                f"the candidate {candidate_label} could not be reached: {exc.message}",
                hint="check the URL (an OpenAI-compatible server root or its /v1 prefix) and that it is running",
                candidate=candidate_label,
            ) from None
        scored = await reference.score_continuations(messages, [_fallback_text(answer.content)])
        texts.append(answer.content)
        scores.append(scored[0].logprob)
        if progress is not None:
            progress()
    return texts, scores


async def collect_samples(
    reference: Any,
    candidate: Any,
    *,
    n_queries: int,
    samples_per_query: int,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    temperature: float = 1.0,
    max_tokens: int = 24,
    random_state: int = 0,
    candidate_label: str = "candidate",
    progress: Any = None,
) -> LLMSamples:
    """Ask ``candidate`` one answer and ``reference`` m answers per query; score all with ``reference``.

    Both are :class:`trustplane.core.models.Model` objects (or anything with the same ``chat`` and
    ``score_continuations``). The candidate is asked first, so an unreachable one fails fast.
    """
    common: dict[str, Any] = {
        "n_queries": n_queries,
        "prompts": prompts,
        "temperature": temperature,
        "max_tokens": max_tokens,
    }
    cand_text, cand_scores = await candidate_samples(
        reference,
        candidate,
        **common,
        random_state=random_state,
        candidate_label=candidate_label,
    )
    ref_text, ref_scores = await reference_samples(
        reference,
        **common,
        samples_per_query=samples_per_query,
        random_state=random_state,
        progress=progress,
    )
    idx = [q % len(prompts) for q in range(n_queries)]
    return LLMSamples(list(prompts), idx, cand_text, cand_scores, ref_text, ref_scores)


def evaluate_samples(
    samples: LLMSamples,
    *,
    queries: Sequence[int] | None = None,
    samples_per_query: int | None = None,
    length: int = 200,
    permutations: int = 999,
    random_state: int = 0,
) -> tuple[MMDResult, RankResult]:
    """Run both tests on collected samples (optionally on a subset of the queries or fewer samples each)."""
    qs = list(range(len(samples.candidate))) if queries is None else list(queries)
    m = len(samples.reference[0]) if samples_per_query is None else samples_per_query
    cand = [samples.candidate[q] for q in qs]
    ref = [t for q in qs for t in samples.reference[q][:m]]
    mmd = mmd_test(
        cand,
        ref,
        candidate_prompts=[samples.prompt_index[q] for q in qs],
        reference_prompts=[samples.prompt_index[q] for q in qs for _ in range(m)],
        length=length,
        permutations=permutations,
        random_state=random_state,
    )
    rank = rank_uniformity_test(
        [samples.candidate_scores[q] for q in qs],
        [samples.reference_scores[q][:m] for q in qs],
        random_state=random_state,
    )
    return mmd, rank


async def run_llm_test(
    reference: Any,
    candidate: Any,
    *,
    n_queries: int = 50,
    samples_per_query: int = 10,
    prompts: Sequence[str] = DEFAULT_PROMPTS,
    temperature: float = 1.0,
    max_tokens: int = 24,
    alpha: float = 0.05,
    length: int = 200,
    permutations: int = 999,
    random_state: int = 0,
    candidate_label: str | None = None,
    progress: Any = None,
) -> LLMTestResult:
    """Collect samples from both models and run both tests; ``substituted`` when the combined p <= alpha."""
    if not 0 < alpha < 1:
        raise ProvenanceInputError(f"alpha must lie strictly between 0 and 1, got {alpha}")
    if n_queries < 2 or samples_per_query < 1:
        raise TooFewSamplesError(
            "the LLM tests need at least 2 queries and 1 reference sample per query",
            hint="raise --queries and --samples",
            needed=2,
        )
    # The combined p-value is 2 * min(p_mmd, p_rank); the rank test's smallest p is about that of a KS
    # statistic of 1, and the permutation p-value's is 1/(B+1): both must be able to go below alpha/2.
    if 1.0 / (permutations + 1) > alpha / 2:
        raise TooFewSamplesError(
            f"{permutations} permutations cannot give a p-value below {alpha / 2:g}",
            needed=int(np.ceil(2 / alpha)),
            hint=f"use at least {int(np.ceil(2 / alpha))} permutations",
        )
    label = str(candidate_label or getattr(candidate, "name", "candidate"))
    start = time.perf_counter()
    samples = await collect_samples(
        reference,
        candidate,
        n_queries=n_queries,
        samples_per_query=samples_per_query,
        prompts=prompts,
        temperature=temperature,
        max_tokens=max_tokens,
        random_state=random_state,
        candidate_label=label,
        progress=progress,
    )
    mmd, rank = evaluate_samples(samples, length=length, permutations=permutations, random_state=random_state)
    p = min(1.0, 2 * min(mmd.p_value, rank.p_value))
    return LLMTestResult(
        reference=getattr(reference, "name", "reference"),
        candidate=label,
        n_queries=n_queries,
        samples_per_query=samples_per_query,
        temperature=temperature,
        max_tokens=max_tokens,
        alpha=alpha,
        p_value=p,
        decision="substituted" if p <= alpha else "same",
        mmd=mmd,
        rank=rank,
        random_state=random_state,
        elapsed_s=time.perf_counter() - start,
    )
