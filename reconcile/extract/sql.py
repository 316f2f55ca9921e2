"""The ``sql`` adapter: any SQLAlchemy URL, a table or a read-only query.

A table stream is read with a ``SELECT`` that SQLAlchemy builds from the
reflected table, the optional column list and the structured ``where``
filters (bound parameters, never SQL assembled from strings). A query stream
runs the configured query as it is. Either way the rows come through the
driver's own cursor in chunks of ``chunk_size``: a server-side cursor on
PostgreSQL (psycopg's named cursors) and MariaDB/MySQL (``SSCursor``), so a
table of any size streams in constant memory; SQLite steps through the rows
as they are fetched.

Everything is read in a read-only transaction where the database has one:
PostgreSQL ``SET TRANSACTION READ ONLY``, MariaDB/MySQL ``START TRANSACTION
READ ONLY``, and SQLite files are opened with ``mode=ro``. A query that tries
to write fails, and the source is unhealthy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import logging
import math
import queue
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import quote

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError

from reconcile.errors import ConfigError, SourceError
from reconcile.extract import _arrow
from reconcile.extract.base import (
    Adapter,
    RawRow,
    RowBatch,
    SourceConfig,
    StreamConfig,
    unbatch,
    undecodable,
)
from reconcile.extract.mapping import RowMapper
from reconcile.model import record_model
from reconcile.secrets import redact, register

__all__ = ["SqlAdapter", "SqlFilter", "SqlPoolConfig", "SqlSourceConfig", "SqlStreamConfig"]

log = logging.getLogger("reconcile.extract.sql")

FilterOp = Literal["=", "!=", "<", "<=", ">", ">=", "in", "not in", "is null", "is not null", "like"]
_LIST_OPS = {"in", "not in"}
_NULL_OPS = {"is null", "is not null"}


class SqlFilter(BaseModel):
    """One condition of a table stream's ``where`` list (all must hold).

    Attributes:
        column: The table column.
        op: ``=``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``,
            ``is null``, ``is not null`` or ``like``.
        value: The value compared with (a list for ``in``/``not in``, none
            for the null tests). Text is read as the column's type, so
            ``"2026-01-01"`` compares with a date column as a date.
    """

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    op: FilterOp = "="
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> SqlFilter:
        if self.op in _NULL_OPS:
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value")
        elif self.op in _LIST_OPS:
            if not isinstance(self.value, list) or not self.value:
                raise ValueError(f"op {self.op!r} needs a non-empty list as value, such as [A, S]")
        elif self.value is None or isinstance(self.value, list | dict):
            raise ValueError(f"op {self.op!r} needs one value (for a missing value use 'is null')")
        return self


class SqlStreamConfig(StreamConfig):
    """A table (by name, optionally schema-qualified) or a read-only query.

    Attributes:
        table: The table (or view) to read.
        schema: The table's schema (PostgreSQL) or database (MariaDB/MySQL).
        columns: Read only these columns of the table (default: all).
        where: Conditions on the table's rows; every one must hold.
        query: A query run as it is, instead of a table.
    """

    table: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    columns: list[str] | None = Field(default=None, min_length=1)
    where: list[SqlFilter] = Field(default_factory=list)
    query: str | None = None

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlStreamConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        if self.query is not None and (self.columns is not None or self.where or self.schema_name):
            raise ValueError("'columns', 'where' and 'schema' go with 'table'; a query selects its own")
        return self


class SqlPoolConfig(BaseModel):
    """Connection pool settings (PostgreSQL, MariaDB/MySQL; SQLite needs none).

    Attributes:
        size: Connections kept open.
        max_overflow: Connections opened beyond ``size`` when all are busy.
        timeout: Seconds to wait for a free connection.
        recycle: Replace connections older than this many seconds (None: never).
        pre_ping: Test a connection before using it.
    """

    model_config = ConfigDict(extra="forbid")

    size: int = Field(default=2, ge=1)
    max_overflow: int = Field(default=2, ge=0)
    timeout: float = Field(default=30.0, gt=0)
    recycle: int | None = Field(default=None, ge=1)
    pre_ping: bool = True


class SqlSourceConfig(SourceConfig):
    """Configuration of a ``sql`` source.

    Attributes:
        url: SQLAlchemy URL; a relative SQLite path is relative to the config
            file. Put the password in an environment variable:
            ``postgresql+psycopg://app:${BILLING_DB_PASSWORD}@db/billing``.
        chunk_size: Rows fetched per round trip.
        connect_timeout: Seconds to wait for a connection (SQLite: for a lock).
        statement_timeout: Seconds a statement (or one fetch of a chunk) may
            run before the database cancels it (None: no limit).
        read_only: Read in a read-only transaction (PostgreSQL, MariaDB/MySQL)
            or open SQLite files read-only.
        pool: Connection pool settings.
        connect_args: Extra arguments for the driver's ``connect()``.
        arrow: Read tables of text columns as Arrow batches through ADBC
            where the driver is installed (PostgreSQL: ``adbc-driver-postgresql``,
            SQLite: ``adbc-driver-sqlite``); the records are the same, read
            with less CPU. ``false`` reads everything through the
            SQLAlchemy driver.
    """

    kind: Literal["sql"] = "sql"
    url: str
    streams: dict[str, SqlStreamConfig] = Field(min_length=1)  # type: ignore[assignment]
    chunk_size: int = Field(default=10_000, ge=1)
    connect_timeout: float | None = Field(default=30.0, gt=0)
    statement_timeout: float | None = Field(default=None, gt=0)
    read_only: bool = True
    pool: SqlPoolConfig = Field(default_factory=SqlPoolConfig)
    connect_args: dict[str, Any] = Field(default_factory=dict)
    arrow: bool = True

    @model_validator(mode="after")
    def _hide_password(self) -> SqlSourceConfig:
        # A password written in the URL is as secret as one from ${ENV}.
        with contextlib.suppress(ArgumentError):
            register(make_url(self.url).password)
        return self


#: Text that starts with an ISO date (SQLite GLOB).
_ISO_DATE_GLOB = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"


def _shown(url: str) -> str:
    try:
        return redact(make_url(url).render_as_string(hide_password=True))
    except ArgumentError:
        return "<invalid url>"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact(text.splitlines()[0] if text else type(exc).__name__)


def _coerce(value: Any, column: sa.Column[Any]) -> Any:
    """A filter value from YAML as the column's Python type (text is parsed)."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return value
    if not isinstance(value, str) or python_type is str:
        return value
    text = value.strip()
    if python_type is dt.datetime:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if python_type is dt.date:
        return dt.date.fromisoformat(text)
    if python_type is int:
        return int(text)
    if python_type is float:
        return float(text)
    if python_type is decimal.Decimal:
        return decimal.Decimal(text)
    if python_type is bool:
        lowered = text.lower()
        if lowered in ("true", "1", "yes", "y"):
            return True
        if lowered in ("false", "0", "no", "n"):
            return False
        raise ValueError(f"{value!r} is not a boolean")
    return value


