"""Bad input gets specific errors; the CLI sub-app works with --json and writes plots; docs cover it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from trustplane.core.errors import InvalidInputError
from trustplane.markets.performative import (
    PerformativeInputError,
    check_params,
    path,
    prm_one_period,
    slow_params,
)
from trustplane.markets.performative._cli import app

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ((-0.1, 0.2, 0.0), "below 0.*θ=0, p=0"),
        ((0.3, -0.4, 0.0), "below 0.*θ=1"),
        ((0.6, 0.3, 0.2), "above 1.*θ=1, p=1"),
        ((0.5, 0.0, -0.6), "below 0.*p=1"),
        ((float("nan"), 0.1, 0.0), "finite"),
    ],
)
def test_parameters_outside_unit_interval(params: tuple[float, float, float], match: str) -> None:
    with pytest.raises(PerformativeInputError, match=match) as info:
        check_params(*params)
    assert isinstance(info.value, InvalidInputError) and info.value.code == "markets.invalid_parameters"


def test_b_at_least_half_explained() -> None:
    with pytest.raises(PerformativeInputError, match=r"needs b < 1/2.*concave") as info:
        prm_one_period(0.2, 0.5)
    assert info.value.hint and "PR(0)" in info.value.hint
    with pytest.raises(PerformativeInputError, match=r"b' = b/\(1 − c\) < 1/2"):
        path("prm", 0.1, 0.3, 0.4, regime="slow")


def test_other_bad_input() -> None:
    with pytest.raises(PerformativeInputError, match="0 < η ≤ 1/2"):
        path("rgd", 0.2, 0.2, 0.2, eta=0.7)
    with pytest.raises(PerformativeInputError, match=r"\|c\| < 1"):
        slow_params(0.0, 0.0, 1.0)
    with pytest.raises(PerformativeInputError, match="p0"):
        path("rrm", 0.2, 0.2, 0.2, p0=1.5)
    with pytest.raises(PerformativeInputError, match="unknown method"):
        path("xyz", 0.2, 0.2, 0.2)  # type: ignore[arg-type]


def _root() -> typer.Typer:
    root = typer.Typer()
    markets = typer.Typer()
    root.add_typer(markets, name="markets")
    markets.add_typer(app, name="prm")
    return root


@pytest.mark.parametrize(
    ("argv", "key", "png"),
    [
        (["path", "--horizon", "20"], "paths", "prm-paths-rapid.png"),
        (["path", "--regime", "slow", "--c", "0.2"], "paths", "prm-paths-slow.png"),
        (["impact", "--grid", "9"], "impact", "prm-amplification.png"),
        (["simulate", "--runs", "200", "--periods", "60"], "monte_carlo", "prm-simulate-theta_po.png"),
    ],
)
def test_cli_json_and_plots(tmp_path: Path, argv: list[str], key: str, png: str) -> None:
    res = CliRunner().invoke(_root(), ["markets", "prm", *argv, "--json", "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert key in data
    assert (tmp_path / png).exists() and (tmp_path / png).with_suffix(".html").exists()
    human = CliRunner().invoke(_root(), ["markets", "prm", *argv, "--out", str(tmp_path)])
    assert human.exit_code == 0 and "plot:" in human.stdout


def test_cli_bad_input_raises_domain_error(tmp_path: Path) -> None:
    res = CliRunner().invoke(_root(), ["markets", "prm", "path", "--a", "0.9", "--b", "0.3", "--out", str(tmp_path)])
    assert isinstance(res.exception, PerformativeInputError)


def test_every_command_documented_with_help_and_json() -> None:
    doc = (ROOT / "docs" / "markets-performative.md").read_text()
    group = typer.main.get_command(app)
    names = list(group.commands)  # type: ignore[attr-defined]
    assert set(names) == {"path", "impact", "simulate"}
    for name in names:
        cmd = group.commands[name]  # type: ignore[attr-defined]
        assert f"trustplane markets prm {name}" in doc
        assert cmd.help
        assert any("--json" in p.opts for p in cmd.params)
