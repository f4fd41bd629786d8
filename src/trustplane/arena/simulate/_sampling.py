"""Unequal sampling: some providers' models are shown to voters more often than others'.

The world: ``n_providers`` providers with ``models_per_provider`` models each; every model has a base rating and
category-specific deviations. The first ``n_favoured`` providers are sampled ``rate_ratio`` times more often,
and each of them has a strong prompt category (``+specialty`` Elo there, ``−specialty/(C−1)`` elsewhere, so its
average over categories is unchanged). Prompts arrive with the population category mix (uniform); the
leaderboard's target is :meth:`TrueRatings.population_ratings` (every pair equally often, population mix).

Two scenarios, each simulated ``n_repetitions`` times with ``n_battles`` battles:

* ``provider``: the favoured providers' rate is higher on every prompt. Their models get more battles, hence
  narrower intervals, but (the categories being shown at the population mix to everyone) little bias.
* ``category``: their rate is higher only on prompts of their strong category, as when traffic is routed, or
  a provider tunes on the arena's prompts where it wins. The naive fit over-weights their best category:
  their ratings are inflated and they gain ranks.

Safeguards: every battle logs the probability with which its pair was sampled for its prompt's category, and
the fit weights each battle by 1/p (inverse-propensity weighting, ``BradleyTerry.fit(sampling_prob=…)``),
which recovers the population target; and a per-provider sampling-share report (overall and per category)
reveals the imbalance itself.
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

SCENARIOS: tuple[str, ...] = ("provider", "category")
METHODS: tuple[str, ...] = ("naive", "ipw")


@dataclass(frozen=True)
class SamplingSetup:
    """Parameters of the unequal-sampling simulation (see :func:`simulate_sampling`)."""

    n_providers: int = 6
    models_per_provider: int = 2
    n_favoured: int = 2
    rate_ratio: float = 5.0
    n_categories: int = 4
    specialty: float = 150.0
    spread: float = 60.0
    category_sd: float = 30.0
    n_battles: int = 100_000
    tie_param: float = 0.5
    world_seed: int = 0

    def validate(self) -> SamplingSetup:
        check_int("n_providers", self.n_providers, 2, 500)
        check_int("models_per_provider", self.models_per_provider, 1, 100)
        check_int("n_favoured", self.n_favoured, 1, self.n_providers - 1)
        check_float("rate_ratio", self.rate_ratio, 1.0, 1000.0)
        check_int("n_categories", self.n_categories, 2, 100)
        check_float("specialty", self.specialty, 0.0, 2000.0)
        check_float("spread", self.spread, 0.0, 2000.0)
        check_float("category_sd", self.category_sd, 0.0, 2000.0)
        check_int("n_battles", self.n_battles, 100 * self.n_providers * self.models_per_provider)
        check_float("tie_param", self.tie_param, 0.0, 10.0)
        return self

    def truth(self) -> TrueRatings:
        """The world: base ratings and category deviations drawn from ``world_seed``, specialties added."""
        rng = np.random.default_rng(np.random.SeedSequence([self.world_seed, 0x5A4D]))
        p, k, c = self.n_providers, self.models_per_provider, self.n_categories
        m = p * k
        base = 1000.0 + self.spread * rng.standard_normal(m)
        dev = self.category_sd * rng.standard_normal((m, c))
        dev -= dev.mean(axis=1, keepdims=True)
        provider = np.repeat(np.arange(p), k)
        for i in np.flatnonzero(provider < self.n_favoured):
            strong = int(provider[i]) % c
            dev[i] += np.where(np.arange(c) == strong, self.specialty, -self.specialty / (c - 1))
        names = tuple(f"p{provider[i]:02d}-m{i % k:02d}" for i in range(m))
        return TrueRatings.from_ratings(
            base[:, None] + dev,
            models=names,
            categories=default_names("cat", c),
            providers=tuple(f"p{x:02d}" for x in provider),
            tie_param=self.tie_param,
        )

    def favoured(self) -> NDArray[np.bool_]:
        """Which models belong to a favoured provider."""
        out: NDArray[np.bool_] = np.repeat(np.arange(self.n_providers), self.models_per_provider) < self.n_favoured
        return out

    def rates(self, scenario: str) -> FloatArray:
        """Sampling rates ``(n_models, n_categories)`` of a scenario."""
        fav = self.favoured()
        m, c = len(fav), self.n_categories
        rate = np.ones((m, c))
        if scenario == "provider":
            rate[fav] = self.rate_ratio
        elif scenario == "category":
            provider = np.repeat(np.arange(self.n_providers), self.models_per_provider)
            for i in np.flatnonzero(fav):
                rate[i, int(provider[i]) % c] = self.rate_ratio
        else:
            raise SimulationInputError(f"unknown scenario {scenario!r}; choose one of {', '.join(SCENARIOS)}")
        return rate


def _repetition(setup: SamplingSetup, truth: TrueRatings, seed: int) -> tuple[FloatArray, FloatArray]:
    """Estimates and standard errors ``(scenario, method, 2, M)`` and appearances ``(scenario, M, C)``."""
    rng = np.random.default_rng(seed)
    m, c = truth.n_models, truth.n_categories
    fits = np.empty((len(SCENARIOS), len(METHODS), 2, m))
    seen = np.empty((len(SCENARIOS), m, c))
    for s, scenario in enumerate(SCENARIOS):
        battles = generate_battles(truth, setup.n_battles, sampling_rate=setup.rates(scenario), random_state=rng)
        for j, method in enumerate(METHODS):
            fit = fit_battles(
                truth,
                battles.model_a,
                battles.model_b,
                battles.outcome,
                sampling_prob=battles.sampling_prob if method == "ipw" else None,
            )
            fits[s, j, 0], fits[s, j, 1] = fit.rating, fit.se
        seen[s] = _appearances_by_category(battles)
    return fits, seen


def _appearances_by_category(battles: SimulatedBattles) -> FloatArray:
    m, c = battles.truth.n_models, battles.truth.n_categories
    cells = np.bincount(battles.model_a * c + battles.category, minlength=m * c) + np.bincount(
        battles.model_b * c + battles.category, minlength=m * c
    )
    out: FloatArray = cells.reshape(m, c).astype(np.float64)
    return out


def _chunk(item: tuple[SamplingSetup, list[int]]) -> list[tuple[FloatArray, FloatArray]]:
    setup, seeds = item
    truth = setup.truth()
    with single_threaded_blas():
        return [_repetition(setup, truth, s) for s in seeds]


def rank_of(rating: FloatArray) -> NDArray[np.int64]:
    """1 + the number of models rated strictly higher (along the last axis)."""
    out: NDArray[np.int64] = 1 + (rating[..., None, :] > rating[..., :, None]).sum(axis=-1)
    return out


@dataclass(frozen=True)
class SamplingSummary:
    """One scenario and fitting method, averaged over repetitions (Monte Carlo standard errors in ``*_mc_se``).

    ``*_bias``: mean (estimate − population rating) over the favoured providers' models / the others.
    ``favoured_rank_gain``: mean (true rank − estimated rank) of the favoured models (positive: ranked too high).
    ``*_ci_width``: mean width of the 95% intervals. ``coverage``: share of all models' 95% intervals that
    contain the population rating. ``bias``: mean bias per model.
    """

    scenario: str
    method: str
    favoured_bias: float
    favoured_bias_mc_se: float
    other_bias: float
    other_bias_mc_se: float
    favoured_rank_gain: float
    favoured_rank_gain_mc_se: float
    favoured_ci_width: float
    other_ci_width: float
    coverage: float
    coverage_mc_se: float
    bias: tuple[float, ...]


@dataclass(frozen=True)
class ProviderShare:
    """The sampling-share report for one provider: its share of all model appearances in battles, against the
    share it would get if every pair were sampled equally (its share of the models), overall and per category."""

    scenario: str
    provider: str
    favoured: bool
    n_models: int
    share: float
    fair_share: float
    ratio: float
    category_share: tuple[float, ...]
    category_ratio: tuple[float, ...]


def provider_shares(battles: SimulatedBattles, scenario: str = "") -> tuple[ProviderShare, ...]:
    """The per-provider sampling-share report of a set of battles (``favoured`` is left False)."""
    return _shares(battles.truth, _appearances_by_category(battles), scenario, np.zeros(battles.truth.n_models, bool))


def _shares(
    truth: TrueRatings, seen: FloatArray, scenario: str, favoured: NDArray[np.bool_]
) -> tuple[ProviderShare, ...]:
    codes, names = truth.provider_codes()
    m = truth.n_models
    by_provider = np.zeros((len(names), seen.shape[1]))
    np.add.at(by_provider, codes, seen)
    total = by_provider.sum()
    n_models = np.bincount(codes, minlength=len(names))
    fair = n_models / m
    out = []
    for p, name in enumerate(names):
        share = float(by_provider[p].sum() / total) if total else 0.0
        cat_total = by_provider.sum(axis=0)
        cat_share = np.divide(by_provider[p], cat_total, out=np.zeros_like(cat_total), where=cat_total > 0)
        out.append(
            ProviderShare(
                scenario=scenario,
                provider=name,
                favoured=bool(favoured[codes == p].any()),
                n_models=int(n_models[p]),
                share=share,
                fair_share=float(fair[p]),
                ratio=share / float(fair[p]),
                category_share=floats(cat_share),
                category_ratio=floats(cat_share / fair[p]),
            )
        )
    return tuple(out)


@dataclass(frozen=True)
class SamplingResult:
    """What unequal sampling does to the leaderboard, naive and with inverse-propensity weighting."""

    setup: SamplingSetup
    n_repetitions: int
    random_state: int
    models: tuple[str, ...]
    providers: tuple[str, ...]
    favoured: tuple[bool, ...]
    categories: tuple[str, ...]
    population_rating: tuple[float, ...]
    summaries: tuple[SamplingSummary, ...]
    shares: tuple[ProviderShare, ...]
    illusions: tuple[Illusion, ...]

    def summary(self, scenario: str, method: str) -> SamplingSummary:
        """The summary of one scenario and method."""
        for s in self.summaries:
            if s.scenario == scenario and s.method == method:
                return s
        raise SimulationInputError(f"no summary for scenario {scenario!r} and method {method!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (numbers, the seed and the parameters)."""
        return {"simulation": "sampling", **asdict(self)}


