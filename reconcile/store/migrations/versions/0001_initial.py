"""The store as first released: runs, source health, findings, history, what each run saw, quarantine.

Revision ID: 0001
Revises:
Create Date: 2026-01-20
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from reconcile.store._schema import LongText, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

NAME = sa.String(200)
FINGERPRINT = sa.String(64)
STATUS = sa.String(16)


def upgrade() -> None:
    meta = op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("as_of", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime),
        sa.Column("config_digest", FINGERPRINT, nullable=False),
        sa.Column("error", LongText),
        sa.Column("timings", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "source_health",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("source", NAME, nullable=False),
        sa.Column("healthy", sa.Boolean, nullable=False),
        sa.Column("rows_read", sa.Integer, nullable=False),
        sa.Column("rows_used", sa.Integer, nullable=False),
        sa.Column("rows_quarantined", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Double, nullable=False),
        sa.Column("error", LongText),
        sa.Column("streams", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_source_health"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_source_health_run_id"),
        sa.UniqueConstraint("run_id", "source", name="uq_source_health_run_source"),
    )
    op.create_index("ix_source_health_run_id", "source_health", ["run_id"])
    op.create_table(
        "findings",
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("rule_id", NAME, nullable=False),
        sa.Column("kind", NAME, nullable=False),
        sa.Column("severity", STATUS, nullable=False),
        sa.Column("owner", NAME, nullable=False),
        sa.Column("entity_id", LongText),
        sa.Column("subject", sa.JSON, nullable=False),
        sa.Column("records", sa.JSON, nullable=False),
        sa.Column("story", LongText, nullable=False),
        sa.Column("confidence", sa.Double, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("detail_key", LongText, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("first_seen", UTCDateTime, nullable=False),
        sa.Column("last_seen", UTCDateTime, nullable=False),
        sa.Column("first_run_id", sa.Integer, nullable=False),
        sa.Column("last_run_id", sa.Integer, nullable=False),
        sa.Column("resolved_at", UTCDateTime),
        sa.Column("times_seen", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name="pk_findings"),
        sa.ForeignKeyConstraint(["first_run_id"], ["runs.id"], name="fk_findings_first_run_id"),
        sa.ForeignKeyConstraint(["last_run_id"], ["runs.id"], name="fk_findings_last_run_id"),
    )
    op.create_index("ix_findings_rule_id", "findings", ["rule_id"])
    op.create_index("ix_findings_owner", "findings", ["owner"])
    op.create_index("ix_findings_status", "findings", ["status"])
    op.create_table(
        "finding_history",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("from_status", STATUS),
        sa.Column("to_status", STATUS, nullable=False),
        sa.Column("reason", LongText, nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_finding_history"),
        sa.ForeignKeyConstraint(
            ["fingerprint"], ["findings.fingerprint"], name="fk_finding_history_fingerprint"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_finding_history_run_id"),
    )
    op.create_index("ix_finding_history_fingerprint", "finding_history", ["fingerprint"])
    op.create_index("ix_finding_history_run_id", "finding_history", ["run_id"])
    op.create_table(
        "run_findings",
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("fingerprint", FINGERPRINT, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", STATUS, nullable=False),
        sa.Column("finding", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "fingerprint", name="pk_run_findings"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_findings_run_id"),
        sa.ForeignKeyConstraint(
            ["fingerprint"], ["findings.fingerprint"], name="fk_run_findings_fingerprint"
        ),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("source", NAME, nullable=False),
        sa.Column("stream", NAME, nullable=False),
        sa.Column("row_ref", LongText, nullable=False),
        sa.Column("field", LongText),
        sa.Column("reason", LongText, nullable=False),
        sa.Column("raw", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_quarantine_run_id"),
    )
    op.create_index("ix_quarantine_run_id", "quarantine", ["run_id"])
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    for name in ("quarantine", "run_findings", "finding_history", "findings", "source_health", "runs",
                 "store_meta"):
        op.drop_table(name)
