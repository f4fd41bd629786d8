"""The arena service: variants, battles, votes, publication, deprecation and signed leaderboard snapshots.

:class:`Arena` enforces the integrity rules in the library, so every surface (CLI, HTTP, dashboard) gets them:

* a variant must be registered in the transparency log before it can receive a battle;
* a provider holds at most ``policy.max_private_variants`` unpublished variants at once;
* every private variant is published eventually (on request, or forced by the vote or time deadline), and no
  method deletes, retracts or unpublishes anything;
* the leaderboard shows best-of-N corrected scores and a "provisional" flag (see :mod:`._leaderboard`);
* deprecation follows a per-category vote rule, is logged, and keeps the variant in the fit;
* snapshots sign the leaderboard's hash into the log, and :meth:`Arena.reproduce` rebuilds it from the log.

Writes that must be atomic with respect to one another (the private-variant cap, one vote per battle, one
publication per variant) first claim their row in one database write transaction, then append to the log,
then record the log index; if the append fails the claim is undone, so the tables never claim what the log
lacks.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlalchemy import Connection, Row, delete, func, select, update

from trustplane.arena._errors import (
    AlreadyVotedError,
    ArenaInputError,
    BattleNotReadyError,
    DeprecationPolicyError,
    DuplicateError,
    NotPublishedError,
    PrivateVariantCapError,
    UnknownBattleError,
    UnknownProviderError,
    UnknownSnapshotError,
    UnknownVariantError,
    UnregisteredVariantError,
)
from trustplane.arena._kinds import BATTLE, DEPRECATION, KINDS, NAME, PUBLICATION, SNAPSHOT, VARIANT_REGISTERED
from trustplane.arena._leaderboard import Leaderboard, Record, build_leaderboard
from trustplane.arena._policy import ArenaPolicy, FitParams
from trustplane.arena._sampling import PairDistribution, pair_distribution
from trustplane.arena._store import battles, providers, snapshots, variants
from trustplane.arena._table import OUTCOMES, BattleTable
from trustplane.arena.ratings import BradleyTerry, RatingsError
from trustplane.core.config import Settings
from trustplane.core.errors import EntryNotFoundError, ModelNotFoundError, TrustplaneError
from trustplane.core.log import ProofError, TransparencyLog, get_kind, leaf_hash, verify_inclusion
from trustplane.core.store import Store, get_store, log_entries

logger = logging.getLogger(__name__)

Outcome = Literal["a", "b", "tie", "both_bad"]
CATEGORY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAME_RE = re.compile(NAME)
MAX_PROMPT_CHARS = 20_000
READ_CHUNK = 5_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def policy_from_settings(settings: Settings) -> ArenaPolicy:
    """The policy configured in the settings' ``arena_policy`` mapping when there is one, else the defaults."""
    configured = getattr(settings, "arena_policy", None)
    if not configured:
        return ArenaPolicy()
    return ArenaPolicy.from_json(dict(configured))


# --- results -------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class VariantInfo:
    """A registered variant as the service sees it."""

    name: str
    provider: str
    model: str | None
    private: bool
    registered_ms: int
    registered_index: int | None
    published: bool
    published_ms: int | None
    published_index: int | None
    publication_reason: str | None
    deprecated: bool
    deprecated_index: int | None
    deprecation_reason: str | None

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class BattleTicket:
    """A new battle: its id and what the voter may see (no identities)."""

    battle_id: str
    category: str
    created_ms: int

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AnswerEvent:
    """One event of a battle's answer stream.

    ``side`` is ``"a"`` or ``"b"`` for a piece of text (``delta``), the end of that side's answer (``done``) or
    its failure (``error``: code and message, never naming the model); the last event has ``side=None`` and
    ``done=True``, with ``ok`` saying whether both answers arrived (only then can the battle be voted on).
    """

    side: str | None
    delta: str = ""
    done: bool = False
    ok: bool = True
    error: dict[str, str] | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"side": self.side}
        if self.delta:
            out["delta"] = self.delta
        if self.done:
            out["done"] = True
        if self.side is None:
            out["ok"] = self.ok
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass(frozen=True)
class Reveal:
    """A voted battle with its identities revealed."""

    battle_id: str
    outcome: str
    variant_a: str
    variant_b: str
    provider_a: str
    provider_b: str
    model_a: str | None
    model_b: str | None
    sampling_prob: float | None
    category: str
    log_index: int | None
    published: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["published"] = list(self.published)
        return out


@dataclass(frozen=True)
class BattleView:
    """A battle as a voter may see it: identities only once voted."""

    battle_id: str
    category: str
    status: str  # "pending" (answers not delivered), "answered", "voted"
    created_ms: int
    answer_a: str | None
    answer_b: str | None
    reveal: Reveal | None

    def as_json(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "reveal"}
        out["reveal"] = self.reveal.as_json() if self.reveal else None
        return out


@dataclass(frozen=True)
class ImportReport:
    """What an import added: battles and (with ``register_missing``) variants, and the log indices used."""

    battles: int
    registered: tuple[str, ...]
    first_index: int
    last_index: int

    def as_json(self) -> dict[str, Any]:
        return {
            "battles": self.battles,
            "registered": list(self.registered),
            "first_index": self.first_index,
            "last_index": self.last_index,
        }


@dataclass(frozen=True)
class SnapshotResult:
    """A signed snapshot: the log entry that holds its hash, and the leaderboard itself."""

    index: int
    sha256: str
    log_size: int
    tree_size: int
    leaderboard: Leaderboard

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "sha256": self.sha256, "log_size": self.log_size, "tree_size": self.tree_size}


@dataclass(frozen=True)
class Reproduction:
    """A snapshot rebuilt from the log: whether the rebuilt bytes hash to the signed hash."""

    index: int
    expected_sha256: str
    sha256: str
    log_size: int
    included: bool
    leaderboard: Leaderboard
    source: str = "store"

    @property
    def matches(self) -> bool:
        return self.sha256 == self.expected_sha256

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "matches": self.matches,
            "expected_sha256": self.expected_sha256,
            "sha256": self.sha256,
            "log_size": self.log_size,
            "inclusion_verified": self.included,
            "source": self.source,
        }


