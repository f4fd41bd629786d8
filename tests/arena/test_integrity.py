"""The arena's integrity rules, each enforced by the library (and attempts to get around them)."""

from __future__ import annotations

import asyncio
import inspect
import pathlib

import pytest
from sqlalchemy import delete, select, update

from tests.arena._arena_helpers import (  # noqa: F401 - fixtures
    DAY_MS,
    Clock,
    arena_fixture,
    arena_settings_fixture,
    arena_store_fixture,
    build_arena,
    clock_fixture,
    db_url_fixture,
    run_battle,
    setup_public,
)
from trustplane.arena import (
    AlreadyVotedError,
    Arena,
    ArenaInputError,
    ArenaPolicy,
    BattleNotReadyError,
    DeprecationPolicyError,
    DuplicateError,
    NoPairError,
    NotPublishedError,
    PrivateVariantCapError,
    UnknownBattleError,
    UnknownProviderError,
    UnregisteredVariantError,
)
from trustplane.arena._store import battles, variants
from trustplane.core.config import Settings
from trustplane.core.errors import ModelNotFoundError
from trustplane.core.store import Store


# --- registration before battles ----------------------------------------------------------------------------
def test_registration_goes_into_the_log_before_any_battle(arena: Arena) -> None:
    arena.register_provider("acme")
    info = arena.register_variant("acme-1", "acme", "m0")
    entry = arena.log.entry(info.registered_index)  # type: ignore[arg-type]
    assert entry.kind == "arena.variant_registered"
    assert entry.payload == {"variant": "acme-1", "provider": "acme", "model": "m0", "private": True}
    assert info.private and not info.published


def test_a_battle_for_an_unregistered_variant_is_refused(arena: Arena) -> None:
    setup_public(arena, {"a": "acme", "b": "beta"})
    size = arena.log.size()
    with pytest.raises(UnregisteredVariantError) as err:
        arena.record_battle("a", "ghost", "a")
    assert err.value.code == "arena.unregistered_variant"
    assert err.value.extra["variant"] == "ghost"
    assert arena.log.size() == size  # nothing logged


def test_registration_errors(arena: Arena) -> None:
    with pytest.raises(UnknownProviderError):
        arena.register_variant("x", "nobody", "m0")
    arena.register_provider("acme")
    with pytest.raises(DuplicateError):
        arena.register_provider("acme")
    with pytest.raises(ModelNotFoundError):
        arena.register_variant("x", "acme", "no-such-model")
    with pytest.raises(ArenaInputError):
        arena.register_variant("has space", "acme", "m0")
    arena.register_variant("x", "acme", "m0")
    with pytest.raises(DuplicateError):  # names are never reused, not even by another provider
        arena.register_provider("beta")
        arena.register_variant("x", "beta", "m1")


def test_a_half_registered_variant_cannot_battle(arena: Arena) -> None:
    """A row whose log append never completed (registered_index NULL) is not sampled or accepted."""
    setup_public(arena, {"a": "acme", "b": "beta", "c": "gamma"})
    with arena.store.write() as conn:
        conn.execute(update(variants).where(variants.c.name == "c").values(registered_index=None))
    assert "c" not in arena.sampling_distribution().variants
    with pytest.raises(UnregisteredVariantError):
        arena.record_battle("a", "c", "a")


# --- the private-variant cap ----------------------------------------------------------------------------------
def test_private_variant_cap_per_provider(arena_store: Store, arena_settings: Settings, clock: Clock) -> None:
    arena = build_arena(arena_store, arena_settings, clock, ArenaPolicy(max_private_variants=2))
    arena.register_provider("acme")
    arena.register_provider("beta")
    arena.register_variant("a1", "acme", "m0")
    arena.register_variant("a2", "acme", "m1")
    size = arena.log.size()
    with pytest.raises(PrivateVariantCapError) as err:
        arena.register_variant("a3", "acme", "m2")
    assert err.value.code == "arena.private_variant_cap" and err.value.status == 409
    assert err.value.extra["private"] == ["a1", "a2"]
    assert arena.log.size() == size  # the refused registration left no trace in the log ...
    with arena.store.read() as conn:  # ... nor in the tables
        assert conn.execute(select(variants.c.name).where(variants.c.name == "a3")).first() is None
    arena.register_variant("b1", "beta", "m2")  # other providers are not affected
    arena.register_variant("a3", "acme", "m2", private=False)  # public variants do not count
    arena.publish("a1")  # publishing frees a slot
    arena.register_variant("a4", "acme", "m3")
    with pytest.raises(PrivateVariantCapError):
        arena.register_variant("a5", "acme", "m3")


