"""Arena rating engine benchmark: trustplane's Bradley–Terry vs FastChat, choix and lmarena's arena-rank.

Synthetic battles are drawn from known true ratings (250 models, ~30% ties, 2M battles; ``--quick``: 200k).
Ties are drawn so that "a tie is half a win" is correctly specified in the mean: P(tie) = 2τσ(d)(1−σ(d)),
P(a wins) = σ(d) − P(tie)/2; a third of the ties are "tie (bothbad)". One model is named
``mixtral-8x7b-instruct-v0.1`` and anchored at 1114, as FastChat does.

Compared:

- **FastChat**: ``compute_mle_elo`` and ``get_bootstrap_result`` of FastChat's leaderboard notebook
  (pivot tables → doubled win matrix → sklearn ``LogisticRegression(fit_intercept=False, penalty=None,
  tol=1e-6)``; bootstrap = ``df.sample(frac=1, replace=True)`` then a full refit, 100 rounds), reimplemented
  here faithfully because the PyPI ``fschat`` 0.2.36 ``elo_analysis`` module ships an older dense variant
  (``compute_elo_mle_with_tie``: 2N×M dense design, L2 penalty C=1, default tol) and pulls plotly etc. That
  older PyPI function is also timed when the data is small enough for its dense design (``--quick``).
  The 100-round bootstrap is timed on a few rounds and extrapolated (the JSON says so).
- **choix** ``opt_pairwise`` (Newton-CG) on the doubled comparisons (ties: one win each way), if installed.
- **arena-rank** ``BradleyTerry`` with sandwich CIs (its bootstrap forks a process pool with JAX; not run). It pins
  NumPy and pulls in JAX, so it runs in its own virtual environment under ``bench/.cache`` (created on first use;
  ``--no-arena-rank`` skips it), on the same battles handed over as Parquet; in-process when importable here.

The battles are timed twice: as string columns (pandas' default Arrow-backed ``str``; the headline) and as
categorical columns (what a Parquet export with dictionary-encoded names reads back as), each side given the same
DataFrame.

Also: error vs truth, CI coverage of the truth over repeated simulations of 200k battles (100 for the
sandwich, 20 for the bootstrap; 40/10 with ``--quick``), and the time of a refit from the aggregated counts.

Run: ``python bench/bench_arena_ratings.py [--quick]``; writes bench/results/arena_ratings.json.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.arena.ratings import BradleyTerry

ARENA_RANK_VENV = Path(__file__).resolve().parent / ".cache" / "arena-rank-venv"
ARENA_RANK_RUN = """
import json, sys, time
import numpy as np, pandas as pd
from importlib.metadata import version
from arena_rank.models.bradley_terry import BradleyTerry
from arena_rank.utils.data_utils import PairDataset

df = pd.read_parquet(sys.argv[1])
def fit():
    ds = PairDataset.from_pandas(df)
    return dict(BradleyTerry(n_competitors=len(ds.competitors)).compute_ratings_and_cis(ds, ci_method="sandwich"))
fit()  # JIT compile
t0 = time.perf_counter()
out = fit()
seconds = time.perf_counter() - t0
json.dump({"seconds": seconds, "version": version("arena-rank"), "competitors": [str(c) for c in out["competitors"]],
           "ratings": np.asarray(out["ratings"], dtype=float).tolist()}, open(sys.argv[2], "w"))