@dataclass(frozen=True)
class DeprecationCheck:
    """The stratified deprecation rule applied to one variant."""

    variant: str
    category_votes: dict[str, int]
    category_share: dict[str, float]
    required: tuple[str, ...]
    short: dict[str, int] = field(default_factory=dict)

    @property
    def passes(self) -> bool:
        return not self.short


# --- the service ---------------------------------------------------------------------------------------------
class Arena:
    """The arena over a store and a transparency log (see the module doc for the rules it enforces).

    Args:
        store: the migrated store (``Store.upgrade()`` creates the arena's tables).
        log: the transparency log the arena writes its claims to.
        settings: where the variants' backend models are configured.
        policy: the integrity policy (default :class:`ArenaPolicy`).
        random_state: seed for pair sampling (default: fresh OS entropy).
        clock: milliseconds since the epoch (tests move it to cross deadlines).
        max_tokens: the answer length asked of each backend.
    """

    def __init__(
        self,
        store: Store,
        log: TransparencyLog,
        settings: Settings,
        policy: ArenaPolicy | None = None,
        *,
        random_state: int | None = None,
        clock: Callable[[], int] | None = None,
        max_tokens: int = 512,
    ) -> None:
        self.store = store
        self.log = log
        self.settings = settings
        self.policy = policy or ArenaPolicy()
        self.random_state = random_state
        self.clock = clock or now_ms
        self.max_tokens = max_tokens
        self._rng = np.random.default_rng(random_state)
        self._rng_lock = threading.Lock()
        self._fit_state: dict[str, Any] | None = None
        self._fit_lock = threading.Lock()

    @classmethod
    def open(cls, settings: Settings, policy: ArenaPolicy | None = None, **kwargs: Any) -> Arena:
        """The arena over the settings' store (migrated here) and log."""
        store = get_store(settings)
        store.upgrade()
        return cls(store, TransparencyLog(store, settings), settings, policy, **kwargs)

    # --- providers and variants ------------------------------------------------------------------------------
    def register_provider(self, name: str) -> dict[str, Any]:
        """Add a provider (a name); providers are never removed."""
        _check_name(name, "provider")
        created = self.clock()
        with self.store.write() as conn:
            if conn.execute(select(providers.c.name).where(providers.c.name == name)).first() is not None:
                raise DuplicateError(f"provider {name!r} is already registered", provider=name)
            conn.execute(providers.insert().values(name=name, created_ms=created))
        return {"name": name, "created_ms": created}

    def providers(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(providers).order_by(providers.c.name)).all()
        return [{"name": r.name, "created_ms": int(r.created_ms)} for r in rows]

    def register_variant(
        self, name: str, provider: str, model: str | None = None, *, private: bool = True
    ) -> VariantInfo:
        """Register a variant in the log; from then on it can receive battles.

        Args:
            name: unique variant name (never reused).
            provider: a registered provider.
            model: the backend model that answers for it (a name in ``settings.models``); ``None`` for an
                offline variant whose battles are recorded or imported, never sampled here.
            private: private variants are tested before their score is public; the provider holds at most
                ``policy.max_private_variants`` of them unpublished, and each is published by request or by the
                deadlines. Public variants are published at registration.

        Raises:
            UnknownProviderError, DuplicateError, ModelNotFoundError, PrivateVariantCapError.
        """
        _check_name(name, "variant")
        if model is not None:
            self.settings.model(model)  # ModelNotFoundError when not configured
        self.enforce_deadlines()
        now = self.clock()
        with self.store.write() as conn:
            if conn.execute(select(providers.c.name).where(providers.c.name == provider)).first() is None:
                raise UnknownProviderError(
                    f"provider {provider!r} is not registered",
                    hint="register it first (trustplane arena register --provider creates it)",
                    provider=provider,
                )
            if conn.execute(select(variants.c.name).where(variants.c.name == name)).first() is not None:
                raise DuplicateError(f"variant {name!r} is already registered; names are never reused", variant=name)
            if private:
                held = conn.execute(
                    select(variants.c.name).where(
                        variants.c.provider == provider,
                        variants.c.private.is_(True),
                        variants.c.published_ms.is_(None),
                    )
                ).all()
                if len(held) >= self.policy.max_private_variants:
                    raise PrivateVariantCapError(
                        f"provider {provider!r} already holds {len(held)} unpublished private variants "
                        f"(the limit is {self.policy.max_private_variants})",
                        hint="publish one (trustplane arena publish), or wait for the publication deadline",
                        provider=provider,
                        private=sorted(r.name for r in held),
                        limit=self.policy.max_private_variants,
                    )
            conn.execute(
                variants.insert().values(
                    name=name,
                    provider=provider,
                    model=model,
                    private=private,
                    registered_ms=now,
                    published_ms=None if private else now,
                    publication_reason=None if private else "public",
                )
            )
        payload = {"variant": name, "provider": provider, "model": model, "private": private}
        try:
            entry = self.log.append(VARIANT_REGISTERED, payload).entries[0]
        except BaseException:
            with self.store.write() as conn:
                conn.execute(delete(variants).where(variants.c.name == name))
            raise
        values: dict[str, Any] = {"registered_index": entry.index}
        if not private:
            values["published_index"] = entry.index
        with self.store.write() as conn:
            conn.execute(update(variants).where(variants.c.name == name).values(**values))
        return self.variant(name)

    def variant(self, name: str) -> VariantInfo:
        with self.store.read() as conn:
            row = conn.execute(select(variants).where(variants.c.name == name)).first()
        if row is None:
            raise UnknownVariantError(f"no variant named {name!r}", variant=name)
        return _variant_info(row)

    def variants(self, provider: str | None = None) -> list[VariantInfo]:
        query = select(variants).order_by(variants.c.registered_ms, variants.c.name)
        if provider is not None:
            query = query.where(variants.c.provider == provider)
        with self.store.read() as conn:
            return [_variant_info(r) for r in conn.execute(query).all()]

    # --- publication ------------------------------------------------------------------------------------------
    def publish(self, name: str) -> VariantInfo:
        """Publish a private variant's score now (idempotent: a published variant is returned as it is)."""
        info = self.variant(name)
        if info.published:
            return info
        self._publish(name, "requested")
        return self.variant(name)

    def _votes(self, conn: Connection, name: str) -> int:
        return int(
            conn.execute(
                select(func.count())
                .select_from(battles)
                .where(
                    battles.c.outcome.is_not(None),
                    (battles.c.variant_a == name) | (battles.c.variant_b == name),
                )
            ).scalar_one()
        )

    def _publish(self, name: str, reason: str) -> bool:
        """Claim the publication, log it, record the index; False when someone else published it first."""
        now = self.clock()
        with self.store.write() as conn:
            claimed = conn.execute(
                update(variants)
                .where(variants.c.name == name, variants.c.published_ms.is_(None))
                .values(published_ms=now, publication_reason=reason)
            ).rowcount
            votes = self._votes(conn, name) if claimed else 0
        if not claimed:
            return False
        try:
            entry = self.log.append(PUBLICATION, {"variant": name, "reason": reason, "votes": votes}).entries[0]
        except BaseException:
            with self.store.write() as conn:
                conn.execute(
                    update(variants).where(variants.c.name == name).values(published_ms=None, publication_reason=None)
                )
            raise
        with self.store.write() as conn:
            conn.execute(update(variants).where(variants.c.name == name).values(published_index=entry.index))
        logger.info("arena: published %s (%s) at log index %d", name, reason, entry.index)
        return True

    def enforce_deadlines(self, names: Sequence[str] | None = None) -> list[str]:
        """Publish every private variant past its vote or time deadline; returns the ones published now."""
        now = self.clock()
        query = select(variants.c.name, variants.c.registered_ms).where(
            variants.c.private.is_(True), variants.c.published_ms.is_(None), variants.c.registered_index.is_not(None)
        )
        if names is not None:
            query = query.where(variants.c.name.in_(list(names)))
        published = []
        with self.store.read() as conn:
            due = []
            for name, registered in conn.execute(query).all():
                if registered + self.policy.publish_after_ms <= now:
                    due.append((name, "time_deadline"))
                elif self._votes(conn, name) >= self.policy.publish_after_votes:
                    due.append((name, "vote_deadline"))
        for name, reason in due:
            if self._publish(name, reason):
                published.append(name)
        return published

    # --- deprecation ------------------------------------------------------------------------------------------
    def deprecation_check(self, name: str) -> DeprecationCheck:
        """The stratified rule: the variant needs ``deprecation_min_votes`` votes in every prompt category that
        holds at least ``category_min_share`` of all votes, so its rating is anchored in each part of the prompt
        mix before it stops being sampled."""
        self.variant(name)
        with self.store.read() as conn:
            all_rows = conn.execute(
                select(battles.c.category, func.count())
                .where(battles.c.outcome.is_not(None))
                .group_by(battles.c.category)
            ).all()
            mine = conn.execute(
                select(battles.c.category, func.count())
                .where(battles.c.outcome.is_not(None), (battles.c.variant_a == name) | (battles.c.variant_b == name))
                .group_by(battles.c.category)
            ).all()
        total = sum(int(n) for _, n in all_rows)
        share = {str(c): round(int(n) / total, 6) for c, n in sorted(all_rows)} if total else {}
        votes = {str(c): int(n) for c, n in sorted(mine)}
        required = tuple(c for c, s in share.items() if s >= self.policy.category_min_share)
        short = {c: votes.get(c, 0) for c in required if votes.get(c, 0) < self.policy.deprecation_min_votes}
        return DeprecationCheck(name, votes, share, required, short)

    def deprecate(self, name: str, reason: str, *, force: bool = False) -> VariantInfo:
        """Stop sampling a published variant; it stays in the fit. Logged with the per-category check.

        Raises:
            NotPublishedError: a private variant cannot be deprecated before its score is published.
            DeprecationPolicyError: already deprecated, or too few votes in a required category (unless
                ``force``, which is recorded in the log as such).
        """
        reason = reason.strip()
        if not reason:
            raise ArenaInputError("a deprecation needs a reason")
        info = self.variant(name)
        if not info.published:
            raise NotPublishedError(
                f"variant {name!r} is not published; deprecating it would hide its score",
                hint="publish it first (trustplane arena publish)",
                variant=name,
            )
        if info.deprecated:
            raise DeprecationPolicyError(f"variant {name!r} is already deprecated", variant=name)
        check = self.deprecation_check(name)
        if not check.passes and not force:
            short = ", ".join(f"{c}: {n}" for c, n in check.short.items())
            raise DeprecationPolicyError(
                f"variant {name!r} has too few votes in some prompt categories to be deprecated ({short}; "
                f"the policy asks {self.policy.deprecation_min_votes} in each category of at least "
                f"{self.policy.category_min_share:.0%} of the votes)",
                hint="keep it sampled until it has them, or force (the log records that it was forced)",
                variant=name,
                short=check.short,
            )
        now = self.clock()
        with self.store.write() as conn:
            claimed = conn.execute(
                update(variants)
                .where(variants.c.name == name, variants.c.deprecated_ms.is_(None))
                .values(deprecated_ms=now, deprecation_reason=reason)
            ).rowcount
        if not claimed:
            raise DeprecationPolicyError(f"variant {name!r} is already deprecated", variant=name)
        payload = {
            "variant": name,
            "reason": reason,
            "forced": bool(force and not check.passes),
            "category_votes": check.category_votes,
            "category_share": check.category_share,
            "min_votes": self.policy.deprecation_min_votes,
        }
        try:
            entry = self.log.append(DEPRECATION, payload).entries[0]
        except BaseException:
            with self.store.write() as conn:
                conn.execute(
                    update(variants).where(variants.c.name == name).values(deprecated_ms=None, deprecation_reason=None)
                )
            raise
        with self.store.write() as conn:
            conn.execute(update(variants).where(variants.c.name == name).values(deprecated_index=entry.index))
        return self.variant(name)

    # --- sampling ---------------------------------------------------------------------------------------------
    def _active(self) -> list[VariantInfo]:
        configured = {m.name for m in self.settings.models}
        out = []
        for v in self.variants():
            if v.registered_index is None or v.deprecated or v.model is None:
                continue
            if v.model not in configured:
                logger.warning("arena: variant %s is not sampled: model %s is not configured", v.name, v.model)
                continue
            out.append(v)
        return out

    def _current_fit(self) -> tuple[tuple[str, ...], Any] | None:
        with self._fit_lock:  # requests share the service; the kept fit is updated by one at a time
            return self._update_fit()

    def _update_fit(self) -> tuple[tuple[str, ...], Any] | None:
        """Models and sandwich covariance of a fit on the logged votes, or None while no finite fit exists.

        The fit is kept between calls and updated incrementally: new votes (by log index) are added in O(1) each
        and the refit costs O(models³), whatever the number of battles. When the logged votes no longer add up
        (a row got its log index late), it is rebuilt from scratch.
        """
        logged = battles.c.log_index.is_not(None) & battles.c.outcome.is_not(None)
        with self.store.read() as conn:
            n_logged = int(conn.execute(select(func.count()).select_from(battles).where(logged)).scalar_one())
            if self._fit_state is not None and self._fit_state["n"] == n_logged:
                cached: tuple[tuple[str, ...], Any] | None = self._fit_state["result"]
                return cached
            upto = self._fit_state["upto"] if self._fit_state is not None else -1
            cols = (battles.c.variant_a, battles.c.variant_b, battles.c.outcome, battles.c.log_index)
            rows = conn.execute(
                select(*cols).where(logged, battles.c.log_index > upto).order_by(battles.c.log_index)
            ).all()
            state = self._fit_state
            if state is None or state["n"] + len(rows) != n_logged:
                rows = conn.execute(select(*cols).where(logged).order_by(battles.c.log_index)).all()
                state = {"bt": BradleyTerry(ci="sandwich", rank_intervals=False), "n": 0, "upto": -1, "result": None}
        bt: BradleyTerry = state["bt"]
        for a, b, outcome, index in rows:
            bt.add_battle(a, b, outcome)
            state["upto"] = max(state["upto"], int(index))
        state["n"] += len(rows)
        try:
            bt.refit()
            state["result"] = (bt.models_, bt.covariance_)
        except RatingsError:
            state["result"] = None
        self._fit_state = state
        result: tuple[tuple[str, ...], Any] | None = state["result"]
        return result

    def sampling_distribution(self) -> PairDistribution:
        """The current pair-sampling distribution over the active variants (see :mod:`._sampling`)."""
        active = [v.name for v in self._active()]
        voted = battles.c.outcome.is_not(None)
        votes: Counter[str] = Counter()
        with self.store.read() as conn:
            for col in (battles.c.variant_a, battles.c.variant_b):
                for name, n in conn.execute(select(col, func.count()).where(voted).group_by(col)).all():
                    votes[str(name)] += int(n)
        fit = self._current_fit() if len(active) >= 2 else None
        return pair_distribution(
            active,
            votes=votes,
            floor=self.policy.uniform_floor,
            covariance=fit[1] if fit else None,
            fitted=fit[0] if fit else None,
        )

    # --- battles ----------------------------------------------------------------------------------------------
    def create_battle(self, prompt: str, category: str = "general") -> BattleTicket:
        """Draw a pair by active sampling and open a battle for ``prompt``; the pair stays hidden until the vote."""
        prompt = _check_prompt(prompt)
        _check_category(category)
        self.enforce_deadlines()
        dist = self.sampling_distribution()
        with self._rng_lock:
            a, b, p = dist.draw(self._rng)
        info = {v.name: v for v in self.variants()}
        battle_id = secrets.token_urlsafe(12)
        now = self.clock()
        with self.store.write() as conn:
            conn.execute(
                battles.insert().values(
                    id=battle_id,
                    variant_a=a,
                    variant_b=b,
                    provider_a=info[a].provider,
                    provider_b=info[b].provider,
                    sampling_prob=p,
                    mode="sampled",
                    category=category,
                    prompt_sha256=sha256_hex(prompt),
                    created_ms=now,
                )
            )
        return BattleTicket(battle_id, category, now)

    def _row(self, conn: Connection, battle_id: str) -> Row[Any]:
        row = conn.execute(select(battles).where(battles.c.id == battle_id)).first()
        if row is None:
            raise UnknownBattleError(f"no battle with id {battle_id!r}", battle_id=battle_id)
        return row

    async def stream_answers(self, battle_id: str, prompt: str) -> AsyncIterator[AnswerEvent]:
        """Ask both backends for answers to the battle's prompt, concurrently, streamed as :class:`AnswerEvent`.

        The prompt must be the one the battle was created for (checked by hash). When both answers arrive
        they are stored and the battle can be voted on; a failed backend ends the battle unvotable.
        """
        prompt = _check_prompt(prompt)
        with self.store.read() as conn:
            row = self._row(conn, battle_id)
        if row.mode != "sampled":
            raise BattleNotReadyError(f"battle {battle_id!r} was {row.mode}, not sampled here", battle_id=battle_id)
        if row.answered_ms is not None or row.outcome is not None:
            raise BattleNotReadyError(f"battle {battle_id!r} already has its answers", battle_id=battle_id)
        if sha256_hex(prompt) != row.prompt_sha256:
            raise ArenaInputError("the prompt is not the one this battle was created for", battle_id=battle_id)
        from trustplane.core.models import get_model

        models = {}
        for side, variant in (("a", row.variant_a), ("b", row.variant_b)):
            model_name = self.variant(variant).model
            if model_name is None:  # pragma: no cover - offline variants are never sampled
                raise ModelNotFoundError(f"answer {side.upper()} has no backend")
            models[side] = get_model(self.settings, model_name)
        queue: asyncio.Queue[AnswerEvent] = asyncio.Queue()
        texts: dict[str, str] = {}

        async def pump(side: str) -> None:
            parts: list[str] = []
            try:
                async for chunk in models[side].stream(prompt, max_tokens=self.max_tokens):
                    if chunk.delta:
                        parts.append(chunk.delta)
                        await queue.put(AnswerEvent(side, delta=chunk.delta))
                texts[side] = "".join(parts)
                await queue.put(AnswerEvent(side, done=True))
            except TrustplaneError as exc:  # never name the model: the identities are hidden
                await queue.put(
                    AnswerEvent(
                        side, done=True, ok=False, error={"code": exc.code, "message": f"answer {side.upper()} failed"}
                    )
                )

        tasks = [asyncio.create_task(pump("a")), asyncio.create_task(pump("b"))]
        finished = 0
        try:
            while finished < 2:
                event = await queue.get()
                if event.done:
                    finished += 1
                yield event
        finally:
            for task in tasks:
                task.cancel()
        ok = set(texts) == {"a", "b"}
        if ok:
            with self.store.write() as conn:
                conn.execute(
                    update(battles)
                    .where(battles.c.id == battle_id, battles.c.answered_ms.is_(None))
                    .values(answered_ms=self.clock(), answer_a=texts["a"], answer_b=texts["b"])
                )
        yield AnswerEvent(None, done=True, ok=ok)

    async def answer(self, battle_id: str, prompt: str) -> BattleView:
        """:meth:`stream_answers`, collected: both answers, or the first failure raised."""
        async for event in self.stream_answers(battle_id, prompt):
            if event.side is None and not event.ok:
                raise BattleNotReadyError(f"battle {battle_id!r}: a backend failed to answer", battle_id=battle_id)
        return self.battle(battle_id)

    def battle(self, battle_id: str) -> BattleView:
        """The battle as the voter sees it (identities only after the vote)."""
        with self.store.read() as conn:
            row = self._row(conn, battle_id)
        status = "voted" if row.outcome is not None else ("answered" if row.answered_ms is not None else "pending")
        return BattleView(
            battle_id,
            row.category,
            status,
            int(row.created_ms),
            row.answer_a,
            row.answer_b,
            self._reveal(row) if row.outcome is not None else None,
        )

    def _reveal(self, row: Row[Any], published: Sequence[str] = ()) -> Reveal:
        models = {v.name: v.model for v in self.variants() if v.name in (row.variant_a, row.variant_b)}
        return Reveal(
            battle_id=row.id,
            outcome=row.outcome,
            variant_a=row.variant_a,
            variant_b=row.variant_b,
            provider_a=row.provider_a,
            provider_b=row.provider_b,
            model_a=models.get(row.variant_a),
            model_b=models.get(row.variant_b),
            sampling_prob=row.sampling_prob,
            category=row.category,
            log_index=None if row.log_index is None else int(row.log_index),
            published=tuple(published),
        )

    def reveal(self, battle_id: str) -> Reveal:
        """The identities of a voted battle; before the vote they stay hidden."""
        with self.store.read() as conn:
            row = self._row(conn, battle_id)
        if row.outcome is None:
            raise BattleNotReadyError(
                f"battle {battle_id!r} has no vote yet; identities are revealed after the vote", battle_id=battle_id
            )
        return self._reveal(row)

    def vote(self, battle_id: str, outcome: str) -> Reveal:
        """Record the one vote a battle takes (``a``, ``b``, ``tie`` or ``both_bad``), log it, reveal the pair.

        Raises:
            UnknownBattleError (404), AlreadyVotedError (409), BattleNotReadyError (409: answers not delivered).
        """
        if outcome not in OUTCOMES:
            raise ArenaInputError(f"unknown vote {outcome!r}", hint=f"vote one of {', '.join(OUTCOMES)}")
        now = self.clock()
        with self.store.write() as conn:
            row = self._row(conn, battle_id)
            if row.outcome is not None:
                raise AlreadyVotedError(f"battle {battle_id!r} was already voted on", battle_id=battle_id)
            if row.answered_ms is None:
                raise BattleNotReadyError(
                    f"battle {battle_id!r} has no answers yet", hint="stream the answers first", battle_id=battle_id
                )
            claimed = conn.execute(
                update(battles)
                .where(battles.c.id == battle_id, battles.c.outcome.is_(None))
                .values(outcome=outcome, voted_ms=now)
            ).rowcount
            if not claimed:  # pragma: no cover - the write lock makes the check above final
                raise AlreadyVotedError(f"battle {battle_id!r} was already voted on", battle_id=battle_id)
        payload = {
            "battle_id": battle_id,
            "variant_a": row.variant_a,
            "variant_b": row.variant_b,
            "outcome": outcome,
            "sampling_prob": row.sampling_prob,
            "mode": "sampled",
            "category": row.category,
            "prompt_sha256": row.prompt_sha256,
            "answer_a_sha256": sha256_hex(row.answer_a or ""),
            "answer_b_sha256": sha256_hex(row.answer_b or ""),
            "created_ms": int(row.created_ms),
            "voted_ms": now,
        }
        try:
            entry = self.log.append(BATTLE, payload).entries[0]
        except BaseException:
            with self.store.write() as conn:
                conn.execute(update(battles).where(battles.c.id == battle_id).values(outcome=None, voted_ms=None))
            raise
        with self.store.write() as conn:
            conn.execute(update(battles).where(battles.c.id == battle_id).values(log_index=entry.index))
            row = self._row(conn, battle_id)
        published = self.enforce_deadlines([row.variant_a, row.variant_b])
        return self._reveal(row, published)

    def record_battle(
        self,
        variant_a: str,
        variant_b: str,
        outcome: str,
        *,
        sampling_prob: float | None = None,
        category: str = "general",
        prompt_sha256: str | None = None,
    ) -> Reveal:
        """Record a battle voted elsewhere (an external arena): both variants must be registered."""
        table = BattleTable.from_columns([variant_a], [variant_b], [outcome], sampling_prob=[sampling_prob or np.nan])
        self._check_registered(table)
        _check_category(category)
        if prompt_sha256 is not None and not re.fullmatch(r"[0-9a-f]{64}", prompt_sha256):
            raise ArenaInputError("prompt_sha256 must be 64 lowercase hex digits")
        battle_id = secrets.token_urlsafe(12)
        now = self.clock()
        info = {v.name: v for v in self.variants()}
        payload = {
            "battle_id": battle_id,
            "variant_a": variant_a,
            "variant_b": variant_b,
            "outcome": outcome,
            "sampling_prob": sampling_prob,
            "mode": "recorded",
            "category": category,
            "prompt_sha256": prompt_sha256,
            "created_ms": now,
            "voted_ms": now,
        }
        entry = self.log.append(BATTLE, payload).entries[0]
        with self.store.write() as conn:
            conn.execute(
                battles.insert().values(
                    id=battle_id,
                    variant_a=variant_a,
                    variant_b=variant_b,
                    provider_a=info[variant_a].provider,
                    provider_b=info[variant_b].provider,
                    sampling_prob=sampling_prob,
                    mode="recorded",
                    category=category,
                    prompt_sha256=prompt_sha256,
                    created_ms=now,
                    answered_ms=now,
                    outcome=outcome,
                    voted_ms=now,
                    log_index=entry.index,
                )
            )
            row = self._row(conn, battle_id)
        published = self.enforce_deadlines([variant_a, variant_b])
        return self._reveal(row, published)

    def _check_registered(self, table: BattleTable, register_missing: bool = False) -> dict[str, VariantInfo]:
        known = {v.name: v for v in self.variants() if v.registered_index is not None}
        if register_missing:
            return known
        for row, (a, b) in enumerate(zip(table.model_a.tolist(), table.model_b.tolist(), strict=True)):
            for name in (a, b):
                if name not in known:
                    raise UnregisteredVariantError(
                        f"row {row + 1}: variant {name!r} is not registered in the log; battles need registered variants",
                        hint="register it first (trustplane arena register), or import with --register-missing",
                        row=row + 1,
                        variant=name,
                    )
        return known

    # --- import and export ------------------------------------------------------------------------------------
    def import_battles(
        self, table: BattleTable, *, register_missing: bool = False, provider: str | None = None
    ) -> ImportReport:
        """Add voted battles to the log and the store, all or nothing.

        Every row is checked before anything is written: each variant must be registered (``row N`` names the
        first that is not), ids must be new. With ``register_missing``, unknown variants are registered first as
        public offline variants of ``provider_a``/``provider_b`` (columns) or ``provider``.
        """
        if len(table) == 0:
            raise ArenaInputError("the file holds no battles")
        known = self._check_registered(table, register_missing)
        n = len(table)
        ids_col = table.column("battle_id")
        ids = [
            str(x) if x is not None else secrets.token_urlsafe(12)
            for x in (ids_col if ids_col is not None else [None] * n)
        ]
        dup = [i for i, c in Counter(ids).items() if c > 1]
        if dup:
            row = ids.index(dup[0]) + 1
            raise ArenaInputError(f"row {row}: battle id {dup[0]!r} appears twice in the file", row=row)
        for row, battle_id in enumerate(ids, start=1):
            if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", battle_id):
                raise ArenaInputError(
                    f"row {row}: battle id {battle_id!r} is not 1-64 letters, digits, _ or -", row=row
                )
        with self.store.read() as conn:
            for start in range(0, n, 500):
                clash = conn.execute(select(battles.c.id).where(battles.c.id.in_(ids[start : start + 500]))).first()
                if clash is not None:
                    row = ids.index(clash[0]) + 1
                    raise ArenaInputError(f"row {row}: battle {clash[0]!r} is already in the arena", row=row)
        # variants to register (public, offline), with their providers
        to_register: dict[str, str] = {}
        pa, pb = table.column("provider_a"), table.column("provider_b")
        for row, (a, b) in enumerate(zip(table.model_a.tolist(), table.model_b.tolist(), strict=True)):
            for name, pcol in ((a, pa), (b, pb)):
                if name in known or name in to_register:
                    continue
                _check_name(name, "variant", row=row + 1)
                prov = (pcol[row] if pcol is not None else None) or provider
                if not prov:
                    raise ArenaInputError(
                        f"row {row + 1}: variant {name!r} is not registered and its provider is unknown",
                        hint="add provider_a/provider_b columns or pass --provider",
                        row=row + 1,
                    )
                _check_name(str(prov), "provider", row=row + 1)
                to_register[name] = str(prov)
        ts = table.column("timestamp")
        probs = table.column("sampling_prob")
        prompts, ra, rb = table.column("prompt"), table.column("response_a"), table.column("response_b")
        now = self.clock()
        rows: list[dict[str, Any]] = []
        items: list[tuple[str, Any]] = [
            (VARIANT_REGISTERED, {"variant": v, "provider": p, "private": False}) for v, p in to_register.items()
        ]
        prov_of = {**{k: v.provider for k, v in known.items()}, **to_register}
        for i in range(n):
            t = ts[i] if ts is not None else np.nan
            when = round(float(t) * 1000) if t is not None and np.isfinite(t) else now
            p = float(probs[i]) if probs is not None and np.isfinite(probs[i]) else None
            va, vb = str(table.model_a[i]), str(table.model_b[i])
            payload: dict[str, Any] = {
                "battle_id": ids[i],
                "variant_a": va,
                "variant_b": vb,
                "outcome": str(table.outcome[i]),
                "sampling_prob": p,
                "mode": "imported",
                "category": "general",
                "prompt_sha256": sha256_hex(prompts[i]) if prompts is not None and prompts[i] is not None else None,
                "answer_a_sha256": sha256_hex(ra[i]) if ra is not None and ra[i] is not None else None,
                "answer_b_sha256": sha256_hex(rb[i]) if rb is not None and rb[i] is not None else None,
                "created_ms": when,
                "voted_ms": when,
            }
            items.append((BATTLE, payload))
            rows.append(
                {
                    "id": ids[i],
                    "variant_a": payload["variant_a"],
                    "variant_b": payload["variant_b"],
                    "provider_a": prov_of[va],
                    "provider_b": prov_of[vb],
                    "sampling_prob": p,
                    "mode": "imported",
                    "category": "general",
                    "prompt_sha256": payload["prompt_sha256"],
                    "created_ms": when,
                    "answered_ms": when,
                    "outcome": payload["outcome"],
                    "voted_ms": when,
                }
            )
        # validate every payload before the first append, so a bad row cannot leave half an import behind
        for k, (kind, payload) in enumerate(items):
            schema = get_kind(kind).schema
            assert schema is not None
            try:
                schema.model_validate(payload)
            except Exception as exc:  # pydantic.ValidationError
                row = k - len(to_register) + 1
                raise ArenaInputError(f"row {row}: {str(exc).splitlines()[-1].strip()}", row=row) from None
        batch = self.settings.log_max_batch
        if len(items) > batch:
            logger.warning("arena import of %d entries is appended in batches of %d", len(items), batch)
        for prov in sorted(set(to_register.values())):
            with self.store.write() as conn:
                if conn.execute(select(providers.c.name).where(providers.c.name == prov)).first() is None:
                    conn.execute(providers.insert().values(name=prov, created_ms=now))
        indices: list[int] = []
        for start in range(0, len(items), batch):
            result = self.log.append_many(items[start : start + batch])
            indices.extend(e.index for e in result.entries)
        reg_index = dict(zip(to_register, indices[: len(to_register)], strict=True))
        with self.store.write() as conn:
            for name, prov in to_register.items():
                conn.execute(
                    variants.insert().values(
                        name=name,
                        provider=prov,
                        model=None,
                        private=False,
                        registered_ms=now,
                        registered_index=reg_index[name],
                        published_ms=now,
                        published_index=reg_index[name],
                        publication_reason="public",
                    )
                )
            for r, index in zip(rows, indices[len(to_register) :], strict=True):
                r["log_index"] = index
            for start in range(0, len(rows), 1000):
                conn.execute(battles.insert(), rows[start : start + 1000])
        return ImportReport(n, tuple(to_register), indices[0], indices[-1])

    def import_file(
        self,
        path: Path | str,
        *,
        format: str | None = None,
        register_missing: bool = False,
        provider: str | None = None,
    ) -> ImportReport:
        """Read a battle file (``trustplane.arena.io.read_battles``) and :meth:`import_battles` it."""
        from trustplane.arena.io import read_battles

        return self.import_battles(
            read_battles(Path(path), format=format), register_missing=register_missing, provider=provider
        )

    # --- reading the log ------------------------------------------------------------------------------------
    def records(self, log_size: int | None = None) -> Iterator[Record]:
        """The arena's log entries (all kinds but snapshots) among the first ``log_size``, in index order."""
        size = self.log.size() if log_size is None else log_size
        start = 0
        kinds = [k for k in KINDS if k != SNAPSHOT]
        while start < size:
            with self.store.read() as conn:
                rows = conn.execute(
                    select(log_entries.c.idx, log_entries.c.data)
                    .where(log_entries.c.idx >= start, log_entries.c.idx < size, log_entries.c.kind.in_(kinds))
                    .order_by(log_entries.c.idx)
                    .limit(READ_CHUNK)
                ).all()
            if not rows:
                return
            for idx, data in rows:
                obj = json.loads(bytes(data))
                yield Record(int(idx), obj["kind"], obj["payload"], int(obj["timestamp"]))
            start = int(rows[-1][0]) + 1

    def battle_table(self, log_size: int | None = None) -> BattleTable:
        """The logged battles (as the leaderboard counts them: registered variants, each id once) as columns."""
        return records_to_table(self.records(log_size))

    def export_file(self, path: Path | str, *, format: str | None = None) -> int:
        """Write the logged battles with ``trustplane.arena.io.write_battles``; returns how many."""
        from trustplane.arena.io import write_battles

        table = self.battle_table()
        write_battles(table, Path(path), format=format)
        return len(table)

    # --- leaderboard and snapshots --------------------------------------------------------------------------
    def leaderboard(self, params: FitParams | None = None, *, as_of_ms: int | None = None) -> Leaderboard:
        """The current leaderboard from the log (not signed; :meth:`snapshot` signs one)."""
        size = self.log.size()
        return build_leaderboard(
            self.records(size),
            log_size=size,
            as_of_ms=self.clock() if as_of_ms is None else as_of_ms,
            params=params or FitParams(),
            policy=self.policy,
        )

    def snapshot(self, params: FitParams | None = None) -> SnapshotResult:
        """Fit the leaderboard on the log as it stands and sign its SHA-256 into the log (``arena.snapshot``)."""
        params = params or FitParams()
        self.enforce_deadlines()
        self.log.ensure_initialised()
        size = self.log.size()
        as_of = self.clock()
        board = build_leaderboard(self.records(size), log_size=size, as_of_ms=as_of, params=params, policy=self.policy)
        payload = {
            "sha256": board.sha256,
            "log_size": size,
            "as_of_ms": as_of,
            "params": {k: v for k, v in params.as_json().items() if v is not None},
            "policy": self.policy.as_json(),
            "n_battles": board.data["n_battles"],
            "n_variants": board.data["n_variants"],
        }
        result = self.log.append(SNAPSHOT, payload)
        entry = result.entries[0]
        with self.store.write() as conn:
            conn.execute(
                snapshots.insert().values(
                    log_index=entry.index, sha256=board.sha256, log_size=size, created_ms=as_of, body=board.body
                )
            )
        return SnapshotResult(entry.index, board.sha256, size, result.tree_head.tree_size, board)

    def snapshots(self) -> list[dict[str, Any]]:
        """The signed snapshots, newest first (from the log)."""
        out = []
        for e in self.log.entries(start=0, limit=10_000, kind=SNAPSHOT):
            out.append({"index": e.index, "timestamp": e.timestamp, **e.payload})
        return sorted(out, key=lambda s: -int(s["index"]))

    def latest_snapshot(self) -> tuple[dict[str, Any], bytes] | None:
        """The newest snapshot's log payload and leaderboard bytes, if any."""
        with self.store.read() as conn:
            row = conn.execute(select(snapshots).order_by(snapshots.c.log_index.desc()).limit(1)).first()
        if row is None:
            return None
        entry = self.log.entry(int(row.log_index))
        return {"index": entry.index, "timestamp": entry.timestamp, **entry.payload}, bytes(row.body)

    def reproduce(self, index: int) -> Reproduction:
        """Rebuild the snapshot at log ``index`` from the log entries alone and compare hashes.

        Also checks the snapshot entry's inclusion proof against the latest signed tree head.
        """
        try:
            entry = self.log.entry(index)
        except EntryNotFoundError:
            raise UnknownSnapshotError(f"no log entry at index {index}", index=index) from None
        if entry.kind != SNAPSHOT:
            raise UnknownSnapshotError(
                f"log entry {index} is of kind {entry.kind}, not arena.snapshot",
                hint="list the snapshots with `trustplane arena snapshots`",
                index=index,
            )
        p = entry.payload
        board = build_leaderboard(
            self.records(int(p["log_size"])),
            log_size=int(p["log_size"]),
            as_of_ms=int(p["as_of_ms"]),
            params=FitParams.from_json(dict(p["params"])),
            policy=ArenaPolicy.from_json(dict(p["policy"])),
        )
        head = self.log.latest_tree_head()
        proof = self.log.inclusion_proof(index, head.tree_size)
        try:
            verify_inclusion(index, head.tree_size, leaf_hash(entry.data), proof.path, head.root_hash)
            included = True
        except ProofError:
            included = False
        return Reproduction(index, str(p["sha256"]), board.sha256, int(p["log_size"]), included, board)

    # --- reports ----------------------------------------------------------------------------------------------
    def battle_rows(self) -> list[dict[str, Any]]:
        """Every battle in the store (served and voted) with providers and times, for share reports."""
        with self.store.read() as conn:
            rows = conn.execute(
                select(
                    battles.c.id,
                    battles.c.variant_a,
                    battles.c.variant_b,
                    battles.c.provider_a,
                    battles.c.provider_b,
                    battles.c.created_ms,
                    battles.c.voted_ms,
                    battles.c.outcome,
                    battles.c.sampling_prob,
                    battles.c.category,
                ).order_by(battles.c.created_ms, battles.c.id)
            ).all()
        return [dict(r._mapping) for r in rows]


