"""Leaderboards from the log: signed snapshots reproduce bit for bit; the rules hold even for entries written
around the service; best-of-N correction and the provisional flag."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.arena._arena_helpers import (  # noqa: F401 - fixtures
    DAY_MS,
    Clock,
    arena_fixture,
    arena_settings_fixture,
    arena_store_fixture,
    build_arena,
    clock_fixture,
    db_url_fixture,
    setup_public,
)
from trustplane.arena import (
    Arena,
    ArenaPolicy,
    BradleyTerry,
    FitParams,
    Record,
    SnapshotMismatchError,
    UnknownSnapshotError,
    UnknownVariantError,
    build_leaderboard,
    expected_max_normal,
    reproduce_export,
)
from trustplane.arena._store import snapshots
from trustplane.core.config import Settings
from trustplane.core.log import export_log, public_pem
from trustplane.core.store import Store, log_entries

SCRIPT = [("a", "b", "a"), ("b", "c", "b"), ("c", "a", "tie"), ("a", "c", "a"), ("b", "a", "both_bad"), ("c", "b", "a")]


def _fill(arena: Arena, rounds: int = 3) -> None:
    setup_public(arena, {"a": "acme", "b": "beta", "c": "gamma"})
    for _ in range(rounds):
        for x, y, o in SCRIPT:
            arena.record_battle(x, y, o, sampling_prob=1 / 3, category="general")


# --- snapshots reproduce --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ci", ["sandwich", "bootstrap"])
def test_snapshot_is_signed_and_reproduces_bit_for_bit(arena: Arena, ci: str) -> None:
    _fill(arena)
    params = FitParams(ci=ci, seed=11, n_bootstrap=50)
    snap = arena.snapshot(params)
    entry = arena.log.entry(snap.index)
    assert entry.kind == "arena.snapshot"
    assert entry.payload["sha256"] == hashlib.sha256(snap.leaderboard.body).hexdigest() == snap.sha256
    assert entry.payload["log_size"] == snap.index  # computed from everything before it
    assert entry.payload["params"]["seed"] == 11 and entry.payload["params"]["ci"] == ci
    # later entries do not change what the snapshot reproduces to
    arena.record_battle("a", "b", "b", sampling_prob=1 / 3)
    rep = arena.reproduce(snap.index)
    assert rep.matches and rep.included
    assert rep.leaderboard.body == snap.leaderboard.body
    with arena.store.read() as conn:
        stored = conn.execute(snapshots.select()).one()
    assert bytes(stored.body) == snap.leaderboard.body
    assert arena.latest_snapshot()[1] == snap.leaderboard.body  # type: ignore[index]
    # and a fresh leaderboard (one more battle) differs
    assert arena.leaderboard(params).sha256 != snap.sha256


def test_reproduce_detects_a_tampered_entry(arena: Arena) -> None:
    _fill(arena)
    snap = arena.snapshot()
    # edit a logged vote behind the log's back
    with arena.store.write() as conn:
        row = conn.execute(
            log_entries.select().where(log_entries.c.kind == "arena.battle").order_by(log_entries.c.idx).limit(1)
        ).one()
        obj = json.loads(bytes(row.data))
        obj["payload"]["outcome"] = "b" if obj["payload"]["outcome"] == "a" else "a"
        conn.execute(log_entries.update().where(log_entries.c.idx == row.idx).values(data=json.dumps(obj).encode()))
    rep = arena.reproduce(snap.index)
    assert not rep.matches


def test_reproduce_needs_a_snapshot_entry(arena: Arena) -> None:
    _fill(arena, rounds=1)
    with pytest.raises(UnknownSnapshotError) as err:
        arena.reproduce(1)  # a registration
    assert err.value.status == 404 and err.value.code == "arena.unknown_snapshot"
    with pytest.raises(UnknownSnapshotError):
        arena.reproduce(10_000)


def test_reproduce_from_an_exported_log(arena: Arena, tmp_path: Path) -> None:
    _fill(arena)
    snap = arena.snapshot(FitParams(ci="bootstrap", seed=5, n_bootstrap=30))
    path = tmp_path / "log.jsonl"
    export_log(arena.log, path)
    key = arena.log.active_key().public_key
    rep = reproduce_export(path, key, snap.index)
    assert rep.matches and rep.source == "export" and rep.leaderboard.body == snap.leaderboard.body
    with pytest.raises(UnknownSnapshotError):
        reproduce_export(path, key, 0)
    assert public_pem(key)  # the key an auditor is given


def test_snapshot_mismatch_error_is_a_verification_failure() -> None:
    err = SnapshotMismatchError("x")
    assert err.exit_code == 1 and err.code == "arena.snapshot_mismatch"


# --- the leaderboard enforces the rules on the log itself ----------------------------------------------------
def _records(*items: tuple[str, dict[str, object]], t0: int = 1_000_000) -> list[Record]:
    return [Record(i, kind, dict(payload), t0 + i) for i, (kind, payload) in enumerate(items)]


def _reg(v: str, p: str, private: bool = False) -> tuple[str, dict[str, object]]:
    return "arena.variant_registered", {"variant": v, "provider": p, "private": private}


def _battle(
    i: int, a: str, b: str, o: str, p: float | None = 0.5, cat: str = "general"
) -> tuple[str, dict[str, object]]:
    payload: dict[str, object] = {
        "battle_id": f"b{i}",
        "variant_a": a,
        "variant_b": b,
        "outcome": o,
        "mode": "recorded",
    }
    payload["category"] = cat
    if p is not None:
        payload["sampling_prob"] = p
    return "arena.battle", payload


def _board(recs: list[Record], policy: ArenaPolicy | None = None, as_of: int = 2_000_000, **params: object) -> dict:  # type: ignore[type-arg]
    return build_leaderboard(
        recs,
        log_size=len(recs),
        as_of_ms=as_of,
        params=FitParams(**params),
        policy=policy or ArenaPolicy(),  # type: ignore[arg-type]
    ).data


def test_battles_logged_before_registration_are_rejected_and_listed() -> None:
    recs = _records(
        _battle(0, "a", "b", "a"),  # before any registration: rejected
        _reg("a", "x"),
        _reg("b", "y"),
        _battle(1, "a", "b", "a"),
        _battle(2, "a", "b", "b"),
        _battle(2, "a", "b", "b"),  # the same battle id again: counted once
        _battle(3, "a", "ghost", "a"),
    )
    board = _board(recs)
    assert board["n_battles"] == 2
    assert [r["reason"] for r in board["rejected"]] == [
        "unregistered variant a",
        "battle b2 logged again",
        "unregistered variant ghost",
    ]
    assert board["n_rejected"] == 3


def test_deadlines_publish_even_without_a_publication_entry() -> None:
    """A log written around the service (no arena.publication entries) still publishes every variant."""
    policy = ArenaPolicy(publish_after_votes=4, publish_after_ms=10 * DAY_MS)
    recs = _records(
        _reg("pub", "x"),
        _reg("votes", "y", private=True),
        _reg("quiet", "z", private=True),
        *[_battle(i, "pub", "votes", o) for i, o in enumerate(["a", "b", "tie", "a", "b"])],
        _battle(9, "pub", "quiet", "a"),
        _battle(10, "quiet", "pub", "a"),
    )
    board = _board(recs, policy)
    rows = {r["variant"]: r for r in board["rows"]}
    assert set(rows) == {"pub", "votes"}
    assert rows["votes"]["publication_reason"] == "vote_deadline" and rows["votes"]["published_index"] == 6
    assert rows["votes"]["fresh_votes"] == 1  # one battle after the fourth
    assert board["private_unpublished"] == {"z": 1}
    later = _board(recs, policy, as_of=1_000_000 + 10 * DAY_MS + 2)  # after quiet's time deadline
    assert {r["variant"]: r["publication_reason"] for r in later["rows"]}["quiet"] == "time_deadline"
    assert later["private_unpublished"] == {}


def test_best_of_n_correction_and_provisional_flag() -> None:
    policy = ArenaPolicy(provisional_votes=3, selection_window_ms=DAY_MS)
    rng = np.random.default_rng(0)
    battles = []
    names = ["base", "t1", "t2", "t3"]
    for i in range(400):
        a, b = rng.choice(4, size=2, replace=False)
        battles.append(_battle(i, names[a], names[b], str(rng.choice(["a", "b", "tie"]))))
    recs = _records(
        _reg("base", "other"),
        _reg("t1", "tester", private=True),
        _reg("t2", "tester", private=True),
        _reg("t3", "tester", private=True),
        ("arena.publication", {"variant": "t2", "reason": "requested", "votes": 0}),
        *battles,
    )
    board = _board(recs, policy)
    rows = {r["variant"]: r for r in board["rows"]}
    assert rows["t2"]["n_selection"] == 3 and rows["base"]["n_selection"] == 1
    assert rows["t2"]["correction"] == pytest.approx(rows["t2"]["se"] * expected_max_normal(3), abs=1e-5)
    assert rows["t2"]["score"] == pytest.approx(rows["t2"]["rating"] - rows["t2"]["correction"], abs=1e-5)
    assert rows["base"]["correction"] == 0.0
    # t1 and t3 were never published: they are fitted but not shown
    assert set(rows) == {"base", "t2"} and board["private_unpublished"] == {"tester": 2}
    assert not rows["t2"]["provisional"] and rows["t2"]["fresh_votes"] > 3
    early = _records(*recs_items(recs)[:6])
    assert {r["variant"]: r["provisional"] for r in _board(early, policy)["rows"]} == {"base": True, "t2": True}


def recs_items(recs: list[Record]) -> list[tuple[str, dict[str, object]]]:
    return [(r.kind, r.payload) for r in recs]


def test_ipw_uses_the_logged_probabilities() -> None:
    rng = np.random.default_rng(3)
    names = ["a", "b", "c"]
    items = [_reg(n, n) for n in names]
    a_, b_, o_, p_ = [], [], [], []
    for i in range(300):
        x, y = rng.choice(3, size=2, replace=False)
        o = str(rng.choice(["a", "b", "tie"], p=[0.5, 0.3, 0.2]))
        p = float(rng.choice([0.1, 0.5, 0.4]))
        items.append(_battle(i, names[x], names[y], o, p))
        a_.append(names[x]), b_.append(names[y]), o_.append(o), p_.append(p)
    recs = _records(*items)
    with_ipw = {r["variant"]: r["rating"] for r in _board(recs)["rows"]}
    without = {r["variant"]: r["rating"] for r in _board(recs, ipw=False)["rows"]}
    expected = BradleyTerry(ci=None).fit(a_, b_, o_, sampling_prob=p_).result_.as_dict()
    assert with_ipw == {k: pytest.approx(v, abs=1e-5) for k, v in expected.items()}
    assert with_ipw != without
    # one battle without a probability switches IPW off, visibly
    recs2 = _records(*items, _battle(999, "a", "b", "a", None))
    board2 = _board(recs2)
    assert board2["ipw"] is False and board2["battles_without_sampling_prob"] == 1


def test_disconnected_components_are_ranked_separately() -> None:
    items = [_reg(n, n) for n in ("a", "b", "c", "d")]
    for i, (x, y, o) in enumerate(
        [("a", "b", "a"), ("a", "b", "a"), ("a", "b", "b"), ("c", "d", "a"), ("c", "d", "tie")]
    ):
        items.append(_battle(i, x, y, o))
    board = _board(_records(*items))
    assert board["components"] == [["a", "b"], ["c", "d"]]
    comps = {r["variant"]: (r["component"], r["rank"]) for r in board["rows"]}
    assert {comps["a"][0], comps["b"][0]} != {comps["c"][0]}
    assert sorted(r for _, r in comps.values()) == [1, 1, 2, 2]


def test_unrated_and_anchor() -> None:
    items = [_reg("a", "x"), _reg("b", "y"), _reg("lonely", "z"), _battle(0, "a", "b", "a")]
    board = _board(_records(*items))
    rows = {r["variant"]: r for r in board["rows"]}
    assert rows["a"]["unrated"] == "no_finite_mle" and rows["lonely"]["unrated"] == "no_battles"
    with pytest.raises(UnknownVariantError):
        _board(_records(*items), anchor="lonely")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(["a", "b", "tie", "both_bad"])),
        min_size=1,
        max_size=40,
    ),
    st.integers(0, 2**31 - 1),
)
def test_rebuilding_gives_the_same_bytes(script: list[tuple[int, int, str]], seed: int) -> None:
    """Any log prefix rebuilds to identical canonical bytes, and the bytes parse back to the data."""
    names = ["w", "x", "y", "z"]
    items = [_reg(n, n) for n in names]
    items += [_battle(i, names[a], names[b], o) for i, (a, b, o) in enumerate(script) if a != b]
    recs = _records(*items)
    params = FitParams(ci="bootstrap", seed=seed, n_bootstrap=20)
    one = build_leaderboard(recs, log_size=len(recs), as_of_ms=5, params=params, policy=ArenaPolicy())
    two = build_leaderboard(list(recs), log_size=len(recs), as_of_ms=5, params=params, policy=ArenaPolicy())
    assert one.body == two.body and one.sha256 == hashlib.sha256(one.body).hexdigest()
    assert json.loads(one.body) == json.loads(json.dumps(one.data))


# --- the service applies the policy it records --------------------------------------------------------------
def test_snapshot_records_policy_and_reproduces_under_it(
    arena_store: Store, arena_settings: Settings, clock: Clock
) -> None:
    policy = ArenaPolicy(provisional_votes=2, publish_after_votes=5)
    arena = build_arena(arena_store, arena_settings, clock, policy)
    _fill(arena, rounds=2)
    snap = arena.snapshot()
    assert arena.log.entry(snap.index).payload["policy"]["provisional_votes"] == 2
    other = build_arena(arena_store, arena_settings, clock, ArenaPolicy())  # a service with another policy
    assert other.reproduce(snap.index).matches