def test_deadline_frees_a_slot_only_by_publishing(arena_store: Store, arena_settings: Settings, clock: Clock) -> None:
    policy = ArenaPolicy(max_private_variants=1, publish_after_ms=DAY_MS)
    arena = build_arena(arena_store, arena_settings, clock, policy)
    arena.register_provider("acme")
    arena.register_variant("a1", "acme", "m0")
    with pytest.raises(PrivateVariantCapError):
        arena.register_variant("a2", "acme", "m1")
    clock.advance(DAY_MS)
    arena.register_variant("a2", "acme", "m1")  # a1 was published by its deadline first ...
    a1 = arena.variant("a1")
    assert a1.published and a1.publication_reason == "time_deadline"
    assert arena.log.entry(a1.published_index).kind == "arena.publication"  # type: ignore[arg-type]


# --- publication is forced, retraction impossible -------------------------------------------------------------
def test_vote_deadline_forces_publication(arena_store: Store, arena_settings: Settings, clock: Clock) -> None:
    arena = build_arena(arena_store, arena_settings, clock, ArenaPolicy(publish_after_votes=3))
    setup_public(arena, {"pub": "beta"})
    arena.register_provider("acme")
    arena.register_variant("secret", "acme", "m1")
    published: list[str] = []
    for _ in range(3):
        published += run_battle(arena, "b").published
    assert published == ["secret"]
    info = arena.variant("secret")
    assert info.published and info.publication_reason == "vote_deadline"
    entry = arena.log.entry(info.published_index)  # type: ignore[arg-type]
    assert entry.payload == {"variant": "secret", "reason": "vote_deadline", "votes": 3}
    board = arena.leaderboard().data
    assert "secret" in [r["variant"] for r in board["rows"]]


def test_there_is_no_way_to_delete_or_retract() -> None:
    """Neither the library, the HTTP API nor the CLI offers deletion, retraction or unpublication."""
    banned = ("delete", "remove", "retract", "unpublish", "unregister", "drop", "withdraw", "hide", "undo", "revoke")
    methods = [n for n, _ in inspect.getmembers(Arena, predicate=inspect.isfunction)]
    assert not [m for m in methods if any(b in m.lower() for b in banned)], methods
    from trustplane.arena.router import router

    for route in router.routes:
        assert "DELETE" not in getattr(route, "methods", set()), route
        assert not any(b in getattr(route, "path", "").lower() for b in banned), route
    import typer.main

    from trustplane.arena.cli import app

    names = list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert not [n for n in names if any(b in n for b in banned)], names


def test_publishing_is_idempotent_and_never_reversed(arena: Arena) -> None:
    arena.register_provider("acme")
    arena.register_variant("v", "acme", "m0")
    first = arena.publish("v")
    again = arena.publish("v")
    assert first.published_index == again.published_index
    assert arena.log.kind_counts()["arena.publication"] == 1


def test_the_log_keeps_a_variant_whose_rows_were_deleted(arena: Arena) -> None:
    """Deleting rows in the database does not remove a variant from the leaderboard: the log is the truth."""
    setup_public(arena, {"a": "acme", "b": "beta"})
    for outcome in ("a", "b", "tie", "a"):
        arena.record_battle("a", "b", outcome, sampling_prob=1.0)
    with arena.store.write() as conn:
        conn.execute(delete(battles))
        conn.execute(delete(variants).where(variants.c.name == "b"))
    rows = {r["variant"]: r for r in arena.leaderboard().data["rows"]}
    assert set(rows) == {"a", "b"} and rows["b"]["votes"] == 4


