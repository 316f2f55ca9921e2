"""Incremental extraction: cursors, snapshots and artifacts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reconcile.store._schema import LongText, UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

NAME = sa.String(200)
FINGERPRINT = sa.String(64)


def upgrade() -> None:
    op.create_table(
        "cursors",
        sa.Column("source", NAME, nullable=False),
        sa.Column("stream", NAME, nullable=False),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("source", "stream", name="pk_cursors"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_cursors_run_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("source", NAME, nullable=False),
        sa.Column("record_type", sa.String(64), nullable=False),
        sa.Column("key_hash", FINGERPRINT, nullable=False),
        sa.Column("key", LongText, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("source", "record_type", "key_hash", name="pk_snapshots"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_snapshots_run_id"),
    )
    op.create_table(
        "artifacts",
        sa.Column("name", NAME, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_artifacts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_artifacts_run_id"),
    )


def downgrade() -> None:
    for name in ("artifacts", "snapshots", "cursors"):
        op.drop_table(name)
