"""Run safety and triage: the run lock, suppressions, unverified findings.

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-17
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reconcile.store._schema import LongText, UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME = sa.String(200)
FINGERPRINT = sa.String(64)

store_meta = sa.table("store_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    op.create_table(
        "run_lock",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("holder", FINGERPRINT, nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("boot_id", sa.String(64), nullable=False),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.Column("heartbeat_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_run_lock"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_lock_run_id"),
    )
    op.create_table(
        "suppressions",
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("reason", LongText, nullable=False),
        sa.Column("author", NAME, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("until", UTCDateTime),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_suppressions"),
        sa.ForeignKeyConstraint(["fingerprint"], ["findings.fingerprint"], name="fk_suppressions_fingerprint"),
    )
    op.create_table(
        "unverified",
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("reason", LongText, nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_unverified"),
        sa.ForeignKeyConstraint(["fingerprint"], ["findings.fingerprint"], name="fk_unverified_fingerprint"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_unverified_run_id"),
    )
    op.create_index("ix_unverified_run_id", "unverified", ["run_id"])
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="3"))


def downgrade() -> None:
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="1"))
    for name in ("unverified", "suppressions", "run_lock"):
        op.drop_table(name)
