"""Deprecation under a shifting prompt mix: silently retired models and rank flips among the survivors.

The world (redrawn every repetition): ``n_models`` models, ``n_legacy`` of them active in every period and the
rest entering at staggered periods and staying ``lifetime`` periods; a model whose lifetime ends before the last
period is deprecated, the others survive. Each model has a base rating (newer models are better on average by
``drift`` Elo a period) and category-specific deviations (sd ``category_sd``). In period t the prompt
category mix moves linearly from ``mix_start`` to ``mix_end``; each period has ``battles_per_period`` battles,
every pair of active models equally likely.

The leaderboard's target is the ranking under the reference mix (the prompt mix of the whole arena log, i.e.
the average over periods) with every pair compared: :meth:`TrueRatings.population_ratings`. A rank flip is a
pair of surviving models at least ``min_gap`` Elo apart in the target whose estimated order is reversed;
a significant flip is one whose estimated difference is also beyond 1.96 standard errors.

Four fits of the same battles:

* ``drop``: silent deprecation, the deprecated models' battles are removed (the illusion);
* ``keep``: deprecated models stay in the fit;
* ``stratify``: their battles are removed, but each battle is weighted by ``π_ref(c) / π̂_t(c)`` (the reference
  share of its category over that category's share in its period), so every period counts at the reference mix;
* ``keep_stratify``: both safeguards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from trustplane.arena.simulate._battles import (
    FloatArray,
    SimulatedBattles,
    TrueRatings,
    category_mix,
    default_names,
    generate_battles,
)
from trustplane.arena.simulate._common import (
    Z95,
    Illusion,
    check_float,
    check_int,
    fit_battles,
    floats,
    mc_mean,
    run_repetitions,
    single_threaded_blas,
)
from trustplane.arena.simulate._errors import SimulationInputError
from trustplane.core.config import Settings
from trustplane.core.reports import SavedFigure, pyplot, save_figure

FITS: tuple[str, ...] = ("drop", "keep", "stratify", "keep_stratify")
FIT_LABELS: dict[str, str] = {
    "drop": "silent deprecation (battles dropped)",
    "keep": "deprecated models kept",
    "stratify": "dropped, stratified by category",
    "keep_stratify": "kept and stratified",
}


@dataclass(frozen=True)
class DeprecationSetup:
    """Parameters of the deprecation simulation (see :func:`simulate_deprecation`)."""

    n_models: int = 12
    n_legacy: int = 3
    n_periods: int = 6
    lifetime: int = 3
    battles_per_period: int = 40_000
    mix_start: tuple[float, ...] = (0.7, 0.2, 0.1)
    mix_end: tuple[float, ...] = (0.1, 0.2, 0.7)
    spread: float = 50.0
    category_sd: float = 100.0
    drift: float = 20.0
    min_gap: float = 25.0
    tie_param: float = 0.5

    def validate(self) -> DeprecationSetup:
        check_int("n_models", self.n_models, 3, 500)
        check_int("n_legacy", self.n_legacy, 1, self.n_models - 1)
        check_int("n_periods", self.n_periods, 2, 1000)
        check_int("lifetime", self.lifetime, 1, self.n_periods)
        check_int("battles_per_period", self.battles_per_period, 50 * self.n_models)
        if len(self.mix_start) != len(self.mix_end) or len(self.mix_start) < 2:
            raise SimulationInputError("mix_start and mix_end need the same number (≥ 2) of categories")
        start = category_mix(self.mix_start, len(self.mix_start))
        end = category_mix(self.mix_end, len(self.mix_end))
        if np.any((start == 0) & (end == 0)):
            raise SimulationInputError("every category needs a positive share at the start or at the end")
        check_float("spread", self.spread, 0.0, 2000.0)
        check_float("category_sd", self.category_sd, 0.0, 2000.0)
        check_float("drift", self.drift, -500.0, 500.0)
        check_float("min_gap", self.min_gap, 0.0, 5000.0)
        check_float("tie_param", self.tie_param, 0.0, 10.0)
        return replace(self, mix_start=floats(start), mix_end=floats(end))

    @property
    def n_categories(self) -> int:
        return len(self.mix_start)

    def mixes(self) -> FloatArray:
        """The category mix of every period, shape ``(n_periods, n_categories)``."""
        t = np.linspace(0.0, 1.0, self.n_periods)[:, None]
        out: FloatArray = (1 - t) * np.asarray(self.mix_start) + t * np.asarray(self.mix_end)
        return out

    def lifetimes(self) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """Entry period and first period after retirement of every model (legacy models never retire)."""
        others = self.n_models - self.n_legacy
        entry = np.concatenate(
            [np.zeros(self.n_legacy), np.floor(np.linspace(0, self.n_periods - 1, others) + 0.5)]
        ).astype(np.int64)
        end = np.where(
            np.arange(self.n_models) < self.n_legacy, self.n_periods, np.minimum(entry + self.lifetime, self.n_periods)
        )
        return entry, end.astype(np.int64)

    def survivors(self) -> NDArray[np.bool_]:
        """Models still active in the last period."""
        out: NDArray[np.bool_] = self.lifetimes()[1] >= self.n_periods
        return out

    def truth(self, rng: np.random.Generator) -> TrueRatings:
        """One world: base ratings (with the drift by entry period) and category deviations."""
        entry, _ = self.lifetimes()
        m, c = self.n_models, self.n_categories
        base = 1000.0 + self.spread * rng.standard_normal(m) + self.drift * entry
        dev = self.category_sd * rng.standard_normal((m, c))
        dev -= dev.mean(axis=1, keepdims=True)
        status = np.where(self.survivors(), "s", "d")
        names = tuple(f"m{i:02d}-t{entry[i]}{status[i]}" for i in range(m))
        return TrueRatings.from_ratings(
            base[:, None] + dev, models=names, categories=default_names("cat", c), tie_param=self.tie_param
        )


def _stratified_weights(battles: SimulatedBattles, reference: FloatArray, n_periods: int) -> FloatArray:
    """``π_ref(c) / π̂_t(c)`` per battle, ``π̂_t`` the category shares among these battles in period t."""
    c = len(reference)
    cells = np.bincount(battles.period * c + battles.category, minlength=n_periods * c).reshape(n_periods, c)
    share = cells / np.maximum(cells.sum(axis=1, keepdims=True), 1)
    w: FloatArray = reference[battles.category] / share[battles.period, battles.category]
    return w


def _repetition(setup: DeprecationSetup, seed: int) -> FloatArray:
    """Per fit: flips, significant flips, RMSE over survivors (centred), and the number of pairs compared."""
    rng = np.random.default_rng(seed)
    truth = setup.truth(rng)
    entry, end = setup.lifetimes()
    mixes = setup.mixes()
    parts = []
    for t in range(setup.n_periods):
        active = ((entry <= t) & (t < end)).astype(np.float64)
        parts.append(
            generate_battles(
                truth, setup.battles_per_period, mix=mixes[t], sampling_rate=active, period=t, random_state=rng
            )
        )
    battles = SimulatedBattles.concat(parts)
    reference = np.bincount(battles.category, minlength=setup.n_categories) / len(battles)
    target = truth.population_ratings(reference)
    surv = setup.survivors()
    idx = np.flatnonzero(surv)
    i, j = np.triu_indices(idx.size, 1)
    si, sj = idx[i], idx[j]
    true_diff = target[si] - target[sj]
    far = np.abs(true_diff) >= setup.min_gap
    both = surv[battles.model_a] & surv[battles.model_b]
    out = np.empty((len(FITS), 4))
    for k, name in enumerate(FITS):
        kept = battles if name.startswith("keep") else battles.take(both)
        weights = _stratified_weights(kept, reference, setup.n_periods) if name.endswith("stratify") else None
        fit = fit_battles(truth, kept.model_a, kept.model_b, kept.outcome, weights=weights)
        diff = fit.rating[si] - fit.rating[sj]
        dse = fit.difference_se()[si, sj]
        flip = far & (np.sign(diff) != np.sign(true_diff))
        significant = flip & (np.abs(diff) > Z95 * dse)
        e = fit.rating[idx] - fit.rating[idx].mean() - (target[idx] - target[idx].mean())
        out[k] = (flip.sum(), significant.sum(), float(np.sqrt(np.mean(e**2))), far.sum())
    return out


def _chunk(item: tuple[DeprecationSetup, list[int]]) -> list[FloatArray]:
    setup, seeds = item
    with single_threaded_blas():
        return [_repetition(setup, s) for s in seeds]


@dataclass(frozen=True)
class DeprecationFit:
    """One way of fitting, averaged over repetitions (Monte Carlo standard errors in ``*_mc_se``)."""

    fit: str
    label: str
    flips: float
    flips_mc_se: float
    significant_flips: float
    significant_flips_mc_se: float
    rmse: float
    rmse_mc_se: float
    share_with_flips: float


@dataclass(frozen=True)
class DeprecationResult:
    """Rank flips among surviving models, for silent deprecation and the safeguards."""

    setup: DeprecationSetup
    n_repetitions: int
    random_state: int
    n_survivors: int
    n_deprecated: int
    pairs_compared: float
    fits: tuple[DeprecationFit, ...]
    illusions: tuple[Illusion, ...]

    def fit(self, name: str) -> DeprecationFit:
        """The summary of one fit (``drop``, ``keep``, ``stratify``, ``keep_stratify``)."""
        for f in self.fits:
            if f.fit == name:
                return f
        raise SimulationInputError(f"unknown fit {name!r}; choose one of {', '.join(FITS)}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numbers, the seed and the parameters)."""
        return {"simulation": "deprecation", **asdict(self)}


