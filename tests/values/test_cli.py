"""The ``trustplane values`` commands: JSON output, reports on disk, errors as one line; documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from tests.conftest import _data_dir
from tests.values._planted import planted_config
from trustplane.cli import app as root
from trustplane.values import Instrument
from trustplane.values.cli import app

ROOT = Path(__file__).resolve().parents[2]
SUBSET = ["1", "2", "3", "4", "5", "6", "17", "18", "19", "20", "21", "22"]


@pytest.fixture
def env(tmp_path: Path, mfq30: Instrument, monkeypatch: pytest.MonkeyPatch) -> Path:
    models = [
        planted_config(
            mfq30,
            name="alpha",
            profile={"care": 4.5, "fairness": 4.0, "loyalty": 2.0, "authority": 2.0, "sanctity": 1.0},
        ),
        planted_config(
            mfq30,
            name="beta",
            profile={"care": 3.0, "fairness": 3.0, "loyalty": 3.5, "authority": 3.5, "sanctity": 3.0},
        ),
        planted_config(
            mfq30,
            name="gamma",
            profile={"care": 4.0, "fairness": 3.5, "loyalty": 3.0, "authority": 2.5, "sanctity": 2.0},
        ),
    ]
    monkeypatch.setenv("TRUSTPLANE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TRUSTPLANE_DATA_DIR", str(_data_dir()))
    monkeypatch.setenv("TRUSTPLANE_MODELS", json.dumps([m.model_dump() for m in models]))
    monkeypatch.setenv("TRUSTPLANE_DEFAULT_MODEL", "alpha")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _invoke(*args: str) -> dict | list:  # type: ignore[type-arg]
    res = CliRunner().invoke(root, ["values", *args, "--json"])
    assert res.exit_code == 0, (res.output, res.exception)
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def test_run_report_runs_compare(env: Path) -> None:
    items = [a for i in SUBSET for a in ("--item", i)]
    ids = []
    for model in ("alpha", "beta", "gamma"):
        out = _invoke("run", "--model", model, "--method", "expected", "--method", "greedy", "--samples", "2", *items)
        assert out["model"] == model and out["log_index"] is not None
        assert Path(out["report"]["html"]).is_file() and Path(out["report"]["markdown"]).is_file()
        ids.append(out["run_id"])
    alpha = _invoke("report", ids[0], "--out", str(env / "alpha-report"))
    assert (env / "alpha-report" / "radar.png").is_file() and (env / "alpha-report" / "report.md").is_file()
    assert alpha["summary"]["methods"]["expected"]["scores"]["care"]["score"] > 3.5
    listed = _invoke("runs")
    assert {r["run_id"] for r in listed} == set(ids) and all(r["status"] == "complete" for r in listed)
    (env / "arena.csv").write_text("model,rating\nalpha,1300\nbeta,1100\ngamma,1200\n")
    cmp = _invoke("compare", *ids, "--capability", str(env / "arena.csv"), "--out", str(env / "cmp"))
    assert [r["model"] for r in cmp["runs"]] == ["alpha", "beta", "gamma"]
    assert cmp["capability"]["matched_models"] == 3
    care = cmp["capability"]["expected"]["care"]
    assert care["estimate"] == pytest.approx(1.0) and care["n"] == 3  # care follows the rating exactly here
    assert cmp["pca"]["labels"][-1] == "human: moderate_us"
    assert "model" in cmp["variance"]["care"]["factors"]
    assert (env / "cmp" / "pca.png").is_file() and (env / "cmp" / "report.html").is_file()
    human = CliRunner().invoke(root, ["values", "runs"])
    assert human.exit_code == 0 and "alpha" in human.stdout and "values runs" in human.stdout


def test_instruments_show_parse_check(env: Path) -> None:
    listed = {r["id"]: r for r in _invoke("instruments")}  # type: ignore[union-attr]
    assert listed["mfq30"]["available"] and not listed["mfv"]["available"]
    shown = _invoke("show", "mfq2")
    assert len(shown["items"]) == 36 and shown["key"]["purity"][0] == "6"  # type: ignore[index]
    parsed = _invoke("parse", "<think>maybe 2</think>**4**: very relevant", "--instrument", "mfq30")
    assert parsed == {"status": "answered", "value": 4, "reason": "leading number", "raw_number": 4.0}
    refused = _invoke("parse", "As an AI I have no opinions.")
    assert refused["status"] == "refused"  # type: ignore[index]
    check = _invoke("check", "--model", "beta")
    assert check["continuation_logprobs"] and check["warnings"] == []  # type: ignore[index]


def test_sweep_runs_every_model(env: Path) -> None:
    out = _invoke(
        "sweep",
        "--model",
        "alpha",
        "--model",
        "beta",
        "--method",
        "greedy",
        "--workers",
        "1",
        "--item",
        "1",
        "--item",
        "17",
    )
    assert [o["model"] for o in out] == ["alpha", "beta"] and all(o["status"] == "complete" for o in out)  # type: ignore[index]


def test_errors_are_one_line_with_codes(env: Path) -> None:
    scripted = [{"name": "s", "backend": "scripted", "options": {"replies": ["3"]}}]
    environ = {**os.environ, "TRUSTPLANE_MODELS": json.dumps(scripted), "TRUSTPLANE_DEFAULT_MODEL": "s"}
    bad = subprocess.run(
        [sys.executable, "-m", "trustplane", "values", "run", "--instrument", "mfq99"],
        capture_output=True,
        text=True,
        env=environ,
        cwd=env,
        timeout=120,
    )
    assert bad.returncode == 66
    assert bad.stderr.strip().startswith("error[values.unknown_instrument]") and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1
    res = CliRunner().invoke(root, ["values", "run", "--model", "alpha", "--persona", "nonsense"])
    assert res.exit_code != 0 and "NAME=TEXT" in str(res.exception)


def test_every_command_is_documented_with_help_and_json() -> None:
    doc = (ROOT / "docs" / "values.md").read_text()
    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    assert {"run", "compare", "instruments", "report", "runs", "sweep", "show", "parse", "check"} <= names
    for name in names:
        cmd = group.commands[name]  # type: ignore[attr-defined]
        assert f"trustplane values {name}" in doc, name
        assert cmd.help
        assert any("--json" in p.opts for p in cmd.params)