def reproduce_export(path: Path | str, public_key: Any, index: int) -> Reproduction:
    """Rebuild the snapshot at ``index`` from an exported log file (``trustplane log export``), offline.

    The file is verified first (every leaf hash, root and signature along its key chain, against
    ``public_key``), so the rebuilt leaderboard rests on entries the log really signed.
    """
    from trustplane.core.log import verify_export

    path = Path(path)
    verify_export(path, public_key)
    snapshot: dict[str, Any] | None = None
    kinds = set(KINDS) - {SNAPSHOT}
    records: list[Record] = []
    with path.open("rb") as fh:
        for raw in fh:
            obj = json.loads(raw)
            if obj.get("type") != "entry":
                continue
            e = obj["entry"]
            if int(obj["index"]) == index:
                if e["kind"] != SNAPSHOT:
                    raise UnknownSnapshotError(
                        f"log entry {index} is of kind {e['kind']}, not arena.snapshot", index=index
                    )
                snapshot = e["payload"]
            if e["kind"] in kinds:
                records.append(Record(int(obj["index"]), e["kind"], e["payload"], int(e["timestamp"])))
    if snapshot is None:
        raise UnknownSnapshotError(f"the export has no entry at index {index}", index=index)
    board = build_leaderboard(
        records,
        log_size=int(snapshot["log_size"]),
        as_of_ms=int(snapshot["as_of_ms"]),
        params=FitParams.from_json(dict(snapshot["params"])),
        policy=ArenaPolicy.from_json(dict(snapshot["policy"])),
    )
    return Reproduction(index, str(snapshot["sha256"]), board.sha256, int(snapshot["log_size"]), True, board, "export")