# --- battles and votes ----------------------------------------------------------------------------------------
def test_vote_errors_and_reveal_after_vote(arena: Arena) -> None:
    setup_public(arena, {"a": "acme", "b": "beta"})
    ticket = arena.create_battle("hello?")
    assert arena.battle(ticket.battle_id).reveal is None
    with pytest.raises(BattleNotReadyError):  # no answers yet
        arena.vote(ticket.battle_id, "a")
    with pytest.raises(BattleNotReadyError):  # identities hidden before the vote
        arena.reveal(ticket.battle_id)
    view = asyncio.run(arena.answer(ticket.battle_id, "hello?"))
    assert view.status == "answered" and view.answer_a and view.answer_b and view.reveal is None
    with pytest.raises(ArenaInputError):
        arena.vote(ticket.battle_id, "c")
    with pytest.raises(UnknownBattleError) as unknown:
        arena.vote("no-such-battle", "a")
    assert unknown.value.status == 404 and unknown.value.code == "arena.unknown_battle"
    reveal = arena.vote(ticket.battle_id, "tie")
    assert {reveal.variant_a, reveal.variant_b} == {"a", "b"} and reveal.sampling_prob == 1.0
    with pytest.raises(AlreadyVotedError) as again:
        arena.vote(ticket.battle_id, "a")
    assert again.value.status == 409 and again.value.code == "arena.already_voted"
    assert arena.log.kind_counts()["arena.battle"] == 1
    logged = arena.log.entry(reveal.log_index)  # type: ignore[arg-type]
    assert logged.payload["outcome"] == "tie" and logged.payload["sampling_prob"] == 1.0
    assert "hello?" not in logged.data.decode()  # the prompt is logged only as its hash
    import hashlib

    assert logged.payload["prompt_sha256"] == hashlib.sha256(b"hello?").hexdigest()
    assert arena.reveal(ticket.battle_id).variant_a == reveal.variant_a


