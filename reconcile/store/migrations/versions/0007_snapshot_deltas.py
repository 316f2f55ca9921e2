"""Scale: a snapshot's parts may end with deltas.

A committed run that changed a small share of an incremental stream's
records appends them as a delta part (the changed records and the deleted
keys) after the snapshot's parts instead of writing the snapshot whole;
every few runs, or when the deltas grow, the snapshot is written whole again
(``reconcile/store/_snapshots.py``). The tables do not change: the revision
keeps a release that would read a delta as whole records away from the
store. The downgrade writes every snapshot with deltas whole again.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

store_meta = sa.table("store_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def upgrade() -> None:
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="7"))


def downgrade() -> None:
    import pyarrow.parquet as pq

    from reconcile.store import _schema as s
    from reconcile.store import _snapshots

    conn = op.get_bind()
    streams = conn.execute(
        sa.select(s.snapshot_parts.c.source, s.snapshot_parts.c.record_type, sa.func.max(s.snapshot_parts.c.run_id))
        .group_by(s.snapshot_parts.c.source, s.snapshot_parts.c.record_type)
    ).all()
    for source, record_type, run_id in streams:
        parts = _snapshots.read_parts(conn, source, record_type)
        metadata = [pq.read_schema(io.BytesIO(data)).metadata or {} for data in parts]
        if not any(b"reconcile.delta" in m for m in metadata):
            continue
        tags = {m.get(b"reconcile.derived") for m in metadata}
        tag = next(iter(tags)).decode() if len(tags) == 1 and None not in tags else None  # type: ignore[union-attr]
        frame = _snapshots.read_frame(conn, source, record_type, tag)
        _snapshots.write_frame(conn, run_id, source, record_type, frame, tag)
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="6"))
