"""The findings store: runs, source health, quarantine, findings and their history."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import threading
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from operator import attrgetter, itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from reconcile._pause import pause_point
from reconcile.errors import StoreError
from reconcile.findings import (
    Finding,
    FindingStatus,
    RecordRef,
    Severity,
    SharedFieldsSet,
    _cached_fingerprint,
)
from reconcile.model import record_model
from reconcile.results import QuarantinedRow, RunResult, SourceHealth
from reconcile.store import _migrate, _snapshots
from reconcile.store import _schema as s
from reconcile.store._config import DEFAULT_LOCK_TIMEOUT, StoreConfig
from reconcile.store._content import Content, content_of
from reconcile.store._json import Encoded, encode_json, json_safe
from reconcile.store._lock import LockInfo, StoreLockedError, boot_id, host_name, process_gone
from reconcile.store._state import StateChanges, StreamKey, decode_cursor, encode_cursor, key_hash
from reconcile.store._story import EntityStory, build_story
from reconcile.store._tracked import Suppression, TrackedFinding, Unverified

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HistoryEntry", "RunRecord", "RunStatus", "Store", "StoreOverview", "upgrade_schema"]

log = logging.getLogger("reconcile.store")

#: Statuses of a finding that is still unresolved.
ACTIVE = (FindingStatus.new, FindingStatus.open, FindingStatus.reopened)

# Rows per IN (...) list: well under every backend's limit on bound parameters.
_CHUNK = 500

# Findings (or rows) written per executemany: bounds the memory of encoded JSON.
_BATCH = 2000

#: The single row of the run_lock table.
_LOCK_NAME = "run"


class RunStatus(StrEnum):
    """Where a run stands."""

    running = "running"
    succeeded = "succeeded"
    failed = "failed"


class RunRecord(BaseModel):
    """One run as the store remembers it.

    Attributes:
        id: The run's id (increasing).
        status: ``running``, ``succeeded`` or ``failed``.
        as_of: The run's reference time (UTC).
        started_at / finished_at: Wall-clock times (UTC); ``finished_at`` is
            None while the run is running.
        config_digest: Hash of the effective configuration the run used.
        error: Why the run failed (None unless failed).
        timings: Seconds per stage.
        counts: ``findings``, ``new``, ``open``, ``reopened``, ``resolved``,
            ``quarantined``, ``sources``, ``unhealthy_sources`` (and
            ``entities``, ``links`` when the caller gave them).
    """

    model_config = ConfigDict(frozen=True)

    id: int
    status: RunStatus
    as_of: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    config_digest: str = ""
    error: str | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    counts: dict[str, int] = Field(default_factory=dict)


class HistoryEntry(BaseModel):
    """One status change of a finding.

    Attributes:
        fingerprint: The finding.
        run_id: The run that changed it.
        from_status: The status before (None when first seen).
        to_status: The status after.
        reason: Why, in words.
        at: The as-of time of that run (UTC).
    """

    model_config = ConfigDict(frozen=True)

    fingerprint: str
    run_id: int
    from_status: FindingStatus | None
    to_status: FindingStatus
    reason: str
    at: dt.datetime


class StoreOverview(BaseModel):
    """The state of a store at a glance (``reconcile db status``, the metrics file).

    Attributes:
        revision: The schema revision.
        open_findings: Unresolved findings.
        suppressed: Unresolved findings with a suppression in force now.
        unverified: Unresolved findings flagged unverified.
        last_run: The latest run (None in a new store).
        last_success: The latest succeeded run.
        lock: Who holds the run lock (None when no run is running).
    """

    model_config = ConfigDict(frozen=True)

    revision: str
    open_findings: int
    suppressed: int
    unverified: int
    last_run: RunRecord | None = None
    last_success: RunRecord | None = None
    lock: LockInfo | None = None


def _utc(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _health_from_row(row: Any) -> SourceHealth:
    """A ``source_health`` row as the run's :class:`SourceHealth`."""
    return SourceHealth(
        source=row.source, healthy=row.healthy, rows_read=row.rows_read, rows_used=row.rows_used,
        rows_quarantined=row.rows_quarantined, rows_skipped=row.rows_skipped, duration_s=row.duration_s,
        error=row.error, streams=dict(row.streams or {}),
    )


def _check_name(value: str, what: str) -> None:
    if len(value) > s.NAME_LEN:
        raise StoreError(
            f"{what} {value[:40]!r}... is {len(value)} characters; the store keeps at most "
            f"{s.NAME_LEN} (shorten it in the configuration)"
        )


def _finding_columns(finding: Finding, content: Content) -> dict[str, Any]:
    """The columns of ``findings`` a sighting refreshes: those queries filter on, and the content's version."""
    return {
        "rule_id": finding.rule_id,
        "kind": finding.kind,
        "severity": _text(finding.severity),
        "owner": finding.owner,
        "entity_id": finding.entity_id,
        "content_hash": content.hash,
    }


_fingerprint_of = attrgetter("fingerprint")


def _names_fit(findings: Sequence[Finding]) -> bool:
    """Whether every finding's rule id, kind and owner fit the store's names (lengths read in C)."""
    return not findings or all(
        max(map(len, set(map(attrgetter(name), findings)))) <= s.NAME_LEN for name in ("rule_id", "kind", "owner")
    )


def _suppression_json(sup: Suppression | None) -> Encoded | None:
    return None if sup is None else encode_json(sup.model_dump())


def _tracked_from_version(
    content: str,
    status: str,
    first_seen: dt.datetime | None,
    last_seen: dt.datetime | None,
    suppression: Suppression | Mapping[str, Any] | None = None,
    unverified: Unverified | None = None,
) -> TrackedFinding:
    """A finding from its content (``finding_versions``) and its lifecycle then (``findings`` or ``run_findings``)."""
    data = orjson.loads(content)
    data["status"] = status
    data["first_seen"] = first_seen
    data["last_seen"] = last_seen
    data["suppression"] = suppression
    data["unverified"] = unverified
    return TrackedFinding.model_validate(data)  # pydantic's validation beats model_construct here


#: The fields-set of every finding :func:`_seen_finding` makes (all of them): one set, shared (see SharedFieldsSet).
_SEEN_FIELDS = SharedFieldsSet(TrackedFinding.model_fields)


def _seen_finding(
    finding: Finding, status: FindingStatus, first_seen: dt.datetime, as_of: dt.datetime,
    suppression: Suppression | None,
) -> TrackedFinding:
    """The finding a run returns: the rule's finding with its lifecycle (no re-validation).

    What ``TrackedFinding.model_construct(**every field)`` makes (the fields
    in the model's order, no extra, no private values), without its loop
    over the model's fields (about 40 us a finding, seconds at a million
    customers), and with one shared fields-set (a finding copies it before
    changing it) instead of a set per finding.
    """
    tracked = _new_tracked(TrackedFinding)
    _set(tracked, "__dict__", {
        "rule_id": finding.rule_id, "kind": finding.kind, "severity": finding.severity, "owner": finding.owner,
        "entity_id": finding.entity_id, "subject": finding.subject, "records": finding.records,
        "story": finding.story, "confidence": finding.confidence, "detail": finding.detail,
        "detail_key": finding.detail_key, "status": status, "first_seen": first_seen, "last_seen": as_of,
        "suppression": suppression, "unverified": None,
    })
    _set(tracked, "__pydantic_fields_set__", _SEEN_FIELDS)
    _set(tracked, "__pydantic_extra__", None)
    _set(tracked, "__pydantic_private__", None)
    try:  # noqa: SIM105 - cheaper than contextlib.suppress; the fingerprint the rule's finding computed
        _set(tracked, "_fingerprint_cache", _cached_fingerprint(finding))
    except AttributeError:
        pass
    return tracked


_new_tracked = TrackedFinding.__new__
_set = object.__setattr__
_text = str.__str__  # a StrEnum member's value, as plain text (its ``.value`` is a slower descriptor)
_STATUS = {status.value: status for status in FindingStatus}  # a stored status by its text


_T = TypeVar("_T")


def _batches(items: Sequence[_T], size: int = _BATCH) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


_ACTIVE_VALUES = [a.value for a in ACTIVE]

#: What finish_run reads of each known finding (never its bulky content).
_KNOWN = (
    s.findings.c.fingerprint, s.findings.c.status, s.findings.c.first_seen, s.findings.c.rule_id,
    s.findings.c.content_hash,
)

_CONTENT_COLUMNS = ("rule_id", "kind", "severity", "owner", "entity_id", "content_hash")

#: A finding's row with its latest content (for :func:`_finding_from_row`).
_FULL = sa.select(s.findings, s.finding_versions.c.content).join(
    s.finding_versions, s.finding_versions.c.content_hash == s.findings.c.content_hash
)


def _by_fingerprint() -> Any:
    return s.findings.update().where(s.findings.c.fingerprint == sa.bindparam("b_fingerprint"))