def test_concurrent_votes_count_once(arena: Arena) -> None:
    import threading

    setup_public(arena, {"a": "acme", "b": "beta"})
    ticket = arena.create_battle("q")
    asyncio.run(arena.answer(ticket.battle_id, "q"))
    results: list[str] = []

    def voter(outcome: str) -> None:
        try:
            arena.vote(ticket.battle_id, outcome)
            results.append("ok")
        except AlreadyVotedError:
            results.append("already")

    threads = [threading.Thread(target=voter, args=(o,)) for o in ("a", "b", "tie", "both_bad")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already", "already", "already", "ok"]
    assert arena.log.kind_counts()["arena.battle"] == 1


def test_streaming_checks_the_prompt_and_a_failed_backend_blocks_the_vote(arena_store: Store, tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    from tests.arena._arena_helpers import make_settings, scripted_models
    from trustplane.core.config import ModelConfig

    models = [
        *scripted_models(1),
        ModelConfig(name="broken", backend="scripted", options={"replies": ["x"], "fail_with": "error"}),
    ]
    settings = make_settings(tmp_path / "home2", models=models)
    arena = build_arena(arena_store, settings, clock)
    arena.register_provider("acme")
    arena.register_variant("ok", "acme", "m0", private=False)
    arena.register_variant("bad", "acme", "broken", private=False)
    ticket = arena.create_battle("question")
    with pytest.raises(ArenaInputError):
        asyncio.run(arena.answer(ticket.battle_id, "another question"))

    async def collect() -> list:  # type: ignore[type-arg]
        return [e async for e in arena.stream_answers(ticket.battle_id, "question")]

    events = asyncio.run(collect())
    assert events[-1].side is None and events[-1].ok is False
    failed = [e for e in events if e.error]
    assert failed and "broken" not in str(failed[0].as_json())  # identities stay hidden in errors
    with pytest.raises(BattleNotReadyError):
        arena.vote(ticket.battle_id, "a")


def test_no_pair_without_two_active_variants(arena: Arena) -> None:
    with pytest.raises(NoPairError):
        arena.create_battle("hi")
    setup_public(arena, {"a": "acme"})
    arena.register_provider("beta")
    arena.register_variant("offline", "beta", None, private=False)  # no backend: never sampled
    with pytest.raises(NoPairError) as err:
        arena.create_battle("hi")
    assert err.value.status == 409


# --- deprecation ---------------------------------------------------------------------------------------------
def test_deprecation_is_stratified_logged_and_keeps_the_fit(
    arena_store: Store, arena_settings: Settings, clock: Clock
) -> None:
    policy = ArenaPolicy(deprecation_min_votes=3, category_min_share=0.2)
    arena = build_arena(arena_store, arena_settings, clock, policy)
    setup_public(arena, {"a": "acme", "b": "beta", "c": "gamma"})
    script = [("a", "b", o, "math") for o in ("a", "b", "tie")] + [("a", "c", o, "coding") for o in ("a", "b", "tie")]
    script += [("b", "c", "a", "coding"), ("b", "c", "b", "math")]
    for x, y, o, cat in script:
        arena.record_battle(x, y, o, sampling_prob=1 / 3, category=cat)
    arena.register_variant("private-one", "acme", "m3")
    with pytest.raises(NotPublishedError):
        arena.deprecate("private-one", "retired")
    check = arena.deprecation_check("b")
    assert check.required == ("coding", "math") and check.category_share == {"coding": 0.5, "math": 0.5}
    assert check.category_votes == {"coding": 1, "math": 4} and check.short == {"coding": 1}
    with pytest.raises(DeprecationPolicyError) as err:
        arena.deprecate("b", "retired")
    assert err.value.extra["short"] == {"coding": 1}
    size = arena.log.size()
    with pytest.raises(ArenaInputError):
        arena.deprecate("a", "   ")
    assert arena.log.size() == size
    info = arena.deprecate("a", "superseded")
    entry = arena.log.entry(info.deprecated_index)  # type: ignore[arg-type]
    assert entry.kind == "arena.deprecation"
    assert entry.payload["forced"] is False and entry.payload["category_votes"] == {"coding": 3, "math": 3}
    assert entry.payload["min_votes"] == 3
    forced = arena.deprecate("b", "backend gone", force=True)
    assert arena.log.entry(forced.deprecated_index).payload["forced"] is True  # type: ignore[arg-type]
    with pytest.raises(DeprecationPolicyError):
        arena.deprecate("a", "again")
    # deprecated variants are no longer sampled ...
    assert set(arena.sampling_distribution().variants) == {"c", "private-one"}
    # ... but stay in the fit and on the leaderboard, flagged
    board = arena.leaderboard().data
    rows = {r["variant"]: r for r in board["rows"]}
    assert rows["a"]["deprecated"] and rows["a"]["votes"] == 6 and rows["a"].get("rating") is not None
    assert not rows["c"]["deprecated"]
    assert [(d["variant"], d["forced"]) for d in board["deprecations"]] == [("a", False), ("b", True)]


def test_policy_comes_from_the_settings(tmp_path: pathlib.Path) -> None:
    from trustplane.arena._service import policy_from_settings
    from trustplane.core.config import load_settings

    settings = load_settings(home=tmp_path, arena_policy={"max_private_variants": 1, "uniform_floor": 0.5})
    policy = policy_from_settings(settings)
    assert policy.max_private_variants == 1 and isinstance(policy.max_private_variants, int)
    assert policy.uniform_floor == 0.5 and policy.provisional_votes == ArenaPolicy().provisional_votes
    with pytest.raises(ArenaInputError, match="unknown policy fields: colour"):
        policy_from_settings(load_settings(home=tmp_path, arena_policy={"colour": 1}))
