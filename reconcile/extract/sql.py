"""The ``sql`` adapter: any SQLAlchemy URL, a table or a read-only query."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import sqlalchemy as sa
from pydantic import Field, model_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, NoSuchTableError, SQLAlchemyError

from reconcile.errors import SourceError
from reconcile.extract.base import Adapter, RawRow, SourceConfig, StreamConfig

__all__ = ["SqlAdapter", "SqlSourceConfig", "SqlStreamConfig"]


class SqlStreamConfig(StreamConfig):
    """A table (by name, optionally schema-qualified) or a read-only query."""

    table: str | None = None
    schema_name: str | None = Field(default=None, alias="schema")
    query: str | None = None

    @model_validator(mode="after")
    def _table_or_query(self) -> SqlStreamConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self


class SqlSourceConfig(SourceConfig):
    """Configuration of a ``sql`` source.

    Attributes:
        url: SQLAlchemy URL; a relative SQLite path is relative to the config file.
        chunk_size: Rows fetched per round trip (server-side cursors where the
            driver has them).
    """

    kind: Literal["sql"] = "sql"
    url: str
    streams: dict[str, SqlStreamConfig] = Field(min_length=1)  # type: ignore[assignment]
    chunk_size: int = Field(default=10_000, ge=1)


def _redact(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid url>"


class SqlAdapter(Adapter):
    """Reads tables or queries from any database SQLAlchemy can reach.

    SQLite files are opened read-only (``mode=ro``), so a missing file is an
    error instead of a new empty database.
    """

    kind: ClassVar[str] = "sql"
    config_model: ClassVar[type[SourceConfig]] = SqlSourceConfig
    config: SqlSourceConfig

    _engine: sa.Engine | None = None

    def _sqlite_path(self, url: sa.URL) -> Path | None:
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return None
        return self.resolve_path(url.database)

    def engine(self) -> sa.Engine:
        if self._engine is not None:
            return self._engine
        try:
            url = make_url(self.config.url)
        except ArgumentError as exc:
            raise SourceError(self.name, f"invalid database URL {_redact(self.config.url)}: {exc}") from None
        path = self._sqlite_path(url)
        try:
            if path is not None:
                if not path.is_file():
                    raise SourceError(self.name, f"SQLite database {path} does not exist")
                uri = f"file:{path.as_posix()}?mode=ro"
                self._engine = sa.create_engine(
                    "sqlite://", creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False)
                )
            else:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
        except NoSuchModuleError as exc:
            raise SourceError(self.name, f"no driver for {url.drivername}: {exc}") from None
        except ModuleNotFoundError as exc:
            extra = "postgres" if "psycopg" in str(exc) else "mysql" if "mysql" in str(exc).lower() else None
            hint = f"; install it with: pip install 'reconcile-engine[{extra}]'" if extra else ""
            raise SourceError(self.name, f"database driver missing ({exc.name}){hint}") from None
        return self._engine

    def _statement(self, conn: sa.Connection, stream: SqlStreamConfig) -> Any:
        if stream.query is not None:
            return sa.text(stream.query)
        assert stream.table is not None
        try:
            table = sa.Table(stream.table, sa.MetaData(), schema=stream.schema_name, autoload_with=conn)
        except NoSuchTableError:
            raise SourceError(self.name, f"table {stream.table!r} does not exist") from None
        return sa.select(table)

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, SqlStreamConfig)
        engine = self.engine()
        try:
            with engine.connect() as conn:
                statement = self._statement(conn, stream)
                result = conn.execution_options(
                    stream_results=True, yield_per=self.config.chunk_size
                ).execute(statement)
                columns = list(result.keys())
                for number, row in enumerate(result, start=1):
                    yield RawRow(position=f"row {number}", data=dict(zip(columns, row, strict=True)))
        except SourceError:
            raise
        except SQLAlchemyError as exc:
            message = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise SourceError(
                self.name, f"reading {record_type} from {_redact(self.config.url)} failed: {message}"
            ) from None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
