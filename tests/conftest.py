"""Shared fixtures: settings rooted in a temporary home, a migrated store and a transparency log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from trustplane.core.config import ModelConfig, Settings
from trustplane.core.log import TransparencyLog
from trustplane.core.store import Store

REPO_ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    """``TRUSTPLANE_DATA_DIR`` when set, else the repository's sibling ``../shared/data``."""
    env = os.environ.get("TRUSTPLANE_DATA_DIR")
    return Path(env).resolve() if env else (REPO_ROOT.parent / "shared" / "data").resolve()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the end-to-end tests last: Playwright's sync API keeps an event loop running in the main thread
    for the whole session, and ``asyncio.run`` refuses to start inside it."""
    is_e2e = ["/tests/e2e/" in str(i.path).replace(os.sep, "/") for i in items]
    items[:] = [i for i, e in zip(items, is_e2e, strict=True) if not e] + [
        i for i, e in zip(items, is_e2e, strict=True) if e
    ]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        database_url=None,
        data_dir=_data_dir(),
        models=[ModelConfig(name="scripted", backend="scripted", options={"replies": ["hello world"]})],
        default_model="scripted",
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    s = Store(settings.resolved_database_url)
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def log(store: Store, settings: Settings) -> TransparencyLog:
    return TransparencyLog(store, settings)