def records_to_table(records: Iterable[Record]) -> BattleTable:
    """Battles of arena log records as a :class:`BattleTable` (registered variants only, each id once)."""
    registered: dict[str, str] = {}
    seen: set[str] = set()
    rows: list[dict[str, Any]] = []
    for rec in records:
        p = rec.payload
        if rec.kind == VARIANT_REGISTERED:
            registered.setdefault(p["variant"], p["provider"])
        elif rec.kind == BATTLE:
            if p["variant_a"] not in registered or p["variant_b"] not in registered or p["battle_id"] in seen:
                continue
            if p["variant_a"] == p["variant_b"]:
                continue
            seen.add(p["battle_id"])
            row: dict[str, Any] = {
                "model_a": p["variant_a"],
                "model_b": p["variant_b"],
                "outcome": p["outcome"],
                "battle_id": p["battle_id"],
                "provider_a": registered[p["variant_a"]],
                "provider_b": registered[p["variant_b"]],
                "timestamp": (p.get("voted_ms") or rec.timestamp) / 1000.0,
            }
            if p.get("sampling_prob") is not None:
                row["sampling_prob"] = float(p["sampling_prob"])
            rows.append(row)
    if not rows:
        return BattleTable.from_columns([], [], [])
    return BattleTable.from_records(rows)


