"""Scale: snapshots of incremental streams kept as Parquet parts.

``snapshot_parts`` holds each incremental stream's snapshot as Parquet parts
of up to 50,000 records, replaced whole by each committed run. The
per-record JSON rows of ``snapshots`` written before are still read, and a
stream's rows there are removed when its parts are first written, so no
data is converted here.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reconcile.store._schema import LongBinary

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

store_meta = sa.table("store_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    op.create_table(
        "snapshot_parts",
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("record_type", sa.String(64), nullable=False),
        sa.Column("part", sa.Integer, nullable=False, autoincrement=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("data", LongBinary, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("source", "record_type", "part", name="pk_snapshot_parts"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_snapshot_parts_run_id"),
    )
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="5"))


def downgrade() -> None:
    op.drop_table("snapshot_parts")
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="4"))