def simulate_deprecation(
    *,
    n_repetitions: int = 200,
    n_models: int = 12,
    n_legacy: int = 3,
    n_periods: int = 6,
    lifetime: int = 3,
    battles_per_period: int = 40_000,
    mix_start: tuple[float, ...] = (0.7, 0.2, 0.1),
    mix_end: tuple[float, ...] = (0.1, 0.2, 0.7),
    spread: float = 50.0,
    category_sd: float = 100.0,
    drift: float = 20.0,
    min_gap: float = 25.0,
    tie_param: float = 0.5,
    random_state: int = 0,
    workers: int | None = 1,
    ray_address: str | None = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> DeprecationResult:
    """Simulate silent deprecation under a shifting prompt mix and count rank flips among the survivors.

    Args:
        n_repetitions: Monte Carlo repetitions; each draws a new world (ratings) and new battles.
        n_models, n_legacy, n_periods, lifetime: the models, how many are active throughout, the number of
            periods and how long the others stay.
        battles_per_period: battles in each period.
        mix_start, mix_end: the category mix of the first and last period (linear in between).
        spread, category_sd, drift: sd of base ratings, sd of category deviations, Elo gained per entry period.
        min_gap: only pairs at least this far apart in the target count as flips.
        tie_param: Davidson's ν of the generator.
        random_state: seed; repetition r uses the r-th child seed, whatever ``workers``.
        workers, ray_address, settings, progress: how the repetitions run (:mod:`trustplane.core.jobs`).
    """
    setup = DeprecationSetup(
        n_models,
        n_legacy,
        n_periods,
        lifetime,
        battles_per_period,
        tuple(mix_start),
        tuple(mix_end),
        spread,
        category_sd,
        drift,
        min_gap,
        tie_param,
    ).validate()
    surv = setup.survivors()
    if surv.sum() < 2:
        raise SimulationInputError("fewer than two models survive to the last period", hint="raise --lifetime")
    if surv.all():
        raise SimulationInputError("no model is deprecated", hint="lower --lifetime or add periods")
    reps = check_int("n_repetitions", n_repetitions, 2)
    seed = check_int("random_state", random_state, 0)
    per_rep: list[FloatArray] = run_repetitions(
        _chunk,
        setup,
        reps,
        seed,
        workers=workers,
        ray_address=ray_address,
        settings=settings,
        progress=progress,
        description="deprecation",
    )
    rows = np.stack(per_rep)  # (R, fits, 4)
    fits = []
    for k, name in enumerate(FITS):
        flips, sig, rmse = mc_mean(rows[:, k, 0]), mc_mean(rows[:, k, 1]), mc_mean(rows[:, k, 2])
        fits.append(
            DeprecationFit(
                fit=name,
                label=FIT_LABELS[name],
                flips=float(flips[0]),
                flips_mc_se=float(flips[1]),
                significant_flips=float(sig[0]),
                significant_flips_mc_se=float(sig[1]),
                rmse=float(rmse[0]),
                rmse_mc_se=float(rmse[1]),
                share_with_flips=float((rows[:, k, 0] > 0).mean()),
            )
        )
    result = DeprecationResult(
        setup=setup,
        n_repetitions=reps,
        random_state=seed,
        n_survivors=int(surv.sum()),
        n_deprecated=int((~surv).sum()),
        pairs_compared=float(rows[:, 0, 3].mean()),
        fits=tuple(fits),
        illusions=(),
    )
    drop, safe = result.fit("drop"), result.fit("keep_stratify")
    safeguard = "deprecated models kept in the fit, battles stratified by prompt category"
    illusions = (
        Illusion(
            name="rank flips among surviving models",
            measure=f"reversed pairs at least {setup.min_gap:g} Elo apart, per leaderboard",
            unit="pairs",
            without=drop.flips,
            without_mc_se=drop.flips_mc_se,
            safeguard=safeguard,
            with_safeguard=safe.flips,
            with_mc_se=safe.flips_mc_se,
        ),
        Illusion(
            name="significant rank flips among surviving models",
            measure="reversed pairs whose estimated difference is beyond 1.96 standard errors, per leaderboard",
            unit="pairs",
            without=drop.significant_flips,
            without_mc_se=drop.significant_flips_mc_se,
            safeguard=safeguard,
            with_safeguard=safe.significant_flips,
            with_mc_se=safe.significant_flips_mc_se,
        ),
    )
    return replace(result, illusions=illusions)


def plot_deprecation(result: DeprecationResult, out_dir: Path | str) -> SavedFigure:
    """The prompt mix and model lifetimes over time, and mean rank flips per way of fitting."""
    plt = pyplot()
    setup = result.setup
    fig, (ax_m, ax_f) = plt.subplots(1, 2, figsize=(13, 4.8), gridspec_kw={"width_ratios": [1, 1.3]})
    periods = np.arange(setup.n_periods)
    mixes = setup.mixes()
    ax_m.stackplot(periods, mixes.T, labels=[f"category {c}" for c in range(setup.n_categories)], alpha=0.35)
    entry, end = setup.lifetimes()
    surv = setup.survivors()
    for i in range(setup.n_models):
        y = 0.04 + 0.92 * i / max(setup.n_models - 1, 1)
        ax_m.plot([entry[i], end[i] - 1 + 0.15], [y, y], lw=3, color="tab:green" if surv[i] else "tab:red")
    ax_m.set_xlabel("period")
    ax_m.set_ylabel("category share (areas); model lifetimes (lines)")
    ax_m.set_title("prompt mix shifts; red models are retired")
    ax_m.set_xticks(periods)
    ax_m.legend(loc="upper center", fontsize=7, ncol=setup.n_categories)
    x = np.arange(len(result.fits))
    ax_f.bar(
        x - 0.2,
        [f.flips for f in result.fits],
        yerr=[2 * f.flips_mc_se for f in result.fits],
        width=0.4,
        color="tab:red",
        capsize=3,
        label=f"flips (pairs ≥ {setup.min_gap:g} Elo apart)",
    )
    ax_f.bar(
        x + 0.2,
        [f.significant_flips for f in result.fits],
        yerr=[2 * f.significant_flips_mc_se for f in result.fits],
        width=0.4,
        color="tab:purple",
        capsize=3,
        label="significant flips",
    )
    ax_f.set_xticks(x)
    ax_f.set_xticklabels([f.label.replace(", ", ",\n").replace(" (", "\n(") for f in result.fits], fontsize=8)
    ax_f.set_ylabel(f"mean reversed pairs among {result.n_survivors} survivors")
    ax_f.set_title(f"rank flips vs truth ({result.n_repetitions} repetitions, seed {result.random_state})")
    ax_f.legend(fontsize=8)
    rows = [
        [f.fit, f.flips, f.flips_mc_se, f.significant_flips, f.significant_flips_mc_se, f.rmse, f.share_with_flips]
        for f in result.fits
    ]
    saved = save_figure(
        fig,
        Path(out_dir) / "arena-deprecation",
        title="Rank flips after deprecation under a shifting prompt mix",
        caption=(
            f"{setup.n_models} models, {result.n_deprecated} retired before the last of {setup.n_periods} periods; "
            f"{setup.battles_per_period} battles a period. Error bars: ±2 Monte Carlo standard errors. Truth: the "
            "ranking under the arena's overall prompt mix with every pair compared."
        ),
        table=(["fit", "flips", "MC se", "significant", "MC se", "RMSE (Elo)", "share of runs with flips"], rows),
    )
    plt.close(fig)
    return saved
