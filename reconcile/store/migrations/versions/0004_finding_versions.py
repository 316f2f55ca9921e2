"""Scale: finding contents kept once per version; skipped rows in source health.

- ``source_health.rows_skipped``: rows of incremental file streams unchanged
  since the cursor (0 for the runs before).
- ``finding_versions``: each distinct content of a finding (what its rule
  said), once, keyed by a hash of its JSON text; ``findings.content_hash``
  names the latest.
- ``run_findings`` keeps, per run and finding, the status, first/last seen
  times and suppression of that run and the version of the content, instead
  of a whole copy of the finding: the copies already there are split into
  versions (identical contents once) and those columns.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from reconcile.store._content import content_from_dict
from reconcile.store._schema import LongText, UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

FINGERPRINT = sa.String(64)
HASH = sa.String(40)
BATCH = 2000

store_meta = sa.table("store_meta", sa.column("key", sa.String), sa.column("value", sa.String))


def _when(value: Any) -> dt.datetime | None:
    """A time from a finding's JSON (ISO 8601 text), naive UTC as the store keeps it."""
    if value is None:
        return None
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def _split_run_findings(conn: sa.Connection) -> None:
    """Turn each run's copy of a finding into a version (once per content) and its run's columns."""
    rf = sa.table(
        "run_findings", sa.column("run_id", sa.Integer), sa.column("fingerprint", sa.String),
        sa.column("finding", sa.JSON), sa.column("content_hash", sa.String), sa.column("first_seen", UTCDateTime),
        sa.column("last_seen", UTCDateTime), sa.column("suppression", sa.JSON),
    )
    versions = sa.table(
        "finding_versions", sa.column("content_hash", sa.String), sa.column("fingerprint", sa.String),
        sa.column("entity_id", sa.Text), sa.column("content", sa.Text),
    )
    update = (
        rf.update()
        .where((rf.c.run_id == sa.bindparam("b_run_id")) & (rf.c.fingerprint == sa.bindparam("b_fingerprint")))
        .values(content_hash=sa.bindparam("b_content_hash"), first_seen=sa.bindparam("b_first_seen"),
                last_seen=sa.bindparam("b_last_seen"), suppression=sa.bindparam("b_suppression"))
    )
    after: tuple[int, str] = (-1, "")
    while True:  # pages in key order, so memory stays flat however many runs there were
        rows = conn.execute(
            sa.select(rf.c.run_id, rf.c.fingerprint, rf.c.finding)
            .where(sa.tuple_(rf.c.run_id, rf.c.fingerprint) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
            .order_by(rf.c.run_id, rf.c.fingerprint)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = (rows[-1].run_id, rows[-1].fingerprint)
        new: dict[str, dict[str, Any]] = {}
        changes = []
        for row in rows:
            finding = row.finding if isinstance(row.finding, dict) else json.loads(row.finding)
            content = content_from_dict(finding)
            new[content.hash] = {"content_hash": content.hash, "fingerprint": row.fingerprint,
                                 "entity_id": finding.get("entity_id"), "content": content.text}
            changes.append({
                "b_run_id": row.run_id, "b_fingerprint": row.fingerprint, "b_content_hash": content.hash,
                "b_first_seen": _when(finding.get("first_seen")), "b_last_seen": _when(finding.get("last_seen")),
                "b_suppression": finding.get("suppression"),
            })
        stored = set(conn.execute(
            sa.select(versions.c.content_hash).where(versions.c.content_hash.in_(sorted(new)))
        ).scalars())
        fresh = [row for key, row in new.items() if key not in stored]
        if fresh:
            conn.execute(versions.insert(), fresh)
        conn.execute(update, changes)


def upgrade() -> None:
    op.add_column("source_health", sa.Column("rows_skipped", sa.Integer, nullable=False, server_default="0"))
    op.add_column("findings", sa.Column("content_hash", HASH))
    op.create_table(
        "finding_versions",
        sa.Column("content_hash", HASH, nullable=False),
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("entity_id", LongText),
        sa.Column("content", LongText, nullable=False),
        sa.PrimaryKeyConstraint("content_hash", name="pk_finding_versions"),
        sa.ForeignKeyConstraint(["fingerprint"], ["findings.fingerprint"], name="fk_finding_versions_fingerprint"),
    )
    with op.batch_alter_table("run_findings") as batch:
        batch.add_column(sa.Column("content_hash", HASH))
        batch.add_column(sa.Column("first_seen", UTCDateTime))
        batch.add_column(sa.Column("last_seen", UTCDateTime))
        batch.add_column(sa.Column("suppression", sa.JSON))
    _split_run_findings(op.get_bind())
    with op.batch_alter_table("run_findings") as batch:
        batch.drop_column("finding")
        batch.alter_column("content_hash", existing_type=HASH, nullable=False)
        batch.create_foreign_key(
            "fk_run_findings_content_hash", "finding_versions", ["content_hash"], ["content_hash"]
        )
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="4"))


def _join_run_findings(conn: sa.Connection) -> None:
    """Back to a whole copy of the finding per run (for a downgrade)."""
    rf = sa.table(
        "run_findings", sa.column("run_id", sa.Integer), sa.column("fingerprint", sa.String),
        sa.column("status", sa.String), sa.column("finding", sa.JSON), sa.column("content_hash", sa.String),
        sa.column("first_seen", UTCDateTime), sa.column("last_seen", UTCDateTime), sa.column("suppression", sa.JSON),
    )
    versions = sa.table("finding_versions", sa.column("content_hash", sa.String), sa.column("content", sa.Text))
    update = (
        rf.update()
        .where((rf.c.run_id == sa.bindparam("b_run_id")) & (rf.c.fingerprint == sa.bindparam("b_fingerprint")))
        .values(finding=sa.bindparam("b_finding"))
    )
    after: tuple[int, str] = (-1, "")
    while True:
        rows = conn.execute(
            sa.select(rf.c.run_id, rf.c.fingerprint, rf.c.status, rf.c.first_seen, rf.c.last_seen,
                      rf.c.suppression, versions.c.content)
            .join(versions, versions.c.content_hash == rf.c.content_hash)
            .where(sa.tuple_(rf.c.run_id, rf.c.fingerprint) > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
            .order_by(rf.c.run_id, rf.c.fingerprint)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        after = (rows[-1].run_id, rows[-1].fingerprint)
        changes = []
        for row in rows:
            finding = json.loads(row.content)
            finding.update(
                status=row.status, suppression=row.suppression, unverified=None,
                first_seen=None if row.first_seen is None else row.first_seen.isoformat(),
                last_seen=None if row.last_seen is None else row.last_seen.isoformat(),
            )
            changes.append({"b_run_id": row.run_id, "b_fingerprint": row.fingerprint, "b_finding": finding})
        conn.execute(update, changes)


def downgrade() -> None:
    with op.batch_alter_table("run_findings") as batch:
        batch.add_column(sa.Column("finding", sa.JSON))
    _join_run_findings(op.get_bind())
    with op.batch_alter_table("run_findings") as batch:
        batch.drop_constraint("fk_run_findings_content_hash", type_="foreignkey")
        batch.alter_column("finding", existing_type=sa.JSON, nullable=False)
        for name in ("suppression", "last_seen", "first_seen", "content_hash"):
            batch.drop_column(name)
    op.drop_table("finding_versions")
    op.drop_column("findings", "content_hash")
    op.drop_column("source_health", "rows_skipped")
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="3"))
