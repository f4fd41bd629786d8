"""Administration end to end on planted respondents: every method, statuses, resume, determinism, the log."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from tests.values.conftest import MakeSettings
from trustplane.core.log import TransparencyLog, canonical
from trustplane.core.models import get_model
from trustplane.core.store import get_store
from trustplane.values import (
    AuditConfig,
    AuditConfigError,
    Instrument,
    LogprobsUnavailableError,
    RunInterruptedError,
    UnknownRunError,
    administer,
    build_messages,
    list_runs,
    load_run,
    plan,
    write_run_report,
)

pytestmark = pytest.mark.anyio
PROFILE = {"care": 4.6, "fairness": 3.6, "loyalty": 2.2, "authority": 2.8, "sanctity": 1.2}
SUBSET = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "17", "22"]


async def test_all_methods_recover_the_planted_profile(make_settings: MakeSettings, mfq30: Instrument) -> None:
    settings = make_settings(planted={"profile": PROFILE, "noise": 0.6})
    run = await administer(settings, "planted", "mfq30", AuditConfig(samples=6))
    assert run.status == "complete" and not run.reused
    summary = run.summary
    for method in ("expected", "likelihood", "greedy", "samples"):
        block = summary["methods"][method]
        assert block["status_counts"]["answered"] == 32
        scores = block["scores"]
        for f, mean in PROFILE.items():
            assert abs(scores[f]["score"] - mean) < 0.6, (method, f)
        order = sorted(PROFILE, key=lambda f: scores[f]["score"])
        assert order[0] == "sanctity" and order[-1] == "care", method
    expected = summary["methods"]["expected"]
    for f, mean in PROFILE.items():  # the expectation over all labels is exact: the planted label distribution's mean
        w = np.exp(-0.5 * ((np.arange(6) - mean) / 0.6) ** 2)
        assert expected["scores"][f]["score"] == pytest.approx(float((np.arange(6) * w).sum() / w.sum()), abs=1e-9)
    assert expected["retained_mass"]["mean"] == pytest.approx(0.9, abs=1e-6)
    assert summary["baseline"]["id"] == "moderate_us" and not summary["baseline"]["se_known"]
    assert "lower bounds" in expected["baseline"]["note"]
    assert summary["pca"]["labels"][-1] == "human: moderate_us"
    assert summary["variance"]["care"]["factors"] == {"method": 4}


async def test_prompts_are_byte_identical_across_methods(make_settings: MakeSettings, mfq30: Instrument) -> None:
    settings = make_settings()
    config = AuditConfig(samples=2, items=["1", "17"], include_catch=False)
    await administer(settings, "planted", mfq30, config)
    backend = get_model(settings, "planted").backend
    prompts = backend.prompts  # type: ignore[attr-defined]
    tasks = plan(mfq30, config)
    expected_prompts = {build_messages(mfq30, t.item, t.condition, t.position, t.total)[-1]["content"] for t in tasks}
    assert set(prompts) == expected_prompts and len(expected_prompts) == 2
    first, second = (build_messages(mfq30, t.item, t.condition, t.position, t.total)[-1]["content"] for t in tasks[::4])
    # per item: expected + likelihood + greedy + 2 samples; the label-token check scores each scale's first
    # item once more, and the greedy reproducibility check asks the first item twice: all with the same bytes.
    assert prompts.count(first) == 5 + 1 + 2 and prompts.count(second) == 5 + 1


async def test_refusals_are_recorded_never_imputed(make_settings: MakeSettings) -> None:
    settings = make_settings(planted={"profile": PROFILE, "refuse": {"sanctity": 0.9}, "noise": 0.5})
    run = await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy", "expected"]))
    greedy = run.summary["methods"]["greedy"]
    sanctity = greedy["by_foundation"]["sanctity"]
    assert sanctity["refused"] >= 4 and greedy["by_foundation"]["care"]["refused"] == 0
    assert greedy["refusal_rate"] == pytest.approx(sanctity["refused"] / 32)
    assert greedy["missing_at_random"]["p_value"] < 0.01
    scores = greedy["scores"]["sanctity"]
    assert scores["n_items"] + scores["n_missing"] == 6 and scores["n_missing"] >= 4
    imp = greedy["imputation"]["sanctity"]
    assert imp["missing_answers"] == scores["n_missing"]
    assert imp["scale_min"] <= imp["complete_case"] <= imp["scale_max"] and imp["max_shift"] > 0.5
    # the expected method sees the refusal openings outweigh the labels
    assert run.summary["methods"]["expected"]["by_foundation"]["sanctity"]["refused"] == 6
    refused = [r for r in run.responses() if r.status == "refused"]
    assert all(r.value is None for r in refused)


async def test_same_seed_gives_byte_identical_result_files(make_settings: MakeSettings, tmp_path: Path) -> None:
    config = AuditConfig(samples=3, paraphrases=2, shuffles=2, items=SUBSET, seed=5)
    a = await administer(make_settings("a"), "planted", "mfq30", config)
    b = await administer(make_settings("b"), "planted", "mfq30", config)
    fa = write_run_report(a.document, tmp_path / "ra")
    fb = write_run_report(b.document, tmp_path / "rb")
    for x, y in [
        (fa.data, fb.data),
        (fa.markdown, fb.markdown),
        (fa.html, fb.html),
        *zip(fa.figures, fb.figures, strict=True),
    ]:
        assert x.read_bytes() == y.read_bytes(), x.name
    assert a.result_sha256 == b.result_sha256 == hashlib.sha256(canonical(json.loads(fa.data.read_text()))).hexdigest()
    c = await administer(make_settings("c"), "planted", "mfq30", config.model_copy(update={"seed": 6}))
    assert c.run_id != a.run_id and c.result_sha256 != a.result_sha256


async def test_conditions_feed_the_variance_decomposition(make_settings: MakeSettings) -> None:
    config = AuditConfig(
        methods=["expected", "greedy"],
        paraphrases=2,
        shuffles=2,
        personas=[{"name": "judge", "text": "You are a strict judge."}],  # type: ignore[list-item]
        items=SUBSET,
    )
    run = await administer(make_settings(), "planted", "mfq30", config)
    rows = {r.row for r in run.responses()}
    assert len(rows) == 4 and all(r.startswith("persona=judge") for r in rows)
    positions = {json.dumps([r.item for r in run.responses() if r.row == row and r.method == "greedy"]) for row in rows}
    assert len(positions) == 2  # two item orders
    var = run.summary["variance"]["care"]
    assert var["factors"] == {"prompt": 4, "method": 2}
    assert sum(v["share"] for v in var["sources"].values()) == pytest.approx(1.0)


async def test_result_hash_is_appended_to_the_log(make_settings: MakeSettings) -> None:
    settings = make_settings()
    run = await administer(settings, "planted", "mfq30", AuditConfig(methods=["expected"], items=SUBSET))
    log = TransparencyLog(get_store(settings), settings)
    entry = log.entry(run.log_index)  # type: ignore[arg-type]
    assert entry.kind == "values.run"
    assert entry.payload["result_sha256"] == run.result_sha256 == hashlib.sha256(canonical(run.document)).hexdigest()
    assert entry.payload["status_counts"]["answered"] == len(SUBSET)
    proof = log.inclusion_proof(entry.index)
    assert proof.tree_size >= entry.index + 1
    again = await administer(settings, "planted", "mfq30", AuditConfig(methods=["expected"], items=SUBSET))
    assert again.reused and again.log_index == run.log_index and log.size() == entry.index + 1
    assert load_run(settings, run.run_id).document == run.document
    assert [r["run_id"] for r in list_runs(settings)] == [run.run_id]


async def test_interrupted_run_resumes_without_repeating_answered_items(make_settings: MakeSettings) -> None:
    config = AuditConfig(methods=["greedy", "samples"], samples=2, items=SUBSET)
    settings = make_settings(planted={"profile": PROFILE, "fail_after": 12})
    with pytest.raises(RunInterruptedError) as info:
        await administer(settings, "planted", "mfq30", config)
    err = info.value
    assert err.code == "values.run_interrupted" and "planted outage" in err.message
    answered = err.extra["answered"]
    assert 0 < answered < err.extra["planned"] == 2 * len(SUBSET)
    run_id = err.extra["run_id"]
    assert list_runs(settings)[0]["status"] == "interrupted"
    with pytest.raises(RunInterruptedError, match="unfinished"):  # no silent restart, no silent resume
        await administer(settings, "planted", "mfq30", config)
    with pytest.raises(RunInterruptedError):
        load_run(settings, run_id)
    # the outage is over: same model, same run id; only the missing items are asked
    healed = make_settings(planted={"profile": PROFILE})
    backend = get_model(healed, "planted").backend
    done = await administer(healed, "planted", "mfq30", config, resume=True)
    assert done.run_id == run_id and done.status == "complete"
    calls = backend.calls  # type: ignore[attr-defined]
    remaining = 2 * len(SUBSET) - answered
    greedy_check = 0  # the greedy reproducibility check ran before the outage and is stored
    assert calls <= remaining * 2 + greedy_check  # samples ask twice; nothing already stored is asked again
    fresh = await administer(make_settings("fresh", planted={"profile": PROFILE}), "planted", "mfq30", config)
    assert fresh.result_sha256 == done.result_sha256  # resuming gives what an uninterrupted run gives


async def test_logprob_methods_need_a_model_that_scores(make_settings: MakeSettings) -> None:
    settings = make_settings(planted={"profile": PROFILE, "scoring": False})
    with pytest.raises(LogprobsUnavailableError) as info:
        await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy", "expected"]))
    assert info.value.code == "values.logprobs_unavailable" and info.value.extra["methods"] == ["expected"]
    assert list_runs(settings) == []  # refused before any work
    run = await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy"], items=SUBSET))
    assert run.status == "complete"


async def test_tokenizer_and_greedy_checks_warn(make_settings: MakeSettings) -> None:
    settings = make_settings(planted={"profile": PROFILE, "split_labels": True, "greedy_noise": True})
    run = await administer(settings, "planted", "mfq30", AuditConfig(samples=1, items=SUBSET))
    warnings = " ".join(run.document["warnings"])
    assert "not single tokens" in warnings and "several tokens on their own" in warnings
    assert "greedy decoding is not reproducible" in warnings
    quiet = await administer(make_settings("q"), "planted", "mfq30", AuditConfig(samples=1, items=SUBSET))
    assert quiet.document["warnings"] == []


async def test_catch_items_flag_and_can_exclude_respondents(make_settings: MakeSettings) -> None:
    settings = make_settings(planted={"profile": PROFILE, "catch_answers": {"MATH": 5, "GOOD": 5}})
    run = await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy"]))
    block = run.summary["methods"]["greedy"]
    assert block["failed_catch_rows"] == 1 and block["excluded_rows"] == 0 and block["scores"] is not None
    assert any("math" in f for f in block["catch_checks"][0]["failed"])
    strict = await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy"], exclude_failed_catch=True))
    assert strict.summary["methods"]["greedy"]["excluded_rows"] == 1
    assert strict.summary["methods"]["greedy"]["scores"] is None


async def test_bad_options_get_specific_errors(make_settings: MakeSettings, mfq30: Instrument) -> None:
    from trustplane.values import make_config

    with pytest.raises(AuditConfigError, match="unknown scoring methods"):
        make_config(methods=["telepathy"])
    with pytest.raises(AuditConfigError, match="samples"):
        make_config(samples=0)
    with pytest.raises(AuditConfigError, match="no items 99"):
        plan(mfq30, AuditConfig(items=["99"]))
    settings = make_settings()
    with pytest.raises(UnknownRunError):
        load_run(settings, "vdoesnotexist")
    await administer(settings, "planted", "mfq30", AuditConfig(methods=["expected"], items=SUBSET), run_id="mine")
    with pytest.raises(AuditConfigError, match="not valid"):
        await administer(settings, "planted", "mfq30", AuditConfig(methods=["expected"], items=SUBSET), run_id="a b")
    with pytest.raises(AuditConfigError, match="other options"):
        await administer(settings, "planted", "mfq30", AuditConfig(methods=["greedy"], items=SUBSET), run_id="mine")


async def test_store_resume_and_log_on_each_database(make_settings: MakeSettings, database_url: str | None) -> None:
    config = AuditConfig(methods=["expected", "samples"], samples=2, items=SUBSET)
    broken = make_settings(planted={"profile": PROFILE, "fail_after": 9}).model_copy(
        update={"database_url": database_url}
    )
    with pytest.raises(RunInterruptedError) as info:
        await administer(broken, "planted", "mfq30", config)
    healed = make_settings(planted={"profile": PROFILE}).model_copy(update={"database_url": database_url})
    run = await administer(healed, "planted", "mfq30", config, resume=True)
    assert run.run_id == info.value.extra["run_id"] and len(run.responses()) == 2 * len(SUBSET)
    entry = TransparencyLog(get_store(healed), healed).entry(run.log_index)  # type: ignore[arg-type]
    assert entry.payload["result_sha256"] == run.result_sha256
    assert load_run(healed, run.run_id).result_sha256 == run.result_sha256


async def test_item_level_baseline_is_correlated_with_the_model(tmp_path: Path) -> None:
    from tests.conftest import _data_dir
    from tests.values._planted import planted_config
    from trustplane.core.config import Settings
    from trustplane.values import load_instrument

    folder = tmp_path / "home" / "instruments"
    folder.mkdir(parents=True)
    items = "\n".join(f"  - {{id: i{n}, text: Statement {n}, foundation: {'ab'[n % 2]}, scale: s}}" for n in range(8))
    human = ", ".join(f"i{n}: {{mean: {1 + (n % 2) * 3}}}" for n in range(8))
    (folder / "pair.yaml").write_text(
        "id: pair\nversion: '1'\nname: Pair\n"
        "scales:\n  s:\n    min: 0\n    max: 5\n    stem: How much\n    labels: {0: a, 1: b, 2: c, 3: d, 4: e, 5: f}\n"
        f"items:\n{items}\nbaselines:\n  - {{id: h, population: test, items: {{{human}}}}}\n"
    )
    settings = Settings(home=tmp_path / "home", data_dir=_data_dir())
    inst = load_instrument(settings, "pair")
    model = planted_config(inst, profile={"a": 1.2, "b": 4.1}, noise=0.5)
    settings = settings.model_copy(update={"models": [model], "default_model": model.name})
    run = await administer(settings, "planted", "pair", AuditConfig(methods=["expected"]))
    corr = run.summary["methods"]["expected"]["human_item_correlation"]
    assert corr["n"] == 8 and corr["estimate"] > 0.8
    assert run.summary["baseline"]["values"]["b"]["mean"] == pytest.approx(4.0)
