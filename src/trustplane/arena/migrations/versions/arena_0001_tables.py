"""Arena tables: providers, variants, battles, snapshots.

Revision ID: arena_0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "arena_0001"
down_revision = None
branch_labels = ("arena",)
depends_on = "0001_log"


def upgrade() -> None:
    op.create_table(
        "arena_providers",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "arena_variants",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("provider", sa.String(128), sa.ForeignKey("arena_providers.name"), nullable=False),
        sa.Column("model", sa.String(128), nullable=True),
        sa.Column("private", sa.Boolean, nullable=False),
        sa.Column("registered_ms", sa.BigInteger, nullable=False),
        sa.Column("registered_index", sa.BigInteger, nullable=True),
        sa.Column("published_ms", sa.BigInteger, nullable=True),
        sa.Column("published_index", sa.BigInteger, nullable=True),
        sa.Column("publication_reason", sa.String(32), nullable=True),
        sa.Column("deprecated_ms", sa.BigInteger, nullable=True),
        sa.Column("deprecated_index", sa.BigInteger, nullable=True),
        sa.Column("deprecation_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_arena_variants_provider", "arena_variants", ["provider"])
    op.create_table(
        "arena_battles",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("variant_a", sa.String(128), sa.ForeignKey("arena_variants.name"), nullable=False),
        sa.Column("variant_b", sa.String(128), sa.ForeignKey("arena_variants.name"), nullable=False),
        sa.Column("provider_a", sa.String(128), nullable=False),
        sa.Column("provider_b", sa.String(128), nullable=False),
        sa.Column("sampling_prob", sa.Float, nullable=True),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("prompt_sha256", sa.String(64), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("answered_ms", sa.BigInteger, nullable=True),
        sa.Column("answer_a", sa.Text, nullable=True),
        sa.Column("answer_b", sa.Text, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("voted_ms", sa.BigInteger, nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_arena_battles_created", "arena_battles", ["created_ms"])
    op.create_index("ix_arena_battles_variant_a", "arena_battles", ["variant_a"])
    op.create_index("ix_arena_battles_variant_b", "arena_battles", ["variant_b"])
    op.create_index("ix_arena_battles_log_index", "arena_battles", ["log_index"])
    op.create_table(
        "arena_snapshots",
        sa.Column("log_index", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("log_size", sa.BigInteger, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("arena_snapshots", "arena_battles", "arena_variants", "arena_providers"):
        op.drop_table(table)
