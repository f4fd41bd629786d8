"""``trustplane markets hdg``: solve, sweep and plot the heterogeneous data game."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer
from rich.table import Table

from trustplane.core.output import JsonOpt, console, emit
from trustplane.markets.hdg._certify import EpsilonCertifier
from trustplane.markets.hdg._errors import MarketInputError
from trustplane.markets.hdg._game import HeterogeneousDataGame, random_game
from trustplane.markets.hdg._grid import GridEquilibriumSolver
from trustplane.markets.hdg._sweep import plot_sweep, run_sweep

app = typer.Typer(help="The heterogeneous data game: equilibria, thresholds, reproduction plots.", no_args_is_help=True)
OutOpt = Annotated[Path, typer.Option("--out", help="Directory for PNG and HTML plots.")]
_out = console


def _emit(as_json: bool, data: dict[str, Any], table: Table) -> None:
    emit(as_json, data, lambda: _out.print(table))


def _game(
    config: Path | None, sources: int, dim: int, providers: int, rule: str, temperature: float | None, seed: int
) -> HeterogeneousDataGame:
    if config is None:
        return random_game(sources, dim, providers, rule=rule, temperature=temperature, random_state=seed)  # type: ignore[arg-type]
    try:
        spec = json.loads(config.read_text())
        return HeterogeneousDataGame(
            np.asarray(spec["weights"]),
            np.asarray(spec["thetas"]),
            np.asarray(spec["covariances"]),
            n_providers=providers,
            rule=rule,  # type: ignore[arg-type]
            temperature=temperature,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MarketInputError(
            f"cannot read game config {config}: {exc}", hint="JSON with weights, thetas, covariances"
        ) from None


@app.command()
def solve(
    config: Annotated[
        Path | None, typer.Option(help="JSON file with weights, thetas, covariances (default: random).")
    ] = None,
    sources: Annotated[int, typer.Option(help="K for a random game.")] = 2,
    dim: Annotated[int, typer.Option(help="D for a random game.")] = 2,
    providers: Annotated[int, typer.Option("--providers", "-n", help="Number of providers N.")] = 2,
    rule: Annotated[str, typer.Option(help="prox or prop.")] = "prox",
    temperature: Annotated[float | None, typer.Option(help="PROP temperature t.")] = None,
    resolution: Annotated[int, typer.Option(help="Simplex grid resolution of the strategy grid.")] = 20,
    max_seconds: Annotated[float, typer.Option(help="Refuse searches predicted to take longer.")] = 60.0,
    seed: Annotated[int, typer.Option(help="Seed of a random game.")] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Enumerate the pure equilibria of the grid game (symmetric solver) and certify each one's ε."""
    game = _game(config, sources, dim, providers, rule, temperature, seed)
    res = GridEquilibriumSolver(resolution=resolution, max_seconds=max_seconds).solve(game).result_
    cert = EpsilonCertifier(max_evaluations=200_000)
    rows = []
    for c, prof in zip(res.equilibria, res.profiles(), strict=True):
        e = cert.certify(game, prof)
        support = np.flatnonzero(c)
        rows.append(
            {
                "counts": {str(int(j)): int(c[j]) for j in support},
                "mixtures": res.mixtures[support].tolist(),
                "points": res.strategies[support].tolist(),
                "epsilon": e.epsilon,
                "epsilon_lower": e.epsilon_lower,
                "heterogeneous": bool(len({tuple(np.round(p, 9)) for p in prof}) > 1),
            }
        )
    data = {
        "weights": game.weights.tolist(),
        "rule": game.rule,
        "temperature": game.temperature,
        "n_providers": game.n_providers,
        "seed": seed if config is None else None,
        "n_strategies": int(res.strategies.shape[0]),
        "n_profiles": res.n_profiles,
        "elapsed_s": res.elapsed_s,
        "equilibria": rows,
    }
    table = Table(title=f"{len(rows)} grid equilibria ({res.n_profiles} profiles, {res.elapsed_s:.3f} s)")
    for col in ("counts", "mixtures", "ε (certified)", "heterogeneous"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["counts"]),
            str(np.round(np.array(r["mixtures"]), 3).tolist()),
            f"{r['epsilon']:.3g}",
            str(r["heterogeneous"]),
        )
    _emit(as_json, data, table)


@app.command()
def sweep(
    out: OutOpt = Path("markets-out"),
    configs: Annotated[int, typer.Option(help="Random configurations.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the configurations.")] = 0,
    quick: Annotated[bool, typer.Option("--quick", help="Two configurations, N in {2, 3, 5} (for tests).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Reproduce K=2, D=2, N=2..30: plot t̲/(2ℓ_max) and the largest heterogeneous-PNE temperature."""
    result = run_sweep(configs=2 if quick else configs, seed=seed, n_values=[2, 3, 5] if quick else None)
    pngs = plot_sweep(result, out)
    (out / "hdg-sweep.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    data = {**result.to_dict(), "plots": [str(p) for p in pngs]}
    table = Table(title=f"hdg sweep: {result.configs} configs, seed {result.seed}")
    for col in ("N", "median t̲/(2ℓ_max)", "max t̲/(2ℓ_max)", "median t_het/ℓ_max"):
        table.add_column(col)
    d: dict[str, Any] = result.to_dict()
    for i, n in enumerate(result.n_values):
        table.add_row(
            str(n),
            f"{d['ratio_median'][i]:.3f}",
            f"{d['ratio_max'][i]:.3f}",
            f"{d['t_het_over_ell_max_median'][i]:.3g}",
        )  # type: ignore[index]
    _emit(as_json, data, table)


@app.command()
def plot(
    out: OutOpt = Path("markets-out"),
    sweep_json: Annotated[Path | None, typer.Option("--from", help="hdg-sweep.json from an earlier sweep.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Redraw the reproduction plots from a saved sweep (default: OUT/hdg-sweep.json)."""
    from trustplane.markets.hdg._sweep import SweepResult

    path = sweep_json or out / "hdg-sweep.json"
    try:
        d = json.loads(path.read_text())
        result = SweepResult(
            [int(n) for n in d["n_values"]],
            np.asarray(d["ratio"], dtype=np.float64),
            np.asarray(d["t_het_over_ell_max"], dtype=np.float64),
            int(d["seed"]),
            int(d["configs"]),
            int(d["resolution"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise MarketInputError(
            f"cannot read sweep results {path}: {exc}", hint="run `trustplane markets hdg sweep` first"
        ) from None
    pngs = plot_sweep(result, out)
    table = Table(title="plots")
    table.add_column("file")
    for p in pngs:
        table.add_row(str(p))
    _emit(as_json, {"plots": [str(p) for p in pngs]}, table)