def simulate_sampling(
    *,
    n_repetitions: int = 100,
    n_battles: int = 100_000,
    n_providers: int = 6,
    models_per_provider: int = 2,
    n_favoured: int = 2,
    rate_ratio: float = 5.0,
    n_categories: int = 4,
    specialty: float = 150.0,
    spread: float = 60.0,
    category_sd: float = 30.0,
    tie_param: float = 0.5,
    random_state: int = 0,
    workers: int | None = 1,
    ray_address: str | None = None,
    settings: Settings | None = None,
    progress: bool = False,
) -> SamplingResult:
    """Simulate unequal sampling rates between providers, naive and inverse-propensity-weighted fits.

    Args:
        n_repetitions: Monte Carlo repetitions (the world is fixed by ``random_state``; battles are redrawn).
        n_battles: battles per scenario and repetition.
        n_providers, models_per_provider: the providers and their models.
        n_favoured, rate_ratio: the first ``n_favoured`` providers are sampled ``rate_ratio`` times more often.
        n_categories, specialty: prompt categories; each favoured provider's models gain ``specialty`` Elo in
            one category (and lose ``specialty/(C−1)`` in the others).
        spread, category_sd: standard deviations of the base ratings and of the other category deviations.
        tie_param: Davidson's ν of the generator.
        random_state: seed of the world and of the repetitions.
        workers, ray_address, settings, progress: how the repetitions run (:mod:`trustplane.core.jobs`).
    """
    seed = check_int("random_state", random_state, 0)
    setup = SamplingSetup(
        n_providers,
        models_per_provider,
        n_favoured,
        rate_ratio,
        n_categories,
        specialty,
        spread,
        category_sd,
        n_battles,
        tie_param,
        seed,
    ).validate()
    reps = check_int("n_repetitions", n_repetitions, 2)
    out = run_repetitions(
        _chunk,
        setup,
        reps,
        seed,
        workers=workers,
        ray_address=ray_address,
        settings=settings,
        progress=progress,
        description="unequal sampling",
    )
    fits = np.stack([o[0] for o in out])  # (R, S, J, 2, M)
    seen = np.stack([o[1] for o in out]).mean(axis=0)  # (S, M, C)
    truth = setup.truth()
    target = truth.population_ratings()
    true_rank = rank_of(target)
    fav = setup.favoured()
    summaries = []
    for s, scenario in enumerate(SCENARIOS):
        for j, method in enumerate(METHODS):
            est, se = fits[:, s, j, 0], fits[:, s, j, 1]
            err = est - target
            fb = mc_mean(err[:, fav].mean(axis=1))
            ob = mc_mean(err[:, ~fav].mean(axis=1))
            gain = mc_mean((true_rank[None, :] - rank_of(est))[:, fav].mean(axis=1))
            cover = mc_mean((np.abs(err) <= Z95 * se).mean(axis=1))
            summaries.append(
                SamplingSummary(
                    scenario=scenario,
                    method=method,
                    favoured_bias=float(fb[0]),
                    favoured_bias_mc_se=float(fb[1]),
                    other_bias=float(ob[0]),
                    other_bias_mc_se=float(ob[1]),
                    favoured_rank_gain=float(gain[0]),
                    favoured_rank_gain_mc_se=float(gain[1]),
                    favoured_ci_width=float(2 * Z95 * se[:, fav].mean()),
                    other_ci_width=float(2 * Z95 * se[:, ~fav].mean()),
                    coverage=float(cover[0]),
                    coverage_mc_se=float(cover[1]),
                    bias=floats(err.mean(axis=0)),
                )
            )
    shares = tuple(x for s, scenario in enumerate(SCENARIOS) for x in _shares(truth, seen[s], scenario, fav))
    result = SamplingResult(
        setup=setup,
        n_repetitions=reps,
        random_state=seed,
        models=truth.models,
        providers=truth.providers,
        favoured=tuple(bool(x) for x in fav),
        categories=truth.categories,
        population_rating=floats(target),
        summaries=tuple(summaries),
        shares=shares,
        illusions=(),
    )
    return _with_illusions(result)


