"""LLM provenance tests: the Hamming-kernel MMD and the rank test are valid and have power; plumbing and errors."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from trustplane.core.config import ModelConfig
from trustplane.core.models import Model
from trustplane.provenance import (
    CandidateUnreachableError,
    ProvenanceInputError,
    TooFewSamplesError,
    hamming_kernel_matrix,
    mmd_test,
    rank_uniformity_test,
    run_llm_test,
)

ALPHABET = "abcde"


def _texts(rng: np.random.Generator, n: int, probs: list[float], length: int = 12) -> list[str]:
    return ["".join(rng.choice(list(ALPHABET), size=length, p=probs)) for _ in range(n)]


@given(st.lists(st.text(ALPHABET, max_size=15), min_size=1, max_size=12))
@settings(max_examples=40, deadline=None)
def test_hamming_kernel_is_a_positive_semidefinite_similarity(texts: list[str]) -> None:
    gram = hamming_kernel_matrix(texts, length=15)
    assert np.allclose(gram, gram.T)
    assert np.allclose(np.diag(gram), 1.0)
    assert gram.min() >= 0 and gram.max() <= 1
    assert np.linalg.eigvalsh(gram).min() > -1e-9


def test_kernel_counts_equal_characters_and_separates_prompts() -> None:
    gram = hamming_kernel_matrix(["abcd", "abxd", "abcd"], [0, 0, 1], length=4)
    assert gram[0, 1] == pytest.approx(0.75)
    assert gram[0, 2] == 0.0  # different prompts


def test_mmd_type_one_error_and_power() -> None:
    rng = np.random.default_rng(0)
    same = [0.2] * 5
    rejections = sum(
        mmd_test(_texts(rng, 20, same), _texts(rng, 40, same), permutations=99, random_state=t).p_value <= 0.1
        for t in range(60)
    )
    assert rejections <= 14  # Binomial(60, 0.1): mean 6, sd 2.3
    shifted = [0.4, 0.15, 0.15, 0.15, 0.15]
    p = mmd_test(_texts(rng, 30, shifted), _texts(rng, 60, same), permutations=199).p_value
    assert p <= 0.01


def test_rank_test_type_one_error_and_power() -> None:
    rng = np.random.default_rng(1)
    rejections = 0
    for t in range(200):
        ref = rng.standard_normal((30, 10))
        cand = rng.standard_normal(30)
        rejections += rank_uniformity_test(cand, ref, random_state=t).p_value <= 0.1
    assert rejections <= 32  # Binomial(200, 0.1): mean 20, sd 4.2
    # a candidate that answers less likely text (e.g. a hotter temperature) ranks low
    result = rank_uniformity_test(rng.standard_normal(60) - 1.0, rng.standard_normal((60, 10)))
    assert result.p_value <= 0.01 and result.mean_rank < 0.4
    # ties are broken at random, so identical scores still give uniform ranks
    tied = rank_uniformity_test(np.zeros(200), np.zeros((200, 5)), random_state=3)
    assert tied.p_value > 0.01 and set(tied.ranks) == set(range(6))


def test_too_few_samples_and_bad_shapes() -> None:
    with pytest.raises(TooFewSamplesError):
        mmd_test(["a"], ["b", "c"])
    with pytest.raises(TooFewSamplesError):
        rank_uniformity_test([0.0], [[0.0]])
    with pytest.raises(ProvenanceInputError):
        rank_uniformity_test([0.0, 1.0], [[0.0]])


def _scripted(name: str, replies: list[str], **extra: object) -> Model:
    options = {"replies": replies, "continuation_logprobs": {}, **extra}
    return Model.from_config(ModelConfig(name=name, backend="scripted", options=options))


def test_run_llm_test_with_scripted_models() -> None:
    ref = _scripted("ref", ["the sea is blue", "waves roll in", "salt and wind"])
    same = asyncio.run(
        run_llm_test(
            ref,
            _scripted("cand", ["waves roll in", "salt and wind", "the sea is blue"]),
            n_queries=12,
            samples_per_query=3,
            permutations=199,
        )
    )
    other = asyncio.run(
        run_llm_test(
            ref,
            _scripted("cand2", ["BUY NOW cheap pills", "ZZZZ qqqq"]),
            n_queries=12,
            samples_per_query=3,
            permutations=199,
        )
    )
    assert other.decision == "substituted" and other.mmd.p_value < 0.01
    assert same.mmd.p_value > other.mmd.p_value
    assert same.as_dict()["rank"]["samples_per_query"] == 3


def test_unreachable_candidate_and_unfit_reference() -> None:
    ref = _scripted("ref", ["x"])
    down = Model.from_config(
        ModelConfig(name="down", backend="scripted", options={"replies": ["x"], "fail_with": "unavailable"})
    )
    with pytest.raises(CandidateUnreachableError) as info:
        asyncio.run(run_llm_test(ref, down, n_queries=4, samples_per_query=2))
    assert info.value.code == "provenance.candidate_unreachable" and info.value.exit_code == 69
    no_scores = Model.from_config(ModelConfig(name="plain", backend="scripted", options={"replies": ["x"]}))
    with pytest.raises(ProvenanceInputError):
        asyncio.run(run_llm_test(no_scores, ref, n_queries=4, samples_per_query=2))
    with pytest.raises(TooFewSamplesError):
        asyncio.run(run_llm_test(ref, ref, n_queries=4, samples_per_query=2, permutations=9))


def test_cli_reports_an_unreachable_url(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path))
    monkeypatch.setenv(
        "TRUSTPLANE_MODELS",
        json.dumps(
            [{"name": "ref", "backend": "scripted", "options": {"replies": ["a"], "continuation_logprobs": {}}}]
        ),
    )
    monkeypatch.setenv("TRUSTPLANE_DEFAULT_MODEL", "ref")
    from trustplane.cli import app

    res = CliRunner().invoke(
        app,
        [
            "provenance",
            "llm-test",
            "--reference",
            "ref",
            "--candidate",
            "http://127.0.0.1:9/v1",
            "--queries",
            "3",
            "--json",
        ],
    )
    assert isinstance(res.exception, CandidateUnreachableError), res.output
    assert "127.0.0.1:9" in res.exception.message
