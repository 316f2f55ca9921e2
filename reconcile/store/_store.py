"""The findings store: runs, source health, quarantine, findings and their history."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from reconcile.errors import StoreError
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.results import QuarantinedRow, RunResult, SourceHealth
from reconcile.store import _schema as s
from reconcile.store._config import StoreConfig
from reconcile.store._json import json_safe
from reconcile.store._state import StateChanges, StreamKey, decode_cursor, encode_cursor, key_hash

__all__ = ["HistoryEntry", "RunRecord", "RunStatus", "Store"]

log = logging.getLogger("reconcile.store")

#: Statuses of a finding that is still unresolved.
ACTIVE = (FindingStatus.new, FindingStatus.open, FindingStatus.reopened)

# Rows per IN (...) list: well under every backend's limit on bound parameters.
_CHUNK = 500


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


def _utc(value: dt.datetime) -> dt.datetime:
    if not isinstance(value, dt.datetime):
        raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _chunks(items: Sequence[str], size: int = _CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _check_name(value: str, what: str) -> None:
    if len(value) > s.NAME_LEN:
        raise StoreError(
            f"{what} {value[:40]!r}... is {len(value)} characters; the store keeps at most "
            f"{s.NAME_LEN} (shorten it in the configuration)"
        )


def _snapshot(finding: Finding, content: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The finding as JSON, without the computed fingerprint (so it validates back).

    ``content`` (from :func:`_content`) saves converting the bulky parts twice.
    """
    if content is None:
        return json_safe(finding.model_dump(exclude={"fingerprint"}))  # type: ignore[no-any-return]
    rest = json_safe(finding.model_dump(exclude={"fingerprint", "subject", "records", "detail"}))
    return {**rest, "subject": content["subject"], "records": content["records"], "detail": content["detail"]}


_CONTENT_COLUMNS = (
    "rule_id", "kind", "severity", "owner", "entity_id", "subject", "records",
    "story", "confidence", "detail", "detail_key",
)


def _content(finding: Finding) -> dict[str, Any]:
    """The columns of ``findings`` that a sighting refreshes."""
    return {
        "rule_id": finding.rule_id,
        "kind": finding.kind,
        "severity": str(finding.severity),
        "owner": finding.owner,
        "entity_id": finding.entity_id,
        "subject": json_safe(finding.subject),
        "records": json_safe(finding.records),
        "story": finding.story,
        "confidence": float(finding.confidence),
        "detail": json_safe(finding.detail),
        "detail_key": finding.detail_key,
    }


