"""Errors of the arena service, each with a stable code (the rating engine's live in :mod:`.ratings`)."""

from __future__ import annotations

from trustplane.core.errors import ConflictError, InvalidInputError, NotFoundError, VerificationError


class UnknownProviderError(NotFoundError):
    """A provider that was never registered."""

    code = "arena.unknown_provider"
    title = "Unknown provider"


class UnknownVariantError(NotFoundError):
    """A variant name that is not registered (for operations on a variant: publish, deprecate)."""

    code = "arena.unknown_variant"
    title = "Unknown variant"


class UnregisteredVariantError(InvalidInputError):
    """A battle names a variant that is not registered in the transparency log."""

    code = "arena.unregistered_variant"
    title = "Variant not registered"
    status = 409


class DuplicateError(ConflictError):
    """A provider or variant name that is already registered (names are never reused)."""

    code = "arena.already_registered"
    title = "Already registered"


class PrivateVariantCapError(ConflictError):
    """The provider already has the most unpublished (private) variants the policy allows."""

    code = "arena.private_variant_cap"
    title = "Too many private variants"


class UnknownBattleError(NotFoundError):
    """A battle id that does not exist."""

    code = "arena.unknown_battle"
    title = "Unknown battle"


class AlreadyVotedError(ConflictError):
    """A second vote on a battle: each battle takes exactly one."""

    code = "arena.already_voted"
    title = "Battle already voted"


class BattleNotReadyError(ConflictError):
    """A vote before both answers were delivered, or a reveal before the vote."""

    code = "arena.battle_not_ready"
    title = "Battle not ready"


class NoPairError(ConflictError):
    """Fewer than two variants can be sampled (registered, with a configured model, not deprecated)."""

    code = "arena.no_pair"
    title = "No pair to battle"


class NotPublishedError(ConflictError):
    """An operation that needs a published variant (deprecation) on a private one."""

    code = "arena.not_published"
    title = "Variant not published"


class DeprecationPolicyError(ConflictError):
    """A deprecation the policy refuses: too few votes in some prompt category, or already deprecated."""

    code = "arena.deprecation_refused"
    title = "Deprecation refused by policy"


class UnknownSnapshotError(NotFoundError):
    """A log index that does not hold an ``arena.snapshot`` entry."""

    code = "arena.unknown_snapshot"
    title = "Unknown snapshot"


class ArenaInputError(InvalidInputError):
    """Other invalid input to the arena service (an empty prompt, a bad outcome, a bad policy)."""

    code = "arena.invalid_input"
    title = "Invalid arena input"


class SnapshotMismatchError(VerificationError):
    """A snapshot rebuilt from the log does not hash to the hash signed into the log."""

    code = "arena.snapshot_mismatch"
    title = "Snapshot does not reproduce"
