"""Rate limits and token budgets per key and per tier: in memory, and in Redis when
``TRUSTPLANE_TEST_REDIS_URL`` is set (shared between limiter instances, as between workers)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.access._helpers import Identities
from tests.access.conftest import ADMIN_HEADERS, make_settings
from trustplane.access import BudgetExhaustedError, Principal, RateLimitedError, RateLimiter
from trustplane.access._errors import AccessConfigError
from trustplane.access._ratelimit import RateLimiterUnavailableError
from trustplane.server import create_app

REDIS_ENV = "TRUSTPLANE_TEST_REDIS_URL"
RATES = {"default": "3/minute", "verified": "5/minute;6/hour"}
BUDGETS = {"default": "100/day", "verified": "1000/day"}


@pytest.fixture(params=["memory", "redis"])
def redis_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "memory":
        yield None
        return
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"set {REDIS_ENV} (e.g. redis://127.0.0.1:6379/0) to run the Redis variant")
    yield url


def caller(tier: str = "default", **extra: object) -> Principal:
    return Principal(id=f"key:{secrets.token_hex(4)}", method="api_key", subject="s", issuer="i", tier=tier, **extra)  # type: ignore[arg-type]


async def _hits(limiter: RateLimiter, who: Principal, n: int) -> int:
    ok = 0
    for _ in range(n):
        try:
            await limiter.hit_request(who)
            ok += 1
        except RateLimitedError:
            pass
    return ok


def test_requests_per_key_by_tier(redis_url: str | None) -> None:
    a, b, v = caller(), caller(), caller("verified")

    async def scenario() -> None:
        limiter = RateLimiter(RATES, BUDGETS, redis_url)
        assert await _hits(limiter, a, 5) == 3
        assert await _hits(limiter, b, 5) == 3  # another key has its own window
        assert await _hits(limiter, v, 8) == 5
        with pytest.raises(RateLimitedError) as info:
            await limiter.hit_request(a)
        assert 1 <= info.value.extra["retry_after"] <= 60 and info.value.status == 429
        assert await _hits(limiter, caller(rate_limit="1/minute"), 3) == 1  # a key's own limit

    asyncio.run(scenario())


def test_token_budgets(redis_url: str | None) -> None:
    who = caller()

    async def scenario() -> None:
        limiter = RateLimiter(RATES, BUDGETS, redis_url)
        await limiter.check_budget(who)
        await limiter.spend(who, 60)
        await limiter.check_budget(who)
        await limiter.spend(who, 60)  # overshoots: the window is filled
        with pytest.raises(BudgetExhaustedError):
            await limiter.check_budget(who)
        assert (await limiter.remaining(who))["tokens"] == {"100 per 1 day": 0}

    asyncio.run(scenario())


def test_redis_counts_are_shared_between_workers() -> None:
    url = os.environ.get(REDIS_ENV)
    if not url:
        pytest.skip(f"set {REDIS_ENV} to run the Redis variant")
    who = caller()

    async def scenario() -> None:
        one, two = RateLimiter(RATES, BUDGETS, url), RateLimiter(RATES, BUDGETS, url)
        assert await _hits(one, who, 2) == 2
        assert await _hits(two, who, 3) == 1

    asyncio.run(scenario())


def test_bad_settings_and_storage_failures() -> None:
    with pytest.raises(AccessConfigError, match=r"TRUSTPLANE_ACCESS_RATE_LIMITS\['default'\]"):
        RateLimiter({"default": "lots"}, BUDGETS)
    limiter = RateLimiter(RATES, BUDGETS)
    with pytest.raises(AccessConfigError, match="tier 'gold'"):
        limiter.check_tier("gold")
    with pytest.raises(AccessConfigError, match="tier 'gold'"):
        asyncio.run(limiter.hit_request(caller("gold")))
    down = RateLimiter(RATES, BUDGETS, "redis://127.0.0.1:1/0")
    with pytest.raises(RateLimiterUnavailableError) as info:
        asyncio.run(down.hit_request(caller()))
    assert info.value.status == 503


def test_the_gateway_uses_redis_when_configured(redis_url: str | None, tmp_path: Path, identities: Identities) -> None:
    settings = make_settings(tmp_path / "home", identities, redis_url=redis_url)
    with TestClient(create_app(settings)) as http:
        gateway = http.app.state.access_gateway  # type: ignore[attr-defined]
        assert gateway.limiter.backend == ("redis" if redis_url else "memory")
        token = http.post("/access/keys", json={"name": "k", "tier": "tight"}, headers=ADMIN_HEADERS).json()["api_key"]
        body = {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}
        codes = [
            http.post("/v1/chat/completions", json=body, headers={"authorization": f"Bearer {token}"}).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]
