"""Fixtures of the values tests: settings with planted models, a fresh model cache, the MFQ-30."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._postgres import fresh_schema_url
from tests.conftest import _data_dir
from tests.values import _planted  # noqa: F401  (registers the values-planted backend)
from tests.values._planted import planted_config
from trustplane.core.config import ModelConfig, Settings
from trustplane.core.models import clear_model_cache
from trustplane.values import Instrument, load_instrument

MakeSettings = Callable[..., Settings]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(autouse=True)
def _fresh_models() -> Iterator[None]:
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture
def mfq30(settings: Settings) -> Instrument:
    return load_instrument(settings, "mfq30")


@pytest.fixture
def make_settings(tmp_path: Path, mfq30: Instrument) -> MakeSettings:
    """Settings whose models are planted respondents (``name -> options``) plus a scripted one."""

    def make(home: str = "home", **models: dict[str, Any]) -> Settings:
        configs = [planted_config(mfq30, name=n, **opts) for n, opts in models.items()] or [planted_config(mfq30)]
        configs.append(ModelConfig(name="scripted", backend="scripted", options={"replies": ["3"]}))
        return Settings(home=tmp_path / home, data_dir=_data_dir(), models=configs, default_model=configs[0].name)

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    """None (SQLite under the home) or a fresh Postgres schema when TRUSTPLANE_TEST_POSTGRES_URL is set."""
    if request.param == "sqlite":
        yield None
        return
    from trustplane.core.store import _STORES

    with fresh_schema_url("tp_values") as url:
        try:
            yield url
        finally:
            store = _STORES.pop(url, None)
            if store is not None:
                store.dispose()
