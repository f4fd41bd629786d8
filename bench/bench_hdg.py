"""Heterogeneous data game benchmark: trustplane's symmetric grid solver vs pygambit's ``enumpure``.

Same grid game on both sides: S strategies θ̄(q) on a simplex grid, N providers, PROP rule. pygambit
gets the full N-player table (S^N contingencies, built with ``Game.from_arrays``) and runs
``pygambit.nash.enumpure_solve``; trustplane enumerates C(N+S−1, S−1) multisets.

- agreement: on small games the sets of pure equilibria coincide, as multisets of strategies;
- timing at N=5, S=21: trustplane directly; pygambit in a subprocess with a time limit, and if it
  does not finish, extrapolated linearly in table size from smaller tables (the JSON says which);
- feasibility of N=30, K=2 and N=10, K=3 for trustplane.

Run: ``python bench/bench_hdg.py [--quick]``; writes bench/results/hdg.json.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.markets.hdg import GridEquilibriumSolver, HeterogeneousDataGame, random_game, simplex_grid


def _payoff_arrays(game: HeterogeneousDataGame, resolution: int) -> list[np.ndarray]:
    q = simplex_grid(game.n_sources, resolution)
    losses = game.losses(game.weighted_optimum(q))
    s, n = q.shape[0], game.n_providers
    idx = np.indices((s,) * n).reshape(n, -1).T
    t = float(game.temperature or 1.0)
    e = np.exp(-(losses - losses.min(axis=0)) / t)  # (S, K)
    ep = e[idx]  # (P, N, K)
    share = ep / ep.sum(axis=1, keepdims=True)
    util = share @ game.weights  # (P, N)
    return [util[:, p].reshape((s,) * n) for p in range(n)]


def _gambit_equilibria(arrays: list[np.ndarray]) -> tuple[set[tuple[int, ...]], float, float]:
    import pygambit as gbt

    t0 = time.perf_counter()
    g = gbt.Game.from_arrays(*arrays)
    t1 = time.perf_counter()
    res = gbt.nash.enumpure_solve(g)
    t2 = time.perf_counter()
    s = arrays[0].shape[0]
    out = set()
    for eq in res.equilibria:
        picks = [int(np.argmax([float(eq[st]) for st in pl.strategies])) for pl in g.players]
        out.add(tuple(np.bincount(picks, minlength=s).tolist()))
    return out, t1 - t0, t2 - t1


def _worker(arrays: list[np.ndarray], queue: Any) -> None:
    _, build, solve = _gambit_equilibria(arrays)
    queue.put((build, solve))


def _gambit_timed(arrays: list[np.ndarray], limit: float) -> tuple[float, float] | None:
    queue: Any = mp.get_context("fork").Queue()
    proc = mp.get_context("fork").Process(target=_worker, args=(arrays, queue))
    proc.start()
    proc.join(limit)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return None
    build, solve = queue.get()
    return float(build), float(solve)


def _ours(game: HeterogeneousDataGame, resolution: int) -> tuple[set[tuple[int, ...]], float, int]:
    t0 = time.perf_counter()
    res = GridEquilibriumSolver(resolution=resolution, max_seconds=600).solve(game).result_
    return {tuple(int(v) for v in c) for c in res.equilibria}, time.perf_counter() - t0, res.n_profiles


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer agreement games, shorter pygambit limit")
    parser.add_argument(
        "--pygambit-limit",
        type=float,
        default=None,
        help="seconds pygambit may take on N=5, S=21 (default 300; quick 30)",
    )
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    n_small = 10 if args.quick else 40
    agree = 0
    cases = []
    for i in range(n_small):
        n = 2 + i % 3
        k = 2 + (i // 3) % 2
        t = float(10 ** rng.uniform(-1.5, 0.5))
        g = random_game(k, 2, n, rule="prop", temperature=t, random_state=rng)
        r = 4 if k == 2 else 2
        ours, _, _ = _ours(g, r)
        theirs, _, _ = _gambit_equilibria(_payoff_arrays(g, r))
        agree += ours == theirs
        cases.append({"N": n, "K": k, "S": len(simplex_grid(k, r)), "t": t, "ours": len(ours), "pygambit": len(theirs)})

    game = random_game(2, 2, 5, rule="prop", temperature=0.5, random_state=1)
    ours_eq, ours_s, profiles = _ours(game, 20)
    ours_s = min(ours_s, _ours(game, 20)[1])
    limit = args.pygambit_limit or (30.0 if args.quick else 300.0)
    arrays = _payoff_arrays(game, 20)
    timed = _gambit_timed(arrays, limit)
    if timed is not None:
        gambit_s, how = timed[0] + timed[1], "measured"
        extrap: list[dict[str, float]] = []
    else:
        extrap = []
        for s_small in (6, 8, 10):
            a = _payoff_arrays(game, s_small - 1)
            tt = _gambit_timed(a, limit)
            if tt is not None:
                extrap.append({"S": s_small, "table": s_small**5, "seconds": tt[0] + tt[1]})
        rate = max(e["seconds"] / e["table"] for e in extrap)
        gambit_s, how = (
            rate * 21**5,
            f"extrapolated linearly in table size from S={[e['S'] for e in extrap]} (pygambit did not finish in {limit:g} s)",
        )

    feas = []
    for n, k, r in ((30, 2, 6), (10, 3, 4)):
        g = random_game(k, 2, n, rule="prop", temperature=0.5, random_state=2)
        eqs, secs, prof = _ours(g, r)
        feas.append(
            {"N": n, "K": k, "S": len(simplex_grid(k, r)), "profiles": prof, "seconds": secs, "equilibria": len(eqs)}
        )

    summary = (
        f"hdg: N=5 S=21, trustplane {ours_s:.2f} s vs pygambit {gambit_s:.0f} s ({gambit_s / ours_s:.0f}x, {how.split(' ')[0]}),"
        f" equilibria agree on {agree}/{n_small} small games"
    )
    write_result(
        "hdg",
        {
            "quick": args.quick,
            "timing": {
                "N": 5,
                "S": 21,
                "trustplane_s": ours_s,
                "trustplane_profiles": profiles,
                "trustplane_equilibria": len(ours_eq),
                "pygambit_s": gambit_s,
                "pygambit_how": how,
                "pygambit_table_size": 21**5,
                "pygambit_extrapolation_points": extrap,
                "ratio": gambit_s / ours_s,
            },
            "agreement": {"agree": agree, "games": n_small, "cases": cases},
            "feasibility": feas,
        },
        summary,
    )


if __name__ == "__main__":
    main()