def _condition(column: sa.Column[Any], op: str, value: Any) -> sa.ColumnElement[bool]:
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
    if op == "in":
        return column.in_(value)
    if op == "not in":
        return column.not_in(value)
    if op == "like":
        return column.like(value)
    comparisons = {
        "=": column.__eq__, "!=": column.__ne__, "<": column.__lt__,
        "<=": column.__le__, ">": column.__gt__, ">=": column.__ge__,
    }
    return comparisons[op](value)


class SqlAdapter(Adapter):
    """Reads tables or queries from any database SQLAlchemy can reach.

    SQLite files are opened read-only (``mode=ro``), so a missing file is an
    error instead of a new empty database.
    """

    kind: ClassVar[str] = "sql"
    config_model: ClassVar[type[SourceConfig]] = SqlSourceConfig
    config: SqlSourceConfig

    _engine: sa.Engine | None = None

    # -- connecting ----------------------------------------------------------

    def _sqlite_path(self, url: sa.URL) -> Path | None:
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return self.resolve_path(url.database)

    def engine(self) -> sa.Engine:
        """The engine of this source, created on first use."""
        if self._engine is not None:
            return self._engine
        config = self.config
        try:
            url = make_url(config.url)
        except ArgumentError as exc:
            raise SourceError(self.name, f"invalid database URL {_shown(config.url)}: {exc}") from None
        register(url.password)
        path = self._sqlite_path(url)
        try:
            if path is not None:
                if not path.is_file():
                    raise SourceError(self.name, f"SQLite database {path} does not exist")
                mode = "ro" if config.read_only else "rw"  # never "rwc": a read never creates a file
                uri = f"file:{quote(path.as_posix(), safe='/:')}?mode={mode}"  # a '#' or '?' in the path is escaped
                timeout = config.connect_timeout or 5.0

                def connect() -> sqlite3.Connection:
                    return sqlite3.connect(  # type: ignore[no-any-return]
                        uri, uri=True, check_same_thread=False, timeout=timeout, **config.connect_args
                    )

                self._engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.NullPool)
            elif url.get_backend_name() == "sqlite":
                self._engine = sa.create_engine(url, poolclass=sa.pool.StaticPool)
            else:
                self._engine = sa.create_engine(
                    url,
                    pool_size=config.pool.size,
                    max_overflow=config.pool.max_overflow,
                    pool_timeout=config.pool.timeout,
                    pool_recycle=config.pool.recycle if config.pool.recycle is not None else -1,
                    pool_pre_ping=config.pool.pre_ping,
                    connect_args=self._connect_args(url),
                )
        except NoSuchModuleError as exc:
            raise SourceError(self.name, f"no driver for {url.drivername}: {exc}") from None
        except ModuleNotFoundError as exc:
            extra = "postgres" if "psycopg" in str(exc) else "mysql" if "mysql" in str(exc).lower() else None
            hint = f"; install it with: pip install 'reconcile-engine[{extra}]'" if extra else ""
            raise SourceError(self.name, f"database driver missing ({exc.name}){hint}") from None
        return self._engine

    def _connect_args(self, url: sa.URL) -> dict[str, Any]:
        args: dict[str, Any] = {}
        timeout = self.config.connect_timeout
        backend, driver = url.get_backend_name(), url.get_driver_name()
        if timeout is not None:
            if backend == "postgresql":
                args["connect_timeout"] = max(2, math.ceil(timeout))  # libpq: whole seconds, at least 2
            elif backend in ("mysql", "mariadb"):
                args["connect_timeout"] = max(1, math.ceil(timeout)) if driver == "mysqldb" else timeout
        args.update(self.config.connect_args)
        return args

    def _begin(self, conn: sa.Connection) -> None:
        """Start the read: a read-only transaction and the statement timeout, where supported."""
        config = self.config
        backend = conn.dialect.name
        timeout = config.statement_timeout
        if backend == "postgresql":
            if config.read_only:
                conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            if timeout is not None:
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {max(1, round(timeout * 1000))}")
        elif backend in ("mysql", "mariadb"):
            if timeout is not None:
                if getattr(conn.dialect, "is_mariadb", False):
                    conn.exec_driver_sql(f"SET SESSION max_statement_time = {float(timeout)!r}")
                else:
                    conn.exec_driver_sql(f"SET SESSION max_execution_time = {max(1, round(timeout * 1000))}")
            if config.read_only:
                conn.exec_driver_sql("START TRANSACTION READ ONLY")
        elif backend != "sqlite" and config.read_only:
            log.debug(
                "source %s: %s has no read-only transactions here; use a read-only account",
                self.name, backend,
            )

    # -- what to run -----------------------------------------------------------

    def _where(self, record_type: str, part: str) -> str:
        return f"sources.{self.name}.streams.{record_type}.{part}"

    def _table_statement(
        self, conn: sa.Connection, record_type: str, stream: SqlStreamConfig
    ) -> sa.Select[Any]:
        assert stream.table is not None
        shown = f"{stream.schema_name}.{stream.table}" if stream.schema_name else stream.table
        try:
            table = sa.Table(stream.table, sa.MetaData(), schema=stream.schema_name, autoload_with=conn)
        except NoSuchTableError:
            raise SourceError(self.name, f"table {shown!r} does not exist") from None
        have = list(table.columns.keys())
        listing = ", ".join(have)
        problems: list[tuple[str, str]] = []
        for i, name in enumerate(stream.columns or []):
            if name not in table.columns:
                problems.append((
                    self._where(record_type, f"columns[{i}]"),
                    f"no column {name!r} in table {shown}; it has: {listing}",
                ))
        selected = [table.columns[c] for c in (stream.columns or have) if c in table.columns]
        selected_names = {c.name for c in selected}
        conditions = []
        for i, condition in enumerate(stream.where):
            column = table.columns.get(condition.column)
            if column is None:
                problems.append((
                    self._where(record_type, f"where[{i}].column"),
                    f"no column {condition.column!r} in table {shown}; it has: {listing}",
                ))
                continue
            try:
                value = (
                    [_coerce(v, column) for v in condition.value]
                    if condition.op in _LIST_OPS
                    else None
                    if condition.op in _NULL_OPS
                    else _coerce(condition.value, column)
                )
            except (ValueError, TypeError, decimal.InvalidOperation) as exc:
                problems.append((
                    self._where(record_type, f"where[{i}].value"),
                    f"not a value of column {condition.column!r} ({column.type}): {exc}",
                ))
                continue
            conditions.append(_condition(column, condition.op, value))
        problems += self._missing_columns(record_type, stream, selected_names, f"table {shown}")
        if problems:
            raise ConfigError(problems)
        statement = sa.select(*selected).where(*conditions)
        return self._since(statement, table, record_type, stream, conn.dialect.name)

    def _since(
        self, statement: sa.Select[Any], table: sa.Table, record_type: str, stream: SqlStreamConfig, backend: str
    ) -> sa.Select[Any]:
        """Let the database skip rows older than the cursor, where it compares as Python does.

        The base class filters again, so this only saves reading: the
        condition may let older rows through, never keep a newer one out. On
        SQLite, where a timestamp is whatever was stored (text in any format,
        a number), only text that starts with an ISO date (``YYYY-MM-DD``)
        two days or more before the cursor's is left out: whatever its time
        and zone, such a value is older than the cursor. Anything else (other
        formats, numbers, NULL) is read and checked by the base class. Text
        cursors, and timestamps with a ``format``, are filtered as they are read.
        """
        since = self.since.get(record_type)
        cursor = stream.cursor
        if since is None or cursor is None or cursor.column not in table.columns:
            return statement
        column = table.columns[cursor.column]
        # A row without a cursor value is read (the base class keeps it too).
        if cursor.type == "integer" and isinstance(column.type, sa.Integer) and isinstance(since, int):
            return statement.where(sa.or_(column >= since, column.is_(None)))
        if (
            cursor.type == "timestamp"
            and isinstance(column.type, sa.DateTime)
            and backend != "sqlite"
            and isinstance(since, dt.datetime)
        ):
            value = since if column.type.timezone else since.astimezone(dt.UTC).replace(tzinfo=None)
            return statement.where(sa.or_(column >= value, column.is_(None)))
        if (
            cursor.type == "timestamp"
            and cursor.format is None
            and backend == "sqlite"
            and isinstance(since, dt.datetime)
            and since.year > 1
        ):
            # Offsets reach 14 hours either way: two days' margin is safe.
            day = (since.astimezone(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
            return statement.where(sa.or_(
                column.is_(None),
                sa.func.typeof(column) != "text",
                sa.not_(column.op("GLOB", is_comparison=True)(_ISO_DATE_GLOB)),
                sa.func.substr(column, 1, 10) >= day,
            ))
        return statement

    def _missing_columns(
        self, record_type: str, stream: SqlStreamConfig, have: set[str] | Sequence[str], what: str
    ) -> list[tuple[str, str]]:
        """Mapped (and cursor, soft-delete) columns the table or query does not have."""
        mapper = RowMapper(record_model(record_type), stream.fields)
        listing = ", ".join(sorted(have)) or "none"
        problems = []
        for compiled in mapper.fields:
            for column in compiled.columns:
                if column not in have:
                    problems.append((
                        self._where(record_type, f"fields.{compiled.name}"),
                        f"{what} has no column {column!r}; it has: {listing}",
                    ))
        for part, extra in (("cursor.column", stream.cursor), ("deleted.column", stream.deleted)):
            if extra is not None and extra.column not in have:
                problems.append((
                    self._where(record_type, part), f"{what} has no column {extra.column!r}; it has: {listing}"
                ))
        return problems

    def _compiled(self, statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, Any]:
        """SQL text and driver parameters, as SQLAlchemy would pass them to the driver."""
        compiled = statement.compile(dialect=dialect, compile_kwargs={"render_postcompile": True})
        params = compiled.construct_params()
        binds = compiled.binds
        processed = {}
        for name, value in params.items():
            # Expanded IN parameters are named after theirs: status_1_1 <- status_1.
            bind = binds.get(name)
            if bind is None:
                bind = binds.get(name.rsplit("_", 1)[0])
            processor = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
            processed[name] = processor(value) if processor is not None else value
        if compiled.positiontup is not None:
            return compiled.string, tuple(processed[name] for name in compiled.positiontup)
        return compiled.string, processed

    # -- reading ---------------------------------------------------------------

    def _cursor(self, dbapi_connection: Any, dialect: sa.Dialect) -> Any:
        """A server-side cursor where the driver has one."""
        driver = dialect.driver
        if dialect.name == "postgresql" and driver in ("psycopg", "psycopg2"):
            cursor = dbapi_connection.cursor(name=f"reconcile_{uuid.uuid4().hex[:12]}")
            cursor.itersize = self.config.chunk_size
            return cursor
        if dialect.name in ("mysql", "mariadb"):
            if driver == "pymysql":
                import pymysql.cursors

                return dbapi_connection.cursor(pymysql.cursors.SSCursor)
            if driver == "mysqldb":
                import MySQLdb.cursors

                return dbapi_connection.cursor(MySQLdb.cursors.SSCursor)
        return dbapi_connection.cursor()

    def read_batches(self, record_type: str, stream: StreamConfig) -> Iterator[RowBatch | RawRow]:
        assert isinstance(stream, SqlStreamConfig)
        engine = self.engine()
        shown = _shown(self.config.url)
        dbapi = getattr(engine.dialect, "loaded_dbapi", None)
        dbapi_error: type[BaseException] = getattr(dbapi, "Error", sqlite3.Error)
        what = f"table {stream.table!r}" if stream.table is not None else "the query"
        log.debug("source %s: reading %s from %s", self.name, what, shown)
        timer: _SqliteTimer | None = None
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise SourceError(self.name, f"cannot connect to {shown}: {_first_line(exc)}") from None
        try:
            self._begin(conn)
            if stream.table is not None:
                statement = self._table_statement(conn, record_type, stream)
                sql, params = self._compiled(statement, conn.dialect)
                if conn.dialect.name == "sqlite":
                    arrow_read = self._sqlite_arrow(conn, statement, record_type, what)
                    if arrow_read is not None:
                        yield from arrow_read
                        return
            else:
                assert stream.query is not None
                sql, params = stream.query, None
            if not params and self._arrow_eligible(conn.dialect):
                tables = self._adbc_tables(sql, record_type, what, query=stream.query is not None)
                if tables is not None:
                    if stream.query is not None:
                        problems = self._missing_columns(record_type, stream, tables.columns, "the query")
                        if problems:
                            raise ConfigError(problems)
                    yield from tables
                    return
            dbapi_connection: Any = conn.connection.dbapi_connection
            if conn.dialect.name == "sqlite" and not dbapi_connection.in_transaction:
                dbapi_connection.execute("BEGIN")  # one snapshot for the whole read
            cursor = self._cursor(dbapi_connection, conn.dialect)
            if conn.dialect.name == "sqlite":
                timer = _SqliteTimer(dbapi_connection, self.config.statement_timeout)
            try:
                if timer:
                    timer.start()
                if params is None:
                    cursor.execute(sql)
                else:
                    cursor.execute(sql, params)
                if cursor.description is None:
                    raise SourceError(
                        self.name, f"{record_type}: the query returned no rows to read (is it a SELECT?)"
                    )
                columns = [d[0] for d in cursor.description]
                if stream.query is not None:
                    problems = self._missing_columns(record_type, stream, columns, "the query")
                    if problems:
                        raise ConfigError(problems)
                size = self.config.chunk_size
                if conn.dialect.name == "sqlite":
                    # No round trips: small batches are still in the CPU cache while mapped.
                    size = min(size, _SQLITE_BATCH)
                read = 0
                lenient = False
                while True:
                    if timer:
                        timer.start()
                    try:
                        rows = cursor.fetchmany(size)
                    except sqlite3.OperationalError as exc:
                        if lenient or conn.dialect.name != "sqlite" or "decode" not in str(exc):
                            raise
                        # A text value that is not UTF-8: read on from this row keeping
                        # such values as they are, so only their rows are quarantined.
                        # The read transaction begun below sees the same rows again.
                        cursor.close()
                        dbapi_connection.text_factory = _lenient_text
                        cursor = dbapi_connection.cursor()
                        cursor.execute(sql) if params is None else cursor.execute(sql, params)
                        skip = read
                        while skip and (got := cursor.fetchmany(min(size, skip))):
                            skip -= len(got)
                        lenient = True
                        continue
                    if not rows:
                        break
                    if lenient:
                        yield from _screen(columns, rows, read)
                    else:
                        yield RowBatch(columns, rows, range(read + 1, read + 1 + len(rows)), "row")
                    read += len(rows)
            finally:
                if timer:
                    timer.stop()
                if conn.dialect.name == "sqlite":
                    dbapi_connection.text_factory = str
                # Closing after a failed statement may fail too; the rollback below cleans up.
                with contextlib.suppress(dbapi_error):
                    cursor.close()
        except (SourceError, ConfigError):
            raise
        except (SQLAlchemyError, dbapi_error) as exc:
            reason = _first_line(exc)
            if timer is not None and timer.expired:
                reason = f"took longer than statement_timeout={self.config.statement_timeout}s ({reason})"
            raise SourceError(self.name, f"reading {record_type} ({what}) from {shown} failed: {reason}") from None
        finally:
            try:
                conn.rollback()
                with contextlib.suppress(Exception):
                    conn.connection.dbapi_connection.rollback()  # type: ignore[union-attr]
            finally:
                conn.close()

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        return unbatch(self.read_batches(record_type, stream))

    def key_scan_stream(self, record_type: str, stream: StreamConfig) -> StreamConfig:
        """A stream's key scan selects only the key's columns (and the soft-delete one).

        Not the cursor's: a key scan reads every row whatever its cursor (the
        stream was read already, so the column is known to be there). A
        table's scan selects those columns of the table; a query's selects
        them from the query (``SELECT k.key FROM (query) AS k``) when the
        database takes that (a query whose columns share a name, or that
        cannot be a subquery, is read as it is).
        """
        assert isinstance(stream, SqlStreamConfig)
        key_field = record_model(record_type).key_field
        fields = {key_field: stream.fields[key_field]}
        wanted = RowMapper(record_model(record_type), fields).source_columns
        if stream.deleted is not None and stream.deleted.column not in wanted:
            wanted.append(stream.deleted.column)
        if stream.table is None:
            assert stream.query is not None
            query = self._selected_from(stream.query, wanted)
            if query is None:
                return stream
            return stream.model_copy(update={"fields": fields, "query": query, "cursor": None})
        if stream.columns is not None:
            wanted = [c for c in stream.columns if c in wanted] + [c for c in wanted if c not in stream.columns]
        return stream.model_copy(update={"fields": fields, "columns": wanted, "cursor": None})

    def _selected_from(self, query: str, columns: Sequence[str]) -> str | None:
        """``query`` as a subquery of which only ``columns`` are selected, or None if the database refuses it.

        Each column is named through the subquery's alias (``k."id"``): on
        SQLite an unknown name in double quotes alone would be taken for a
        text. The statement is tried first with no row to read (``WHERE 1 =
        0``): a name the query gives twice (PostgreSQL and MariaDB refuse
        it; SQLite takes the first, as the mapping does), a query that cannot
        be a subquery, any error at all, and the query is read as it is.
        """
        if not columns:
            return None
        body = _enclosable(query)
        alias = "reconcile_key_scan"
        try:
            engine = self.engine()
            quote_name = engine.dialect.identifier_preparer.quote_identifier
            listing = ", ".join(f"{alias}.{quote_name(column)}" for column in columns)
            selected = f"SELECT {listing} FROM (\n{body}) AS {alias}"
            with engine.connect() as conn:
                self._begin(conn)
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                try:
                    cursor.execute(f"{selected}\nWHERE 1 = 0")
                    cursor.fetchall()
                finally:
                    with contextlib.suppress(Exception):
                        cursor.close()
                conn.rollback()
        except Exception as exc:  # the query is read as it is (a real failure shows there)
            log.debug("source %s: a key scan reads the query as it is (as a subquery: %s)", self.name, _first_line(exc))
            return None
        return selected

    # -- SQLite through ADBC -------------------------------------------------------

    def _sqlite_arrow(
        self, conn: sa.Connection, statement: sa.Select[Any], record_type: str, what: str
    ) -> _SqliteArrowRead | None:
        """A SQLite table read as Arrow batches through ADBC, or None to read it with sqlite3.

        Taken for a table (not a view, not ``WITHOUT ROWID``) whose selected
        columns all have TEXT, INTEGER or REAL affinity, when
        ``adbc-driver-sqlite`` and pyarrow are installed, ``arrow`` is on and
        neither ``connect_args`` nor ``statement_timeout`` is set (both are
        sqlite3's). The values are the ones sqlite3 gives: a row holding a
        value of another class than its column's affinity gives (a BLOB or a
        number in a TEXT column, text in an INTEGER one...) is flagged by
        SQLite itself and read again on its own, with its values' own types;
        text that is not UTF-8 is decoded as the sqlite3 path decodes it (its
        row is quarantined).
        """
        config = self.config
        if not (self.columnar and config.arrow) or config.connect_args or config.statement_timeout is not None:
            return None
        path = self._sqlite_path(make_url(config.url))
        if path is None:
            return None
        try:
            import adbc_driver_manager
            import adbc_driver_sqlite.dbapi as adbc
        except ImportError:
            return None
        if not _arrow.available():
            return None
        froms = statement.get_final_froms()
        if len(froms) != 1 or not isinstance(froms[0], sa.Table):
            return None
        table = froms[0]
        declared = _sqlite_declared_types(conn, table)
        if declared is None:
            return None
        columns = list(statement.selected_columns)
        found_kinds = [_SQLITE_KINDS.get(_sqlite_affinity(declared.get(c.name.lower(), ""))) for c in columns]
        kinds = [kind for kind in found_kinds if kind is not None]
        if not columns or len(kinds) != len(columns):
            return None
        rowid = next((name for name in ("rowid", "_rowid_", "oid") if name not in declared), None)
        if rowid is None or _ODD.lower() in declared:
            return None
        # SQLite says which rows hold a value of another class than their
        # column's affinity gives (text in an INTEGER column, a BLOB in a TEXT
        # one...). For the TEXT columns together: a number sorts before any
        # text and a BLOB after it, so min() and max() over the row tell.
        empty: sa.ColumnElement[Any] = sa.literal_column("''")
        texts = [sa.func.coalesce(c, empty) for c, kind in zip(columns, kinds, strict=True) if kind == "text"]
        checks: list[sa.ColumnElement[bool]] = [
            sa.func.typeof(c).in_([sa.literal_column(f"'{kind}'"), sa.literal_column("'null'")])
            for c, kind in zip(columns, kinds, strict=True) if kind != "text"
        ]
        if texts:
            checks += [sa.func.min(*texts, empty) >= empty, sa.func.max(*texts, empty) < sa.literal_column("x''")]
        # Every column is read as its class (a BLOB first would make ADBC type a
        # text column as binary, which cannot take a number after it); flagged
        # rows are read again.
        types = {"text": sa.Text, "integer": sa.Integer, "real": sa.Float}
        flagged: sa.Select[Any] = statement.with_only_columns(  # type: ignore[assignment]
            *(sa.cast(c, types[kind]).label(c.name) for c, kind in zip(columns, kinds, strict=True)),
            sa.case((sa.not_(sa.and_(*checks)), sa.literal_column(rowid)), else_=sa.null()).label(_ODD),
            maintain_column_froms=True,
        )
        sql, params = self._compiled(flagged, conn.dialect)
        # ADBC types each column by the first batch's values (a column of NULLs
        # would be taken for integers): a first row of an empty text, 0 or 0.0
        # gives every column its type. It is dropped as it is read.
        quote_name = conn.dialect.identifier_preparer.quote
        dummy = {"text": "''", "integer": "0", "real": "0.0"}
        first = ", ".join([
            *(f"{dummy[kind]} AS {quote_name(c.name)}" for c, kind in zip(columns, kinds, strict=True)),
            f"0 AS {_ODD}",
        ])
        sql = f"SELECT {first} UNION ALL {sql}"
        mode = "ro" if config.read_only else "rw"
        uri = f"file:{quote(path.as_posix(), safe='/:')}?mode={mode}"
        exact = sa.select(*columns).where(sa.literal_column(rowid) == sa.bindparam("rowid"))
        exact_sql = str(exact.compile(dialect=conn.dialect))
        connection = cursor = reader = None
        try:
            connection = adbc.connect(uri)
            cursor = connection.cursor()
            cursor.adbc_statement.set_options(**{"adbc.sqlite.query.batch_rows": str(config.chunk_size)})
            cursor.execute(sql, params) if params else cursor.execute(sql)
            reader = cursor.fetch_record_batch()
        except (adbc_driver_manager.Error, ValueError, TypeError, ArithmeticError, OSError) as exc:
            # A lock held by a writer (sqlite3 waits for it: connect_timeout), a
            # parameter ADBC cannot bind (pyarrow's errors are ValueErrors and
            # TypeErrors): sqlite3 reads it.
            log.debug("source %s: %s read with sqlite3 (ADBC: %s)", self.name, what, _first_line(exc))
            for resource in (reader, cursor, connection):
                if resource is not None:
                    with contextlib.suppress(Exception):
                        resource.close()
            return None
        return _SqliteArrowRead(self, connection, cursor, reader, record_type, what, exact_sql)

    # -- PostgreSQL through ADBC ---------------------------------------------------

    def _arrow_eligible(self, dialect: sa.Dialect) -> bool:
        """Whether a PostgreSQL read may go through ADBC (Arrow batches, parsed in C++)."""
        if not (self.columnar and self.config.arrow) or dialect.name != "postgresql" or self.config.connect_args:
            return False
        try:
            import adbc_driver_postgresql.dbapi  # noqa: F401
        except ImportError:
            return False
        return _arrow.available()

    def _adbc_uri(self) -> str:
        """The libpq URI of the source, with the read-only and timeout settings as options."""
        url = make_url(self.config.url).set(drivername="postgresql")
        options = []
        if self.config.read_only:
            options.append("-c default_transaction_read_only=on")
        if self.config.statement_timeout is not None:
            options.append(f"-c statement_timeout={max(1, round(self.config.statement_timeout * 1000))}")
        query = dict(url.query)
        if options:
            query["options"] = " ".join([*([str(query["options"])] if "options" in query else []), *options])
        if self.config.connect_timeout is not None:
            query["connect_timeout"] = str(max(2, math.ceil(self.config.connect_timeout)))
        # libpq reads %20 as a space in a URI, not "+" (as SQLAlchemy would write it).
        pairs = [
            f"{quote(str(key), safe='')}={quote(str(value), safe='')}"
            for key, values in query.items()
            for value in (values if isinstance(values, tuple) else (values,))
        ]
        base = url.set(query={}).render_as_string(hide_password=False)
        return base + ("?" + "&".join(pairs) if pairs else "")

    def _adbc_tables(self, sql: str, record_type: str, what: str, *, query: bool = False) -> _AdbcRead | None:
        """The rows of ``sql`` read through ADBC, when every column it gives is text; else None.

        The driver reads through ``COPY (sql) TO STDOUT``: a user's query
        (``query``) is given without its closing semicolons and ends on a
        line of its own (a trailing ``--`` comment would hide the closing
        parenthesis); one that ``COPY`` still cannot take (a semicolon
        before a comment, say) gives None too, and is read through psycopg,
        as it would be without ADBC (which reports a real error).
        """
        import adbc_driver_manager
        import adbc_driver_postgresql.dbapi as adbc

        shown = _shown(self.config.url)
        try:
            connection = adbc.connect(self._adbc_uri())
        except adbc_driver_manager.Error as exc:
            raise SourceError(self.name, f"cannot connect to {shown}: {_first_line(exc)}") from None
        try:
            cursor = connection.cursor()
            cursor.execute(_enclosable(sql) if query else sql)
            reader = cursor.fetch_record_batch()
        except adbc_driver_manager.Error as exc:
            connection.close()
            if query:
                log.debug("source %s: %s read through psycopg (ADBC: %s)", self.name, what, _first_line(exc))
                return None
            raise SourceError(self.name, f"reading {record_type} ({what}) from {shown} failed: {_first_line(exc)}") from None
        if not all(_arrow.is_text(field) for field in reader.schema):
            # Other types: the driver's Python values are the reference; read through psycopg.
            for resource in (reader, cursor, connection):
                with contextlib.suppress(Exception):
                    resource.close()
            return None
        return _AdbcRead(self, connection, cursor, reader, record_type, what)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _enclosable(query: str) -> str:
    """``query`` as it can be put in parentheses: without its closing semicolons, ending with a line break.

    The line break ends a trailing ``--`` comment before whatever follows.
    """
    body = query.rstrip()
    while body.endswith(";"):
        body = body[:-1].rstrip()
    return body + "\n"


class _AdbcRead:
    """Arrow batches of a PostgreSQL read through ADBC, as RowBatches numbered by row."""

    def __init__(self, adapter: SqlAdapter, connection: Any, cursor: Any, reader: Any, record_type: str, what: str):
        self.adapter = adapter
        self.connection = connection
        self.cursor = cursor  # the reader is closed with it
        self.reader = reader
        self.record_type = record_type
        self.what = what
        self.columns = [field.name for field in reader.schema]

    def prepare(self, batch: Any) -> Any:
        """A batch as read (in the reading thread): an Arrow table, or a list of Python rows."""
        import pyarrow as pa

        return pa.Table.from_batches([batch]) if batch.num_rows else None

    def close(self) -> None:
        for resource in (self.reader, self.cursor, self.connection):
            with contextlib.suppress(Exception):
                resource.close()

    def __iter__(self) -> Iterator[RowBatch | RawRow]:
        import adbc_driver_manager
        import pyarrow as pa

        # The next batch is read (in C++, without the GIL, while the server
        # sends it) as this one is mapped.
        batches: queue.Queue[Any] = queue.Queue(maxsize=2)
        stop = threading.Event()

        def fetch() -> None:
            try:
                while not stop.is_set():
                    try:
                        batch = self.reader.read_next_batch()
                    except StopIteration:
                        break
                    prepared = self.prepare(batch)
                    if prepared is not None:
                        batches.put(prepared)
            except BaseException as exc:  # handed to the reading thread
                batches.put(exc)
            finally:
                batches.put(None)

        worker = threading.Thread(target=fetch, name="reconcile-adbc-read", daemon=True)
        worker.start()
        read = 0
        try:
            while (batch := batches.get()) is not None:
                if isinstance(batch, BaseException):
                    raise batch
                if isinstance(batch, list):  # read again in Python: rows of undecodable text are screened
                    yield from _screen(self.columns, batch, read)
                    read += len(batch)
                    continue
                yield RowBatch.from_arrow(batch, range(read + 1, read + 1 + batch.num_rows), "row")
                read += batch.num_rows
        except (adbc_driver_manager.Error, pa.ArrowException) as exc:
            raise SourceError(
                self.adapter.name,
                f"reading {self.record_type} ({self.what}) from {_shown(self.adapter.config.url)} failed: "
                f"{_first_line(exc)}",
            ) from None
        finally:
            stop.set()
            while worker.is_alive():  # let the reading thread finish its batch
                with contextlib.suppress(queue.Empty):
                    batches.get(timeout=0.1)
            worker.join()
            self.close()


#: Rows fetched at a time from SQLite, at most (whatever chunk_size says).
_SQLITE_BATCH = 2_000


def _lenient_text(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


#: The column of a SQLite read through ADBC giving the rowid of a row that holds anything but text.
_ODD = "reconcile_not_text_rowid"


class _SqliteArrowRead(_AdbcRead):
    """Arrow batches of a SQLite table read through ADBC, with sqlite3's values.

    The query's first row (empty texts, there to make every column text) is
    dropped. A batch whose rows all hold text or NULL, all of it UTF-8, is
    handed on as Arrow; otherwise the batch becomes Python rows: each flagged
    row read again by rowid (ADBC types a one-row result by its values: bytes,
    int, float, str), text that is not UTF-8 decoded with ``surrogateescape``.
    """

    def __init__(self, adapter: SqlAdapter, connection: Any, cursor: Any, reader: Any, record_type: str,
                 what: str, exact_sql: str):
        super().__init__(adapter, connection, cursor, reader, record_type, what)
        self.columns = self.columns[:-1]  # without _ODD
        self.exact_sql = exact_sql
        self.exact_cursor: Any = None
        self.first = True

    def prepare(self, batch: Any) -> Any:
        import pyarrow as pa

        if self.first:
            self.first = False
            batch = batch.slice(1)
        if not batch.num_rows:
            return None
        flags = batch.column(len(self.columns))
        table = pa.Table.from_batches([batch]).remove_column(len(self.columns))
        odd = flags.null_count < len(flags)
        if not odd and all(_utf8(column) if _arrow.is_text(column) else _numeric(column) for column in table.columns):
            return table
        rows = list(zip(*(_lenient_values(column) for column in table.columns), strict=True))
        if odd:
            for i, rowid in enumerate(flags.to_pylist()):
                if rowid is not None:
                    rows[i] = self._exact(rowid)
        return rows

    def _exact(self, rowid: int) -> tuple[Any, ...]:
        """A row's values as SQLite holds them (a one-row result is typed by its own values)."""
        if self.exact_cursor is None:
            self.exact_cursor = self.connection.cursor()
        self.exact_cursor.execute(self.exact_sql, (rowid,))
        table = self.exact_cursor.fetch_arrow_table()
        if table.num_rows != 1:
            raise SourceError(self.adapter.name, f"row {rowid} of {self.what} changed while it was read")
        return tuple(_exact_value(column) for column in table.columns)

    def close(self) -> None:
        if self.exact_cursor is not None:
            with contextlib.suppress(Exception):
                self.exact_cursor.close()
        super().close()


def _exact_value(column: Any) -> Any:
    """The value of a one-row column typed by that value: bytes for a BLOB, str for text (UTF-8 or not)."""
    import pyarrow as pa

    if _arrow.is_text(column) and not _utf8(column):
        raw = column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
        value = raw.to_pylist()[0]
        return None if value is None else _lenient_text(value)
    return column.to_pylist()[0]


def _numeric(column: Any) -> bool:
    """Whether an Arrow column holds integers or floats (an INTEGER or REAL column)."""
    import pyarrow as pa

    return bool(pa.types.is_integer(column.type) or pa.types.is_floating(column.type))


def _utf8(column: Any) -> bool:
    """Whether every text of an Arrow text column is UTF-8."""
    import pyarrow as pa

    try:
        column.validate(full=True)
    except pa.ArrowInvalid:
        return False
    return True


def _lenient_values(column: Any) -> list[Any]:
    """The Python values of a column of text (typed as text, or as binary when a BLOB came first).

    Text that is not UTF-8 is decoded as sqlite3's lenient path decodes it.
    (A BLOB's row is read again with its own types, by :meth:`_SqliteArrowRead._exact`.)
    """
    import pyarrow as pa

    if _arrow.is_text(column) and _utf8(column):
        return list(column.to_pylist())
    if _arrow.is_text(column):
        column = column.cast(pa.large_binary() if pa.types.is_large_string(column.type) else pa.binary())
    if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
        return [None if value is None else _lenient_text(value) for value in column.to_pylist()]
    return list(column.to_pylist())


def _sqlite_declared_types(conn: sa.Connection, table: sa.Table) -> dict[str, str] | None:
    """The declared type of each column of a SQLite rowid table (lower-case names), or None for anything else."""
    schema = conn.dialect.identifier_preparer.quote(table.schema) + "." if table.schema else ""
    found = conn.exec_driver_sql(
        f"SELECT type, sql FROM {schema}sqlite_master WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE",
        (table.name,),
    ).fetchall()
    if len(found) != 1 or found[0][0] != "table" or not found[0][1]:
        return None
    definition = str(found[0][1])
    if re.search(r"\bWITHOUT\s+ROWID\b", definition, re.IGNORECASE) or re.match(r"\s*CREATE\s+VIRTUAL\b", definition, re.IGNORECASE):
        return None
    rows = conn.exec_driver_sql(f"PRAGMA {schema}table_info({conn.dialect.identifier_preparer.quote(table.name)})")
    return {str(row[1]).lower(): str(row[2] or "") for row in rows}


#: The storage class a SQLite read through ADBC expects of a column, by its affinity (others: read with sqlite3).
_SQLITE_KINDS = {"TEXT": "text", "INTEGER": "integer", "REAL": "real"}


def _sqlite_affinity(declared: str) -> str:
    """SQLite's affinity of a declared column type (https://sqlite.org/datatype3.html#affname)."""
    upper = declared.upper()
    if "INT" in upper:
        return "INTEGER"
    if "CHAR" in upper or "CLOB" in upper or "TEXT" in upper:
        return "TEXT"
    if "BLOB" in upper or not upper:
        return "BLOB"
    if "REAL" in upper or "FLOA" in upper or "DOUB" in upper:
        return "REAL"
    return "NUMERIC"


def _screen(columns: list[str], rows: list[Any], read: int) -> Iterator[RowBatch | RawRow]:
    """Rows read leniently: those holding undecodable text as RawRows naming the column."""
    good: list[Any] = []
    positions: list[int] = []
    for k, row in enumerate(rows):
        bad = next(
            ((name, shown) for name, value in zip(columns, row, strict=True)
             if isinstance(value, str) and (shown := undecodable(value, "UTF-8"))),
            None,
        )
        if bad is None:
            good.append(row)
            positions.append(read + k + 1)
            continue
        if good:
            yield RowBatch(columns, good, positions, "row")
            good, positions = [], []
        data = dict(zip(columns, row, strict=True))
        yield RawRow(f"row {read + k + 1}", data, f"column {bad[0]!r}: {bad[1]}", bad[0])
    if good:
        yield RowBatch(columns, good, positions, "row")


class _SqliteTimer:
    """A statement timeout for SQLite: the progress handler interrupts a step that runs too long."""

    def __init__(self, connection: sqlite3.Connection, seconds: float | None):
        self.connection = connection
        self.seconds = seconds
        self.deadline = 0.0

    def start(self) -> None:
        if self.seconds is None:
            return
        self.deadline = time.monotonic() + self.seconds
        self.connection.set_progress_handler(self._check, 10_000)

    @property
    def expired(self) -> bool:
        return self.seconds is not None and time.monotonic() > self.deadline

    def _check(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0

    def stop(self) -> None:
        if self.seconds is not None:
            self.connection.set_progress_handler(None, 0)
