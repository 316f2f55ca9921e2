"""The store's tables (SQLAlchemy Core), the same on SQLite, PostgreSQL and MariaDB/MySQL.

Portability decisions:

- Every indexed or keyed text column is a ``VARCHAR`` with a length (MySQL
  needs one, and limits index keys to 3072 bytes, i.e. 768 utf8mb4
  characters); free text is ``TEXT``.
- Times are stored as naive UTC (:class:`UTCDateTime`) and come back
  timezone-aware, because the three databases disagree on time zones:
  SQLite has none, MySQL's ``DATETIME`` has none, PostgreSQL converts
  ``timestamptz`` to the session's zone. MySQL keeps microseconds only with
  ``DATETIME(6)``, which the variant below asks for.
- Floats are ``DOUBLE`` (MySQL's ``FLOAT`` is single precision, so a
  confidence of 0.87 would come back as 0.8700000047683716).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "SCHEMA_VERSION",
    "UTCDateTime",
    "artifacts",
    "cursors",
    "finding_history",
    "finding_versions",
    "findings",
    "metadata",
    "quarantine",
    "run_findings",
    "run_lock",
    "runs",
    "snapshot_parts",
    "snapshots",
    "source_health",
    "store_meta",
    "suppressions",
    "unverified",
]

#: Version of the table layout below; stored in ``store_meta`` (an older
#: release refuses a store whose version is newer than its own). It is the
#: number of the Alembic revision that creates this layout
#: (``reconcile/store/migrations/versions/000N_*.py``): change both together.
SCHEMA_VERSION = 7

# Lengths of keyed text columns, shared with the store's input checks.
NAME_LEN = 200  # source, stream, rule id, owner, kind
FINGERPRINT_LEN = 64
STATUS_LEN = 16
CONTENT_HASH_LEN = 40

#: Free text: MySQL's TEXT stops at 64 KiB, so MySQL gets MEDIUMTEXT (16 MiB).
LongText = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """A timezone-aware datetime stored as naive UTC; a naive input is taken as UTC."""

    impl = sa.DateTime(timezone=False)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime(timezone=False))

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(255), nullable=False),
)

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("status", sa.String(STATUS_LEN), nullable=False, index=True),
    sa.Column("as_of", UTCDateTime, nullable=False),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime),
    sa.Column("config_digest", sa.String(FINGERPRINT_LEN), nullable=False),
    sa.Column("error", LongText),
    sa.Column("timings", sa.JSON, nullable=False),
    sa.Column("counts", sa.JSON, nullable=False),
    sqlite_autoincrement=True,  # never reuse the id of a deleted run
)

source_health = sa.Table(
    "source_health",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("source", sa.String(NAME_LEN), nullable=False),
    sa.Column("healthy", sa.Boolean, nullable=False),
    sa.Column("rows_read", sa.Integer, nullable=False),
    sa.Column("rows_used", sa.Integer, nullable=False),
    sa.Column("rows_quarantined", sa.Integer, nullable=False),
    sa.Column("rows_skipped", sa.Integer, nullable=False, server_default="0"),
    sa.Column("duration_s", sa.Double, nullable=False),
    sa.Column("error", LongText),
    sa.Column("streams", sa.JSON, nullable=False),
    sa.UniqueConstraint("run_id", "source", name="uq_source_health_run_source"),
)

# The latest state of every finding the store has seen: its lifecycle and the
# columns queries filter on. What its rule said (subject, records, story,
# detail...) is its content, in finding_versions: a night that sees a finding
# again rewrites only this small row.
findings = sa.Table(
    "findings",
    metadata,
    sa.Column("fingerprint", sa.String(FINGERPRINT_LEN), primary_key=True),
    sa.Column("rule_id", sa.String(NAME_LEN), nullable=False, index=True),
    sa.Column("kind", sa.String(NAME_LEN), nullable=False),
    sa.Column("severity", sa.String(STATUS_LEN), nullable=False),
    sa.Column("owner", sa.String(NAME_LEN), nullable=False, index=True),
    sa.Column("entity_id", LongText),
    # The finding_versions row of its latest content (subject, records, story, detail...).
    sa.Column("content_hash", sa.String(CONTENT_HASH_LEN), nullable=False),
    sa.Column("status", sa.String(STATUS_LEN), nullable=False, index=True),
    sa.Column("first_seen", UTCDateTime, nullable=False),
    sa.Column("last_seen", UTCDateTime, nullable=False),
    sa.Column("first_run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("last_run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("resolved_at", UTCDateTime),
    sa.Column("times_seen", sa.Integer, nullable=False),
)

# Each distinct content a finding had (what its rule said: story, records,
# detail...), once, keyed by a hash of its JSON text. A run that sees a
# finding unchanged writes no new version, only its run_findings row.
finding_versions = sa.Table(
    "finding_versions",
    metadata,
    sa.Column("content_hash", sa.String(CONTENT_HASH_LEN), primary_key=True),
    sa.Column(
        "fingerprint", sa.String(FINGERPRINT_LEN), sa.ForeignKey("findings.fingerprint"), nullable=False
    ),
    sa.Column("entity_id", LongText),
    # JSON text written and read whole by the store (the database never looks inside).
    sa.Column("content", LongText, nullable=False),
)

finding_history = sa.Table(
    "finding_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "fingerprint",
        sa.String(FINGERPRINT_LEN),
        sa.ForeignKey("findings.fingerprint"),
        nullable=False,
        index=True,
    ),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("from_status", sa.String(STATUS_LEN)),
    sa.Column("to_status", sa.String(STATUS_LEN), nullable=False),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
)

# What each run saw (and resolved): the finding's status, times and
# suppression then, and the version of its content, so any past run can be
# rebuilt and reported again; `findings` holds only the latest.
run_findings = sa.Table(
    "run_findings",
    metadata,
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), primary_key=True),
    sa.Column(
        "fingerprint",
        sa.String(FINGERPRINT_LEN),
        sa.ForeignKey("findings.fingerprint"),
        primary_key=True,
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("status", sa.String(STATUS_LEN), nullable=False),
    sa.Column(
        "content_hash",
        sa.String(CONTENT_HASH_LEN),
        sa.ForeignKey("finding_versions.content_hash"),
        nullable=False,
    ),
    sa.Column("first_seen", UTCDateTime),
    sa.Column("last_seen", UTCDateTime),
    sa.Column("suppression", sa.JSON(none_as_null=True)),
)

quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("source", sa.String(NAME_LEN), nullable=False),
    sa.Column("stream", sa.String(NAME_LEN), nullable=False),
    # "row" is a reserved word in MySQL 8.
    sa.Column("row_ref", LongText, nullable=False),
    sa.Column("field", LongText),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("raw", sa.JSON, nullable=False),
)

# Incremental extraction: where each source stream's cursor stands. Written
# only by a run that commits, in the same transaction as its findings, so a
# cursor never moves past data that was not reconciled.
cursors = sa.Table(
    "cursors",
    metadata,
    sa.Column("source", sa.String(NAME_LEN), primary_key=True),
    sa.Column("stream", sa.String(NAME_LEN), primary_key=True),
    # {"type": "datetime" | "date" | "int" | "float" | "str", "value": ...}
    sa.Column("value", sa.JSON, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)

# The canonical records of every incrementally read stream, as of the last
# committed run, so rules see the full picture when only changes were read.
# Keyed by a hash of the record key: MySQL limits key length, record keys do not.
snapshots = sa.Table(
    "snapshots",
    metadata,
    sa.Column("source", sa.String(NAME_LEN), primary_key=True),
    sa.Column("record_type", sa.String(64), primary_key=True),
    sa.Column("key_hash", sa.String(FINGERPRINT_LEN), primary_key=True),
    sa.Column("key", LongText, nullable=False),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
)

#: Binary data: MySQL's BLOB stops at 64 KiB, so MySQL gets LONGBLOB.
LongBinary = sa.LargeBinary().with_variant(mysql.LONGBLOB(), "mysql", "mariadb")

# The snapshot of each incremental stream as Parquet parts of up to 50,000
# records (reconcile/store/_snapshots.py), since revision 0005 (the
# per-record JSON rows above are read until then, and cleared when a
# stream's parts are written). Since revision 0007 a committed run that
# changed few records appends them as a delta part; every few runs the
# snapshot is written whole again.
snapshot_parts = sa.Table(
    "snapshot_parts",
    metadata,
    sa.Column("source", sa.String(NAME_LEN), primary_key=True),
    sa.Column("record_type", sa.String(64), primary_key=True),
    sa.Column("part", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("records", sa.Integer, nullable=False),
    sa.Column("data", LongBinary, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
)

# State that later runs reuse, by name (such as the estimated matching model).
artifacts = sa.Table(
    "artifacts",
    metadata,
    sa.Column("name", sa.String(NAME_LEN), primary_key=True),
    sa.Column("data", sa.JSON, nullable=False),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
)


# One run at a time per store: the run holding this single row (name "run").
# Taken by begin_run, given back by finish_run / fail_run in the run's own
# transaction; a holder whose heartbeat is older than the store's lock
# timeout (or whose process is gone from this host) is taken over.
run_lock = sa.Table(
    "run_lock",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False),
    sa.Column("holder", sa.String(FINGERPRINT_LEN), nullable=False),
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("boot_id", sa.String(64), nullable=False),
    sa.Column("acquired_at", UTCDateTime, nullable=False),
    sa.Column("heartbeat_at", UTCDateTime, nullable=False),
)

# A person's decision that a finding needs no action (for now): it keeps its
# lifecycle but is flagged and does not fail a run.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column(
        "fingerprint", sa.String(FINGERPRINT_LEN), sa.ForeignKey("findings.fingerprint"), primary_key=True
    ),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("author", sa.String(NAME_LEN), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("until", UTCDateTime),
)

# Unresolved findings a failed run could not check, because a source they
# come from was unhealthy; the next good run deletes every row.
unverified = sa.Table(
    "unverified",
    metadata,
    sa.Column(
        "fingerprint", sa.String(FINGERPRINT_LEN), sa.ForeignKey("findings.fingerprint"), primary_key=True
    ),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("runs.id"), nullable=False, index=True),
    sa.Column("reason", LongText, nullable=False),
    sa.Column("since", UTCDateTime, nullable=False),
)
