"""``trustplane arena simulate``: every command with --json and plots, byte-identical reruns, errors, docs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from trustplane.arena.simulate import SimulationInputError
from trustplane.arena.simulate._cli import app

ROOT = Path(__file__).resolve().parents[3]

SMALL = {
    "best-of-n": [
        "--n",
        "1,2,5",
        "--repetitions",
        "4",
        "--votes",
        "100",
        "--fresh-votes",
        "100",
        "--public-battles",
        "2000",
    ],
    "sampling": ["--repetitions", "3", "--battles", "5000", "--providers", "3"],
    "deprecation": ["--repetitions", "3", "--battles-per-period", "2000"],
}


def _root() -> typer.Typer:
    root = typer.Typer()
    arena = typer.Typer()
    root.add_typer(arena, name="arena")
    arena.add_typer(app, name="simulate")
    return root


def _run(argv: list[str]) -> object:
    return CliRunner().invoke(_root(), ["arena", "simulate", *argv, "--workers", "1"])


@pytest.mark.parametrize("command", sorted(SMALL))
def test_commands_json_plots_and_files(tmp_path: Path, command: str) -> None:
    res = _run([command, *SMALL[command], "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    data = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert data["simulation"] == command.replace("-", "_") and data["random_state"] == 0
    assert data["illusions"] and {"without", "with_safeguard", "without_mc_se", "with_mc_se"} <= set(
        data["illusions"][0]
    )
    for suffix in (".png", ".html", ".json"):
        assert (tmp_path / f"arena-{command}{suffix}").exists()
    saved = json.loads((tmp_path / f"arena-{command}.json").read_text())
    assert saved == {k: v for k, v in data.items() if k != "files"}
    human = _run([command, *SMALL[command], "--out", str(tmp_path)])
    assert human.exit_code == 0 and "files:" in human.stdout  # type: ignore[attr-defined]


def test_same_seed_byte_identical_files(tmp_path: Path) -> None:
    for run in ("one", "two"):
        res = _run(["deprecation", *SMALL["deprecation"], "--seed", "5", "--json", "--out", str(tmp_path / run)])
        assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    for name in ("arena-deprecation.json", "arena-deprecation.png", "arena-deprecation.html"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_all_quick(tmp_path: Path) -> None:
    res = _run(["all", "--quick", "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    data = json.loads(res.stdout)  # type: ignore[attr-defined]
    assert data["quick"] is True and len(data["files"]) == 9
    assert len(data["illusions"]) == 4 + 4 + 2
    assert {"best_of_n", "sampling", "deprecation"} <= set(data)


def test_bad_input_is_a_domain_error(tmp_path: Path) -> None:
    res = _run(["best-of-n", "--n", "1,x", "--out", str(tmp_path)])
    assert isinstance(res.exception, SimulationInputError)  # type: ignore[attr-defined]
    res = _run(["deprecation", "--lifetime", "6", "--out", str(tmp_path)])
    assert isinstance(res.exception, SimulationInputError)  # type: ignore[attr-defined]


def test_every_command_documented_with_help_and_json() -> None:
    doc = (ROOT / "docs" / "arena-simulate.md").read_text()
    group = typer.main.get_command(app)
    names = set(group.commands)  # type: ignore[attr-defined]
    assert names == {"best-of-n", "sampling", "deprecation", "all"}
    for name in names:
        cmd = group.commands[name]  # type: ignore[attr-defined]
        assert f"trustplane arena simulate {name}" in doc
        assert cmd.help
        opts = {o for p in cmd.params for o in p.opts}
        assert {"--json", "--seed", "--out", "--workers"} <= opts
