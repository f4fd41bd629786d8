"""Input validation, the grid solvers' agreement, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from trustplane.markets.hdg import (
    GridEquilibriumSolver,
    HeterogeneousDataGame,
    MarketInputError,
    SearchTooLargeError,
    n_multisets,
    random_game,
)
from trustplane.markets.hdg._cli import app

W, TH, COV = [0.5, 0.5], [[0.0, 0.0], [1.0, 0.0]], [np.eye(2), np.eye(2)]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"weights": [0.5, 0.6]}, "sum to 1"),
        ({"weights": [0.5, 0.5 + 1e-8]}, "sum to 1"),
        ({"covariances": [np.eye(2), [[1.0, 2.0], [2.0, 1.0]]]}, "positive-definite"),
        ({"covariances": [np.eye(2), [[1.0, 0.5], [0.0, 1.0]]]}, "symmetric"),
        ({"rule": "prop", "temperature": -1.0}, "temperature"),
        ({"thetas": [[0.0, 0.0]]}, "shapes do not match"),
        ({"covariances": [np.eye(3), np.eye(3)]}, "covariances must have shape"),
    ],
)
def test_bad_input(kwargs: dict[str, object], match: str) -> None:
    base: dict[str, object] = {"weights": W, "thetas": TH, "covariances": COV}
    base.update(kwargs)
    with pytest.raises(MarketInputError, match=match) as err:
        HeterogeneousDataGame(**base)  # type: ignore[arg-type]
    assert err.value.code == "markets.invalid_input"


def test_weights_within_tolerance_accepted() -> None:
    HeterogeneousDataGame([0.5, 0.5 + 1e-10], TH, COV)


def test_search_too_large() -> None:
    g = random_game(2, 2, 30, rule="prox", random_state=0)
    with pytest.raises(SearchTooLargeError) as err:
        GridEquilibriumSolver(resolution=20, max_seconds=1.0).solve(g)
    assert err.value.code == "markets.search_too_large"
    g5 = g.with_(n_providers=6)
    with pytest.raises(SearchTooLargeError, match="full search") as err2:
        GridEquilibriumSolver(resolution=20, method="full", max_seconds=0.5).solve(g5)
    assert "symmetric" in (err2.value.hint or "")


def test_symmetric_matches_full_enumeration() -> None:
    rng = np.random.default_rng(7)
    for i in range(20):
        rule = "prox" if i % 2 else "prop"
        g = random_game(
            2 + i % 2, 2, 2 + i % 3, rule=rule, temperature=0.3 if rule == "prop" else None, random_state=rng
        )
        r = 4 if g.n_sources == 2 else 2
        a = GridEquilibriumSolver(r).solve(g).result_
        b = GridEquilibriumSolver(r, method="full").solve(g).result_
        assert {tuple(c) for c in a.equilibria} == {tuple(c) for c in b.equilibria}
        assert a.n_profiles == n_multisets(g.n_providers, a.strategies.shape[0])


def test_every_best_response_on_the_curve_beats_random_points() -> None:
    rng = np.random.default_rng(8)
    for _ in range(20):
        g = random_game(2, 2, 3, rule="prop", temperature=0.5, random_state=rng)
        others = rng.normal(size=(2, 2))
        _, _, u = g.best_response(others, resolution=2000)
        pts = rng.normal(size=(5000, 2)) * 2
        assert g.deviation_utilities(pts, others).max() <= u + 1e-6


def test_cli_solve_sweep_plot(tmp_path: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["solve", "--providers", "3", "--resolution", "6", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["n_profiles"] == n_multisets(3, 7)
    res = runner.invoke(app, ["sweep", "--quick", "--out", str(tmp_path), "--json", "--seed", "3"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["seed"] == 3 and len(data["plots"]) == 2
    for p in data["plots"]:
        assert Path(p).exists() and Path(p).with_suffix(".html").exists()
    res = runner.invoke(app, ["plot", "--out", str(tmp_path), "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["solve", "--providers", "30", "--max-seconds", "0.01"])
    assert isinstance(res.exception, SearchTooLargeError)
    assert isinstance(app, typer.Typer)
