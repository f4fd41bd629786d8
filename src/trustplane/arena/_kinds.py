"""The arena's transparency-log entry kinds: pydantic payload schemas, registered at import.

The log is the arena's source of truth: the leaderboard and every snapshot are rebuilt from these entries
alone (see :mod:`trustplane.arena._leaderboard`). Prompts and answers are logged only as SHA-256 hashes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trustplane.core.log import register_kind

VARIANT_REGISTERED = "arena.variant_registered"
BATTLE = "arena.battle"
PUBLICATION = "arena.publication"
DEPRECATION = "arena.deprecation"
SNAPSHOT = "arena.snapshot"
KINDS = (VARIANT_REGISTERED, BATTLE, PUBLICATION, DEPRECATION, SNAPSHOT)

NAME = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
HEX64 = r"^[0-9a-f]{64}$"
CATEGORY = r"^[a-z0-9][a-z0-9_-]{0,63}$"

Outcome = Literal["a", "b", "tie", "both_bad"]
PublicationReason = Literal["requested", "vote_deadline", "time_deadline"]


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VariantRegistered(_Payload):
    """A model variant entered the arena: it may receive battles from this entry on."""

    variant: str = Field(pattern=NAME, description="The variant's unique name.")
    provider: str = Field(pattern=NAME, description="The provider that registered it.")
    model: str | None = Field(None, max_length=128, description="Backend model name (settings.models); none: offline.")
    private: bool = Field(description="Registered private: its score is published later (by request or deadline).")


class Battle(_Payload):
    """One voted battle, with the probability with which its pair was sampled."""

    battle_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    variant_a: str = Field(pattern=NAME)
    variant_b: str = Field(pattern=NAME)
    outcome: Outcome
    sampling_prob: float | None = Field(None, gt=0, le=1, description="P(this pair) when it was drawn; none: unknown.")
    mode: Literal["sampled", "imported", "recorded"] = Field(description="How the battle entered the arena.")
    category: str = Field("general", pattern=CATEGORY, description="Prompt category.")
    prompt_sha256: str | None = Field(None, pattern=HEX64, description="SHA-256 of the prompt text (never the text).")
    answer_a_sha256: str | None = Field(None, pattern=HEX64)
    answer_b_sha256: str | None = Field(None, pattern=HEX64)
    created_ms: int | None = Field(None, ge=0, description="When the pair was drawn (ms since the epoch).")
    voted_ms: int | None = Field(None, ge=0, description="When the vote arrived (ms since the epoch).")


class Publication(_Payload):
    """A private variant's score became public (at its request, or forced by a deadline)."""

    variant: str = Field(pattern=NAME)
    reason: PublicationReason
    votes: int = Field(ge=0, description="Votes involving the variant when it was published.")


class Deprecation(_Payload):
    """A variant stops being sampled; it stays in the fit. Records the stratified check it passed."""

    variant: str = Field(pattern=NAME)
    reason: str = Field(min_length=1, max_length=500)
    forced: bool = Field(False, description="Deprecated despite failing the per-category vote rule.")
    category_votes: dict[str, int] = Field(description="The variant's votes per prompt category.")
    category_share: dict[str, float] = Field(description="Share of all votes per prompt category.")
    min_votes: int = Field(ge=0, description="The policy's minimum votes per required category.")


class Snapshot(_Payload):
    """A leaderboard, fixed: the SHA-256 of its canonical JSON, computed from the first ``log_size`` entries."""

    sha256: str = Field(pattern=HEX64)
    log_size: int = Field(ge=1, description="The leaderboard used entries 0 .. log_size-1.")
    as_of_ms: int = Field(ge=0, description="The time the deadlines were evaluated at.")
    params: dict[str, str | int | float | bool | None] = Field(description="Fit parameters, seed included.")
    policy: dict[str, int | float] = Field(description="The integrity policy in force.")
    n_battles: int = Field(ge=0)
    n_variants: int = Field(ge=0)


register_kind(VARIANT_REGISTERED, VariantRegistered, "An arena variant registered (before any battle).")
register_kind(BATTLE, Battle, "A voted arena battle with its sampling probability.")
register_kind(PUBLICATION, Publication, "A private arena variant's score published.")
register_kind(DEPRECATION, Deprecation, "An arena variant deprecated (stays in the fit, stops being sampled).")
register_kind(SNAPSHOT, Snapshot, "A signed arena leaderboard snapshot: its hash and how to rebuild it.")