# --- helpers ---------------------------------------------------------------------------------------------------
def _variant_info(row: Row[Any]) -> VariantInfo:
    return VariantInfo(
        name=row.name,
        provider=row.provider,
        model=row.model,
        private=bool(row.private),
        registered_ms=int(row.registered_ms),
        registered_index=None if row.registered_index is None else int(row.registered_index),
        published=row.published_ms is not None,
        published_ms=None if row.published_ms is None else int(row.published_ms),
        published_index=None if row.published_index is None else int(row.published_index),
        publication_reason=row.publication_reason,
        deprecated=row.deprecated_ms is not None,
        deprecated_index=None if row.deprecated_index is None else int(row.deprecated_index),
        deprecation_reason=row.deprecation_reason,
    )


def _check_name(name: str, what: str, row: int | None = None) -> None:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        where = f"row {row}: " if row is not None else ""
        extra: dict[str, Any] = {"row": row} if row is not None else {}
        raise ArenaInputError(
            f"{where}{what} name {name!r} must be 1-128 characters: letters, digits and . _ : / @ + -, "
            "starting with a letter or digit",
            **extra,
        )


def _check_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise ArenaInputError("the prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ArenaInputError(f"the prompt has {len(prompt)} characters; the limit is {MAX_PROMPT_CHARS}")
    return prompt


def _check_category(category: str) -> None:
    if not CATEGORY_RE.fullmatch(category or ""):
        raise ArenaInputError(
            f"prompt category {category!r} must be 1-64 lowercase letters, digits, _ or -, e.g. coding"
        )
