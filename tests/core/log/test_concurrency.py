"""Several OS processes appending to one log at once: no lost entries, no fork, one genesis.

SQLite always; Postgres when ``TRUSTPLANE_TEST_POSTGRES_URL`` is set (each test gets a fresh schema).
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from trustplane.core.config import Settings
from trustplane.core.log import TransparencyLog, export_log, leaf_hash, root_of, verify_export, verify_inclusion
from trustplane.core.log._merkle import Frontier
from trustplane.core.store import Store, log_keys, log_nodes, normalise_url

NOTE = "log.note"
PROCESSES = 4
APPENDS_PER_PROCESS = 40
PG_ENV = "TRUSTPLANE_TEST_POSTGRES_URL"
JOIN_TIMEOUT_S = 120


# --- worker processes (top-level so that the "spawn" start method can import them) ------------------------
def _open(home: str, url: str | None) -> tuple[TransparencyLog, Store]:
    settings = Settings(home=Path(home), database_url=url)
    store = Store(settings.resolved_database_url)
    return TransparencyLog(store, settings), store


def _append_worker(home: str, url: str | None, wid: int, n: int, start: Any, results: Any) -> None:
    """Append ``n`` notes ``w<wid>-<i>``, mixing single appends and batches of 2 or 3."""
    try:
        log, store = _open(home, url)
        rng = random.Random(wid)
        start.wait(60)
        written = calls = 0
        while written < n:
            size = min((1, 3, 1, 2)[calls % 4], n - written)
            items = [(NOTE, {"text": f"w{wid}-{written + j}"}) for j in range(size)]
            result = log.append(*items[0]) if size == 1 else log.append_many(items)
            assert [e.payload["text"] for e in result.entries] == [p["text"] for _, p in items]
            written += size
            calls += 1
            time.sleep(rng.random() * 0.01)  # let the other writers in, so that appends interleave
        store.dispose()
        results.put((wid, calls, None))
    except BaseException as exc:
        results.put((wid, 0, f"{type(exc).__name__}: {exc}"))


def _genesis_worker(home: str, url: str | None, wid: int, start: Any, results: Any) -> None:
    """Start a brand-new log: migrate, then initialise, at the same moment as the others."""
    try:
        log, store = _open(home, url)
        start.wait(60)
        store.upgrade()
        head = log.ensure_initialised()
        log.append(NOTE, {"text": f"hello from {wid}"})
        store.dispose()
        results.put((wid, head.tree_size, None))
    except BaseException as exc:
        results.put((wid, 0, f"{type(exc).__name__}: {exc}"))


def _run(target: Any, args_for: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(len(args_for))  # every worker is imported and connected before any of them writes
    results = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, start, results), daemon=True) for args in args_for]
    for p in procs:
        p.start()
    out, errors = [], []
    try:
        for _ in procs:
            wid, value, err = results.get(timeout=JOIN_TIMEOUT_S)
            (errors if err else out).append((wid, err or value))
    except queue.Empty:
        pytest.fail("a worker process did not report back in time")
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
                p.join(5)
    assert not errors, errors
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return sorted(out)


# --- databases ----------------------------------------------------------------------------------------------
@dataclass
class Target:
    home: Path
    url: str | None  # None: SQLite under home


def _pg_schema_url(base: str, schema: str) -> str:
    url = make_url(normalise_url(base))
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    home = tmp_path / "home"
    if request.param == "sqlite":
        yield Target(home, None)
        return
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"set {PG_ENV} (e.g. postgresql://postgres@127.0.0.1:5432/test) to run the Postgres variant")
    schema = f"tp_test_{secrets.token_hex(6)}"
    admin = create_engine(normalise_url(base), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield Target(home, _pg_schema_url(base, schema))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def _open_main(t: Target) -> tuple[TransparencyLog, Store]:
    return _open(str(t.home), t.url)


# --- tests --------------------------------------------------------------------------------------------------
def test_concurrent_appends_lose_nothing_and_never_fork(target: Target, tmp_path: Path) -> None:
    log, store = _open_main(target)
    try:
        store.upgrade()  # the log itself is left empty: the workers also race to create the genesis entry
        calls = _run(
            _append_worker,
            [(str(target.home), target.url, w, APPENDS_PER_PROCESS) for w in range(PROCESSES)],
        )
        total = PROCESSES * APPENDS_PER_PROCESS
        n = log.size()
        assert n == 1 + total

        entries = log.entries(0, limit=n + 10)
        assert [e.index for e in entries] == list(range(n))
        assert entries[0].kind == "log.genesis"
        assert log.kind_counts() == {"log.genesis": 1, NOTE: total}
        texts = [e.payload["text"] for e in entries[1:]]
        expected = {f"w{w}-{i}" for w in range(PROCESSES) for i in range(APPENDS_PER_PROCESS)}
        assert len(texts) == len(set(texts)) and set(texts) == expected
        switches = sum(a.split("-")[0] != b.split("-")[0] for a, b in itertools.pairwise(texts))
        print(f"writer switches: {switches}")
        for w in range(PROCESSES):  # each process's own appends keep their order
            mine = [int(t.split("-")[1]) for t in texts if t.startswith(f"w{w}-")]
            assert mine == list(range(APPENDS_PER_PROCESS))
        stamps = [e.timestamp for e in entries]
        assert stamps == sorted(stamps)

        # one signed head per append call plus the genesis head, each over the entries at its size
        heads = log.tree_heads(limit=10_000)
        assert len(heads) == 1 + sum(c for _, c in calls)
        assert [h.tree_size for h in heads] == sorted({h.tree_size for h in heads})
        assert heads[-1].tree_size == n
        keys = log.signing_keys()
        assert len(keys) == 1
        leaves = [leaf_hash(e.data) for e in entries]
        frontier, roots = Frontier(), {}
        for i, h in enumerate(leaves, start=1):
            frontier.append(h)
            roots[i] = frontier.root()
        for h in heads:
            assert h.root_hash == roots[h.tree_size], f"the tree forked at size {h.tree_size}"
            assert h.verify(keys[0].public_key)
        assert roots[n] == root_of(leaves)
        with store.read() as conn:
            stored_nodes = conn.execute(select(func.count()).select_from(log_nodes)).scalar_one()
        assert stored_nodes == 2 * n - bin(n).count("1")

        for idx in (0, n // 2, n - 1):
            p = log.inclusion_proof(idx)
            verify_inclusion(idx, n, leaves[idx], p.path, heads[-1].root_hash)

        path = tmp_path / "export.jsonl"
        export_log(log, path)
        report = verify_export(path, keys[0].public_key, trusted_head=heads[len(heads) // 2])
        assert (report.tree_size, report.tree_heads) == (n, len(heads))
    finally:
        store.dispose()


@pytest.mark.parametrize("round_", range(2))
def test_racing_to_create_a_new_log_makes_one_genesis(target: Target, round_: int) -> None:
    results = _run(_genesis_worker, [(str(target.home), target.url, w) for w in range(3)])
    log, store = _open_main(target)
    try:
        assert all(size >= 1 for _, size in results)
        assert log.kind_counts() == {"log.genesis": 1, NOTE: 3}
        assert log.entry(0).kind == "log.genesis"
        with store.read() as conn:
            assert conn.execute(select(func.count()).select_from(log_keys)).scalar_one() == 1
        kid = log.active_key().key_id
        assert [p.name for p in log.settings.keys_dir.iterdir()] == [f"{kid}.pem"]
        heads = log.tree_heads()
        assert [h.tree_size for h in heads] == [1, 2, 3, 4]
        assert all(h.verify(log.active_key().public_key) for h in heads)
    finally:
        store.dispose()
