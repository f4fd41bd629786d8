"""Figures: example paths, amplification maps and Monte Carlo sampling distributions (PNG + HTML)."""

from __future__ import annotations

from pathlib import Path as FsPath

import numpy as np

from trustplane.core.reports import SavedFigure, pyplot, save_figure

from ._errors import PerformativeInputError
from ._estimate import MonteCarloResult, quantity
from ._model import FloatArray, Regime, check_params, path


def plot_paths(
    a: float,
    b: float,
    c: float,
    out_dir: FsPath | str,
    *,
    p0: float | None = None,
    theta0: float | None = None,
    eta: float = 0.25,
    horizon: int = 40,
    regime: Regime = "rapid",
) -> SavedFigure:
    """p_t and θ_t for PRM, RRM and RGD from the same start, with the no-deployment baseline."""
    plt = pyplot()
    paths = {
        m: path(m, a, b, c, p0=p0, theta0=theta0, eta=eta, horizon=horizon, regime=regime)
        for m in ("prm", "rrm", "rgd")
    }
    fig, (ax_p, ax_t) = plt.subplots(1, 2, figsize=(10, 4))
    t = np.arange(horizon + 1)
    colours = {"prm": "tab:red", "rrm": "tab:blue", "rgd": "tab:green"}
    for m, pth in paths.items():
        ax_p.plot(t, pth.p, label=m.upper(), color=colours[m])
        ax_t.plot(t[:-1], pth.theta, label=m.upper(), color=colours[m])
    ax_p.plot(t, paths["prm"].baseline, "k--", label="no deployment")
    clock = "period t" if regime == "rapid" else "deployment k"
    ax_p.set(xlabel=clock, ylabel="p", title="distribution p")
    ax_t.set(xlabel=clock, ylabel="θ", title="forecast θ")
    ax_p.legend()
    fig.suptitle(f"{regime} deployment, a={a:g}, b={b:g}, c={c:g}, η={eta:g}")
    rows = [
        [m.upper(), float(p.p[-1]), float(p.theta[-1]), float(p.bias[-1]), float(p.shift[-1]), p.rate]
        for m, p in paths.items()
    ]
    saved = save_figure(
        fig,
        FsPath(out_dir) / f"prm-paths-{regime}",
        title=f"PRM, RRM and RGD paths ({regime} deployment)",
        caption="Closed-form paths from the same p₀; the dashed line is the path with no performative effect "
        "(θ ≡ 0, equivalently b = 0). The table gives the values at the horizon.",
        table=(["method", "p_T", "θ_{T−1}", "bias θ−p", "shift p−p⁰", "rate"], rows),
    )
    plt.close(fig)
    return saved


def _rapid_amplification(a: float, bs: FloatArray, cs: FloatArray, horizon: int) -> FloatArray:
    out = np.full((cs.size, bs.size), np.nan)
    for i, c in enumerate(cs):
        for j, b in enumerate(bs):
            try:
                check_params(a, float(b), float(c))
                prm = path("prm", a, float(b), float(c), horizon=horizon)
                rrm = path("rrm", a, float(b), float(c), horizon=1)
            except PerformativeInputError:
                continue
            if prm.limit is None:
                continue
            out[i, j] = abs(prm.limit.shift) - abs(rrm.fixed_points[0].shift)
    return out


