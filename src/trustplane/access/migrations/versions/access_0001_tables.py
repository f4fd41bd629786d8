"""Access gateway tables: API keys, revocations, the human review queue, optional raw texts.

Revision ID: access_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "access_0001"
down_revision = None
branch_labels = ("access",)
depends_on = "0001_log"


def upgrade() -> None:
    op.create_table(
        "access_api_keys",
        sa.Column("key_id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("tier", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column("assurance", sa.Integer, nullable=False),
        sa.Column("attributes", sa.Text, nullable=False),
        sa.Column("rate_limit", sa.String(200), nullable=True),
        sa.Column("token_budget", sa.String(200), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=True),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
        sa.Column("revoked_reason", sa.String(500), nullable=True),
    )
    op.create_table(
        "access_revocations",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.String(500), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("kind", "value", name="uq_access_revocations_kind_value"),
    )
    op.create_table(
        "access_reviews",
        sa.Column("review_id", sa.String(32), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("expires_ms", sa.BigInteger, nullable=False),
        sa.Column("principal_id", sa.String(200), nullable=False),
        sa.Column("principal", sa.Text, nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("band", sa.String(16), nullable=False),
        sa.Column("score", sa.String(32), nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("prompt_hash", sa.String(64), nullable=False),
        sa.Column("prompt_text", sa.Text, nullable=True),
        sa.Column("decided_ms", sa.BigInteger, nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("note", sa.String(2000), nullable=True),
        sa.Column("used_ms", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_access_reviews_status", "access_reviews", ["status"])
    op.create_table(
        "access_texts",
        sa.Column("decision_id", sa.String(32), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("prompt_text", sa.Text, nullable=True),
        sa.Column("output_text", sa.Text, nullable=True),
    )


def downgrade() -> None:
    op.drop_index("ix_access_reviews_status", table_name="access_reviews")
    for table in ("access_texts", "access_reviews", "access_revocations", "access_api_keys"):
        op.drop_table(table)
