"""Fixtures for the access gateway: identities with JWKS files, settings, a store (SQLite, and Postgres when
``TRUSTPLANE_TEST_POSTGRES_URL`` is set), the app and an admin-authenticated http."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests._postgres import fresh_schema_url
from tests.access._helpers import ADMIN, AUDIENCE, ISSUER, STATUS_URL, VC_ISSUER, Identities, chunk_model
from trustplane.access import Gateway
from trustplane.core.config import ModelConfig, Settings
from trustplane.core.log import TransparencyLog
from trustplane.core.store import Store
from trustplane.server import create_app

PG_ENV = "TRUSTPLANE_TEST_POSTGRES_URL"
BENIGN_TEXT = "Cats sleep a lot. Dogs like walks in the park, and both enjoy a warm spot in the sun. " * 2
GREY_TEXT = (
    "Here is some context about laboratory safety rules and training. "
    "Gain-of-function research is tightly regulated in most countries. "
    "That is all I can say about the administrative side of it, thank you."
)


@pytest.fixture
def identities(tmp_path: Path) -> Identities:
    return Identities(tmp_path / "idp")


@pytest.fixture(name="db_url", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    with fresh_schema_url("tp_access") as url:
        yield url


def models() -> list[ModelConfig]:
    return [
        ModelConfig(name="echo", backend="scripted", options={"echo": True}),
        chunk_model("benign", [BENIGN_TEXT[i : i + 7] for i in range(0, len(BENIGN_TEXT), 7)]),
        chunk_model("grey", [GREY_TEXT[i : i + 5] for i in range(0, len(GREY_TEXT), 5)]),
        ModelConfig(name="broken", backend="scripted", options={"replies": ["never"], "fail_with": "error"}),
    ]


def make_settings(home: Path, identities: Identities, db_url: str | None = None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": db_url,
        "models": models(),
        "default_model": "echo",
        "access_classifier": "keyword",
        "admin_token": ADMIN,
        "oidc_issuer": ISSUER,
        "oidc_audience": AUDIENCE,
        "oidc_jwks_url": str(identities.idp_jwks),
        "access_vc_issuers": {VC_ISSUER: str(identities.vc_jwks)},
        "access_holdback_chars": 48,
        "access_max_request_bytes": 4096,
        "access_rate_limits": {"default": "1000/minute", "verified": "1000/minute", "tight": "2/minute"},
        "access_token_budgets": {"default": "10000000/day", "verified": "10000000/day", "tight": "1000000/day"},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def gw_settings(tmp_path: Path, identities: Identities, db_url: str | None) -> Settings:
    return make_settings(tmp_path / "home", identities, db_url)


@pytest.fixture
def access_app(gw_settings: Settings) -> FastAPI:
    return create_app(gw_settings)


@pytest.fixture
def http(access_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(access_app) as c:
        yield c


ADMIN_HEADERS = {"authorization": f"Bearer {ADMIN}"}


@pytest.fixture
def make_key(http: TestClient) -> Callable[..., str]:
    """Create an API key through the admin API; returns the secret token."""

    def make(name: str = "test", **fields: Any) -> str:
        response = http.post("/access/keys", json={"name": name, **fields}, headers=ADMIN_HEADERS)
        assert response.status_code == 201, response.text
        token: str = response.json()["api_key"]
        return token

    return make


class StatusServer:
    """The VC issuer's status list endpoint, as an httpx mock transport: revoke indices, count fetches."""

    def __init__(self, identities: Identities) -> None:
        self.identities = identities
        self.revoked: set[int] = set()
        self.fetches = 0
        self.down = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, text="down for maintenance")
        if str(request.url) != STATUS_URL:
            return httpx.Response(404)
        self.fetches += 1
        return httpx.Response(
            200, text=self.identities.status_list(self.revoked), headers={"content-type": "application/vc+jwt"}
        )

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.MockTransport(self.handler)


@pytest.fixture
def status_server(identities: Identities) -> StatusServer:
    return StatusServer(identities)


@pytest.fixture
def access_store(gw_settings: Settings) -> Iterator[Store]:
    s = Store(gw_settings.resolved_database_url)
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def gateway(gw_settings: Settings, access_store: Store, status_server: StatusServer) -> Gateway:
    log = TransparencyLog(access_store, gw_settings)
    log.ensure_initialised()
    return Gateway(gw_settings, access_store, log, transport=status_server.transport())
