"""``trustplane arena simulate``: the leaderboard illusions and the safeguards, with plots."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from trustplane.arena.simulate._best_of_n import DEFAULT_N_VALUES, BestOfNResult, plot_best_of_n, simulate_best_of_n
from trustplane.arena.simulate._common import Illusion
from trustplane.arena.simulate._deprecation import DeprecationResult, plot_deprecation, simulate_deprecation
from trustplane.arena.simulate._errors import SimulationInputError
from trustplane.arena.simulate._sampling import SamplingResult, plot_sampling, simulate_sampling
from trustplane.core.config import Settings, load_settings
from trustplane.core.output import JsonOpt, console, emit
from trustplane.core.reports import SavedFigure

app = typer.Typer(
    help="Simulate best-of-N inflation, unequal sampling and deprecation rank flips.", no_args_is_help=True
)

OutOpt = Annotated[Path, typer.Option("--out", help="Directory for the plots (PNG and HTML) and the result JSON.")]
SeedOpt = Annotated[
    int, typer.Option("--seed", help="Random seed, recorded in the result (same seed, same bytes).", min=0)
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Processes for the repetitions (default: TRUSTPLANE_JOBS_WORKERS or the CPU count; 1: this process).",
        min=1,
    ),
]
RayOpt = Annotated[
    str | None, typer.Option("--ray", help="Run the repetitions on a Ray cluster at this address ('auto', 'local').")
]
TiesOpt = Annotated[
    float, typer.Option("--ties", help="Davidson tie parameter ν of the generator (0: no ties).", min=0)
]
DEFAULT_OUT = Path("arena-simulate-out")


def _jobs(workers: int | None, ray: str | None) -> dict[str, Any]:
    settings: Settings = load_settings()
    n = workers or settings.jobs_workers or os.cpu_count() or 1
    return {"workers": n, "ray_address": ray or settings.ray_address, "settings": settings}


def _n_values(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(x) for x in text.replace(" ", "").split(",") if x)
    except ValueError:
        raise SimulationInputError(
            f"cannot read the values of N from {text!r}", hint="give comma-separated integers, e.g. 1,2,5,10"
        ) from None
    if not values:
        raise SimulationInputError("give at least one N", hint="e.g. --n 1,2,5,10")
    return values


def _save(out: Path, name: str, data: dict[str, Any], plot: Callable[[Path], SavedFigure]) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"arena-{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    saved = plot(out)
    return [str(saved.png), str(saved.html), str(path)]


def _pm(mean: float, se: float) -> str:
    return f"{mean:.2f} ± {se:.2f}"


def _illusion_table(title: str, rows: Sequence[Illusion]) -> Table:
    table = Table(title=title)
    for col in ("illusion", "without (± MC se)", "safeguard", "with (± MC se)", "unit"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(
            escape(r.name),
            _pm(r.without, r.without_mc_se),
            escape(r.safeguard),
            _pm(r.with_safeguard, r.with_mc_se),
            r.unit,
        )
    return table


def _best_of_n_table(res: BestOfNResult) -> Table:
    table = Table(
        title=f"best of N: published − true rating (Elo), {res.n_repetitions} repetitions, seed {res.random_state}"
    )
    for col in ("N", "published", "SE·E[max]", "all N mean", "corrected", "fresh votes", "all votes"):
        table.add_column(col, justify="right")
    for i, n in enumerate(res.n_values):
        table.add_row(
            str(n),
            _pm(res.naive_mean[i], res.naive_mc_se[i]),
            f"{res.theory[i]:.2f}",
            _pm(res.all_published_mean[i], res.all_published_mc_se[i]),
            _pm(res.corrected_mean[i], res.corrected_mc_se[i]),
            _pm(res.fresh_mean[i], res.fresh_mc_se[i]),
            _pm(res.pooled_mean[i], res.pooled_mc_se[i]),
        )
    return table


def _sampling_tables(res: SamplingResult) -> list[Table]:
    summary = Table(title=f"unequal sampling, {res.n_repetitions} repetitions, seed {res.random_state}")
    for col in ("scenario", "fit", "favoured bias", "others' bias", "rank gain", "CI width fav./others", "coverage"):
        summary.add_column(col, justify="right")
    for s in res.summaries:
        summary.add_row(
            s.scenario,
            s.method,
            _pm(s.favoured_bias, s.favoured_bias_mc_se),
            _pm(s.other_bias, s.other_bias_mc_se),
            _pm(s.favoured_rank_gain, s.favoured_rank_gain_mc_se),
            f"{s.favoured_ci_width:.1f} / {s.other_ci_width:.1f}",
            _pm(s.coverage, s.coverage_mc_se),
        )
    shares = Table(title="sampling-share report (share of appearances / fair share)")
    for col in ("scenario", "provider", "favoured", "share", "fair share", "ratio", "ratio per category"):
        shares.add_column(col, justify="right")
    for p in res.shares:
        shares.add_row(
            p.scenario,
            p.provider,
            "yes" if p.favoured else "",
            f"{p.share:.3f}",
            f"{p.fair_share:.3f}",
            f"{p.ratio:.2f}",
            " ".join(f"{x:.2f}" for x in p.category_ratio),
        )
    return [summary, shares]


def _deprecation_table(res: DeprecationResult) -> Table:
    table = Table(
        title=(
            f"deprecation: {res.n_survivors} survivors, {res.n_deprecated} retired, "
            f"{res.n_repetitions} repetitions, seed {res.random_state}"
        )
    )
    for col in ("fit", "flips", "significant flips", "RMSE (Elo)", "runs with flips"):
        table.add_column(col, justify="right")
    for f in res.fits:
        table.add_row(
            escape(f.label),
            _pm(f.flips, f.flips_mc_se),
            _pm(f.significant_flips, f.significant_flips_mc_se),
            _pm(f.rmse, f.rmse_mc_se),
            f"{100 * f.share_with_flips:.1f}%",
        )
    return table


def _show(tables: Sequence[Table], files: Sequence[str]) -> Callable[[], None]:
    def human() -> None:
        for t in tables:
            console.print(t)
        console.print(escape("files: " + ", ".join(files)))

    return human


def _run_best_of_n(
    n_text: str,
    reps: int,
    votes: int,
    fresh: int,
    public: int,
    public_battles: int,
    ties: float,
    seed: int,
    **jobs: Any,
) -> BestOfNResult:
    return simulate_best_of_n(
        n_values=_n_values(n_text),
        n_repetitions=reps,
        n_votes=votes,
        fresh_votes=fresh,
        n_public=public,
        public_battles=public_battles,
        tie_param=ties,
        random_state=seed,
        **jobs,
    )


@app.command("best-of-n")
def best_of_n_cmd(
    n: Annotated[str, typer.Option("--n", help="Numbers of private variants N, comma-separated.")] = ",".join(
        str(x) for x in DEFAULT_N_VALUES
    ),
    repetitions: Annotated[int, typer.Option(help="Monte Carlo repetitions.", min=2)] = 400,
    votes: Annotated[int, typer.Option(help="Battles each variant plays before publication.", min=50)] = 1000,
    fresh_votes: Annotated[int, typer.Option(help="Fresh battles of the provisional period.", min=50)] = 1000,
    public: Annotated[int, typer.Option(help="Public models that pin the scale.", min=2)] = 10,
    public_battles: Annotated[int, typer.Option(help="Battles among the public models.", min=20)] = 50_000,
    ties: TiesOpt = 0.5,
    seed: SeedOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Best-of-N inflation of a published rating against N, vs SE·E[max of N N(0,1)], and the safeguards."""
    res = _run_best_of_n(
        n,
        repetitions,
        votes,
        fresh_votes,
        public,
        public_battles,
        ties,
        seed,
        progress=not as_json,
        **_jobs(workers, ray),
    )
    data = res.as_dict()
    files = _save(out, "best-of-n", data, lambda d: plot_best_of_n(res, d))
    emit(
        as_json,
        {**data, "files": files},
        _show([_best_of_n_table(res), _illusion_table("illusion and safeguards", res.illusions)], files),
    )


