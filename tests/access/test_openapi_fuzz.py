"""schemathesis against the OpenAPI of the access routes: no input makes the server fail (no 5xx), and
responses match their declared schemas."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.access._helpers import ADMIN, Identities
from tests.access.conftest import make_settings, models
from trustplane.access import ApiKeys, load_pepper
from trustplane.core.log import TransparencyLog
from trustplane.core.store import get_store
from trustplane.server import create_app

_counter = itertools.count()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("fuzz")
    identities = Identities(root / "idp")
    settings_ = make_settings(
        root / "home",
        identities,
        models=[m for m in models() if m.name != "broken"],  # its 502s are deliberate
        access_rate_limits={"default": "100000/minute", "verified": "100000/minute"},
    )
    store = get_store(settings_)
    store.upgrade()
    TransparencyLog(store, settings_).ensure_initialised()
    key = ApiKeys(store, load_pepper(settings_)).create("fuzz", assurance="substantial").token
    app = create_app(settings_)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=r"^/(v1|access)/")
    return {"schema": schema, "key": key}


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_access_api_never_fails_on_any_input(api: dict[str, Any]) -> None:
    tried: dict[str, int] = {}
    for operation in _operations(api["schema"]):
        fuzz(operation, api["key"], tried)
    assert len(tried) >= 15 and all(n >= 1 for n in tried.values()), tried
    assert tried["POST /v1/chat/completions"] >= 20


def fuzz(operation: Any, key: str, tried: dict[str, int]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        turn = next(_counter) % 3
        headers: dict[str, str] = {}
        if turn == 1:  # valid caller credentials
            headers["authorization"] = f"Bearer {key}"
        elif turn == 2:  # the admin token
            headers["authorization"] = f"Bearer {ADMIN}"
        # turn 0: whatever schemathesis generated (missing, garbage, or plausible-looking)
        case.call_and_validate(headers=headers or None, checks=[not_a_server_error])
        tried[operation.label] = tried.get(operation.label, 0) + 1

    run()


def test_the_fuzzed_schema_covers_the_access_routes(api: dict[str, Any]) -> None:
    paths = {op.path for op in _operations(api["schema"])}
    assert {"/v1/chat/completions", "/v1/models", "/access/keys", "/access/reviews/{review_id}/approve"} <= paths
    assert not any(p.startswith("/log") for p in paths)
