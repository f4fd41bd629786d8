"""Active pair sampling (uncertainty-targeted with a uniform floor), logged probabilities, provider shares."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.arena._arena_helpers import (  # noqa: F401 - fixtures
    arena_fixture,
    arena_settings_fixture,
    arena_store_fixture,
    clock_fixture,
    db_url_fixture,
    run_battle,
    setup_public,
)
from trustplane.arena import Arena, ArenaInputError, NoPairError, pair_distribution, plot_shares, share_report

DAY = 86_400_000


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 9),
    st.floats(0.01, 1.0),
    st.lists(st.integers(0, 500), min_size=9, max_size=9),
)
def test_probabilities_sum_to_one_with_a_floor(m: int, floor: float, counts: list[int]) -> None:
    names = [f"v{i}" for i in range(m)]
    dist = pair_distribution(names, votes=dict(zip(names, counts, strict=False)), floor=floor)
    n_pairs = m * (m - 1) // 2
    assert len(dist.pairs) == n_pairs
    assert dist.prob.sum() == pytest.approx(1.0)
    assert dist.prob.min() >= floor / n_pairs * (1 - 1e-9)
    # the count proxy favours the pair with the least data
    if len(set(counts[:m])) > 1:
        least = int(np.argmax(dist.uncertainty))
        assert dist.prob[least] == dist.prob.max()


def test_fit_covariance_targets_the_most_uncertain_pair() -> None:
    cov = np.array([[4.0, 1.0, 0.0], [1.0, 9.0, 0.0], [0.0, 0.0, 100.0]])
    dist = pair_distribution(["a", "b", "c"], votes={}, floor=0.1, covariance=cov, fitted=["a", "b", "c"])
    assert dist.source == "fit"
    # Var(a-b) = 4 + 9 - 2 = 11, Var(a-c) = 104, Var(b-c) = 109
    assert dist.uncertainty.tolist() == [11.0, 104.0, 109.0]
    expected = 0.9 * np.array([11, 104, 109]) / 224 + 0.1 / 3
    assert dist.prob == pytest.approx(expected)
    assert dist.probability("c", "b") == pytest.approx(expected[2])
    # a variant outside the fit: back to the count proxy
    dist2 = pair_distribution(["a", "b", "new"], votes={"a": 10}, floor=0.1, covariance=cov, fitted=["a", "b", "c"])
    assert dist2.source == "counts"


def test_bad_input() -> None:
    with pytest.raises(NoPairError):
        pair_distribution(["a"], votes={}, floor=0.5)
    with pytest.raises(ArenaInputError):
        pair_distribution(["a", "a"], votes={}, floor=0.5)
    with pytest.raises(ArenaInputError):
        pair_distribution(["a", "b"], votes={}, floor=0.0)


def test_draws_follow_the_distribution() -> None:
    dist = pair_distribution(["a", "b", "c"], votes={"a": 100, "b": 100, "c": 0}, floor=0.2)
    rng = np.random.default_rng(1)
    draws = [dist.draw(rng) for _ in range(6000)]
    for (i, j), p in zip(dist.pairs, dist.prob, strict=True):
        pair = {dist.variants[i], dist.variants[j]}
        freq = sum(1 for a, b, _ in draws if {a, b} == pair) / len(draws)
        assert freq == pytest.approx(p, abs=0.025)
    assert all(q == dist.probability(a, b) for a, b, q in draws[:50])
    sides = sum(1 for a, _, _ in draws if a == "a") / sum(1 for a, b, _ in draws if "a" in (a, b))
    assert sides == pytest.approx(0.5, abs=0.05)  # A/B sides are a fair coin


def test_every_battle_logs_the_probability_it_was_drawn_with(arena: Arena) -> None:
    setup_public(arena, {"a": "acme", "b": "beta", "c": "gamma"})
    for _ in range(6):
        before = arena.sampling_distribution()
        reveal = run_battle(arena, "a")
        assert reveal.sampling_prob == pytest.approx(before.probability(reveal.variant_a, reveal.variant_b))
        entry = arena.log.entry(reveal.log_index)  # type: ignore[arg-type]
        assert entry.payload["sampling_prob"] == reveal.sampling_prob and entry.payload["mode"] == "sampled"
    board = arena.leaderboard().data
    assert board["ipw"] is True and board["battles_without_sampling_prob"] == 0


def test_provider_shares_by_day_and_week(tmp_path: Path) -> None:
    monday = 1_767_571_200_000  # 2026-01-05 00:00 UTC, a Monday
    rows = [
        {"provider_a": "big", "provider_b": "small", "created_ms": monday, "voted_ms": monday + 5},
        {"provider_a": "big", "provider_b": "big", "created_ms": monday + 1, "voted_ms": None},
        {"provider_a": "small", "provider_b": "big", "created_ms": monday + DAY, "voted_ms": monday + DAY},
        {"provider_a": "mid", "provider_b": "big", "created_ms": monday + 7 * DAY, "voted_ms": monday + 7 * DAY},
    ]
    day = share_report(rows, "day")
    assert day.periods == ("2026-01-05", "2026-01-06", "2026-01-12")
    assert day.battles["2026-01-05"] == {"big": 3, "mid": 0, "small": 1}
    assert day.battle_share["2026-01-05"]["big"] == pytest.approx(0.75)
    assert day.vote_share["2026-01-05"] == {"big": 0.5, "mid": 0.0, "small": 0.5}
    assert day.total_battle_share == pytest.approx({"big": 5 / 8, "mid": 1 / 8, "small": 2 / 8})
    assert day.total_vote_share == pytest.approx({"big": 3 / 6, "mid": 1 / 6, "small": 2 / 6})
    assert (day.n_battles, day.n_votes) == (4, 3)
    week = share_report(rows, "week")
    assert week.periods == ("2026-01-05", "2026-01-12")
    assert week.battles["2026-01-05"]["big"] == 4
    for p in week.periods:
        assert sum(week.battle_share[p].values()) == pytest.approx(1.0)
    saved = plot_shares(week, tmp_path)
    assert saved.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "big" in saved.html.read_text()
    with pytest.raises(ArenaInputError):
        share_report(rows, "month")


def test_sampling_targets_the_pairs_the_fit_knows_least(arena: Arena) -> None:
    setup_public(arena, {"a": "acme", "b": "beta", "c": "gamma"})
    script = [("a", "b", o) for o in ("a", "b", "tie") * 20] + [("a", "c", "a"), ("c", "a", "a"), ("b", "c", "tie")]
    for x, y, o in script[:30]:
        arena.record_battle(x, y, o, sampling_prob=0.5)
    assert arena.sampling_distribution().source == "counts"  # no finite fit yet: c has no battles
    for x, y, o in script[30:]:
        arena.record_battle(x, y, o, sampling_prob=0.5)
    dist = arena.sampling_distribution()
    assert dist.source == "fit"
    assert dist.probability("a", "b") == dist.prob.min()  # the best-measured pair is drawn least
    assert dist.prob.min() >= arena.policy.uniform_floor / 3
    # the incrementally updated fit equals a fit from scratch
    from trustplane.arena import BradleyTerry

    fresh = BradleyTerry(ci="sandwich").fit([s[0] for s in script], [s[1] for s in script], [s[2] for s in script])
    models, cov = arena._current_fit()  # type: ignore[misc]
    order = [models.index(m) for m in fresh.models_]
    assert np.allclose(np.asarray(cov)[np.ix_(order, order)], fresh.covariance_, rtol=1e-6)