"""
ANCHOR = "mixtral-8x7b-instruct-v0.1"
ANCHOR_RATING = 1114.0
ALPHA = 400 / math.log(10)


def simulate(m: int, n: int, rng: np.random.Generator, tau: float = 0.8) -> tuple[pd.DataFrame, pd.Series]:
    theta = rng.normal(0, 0.7, m)
    names = np.array([ANCHOR] + [f"model-{i:03d}" for i in range(1, m)], dtype=object)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    s = 1 / (1 + np.exp(-(theta[a] - theta[b])))
    pt = 2 * tau * s * (1 - s)
    u = rng.random(n)
    winner = np.where(u < s - pt / 2, "model_a", np.where(u < s + pt / 2, "tie", "model_b")).astype(object)
    bothbad = (winner == "tie") & (rng.random(n) < 1 / 3)
    winner[bothbad] = "tie (bothbad)"
    df = pd.DataFrame({"model_a": names[a], "model_b": names[b], "winner": winner})
    truth = pd.Series(ALPHA * (theta - theta[0]) + ANCHOR_RATING, index=names)
    return df, truth


# --- FastChat (leaderboard notebook), faithful reimplementation ---------------------------------------
def fastchat_compute_mle_elo(
    df: pd.DataFrame, scale: float = 400, base: float = 10, init_rating: float = 1000, tol: float = 1e-6
) -> pd.Series:
    from sklearn.linear_model import LogisticRegression

    ptbl_a_win = pd.pivot_table(
        df[df["winner"] == "model_a"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    if sum(df["winner"].isin(["tie", "tie (bothbad)"])) == 0:
        ptbl_tie = pd.DataFrame(0, index=ptbl_a_win.index, columns=ptbl_a_win.columns)
    else:
        ptbl_tie = pd.pivot_table(
            df[df["winner"].isin(["tie", "tie (bothbad)"])],
            index="model_a",
            columns="model_b",
            aggfunc="size",
            fill_value=0,
        )
        ptbl_tie = ptbl_tie + ptbl_tie.T
    ptbl_b_win = pd.pivot_table(
        df[df["winner"] == "model_b"], index="model_a", columns="model_b", aggfunc="size", fill_value=0
    )
    ptbl_win = ptbl_a_win * 2 + ptbl_b_win.T * 2 + ptbl_tie
    models = pd.Series(np.arange(len(ptbl_win.index)), index=ptbl_win.index)
    p = len(models)
    x = np.zeros([p * (p - 1) * 2, p])
    y = np.zeros(p * (p - 1) * 2)
    cur_row = 0
    sample_weights = []
    for m_a in ptbl_win.index:
        for m_b in ptbl_win.columns:
            if m_a == m_b:
                continue
            if math.isnan(ptbl_win.loc[m_a, m_b]) or math.isnan(ptbl_win.loc[m_b, m_a]):
                continue
            x[cur_row, models[m_a]] = +math.log(base)
            x[cur_row, models[m_b]] = -math.log(base)
            y[cur_row] = 1.0
            sample_weights.append(ptbl_win.loc[m_a, m_b])
            x[cur_row + 1, models[m_a]] = math.log(base)
            x[cur_row + 1, models[m_b]] = -math.log(base)
            y[cur_row + 1] = 0.0
            sample_weights.append(ptbl_win.loc[m_b, m_a])
            cur_row += 2
    x = x[:cur_row]
    y = y[:cur_row]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            lr = LogisticRegression(fit_intercept=False, penalty=None, tol=tol)
        except TypeError:  # pragma: no cover - sklearn without ``penalty``
            lr = LogisticRegression(fit_intercept=False, C=np.inf, tol=tol)
        lr.fit(x, y, sample_weight=sample_weights)
    elo_scores = scale * lr.coef_[0] + init_rating
    if ANCHOR in models.index:
        elo_scores += ANCHOR_RATING - elo_scores[models[ANCHOR]]
    return pd.Series(elo_scores, index=models.index).sort_values(ascending=False)


def fastchat_get_bootstrap_result(battles: pd.DataFrame, func: Any, num_round: int) -> pd.DataFrame:
    rows = []
    for _ in range(num_round):
        rows.append(func(battles.sample(frac=1.0, replace=True)))
    df = pd.DataFrame(rows)
    return df[df.median().sort_values(ascending=False).index]


def best_of(fn: Any, repeat: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def ours_fit(df: pd.DataFrame, ci: str | None = None, **kw: Any) -> BradleyTerry:
    return BradleyTerry(anchor=ANCHOR, anchor_rating=ANCHOR_RATING, ci=ci, random_state=0, **kw).fit(
        df["model_a"], df["model_b"], df["winner"]
    )


def max_abs_diff(ours: dict[str, float], theirs: pd.Series) -> float:
    return float(max(abs(ours[k] - float(theirs[k])) for k in theirs.index))


def arena_rank(df: pd.DataFrame, ours: dict[str, float]) -> dict[str, Any]:
    """lmarena's arena-rank on the same battles: in process when importable, else in its own virtual environment."""
    function = "arena_rank BradleyTerry.compute_ratings_and_cis(ci_method='sandwich')"
    try:
        from arena_rank.models.bradley_terry import BradleyTerry as ARBradleyTerry
        from arena_rank.utils.data_utils import PairDataset

        def ar_fit() -> dict[str, Any]:
            ds = PairDataset.from_pandas(df)
            model = ARBradleyTerry(n_competitors=len(ds.competitors))
            return dict(model.compute_ratings_and_cis(ds, ci_method="sandwich"))

        ar_fit()  # JIT compile
        seconds, ar = best_of(ar_fit, 1)
        out = {"seconds": seconds, "competitors": list(ar["competitors"]), "ratings": np.asarray(ar["ratings"])}
        where = "in process"
    except ImportError:
        python = ARENA_RANK_VENV / "bin" / "python"
        try:
            if not python.exists():
                print(f"creating {ARENA_RANK_VENV} and installing arena-rank (once; it pulls in JAX)", flush=True)
                base = getattr(sys, "_base_executable", sys.executable)
                subprocess.run([base, "-m", "venv", str(ARENA_RANK_VENV)], check=True)
                subprocess.run([str(python), "-m", "pip", "install", "-q", "arena-rank", "pyarrow"], check=True)
            with tempfile.TemporaryDirectory() as tmp:
                data, answer = Path(tmp) / "battles.parquet", Path(tmp) / "out.json"
                df.to_parquet(data)
                subprocess.run([str(python), "-c", ARENA_RANK_RUN, str(data), str(answer)], check=True, timeout=1800)
                out = json.loads(answer.read_text())
        except (OSError, subprocess.SubprocessError) as exc:
            return {"skipped": f"arena-rank could not run in {ARENA_RANK_VENV}: {exc}"}
        where = f"own virtual environment (arena-rank {out['version']})"
    ar_r = pd.Series(np.asarray(out["ratings"], dtype=float), index=out["competitors"])
    ar_r = ar_r + (ANCHOR_RATING - ar_r[ANCHOR])
    return {
        "function": function,
        "where": where,
        "fit_plus_sandwich_seconds": float(out["seconds"]),
        "max_abs_delta_elo_vs_trustplane": max_abs_diff(ours, ar_r),
    }


