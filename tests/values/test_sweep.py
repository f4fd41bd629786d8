"""Sweeps over several models through core.jobs: in process, and on a process pool (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import _data_dir
from trustplane.core.config import ModelConfig, Settings
from trustplane.values import AuditConfig, list_runs, load_run, run_sweep

CONFIG = AuditConfig(methods=["greedy", "samples"], samples=2, items=["1", "2", "17", "18"])


def _settings(tmp_path: Path) -> Settings:
    models = [
        ModelConfig(name="low", backend="scripted", options={"replies": ["1"]}),
        ModelConfig(name="high", backend="scripted", options={"replies": ["**5**"]}),
        ModelConfig(name="down", backend="scripted", options={"replies": ["3"], "fail_with": "unavailable"}),
    ]
    return Settings(home=tmp_path / "home", data_dir=_data_dir(), models=models, default_model="low")


def test_sweep_in_process_isolates_failures(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    outcomes = run_sweep(settings, ["low", "down", "high"], "mfq30", CONFIG, workers=1, progress=False)
    assert [o.model for o in outcomes] == ["low", "down", "high"]
    low, down, high = outcomes
    assert low.status == high.status == "complete" and low.log_index is not None
    assert down.status == "failed" and down.error is not None and "values.run_interrupted" in down.error
    assert load_run(settings, low.run_id).summary["methods"]["greedy"]["scores"]["care"]["score"] == 1.0  # type: ignore[arg-type]
    assert load_run(settings, high.run_id).summary["methods"]["samples"]["scores"]["care"]["score"] == 5.0  # type: ignore[arg-type]
    assert {r["status"] for r in list_runs(settings)} == {"complete", "interrupted"}


@pytest.mark.slow
def test_sweep_on_a_process_pool_gives_the_same_results(tmp_path: Path) -> None:
    serial = run_sweep(_settings(tmp_path / "a"), ["low", "high"], "mfq30", CONFIG, workers=1, progress=False)
    pooled = run_sweep(_settings(tmp_path / "b"), ["low", "high"], "mfq30", CONFIG, workers=2, progress=False)
    assert [o.result_sha256 for o in pooled] == [o.result_sha256 for o in serial]
    assert all(o.status == "complete" for o in pooled)
