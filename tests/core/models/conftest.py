"""Fixtures for the model backend tests: async runner, settings builder, a clean model cache."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from trustplane.core.config import ModelConfig, Settings
from trustplane.core.models import clear_model_cache


@pytest.fixture
def anyio_backend() -> str:
    """Run ``@pytest.mark.anyio`` tests on asyncio only (the server's loop)."""
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    """Each test starts with no cached :class:`Model` (loaded llama.cpp weights stay cached)."""
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Build settings holding the given models; the first is the default."""

    def make(*models: tuple[str, str, dict[str, Any]], default: str | None = None) -> Settings:
        configs = [ModelConfig(name=name, backend=backend, options=options) for name, backend, options in models]
        return Settings(home=tmp_path / "home", models=configs, default_model=default or configs[0].name)

    return make
