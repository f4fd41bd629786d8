"""Shared fixtures of the arena service tests: scripted models, a store (SQLite, and Postgres when
``TRUSTPLANE_TEST_POSTGRES_URL`` is set), the log and a controllable clock.

Test modules import the fixtures they use by their function names (``FIXTURES``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._postgres import fresh_schema_url
from trustplane.arena import Arena, ArenaPolicy
from trustplane.core.config import ModelConfig, Settings
from trustplane.core.log import TransparencyLog
from trustplane.core.store import Store

PG_ENV = "TRUSTPLANE_TEST_POSTGRES_URL"
DAY_MS = 86_400_000


def scripted_models(n: int = 4, **extra: Any) -> list[ModelConfig]:
    return [
        ModelConfig(name=f"m{i}", backend="scripted", options={"replies": [f"answer {i}: the sky is blue"], **extra})
        for i in range(n)
    ]


def make_settings(home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"home": home, "models": scripted_models(), "default_model": "m0"}
    values.update(overrides)
    return Settings(**values)


class Clock:
    """Milliseconds since the epoch, starting now; tests move it forward to cross deadlines."""

    def __init__(self) -> None:
        import time

        self.now = time.time_ns() // 1_000_000

    def __call__(self) -> int:
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@pytest.fixture(name="db_url", params=["sqlite", "postgres"])
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'arena.db'}"
        return
    with fresh_schema_url("tp_arena") as url:
        yield url


@pytest.fixture(name="arena_settings")
def arena_settings_fixture(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "home")


@pytest.fixture(name="arena_store")
def arena_store_fixture(db_url: str) -> Iterator[Store]:
    store = Store(db_url)
    store.upgrade()
    yield store
    store.dispose()


@pytest.fixture(name="clock")
def clock_fixture() -> Clock:
    return Clock()


def build_arena(
    store: Store, settings: Settings, clock: Clock, policy: ArenaPolicy | None = None, seed: int = 7
) -> Arena:
    return Arena(store, TransparencyLog(store, settings), settings, policy, random_state=seed, clock=clock)


@pytest.fixture(name="arena")
def arena_fixture(arena_store: Store, arena_settings: Settings, clock: Clock) -> Arena:
    return build_arena(arena_store, arena_settings, clock)


def run_battle(arena: Arena, outcome: str, prompt: str = "why is the sky blue?", category: str = "general") -> Any:
    """Create a battle, collect both answers, vote; returns the reveal."""
    ticket = arena.create_battle(prompt, category)
    asyncio.run(arena.answer(ticket.battle_id, prompt))
    return arena.vote(ticket.battle_id, outcome)


def setup_public(arena: Arena, names: dict[str, str], *, models: bool = True) -> None:
    """Register ``variant -> provider`` pairs as public variants with models m0, m1, ..."""
    for provider in sorted(set(names.values())):
        if provider not in {p["name"] for p in arena.providers()}:
            arena.register_provider(provider)
    for i, (variant, provider) in enumerate(names.items()):
        arena.register_variant(variant, provider, f"m{i}" if models else None, private=False)


FIXTURES = (db_url_fixture, arena_settings_fixture, arena_store_fixture, clock_fixture, arena_fixture)