def _with_illusions(result: SamplingResult) -> SamplingResult:
    ratio = result.setup.rate_ratio
    rows = []
    for scenario, label in (
        ("category", f"favoured providers sampled {ratio:g}× on their strong category"),
        ("provider", f"favoured providers sampled {ratio:g}× on every prompt"),
    ):
        naive, ipw = result.summary(scenario, "naive"), result.summary(scenario, "ipw")
        rows.append(
            Illusion(
                name=f"rating inflation ({label})",
                measure="mean estimate − population rating of the favoured providers' models",
                unit="Elo",
                without=naive.favoured_bias,
                without_mc_se=naive.favoured_bias_mc_se,
                safeguard="inverse-propensity weighting with the logged sampling probabilities",
                with_safeguard=ipw.favoured_bias,
                with_mc_se=ipw.favoured_bias_mc_se,
            )
        )
        rows.append(
            Illusion(
                name=f"rank gain ({label})",
                measure="mean true rank − estimated rank of the favoured providers' models",
                unit="ranks",
                without=naive.favoured_rank_gain,
                without_mc_se=naive.favoured_rank_gain_mc_se,
                safeguard="inverse-propensity weighting with the logged sampling probabilities",
                with_safeguard=ipw.favoured_rank_gain,
                with_mc_se=ipw.favoured_rank_gain_mc_se,
            )
        )
    return replace(result, illusions=tuple(rows))