@app.command("sampling")
def sampling_cmd(
    repetitions: Annotated[int, typer.Option(help="Monte Carlo repetitions.", min=2)] = 100,
    battles: Annotated[int, typer.Option(help="Battles per scenario and repetition.", min=100)] = 100_000,
    providers: Annotated[int, typer.Option(help="Providers.", min=2)] = 6,
    models_per_provider: Annotated[int, typer.Option(help="Models per provider.", min=1)] = 2,
    favoured: Annotated[int, typer.Option(help="Providers sampled more often.", min=1)] = 2,
    rate_ratio: Annotated[float, typer.Option(help="How much more often the favoured are sampled.", min=1)] = 5.0,
    categories: Annotated[int, typer.Option(help="Prompt categories.", min=2)] = 4,
    specialty: Annotated[float, typer.Option(help="Elo a favoured provider gains in its strong category.")] = 150.0,
    ties: TiesOpt = 0.5,
    seed: SeedOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Unequal sampling rates between providers: bias, rank gain and interval widths, IPW and the share report."""
    res = simulate_sampling(
        n_repetitions=repetitions,
        n_battles=battles,
        n_providers=providers,
        models_per_provider=models_per_provider,
        n_favoured=favoured,
        rate_ratio=rate_ratio,
        n_categories=categories,
        specialty=specialty,
        tie_param=ties,
        random_state=seed,
        progress=not as_json,
        **_jobs(workers, ray),
    )
    data = res.as_dict()
    files = _save(out, "sampling", data, lambda d: plot_sampling(res, d))
    tables = [*_sampling_tables(res), _illusion_table("illusions and safeguard", res.illusions)]
    emit(as_json, {**data, "files": files}, _show(tables, files))


@app.command("deprecation")
def deprecation_cmd(
    repetitions: Annotated[int, typer.Option(help="Monte Carlo repetitions (a new world each).", min=2)] = 200,
    models: Annotated[int, typer.Option(help="Models.", min=3)] = 12,
    legacy: Annotated[int, typer.Option(help="Models active in every period.", min=1)] = 3,
    periods: Annotated[int, typer.Option(help="Time periods.", min=2)] = 6,
    lifetime: Annotated[int, typer.Option(help="Periods a non-legacy model stays.", min=1)] = 3,
    battles_per_period: Annotated[int, typer.Option(help="Battles per period.", min=100)] = 40_000,
    min_gap: Annotated[float, typer.Option(help="Only pairs this many Elo apart count as flips.", min=0)] = 25.0,
    ties: TiesOpt = 0.5,
    seed: SeedOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rank flips among surviving models after silent deprecation under a shifting prompt mix, and the safeguards."""
    res = simulate_deprecation(
        n_repetitions=repetitions,
        n_models=models,
        n_legacy=legacy,
        n_periods=periods,
        lifetime=lifetime,
        battles_per_period=battles_per_period,
        min_gap=min_gap,
        tie_param=ties,
        random_state=seed,
        progress=not as_json,
        **_jobs(workers, ray),
    )
    data = res.as_dict()
    files = _save(out, "deprecation", data, lambda d: plot_deprecation(res, d))
    tables = [_deprecation_table(res), _illusion_table("illusions and safeguard", res.illusions)]
    emit(as_json, {**data, "files": files}, _show(tables, files))


@app.command("all")
def all_cmd(
    quick: Annotated[
        bool, typer.Option("--quick", help="Small sizes (a few seconds; for smoke tests, not for conclusions).")
    ] = False,
    seed: SeedOpt = 0,
    out: OutOpt = DEFAULT_OUT,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """All three simulations at their default sizes; one table of every illusion without and with its safeguard."""
    jobs = {**_jobs(workers, ray), "progress": not as_json, "random_state": seed}
    if quick:
        bon = simulate_best_of_n(
            n_values=(1, 2, 5, 10), n_repetitions=20, n_votes=300, fresh_votes=300, public_battles=5000, **jobs
        )
        smp = simulate_sampling(n_repetitions=5, n_battles=20_000, **jobs)
        dep = simulate_deprecation(n_repetitions=5, battles_per_period=5000, **jobs)
    else:
        bon = simulate_best_of_n(**jobs)
        smp = simulate_sampling(**jobs)
        dep = simulate_deprecation(**jobs)
    files = (
        _save(out, "best-of-n", bon.as_dict(), lambda d: plot_best_of_n(bon, d))
        + _save(out, "sampling", smp.as_dict(), lambda d: plot_sampling(smp, d))
        + _save(out, "deprecation", dep.as_dict(), lambda d: plot_deprecation(dep, d))
    )
    illusions = [*bon.illusions, *smp.illusions, *dep.illusions]
    data = {
        "random_state": seed,
        "quick": quick,
        "illusions": [i.as_dict() for i in illusions],
        "best_of_n": bon.as_dict(),
        "sampling": smp.as_dict(),
        "deprecation": dep.as_dict(),
        "files": files,
    }
    emit(as_json, data, _show([_illusion_table("every illusion, without and with its safeguard", illusions)], files))
