"""The arena's tables (SQLAlchemy Core): an operational index over the transparency log.

The log is the source of truth for everything the leaderboard shows; these tables hold what the service
needs to run fast and what never goes to the log (pending battles, answers, the snapshot bodies).
``migrations/versions/arena_0001_tables.py`` creates them.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

providers = Table(
    "arena_providers",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
)

variants = Table(
    "arena_variants",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("provider", String(128), ForeignKey("arena_providers.name"), nullable=False, index=True),
    Column("model", String(128), nullable=True),  # backend model name in settings.models; NULL: offline variant
    Column("private", Boolean, nullable=False),
    Column("registered_ms", BigInteger, nullable=False),
    Column("registered_index", BigInteger, nullable=True),  # NULL only while the log append is in flight
    Column("published_ms", BigInteger, nullable=True),
    Column("published_index", BigInteger, nullable=True),
    Column("publication_reason", String(32), nullable=True),
    Column("deprecated_ms", BigInteger, nullable=True),
    Column("deprecated_index", BigInteger, nullable=True),
    Column("deprecation_reason", Text, nullable=True),
)

battles = Table(
    "arena_battles",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("variant_a", String(128), ForeignKey("arena_variants.name"), nullable=False),
    Column("variant_b", String(128), ForeignKey("arena_variants.name"), nullable=False),
    Column("provider_a", String(128), nullable=False),
    Column("provider_b", String(128), nullable=False),
    Column("sampling_prob", Float, nullable=True),
    Column("mode", String(16), nullable=False),
    Column("category", String(64), nullable=False),
    Column("prompt_sha256", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("answered_ms", BigInteger, nullable=True),
    Column("answer_a", Text, nullable=True),
    Column("answer_b", Text, nullable=True),
    Column("outcome", String(16), nullable=True),  # NULL: pending (no vote yet)
    Column("voted_ms", BigInteger, nullable=True),
    Column("log_index", BigInteger, nullable=True),
    Index("ix_arena_battles_created", "created_ms"),
    Index("ix_arena_battles_variant_a", "variant_a"),
    Index("ix_arena_battles_variant_b", "variant_b"),
    Index("ix_arena_battles_log_index", "log_index"),
)

snapshots = Table(
    "arena_snapshots",
    metadata,
    Column("log_index", BigInteger, primary_key=True, autoincrement=False),
    Column("sha256", String(64), nullable=False),
    Column("log_size", BigInteger, nullable=False),
    Column("created_ms", BigInteger, nullable=False),
    Column("body", LargeBinary, nullable=False),  # the canonical JSON whose hash is in the log
)
