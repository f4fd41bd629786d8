"""``trustplane arena ...``: every command with --json, import all-or-nothing, fit, snapshot and reproduce."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from trustplane.arena import BattleTable
from trustplane.arena.io import write_battles
from trustplane.cli import app

runner = CliRunner()


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    models = [{"name": f"m{i}", "backend": "scripted", "options": {"replies": [f"reply number {i}"]}} for i in range(3)]
    values = {
        "TRUSTPLANE_HOME": str(tmp_path / "home"),
        "TRUSTPLANE_MODELS": json.dumps(models),
        "TRUSTPLANE_DEFAULT_MODEL": "m0",
    }
    for k in [k for k in os.environ if k.startswith("TRUSTPLANE_")]:
        monkeypatch.delenv(k, raising=False)
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    monkeypatch.chdir(tmp_path)
    return values


def run(*args: str) -> Any:
    result = runner.invoke(app, ["arena", *args, "--json"])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails(*args: str) -> BaseException:
    result = runner.invoke(app, ["arena", *args, "--json"])
    assert result.exit_code != 0
    assert result.exception is not None
    return result.exception


def _table(rows: list[tuple[str, str, str]], **columns: Any) -> BattleTable:
    return BattleTable.from_columns([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows], **columns)


ROWS = [
    ("a", "b", "a"),
    ("b", "c", "b"),
    ("c", "a", "tie"),
    ("a", "c", "a"),
    ("b", "a", "both_bad"),
    ("c", "b", "a"),
] * 3


def test_register_battle_vote_publish_deprecate(env: dict[str, str]) -> None:
    reg = run("register", "alpha", "--provider", "acme", "--model", "m0")
    assert reg["private"] is True and reg["registered_index"] >= 1
    run("register", "beta", "--provider", "bee", "--model", "m1", "--public")
    listed = run("variants")
    assert [v["name"] for v in listed] == ["alpha", "beta"]
    dist = run("sampling")
    assert dist["pairs"][0]["probability"] == 1.0
    battle = run("battle", "Tell me a joke", "--category", "humour")
    assert battle["status"] == "answered" and battle["reveal"] is None
    assert {battle["answer_a"], battle["answer_b"]} == {"reply number 0", "reply number 1"}
    reveal = run("vote", battle["battle_id"], "a")
    assert {reveal["variant_a"], reveal["variant_b"]} == {"alpha", "beta"} and reveal["sampling_prob"] == 1.0
    err = fails("vote", battle["battle_id"], "b")
    assert getattr(err, "code", None) == "arena.already_voted"
    pub = run("publish", "alpha")
    assert pub["published"] and pub["publication_reason"] == "requested"
    dep = run("deprecate", "beta", "--reason", "superseded", "--force")
    assert dep["deprecated"]


def test_import_is_all_or_nothing_then_fit_snapshot_reproduce(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "battles.csv"
    write_battles(_table(ROWS, sampling_prob=[1 / 3] * len(ROWS)), path)
    # unknown variants: refused, nothing written
    err = fails("import", str(path))
    assert getattr(err, "code", None) == "arena.unregistered_variant" and getattr(err, "extra", {})["row"] == 1
    assert run("variants") == []
    imported = run("import", str(path), "--register-missing", "--provider", "lab")
    assert imported["battles"] == len(ROWS) and sorted(imported["registered"]) == ["a", "b", "c"]
    # the same file again: its generated ids are new, but an explicit id clash is refused
    with_ids = tmp_path / "ids.csv"
    write_battles(_table(ROWS[:2], battle_id=["k1", "k2"]), with_ids)
    run("import", str(with_ids))
    err = fails("import", str(with_ids))
    assert getattr(err, "code", None) == "arena.invalid_input" and getattr(err, "extra", {})["row"] == 1

    fitted = run("fit")
    assert fitted["source"] == "log" and fitted["n_battles"] == len(ROWS) + 2
    assert fitted["ipw"] is False  # two battles came without a probability
    assert {r["model"] for r in fitted["ratings"]} == {"a", "b", "c"}
    assert all(r["lower"] < r["rating"] < r["upper"] for r in fitted["ratings"])
    from_file = run("fit", str(path), "--ci", "bootstrap", "--bootstrap", "20", "--seed", "3", "--ties", "davidson")
    assert from_file["ipw"] is True and from_file["params"]["ties"] == "davidson"

    board = run("leaderboard")
    assert {r["variant"] for r in board["rows"]} == {"a", "b", "c"}
    snap = run("snapshot", "--ci", "bootstrap", "--seed", "9", "--bootstrap", "30", "--out", str(tmp_path / "s.json"))
    assert (tmp_path / "s.json").read_bytes().decode().startswith("{")
    assert run("snapshots")[0]["index"] == snap["index"]
    rep = run("reproduce", str(snap["index"]), "--out", str(tmp_path / "r.json"))
    assert rep["matches"] is True and rep["sha256"] == snap["sha256"]
    assert (tmp_path / "r.json").read_bytes() == (tmp_path / "s.json").read_bytes()

    # offline, from an exported log
    log_file = tmp_path / "log.jsonl"
    runner.invoke(app, ["log", "export", str(log_file)])
    key = runner.invoke(app, ["log", "public-key"]).stdout.strip()
    offline = run("reproduce", str(snap["index"]), "--from", str(log_file), "--public-key", key)
    assert offline["matches"] and offline["source"] == "export"

    out = tmp_path / "export.jsonl"
    exported = run("export", str(out))
    assert exported["battles"] == len(ROWS) + 2
    from trustplane.arena.io import read_battles

    back = read_battles(out)
    assert back.outcome.tolist() == [r[2] for r in ROWS] + ["a", "b"]
    assert back.column("provider_a").tolist()[0] == "lab"  # type: ignore[union-attr]


def test_a_malformed_row_names_its_number_and_imports_nothing(env: dict[str, str], tmp_path: Path) -> None:
    run("register", "a", "--provider", "p", "--public")
    run("register", "b", "--provider", "p", "--public")
    bad = tmp_path / "bad.csv"
    bad.write_text('"model_a","model_b","outcome"\n"a","b","a"\n"a","b","a"\n"a","b","sideways"\n')
    err = fails("import", str(bad))
    assert "row 3" in str(err) or getattr(err, "extra", {}).get("row") == 3
    assert run("variants")[0]["name"] == "a"
    assert run("snapshot")["leaderboard"]["n_battles"] == 0


def test_fit_reports_the_components_of_a_disconnected_graph(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "split.jsonl"
    write_battles(_table([("a", "b", "a"), ("b", "a", "a"), ("c", "d", "a"), ("d", "c", "a")]), path)
    err = fails("fit", str(path))
    assert getattr(err, "code", None) == "arena.disconnected"
    assert "{a, b}" in str(err) and "{c, d}" in str(err)
    assert getattr(err, "extra", {})["components"] == [["a", "b"], ["c", "d"]]


def test_report_writes_plots_and_shares(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "b.jsonl"
    write_battles(_table(ROWS, provider_a=["x"] * len(ROWS), provider_b=["y"] * len(ROWS)), path)
    run("import", str(path), "--register-missing")
    rep = run("report", "--out", str(tmp_path / "rep"), "--period", "week")
    files = set(rep["files"])
    assert {
        "leaderboard.json",
        "shares.json",
        "arena-leaderboard.png",
        "arena-win-matrix.png",
        "arena-shares.html",
    } <= files
    for name in files:
        assert (tmp_path / "rep" / name).stat().st_size > 0
    assert sum(rep["total_battle_share"].values()) == pytest.approx(1.0)


def test_errors_are_one_line_with_an_exit_code(env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "trustplane", "arena", "vote", "nope", "a"],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
    )
    assert result.returncode == 66  # not found
    assert result.stderr.strip().startswith("error[arena.unknown_battle]")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
