"""``trustplane markets prm``: paths, impact and Monte Carlo for performative risk minimisation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from trustplane.core.output import JsonOpt, console, emit

from ._errors import PerformativeInputError
from ._estimate import QUANTITIES, monte_carlo
from ._model import METHODS, REGIMES, Regime, impact, path
from ._plots import plot_amplification, plot_monte_carlo, plot_paths

app = typer.Typer(
    help="Performative risk minimisation under p' = a + bθ + cp: closed-form paths, impact, Monte Carlo.",
    no_args_is_help=True,
)
_out = console
OutOpt = Annotated[Path, typer.Option("--out", help="Directory for the PNG and HTML plots.")]
AOpt = Annotated[float, typer.Option("--a", help="Intercept a of p' = a + bθ + cp.")]
BOpt = Annotated[float, typer.Option("--b", help="Performative strength b (PRM needs b < 1/2).")]
COpt = Annotated[float, typer.Option("--c", help="State persistence c (0: one-period model).")]
EtaOpt = Annotated[float, typer.Option("--eta", help="RGD step size η, 0 < η ≤ 1/2.")]


def _regime(value: str) -> Regime:
    if value == "rapid":
        return "rapid"
    if value == "slow":
        return "slow"
    raise PerformativeInputError(f"unknown regime {value!r}; choose one of {', '.join(REGIMES)}")


def _f(x: float | None) -> str:
    return "—" if x is None else f"{x:.6g}"


@app.command("path")
def path_cmd(
    a: AOpt = 0.2,
    b: BOpt = 0.3,
    c: COpt = 0.4,
    p0: Annotated[float | None, typer.Option(help="Initial p (default: no-deployment steady state a/(1 − c)).")] = None,
    theta0: Annotated[float | None, typer.Option(help="RGD's initial forecast (default: p0).")] = None,
    eta: EtaOpt = 0.25,
    horizon: Annotated[int, typer.Option(help="Number of steps.", min=1, max=100_000)] = 40,
    regime: Annotated[
        str, typer.Option(help="rapid (re-optimise every period) or slow (wait for steady state).")
    ] = "rapid",
    out: OutOpt = Path("markets-out"),
    as_json: JsonOpt = False,
) -> None:
    """Closed-form paths p_t, θ_t of PRM, RRM and RGD, their fixed points, bias and shift; plots the paths."""
    reg = _regime(regime)
    paths = [path(m, a, b, c, p0=p0, theta0=theta0, eta=eta, horizon=horizon, regime=reg) for m in METHODS]
    saved = plot_paths(a, b, c, out, p0=p0, theta0=theta0, eta=eta, horizon=horizon, regime=reg)
    data = {"paths": [p.as_dict() for p in paths], "plots": [str(saved.png), str(saved.html)]}

    def human() -> None:
        table = Table(title=f"{reg} deployment: a={a:g}, b={b:g}, c={c:g}, p₀={paths[0].p0:g}, T={horizon}")
        for col in ("method", "rate", "p_T", "θ_{T−1}", "bias", "shift", "fixed points (θ, p, stable)", "reached"):
            table.add_column(col, overflow="fold")
        for p in paths:
            fps = "; ".join(f"({s.theta:.4g}, {s.p:.4g}, {'yes' if s.stable else 'no'})" for s in p.fixed_points)
            table.add_row(
                p.method.upper(),
                f"{p.rate:.4g}",
                f"{p.p[-1]:.6g}",
                f"{p.theta[-1]:.6g}",
                f"{p.bias[-1]:.4g}",
                f"{p.shift[-1]:.4g}",
                fps,
                "yes" if p.limit is not None else "no",
            )
        _out.print(table)
        _out.print(f"plot: {saved.png} ({saved.html})")

    emit(as_json, data, human)


@app.command("impact")
def impact_cmd(
    a: AOpt = 0.2,
    b: BOpt = 0.3,
    c: COpt = 0.2,
    eta: EtaOpt = 0.25,
    p0: Annotated[float | None, typer.Option(help="Initial p (default: a/(1 − c)).")] = None,
    grid: Annotated[int, typer.Option(help="Heatmap resolution per axis.", min=3, max=201)] = 41,
    out: OutOpt = Path("markets-out"),
    as_json: JsonOpt = False,
) -> None:
    """Bias (θ − p) and mean shift (p − a/(1 − c)) where PRM, RRM and RGD settle; plots amplification maps."""
    report = impact(a, b, c, eta=eta, p0=p0)
    saved = plot_amplification(out, a=a, grid=grid)
    data = {"impact": report.as_dict(), "plots": [str(saved.png), str(saved.html)]}

    def human() -> None:
        table = Table(title=f"impact at a={a:g}, b={b:g}, c={c:g} from p₀={report.p0:g}")
        for col in ("regime", "method", "θ*", "p*", "bias θ−p", "shift p−p⁰", "rate", "converged"):
            table.add_column(col)
        for r in report.rows:
            table.add_row(
                r.regime,
                r.method.upper(),
                _f(r.theta),
                _f(r.p),
                _f(r.bias),
                _f(r.shift),
                f"{r.rate:.4g}",
                "yes" if r.converged else "no",
            )
        _out.print(table)
        for regime, amp in report.amplification.items():
            verdict = "—" if amp is None else ("PRM amplifies" if amp > 0 else "PRM does not amplify")
            _out.print(f"{regime}: |shift PRM| − |shift RRM| = {_f(amp)} ({verdict})")
        _out.print(f"plot: {saved.png} ({saved.html})")

    emit(as_json, data, human)


@app.command("simulate")
def simulate_cmd(
    a: AOpt = 0.3,
    b: BOpt = 0.2,
    c: COpt = 0.0,
    quantity: Annotated[str, typer.Option(help=f"Target: {', '.join(QUANTITIES)}.")] = "theta_po",
    runs: Annotated[int, typer.Option(help="Monte Carlo runs.", min=10, max=1_000_000)] = 10_000,
    periods: Annotated[int, typer.Option(help="Exploration periods per run.", min=5, max=100_000)] = 200,
    samples: Annotated[int, typer.Option(help="Bernoulli samples observed per period.", min=1)] = 100,
    level: Annotated[float, typer.Option(help="Confidence level of the intervals.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Random seed (recorded in the output).")] = 0,
    out: OutOpt = Path("markets-out"),
    as_json: JsonOpt = False,
) -> None:
    """Monte Carlo of the plug-in estimator under unknown (a, b, c): bias, variance, CI coverage; plots a histogram."""
    if quantity not in QUANTITIES:
        raise PerformativeInputError(f"unknown quantity {quantity!r}; choose one of {', '.join(QUANTITIES)}")
    result = monte_carlo(
        a,
        b,
        c,
        quantity_name=quantity,
        n_runs=runs,
        n_periods=periods,
        n_samples=samples,
        level=level,
        random_state=seed,
    )
    saved = plot_monte_carlo(result, out)
    data = {"monte_carlo": result.as_dict(), "plots": [str(saved.png), str(saved.html)]}

    def human() -> None:
        table = Table(title=f"{quantity}: {result.n_valid}/{result.n_runs} runs, seed {seed}")
        table.add_column("statistic")
        table.add_column("value", justify="right")
        for key in ("true_value", "mean", "bias", "variance", "rmse", "mean_se", "coverage", "coverage_mc_se"):
            table.add_row(key, f"{getattr(result, key):.6g}")
        _out.print(table)
        _out.print(f"plot: {saved.png} ({saved.html})")

    emit(as_json, data, human)
