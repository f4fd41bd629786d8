"""Values tables: questionnaire runs and their item responses.

Revision ID: values_0001
Revises:
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "values_0001"
down_revision = None
branch_labels = ("values",)
depends_on = "0001_log"


def upgrade() -> None:
    op.create_table(
        "values_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
        sa.Column("updated_ms", sa.BigInteger, nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("backend", sa.String(64), nullable=False),
        sa.Column("instrument_id", sa.String(64), nullable=False),
        sa.Column("instrument_version", sa.String(64), nullable=False),
        sa.Column("instrument_sha256", sa.String(64), nullable=False),
        sa.Column("config_sha256", sa.String(64), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("planned", sa.Integer, nullable=False),
        sa.Column("warnings_json", sa.Text, nullable=True),
        sa.Column("result_json", sa.Text, nullable=True),
        sa.Column("result_sha256", sa.String(64), nullable=True),
        sa.Column("log_index", sa.BigInteger, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_values_runs_model", "values_runs", ["model"])
    op.create_table(
        "values_responses",
        sa.Column("run_id", sa.String(64), sa.ForeignKey("values_runs.run_id", ondelete="CASCADE"), primary_key=True),
        sa.Column("task", sa.String(255), primary_key=True),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("retained_mass", sa.Float, nullable=True),
        sa.Column("detail_json", sa.Text, nullable=False),
        sa.Column("created_ms", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("values_responses")
    op.drop_index("ix_values_runs_model", "values_runs")
    op.drop_table("values_runs")
