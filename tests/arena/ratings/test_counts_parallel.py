"""The parallel aggregation of large Arrow-backed batches gives exactly the serial counts."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from trustplane.arena.ratings import BattleCounts, BradleyTerry, InvalidBattleError, _counts


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_counts, "_PARALLEL_MIN_BATTLES", 64)


def battles(n: int, m: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    names = np.array([f"m{i}" for i in range(m)], dtype=object)
    a = rng.integers(0, m, n)
    b = (a + rng.integers(1, m, n)) % m
    outcome = rng.choice(np.array(["model_a", "model_b", "tie", "tie (bothbad)"], dtype=object), n)
    return names[a], names[b], outcome


def counts_of(counts: BattleCounts) -> dict[tuple[str, str], list[float]]:
    lo, hi, w, w2, c = counts.arrays()
    out = {}
    for k in range(len(lo)):
        out[(counts.models[lo[k]], counts.models[hi[k]])] = [*w[k], *w2[k], *c[k]]
    return out


def added_in_parallel(counts: BattleCounts, cols: list[Any], weights: np.ndarray | None) -> bool:
    """Add the battles; whether the parallel path (and it alone) took them."""
    calls = []
    original = counts._add_parallel
    counts._add_parallel = lambda *args: calls.append(original(*args)) or calls[-1]  # type: ignore[method-assign]
    counts.add_many(*cols, weights)
    return calls == [True]


@pytest.mark.parametrize("kind", ["arrow-pandas", "pyarrow", "chunked"])
@pytest.mark.parametrize("weighted", [False, True])
def test_parallel_equals_serial(kind: str, weighted: bool) -> None:
    a, b, o = battles(5000)
    w = np.random.default_rng(1).uniform(0.5, 2.0, len(a)) if weighted else None
    serial = BattleCounts()
    serial.add_many(a, b, o, w)  # object arrays: the serial path
    if kind == "arrow-pandas":
        cols = [pd.Series(x, dtype="string[pyarrow]") for x in (a, b, o)]
    elif kind == "pyarrow":
        cols = [pa.array(x.tolist()) for x in (a, b, o)]
    else:
        cols = [pa.chunked_array([x[:1000].tolist(), x[1000:].tolist()]) for x in (a, b, o)]
    parallel = BattleCounts()
    assert added_in_parallel(parallel, cols, w)
    assert parallel.n_battles == serial.n_battles == 5000
    got, want = counts_of(parallel), counts_of(serial)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12)
    fa = BradleyTerry(ci=None).fit_counts(parallel).result_.as_dict()
    fb = BradleyTerry(ci=None).fit_counts(serial).result_.as_dict()
    assert fa == pytest.approx(fb, abs=1e-9)


def test_parallel_adds_to_existing_counts() -> None:
    a, b, o = battles(3000, seed=2)
    both = BattleCounts()
    both.add_many(a, b, o)
    both.add_many(a, b, o)
    split = BattleCounts()
    split.add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    split.add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    assert counts_of(split) == counts_of(both)


def test_parallel_errors_name_the_row() -> None:
    a, b, o = battles(3000, seed=3)
    o[2500] = "draw"
    with pytest.raises(InvalidBattleError, match="unknown outcome 'draw' at row 2500"):
        BattleCounts().add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    a, b, o = battles(3000, seed=3)
    b[1700] = a[1700]
    with pytest.raises(InvalidBattleError, match="row 1700: a model cannot battle itself"):
        BattleCounts().add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    a, b, o = battles(3000, seed=3)
    names = a.tolist()
    names[2999] = None
    with pytest.raises(InvalidBattleError, match="row 2999: model_a is missing"):
        BattleCounts().add_many(pa.array(names), pa.array(b.tolist()), pa.array(o.tolist()))


def test_failed_batch_leaves_counts_untouched() -> None:
    a, b, o = battles(3000, seed=4)
    counts = BattleCounts()
    counts.add_many(a[:100], b[:100], o[:100])
    before = counts_of(counts)
    o[2000] = "???"
    with pytest.raises(InvalidBattleError):
        counts.add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    assert counts_of(counts) == before and counts.n_battles == 100
    models = list(counts.models)
    b[2000] = a[2000]
    o[2000] = "tie"
    a[2000] = b[2000] = "brand-new"
    for cols in ((a, b, o), tuple(pa.array(x.tolist()) for x in (a, b, o))):
        with pytest.raises(InvalidBattleError, match="battle itself"):
            counts.add_many(*cols)
        assert counts.models == models  # no model registered by a rejected batch


def test_single_battles_and_copies_after_a_bulk_add() -> None:
    """The pair index of a bulk add is built only when a later battle needs it, and then it is right."""
    a, b, o = battles(3000, seed=6)
    bulk = BattleCounts()
    bulk.add_many(*(pa.array(x.tolist()) for x in (a, b, o)))
    serial = BattleCounts()
    serial.add_many(a, b, o)
    twin = bulk.copy()
    for counts in (bulk, serial, twin):
        counts.add("m3", "m1", "model_a")
        counts.add("m0", "newcomer", "tie")
    assert counts_of(bulk) == counts_of(serial) == counts_of(twin)
    assert bulk.n_pairs == serial.n_pairs == twin.n_pairs


def by_name(counts: BattleCounts) -> dict[tuple[str, str], list[float]]:
    """Counts keyed by the sorted pair of names, whatever order the models were registered in."""
    out = {}
    for (x, y), v in counts_of(counts).items():
        if x > y:  # the same pair seen from the other side: "a wins" and "b wins" swap
            x, y = y, x
            v = [v[i + j] for i in (0, 4, 8) for j in (1, 0, 2, 3)]
        out[(x, y)] = v
    return out


@pytest.mark.parametrize("kind", ["categorical", "arrow-dictionary", "chunked-dictionary"])
@pytest.mark.parametrize("weighted", [False, True])
def test_coded_columns_count_without_hashing_and_equal_the_serial_counts(kind: str, weighted: bool) -> None:
    a, b, o = battles(5000, seed=7)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(a)) if weighted else None
    serial = BattleCounts()
    serial.add_many(a, b, o, w)
    # categories nobody uses, an unknown outcome label among them: neither registered nor refused
    names = [f"m{i}" for i in range(12)] + ["never-played"]
    labels = ["model_a", "model_b", "tie", "tie (bothbad)", "draw?"]
    if kind == "categorical":
        cols = [pd.Series(pd.Categorical(x, categories=c)) for x, c in ((a, names), (b, names), (o, labels))]
    elif kind == "arrow-dictionary":
        cols = [
            pa.DictionaryArray.from_arrays([c.index(v) for v in x], c) for x, c in ((a, names), (b, names), (o, labels))
        ]
    else:
        cols = [
            pa.chunked_array(
                [pa.array(x[:2000].tolist()).dictionary_encode(), pa.array(x[2000:].tolist()).dictionary_encode()]
            )
            for x in (a, b, o)
        ]
    coded = BattleCounts()
    assert added_in_parallel(coded, cols, w)
    assert "never-played" not in coded.models and sorted(coded.models) == sorted(serial.models)
    got, want = by_name(coded), by_name(serial)
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == pytest.approx(want[key], rel=1e-12)


def test_coded_columns_report_missing_and_unknown_values_by_row() -> None:
    a, b, o = battles(3000, seed=8)
    cat_a = pd.Categorical(a)
    cat_a[1234] = np.nan
    with pytest.raises(InvalidBattleError, match="row 1234: model_a is missing"):
        BattleCounts().add_many(pd.Series(cat_a), pd.Series(pd.Categorical(b)), pd.Series(pd.Categorical(o)))
    o = o.copy()
    o[2222] = "draw"
    with pytest.raises(InvalidBattleError, match="unknown outcome 'draw' at row 2222"):
        BattleCounts().add_many(*(pd.Series(pd.Categorical(x)) for x in (a, b, o)))
    indices = pa.array([0] * 2999 + [None], type=pa.int32())
    with pytest.raises(InvalidBattleError, match="row 2999: outcome is missing"):
        BattleCounts().add_many(
            pa.array(a.tolist()), pa.array(b.tolist()), pa.DictionaryArray.from_arrays(indices, ["tie"])
        )
