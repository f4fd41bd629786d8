"""Transparency-log benchmark: trustplane vs pymerkle (SQLite-backed RFC 9162 tree), same leaves.

Measures, in one run on the same data:
- append throughput, single appends and batched, on SQLite;
- inclusion- and consistency-proof time as the log grows to 1M entries (``--quick``: 100k),
  with the number of stored nodes each proof reads, to show proof work grows as O(log n);
- that both trees give identical roots (same RFC 9162 hashing, same leaf bytes).

pymerkle's timings include its own caching; proofs are sampled at random positions.
Run: ``python bench/bench_log.py [--quick]``; writes bench/results/log.json.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result
from trustplane.core.config import load_settings
from trustplane.core.log import TransparencyLog, verify_consistency, verify_inclusion
from trustplane.core.log import _merkle as merkle
from trustplane.core.store import get_store, log_entries


def _payload(i: int) -> dict[str, object]:
    return {"text": f"claim {i}", "subject": f"model-{i % 97}", "data": {"i": i, "score": (i * 7919) % 1000 / 10}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="stop at 100k entries")
    parser.add_argument("--max", type=int, default=None, help="largest log size")
    parser.add_argument("--proofs", type=int, default=50, help="proofs sampled per size")
    args = parser.parse_args()
    top = args.max or (100_000 if args.quick else 1_000_000)
    checkpoints = [n for n in (1_000, 10_000, 100_000, 1_000_000) if n <= top]
    rng = random.Random(0)
    work = Path(tempfile.mkdtemp(prefix="trustplane-bench-log-"))

    try:
        from pymerkle import SqliteTree
    except ImportError:
        SqliteTree = None  # noqa: N806

    settings = load_settings(
        home=work / "tp", models=[{"name": "scripted", "backend": "scripted"}], default_model="scripted"
    )
    store = get_store(settings)
    store.upgrade()
    log = TransparencyLog(store, settings)
    log.ensure_initialised()

    # --- single appends ----------------------------------------------------------------------------
    n_single = 300
    t0 = time.perf_counter()
    for i in range(n_single):
        log.append("log.note", _payload(i))
    tp_single = n_single / (time.perf_counter() - t0)

    anchor: dict[str, object] = {"name": "pymerkle", "available": SqliteTree is not None}
    pm = None
    if SqliteTree is not None:
        pm = SqliteTree(str(work / "pymerkle.db"))
        leaves = [bytes(d) for (d,) in _leaf_rows(store, 0, log.size())]
        t0 = time.perf_counter()
        for leaf in leaves[:n_single]:
            pm.append_entry(leaf)
        anchor["single_per_s"] = n_single / (time.perf_counter() - t0)
        pm.append_entries(leaves[n_single:])

    # --- grow to each checkpoint with batched appends, then time proofs ---------------------------------
    batch = 10_000
    tp_batch_time = 0.0
    pm_batch_time = 0.0
    batched = 0
    rows = []
    size = log.size()
    for target in checkpoints:
        while size < target:
            k = min(batch, target - size)
            items = [("log.note", _payload(size + j)) for j in range(k)]
            t0 = time.perf_counter()
            log.append_many(items)
            tp_batch_time += time.perf_counter() - t0
            batched += k
            if pm is not None:
                new = [bytes(d) for (d,) in _leaf_rows(store, size, size + k)]
                t0 = time.perf_counter()
                pm.append_entries(new)
                pm_batch_time += time.perf_counter() - t0
            size += k
        rows.append(_measure(log, pm, size, args.proofs, rng))
        r = rows[-1]
        print(
            f"  n={size:>9,}: inclusion {r['trustplane_inclusion_ms']:.2f} ms ({r['nodes_read_inclusion']:.0f} nodes)"
            + (f" vs pymerkle {r['pymerkle_inclusion_ms']:.2f} ms" if pm else "")
            + f"; consistency {r['trustplane_consistency_ms']:.2f} ms"
            + (f" vs pymerkle {r['pymerkle_consistency_ms']:.2f} ms" if pm else ""),
            flush=True,
        )

    tp_batched = batched / tp_batch_time
    if pm is not None:
        anchor["batched_per_s"] = batched / pm_batch_time
        anchor["roots_identical"] = all(r["roots_identical"] for r in rows)

    # O(log n): nodes read per proof, and time per proof against log2(n)
    first, last = rows[0], rows[-1]
    log_ratio = math.log2(last["n"]) / math.log2(first["n"])
    time_ratio = last["trustplane_inclusion_ms"] / first["trustplane_inclusion_ms"]
    nodes_ratio = last["nodes_read_inclusion"] / max(first["nodes_read_inclusion"], 1)
    result = {
        "sizes": checkpoints,
        "trustplane": {"single_per_s": tp_single, "batched_per_s": tp_batched, "batch_size": batch},
        "anchor": anchor,
        "proofs": rows,
        "growth": {
            "log2_ratio": log_ratio,
            "inclusion_time_ratio": time_ratio,
            "inclusion_nodes_ratio": nodes_ratio,
            "n_ratio": last["n"] / first["n"],
        },
        "targets": {"batched_per_s": 5000, "met": tp_batched >= 5000},
    }
    big = last
    pm_part = ""
    if pm is not None:
        pm_part = (
            f" vs pymerkle {anchor['batched_per_s']:,.0f}/s ({tp_batched / anchor['batched_per_s']:.1f}x); "
            f"inclusion proof at {big['n']:,}: {big['trustplane_inclusion_ms']:.2f} ms vs {big['pymerkle_inclusion_ms']:.2f} ms "
            f"({big['pymerkle_inclusion_ms'] / big['trustplane_inclusion_ms']:.0f}x), roots identical: {anchor['roots_identical']}"
        )
    summary = (
        f"log: {big['n']:,} entries, trustplane batched appends {tp_batched:,.0f}/s (single {tp_single:,.0f}/s)"
        + pm_part
        + f"; n x{result['growth']['n_ratio']:,.0f} -> proof nodes x{nodes_ratio:.2f}, time x{time_ratio:.2f} (log2 ratio {log_ratio:.2f})"
    )
    write_result("log", result, summary)


def _leaf_rows(store, start: int, end: int):  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    with store.read() as conn:
        return conn.execute(
            select(log_entries.c.data)
            .where(log_entries.c.idx >= start, log_entries.c.idx < end)
            .order_by(log_entries.c.idx)
        ).all()


def _measure(log: TransparencyLog, pm, n: int, count: int, rng: random.Random) -> dict[str, float]:  # type: ignore[no-untyped-def]
    head = log.latest_tree_head()
    assert head.tree_size == n
    idxs = [rng.randrange(n) for _ in range(count)]
    pairs = [tuple(sorted((rng.randrange(1, n + 1), n))) for _ in range(count)]
    inc, con, inc_nodes = [], [], []
    for i in idxs:
        t0 = time.perf_counter()
        p = log.inclusion_proof(i, n)
        inc.append(time.perf_counter() - t0)
        verify_inclusion(i, n, p.leaf_hash, p.path, head.root_hash)
        inc_nodes.append(len(merkle.nodes_needed(merkle.inclusion_ranges(i, n))) + 1)
    for m, _ in pairs:
        t0 = time.perf_counter()
        c = log.consistency_proof(m, n)
        con.append(time.perf_counter() - t0)
        verify_consistency(m, n, log.root_at(m), head.root_hash, c.path)
    row: dict[str, float] = {
        "n": n,
        "trustplane_inclusion_ms": statistics.median(inc) * 1000,
        "trustplane_consistency_ms": statistics.median(con) * 1000,
        "nodes_read_inclusion": statistics.mean(inc_nodes),
    }
    if pm is not None:
        pm_inc, pm_con = [], []
        for i in idxs[: max(5, count // 5)]:
            t0 = time.perf_counter()
            pm.prove_inclusion(i + 1, n)
            pm_inc.append(time.perf_counter() - t0)
        for m, _ in pairs[: max(5, count // 5)]:
            t0 = time.perf_counter()
            pm.prove_consistency(m, n)
            pm_con.append(time.perf_counter() - t0)
        row["pymerkle_inclusion_ms"] = statistics.median(pm_inc) * 1000
        row["pymerkle_consistency_ms"] = statistics.median(pm_con) * 1000
        row["roots_identical"] = pm.get_root(n) == head.root_hash if hasattr(pm, "get_root") else False
    return row


if __name__ == "__main__":
    main()