def plot_amplification(out_dir: FsPath | str, *, a: float = 0.2, grid: int = 41, horizon: int = 2000) -> SavedFigure:
    """Heatmaps of |shift_PRM| − |shift_RRM|: one-period over (a, b); slow and rapid over (b, c) at ``a``.

    Red cells: PRM moves the distribution further than RRM. Blank cells: invalid parameters (p leaves
    [0, 1]), PRM undefined (b or b/(1 − c) ≥ 1/2), or (rapid) no convergence within the horizon.
    """
    if not 3 <= grid <= 201:
        raise PerformativeInputError(f"grid must be between 3 and 201 points, got {grid}")
    plt = pyplot()
    a_vals = np.linspace(0.0, 1.0, grid)
    b_vals = np.linspace(-0.5, 0.5, grid)
    c_vals = np.linspace(-0.6, 0.6, grid)
    aa, bb = np.meshgrid(a_vals, b_vals, indexing="xy")
    valid_ab = (aa + np.minimum(bb, 0) >= 0) & (aa + np.maximum(bb, 0) <= 1)
    one = np.where(valid_ab, quantity("amplification", aa, bb, 0.0), np.nan)
    bc_b, bc_c = np.meshgrid(b_vals, c_vals, indexing="xy")
    valid_bc = (a + np.minimum(bc_b, 0) + np.minimum(bc_c, 0) >= 0) & (
        a + np.maximum(bc_b, 0) + np.maximum(bc_c, 0) <= 1
    )
    slow = np.where(valid_bc, quantity("amplification", a, bc_b, bc_c), np.nan)
    rapid = _rapid_amplification(a, b_vals, c_vals, horizon)
    lim = float(np.nanmax(np.abs(np.concatenate([one.ravel(), slow.ravel(), rapid.ravel()]))))
    lim = lim if lim > 0 else 1.0
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    panels = [
        (axes[0], one, a_vals, b_vals, "a", "b", "one-period (c = 0)"),
        (axes[1], slow, b_vals, c_vals, "b", "c", f"slow deployment, a = {a:g}"),
        (axes[2], rapid, b_vals, c_vals, "b", "c", f"rapid deployment, a = {a:g}, p₀ = a/(1 − c)"),
    ]
    rows = []
    for ax, z, xs, ys, xl, yl, title in panels:
        im = ax.pcolormesh(xs, ys, z, cmap="RdBu_r", vmin=-lim, vmax=lim, shading="nearest")
        ax.set(xlabel=xl, ylabel=yl, title=title)
        finite = z[np.isfinite(z)]
        rows.append(
            [
                title,
                int(finite.size),
                float(np.mean(finite > 0)) if finite.size else float("nan"),
                float(finite.max()) if finite.size else float("nan"),
                float(finite.min()) if finite.size else float("nan"),
            ]
        )
    axes[0].plot(a_vals, 1 - 2 * a_vals, "k:", label="a/(1 − b) = 1/2")
    axes[0].set_ylim(b_vals[0], b_vals[-1])
    axes[0].legend(loc="lower left")
    fig.colorbar(im, ax=axes, label="|shift PRM| − |shift RRM|")
    saved = save_figure(
        fig,
        FsPath(out_dir) / "prm-amplification",
        title="When PRM amplifies the distribution shift relative to RRM",
        caption="|p_PRM − p⁰| − |p_RRM − p⁰| at the fixed points (p⁰ = a/(1 − c), the no-deployment steady state). "
        "Red: PRM shifts further. One-period: PRM amplifies iff sign(b)·(a/(1 − b) − 1/2) > 0 (dotted line).",
        table=(["panel", "valid cells", "share PRM amplifies", "max", "min"], rows),
    )
    plt.close(fig)
    return saved


def plot_monte_carlo(result: MonteCarloResult, out_dir: FsPath | str) -> SavedFigure:
    """Histogram of the plug-in estimates with the truth and the normal approximation."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.hist(result.estimates, bins=60, density=True, color="tab:gray", alpha=0.7, label="estimates")
    xs = np.linspace(float(result.estimates.min()), float(result.estimates.max()), 200)
    sd = result.mean_se if result.mean_se > 0 else 1.0
    ax.plot(
        xs,
        np.exp(-0.5 * ((xs - result.true_value) / sd) ** 2) / (sd * np.sqrt(2 * np.pi)),
        "b-",
        label="N(truth, mean se²)",
    )
    ax.axvline(result.true_value, color="r", label="truth")
    ax.set(xlabel=result.quantity, ylabel="density", title=f"{result.n_valid} runs, coverage {result.coverage:.3f}")
    ax.legend()
    saved = save_figure(
        fig,
        FsPath(out_dir) / f"prm-simulate-{result.quantity}",
        title=f"Plug-in estimator of {result.quantity}",
        caption=f"a={result.a:g}, b={result.b:g}, c={result.c:g}; {result.n_periods} periods × {result.n_samples} "
        f"samples per run; seed {result.random_state}.",
        table=(
            ["quantity", "truth", "mean", "bias", "variance", "rmse", "mean se", "coverage", "coverage MC se"],
            [
                [
                    result.quantity,
                    result.true_value,
                    result.mean,
                    result.bias,
                    result.variance,
                    result.rmse,
                    result.mean_se,
                    result.coverage,
                    result.coverage_mc_se,
                ]
            ],
        ),
    )
    plt.close(fig)
    return saved
