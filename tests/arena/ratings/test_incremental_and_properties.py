"""Incremental updates equal batch fits; ratings are invariant to battle order and equivariant to relabelling."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from trustplane.arena.ratings import BattleCounts, BradleyTerry

from ._helpers import simulate


def test_add_battle_then_refit_equals_batch_fit():
    rng = np.random.default_rng(20)
    a, b, out = simulate(np.linspace(-1, 1, 6), 3000, rng, ties="davidson", tie_param=0.6)
    w = rng.uniform(0.5, 2.0, len(a))
    batch = BradleyTerry(ci="sandwich").fit(a, b, out, weights=w)
    inc = BradleyTerry(ci="sandwich")
    for x, y, o, wt in zip(a, b, out, w, strict=True):
        inc.add_battle(str(x), str(y), int(o), weight=float(wt))
    inc.refit()
    bd, idict = batch.result_.as_dict(), inc.result_.as_dict()
    assert bd.keys() == idict.keys()
    for k in bd:
        assert abs(bd[k] - idict[k]) < 1e-8
    assert batch.result_.se is not None and inc.result_.se is not None
    np.testing.assert_allclose(
        np.array([batch.result_.se[batch.models_.index(m)] for m in inc.models_]), inc.result_.se, rtol=1e-8
    )


def test_partial_fit_warm_starts_and_matches_batch():
    rng = np.random.default_rng(21)
    a, b, out = simulate(np.linspace(-1, 1, 8), 20_000, rng, ties="half", tie_param=0.6)
    bt = BradleyTerry(ci=None)
    for chunk in np.array_split(np.arange(len(a)), 4):
        bt.partial_fit(a[chunk], b[chunk], out[chunk])
    full = BradleyTerry(ci=None).fit(a, b, out)
    np.testing.assert_allclose([bt.result_.as_dict()[m] for m in full.models_], full.ratings_, atol=1e-8)
    # one more battle: the warm start needs at most a couple of Newton steps
    bt.add_battle("m0", "m1", "a").refit()
    assert bt.n_iter_ <= 3
    assert bt.counts_.n_battles == len(a) + 1


def test_counts_are_sufficient_statistics():
    c = BattleCounts()
    c.add("x", "y", "a")
    c.add("y", "x", "a")  # stored as x-y with "hi wins"
    c.add("x", "y", "tie (bothbad)", weight=2.0)
    lo, hi, w, w2, raw = c.arrays()
    assert (lo.tolist(), hi.tolist()) == ([0], [1])
    assert w.tolist() == [[1.0, 1.0, 0.0, 2.0]]
    assert w2.tolist() == [[1.0, 1.0, 0.0, 4.0]]
    assert raw.tolist() == [[1.0, 1.0, 0.0, 1.0]]
    assert c.n_pairs == 1 and c.n_battles == 3


battles = st.lists(
    st.tuples(st.integers(0, 4), st.integers(1, 4), st.sampled_from(["a", "b", "tie"])), min_size=30, max_size=80
)


def _arrays(rows):
    a = np.array([f"m{i}" for i, _, _ in rows])
    b = np.array([f"m{(i + j) % 5}" for i, j, _ in rows])
    o = np.array([r[2] for r in rows])
    # a round-robin of ties guarantees a connected graph and Ford's condition
    ring_a = np.array([f"m{i}" for i in range(5)])
    ring_b = np.array([f"m{(i + 1) % 5}" for i in range(5)])
    return np.concatenate([a, ring_a]), np.concatenate([b, ring_b]), np.concatenate([o, np.full(5, "tie")])


@settings(max_examples=30, deadline=None)
@given(battles, st.randoms(use_true_random=False), st.permutations([f"m{i}" for i in range(5)]))
def test_order_invariance_and_relabelling_equivariance(rows, rnd, perm):
    a, b, o = _arrays(rows)
    base = BradleyTerry().fit(a, b, o).result_
    order = list(range(len(a)))
    rnd.shuffle(order)
    shuffled = BradleyTerry().fit(a[order], b[order], o[order]).result_
    bd, sd = base.as_dict(), shuffled.as_dict()
    for k in bd:
        assert abs(bd[k] - sd[k]) < 1e-5
    # swapping the sides of every battle (and the outcome) changes nothing either
    flip = {"a": "b", "b": "a", "tie": "tie"}
    swapped = BradleyTerry().fit(b, a, np.array([flip[x] for x in o])).result_.as_dict()
    for k in bd:
        assert abs(bd[k] - swapped[k]) < 1e-5
    # relabelling: rename model mi -> perm[i]; the renamed model gets the same rating
    rename = {f"m{i}": perm[i] for i in range(5)}
    ra = np.array([rename[x] for x in a])
    rb = np.array([rename[x] for x in b])
    relabelled = BradleyTerry().fit(ra, rb, o).result_.as_dict()
    for k, v in bd.items():
        assert abs(relabelled[rename[k]] - v) < 1e-5
