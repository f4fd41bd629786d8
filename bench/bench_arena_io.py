"""Battle file import/export benchmark: trustplane.arena.io vs pandas plus the same checks written naively.

Synthetic battles (2M; ``--quick``: 200k, seeded): 250 models, the four outcomes, a 16-hex battle id, a timestamp,
one of 50k judges, a language, a sampling probability (10% missing) and two style features. No prompt or
response text. Per format, on the same data in the same run:

- **trustplane**: ``write_battles`` then ``read_battles`` (the read validates every row and builds the
  ``BattleTable``);
- **pandas**: ``DataFrame.to_csv`` / ``to_json(orient="records", lines=True)`` / ``to_parquet`` /
  ``to_json(orient="records")``; reading ``pd.read_csv`` / ``pd.read_json(lines=True)`` / ``pd.read_parquet`` /
  ``pd.read_json`` (FastChat's own loader), then the same row checks written naively (a loop over the rows that
  reports the first bad row) and ``BattleTable.from_columns``.

Both sides produce the same table (checked). Run: ``python bench/bench_arena_io.py [--quick] [--formats csv,...]``;
writes bench/results/arena_io.json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.arena import OUTCOMES, BattleTable
from trustplane.arena.io import read_battles, write_battles

FASTCHAT = {"a": "model_a", "b": "model_b", "tie": "tie", "both_bad": "tie (bothbad)"}


def synthetic(n: int, seed: int = 0) -> BattleTable:
    rng = np.random.default_rng(seed)
    models = np.array([f"model-{i:03d}" for i in range(250)], dtype=object)
    a = rng.integers(0, 250, n)
    b = (a + rng.integers(1, 250, n)) % 250
    prob = rng.uniform(0.05, 1.0, n)
    prob[rng.random(n) < 0.1] = np.nan
    return BattleTable.from_columns(
        models[a],
        models[b],
        np.array(OUTCOMES, dtype=object)[rng.choice(4, n, p=[0.35, 0.35, 0.2, 0.1])],
        battle_id=[f"{x:016x}" for x in rng.integers(0, 2**63, n)],
        timestamp=1.7e9 + np.round(rng.random(n) * 3e7, 3),
        sampling_prob=prob,
        judge=np.array([f"arena_user_{i}" for i in range(50_000)], dtype=object)[rng.integers(0, 50_000, n)],
        language=np.array(["English", "Chinese", "German", "Русский"], dtype=object)[rng.integers(0, 4, n)],
        style={"length": rng.normal(0, 0.3, n), "header_count": rng.normal(0, 0.2, n)},
    )


def frame(table: BattleTable, fmt: str) -> pd.DataFrame:
    """The pandas user's DataFrame in the file's own layout."""
    df = pd.DataFrame({"model_a": table.model_a, "model_b": table.model_b, "outcome": table.outcome})
    for name, values in table.columns.items():
        df[name] = values
    if fmt == "fastchat":
        df = df.rename(columns={"outcome": "winner", "battle_id": "question_id", "timestamp": "tstamp"})
        df["winner"] = df["winner"].map(FASTCHAT)
        df["style"] = [dict(zip(table.style, v, strict=True)) for v in zip(*table.style.values(), strict=True)]
    elif fmt == "arena-hp":
        for label, col in (("a", "winner_model_a"), ("b", "winner_model_b")):
            df[col] = (table.outcome == label).astype(int)
        df["winner_tie"] = np.isin(table.outcome, ["tie", "both_bad"]).astype(int)
        df["winner_tie_bothbad"] = (table.outcome == "both_bad").astype(int)
        df = df.drop(columns="outcome").rename(columns={"battle_id": "id"})
        for name, values in table.style.items():
            df["style." + name] = values
    else:
        for name, values in table.style.items():
            df["style." + name] = values
    return df


def naive_table(df: pd.DataFrame, fmt: str) -> BattleTable:
    """The same row checks as trustplane, as a pandas user writes them: one pass over the rows."""
    labels = {v: k for k, v in FASTCHAT.items()} if fmt == "fastchat" else {o: o for o in OUTCOMES}
    outcome_col = {"fastchat": "winner"}.get(fmt, "outcome")
    ts_col = "tstamp" if fmt == "fastchat" else "timestamp"
    outcomes = []
    for i, row in enumerate(df.to_dict("records"), start=1):
        a, b = row["model_a"], row["model_b"]
        if not isinstance(a, str) or not a or not isinstance(b, str) or not b:
            raise ValueError(f"row {i}: missing model")
        if a == b:
            raise ValueError(f"row {i}: model battles itself")
        if fmt == "arena-hp":
            hot = [row["winner_model_a"], row["winner_model_b"], row["winner_tie"]]
            if sorted(hot) != [0, 0, 1]:
                raise ValueError(f"row {i}: one-hot winner")
            label = ["a", "b", "both_bad" if row.get("winner_tie_bothbad") == 1 else "tie"][hot.index(1)]
        else:
            label = labels.get(row[outcome_col])
            if label is None:
                raise ValueError(f"row {i}: unknown outcome")
        outcomes.append(label)
        ts = row.get(ts_col)
        if ts is not None and not (isinstance(ts, float) and math.isnan(ts)) and not math.isfinite(float(ts)):
            raise ValueError(f"row {i}: timestamp")
        p = row.get("sampling_prob")
        if p is not None and not math.isnan(p) and not 0 < p <= 1:
            raise ValueError(f"row {i}: sampling_prob")
    if fmt == "fastchat":
        style = pd.DataFrame(df["style"].tolist())
        cols = {"battle_id": df["question_id"], "timestamp": df["tstamp"]}
    else:
        style = df[[c for c in df.columns if c.startswith("style.")]].rename(columns=lambda c: c[6:])
        cols = {"battle_id": df["id" if fmt == "arena-hp" else "battle_id"], "timestamp": df["timestamp"]}
    return BattleTable.from_columns(
        df["model_a"],
        df["model_b"],
        outcomes,
        battle_id=cols["battle_id"].astype(str),
        timestamp=cols["timestamp"],
        sampling_prob=df["sampling_prob"],
        judge=df["judge"],
        language=df["language"],
        style={c: style[c].to_numpy(dtype=float) for c in style.columns},
    )


PANDAS_WRITE: dict[str, Callable[[pd.DataFrame, Path], None]] = {
    "csv": lambda df, p: df.to_csv(p, index=False),
    "jsonl": lambda df, p: df.to_json(p, orient="records", lines=True, force_ascii=False, double_precision=15),
    "parquet": lambda df, p: df.to_parquet(p, index=False),
    "fastchat": lambda df, p: df.to_json(p, orient="records", force_ascii=False, double_precision=15),
    "arena-hp": lambda df, p: df.to_csv(p, index=False),
}
PANDAS_READ: dict[str, Callable[[Path], pd.DataFrame]] = {
    "csv": lambda p: pd.read_csv(p, dtype={"battle_id": str}),
    "jsonl": lambda p: pd.read_json(p, lines=True, dtype=False),
    "parquet": pd.read_parquet,
    "fastchat": lambda p: pd.read_json(p, dtype=False),
    "arena-hp": lambda p: pd.read_csv(p, dtype={"id": str}),
}
SUFFIX = {"csv": ".csv", "jsonl": ".jsonl", "parquet": ".parquet", "fastchat": ".json", "arena-hp": ".csv"}


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def _same(ours: BattleTable, theirs: BattleTable, rtol: float = 0.0, atol: float = 0.0) -> bool:
    return (
        len(ours) == len(theirs)
        and np.array_equal(ours.model_a, theirs.model_a)
        and np.array_equal(ours.outcome, theirs.outcome)
        and np.array_equal(ours.columns["battle_id"], theirs.columns["battle_id"])
        and np.allclose(ours.columns["timestamp"], theirs.columns["timestamp"], rtol=rtol, atol=atol)
        and np.allclose(ours.style["length"], theirs.style["length"], rtol=rtol, atol=atol)
    )


def run_format(table: BattleTable, fmt: str, tmp: Path) -> dict[str, Any]:
    ours_path, theirs_path = tmp / f"ours{SUFFIX[fmt]}", tmp / f"pandas{SUFFIX[fmt]}"
    w_ours, _ = _timed(lambda: write_battles(table, ours_path, format=fmt))
    r_ours, back = _timed(lambda: read_battles(ours_path, format=fmt))
    df = frame(table, fmt)
    w_pd, _ = _timed(lambda: PANDAS_WRITE[fmt](df, theirs_path))
    r_pd_read, df = _timed(lambda: PANDAS_READ[fmt](theirs_path))
    r_pd_check, theirs = _timed(lambda: naive_table(df, fmt))
    r_pd = r_pd_read + r_pd_check
    row = {
        "write_s": round(w_ours, 3),
        "read_s": round(r_ours, 3),
        "pandas_write_s": round(w_pd, 3),
        "pandas_read_validate_s": round(r_pd, 3),
        "pandas_read_only_s": round(r_pd_read, 3),
        "read_speedup": round(r_pd / r_ours, 2),
        "write_speedup": round(w_pd / w_ours, 2),
        "bytes": ours_path.stat().st_size,
        "same_table": _same(back, table),
        # pandas writes JSON floats with at most 15 decimals, so its JSON round trip is only approximate
        "pandas_same_table": _same(theirs, table, rtol=1e-9, atol=1e-12),
    }
    ours_path.unlink()
    theirs_path.unlink()
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200k battles instead of 2M")
    parser.add_argument("--formats", default="csv,jsonl,parquet,arena-hp,fastchat")
    args = parser.parse_args()
    n = 200_000 if args.quick else 2_000_000
    table = synthetic(n)
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            rows[fmt] = run_format(table, fmt, Path(tmp))
            print(fmt, json.dumps(rows[fmt]), flush=True)
    reads = "; ".join(
        f"{f} {r['read_s']:.1f}s vs {r['pandas_read_validate_s']:.1f}s ({r['read_speedup']:.1f}x)"
        for f, r in rows.items()
    )
    summary = f"arena io, {n:,} battles, read+validate trustplane vs pandas: {reads}"
    write_result("arena_io", {"n_battles": n, "formats": rows}, summary)


if __name__ == "__main__":
    main()
