"""The gateway's tables (SQLAlchemy Core); ``migrations/versions/access_0001_tables.py`` creates them."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

api_keys = Table(
    "access_api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("secret_hash", String(64), nullable=False),  # HMAC-SHA256(pepper, secret), hex
    Column("tier", String(64), nullable=False),
    Column("subject", String(500), nullable=True),
    Column("assurance", Integer, nullable=False),
    Column("attributes", Text, nullable=False),  # JSON list of strings
    Column("rate_limit", String(200), nullable=True),
    Column("token_budget", String(200), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=True),
    Column("revoked_ms", BigInteger, nullable=True),
    Column("revoked_reason", String(500), nullable=True),
)

revocations = Table(
    "access_revocations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # subject | credential
    Column("value", String(500), nullable=False),
    Column("reason", String(500), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    UniqueConstraint("kind", "value", name="uq_access_revocations_kind_value"),
)

reviews = Table(
    "access_reviews",
    metadata,
    Column("review_id", String(32), primary_key=True),
    Column("status", String(16), nullable=False, index=True),  # pending | approved | denied | used
    Column("created_ms", BigInteger, nullable=False),
    Column("expires_ms", BigInteger, nullable=False),
    Column("principal_id", String(200), nullable=False),
    Column("principal", Text, nullable=False),  # JSON: assurance, attributes, method, tier
    Column("category", String(64), nullable=False),
    Column("band", String(16), nullable=False),
    Column("score", String(32), nullable=True),
    Column("model", String(200), nullable=False),
    Column("prompt_hash", String(64), nullable=False),
    Column("prompt_text", Text, nullable=True),  # shown to reviewers; wiped on decision unless text is kept
    Column("decided_ms", BigInteger, nullable=True),
    Column("decided_by", String(200), nullable=True),
    Column("note", String(2000), nullable=True),
    Column("used_ms", BigInteger, nullable=True),
)

texts = Table(
    "access_texts",
    metadata,
    Column("decision_id", String(32), primary_key=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("prompt_text", Text, nullable=True),
    Column("output_text", Text, nullable=True),
)