def coverage(m: int, n: int, reps: int, method: str, seed: int) -> dict[str, Any]:
    """Coverage of the true ratings over ``reps`` fresh simulations, for anchored and for centred ratings.

    Anchored intervals share the anchor's estimation error, so their coverage is strongly correlated within a
    simulation; centred ratings (no anchor, mean 1000) give a much tighter estimate of the same property.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {"method": method, "simulations": reps, "battles_per_simulation": n}
    per_sim: dict[str, list[float]] = {"anchored": [], "centred": []}
    rank_ok, wall = 0, 0.0
    for r in range(reps):
        df, truth = simulate(m, n, rng)
        for kind in ("anchored", "centred"):
            anchor = ANCHOR if kind == "anchored" else None
            t0 = time.perf_counter()
            res = (
                BradleyTerry(anchor=anchor, anchor_rating=ANCHOR_RATING, ci=method, random_state=r)
                .fit(df["model_a"], df["model_b"], df["winner"])
                .result_
            )
            wall += time.perf_counter() - t0
            assert res.lower is not None and res.upper is not None and res.ranks is not None
            t = truth[list(res.models)].to_numpy()
            if anchor is None:
                t = t - t.mean() + 1000.0
            free = np.array([mm != anchor for mm in res.models])
            inside = (res.lower <= t + 1e-9) & (t - 1e-9 <= res.upper)
            per_sim[kind].append(float(inside[free].mean()))
            if kind == "centred":
                true_rank = 1 + (t[None, :] > t[:, None]).sum(axis=1)
                rank_ok += bool(np.all((res.ranks.lower <= true_rank) & (true_rank <= res.ranks.upper)))
    for kind, vals in per_sim.items():
        arr = np.array(vals)
        out[kind] = {"coverage": float(arr.mean()), "se_over_simulations": float(arr.std(ddof=1) / math.sqrt(reps))}
    out["simultaneous_rank_interval_coverage"] = rank_ok / reps
    out["mean_seconds_per_fit_with_ci"] = wall / (2 * reps)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200k battles, fewer rounds and simulations")
    parser.add_argument("--no-arena-rank", action="store_true", help="skip lmarena's arena-rank (no install)")
    args = parser.parse_args()
    m = 250
    n = 200_000 if args.quick else 2_000_000
    fc_rounds = 3 if args.quick else 2
    rng = np.random.default_rng(0)
    df, truth = simulate(m, n, rng)
    tie_share = float(df["winner"].isin(["tie", "tie (bothbad)"]).mean())
    result: dict[str, Any] = {"models": m, "battles": n, "tie_share": tie_share, "quick": args.quick}

    # trustplane
    ours_fit(df)  # warm caches
    fit_s, bt = best_of(lambda: ours_fit(df), 3)
    sand_s, sand = best_of(lambda: bt.intervals("sandwich"), 3)
    boot_s, boot = best_of(lambda: bt.intervals("bootstrap", n_bootstrap=100), 2)
    bt_p = ours_fit(df, resample="poisson")
    boot_p_s, _ = best_of(lambda: bt_p.intervals("bootstrap", n_bootstrap=100), 2)
    counts = bt.counts_
    refit_s, _ = best_of(lambda: bt.fit_counts(counts, warm_start=False), 3)
    ours = bt.result_.as_dict()
    t = truth[list(bt.models_)].to_numpy()
    err = bt.ratings_ - t
    inside_s = (sand.lower <= t) & (t <= sand.upper)
    inside_b = (boot.lower <= t) & (t <= boot.upper)
    free = np.array([mm != ANCHOR for mm in bt.models_])
    result["trustplane"] = {
        "fit_seconds_aggregate_plus_newton": fit_s,
        "refit_seconds_from_counts": refit_s,
        "newton_iterations": bt.n_iter_,
        "distinct_pairs": counts.n_pairs,
        "sandwich_ci_seconds": sand_s,
        "bootstrap_100_ci_seconds": boot_s,
        "bootstrap_100_ci_seconds_poisson": boot_p_s,
        "bootstrap_failed_replicates": boot.bootstrap_failed,
        "fit_plus_sandwich_seconds": fit_s + sand_s,
        "fit_plus_bootstrap_seconds": fit_s + boot_s,
        "max_abs_error_vs_truth_elo": float(np.abs(err).max()),
        "rmse_vs_truth_elo": float(np.sqrt(np.mean(err**2))),
        "sandwich_coverage_this_dataset": float(inside_s[free].mean()),
        "bootstrap_coverage_this_dataset": float(inside_b[free].mean()),
        "median_ci_half_width_sandwich": float(np.median((sand.upper - sand.lower)[free] / 2)),
        "median_ci_half_width_bootstrap": float(np.median((boot.upper - boot.lower)[free] / 2)),
    }

    # FastChat
    fc_fit_s, fc = best_of(lambda: fastchat_compute_mle_elo(df), 1)
    t0 = time.perf_counter()
    fastchat_get_bootstrap_result(df, fastchat_compute_mle_elo, fc_rounds)
    fc_round_s = (time.perf_counter() - t0) / fc_rounds
    fc_tight = fastchat_compute_mle_elo(df, tol=1e-12)
    result["fastchat"] = {
        "implementation": "faithful reimplementation of FastChat's compute_mle_elo + get_bootstrap_result "
        "(leaderboard notebook; sklearn LogisticRegression penalty=None tol=1e-6)",
        "fit_seconds": fc_fit_s,
        "bootstrap_rounds_timed": fc_rounds,
        "bootstrap_seconds_per_round": fc_round_s,
        "bootstrap_100_seconds": fc_round_s * 100,
        "bootstrap_100_extrapolated": True,
        "max_abs_delta_elo_vs_trustplane": max_abs_diff(ours, fc),
        "max_abs_delta_elo_vs_trustplane_tol_1e-12": max_abs_diff(ours, fc_tight),
        "max_abs_error_vs_truth_elo": float(np.abs(fc[list(bt.models_)].to_numpy() - t).max()),
    }
    # the same battles as categorical columns, for both sides
    cat = df.astype("category")
    ours_fit(cat)
    cat_s, bt_cat = best_of(lambda: ours_fit(cat), 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas' observed= deprecation inside FastChat's pivot tables
        fc_cat_s, fc_cat = best_of(lambda: fastchat_compute_mle_elo(cat), 1)
    result["categorical_columns"] = {
        "trustplane_fit_seconds": cat_s,
        "fastchat_fit_seconds": fc_cat_s,
        "max_abs_delta_elo_vs_string_columns": max_abs_diff(ours, pd.Series(bt_cat.ratings_, index=bt_cat.models_)),
        "max_abs_delta_elo_fastchat_vs_trustplane": max_abs_diff(bt_cat.result_.as_dict(), fc_cat),
    }
    if n <= 500_000:
        try:
            from fastchat.serve.monitor.elo_analysis import compute_elo_mle_with_tie

            pypi_s, pypi = best_of(lambda: compute_elo_mle_with_tie(df), 1)
            pypi = pypi + (ANCHOR_RATING - pypi[ANCHOR])
            result["fastchat_pypi_0_2_36"] = {
                "function": "fastchat.serve.monitor.elo_analysis.compute_elo_mle_with_tie (dense, L2 C=1)",
                "fit_seconds": pypi_s,
                "max_abs_delta_elo_vs_trustplane": max_abs_diff(ours, pypi),
            }
        except Exception as exc:  # pragma: no cover - optional
            result["fastchat_pypi_0_2_36"] = {"skipped": f"{type(exc).__name__}: {exc}"}
    else:
        result["fastchat_pypi_0_2_36"] = {"skipped": "dense 2N x M design too large for this machine at 2M"}

    # choix (pure-Python/scipy, minutes at 200k): only on the quick size
    try:
        if n > 200_000:
            raise ImportError("skipped at this size: Newton-CG over 2N comparisons takes ~3 min at 200k battles")
        import choix

        idx = {mm: i for i, mm in enumerate(bt.models_)}
        ia = df["model_a"].map(idx).to_numpy()
        ib = df["model_b"].map(idx).to_numpy()
        w = df["winner"].to_numpy()
        a_win = w == "model_a"
        b_win = w == "model_b"
        tie = ~(a_win | b_win)
        win = np.concatenate([ia[a_win], ia[a_win], ib[b_win], ib[b_win], ia[tie], ib[tie]])
        lose = np.concatenate([ib[a_win], ib[a_win], ia[b_win], ia[b_win], ib[tie], ia[tie]])
        data = np.column_stack([win, lose])
        t0 = time.perf_counter()
        params = choix.opt_pairwise(m, data, alpha=0.0, method="Newton-CG", tol=1e-8)
        ch_s = time.perf_counter() - t0
        ch = ALPHA * (params - params[idx[ANCHOR]]) + ANCHOR_RATING
        result["choix"] = {
            "function": "choix.opt_pairwise(Newton-CG, alpha=0) on doubled comparisons",
            "fit_seconds": ch_s,
            "max_abs_delta_elo_vs_trustplane": float(np.abs(ch - bt.ratings_).max()),
        }
    except ImportError as exc:  # pragma: no cover
        result["choix"] = {"skipped": str(exc) or "choix not installed"}

    # arena-rank
    result["arena_rank"] = {"skipped": "--no-arena-rank"} if args.no_arena_rank else arena_rank(df, ours)

    # coverage over repeated simulations (200k battles each, also in the full run, to keep it to ~2 minutes)
    cov_n = 200_000
    result["coverage"] = [
        coverage(m, cov_n, 40 if args.quick else 100, "sandwich", 100),
        coverage(m, cov_n, 10 if args.quick else 20, "bootstrap", 200),
    ]

    ours_cis = boot_s
    result["speedup"] = {
        "fit_vs_fastchat": fc_fit_s / fit_s,
        "fit_vs_fastchat_categorical_columns": fc_cat_s / cat_s,
        "bootstrap_cis_vs_fastchat_bootstrap": fc_round_s * 100 / boot_s,
        "sandwich_cis_vs_fastchat_bootstrap": fc_round_s * 100 / sand_s,
        "fit_plus_bootstrap_vs_fastchat_fit_plus_bootstrap": (fc_fit_s + fc_round_s * 100) / (fit_s + ours_cis),
    }
    if "fit_seconds" in result.get("choix", {}):
        result["speedup"]["fit_vs_choix"] = result["choix"]["fit_seconds"] / fit_s
    if "fit_plus_sandwich_seconds" in result.get("arena_rank", {}):
        result["speedup"]["fit_plus_sandwich_vs_arena_rank"] = result["arena_rank"]["fit_plus_sandwich_seconds"] / (
            fit_s + sand_s
        )
    summary = (
        f"arena_ratings: {n / 1e6:.1f}M battles, {m} models, trustplane fit {fit_s:.2f} s vs fastchat "
        f"{fc_fit_s:.1f} s ({fc_fit_s / fit_s:.0f}x; categorical columns {cat_s:.3f} s vs {fc_cat_s:.1f} s, "
        f"{fc_cat_s / cat_s:.0f}x), CIs {boot_s:.2f} s bootstrap / {sand_s:.3f} s sandwich vs "
        f"{fc_round_s * 100:.0f} s ({fc_round_s * 100 / boot_s:.0f}x / {fc_round_s * 100 / sand_s:.0f}x), "
        f"max |Δ| {result['fastchat']['max_abs_delta_elo_vs_trustplane']:.3f} Elo "
        f"({result['fastchat']['max_abs_delta_elo_vs_trustplane_tol_1e-12']:.4f} at tol 1e-12), "
        f"95% CI coverage {result['coverage'][0]['centred']['coverage']:.3f}"
    )
    if "fit_plus_sandwich_vs_arena_rank" in result["speedup"]:
        summary += (
            f"; fit+sandwich {result['speedup']['fit_plus_sandwich_vs_arena_rank']:.0f}x arena-rank "
            f"(max |Δ| {result['arena_rank']['max_abs_delta_elo_vs_trustplane']:.3f} Elo)"
        )
    write_result("arena_ratings", result, summary)


if __name__ == "__main__":
    main()
