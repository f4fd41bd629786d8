"""Best of N: a provider tests N equally good private variants on the arena and publishes only the best.

One repetition: ``n_public`` public models with known, evenly spread ratings play ``public_battles`` battles
among themselves (they pin the scale). Each of ``max(n_values)`` private variants, all with the same true
rating, plays ``n_votes`` battles against random public models. All battles are fitted together; estimates are
aligned to the truth on the public models' mean. For every N the provider publishes the variant with the
highest estimate among the first N (nested, so one fit serves every N).

Safeguards, each measured on the same repetitions:

* **publish all N**: every registered variant's score is public, so the provider's mean over its N variants
  is what a reader can average — unbiased;
* **best-of-N correction**: the published score minus ``se · E[max of N N(0,1)]``
  (:func:`~trustplane.arena.ratings.best_of_n_correction`);
* **provisional until k fresh votes**: after publication the variant plays ``fresh_votes`` new battles; its
  score on the fresh votes alone is independent of the selection, and its score on all votes regresses
  towards the truth by the factor ``n_votes / (n_votes + fresh_votes)``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from trustplane.arena.ratings import best_of_n_inflation, expected_max_normal
from trustplane.arena.simulate._battles import FloatArray, TrueRatings, default_names, play_battles
from trustplane.arena.simulate._common import (
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

DEFAULT_N_VALUES: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 30, 50)


@dataclass(frozen=True)
class BestOfNSetup:
    """Parameters of the best-of-N simulation (see :func:`simulate_best_of_n`)."""

    n_values: tuple[int, ...] = DEFAULT_N_VALUES
    n_votes: int = 1000
    fresh_votes: int = 1000
    n_public: int = 10
    public_spread: float = 300.0
    public_battles: int = 50_000
    variant_rating: float = 1000.0
    tie_param: float = 0.5

    def validate(self) -> BestOfNSetup:
        if not self.n_values:
            raise SimulationInputError("give at least one N")
        for n in self.n_values:
            check_int("every N", n, 1, 10_000)
        if len(set(self.n_values)) != len(self.n_values):
            raise SimulationInputError("the values of N must be distinct")
        check_int("n_votes", self.n_votes, 50)
        check_int("fresh_votes", self.fresh_votes, 50)
        check_int("n_public", self.n_public, 2, 1000)
        check_int("public_battles", self.public_battles, 10 * self.n_public)
        check_float("public_spread", self.public_spread, 0.0, 2000.0)
        check_float("variant_rating", self.variant_rating, 0.0, 5000.0)
        check_float("tie_param", self.tie_param, 0.0, 10.0)
        return replace(self, n_values=tuple(sorted(int(n) for n in self.n_values)))

    @property
    def n_max(self) -> int:
        return max(self.n_values)

    def truth(self) -> TrueRatings:
        """Public models ``public00…`` evenly spread around 1000, variants ``variant00…`` and their fresh-vote
        copies ``variant00-fresh…`` (the same variant, rated on the fresh votes only) at ``variant_rating``."""
        p, n = self.n_public, self.n_max
        public = 1000.0 + self.public_spread * np.linspace(-0.5, 0.5, p)
        rating = np.concatenate([public, np.full(2 * n, self.variant_rating)])
        variants = default_names("variant", n)
        names = default_names("public", p) + variants + tuple(f"{v}-fresh" for v in variants)
        providers = default_names("public", p) + ("provider",) * (2 * n)
        return TrueRatings.from_ratings(rating, models=names, providers=providers, tie_param=self.tie_param)


#: Rows of one repetition's output, each of length len(n_values).
_ROWS = ("naive", "published_se", "all_mean", "corrected", "fresh", "pooled", "variant_se", "independent_se")


def _repetition(setup: BestOfNSetup, truth: TrueRatings, seed: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    p, n, v, k = setup.n_public, setup.n_max, setup.n_votes, setup.fresh_votes
    pa = rng.integers(0, p, setup.public_battles)
    pb = (pa + rng.integers(1, p, setup.public_battles)) % p
    va = np.repeat(p + np.arange(n), v)
    fa = np.repeat(p + n + np.arange(n), k)
    a = np.concatenate([pa, va, fa])
    b = np.concatenate([pb, rng.integers(0, p, n * v), rng.integers(0, p, n * k)])
    battles = play_battles(truth, a, b, random_state=rng)
    a, b, out = battles.model_a, battles.model_b, battles.outcome
    shift = truth.rating[:p, 0].mean()
    # fit 1: private votes and fresh votes as separate models (a variant's fresh copy is rated on fresh votes only)
    sep = fit_battles(truth, a, b, out)
    est = sep.rating - sep.rating[:p].mean() + shift - setup.variant_rating
    contrast = np.zeros(truth.n_models)
    contrast[:p] = -1.0 / p
    se = np.empty(n)
    for i in range(n):
        contrast[p + i] = 1.0
        se[i] = sep.contrast_se(contrast)
        contrast[p + i] = 0.0
    private, fresh = est[p : p + n], est[p + n :]
    vcov = sep.covariance[p : p + n, p : p + n]
    off = (vcov.sum() - np.trace(vcov)) / max(n * (n - 1), 1)
    independent_se = float(np.sqrt(max(np.trace(vcov) / n - off, 0.0))) if n > 1 else float(se[0])
    # fit 2: after the provisional period, each variant rated on its private and fresh votes together
    merged = fit_battles(truth, np.where(a >= p + n, a - n, a), np.where(b >= p + n, b - n, b), out)
    pooled = (merged.rating - merged.rating[:p].mean() + shift - setup.variant_rating)[p : p + n]
    rows = np.empty((len(_ROWS), len(setup.n_values)))
    for j, big_n in enumerate(setup.n_values):
        sel = int(np.argmax(private[:big_n]))
        rows[:, j] = (
            private[sel],
            se[sel],
            private[:big_n].mean(),
            private[sel] - se[sel] * expected_max_normal(big_n),
            fresh[sel],
            pooled[sel],
            se.mean(),
            independent_se,
        )
    return rows


def _chunk(item: tuple[BestOfNSetup, list[int]]) -> list[FloatArray]:
    setup, seeds = item
    truth = setup.truth()
    with single_threaded_blas():
        return [_repetition(setup, truth, s) for s in seeds]


@dataclass(frozen=True)
class BestOfNResult:
    """Mean published-minus-true rating (Elo) against N, without and with the safeguards.

    Every ``*_mean`` tuple is aligned with ``n_values``, with its Monte Carlo standard error in ``*_mc_se``.
    ``theory`` is ``se · E[max of N N(0,1)]`` with ``se`` the mean standard error of a variant's rating
    (``variant_se``); ``pooled_theory`` is ``theory · n_votes / (n_votes + fresh_votes)``.
    """

    setup: BestOfNSetup
    n_repetitions: int
    random_state: int
    n_values: tuple[int, ...]
    naive_mean: tuple[float, ...]
    naive_mc_se: tuple[float, ...]
    theory: tuple[float, ...]
    expected_max: tuple[float, ...]
    variant_se: float
    independent_se: float
    all_published_mean: tuple[float, ...]
    all_published_mc_se: tuple[float, ...]
    corrected_mean: tuple[float, ...]
    corrected_mc_se: tuple[float, ...]
    fresh_mean: tuple[float, ...]
    fresh_mc_se: tuple[float, ...]
    pooled_mean: tuple[float, ...]
    pooled_mc_se: tuple[float, ...]
    pooled_theory: tuple[float, ...]
    illusions: tuple[Illusion, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numbers, the seed and the parameters)."""
        return {"simulation": "best_of_n", **asdict(self)}


