"""Provenance certificates: public metadata, hash, revocation state.

Revision ID: provenance_0001
Revises:
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "provenance_0001"
down_revision = None
branch_labels = ("provenance",)
depends_on = "0001_log"


def upgrade() -> None:
    op.create_table(
        "provenance_certificates",
        sa.Column("certificate_id", sa.String(40), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("generator", sa.String(500), nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("public", sa.Text, nullable=False),
        sa.Column("log_index", sa.BigInteger, nullable=False),
        sa.Column("rotated_from", sa.String(40), nullable=True),
        sa.Column("revoked_ms", sa.BigInteger, nullable=True),
        sa.Column("revoke_reason", sa.String(500), nullable=True),
        sa.Column("superseded_by", sa.String(40), nullable=True),
        sa.Column("revocation_log_index", sa.BigInteger, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("provenance_certificates")