def _finding_from_row(row: Any) -> Finding:
    return Finding(
        rule_id=row.rule_id,
        kind=row.kind,
        severity=Severity(row.severity),
        owner=row.owner,
        entity_id=row.entity_id,
        subject=RecordRef.model_validate(row.subject),
        records=[RecordRef.model_validate(r) for r in row.records],
        story=row.story,
        confidence=row.confidence,
        detail=row.detail,
        detail_key=row.detail_key,
        status=FindingStatus(row.status),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
    )


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
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        write = connection.get_execution_options().get("reconcile_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


class Store:
    """Findings remembered across runs, in any database SQLAlchemy reaches.

    The tables are created on first use. Every write is one transaction:
    :meth:`finish_run` records the lifecycle of every finding, its history,
    the sources' health and the quarantined rows together or not at all.

    Args:
        url: SQLAlchemy URL, such as ``sqlite:///reconcile.db``,
            ``postgresql+psycopg://user@host/db`` or ``mysql+pymysql://user@host/db``.
        echo: Log every SQL statement.

    Raises:
        StoreError: the URL is invalid, the driver is missing, the database
            cannot be reached, or the store was created by a newer release.

    Example::

        store = Store("sqlite:///reconcile.db")
        run_id = store.begin_run(as_of, config_digest="abc")
        findings, resolved = store.finish_run(run_id, findings=found, health=health)
    """

    def __init__(self, url: str | sa.URL, *, echo: bool = False) -> None:
        try:
            self._url = make_url(url)
        except ArgumentError:
            raise StoreError(
                f"{url!r} is not a database URL; write e.g. sqlite:///reconcile.db"
            ) from None
        self.engine = self._create_engine(echo)
        self._create_schema()

    @classmethod
    def from_config(cls, config: StoreConfig) -> Store:
        """A store from the ``store:`` section of a configuration."""
        return cls(config.url, echo=config.echo)

    @property
    def url(self) -> str:
        """The store's URL with any password hidden."""
        return self._url.render_as_string(hide_password=True)

    def close(self) -> None:
        """Close every pooled connection (the store can still be used afterwards)."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    # ------------------------------------------------------------------ plumbing

    def _create_engine(self, echo: bool) -> sa.Engine:
        url = self._url
        options: dict[str, Any] = {
            "echo": echo,
            "json_serializer": lambda value: json.dumps(value, allow_nan=False, ensure_ascii=False),
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
            raise StoreError(f"no database driver for {url.drivername!r} in {self.url}: {exc}") from None
        except ModuleNotFoundError as exc:
            backend = url.get_backend_name()
            extra = {"postgresql": "postgres", "mysql": "mysql", "mariadb": "mysql"}.get(backend)
            hint = f"; install it with: pip install 'reconcile-engine[{extra}]'" if extra else ""
            raise StoreError(f"the driver for {self.url} is missing ({exc.name}){hint}") from None
        if sqlite:
            _install_sqlite_transactions(engine)
        return engine

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            cause = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            raise StoreError(f"{action} failed in the store {self.url}: {cause[0] if cause else exc!r}") from exc

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

    def _create_schema(self) -> None:
        with self._write("creating the tables") as conn:
            s.metadata.create_all(conn)
            version = conn.execute(
                sa.select(s.store_meta.c.value).where(s.store_meta.c.key == "schema_version")
            ).scalar_one_or_none()
            if version is None:
                conn.execute(
                    s.store_meta.insert().values(key="schema_version", value=str(s.SCHEMA_VERSION))
                )
            elif int(version) > s.SCHEMA_VERSION:
                raise StoreError(
                    f"the store {self.url} has schema version {version}, newer than this "
                    f"reconcile understands ({s.SCHEMA_VERSION}); upgrade reconcile"
                )

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

    # ------------------------------------------------------------------ runs

    def begin_run(
        self,
        as_of: dt.datetime,
        config_digest: str = "",
        *,
        started_at: dt.datetime | None = None,
    ) -> int:
        """Record a new run as running and return its id.

        Args:
            as_of: The run's reference time; first/last seen and resolution
                times of findings are this time. A naive datetime is UTC.
            config_digest: Hash of the configuration (``Config.digest()``).
            started_at: When the run started (default: now).
        """
        row: dict[str, Any] = {
            "status": RunStatus.running.value,
            "as_of": _utc(as_of),
            "started_at": _utc(started_at) if started_at is not None else _now(),
            "config_digest": config_digest[: s.FINGERPRINT_LEN],
            "timings": {},
            "counts": {},
        }
        with self._write("starting a run") as conn:
            key = conn.execute(s.runs.insert().values(**row)).inserted_primary_key
            assert key is not None
            run_id = int(key[0])
        log.info("run %d started (as of %s)", run_id, row["as_of"].isoformat())
        return run_id

    def fail_run(self, run_id: int, error: str) -> None:
        """Mark a running run failed, with the reason; nothing else changes.

        Raises:
            StoreError: the run does not exist or is not running.
        """
        with self._write(f"marking run {run_id} failed") as conn:
            row = self._run_row(conn, run_id)
            if row.status != RunStatus.running:
                raise StoreError(f"run {run_id} is {row.status}; only a running run can be marked failed")
            conn.execute(
                s.runs.update()
                .where(s.runs.c.id == run_id)
                .values(status=RunStatus.failed.value, finished_at=_now(), error=str(error))
            )
        log.info("run %d failed: %s", run_id, error)

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
        by_fingerprint: dict[str, Finding] = {}
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
        all_healthy = all(h.healthy for h in health)
        rules = set(rule_ids) if rule_ids is not None else None

        with self._write(f"finishing run {run_id}") as conn:
            self._lock(conn)
            run = self._run_row(conn, run_id)
            if run.status != RunStatus.running:
                raise StoreError(f"run {run_id} is {run.status}; only a running run can be finished")
            as_of: dt.datetime = run.as_of

            active = {
                row.fingerprint: row
                for row in conn.execute(
                    sa.select(s.findings).where(s.findings.c.status.in_([a.value for a in ACTIVE]))
                )
            }
            known: dict[str, Any] = dict(active)
            others = [fp for fp in by_fingerprint if fp not in active]
            for chunk in _chunks(others):
                for row in conn.execute(
                    sa.select(
                        s.findings.c.fingerprint,
                        s.findings.c.status,
                        s.findings.c.first_seen,
                        s.findings.c.times_seen,
                    ).where(s.findings.c.fingerprint.in_(chunk))
                ):
                    known[row.fingerprint] = row

            seen: list[Finding] = []
            inserts: list[dict[str, Any]] = []
            updates: list[dict[str, Any]] = []
            history: list[dict[str, Any]] = []
            snapshots: list[dict[str, Any]] = []
            tally = dict.fromkeys(("new", "open", "reopened", "resolved"), 0)

            for fp, finding in by_fingerprint.items():
                content = _content(finding)
                existing = known.get(fp)
                if existing is None:
                    before, status, first_seen = None, FindingStatus.new, as_of
                    reason = f"first seen in run {run_id}"
                    inserts.append(
                        {
                            "fingerprint": fp,
                            **content,
                            "status": status.value,
                            "first_seen": as_of,
                            "last_seen": as_of,
                            "first_run_id": run_id,
                            "last_run_id": run_id,
                            "resolved_at": None,
                            "times_seen": 1,
                        }
                    )
                else:
                    before = FindingStatus(existing.status)
                    first_seen = existing.first_seen
                    if before == FindingStatus.resolved:
                        status = FindingStatus.reopened
                        reason = f"seen again in run {run_id} after it was resolved"
                    else:
                        status = FindingStatus.open
                        reason = f"seen again in run {run_id}"
                    updates.append(
                        {
                            "b_fingerprint": fp,
                            **{f"b_{k}": v for k, v in content.items()},
                            "b_status": status.value,
                            "b_last_seen": as_of,
                            "b_last_run_id": run_id,
                            "b_times_seen": existing.times_seen + 1,
                        }
                    )
                tally[status.value] += 1
                if before != status:
                    history.append(self._history_row(fp, run_id, before, status, reason, as_of))
                out = finding.model_copy(
                    update={"status": status, "first_seen": first_seen, "last_seen": as_of}
                )
                snapshots.append(
                    {"run_id": run_id, "fingerprint": fp, "position": len(seen),
                     "status": status.value, "finding": _snapshot(out, content)}
                )
                seen.append(out)

            resolved: list[Finding] = []
            resolving: list[dict[str, Any]] = []
            if all_healthy:
                for fp, row in active.items():
                    if fp in by_fingerprint:
                        continue
                    if rules is not None and row.rule_id not in rules:
                        reason = f"rule {row.rule_id!r} was not evaluated in run {run_id}"
                    else:
                        reason = f"not seen in run {run_id}, whose sources were all healthy"
                    before = FindingStatus(row.status)
                    history.append(
                        self._history_row(fp, run_id, before, FindingStatus.resolved, reason, as_of)
                    )
                    resolving.append({"b_fingerprint": fp, "b_resolved_at": as_of})
                    gone = _finding_from_row(row).model_copy(update={"status": FindingStatus.resolved})
                    snapshots.append(
                        {"run_id": run_id, "fingerprint": fp, "position": len(seen) + len(resolved),
                         "status": FindingStatus.resolved.value, "finding": _snapshot(gone)}
                    )
                    resolved.append(gone)
                tally["resolved"] = len(resolved)
            elif active:
                log.info(
                    "run %d: a source was unhealthy, so no finding is resolved by absence", run_id
                )

            if inserts:
                conn.execute(s.findings.insert(), inserts)
            if updates:
                columns = [*_CONTENT_COLUMNS, "status", "last_seen", "last_run_id", "times_seen"]
                conn.execute(
                    s.findings.update()
                    .where(s.findings.c.fingerprint == sa.bindparam("b_fingerprint"))
                    .values({c: sa.bindparam(f"b_{c}") for c in columns} | {"resolved_at": None}),
                    updates,
                )
            if resolving:
                conn.execute(
                    s.findings.update()
                    .where(s.findings.c.fingerprint == sa.bindparam("b_fingerprint"))
                    .values(status=FindingStatus.resolved.value, resolved_at=sa.bindparam("b_resolved_at")),
                    resolving,
                )
            if history:
                conn.execute(s.finding_history.insert(), history)
            if snapshots:
                conn.execute(s.run_findings.insert(), snapshots)
            if health:
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
                            "duration_s": float(h.duration_s),
                            "error": h.error,
                            "streams": json_safe(h.streams),
                        }
                        for h in health
                    ],
                )
            if quarantine:
                conn.execute(
                    s.quarantine.insert(),
                    [
                        {
                            "run_id": run_id,
                            "source": q.source,
                            "stream": q.stream,
                            "row_ref": q.row,
                            "field": q.field,
                            "reason": q.reason,
                            "raw": json_safe(q.raw),
                        }
                        for q in quarantine
                    ],
                )
            counts = {
                "findings": len(seen),
                **tally,
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
        log.info(
            "run %d finished: %d new, %d open, %d reopened, %d resolved",
            run_id, tally["new"], tally["open"], tally["reopened"], tally["resolved"],
        )
        return seen, resolved

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
        snap = s.snapshots
        for source, record_type in state.replace:
            conn.execute(snap.delete().where((snap.c.source == source) & (snap.c.record_type == record_type)))
        for (source, record_type), keys in state.deletes.items():
            hashes = [key_hash(k) for k in keys]
            for start in range(0, len(hashes), _CHUNK):
                conn.execute(
                    snap.delete().where(
                        (snap.c.source == source)
                        & (snap.c.record_type == record_type)
                        & snap.c.key_hash.in_(hashes[start : start + _CHUNK])
                    )
                )
        for (source, record_type), records in state.upserts.items():
            if (source, record_type) not in state.replace:
                hashes = [key_hash(k) for k in records]
                for start in range(0, len(hashes), _CHUNK):
                    conn.execute(
                        snap.delete().where(
                            (snap.c.source == source)
                            & (snap.c.record_type == record_type)
                            & snap.c.key_hash.in_(hashes[start : start + _CHUNK])
                        )
                    )
            rows = [
                {"source": source, "record_type": record_type, "key_hash": key_hash(key), "key": key,
                 "data": json_safe(data), "run_id": run_id}
                for key, data in records.items()
            ]
            for start in range(0, len(rows), 5000):
                conn.execute(snap.insert(), rows[start : start + 5000])
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
        """The stream's canonical records as of the last committed run, by record key."""
        snap = s.snapshots
        with self._read("reading a snapshot") as conn:
            rows = conn.execute(
                sa.select(snap.c.key, snap.c.data).where(
                    (snap.c.source == source) & (snap.c.record_type == record_type)
                )
            ).all()
        return {row.key: row.data for row in rows}

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
        return SourceHealth(
            source=row.source, healthy=row.healthy, rows_read=row.rows_read, rows_used=row.rows_used,
            rows_quarantined=row.rows_quarantined, duration_s=row.duration_s, error=row.error,
            streams=dict(row.streams or {}),
        )

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
            "from_status": None if before is None else before.value,
            "to_status": after.value,
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

    def open_findings(
        self, *, owner: str | None = None, min_severity: Severity | str | None = None
    ) -> list[Finding]:
        """Findings not resolved (new, open or reopened), oldest first.

        Args:
            owner: Only this team's findings.
            min_severity: Only findings at or above this severity.
        """
        query = sa.select(s.findings).where(s.findings.c.status.in_([a.value for a in ACTIVE]))
        if owner is not None:
            query = query.where(s.findings.c.owner == owner)
        if min_severity is not None:
            floor = Severity(min_severity)
            query = query.where(s.findings.c.severity.in_([v.value for v in Severity if v >= floor]))
        query = query.order_by(s.findings.c.first_seen, s.findings.c.fingerprint)
        with self._read("reading open findings") as conn:
            return [_finding_from_row(row) for row in conn.execute(query)]

    def finding(self, fingerprint: str) -> Finding | None:
        """The latest state of one finding, or None if the store never saw it."""
        with self._read(f"reading finding {fingerprint}") as conn:
            row = conn.execute(
                sa.select(s.findings).where(s.findings.c.fingerprint == fingerprint)
            ).one_or_none()
        return None if row is None else _finding_from_row(row)

    def finding_history(self, fingerprint: str) -> list[HistoryEntry]:
        """Every status change of one finding, oldest first (empty if unknown)."""
        h = s.finding_history
        with self._read(f"reading the history of {fingerprint}") as conn:
            rows = conn.execute(
                sa.select(h).where(h.c.fingerprint == fingerprint).order_by(h.c.id)
            ).all()
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

    def run_result(self, run_id: int) -> RunResult:
        """A past run rebuilt from the store, ready to be reported again.

        The findings are as that run saw them (story, records, status), the
        resolved ones those it resolved. A failed run has no findings.

        Raises:
            StoreError: there is no such run.
        """
        with self._read(f"reading run {run_id}") as conn:
            run = _run_from_row(self._run_row(conn, run_id))
            snapshots = conn.execute(
                sa.select(s.run_findings.c.status, s.run_findings.c.finding)
                .where(s.run_findings.c.run_id == run_id)
                .order_by(s.run_findings.c.position)
            ).all()
            health_rows = conn.execute(
                sa.select(s.source_health)
                .where(s.source_health.c.run_id == run_id)
                .order_by(s.source_health.c.id)
            ).all()
            quarantine_rows = conn.execute(
                sa.select(s.quarantine).where(s.quarantine.c.run_id == run_id).order_by(s.quarantine.c.id)
            ).all()
        findings = [Finding.model_validate(r.finding) for r in snapshots if r.status != "resolved"]
        resolved = [Finding.model_validate(r.finding) for r in snapshots if r.status == "resolved"]
        return RunResult(
            run_id=run.id,
            as_of=run.as_of,
            started_at=run.started_at,
            finished_at=run.finished_at,
            status=run.status.value,
            findings=findings,
            resolved=resolved,
            health=[
                SourceHealth(
                    source=h.source,
                    healthy=h.healthy,
                    rows_read=h.rows_read,
                    rows_used=h.rows_used,
                    rows_quarantined=h.rows_quarantined,
                    duration_s=h.duration_s,
                    error=h.error,
                    streams=h.streams or {},
                )
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