def simulate_best_of_n(
    *,
    n_values: tuple[int, ...] | list[int] = DEFAULT_N_VALUES,
    n_repetitions: int = 400,
    n_votes: int = 1000,
    fresh_votes: int = 1000,
    n_public: int = 10,
    public_spread: float = 300.0,
    public_battles: int = 50_000,
    variant_rating: float = 1000.0,
    tie_param: float = 0.5,
    random_state: int = 0,
    workers: int | None = 1,
    ray_address: str | None = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> BestOfNResult:
    """Simulate selective disclosure of the best of N private variants and the three safeguards.

    Args:
        n_values: the numbers of variants N a provider tests (nested: variant k is among the first N for every
            N > k).
        n_repetitions: Monte Carlo repetitions (independent arenas).
        n_votes: battles each variant plays before publication (all against random public models).
        fresh_votes: battles the published variant plays after publication (the provisional period).
        n_public, public_spread, public_battles: the public models (ratings evenly spread over ``public_spread``
            Elo around 1000) and the battles among them.
        variant_rating: every variant's true rating.
        tie_param: Davidson's ν of the generator (the fit uses the matching tie model).
        random_state: seed; repetition r uses the r-th child seed, whatever ``workers``.
        workers, ray_address, settings, progress: how the repetitions run (:mod:`trustplane.core.jobs`).
    """
    setup = BestOfNSetup(
        tuple(int(n) for n in n_values),
        n_votes,
        fresh_votes,
        n_public,
        public_spread,
        public_battles,
        variant_rating,
        tie_param,
    ).validate()
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
        description="best of N",
    )
    rows = np.stack(per_rep)  # (R, rows, len(n_values))
    stat = {name: mc_mean(rows[:, i, :]) for i, name in enumerate(_ROWS)}
    variant_se = float(stat["variant_se"][0].mean())
    independent_se = float(stat["independent_se"][0].mean())
    ns = np.asarray(setup.n_values)
    theory = best_of_n_inflation(variant_se, ns)
    shrink = setup.n_votes / (setup.n_votes + setup.fresh_votes)
    j = len(ns) - 1
    big = int(ns[j])

    def illusion(safeguard: str, key: str) -> Illusion:
        return Illusion(
            name=f"best-of-{big} inflation",
            measure="published rating − true rating",
            unit="Elo",
            without=float(stat["naive"][0][j]),
            without_mc_se=float(stat["naive"][1][j]),
            safeguard=safeguard,
            with_safeguard=float(stat[key][0][j]),
            with_mc_se=float(stat[key][1][j]),
        )

    illusions = (
        illusion("every variant's score published (provider's mean over its variants)", "all_mean"),
        illusion(f"best-of-{big} correction (rating − se·E[max of {big} N(0,1)])", "corrected"),
        illusion(f"provisional until {setup.fresh_votes} fresh votes (score on the fresh votes)", "fresh"),
        illusion(f"provisional until {setup.fresh_votes} fresh votes (score on all votes)", "pooled"),
    )
    return BestOfNResult(
        setup=setup,
        n_repetitions=reps,
        random_state=seed,
        n_values=setup.n_values,
        naive_mean=floats(stat["naive"][0]),
        naive_mc_se=floats(stat["naive"][1]),
        theory=floats(theory),
        expected_max=floats([expected_max_normal(int(n)) for n in ns]),
        variant_se=variant_se,
        independent_se=independent_se,
        all_published_mean=floats(stat["all_mean"][0]),
        all_published_mc_se=floats(stat["all_mean"][1]),
        corrected_mean=floats(stat["corrected"][0]),
        corrected_mc_se=floats(stat["corrected"][1]),
        fresh_mean=floats(stat["fresh"][0]),
        fresh_mc_se=floats(stat["fresh"][1]),
        pooled_mean=floats(stat["pooled"][0]),
        pooled_mc_se=floats(stat["pooled"][1]),
        pooled_theory=floats(theory * shrink),
        illusions=illusions,
    )


