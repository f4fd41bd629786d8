"""The reproduction experiment: K = 2, D = 2, N = 2…30 over seeded random configurations."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trustplane.core.reports import pyplot, save_figure
from trustplane.markets.hdg._errors import MarketInputError
from trustplane.markets.hdg._game import FloatArray, random_game
from trustplane.markets.hdg._theory import critical_temperature, max_heterogeneous_temperature


@dataclass(frozen=True)
class SweepResult:
    """t̲/(2ℓ_max) and the largest heterogeneous-PNE temperature (over ℓ_max) per configuration and N.

    Attributes:
        n_values: the provider counts N.
        ratio: t̲(N)/(2ℓ_max), shape ``(configs, len(n_values))``.
        t_het: largest scanned t/ℓ_max with a two-cluster heterogeneous grid PNE (0 if none), same shape.
        seed: the seed of the configurations.
        configs: number of random configurations.
    """

    n_values: list[int]
    ratio: FloatArray
    t_het: FloatArray
    seed: int
    configs: int
    resolution: int

    def to_dict(self) -> dict[str, object]:
        return {
            "n_values": self.n_values,
            "seed": self.seed,
            "configs": self.configs,
            "resolution": self.resolution,
            "ratio_median": np.median(self.ratio, axis=0).tolist(),
            "ratio_max": self.ratio.max(axis=0).tolist(),
            "t_het_over_ell_max_median": np.median(self.t_het, axis=0).tolist(),
            "ratio": self.ratio.tolist(),
            "t_het_over_ell_max": self.t_het.tolist(),
        }


def run_sweep(
    configs: int = 20, seed: int = 0, n_values: list[int] | None = None, resolution: int = 20, n_temperatures: int = 33
) -> SweepResult:
    """Run the experiment (K = 2 sources, D = 2): for each configuration and N, t̲ and the t_het scan."""
    if configs < 1:
        raise MarketInputError("configs must be positive")
    ns = list(range(2, 31)) if n_values is None else [int(n) for n in n_values]
    if any(n < 2 for n in ns):
        raise MarketInputError("every N must be at least 2")
    rng = np.random.default_rng(seed)
    ratio = np.zeros((configs, len(ns)))
    t_het = np.zeros((configs, len(ns)))
    scan = np.logspace(-3, 1.5, n_temperatures)
    for c in range(configs):
        base = random_game(2, 2, 2, rule="prop", temperature=1.0, random_state=rng)
        lmax = base.ell_max()
        for i, n in enumerate(ns):
            g = base.with_(n_providers=n)
            ratio[c, i] = critical_temperature(g).ratio
            t_het[c, i] = max_heterogeneous_temperature(g, lmax * scan, resolution=resolution) / lmax
    return SweepResult(ns, ratio, t_het, seed, configs, resolution)


def plot_sweep(result: SweepResult, out: Path) -> list[Path]:
    """Write the two reproduction plots (PNG + HTML) into ``out``; returns the PNG paths."""
    plt = pyplot()
    ns = result.n_values
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.boxplot([result.ratio[:, i] for i in range(len(ns))], positions=ns, widths=0.6)
    ax.axhline(1.0, color="tab:red", lw=1, ls="--", label="t̲ = 2ℓ_max")
    ax.set_xlabel("number of providers N")
    ax.set_ylabel("t̲ / (2 ℓ_max)")
    ax.set_title("Homogeneous PROP equilibrium threshold (K=2, D=2)")
    ax.legend()
    rows = [[n, float(np.median(result.ratio[:, i])), float(result.ratio[:, i].max())] for i, n in enumerate(ns)]
    a = save_figure(
        fig,
        out / "hdg-threshold-ratio",
        title="t̲/(2ℓ_max) against N",
        caption=f"{result.configs} random configurations (seed {result.seed}); t̲ by bisection on the PNE condition.",
        table=(["N", "median ratio", "max ratio"], rows),
    )
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    med = np.median(result.t_het, axis=0)
    lo, hi = np.quantile(result.t_het, [0.25, 0.75], axis=0)
    ax.plot(ns, med, marker="o", label="median")
    ax.fill_between(ns, lo, hi, alpha=0.3, label="interquartile range")
    ax.plot(ns, np.median(2 * result.ratio, axis=0), ls="--", label="median t̲/ℓ_max (homogeneous)")
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.set_xlabel("number of providers N")
    ax.set_ylabel("largest t / ℓ_max with a heterogeneous PNE")
    ax.set_title("Largest temperature admitting a heterogeneous PNE (K=2, D=2)")
    ax.legend()
    rows = [[n, float(med[i]), float(lo[i]), float(hi[i])] for i, n in enumerate(ns)]
    b = save_figure(
        fig,
        out / "hdg-heterogeneous-temperature",
        title="Largest temperature admitting a heterogeneous PNE",
        caption=(
            f"Two-cluster equilibria of the grid game (resolution {result.resolution}) that survive a dense "
            "deviation check; temperatures scanned on a log grid. Simulated, not proved."
        ),
        table=(["N", "median t/ℓ_max", "q25", "q75"], rows),
    )
    plt.close(fig)
    return [a.png, b.png]