# A sighting whose content changed: every column it refreshes.
_UPDATE_CONTENT = _by_fingerprint().values(
    {c: sa.bindparam(f"b_{c}") for c in (*_CONTENT_COLUMNS, "status", "last_seen", "last_run_id")}
    | {"times_seen": s.findings.c.times_seen + 1, "resolved_at": None}
)
# A sighting of unchanged content.
_TOUCH = _by_fingerprint().values(
    status=sa.bindparam("b_status"), last_seen=sa.bindparam("b_last_seen"),
    last_run_id=sa.bindparam("b_last_run_id"), times_seen=s.findings.c.times_seen + 1, resolved_at=None,
)
_RESOLVE = _by_fingerprint().values(
    status=FindingStatus.resolved.value, resolved_at=sa.bindparam("b_resolved_at")
)


def _insert_many(conn: sa.Connection, table: sa.Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert rows (dicts with the same keys) in bulk, with each column's own conversions.

    The statement goes to the driver once for all the rows: ``COPY`` on
    PostgreSQL with psycopg, the driver's ``executemany`` elsewhere (pymysql
    turns it into multi-row inserts). SQLAlchemy's per-row work is skipped;
    each value still goes through its column type's bind processor (times
    to naive UTC, JSON encoding), so the rows are what ``conn.execute(
    table.insert(), rows)`` would write.
    """
    if not rows:
        return
    names = list(rows[0])
    dialect = conn.dialect
    # Column by column: one conversion loop per column beats one per value.
    processors = []
    for name in names:
        kind = table.c[name].type
        processors.append(kind.dialect_impl(dialect).bind_processor(dialect))
    if not any(processors):
        tuples = list(map(itemgetter(*names), rows)) if len(names) > 1 else [(row[names[0]],) for row in rows]
    else:
        converted: list[list[Any]] = []
        for name, process in zip(names, processors, strict=True):
            column = list(map(itemgetter(name), rows))
            if process is not None and isinstance(table.c[name].type, s.UTCDateTime):  # mostly the run's as-of time
                done = {value: process(value) for value in set(column)}  # each distinct time converted once
                column = list(map(done.__getitem__, column))
            elif process is not None:
                column = list(map(process, column))
            converted.append(column)
        tuples = list(zip(*converted, strict=True))
    quote = dialect.identifier_preparer.quote
    listed = ", ".join(quote(name) for name in names)
    target = dialect.identifier_preparer.format_table(table)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        raw = conn.connection.driver_connection
        assert raw is not None
        with raw.cursor() as cursor, cursor.copy(f"COPY {target} ({listed}) FROM STDIN") as copy:
            for values in tuples:
                copy.write_row(values)
    elif dialect.paramstyle in ("qmark", "format", "pyformat"):
        marker = "?" if dialect.paramstyle == "qmark" else "%s"
        conn.exec_driver_sql(f"INSERT INTO {target} ({listed}) VALUES ({', '.join([marker] * len(names))})", tuples)
    else:
        conn.execute(table.insert(), list(rows))


class _RunWriter:
    """The rows a run writes, gathered a batch of findings at a time and written in bulk.

    Each flush writes one executemany per table: new findings, changed ones,
    sightings of unchanged ones (or, when every sighting may be written at
    once, none: :meth:`sight_the_rest`), resolutions, new content versions,
    history and what the run saw, in an order the foreign keys accept.
    """

    def __init__(self, conn: sa.Connection, run_id: int, as_of: dt.datetime, *, per_row_sightings: bool) -> None:
        self.conn = conn
        self.run_id = run_id
        self.as_of = as_of
        self.per_row_sightings = per_row_sightings
        self.tally = dict.fromkeys(("new", "open", "reopened", "resolved"), 0)
        self.position = 0
        self.unchanged = 0
        self._reset()

    def _reset(self) -> None:
        self.inserts: list[dict[str, Any]] = []
        self.updates: list[dict[str, Any]] = []
        self.touches: list[dict[str, Any]] = []
        self.resolutions: list[dict[str, Any]] = []
        self.versions: dict[str, dict[str, Any]] = {}
        self.maybe_stored: list[str] = []  # versions that may be in the store already
        self.history: list[dict[str, Any]] = []
        self.sightings: list[dict[str, Any]] = []

    def _version(self, fingerprint: str, entity_id: str | None, content: Content, *, maybe_stored: bool) -> None:
        self.versions[content.hash] = {
            "content_hash": content.hash, "fingerprint": fingerprint, "entity_id": entity_id,
            "content": content.text,
        }
        if maybe_stored:
            self.maybe_stored.append(content.hash)

    def _record(
        self, fingerprint: str, before: FindingStatus | None, status: FindingStatus, reason: str,
        content_hash: str, first_seen: dt.datetime, last_seen: dt.datetime, suppression: Suppression | None,
    ) -> None:
        text = _text(status)
        if before != status:
            self.history.append(Store._history_row(fingerprint, self.run_id, before, status, reason, self.as_of))
        self.sightings.append({
            "run_id": self.run_id, "fingerprint": fingerprint, "position": self.position,
            "status": text, "content_hash": content_hash, "first_seen": first_seen,
            "last_seen": last_seen, "suppression": None if suppression is None else _suppression_json(suppression),
        })
        self.position += 1
        self.tally[text] += 1

    def insert(self, fingerprint: str, finding: Finding, suppression: Suppression | None) -> FindingStatus:
        """A finding the store has never seen: new."""
        content = content_of(finding)
        as_of = self.as_of
        self.inserts.append({
            "fingerprint": fingerprint, **_finding_columns(finding, content), "status": FindingStatus.new.value,
            "first_seen": as_of, "last_seen": as_of, "first_run_id": self.run_id, "last_run_id": self.run_id,
            "resolved_at": None, "times_seen": 1,
        })
        self._version(fingerprint, finding.entity_id, content, maybe_stored=False)
        self._record(fingerprint, None, FindingStatus.new, f"first seen in run {self.run_id}", content.hash,
                     as_of, as_of, suppression)
        return FindingStatus.new

    def sight(self, fingerprint: str, finding: Finding, known: Any, suppression: Suppression | None) -> FindingStatus:
        """A finding the store knows (``known`` holds its status and content hash): open or reopened."""
        before = _STATUS[known.status]
        if before == FindingStatus.resolved:
            status, reason = FindingStatus.reopened, f"seen again in run {self.run_id} after it was resolved"
        else:
            status, reason = FindingStatus.open, f"seen again in run {self.run_id}"
        content = content_of(finding)
        stamp = {"b_fingerprint": fingerprint, "b_status": status.value, "b_last_seen": self.as_of,
                 "b_last_run_id": self.run_id}
        if content.hash != known.content_hash:
            self.updates.append({**stamp, **{f"b_{k}": v for k, v in _finding_columns(finding, content).items()}})
            # Its content may have gone back to one the store already keeps.
            self._version(fingerprint, finding.entity_id, content, maybe_stored=True)
        elif self.per_row_sightings or status == FindingStatus.reopened:
            self.touches.append(stamp)
        else:
            self.unchanged += 1
        self._record(fingerprint, before, status, reason, content.hash, known.first_seen, self.as_of, suppression)
        return status

    def resolve(self, row: Any, reason: str) -> TrackedFinding:
        """An unresolved finding (its row with its content, :data:`_FULL`) this run did not see: resolved."""
        self.resolutions.append({"b_fingerprint": row.fingerprint, "b_resolved_at": self.as_of})
        self._record(row.fingerprint, FindingStatus(row.status), FindingStatus.resolved, reason, row.content_hash,
                     row.first_seen, row.last_seen, None)
        return _finding_from_row(row).model_copy(update={"status": FindingStatus.resolved})

    def flush(self) -> None:
        """Write what was gathered."""
        conn = self.conn
        if self.inserts:
            _insert_many(conn, s.findings, self.inserts)
        if self.updates:
            conn.execute(_UPDATE_CONTENT, self.updates)
        if self.touches:
            conn.execute(_TOUCH, self.touches)
        if self.resolutions:
            conn.execute(_RESOLVE, self.resolutions)
        if self.versions:
            v = s.finding_versions
            stored: set[str] = set()
            for chunk in _chunks(self.maybe_stored):
                stored.update(conn.execute(sa.select(v.c.content_hash).where(v.c.content_hash.in_(chunk))).scalars())
            rows = [row for key, row in self.versions.items() if key not in stored]
            if rows:
                _insert_many(conn, v, rows)
        if self.history:
            _insert_many(conn, s.finding_history, self.history)
        if self.sightings:
            _insert_many(conn, s.run_findings, self.sightings)
        self._reset()

    def sight_the_rest(self) -> None:
        """Mark every unresolved finding not written yet as seen, in one statement.

        Only once every unresolved finding this run did not see is resolved:
        what is left unresolved and untouched by this run is what it saw
        unchanged.
        """
        if not self.unchanged:
            return
        f = s.findings
        done = self.conn.execute(
            f.update()
            .where(f.c.status.in_(_ACTIVE_VALUES) & (f.c.last_run_id != self.run_id))
            .values(status=FindingStatus.open.value, last_seen=self.as_of, last_run_id=self.run_id,
                    times_seen=f.c.times_seen + 1)
        ).rowcount
        if done != self.unchanged:
            raise StoreError(
                f"run {self.run_id}: {done} unresolved findings were marked seen, but {self.unchanged} were "
                f"expected (was the store changed behind the run's lock?); nothing was written"
            )
        self.unchanged = 0


def _rows_of(conn: sa.Connection, table: sa.Table, fingerprints: Sequence[str]) -> list[Any]:
    """The rows of a small table keyed by fingerprint (suppressions, unverified) for some findings."""
    if not fingerprints:
        return []
    if len(fingerprints) > _CHUNK:  # one read of the whole (small) table beats many lookups
        wanted = set(fingerprints)
        return [row for row in conn.execute(sa.select(table)) if row.fingerprint in wanted]
    return list(conn.execute(sa.select(table).where(table.c.fingerprint.in_(list(fingerprints)))))


def _suppression_from_row(row: Any) -> Suppression:
    return Suppression(
        fingerprint=row.fingerprint, reason=row.reason, author=row.author,
        created_at=row.created_at, until=row.until,
    )


def _finding_from_row(
    row: Any, suppression: Suppression | None = None, unverified: Unverified | None = None
) -> TrackedFinding:
    """A finding as the store holds it now: a ``findings`` row joined with its content (:data:`_FULL`)."""
    return _tracked_from_version(row.content, row.status, row.first_seen, row.last_seen, suppression, unverified)


def _content_refs(content: str) -> list[Mapping[str, Any]]:
    """The subject and records of a stored content, as JSON."""
    data = orjson.loads(content)
    return [data.get("subject") or {}, *(r for r in data.get("records") or [] if isinstance(r, Mapping))]


def _suppression_end(until: dt.datetime | dt.date | None) -> dt.datetime | None:
    """When a suppression lapses: a date means the end of that day (UTC)."""
    if until is None:
        return None
    if isinstance(until, dt.datetime):
        return _utc(until)
    if isinstance(until, dt.date):
        return dt.datetime.combine(until + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    raise StoreError(f"until must be a date or a datetime, not {type(until).__name__}: {until!r}")


def _run_from_row(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        status=RunStatus(row.status),
        as_of=row.as_of,
        started_at=row.started_at,
        finished_at=row.finished_at,
        config_digest=row.config_digest,
        error=row.error,
        timings=row.timings or {},
        counts=row.counts or {},
    )


def _is_memory_sqlite(url: sa.URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


#: The page cache of each SQLite connection of a store, in KiB (SQLite's default is 2,000).
SQLITE_CACHE_KIB = 256 * 1024


def _install_sqlite_transactions(engine: sa.Engine) -> None:
    """Make SQLite transactions real: BEGIN at the start, IMMEDIATE for writers.

    pysqlite opens a transaction only at the first write, so the reads that
    decide a run's lifecycle would run outside it and two writers could
    interleave. With the driver's own handling off, every transaction emits
    BEGIN; a write transaction takes the database's write lock up front.
    """

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        # A run writes its findings' contents (hundreds of MB at a million customers) in one
        # transaction, into indexes of random keys: with SQLite's default 2 MiB page cache
        # the pages are written out and read back again and again. The cache takes memory
        # only as pages are used.
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("reconcile_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _parse_url(url: str | sa.URL) -> sa.URL:
    try:
        return make_url(url)
    except ArgumentError:
        raise StoreError(f"{url!r} is not a database URL; write e.g. sqlite:///reconcile.db") from None


def _shown(url: sa.URL) -> str:
    return url.render_as_string(hide_password=True)


def _serialize_json(value: Any) -> str:
    if type(value) is Encoded:
        return value
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _create_engine(url: sa.URL, echo: bool) -> sa.Engine:
    options: dict[str, Any] = {
        "echo": echo,
        # JSON encoded already (Encoded) is written as it is: the store encodes big values once.
        "json_serializer": _serialize_json,
    }
    sqlite = url.get_backend_name() == "sqlite"
    if sqlite:
        options["connect_args"] = {"timeout": 30, "check_same_thread": False}
        if _is_memory_sqlite(url):
            # One connection shared by every use, else each would see a new empty database.
            options["poolclass"] = StaticPool
    else:
        options["pool_pre_ping"] = True
    try:
        engine = sa.create_engine(url, **options)
    except NoSuchModuleError as exc:
        raise StoreError(f"no database driver for {url.drivername!r} in {_shown(url)}: {exc}") from None
    except ModuleNotFoundError as exc:
        backend = url.get_backend_name()
        extra = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
        hint = f"; install it with: pip install 'reconcile-engine[{extra}]'" if extra else ""
        raise StoreError(f"the driver for {_shown(url)} is missing ({exc.name}){hint}") from None
    if sqlite:
        _install_sqlite_transactions(engine)
    return engine


@contextmanager
def _store_errors(url: sa.URL, action: str) -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise StoreError(f"{action} failed in the store {_shown(url)}: {cause[0] if cause else exc!r}") from exc


def upgrade_schema(url: str | sa.URL, *, echo: bool = False) -> tuple[str | None, str]:
    """Bring a store's tables to this release's schema (``reconcile db upgrade``).

    An empty database gets every table; a store at an older revision is
    migrated in place, keeping its data. Back the store up first.

    Args:
        url: The store's SQLAlchemy URL.
        echo: Log every SQL statement.

    Returns:
        The revision before (None for an empty database) and after.

    Raises:
        StoreError: the store is newer than this release, or a migration failed.
    """
    parsed = _parse_url(url)
    engine = _create_engine(parsed, echo)
    try:
        with _store_errors(parsed, "reading the schema revision"), engine.connect() as conn:
            before = _migrate.current_revision(conn)
        if before is not None and before not in _migrate.REVISIONS:
            raise StoreError(_newer_message(parsed, before))
        if before == _migrate.HEAD:
            return before, before
        with _store_errors(parsed, f"upgrading the schema from {before or 'nothing'} to {_migrate.HEAD}"):
            before, after = _migrate.upgrade(engine)
        log.info("store %s upgraded from %s to %s", _shown(parsed), before or "nothing", after)
        return before, after or _migrate.HEAD
    finally:
        engine.dispose()


def _newer_message(url: sa.URL, revision: str) -> str:
    return (
        f"the store {_shown(url)} has schema revision {revision}, newer than this reconcile "
        f"understands ({_migrate.HEAD}); upgrade reconcile"
    )


class Store:
    """Findings remembered across runs, in any database SQLAlchemy reaches.

    A new, empty database gets the tables on first use; a store created by an
    older release must be upgraded first (``reconcile db upgrade``). Every
    write is one transaction: :meth:`finish_run` records the lifecycle of
    every finding, its history, the sources' health, the quarantined rows and
    the carried-over state together or not at all. One run at a time holds
    the store's run lock (:meth:`begin_run`).

    Args:
        url: SQLAlchemy URL, such as ``sqlite:///reconcile.db``,
            ``postgresql+psycopg://user@host/db`` or ``mysql+pymysql://user@host/db``.
        echo: Log every SQL statement.
        lock_timeout: A run lock whose heartbeat is older than this was left
            by a run that was killed, and is taken over (default 2 hours).

    Raises:
        StoreError: the URL is invalid, the driver is missing, the database
            cannot be reached, the store must be upgraded
            (``reconcile db upgrade``), or it was created by a newer release.

    Example::

        store = Store("sqlite:///reconcile.db")
        run_id = store.begin_run(as_of, config_digest="abc")
        findings, resolved = store.finish_run(run_id, findings=found, health=health)
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        echo: bool = False,
        lock_timeout: dt.timedelta = DEFAULT_LOCK_TIMEOUT,
    ) -> None:
        self._url = _parse_url(url)
        if lock_timeout <= dt.timedelta(0):
            raise StoreError(f"the lock timeout must be positive, not {lock_timeout}")
        self.lock_timeout = lock_timeout
        self._holder = uuid.uuid4().hex
        self._beats: dict[int, threading.Event] = {}
        self.engine = _create_engine(self._url, echo)
        self._open_schema()

    @classmethod
    def from_config(cls, config: StoreConfig) -> Store:
        """A store from the ``store:`` section of a configuration."""
        return cls(config.url, echo=config.echo, lock_timeout=config.lock_timeout)

    @property
    def url(self) -> str:
        """The store's URL with any password hidden."""
        return _shown(self._url)

    def close(self) -> None:
        """Stop heartbeats and close every pooled connection (the store can still be used)."""
        for stop in list(self._beats.values()):
            stop.set()
        self._beats.clear()
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        with _store_errors(self._url, action):
            yield

    @contextmanager
    def _write(self, action: str) -> Iterator[sa.Connection]:
        with self._errors(action), self.engine.connect() as conn:
            conn.execution_options(reconcile_write=True)
            with conn.begin():
                yield conn

    @contextmanager
    def _read(self, action: str) -> Iterator[sa.Connection]:
        with self._errors(action), self.engine.connect() as conn:
            yield conn

    def _open_schema(self) -> None:
        with self._read("reading the schema revision") as conn:
            revision = _migrate.current_revision(conn)
            version = self._meta_version(conn) if revision is not None else None
        if version is not None and version > s.SCHEMA_VERSION:
            raise StoreError(
                f"the store {self.url} has schema version {version}, newer than this "
                f"reconcile understands ({s.SCHEMA_VERSION}); upgrade reconcile"
            )
        if revision == _migrate.HEAD:
            return
        if revision is None:
            self._create_schema()
        elif revision in _migrate.REVISIONS:
            raise StoreError(
                f"the store {self.url} has schema revision {revision}; this reconcile needs "
                f"{_migrate.HEAD}. Back the store up, then run: reconcile db upgrade -c reconcile.yaml "
                f"(or --url with the store's URL)"
            )
        else:
            raise StoreError(_newer_message(self._url, revision))

    @staticmethod
    def _meta_version(conn: sa.Connection) -> int | None:
        value = conn.execute(
            sa.select(s.store_meta.c.value).where(s.store_meta.c.key == "schema_version")
        ).scalar_one_or_none()
        return None if value is None else int(value)

    def _create_schema(self) -> None:
        with self._write("creating the tables") as conn:
            if _migrate.current_revision(conn) is not None:  # another process just created it
                return
            s.metadata.create_all(conn)
            conn.execute(s.store_meta.insert().values(key="schema_version", value=str(s.SCHEMA_VERSION)))
            _migrate.stamp_head(conn)
        log.info("created the store's tables in %s (schema %s)", self.url, _migrate.HEAD)

    @staticmethod
    def _lock(conn: sa.Connection) -> None:
        """Serialise lifecycle writers: lock one row every writer locks first.

        On PostgreSQL and MariaDB this is a row lock held to the end of the
        transaction; on SQLite the write transaction's BEGIN IMMEDIATE already is.
        """
        conn.execute(
            sa.select(s.store_meta.c.value)
            .where(s.store_meta.c.key == "schema_version")
            .with_for_update()
        ).all()

    @staticmethod
    def _run_row(conn: sa.Connection, run_id: int) -> Any:
        row = conn.execute(sa.select(s.runs).where(s.runs.c.id == run_id)).one_or_none()
        if row is None:
            raise StoreError(f"there is no run {run_id} in the store")
        return row

    # ------------------------------------------------------------------ the run lock

    @staticmethod
    def _lock_row(conn: sa.Connection, *, for_update: bool = False) -> LockInfo | None:
        query = sa.select(s.run_lock).where(s.run_lock.c.name == _LOCK_NAME)
        if for_update:
            query = query.with_for_update()
        row = conn.execute(query).one_or_none()
        if row is None:
            return None
        return LockInfo(
            run_id=row.run_id, holder=row.holder, host=row.host, pid=row.pid, boot_id=row.boot_id,
            acquired_at=row.acquired_at, heartbeat_at=row.heartbeat_at,
        )

    def lock_holder(self) -> LockInfo | None:
        """Who holds the run lock now (None when no run is running)."""
        with self._read("reading the run lock") as conn:
            return self._lock_row(conn)

    def _stale(self, lock: LockInfo, now: dt.datetime) -> str | None:
        """Why a held lock may be taken over, or None while its holder may be alive."""
        if now - lock.heartbeat_at > self.lock_timeout:
            return f"its heartbeat is older than the lock timeout ({self.lock_timeout})"
        if process_gone(lock):
            return f"its process {lock.pid} is gone from this host"
        return None

    def _abandon(self, conn: sa.Connection, lock: LockInfo, why: str, now: dt.datetime) -> None:
        """Mark the run behind a stale lock failed and drop the lock (in the caller's transaction)."""
        conn.execute(
            s.runs.update()
            .where((s.runs.c.id == lock.run_id) & (s.runs.c.status == RunStatus.running.value))
            .values(
                status=RunStatus.failed.value,
                finished_at=now,
                error=f"abandoned: the run stopped without finishing ({lock.describe(now)}); "
                f"its lock was taken over because {why}",
            )
        )
        conn.execute(s.run_lock.delete().where(s.run_lock.c.name == _LOCK_NAME))

    def release_lock(self) -> LockInfo | None:
        """Release the run lock by hand (``reconcile db unlock``), whoever holds it.

        The run holding it is marked failed. Only for a lock left by a run
        that is known to be dead: a run that is still alive and loses its lock
        cannot commit (its :meth:`finish_run` is refused).

        Returns:
            Who held it (None if nobody did).
        """
        now = _now()
        with self._write("releasing the run lock") as conn:
            self._lock(conn)
            lock = self._lock_row(conn, for_update=True)
            if lock is not None:
                self._abandon(conn, lock, "it was released by hand (reconcile db unlock)", now)
        if lock is not None:
            log.warning("released the run lock of %s by hand", lock.describe(now))
        return lock

    def _beat(self, run_id: int) -> bool:
        """Refresh the heartbeat of this store's lock; False once the lock is no longer ours."""
        with self._write("refreshing the run lock's heartbeat") as conn:
            updated = conn.execute(
                s.run_lock.update()
                .where(
                    (s.run_lock.c.name == _LOCK_NAME)
                    & (s.run_lock.c.run_id == run_id)
                    & (s.run_lock.c.holder == self._holder)
                )
                .values(heartbeat_at=_now())
            ).rowcount
        return bool(updated)

    def heartbeat(self, run_id: int) -> None:
        """Tell the store that ``run_id`` is alive (done by a background thread after begin_run).

        Raises:
            StoreError: this store object does not hold the lock for that run
                (any more): the lock was taken over or released.
        """
        if not self._beat(run_id):
            raise StoreError(f"run {run_id} does not hold the run lock of {self.url} (any more)")

    def _start_heartbeat(self, run_id: int) -> None:
        if _is_memory_sqlite(self._url):
            return  # no other process can see this store, and its one connection is not shared
        interval = min(max(self.lock_timeout.total_seconds() / 4, 0.2), 60.0)
        stop = threading.Event()
        self._beats[run_id] = stop

        def beat() -> None:
            while not stop.wait(interval):
                try:
                    if not self._beat(run_id):
                        return
                except Exception as exc:  # a missed beat is retried; the timeout is generous
                    log.debug("run %d: heartbeat failed: %s", run_id, exc)

        threading.Thread(target=beat, name=f"reconcile-heartbeat-{run_id}", daemon=True).start()

    def _stop_heartbeat(self, run_id: int) -> None:
        stop = self._beats.pop(run_id, None)
        if stop is not None:
            stop.set()

    def _release(self, conn: sa.Connection, run_id: int) -> None:
        conn.execute(
            s.run_lock.delete().where((s.run_lock.c.name == _LOCK_NAME) & (s.run_lock.c.run_id == run_id))
        )

    # ------------------------------------------------------------------ runs

    def begin_run(
        self,
        as_of: dt.datetime,
        config_digest: str = "",
        *,
        started_at: dt.datetime | None = None,
    ) -> int:
        """Record a new run as running, take the store's run lock, and return the run's id.

        While the run is running, a background thread refreshes the lock's
        heartbeat; :meth:`finish_run` and :meth:`fail_run` give the lock back.

        Args:
            as_of: The run's reference time; first/last seen and resolution
                times of findings are this time. A naive datetime is UTC.
            config_digest: Hash of the configuration (``Config.digest()``).
            started_at: When the run started (default: now).

        Raises:
            StoreLockedError: another run holds the lock (its run, host and
                pid are in the message and on ``exc.holder``).
        """
        now = _now()
        row: dict[str, Any] = {
            "status": RunStatus.running.value,
            "as_of": _utc(as_of),
            "started_at": _utc(started_at) if started_at is not None else now,
            "config_digest": config_digest[: s.FINGERPRINT_LEN],
            "timings": {},
            "counts": {},
        }
        taken_over: tuple[LockInfo, str] | None = None
        with self._write("starting a run") as conn:
            self._lock(conn)
            held = self._lock_row(conn, for_update=True)
            if held is not None:
                why = self._stale(held, now)
                if why is None:
                    raise StoreLockedError(self.url, held, self.lock_timeout)
                self._abandon(conn, held, why, now)
                taken_over = (held, why)
            key = conn.execute(s.runs.insert().values(**row)).inserted_primary_key
            assert key is not None
            run_id = int(key[0])
            conn.execute(
                s.run_lock.insert().values(
                    name=_LOCK_NAME, run_id=run_id, holder=self._holder, host=host_name(),
                    pid=os.getpid(), boot_id=boot_id(), acquired_at=now, heartbeat_at=now,
                )
            )
        if taken_over is not None:
            log.warning(
                "run %d took over the store's lock from %s: %s; that run is marked failed",
                run_id, taken_over[0].describe(now), taken_over[1],
                extra={"run_id": run_id, "abandoned_run_id": taken_over[0].run_id},
            )
        self._start_heartbeat(run_id)
        log.info("run %d started (as of %s)", run_id, row["as_of"].isoformat(), extra={"run_id": run_id})
        return run_id

    def _check_holds_lock(self, conn: sa.Connection, run_id: int, action: str) -> None:
        lock = self._lock_row(conn, for_update=True)
        if lock is None or lock.run_id != run_id:
            by = f"; it is now held by {lock.describe()}" if lock is not None else ""
            raise StoreError(
                f"run {run_id} no longer holds the store's run lock (it was taken over as stale "
                f"or released by hand{by}), so it cannot {action}; nothing was written. If runs "
                f"take longer than {self.lock_timeout} without a heartbeat, raise store.lock_timeout"
            )

    def fail_run(self, run_id: int, error: str, *, health: Iterable[SourceHealth] = ()) -> int:
        """Mark a running run failed, with the reason, and give the run lock back.

        No finding changes status and no cursor or snapshot moves. When
        ``health`` names unhealthy sources, the unresolved findings whose
        records come from one of them are marked **unverified** (with this
        run and the reason): the run could not check them. The health itself
        is kept with the run, so the failed run can be reported.

        Args:
            run_id: A running run.
            error: Why it failed.
            health: The sources' health as far as the run got.

        Returns:
            How many findings were marked unverified.

        Raises:
            StoreError: the run does not exist or is not running.
        """
        health = list(health)
        for h in health:
            _check_name(h.source, "source name")
        marked = 0
        try:
            with self._write(f"marking run {run_id} failed") as conn:
                self._lock(conn)
                row = self._run_row(conn, run_id)
                if row.status != RunStatus.running:
                    raise StoreError(f"run {run_id} is {row.status}; only a running run can be marked failed")
                conn.execute(
                    s.runs.update()
                    .where(s.runs.c.id == run_id)
                    .values(
                        status=RunStatus.failed.value, finished_at=_now(), error=str(error),
                        counts={"sources": len(health), "unhealthy_sources": sum(not h.healthy for h in health)},
                    )
                )
                self._insert_health(conn, run_id, health)
                unhealthy = {h.source: h.error for h in health if not h.healthy}
                if unhealthy:
                    marked = self._mark_unverified(conn, run_id, row.as_of, unhealthy, set())
                    conn.execute(
                        s.runs.update().where(s.runs.c.id == run_id).values(
                            counts={"sources": len(health), "unhealthy_sources": len(unhealthy),
                                    "unverified": marked}
                        )
                    )
                self._release(conn, run_id)
        finally:
            self._stop_heartbeat(run_id)
        log.info("run %d failed: %s", run_id, error, extra={"run_id": run_id})
        if marked:
            log.warning(
                "run %d: %d unresolved finding(s) marked unverified (a source they come from was unhealthy)",
                run_id, marked, extra={"run_id": run_id, "unverified": marked},
            )
        return marked

    @staticmethod
    def _insert_health(conn: sa.Connection, run_id: int, health: Sequence[SourceHealth]) -> None:
        if not health:
            return
        conn.execute(
            s.source_health.insert(),
            [
                {
                    "run_id": run_id,
                    "source": h.source,
                    "healthy": h.healthy,
                    "rows_read": h.rows_read,
                    "rows_used": h.rows_used,
                    "rows_quarantined": h.rows_quarantined,
                    "rows_skipped": h.rows_skipped,
                    "duration_s": float(h.duration_s),
                    "error": h.error,
                    "streams": json_safe(h.streams),
                }
                for h in health
            ],
        )

    @staticmethod
    def _mark_unverified(
        conn: sa.Connection,
        run_id: int,
        as_of: dt.datetime,
        unhealthy: Mapping[str, str | None],
        seen: Collection[str],
    ) -> int:
        """Flag unresolved, unseen findings that come from an unhealthy source; return how many."""
        f, u, v = s.findings, s.unverified, s.finding_versions
        rows = conn.execute(
            sa.select(f.c.fingerprint, v.c.content)
            .join(v, v.c.content_hash == f.c.content_hash)
            .where(f.c.status.in_(_ACTIVE_VALUES))
        )
        reasons: dict[str, str] = {}
        for row in rows:
            if row.fingerprint in seen:
                continue
            hit = sorted({str(ref.get("source")) for ref in _content_refs(row.content)} & set(unhealthy))
            if hit:
                reasons[row.fingerprint] = "; ".join(
                    f"source {name!r} was unhealthy in run {run_id}"
                    + (f": {unhealthy[name]}" if unhealthy[name] else "")
                    for name in hit
                )
        if not reasons:
            return 0
        fingerprints = sorted(reasons)
        since: dict[str, dt.datetime] = {}
        for chunk in _chunks(fingerprints):
            for found in conn.execute(sa.select(u.c.fingerprint, u.c.since).where(u.c.fingerprint.in_(chunk))):
                since[found.fingerprint] = found.since
            conn.execute(u.delete().where(u.c.fingerprint.in_(chunk)))
        conn.execute(
            u.insert(),
            [
                {"fingerprint": fp, "run_id": run_id, "reason": reasons[fp], "since": since.get(fp, as_of)}
                for fp in fingerprints
            ],
        )
        return len(fingerprints)

    def finish_run(
        self,
        run_id: int,
        *,
        findings: Iterable[Finding],
        health: Iterable[SourceHealth] = (),
        quarantine: Iterable[QuarantinedRow] = (),
        started_at: dt.datetime | None = None,
        timings: Mapping[str, float] | None = None,
        entities: int | None = None,
        links: int | None = None,
        rule_ids: Collection[str] | None = None,
        state: StateChanges | None = None,
    ) -> tuple[list[Finding], list[Finding]]:
        """Record a run's findings and move every finding along its lifecycle.

        By fingerprint, in one transaction:

        - not in the store: **new**;
        - new, open or reopened, and seen again: **open**;
        - resolved, and seen again: **reopened**;
        - new, open or reopened, and not seen: **resolved**, but only when
          every source in ``health`` was healthy: a run that could not see
          everything resolves nothing.

        Every status change is written to the finding's history with the run
        and the reason. ``first_seen`` is the as-of time of the run that first
        saw the finding (it survives a resolution), ``last_seen`` that of the
        latest run that saw it.

        Args:
            run_id: A running run from :meth:`begin_run`.
            findings: Every finding of this run (fingerprints must be unique).
            health: One entry per source of this run.
            quarantine: The rows the run could not use.
            started_at: When the run started (replaces the time begin_run recorded).
            timings: Seconds per stage.
            entities: How many entities matching built (kept in the run's counts).
            links: How many links matching accepted (kept in the run's counts).
            rule_ids: The ids of the rules this run evaluated, if known: an
                unseen finding of any other rule is resolved with the reason
                that its rule was not evaluated, not that it was fixed.
            state: Cursors, snapshot changes and artifacts of incremental
                reads, written in the same transaction (see :class:`StateChanges`).

        Returns:
            The run's findings with status, first_seen and last_seen set (in
            the order given), and the findings this run resolved.

        Raises:
            StoreError: the run is not running, two findings share a
                fingerprint, a name is too long, or the database failed (then
                nothing was written).
        """
        findings = list(findings)
        by_fingerprint: dict[str, Finding] = dict(zip(map(_fingerprint_of, findings), findings, strict=True))
        if len(by_fingerprint) != len(findings) or not _names_fit(findings):
            # A repeated fingerprint or a name too long: found in order, as the error must name the first.
            by_fingerprint = {}
            for finding in findings:
                fp = finding.fingerprint
                if fp in by_fingerprint:
                    raise StoreError(
                        f"two findings share the fingerprint {fp} (rule {finding.rule_id!r}, subject "
                        f"{finding.subject.rid}, detail_key {finding.detail_key!r}); nothing was written"
                    )
                for value, what in ((finding.rule_id, "rule id"), (finding.kind, "kind"), (finding.owner, "owner")):
                    _check_name(value, what)
                by_fingerprint[fp] = finding
        health = list(health)
        quarantine = list(quarantine)
        for h in health:
            _check_name(h.source, "source name")
        for q in quarantine:
            _check_name(q.source, "source name")
            _check_name(q.stream, "stream name")
        rules = set(rule_ids) if rule_ids is not None else None

        try:
            return self._finish(
                run_id, by_fingerprint, health, quarantine, started_at, timings, entities, links, rules, state
            )
        finally:
            # Finished or not, a run whose finish failed is failed next (fail_run); the
            # heartbeat stops either way so a dead writer's lock can go stale.
            if self._run_status(run_id) != RunStatus.running:
                self._stop_heartbeat(run_id)

    def _run_status(self, run_id: int) -> RunStatus | None:
        try:
            with self._read(f"reading run {run_id}") as conn:
                value = conn.execute(sa.select(s.runs.c.status).where(s.runs.c.id == run_id)).scalar()
        except StoreError:
            return None
        return None if value is None else RunStatus(value)

    def _finish(
        self,
        run_id: int,
        by_fingerprint: dict[str, Finding],
        health: list[SourceHealth],
        quarantine: list[QuarantinedRow],
        started_at: dt.datetime | None,
        timings: Mapping[str, float] | None,
        entities: int | None,
        links: int | None,
        rules: set[str] | None,
        state: StateChanges | None,
    ) -> tuple[list[Finding], list[Finding]]:
        all_healthy = all(h.healthy for h in health)
        f = s.findings
        with self._write(f"finishing run {run_id}") as conn:
            self._lock(conn)
            run = self._run_row(conn, run_id)
            if run.status != RunStatus.running:
                raise StoreError(f"run {run_id} is {run.status}; only a running run can be finished")
            self._check_holds_lock(conn, run_id, "commit its findings")
            as_of: dt.datetime = run.as_of
            suppressed = {
                fp: sup
                for fp, sup in self._suppressions_of(conn, list(by_fingerprint)).items()
                if sup.active_at(as_of)
            }

            # What the store knows of each finding, without its bulky content:
            # every unresolved one, and the resolved ones this run sees again.
            known: dict[str, Any] = {
                row.fingerprint: row
                for row in conn.execute(sa.select(*_KNOWN).where(f.c.status.in_(_ACTIVE_VALUES)))
            }
            active = list(known)
            known.update(self._resolved_among(conn, [fp for fp in by_fingerprint if fp not in known]))

            writer = _RunWriter(conn, run_id, as_of, per_row_sightings=not all_healthy)
            seen: list[Finding] = []
            for batch in _batches(list(by_fingerprint.items())):
                for fp, finding in batch:
                    existing = known.get(fp)
                    sup = suppressed.get(fp)
                    if existing is None:
                        status, first_seen = writer.insert(fp, finding, sup), as_of
                    else:
                        status, first_seen = writer.sight(fp, finding, existing, sup), existing.first_seen
                    seen.append(_seen_finding(finding, status, first_seen, as_of, sup))
                writer.flush()

            resolved: list[Finding] = []
            if all_healthy:
                unseen = [fp for fp in active if fp not in by_fingerprint]
                for chunk in _chunks(unseen):
                    rows = {row.fingerprint: row for row in conn.execute(
                        _FULL.where(f.c.fingerprint.in_(chunk)))}
                    for fp in chunk:
                        row = rows[fp]
                        if rules is not None and row.rule_id not in rules:
                            reason = f"rule {row.rule_id!r} was not evaluated in run {run_id}"
                        else:
                            reason = f"not seen in run {run_id}, whose sources were all healthy"
                        resolved.append(writer.resolve(row, reason))
                    writer.flush()
                writer.sight_the_rest()
            elif active:
                log.info(
                    "run %d: a source was unhealthy, so no finding is resolved by absence", run_id
                )
            tally = writer.tally
            if all_healthy:
                conn.execute(s.unverified.delete())  # every source answered: all is verified again
            else:
                for chunk in _chunks(list(by_fingerprint)):
                    conn.execute(s.unverified.delete().where(s.unverified.c.fingerprint.in_(chunk)))
                tally["unverified"] = self._mark_unverified(
                    conn, run_id, as_of, {h.source: h.error for h in health if not h.healthy}, by_fingerprint
                )

            self._insert_health(conn, run_id, health)
            for start in range(0, len(quarantine), _BATCH):
                _insert_many(conn, s.quarantine, [
                    {"run_id": run_id, "source": q.source, "stream": q.stream, "row_ref": q.row, "field": q.field,
                     "reason": q.reason, "raw": encode_json(q.raw)}
                    for q in quarantine[start : start + _BATCH]
                ])
            counts = {
                "findings": len(seen),
                **tally,
                "suppressed": len(suppressed),
                "quarantined": len(quarantine),
                "sources": len(health),
                "unhealthy_sources": sum(not h.healthy for h in health),
            }
            if entities is not None:
                counts["entities"] = int(entities)
            if links is not None:
                counts["links"] = int(links)
            finished: dict[str, Any] = {
                "status": RunStatus.succeeded.value,
                "finished_at": _now(),
                "timings": json_safe(dict(timings or {})),
                "counts": counts,
            }
            if started_at is not None:
                finished["started_at"] = _utc(started_at)
            if state:
                self._apply_state(conn, run_id, state)
            conn.execute(s.runs.update().where(s.runs.c.id == run_id).values(**finished))
            pause_point("store:commit")  # a test kills the process here, mid-transaction
            self._release(conn, run_id)
        log.info(
            "run %d finished: %d new, %d open, %d reopened, %d resolved, %d suppressed",
            run_id, tally["new"], tally["open"], tally["reopened"], tally["resolved"], len(suppressed),
            extra={"run_id": run_id, "counts": counts},
        )
        return seen, resolved

    @staticmethod
    def _resolved_among(conn: sa.Connection, fingerprints: Sequence[str]) -> dict[str, Any]:
        """The resolved findings among ``fingerprints`` (none of them unresolved), without their content."""
        if not fingerprints:
            return {}
        f = s.findings
        resolved = FindingStatus.resolved.value
        count = conn.execute(sa.select(sa.func.count()).select_from(f).where(f.c.status == resolved)).scalar()
        if not count:
            return {}
        if count <= 4 * len(fingerprints):  # one pass over the resolved ones beats a lookup per chunk
            wanted = set(fingerprints)
            return {
                row.fingerprint: row
                for row in conn.execute(sa.select(*_KNOWN).where(f.c.status == resolved))
                if row.fingerprint in wanted
            }
        out: dict[str, Any] = {}
        for chunk in _chunks(fingerprints):
            for row in conn.execute(sa.select(*_KNOWN).where(f.c.fingerprint.in_(chunk))):
                out[row.fingerprint] = row
        return out

    @staticmethod
    def _apply_state(conn: sa.Connection, run_id: int, state: StateChanges) -> None:
        now = _now()
        for (source, stream), value in state.cursors.items():
            _check_name(source, "source name")
            _check_name(stream, "stream name")
            where = (s.cursors.c.source == source) & (s.cursors.c.stream == stream)
            conn.execute(s.cursors.delete().where(where))
            conn.execute(
                s.cursors.insert().values(
                    source=source, stream=stream, value=encode_cursor(value), run_id=run_id, updated_at=now
                )
            )
        for (source, record_type), frame in state.frames.items():
            _check_name(source, "source name")
            _snapshots.write_frame(
                conn, run_id, source, record_type, frame, state.derived_tag, state.deltas.get((source, record_type))
            )
        for encoded in state.encoded.values():
            _check_name(encoded.source, "source name")
            assert state.spill is not None, "encoded snapshots without their spill"
            _snapshots.write_encoded(conn, run_id, encoded, state.spill)
        for name, data in state.artifacts.items():
            _check_name(name, "artifact name")
            conn.execute(s.artifacts.delete().where(s.artifacts.c.name == name))
            conn.execute(
                s.artifacts.insert().values(name=name, data=json_safe(data), run_id=run_id, updated_at=now)
            )

    # ------------------------------------------------------------------ carried-over state

    def cursor(self, source: str, stream: str) -> Any:
        """Where the stream's cursor stands after the last committed run (None: never read)."""
        with self._read("reading a cursor") as conn:
            value = conn.execute(
                sa.select(s.cursors.c.value).where(
                    (s.cursors.c.source == source) & (s.cursors.c.stream == stream)
                )
            ).scalar_one_or_none()
        return decode_cursor(value)

    def cursors(self) -> dict[StreamKey, Any]:
        """Every stored cursor by (source, stream)."""
        with self._read("reading the cursors") as conn:
            rows = conn.execute(sa.select(s.cursors.c.source, s.cursors.c.stream, s.cursors.c.value)).all()
        return {(row.source, row.stream): decode_cursor(row.value) for row in rows}

    def snapshot(self, source: str, record_type: str) -> dict[str, dict[str, Any]]:
        """The stream's canonical records as of the last committed run, by record key (JSON-safe)."""
        frame = self.snapshot_frame(source, record_type)
        return _snapshots.records_of(frame, record_model(record_type).key_field)

    def encode_snapshots(self, run_id: int, state: StateChanges) -> None:
        """Encode the snapshots ``state`` will keep now, into a temporary file, and let their frames go.

        What :meth:`finish_run` would write for each of ``state.frames`` (the
        whole snapshot, or a delta), encoded as Parquet parts and kept in
        ``state.spill`` until the commit writes them: a run calls this once
        its merged frames are final (after normalising), so they do not stay
        in memory beside the tables through matching and the rules. Where no
        temporary file can be written, the frames stay and the commit encodes
        them as before.
        """
        if not state.frames:
            return
        try:
            spill = state.spill if state.spill is not None else _snapshots.Spill()
        except OSError as exc:
            log.debug("snapshots kept as frames until the commit (no temporary file: %s)", exc)
            return
        state.spill = spill
        with self._read("encoding the snapshots") as conn:
            for key in list(state.frames):
                try:
                    encoded = _snapshots.encode_frame(
                        conn, run_id, *key, state.frames[key], spill, state.derived_tag, state.deltas.get(key)
                    )
                except OSError as exc:  # the temporary file's disk is full: the rest stay frames
                    log.debug("snapshots kept as frames until the commit (temporary file: %s)", exc)
                    return
                state.encoded[key] = encoded
                del state.frames[key]

    def snapshot_frame(self, source: str, record_type: str, derived_tag: str | None = None) -> pd.DataFrame:
        """The stream's canonical records as of the last committed run, as its extract's frame.

        With ``derived_tag``, the derived (``_n_*``) columns kept under that tag come too.
        """
        with self._read("reading a snapshot") as conn:
            return _snapshots.read_frame(conn, source, record_type, derived_tag)

    def read_snapshot(
        self, source: str, record_type: str, derived_tag: str | None = None
    ) -> tuple[pd.DataFrame, _snapshots.SnapshotLayout]:
        """:meth:`snapshot_frame`, and how the snapshot is kept (a run's changes may be kept as a delta)."""
        with self._read("reading a snapshot") as conn:
            return _snapshots.read_snapshot(conn, source, record_type, derived_tag)

    def artifact(self, name: str) -> Any:
        """A named document a committed run kept (None if there is none)."""
        with self._read("reading an artifact") as conn:
            return conn.execute(
                sa.select(s.artifacts.c.data).where(s.artifacts.c.name == name)
            ).scalar_one_or_none()

    def last_good_health(self, source: str) -> SourceHealth | None:
        """The source's health in the latest succeeded run in which it was healthy."""
        sh, runs = s.source_health, s.runs
        with self._read("reading source health") as conn:
            row = conn.execute(
                sa.select(sh)
                .join(runs, runs.c.id == sh.c.run_id)
                .where((sh.c.source == source) & sh.c.healthy.is_(True) & (runs.c.status == RunStatus.succeeded.value))
                .order_by(sh.c.run_id.desc())
                .limit(1)
            ).one_or_none()
        if row is None:
            return None
        return _health_from_row(row)

    @staticmethod
    def _history_row(
        fingerprint: str,
        run_id: int,
        before: FindingStatus | None,
        after: FindingStatus,
        reason: str,
        at: dt.datetime,
    ) -> dict[str, Any]:
        return {
            "fingerprint": fingerprint,
            "run_id": run_id,
            "from_status": None if before is None else _text(before),
            "to_status": _text(after),
            "reason": reason,
            "at": at,
        }

    # ------------------------------------------------------------------ queries

    def runs(self, *, limit: int | None = None) -> list[RunRecord]:
        """Runs oldest first; with ``limit``, only the latest ``limit`` of them."""
        query = sa.select(s.runs).order_by(s.runs.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read("listing runs") as conn:
            rows = conn.execute(query).all()
        return [_run_from_row(row) for row in reversed(rows)]

    def run(self, run_id: int) -> RunRecord:
        """One run.

        Raises:
            StoreError: there is no such run.
        """
        with self._read(f"reading run {run_id}") as conn:
            return _run_from_row(self._run_row(conn, run_id))

    def _flags(
        self, conn: sa.Connection, fingerprints: Sequence[str], at: dt.datetime
    ) -> tuple[dict[str, Suppression], dict[str, Unverified]]:
        """Suppressions in force at ``at`` and unverified flags of some findings."""
        suppressions = {fp: sup for fp, sup in self._suppressions_of(conn, fingerprints).items() if sup.active_at(at)}
        unverified = {
            row.fingerprint: Unverified(run_id=row.run_id, reason=row.reason, since=row.since)
            for row in _rows_of(conn, s.unverified, fingerprints)
        }
        return suppressions, unverified

    @staticmethod
    def _suppressions_of(conn: sa.Connection, fingerprints: Sequence[str]) -> dict[str, Suppression]:
        return {row.fingerprint: _suppression_from_row(row) for row in _rows_of(conn, s.suppressions, fingerprints)}

    def _tracked(self, conn: sa.Connection, rows: Sequence[Any]) -> list[TrackedFinding]:
        suppressions, unverified = self._flags(conn, [r.fingerprint for r in rows], _now())
        return [
            _finding_from_row(row, suppressions.get(row.fingerprint), unverified.get(row.fingerprint))
            for row in rows
        ]

    def open_findings(
        self,
        *,
        owner: str | None = None,
        min_severity: Severity | str | None = None,
        kind: str | None = None,
        older_than: dt.timedelta | None = None,
        as_of: dt.datetime | None = None,
    ) -> list[TrackedFinding]:
        """Findings not resolved (new, open or reopened), oldest first.

        Each carries its flags: ``suppression`` (a suppression in force now)
        and ``unverified`` (a failed run could not check it).

        Args:
            owner: Only this team's findings.
            min_severity: Only findings at or above this severity.
            kind: Only findings of this rule kind.
            older_than: Only findings first seen at least this long before
                ``as_of`` (their age counts from first seen).
            as_of: The time ages are measured at (default: now, UTC).
        """
        query = _FULL.where(s.findings.c.status.in_(_ACTIVE_VALUES))
        if kind is not None:
            query = query.where(s.findings.c.kind == kind)
        if older_than is not None:
            moment = _utc(as_of) if as_of is not None else _now()
            query = query.where(s.findings.c.first_seen <= moment - older_than)
        if owner is not None:
            query = query.where(s.findings.c.owner == owner)
        if min_severity is not None:
            floor = Severity(min_severity)
            query = query.where(s.findings.c.severity.in_([v.value for v in Severity if v >= floor]))
        query = query.order_by(s.findings.c.first_seen, s.findings.c.fingerprint)
        with self._read("reading open findings") as conn:
            return self._tracked(conn, conn.execute(query).all())

    def finding(self, fingerprint: str) -> TrackedFinding | None:
        """The latest state of one finding (with its flags), or None if the store never saw it."""
        with self._read(f"reading finding {fingerprint}") as conn:
            row = conn.execute(_FULL.where(s.findings.c.fingerprint == fingerprint)).one_or_none()
            return None if row is None else self._tracked(conn, [row])[0]

    @staticmethod
    def _history(
        conn: sa.Connection, fingerprints: Sequence[str], up_to_run: int | None = None
    ) -> list[HistoryEntry]:
        h = s.finding_history
        rows: list[Any] = []
        for chunk in _chunks(list(fingerprints)):
            query = sa.select(h).where(h.c.fingerprint.in_(chunk))
            if up_to_run is not None:
                query = query.where(h.c.run_id <= up_to_run)
            rows.extend(conn.execute(query))
        rows.sort(key=lambda row: row.id)
        return [
            HistoryEntry(
                fingerprint=row.fingerprint,
                run_id=row.run_id,
                from_status=None if row.from_status is None else FindingStatus(row.from_status),
                to_status=FindingStatus(row.to_status),
                reason=row.reason,
                at=row.at,
            )
            for row in rows
        ]

    def finding_history(self, fingerprint: str) -> list[HistoryEntry]:
        """Every status change of one finding, oldest first (empty if unknown)."""
        with self._read(f"reading the history of {fingerprint}") as conn:
            return self._history(conn, [fingerprint])

    def overview(self) -> StoreOverview:
        """Counts of unresolved findings, the latest runs and the lock holder."""
        f, runs = s.findings, s.runs
        now = _now()
        with self._read("reading the store's overview") as conn:
            active = [a.value for a in ACTIVE]
            open_count = conn.execute(sa.select(sa.func.count()).select_from(f).where(f.c.status.in_(active))).scalar()
            unverified = conn.execute(
                sa.select(sa.func.count()).select_from(s.unverified.join(f, f.c.fingerprint == s.unverified.c.fingerprint))
                .where(f.c.status.in_(active))
            ).scalar()
            suppressed = conn.execute(
                sa.select(sa.func.count())
                .select_from(s.suppressions.join(f, f.c.fingerprint == s.suppressions.c.fingerprint))
                .where(f.c.status.in_(active) & (s.suppressions.c.until.is_(None) | (s.suppressions.c.until > now)))
            ).scalar()
            last = conn.execute(sa.select(runs).order_by(runs.c.id.desc()).limit(1)).one_or_none()
            good = conn.execute(
                sa.select(runs).where(runs.c.status == RunStatus.succeeded.value).order_by(runs.c.id.desc()).limit(1)
            ).one_or_none()
            lock = self._lock_row(conn)
            revision = _migrate.current_revision(conn) or _migrate.HEAD
        return StoreOverview(
            revision=revision, open_findings=int(open_count or 0), suppressed=int(suppressed or 0),
            unverified=int(unverified or 0), last_run=None if last is None else _run_from_row(last),
            last_success=None if good is None else _run_from_row(good), lock=lock,
        )

    # ------------------------------------------------------------------ suppressions

    def suppress(
        self,
        fingerprint: str,
        reason: str,
        author: str,
        until: dt.datetime | dt.date | None = None,
    ) -> Suppression:
        """Suppress a finding: it keeps its lifecycle but is flagged, not notified, and does not fail runs.

        Suppressing a suppressed finding replaces its suppression.

        Args:
            fingerprint: The finding (as shown in every report).
            reason: Why it needs no action, for the next person who reads it.
            author: Who decides.
            until: When the suppression lapses (a run whose as-of time is at or
                after it treats the finding as unsuppressed). A date means the
                end of that day, UTC. None: for good.

        Raises:
            StoreError: the store has no such finding, the reason is empty,
                the author is too long, or ``until`` is already past.
        """
        reason = (reason or "").strip()
        author = (author or "").strip()
        if not reason:
            raise StoreError("a suppression needs a reason (say why this finding needs no action)")
        if not author:
            raise StoreError("a suppression needs an author (who decided)")
        _check_name(author, "author")
        now = _now()
        end = _suppression_end(until)
        if end is not None and end <= now:
            raise StoreError(f"the suppression would end at {end.isoformat()}, which is already past")
        with self._write(f"suppressing {fingerprint}") as conn:
            known = conn.execute(
                sa.select(s.findings.c.fingerprint).where(s.findings.c.fingerprint == fingerprint)
            ).scalar_one_or_none()
            if known is None:
                raise StoreError(
                    f"the store {self.url} has no finding {fingerprint!r}; copy the fingerprint from a "
                    f"report (JSON, CSV or HTML) or from: reconcile entity ENTITY_ID"
                )
            conn.execute(s.suppressions.delete().where(s.suppressions.c.fingerprint == fingerprint))
            values = {"fingerprint": fingerprint, "reason": reason, "author": author, "created_at": now,
                      "until": end}
            conn.execute(s.suppressions.insert().values(**values))
        log.info("finding %s suppressed by %s until %s: %s", fingerprint, author,
                 end.isoformat() if end else "further notice", reason)
        return Suppression.model_validate(values)

    def unsuppress(self, fingerprint: str) -> bool:
        """Lift a finding's suppression; False if it had none."""
        with self._write(f"lifting the suppression of {fingerprint}") as conn:
            removed = conn.execute(
                s.suppressions.delete().where(s.suppressions.c.fingerprint == fingerprint)
            ).rowcount
        return bool(removed)

    def suppressions(self, *, include_lapsed: bool = True) -> list[Suppression]:
        """Every suppression, newest first; lapsed ones (past ``until``) only with ``include_lapsed``."""
        with self._read("listing suppressions") as conn:
            rows = conn.execute(
                sa.select(s.suppressions).order_by(s.suppressions.c.created_at.desc(), s.suppressions.c.fingerprint)
            ).all()
        now = _now()
        found = [_suppression_from_row(row) for row in rows]
        return found if include_lapsed else [sup for sup in found if sup.active_at(now)]

    # ------------------------------------------------------------------ one entity's story

    def entity_story(self, entity_id: str, *, up_to_run: int | None = None) -> EntityStory:
        """One customer's findings with their history on one timeline, and their records per system.

        Args:
            entity_id: The matched entity's id (as in findings and reports),
                or a record id ``source:record_type:key`` of one of its records.
            up_to_run: Tell the story as it stood after this run (its
                findings as that run saw them, history up to it).

        Returns:
            The story; empty (no findings, no records) when the store knows
            no finding about that entity.
        """
        f = s.findings
        with self._read(f"reading the story of {entity_id}") as conn:
            entity_ids = {entity_id}
            if up_to_run is None:
                rows = conn.execute(_FULL.where(f.c.entity_id == entity_id)).all()
                if not rows and entity_id.count(":") >= 2:
                    entity_ids = self._entities_of_record(conn, entity_id)
                    rows = (
                        conn.execute(_FULL.where(f.c.entity_id.in_(sorted(entity_ids)))).all()
                        if entity_ids else []
                    )
                findings: list[TrackedFinding] = self._tracked(conn, rows)
            else:
                findings = self._run_findings(conn, up_to_run, entity_id)[0]
            fingerprints = [finding.fingerprint for finding in findings]
            history = self._history(conn, fingerprints, up_to_run)
            refs = [ref for finding in findings for ref in (finding.subject, *finding.records)]
            snapshots = self._snapshot_records(conn, refs)
        return build_story(entity_id, findings, history, snapshots)

    def stories_for(self, result: RunResult, *, min_findings: int = 2, limit: int = 50) -> list[EntityStory]:
        """The stories of the customers with several findings in a run (for its HTML report).

        Findings are as the run saw them; history goes up to the run.

        Args:
            result: The run (from :func:`reconcile.run` or :meth:`run_result`).
            min_findings: Only entities with at least this many findings.
            limit: At most this many stories, the customers with most findings first.
        """
        groups: dict[str, list[TrackedFinding]] = {}
        for finding in result.findings:
            if finding.entity_id is not None:
                tracked = finding if isinstance(finding, TrackedFinding) else TrackedFinding.model_validate(
                    finding.model_dump(exclude={"fingerprint"})
                )
                groups.setdefault(finding.entity_id, []).append(tracked)
        chosen = sorted(
            (eid for eid, found in groups.items() if len(found) >= min_findings),
            key=lambda eid: (-len(groups[eid]), -max(f.severity.rank for f in groups[eid]), eid),
        )[:limit]
        if not chosen:
            return []
        fingerprints = [f.fingerprint for eid in chosen for f in groups[eid]]
        refs = [ref for eid in chosen for f in groups[eid] for ref in (f.subject, *f.records)]
        with self._read("reading customer stories") as conn:
            history = self._history(conn, fingerprints, result.run_id)
            snapshots = self._snapshot_records(conn, refs)
        return [build_story(eid, groups[eid], history, snapshots) for eid in chosen]

    @staticmethod
    def _entities_of_record(conn: sa.Connection, rid: str) -> set[str]:
        f, v = s.findings, s.finding_versions
        found: set[str] = set()
        for row in conn.execute(
            sa.select(f.c.entity_id, v.c.content)
            .join(v, v.c.content_hash == f.c.content_hash)
            .where(f.c.entity_id.is_not(None))
        ):
            if any(f"{r.get('source')}:{r.get('record_type')}:{r.get('key')}" == rid for r in _content_refs(row.content)):
                found.add(row.entity_id)
        return found

    @staticmethod
    def _snapshot_records(conn: sa.Connection, refs: Iterable[RecordRef]) -> dict[str, dict[str, Any]]:
        """The snapshot's full canonical record of each reference that has one, by rid."""
        wanted: dict[tuple[str, str], dict[str, str]] = {}
        for ref in refs:
            wanted.setdefault((ref.source, ref.record_type), {})[key_hash(ref.key)] = ref.rid
        snap = s.snapshots
        out: dict[str, dict[str, Any]] = {}
        kept = _snapshots.read_records(
            conn, {stream: {ref.key for ref in refs if (ref.source, ref.record_type) == stream} for stream in wanted}
        )
        for (source, record_type, key), record in kept.items():
            out[f"{source}:{record_type}:{key}"] = record
        for (source, record_type), by_hash in wanted.items():
            hashes = sorted(by_hash)
            for chunk in _chunks(hashes):
                for row in conn.execute(
                    sa.select(snap.c.key_hash, snap.c.data).where(
                        (snap.c.source == source) & (snap.c.record_type == record_type)
                        & snap.c.key_hash.in_(chunk)
                    )
                ):
                    out[by_hash[row.key_hash]] = dict(row.data or {})
        return out

    @staticmethod
    def _run_findings(
        conn: sa.Connection, run_id: int, entity_id: str | None = None
    ) -> tuple[list[TrackedFinding], list[TrackedFinding]]:
        """What a run saw and what it resolved, as it saw them (only one entity's, with ``entity_id``)."""
        rf, v = s.run_findings, s.finding_versions
        query = (
            sa.select(rf.c.status, rf.c.first_seen, rf.c.last_seen, rf.c.suppression, v.c.content)
            .join(v, v.c.content_hash == rf.c.content_hash)
            .where(rf.c.run_id == run_id)
            .order_by(rf.c.position)
        )
        if entity_id is not None:
            query = query.where(v.c.entity_id == entity_id)
        findings: list[TrackedFinding] = []
        resolved: list[TrackedFinding] = []
        for row in conn.execution_options(yield_per=_BATCH).execute(query):
            finding = _tracked_from_version(row.content, row.status, row.first_seen, row.last_seen, row.suppression)
            (resolved if row.status == FindingStatus.resolved.value else findings).append(finding)
        return findings, resolved

    def run_result(self, run_id: int) -> RunResult:
        """A past run rebuilt from the store, ready to be reported again.

        The findings are as that run saw them (story, records, status,
        suppression), the resolved ones those it resolved. A failed run has
        no findings, only the health of its sources.

        Raises:
            StoreError: there is no such run.
        """
        with self._read(f"reading run {run_id}") as conn:
            run = _run_from_row(self._run_row(conn, run_id))
            findings, resolved = self._run_findings(conn, run_id)
            health_rows = conn.execute(
                sa.select(s.source_health)
                .where(s.source_health.c.run_id == run_id)
                .order_by(s.source_health.c.id)
            ).all()
            quarantine_rows = conn.execute(
                sa.select(s.quarantine).where(s.quarantine.c.run_id == run_id).order_by(s.quarantine.c.id)
            ).all()
        return RunResult(
            run_id=run.id,
            as_of=run.as_of,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=run.status.value,
            findings=list(findings),
            resolved=list(resolved),
            health=[
                _health_from_row(h)
                for h in health_rows
            ],
            quarantine=[
                QuarantinedRow(
                    source=q.source, stream=q.stream, row=q.row_ref, field=q.field,
                    reason=q.reason, raw=q.raw or {},
                )
                for q in quarantine_rows
            ],
            entities=run.counts.get("entities", 0),
            links=run.counts.get("links", 0),
            timings=run.timings,
        )