def plot_best_of_n(result: BestOfNResult, out_dir: Path | str) -> SavedFigure:
    """Mean inflation of the published rating against N, with SE·E[max] and the safeguarded scores."""
    plt = pyplot()
    ns = np.asarray(result.n_values)
    fig, ax = plt.subplots(figsize=(8, 5))
    series = [
        ("published best of N (selective disclosure)", result.naive_mean, result.naive_mc_se, "tab:red", "o"),
        ("all N published: provider's mean", result.all_published_mean, result.all_published_mc_se, "tab:blue", "s"),
        ("best-of-N corrected", result.corrected_mean, result.corrected_mc_se, "tab:green", "^"),
        (
            f"after {result.setup.fresh_votes} fresh votes: fresh votes only",
            result.fresh_mean,
            result.fresh_mc_se,
            "tab:purple",
            "D",
        ),
        (
            f"after {result.setup.fresh_votes} fresh votes: all votes",
            result.pooled_mean,
            result.pooled_mc_se,
            "tab:orange",
            "v",
        ),
    ]
    for label, mean, se, colour, marker in series:
        ax.errorbar(ns, mean, yerr=2 * np.asarray(se), label=label, color=colour, marker=marker, capsize=3, lw=1.2)
    ax.plot(ns, result.theory, "k--", lw=1.5, label=f"SE × E[max of N N(0,1)], SE = {result.variant_se:.1f} Elo")
    ax.plot(ns, result.pooled_theory, ":", color="tab:orange", lw=1.2, label="theory × n/(n + k)")
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_xscale("log")
    ax.set_xticks(ns)
    ax.set_xticklabels([str(n) for n in ns])
    ax.set_xlabel("private variants tested, N")
    ax.set_ylabel("published rating − true rating (Elo)")
    ax.set_title(f"Best-of-N inflation ({result.n_repetitions} repetitions, seed {result.random_state})")
    ax.legend(fontsize=8)
    rows = [
        [
            int(n),
            result.naive_mean[i],
            result.naive_mc_se[i],
            result.theory[i],
            result.all_published_mean[i],
            result.corrected_mean[i],
            result.fresh_mean[i],
            result.pooled_mean[i],
        ]
        for i, n in enumerate(ns)
    ]
    saved = save_figure(
        fig,
        Path(out_dir) / "arena-best-of-n",
        title="Best-of-N inflation of a published arena rating",
        caption=(
            f"N equally good variants, {result.setup.n_votes} votes each; the provider publishes the best. "
            "Error bars: ±2 Monte Carlo standard errors. The dashed line is the prediction SE·E[max of N "
            "standard normals]; the safeguarded scores stay at 0."
        ),
        table=(["N", "published", "MC se", "SE·E[max]", "all-N mean", "corrected", "fresh", "all votes"], rows),
    )
    plt.close(fig)
    return saved