def plot_sampling(result: SamplingResult, out_dir: Path | str) -> SavedFigure:
    """Bias per model (naive vs IPW, category scenario), interval widths and the share report."""
    plt = pyplot()
    fav = np.asarray(result.favoured)
    m = len(result.models)
    x = np.arange(m)
    fig, (ax_b, ax_w, ax_s) = plt.subplots(1, 3, figsize=(16, 4.8))
    colours = {"naive": "tab:red", "ipw": "tab:blue"}
    for k, method in enumerate(METHODS):
        s = result.summary("category", method)
        ax_b.bar(x + (k - 0.5) * 0.4, s.bias, width=0.4, color=colours[method], label=method.upper())
    ax_b.axhline(0, color="grey", lw=0.8)
    ax_b.set_xticks(x)
    ax_b.set_xticklabels(
        [f"{n}{' *' if f else ''}" for n, f in zip(result.models, fav, strict=True)], rotation=60, fontsize=7
    )
    ax_b.set_ylabel("mean estimate − population rating (Elo)")
    ax_b.set_title("category-dependent sampling (* favoured)")
    ax_b.legend()
    labels, widths, colours_w = [], [], []
    for scenario in SCENARIOS:
        for method in METHODS:
            s = result.summary(scenario, method)
            labels += [f"{scenario}\n{method}\nfavoured", f"{scenario}\n{method}\nothers"]
            widths += [s.favoured_ci_width, s.other_ci_width]
            colours_w += ["tab:orange", "tab:grey"]
    ax_w.bar(np.arange(len(widths)), widths, color=colours_w)
    ax_w.set_xticks(np.arange(len(widths)))
    ax_w.set_xticklabels(labels, fontsize=7)
    ax_w.set_ylabel("mean 95% interval width (Elo)")
    ax_w.set_title("more battles → narrower intervals")
    provs = [s for s in result.shares if s.scenario == "category"]
    provs_p = [s for s in result.shares if s.scenario == "provider"]
    xp = np.arange(len(provs))
    ax_s.bar(xp - 0.2, [s.ratio for s in provs_p], width=0.4, color="tab:purple", label="provider: overall")
    ax_s.bar(
        xp + 0.2,
        [max(s.category_ratio) for s in provs],
        width=0.4,
        color="tab:green",
        label="category: max over categories",
    )
    ax_s.axhline(1.0, color="grey", lw=0.8, ls="--")
    ax_s.set_xticks(xp)
    ax_s.set_xticklabels([f"{s.provider}{' *' if s.favoured else ''}" for s in provs])
    ax_s.set_ylabel("share of appearances / fair share")
    ax_s.set_title("the sampling-share report")
    ax_s.legend(fontsize=8)
    fig.suptitle(f"Unequal sampling ({result.n_repetitions} repetitions, seed {result.random_state})")
    rows = [
        [
            s.scenario,
            s.method,
            s.favoured_bias,
            s.favoured_bias_mc_se,
            s.favoured_rank_gain,
            s.favoured_ci_width,
            s.other_ci_width,
            s.coverage,
        ]
        for s in result.summaries
    ]
    saved = save_figure(
        fig,
        Path(out_dir) / "arena-sampling",
        title="Unequal sampling rates between providers",
        caption=(
            f"{result.setup.n_favoured} of {result.setup.n_providers} providers sampled {result.setup.rate_ratio:g}× "
            f"more often; {result.setup.n_battles} battles a repetition. Left: bias of each model's rating when the "
            "extra sampling is on the favoured providers' strong category, naive fit vs inverse-propensity "
            "weighting. Middle: interval widths. Right: the per-provider sampling-share report."
        ),
        table=(
            [
                "scenario",
                "method",
                "favoured bias",
                "MC se",
                "rank gain",
                "CI width fav.",
                "CI width others",
                "coverage",
            ],
            rows,
        ),
    )
    plt.close(fig)
    return saved
