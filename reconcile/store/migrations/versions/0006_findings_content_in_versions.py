"""Scale: a finding's latest content lives in finding_versions only.

The ``findings`` row keeps the finding's lifecycle and the columns queries
filter on (rule, kind, severity, owner, entity) and points to its latest
content by ``content_hash`` (now required); ``subject``, ``records``,
``story``, ``confidence``, ``detail`` and ``detail_key`` move into the
content. A night that sees a finding again rewrites a row of a few hundred
bytes instead of one with its whole story and evidence, and a new finding's
content is written once instead of twice.

Every existing row gets the version of its content (shared with the runs
that saw the same content); the downgrade puts the columns back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

from reconcile.store._content import content_from_dict
from reconcile.store._schema import LongText

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

HASH = sa.String(40)
BATCH = 2000
MOVED = ("subject", "records", "story", "confidence", "detail", "detail_key")

store_meta = sa.table("store_meta", sa.column("key", sa.String), sa.column("value", sa.String))
findings = sa.table(
    "findings", sa.column("fingerprint", sa.String), sa.column("rule_id", sa.String), sa.column("kind", sa.String),
    sa.column("severity", sa.String), sa.column("owner", sa.String), sa.column("entity_id", sa.Text),
    sa.column("subject", sa.JSON), sa.column("records", sa.JSON), sa.column("story", sa.Text),
    sa.column("confidence", sa.Float), sa.column("detail", sa.JSON), sa.column("detail_key", sa.Text),
    sa.column("content_hash", sa.String),
)
versions = sa.table(
    "finding_versions", sa.column("content_hash", sa.String), sa.column("fingerprint", sa.String),
    sa.column("entity_id", sa.Text), sa.column("content", sa.Text),
)


def _pages(conn: sa.Connection, query: Any) -> Any:
    """The rows of ``query`` (ordered by fingerprint) a page at a time, so memory stays flat."""
    after = ""
    while True:
        rows = conn.execute(
            query.where(findings.c.fingerprint > after).order_by(findings.c.fingerprint).limit(BATCH)
        ).all()
        if not rows:
            return
        yield rows
        after = rows[-1].fingerprint


def upgrade() -> None:
    conn = op.get_bind()
    set_hash = (
        findings.update()
        .where(findings.c.fingerprint == sa.bindparam("b_fingerprint"))
        .values(content_hash=sa.bindparam("b_content_hash"))
    )
    for rows in _pages(conn, sa.select(findings)):
        new: dict[str, dict[str, Any]] = {}
        changes = []
        for row in rows:
            content = content_from_dict(row._mapping)
            new[content.hash] = {"content_hash": content.hash, "fingerprint": row.fingerprint,
                                 "entity_id": row.entity_id, "content": content.text}
            changes.append({"b_fingerprint": row.fingerprint, "b_content_hash": content.hash})
        stored = set(conn.execute(
            sa.select(versions.c.content_hash).where(versions.c.content_hash.in_(sorted(new)))
        ).scalars())
        fresh = [row for key, row in new.items() if key not in stored]
        if fresh:
            conn.execute(versions.insert(), fresh)
        conn.execute(set_hash, changes)
    with op.batch_alter_table("findings") as batch:
        for name in MOVED:
            batch.drop_column(name)
        batch.alter_column("content_hash", existing_type=HASH, nullable=False)
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="6"))


def downgrade() -> None:
    with op.batch_alter_table("findings") as batch:
        batch.alter_column("content_hash", existing_type=HASH, nullable=True)
        batch.add_column(sa.Column("subject", sa.JSON))
        batch.add_column(sa.Column("records", sa.JSON))
        batch.add_column(sa.Column("story", LongText))
        batch.add_column(sa.Column("confidence", sa.Double))
        batch.add_column(sa.Column("detail", sa.JSON))
        batch.add_column(sa.Column("detail_key", LongText))
    conn = op.get_bind()
    put_back = (
        findings.update()
        .where(findings.c.fingerprint == sa.bindparam("b_fingerprint"))
        .values({name: sa.bindparam(f"b_{name}") for name in MOVED})
    )
    query = sa.select(findings.c.fingerprint, versions.c.content).join(
        versions, versions.c.content_hash == findings.c.content_hash
    )
    for rows in _pages(conn, query):
        changes = []
        for row in rows:
            content = json.loads(row.content)
            changes.append({"b_fingerprint": row.fingerprint, **{f"b_{name}": content[name] for name in MOVED}})
        conn.execute(put_back, changes)
    with op.batch_alter_table("findings") as batch:
        for name, kind in (("subject", sa.JSON), ("records", sa.JSON), ("story", LongText),
                           ("confidence", sa.Double), ("detail", sa.JSON), ("detail_key", LongText)):
            batch.alter_column(name, existing_type=kind, nullable=False)
    op.execute(store_meta.update().where(store_meta.c.key == "schema_version").values(value="5"))
