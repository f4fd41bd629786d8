"""Rate limits and token budgets per key, by tier, with the ``limits`` library (Redis when configured).

Requests are counted in a sliding window (two weighted fixed-window counters) (``TRUSTPLANE_ACCESS_RATE_LIMITS``); tokens (prompt plus
completion) in fixed windows (``TRUSTPLANE_ACCESS_TOKEN_BUDGETS``). A key may carry its own limit and
budget, which replace its tier's. With ``TRUSTPLANE_REDIS_URL`` set, every worker shares the counts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

from limits import RateLimitItem, parse_many
from limits.aio.strategies import FixedWindowRateLimiter, SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from trustplane.access._errors import AccessConfigError, BudgetExhaustedError, RateLimitedError
from trustplane.access._principal import Principal
from trustplane.core.errors import TrustplaneError


class RateLimiterUnavailableError(TrustplaneError):
    code = "access.rate_limiter_unavailable"
    title = "Rate-limit storage unavailable"
    status = 503
    exit_code = 69


def parse_limits(value: str, where: str) -> list[RateLimitItem]:
    """``"60/minute;1000/day"`` as limit items; a clear error naming the setting otherwise."""
    try:
        items = parse_many(value)
    except ValueError as exc:
        raise AccessConfigError(
            f"{where}: {value!r} is not a rate limit ({exc})", hint="write e.g. '60/minute' or '10/second;1000/day'"
        ) from None
    if not items:
        raise AccessConfigError(f"{where}: {value!r} holds no limit")
    return items


def _storage_uri(redis_url: str | None) -> tuple[str, dict[str, Any]]:
    if not redis_url:
        return "async+memory://", {}
    return f"async+{redis_url}", {"implementation": "redispy"}


class RateLimiter:
    """Per-principal request limits and token budgets."""

    def __init__(
        self,
        rate_limits: Mapping[str, str],
        token_budgets: Mapping[str, str],
        redis_url: str | None = None,
    ) -> None:
        self._rates = {t: parse_limits(v, f"TRUSTPLANE_ACCESS_RATE_LIMITS[{t!r}]") for t, v in rate_limits.items()}
        self._budgets = {
            t: parse_limits(v, f"TRUSTPLANE_ACCESS_TOKEN_BUDGETS[{t!r}]") for t, v in token_budgets.items()
        }
        uri, options = _storage_uri(redis_url)
        try:
            storage = storage_from_string(uri, **options)
        except Exception as exc:  # limits raises ConfigurationError for bad URIs and missing drivers
            raise AccessConfigError(f"TRUSTPLANE_REDIS_URL cannot be used for rate limits: {exc}") from None
        self.backend = "redis" if redis_url else "memory"
        self._requests = SlidingWindowCounterRateLimiter(storage)
        self._tokens = FixedWindowRateLimiter(storage)
        self._override_cache: dict[str, list[RateLimitItem]] = {}

    @property
    def tiers(self) -> list[str]:
        return sorted(set(self._rates) | set(self._budgets))

    def check_tier(self, tier: str) -> None:
        if tier not in self._rates or tier not in self._budgets:
            raise AccessConfigError(
                f"tier {tier!r} has no rate limit or token budget configured",
                hint=f"tiers with both: {', '.join(t for t in self._rates if t in self._budgets) or 'none'}",
            )

    def _items(self, principal: Principal, *, budget: bool) -> list[RateLimitItem]:
        override = principal.token_budget if budget else principal.rate_limit
        if override:
            items = self._override_cache.get(override)
            if items is None:
                items = self._override_cache[override] = parse_limits(override, f"key {principal.key_id}")
            return items
        table = self._budgets if budget else self._rates
        items = table.get(principal.tier)
        if items is None:
            self.check_tier(principal.tier)
        return table[principal.tier]

    async def hit_request(self, principal: Principal) -> None:
        """Count one request, or raise :class:`RateLimitedError` (with ``retry_after``) if over a limit."""
        items = self._items(principal, budget=False)
        try:
            for item in items:
                if not await self._requests.test(item, "req", principal.id):
                    stats = await self._requests.get_window_stats(item, "req", principal.id)
                    retry = max(1, math.ceil(stats.reset_time - time.time()))
                    raise RateLimitedError(
                        f"rate limit {item} exceeded for {principal.id}",
                        hint=f"retry in {retry} s, or ask for a higher tier",
                        retry_after=retry,
                        limit=str(item),
                    )
            for item in items:
                await self._requests.hit(item, "req", principal.id)
        except TrustplaneError:
            raise
        except Exception as exc:
            raise RateLimiterUnavailableError(f"rate-limit storage ({self.backend}) failed: {exc}") from None

    async def check_budget(self, principal: Principal) -> None:
        """Raise :class:`BudgetExhaustedError` when the principal has no tokens left in a budget window."""
        try:
            for item in self._items(principal, budget=True):
                if not await self._tokens.test(item, "tok", principal.id):
                    stats = await self._tokens.get_window_stats(item, "tok", principal.id)
                    retry = max(1, math.ceil(stats.reset_time - time.time()))
                    raise BudgetExhaustedError(
                        f"token budget {item} exhausted for {principal.id}",
                        hint=f"the budget renews in {retry} s",
                        retry_after=retry,
                        limit=str(item),
                    )
        except TrustplaneError:
            raise
        except Exception as exc:
            raise RateLimiterUnavailableError(f"rate-limit storage ({self.backend}) failed: {exc}") from None

    async def spend(self, principal: Principal, tokens: int) -> None:
        """Charge ``tokens`` to every budget window (a request may overshoot its last window once)."""
        if tokens <= 0:
            return
        try:
            for item in self._items(principal, budget=True):
                if not await self._tokens.hit(item, "tok", principal.id, cost=tokens):
                    # Over the budget: fill the window so the next request is refused until it renews.
                    stats = await self._tokens.get_window_stats(item, "tok", principal.id)
                    if stats.remaining > 0:
                        await self._tokens.hit(item, "tok", principal.id, cost=stats.remaining)
        except Exception as exc:
            raise RateLimiterUnavailableError(f"rate-limit storage ({self.backend}) failed: {exc}") from None

    async def remaining(self, principal: Principal) -> dict[str, Any]:
        """Requests and tokens left in each window, for ``whoami``."""
        out: dict[str, Any] = {"requests": {}, "tokens": {}}
        for item in self._items(principal, budget=False):
            stats = await self._requests.get_window_stats(item, "req", principal.id)
            out["requests"][str(item)] = stats.remaining
        for item in self._items(principal, budget=True):
            stats = await self._tokens.get_window_stats(item, "tok", principal.id)
            out["tokens"][str(item)] = stats.remaining
        return out
