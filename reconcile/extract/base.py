"""The adapter contract and the orchestration every adapter shares.

An adapter declares its ``kind``, its pydantic configuration model (with
``extra="forbid"`` and ``kind: Literal[...]``) and implements one generator,
:meth:`Adapter.read`, that yields the raw rows of one stream. Mapping,
validation, quarantine and counting live in :meth:`Adapter.extract`, which is
final: every row read is either used or quarantined with a reason, and
``rows_read == rows_used + rows_quarantined`` for every stream.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, final

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reconcile.errors import SourceError
from reconcile.extract.mapping import FieldSpec, MappingError, RowMapper
from reconcile.incremental import CursorConfig, DeletedConfig, coerce_cursor
from reconcile.model import record_model
from reconcile.results import QuarantinedRow, SourceHealth

__all__ = [
    "Adapter",
    "ExtractResult",
    "RawRow",
    "SourceConfig",
    "StreamConfig",
]


class StreamConfig(BaseModel):
    """One record type read from a source: where it is and how it maps.

    Attributes:
        fields: Canonical field -> source column or mapping object.
        key: The source column holding the record key, when it is not the one
            mapped onto the type's key field (used only in quarantine reports).
        cursor: Read the stream incrementally by this column (see
            :mod:`reconcile.incremental`); absent: read in full every run.
        deleted: A soft-delete column; a row it marks deleted removes the
            record from the stream's snapshot.
    """

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, FieldSpec] = Field(min_length=1)
    key: str | None = None
    cursor: CursorConfig | None = None
    deleted: DeletedConfig | None = None


class SourceConfig(BaseModel):
    """Configuration shared by every adapter kind.

    Attributes:
        kind: The adapter kind (the discriminator).
        spec: A shipped adapter spec (adapters/NAME.yaml) merged under this one.
        description: Free text for people.
        streams: Record type -> stream configuration.
        max_quarantine_fraction: The source is unhealthy, and the run fails,
            when more than this fraction of its rows is quarantined.
        min_rows_fraction: The source is unhealthy, and the run fails, when
            it yields fewer records than this fraction of its last good run
            (0 or None: no check).
        key_scan_every: For incremental streams, read every key once every
            this many runs to find hard-deleted records (None: never).
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    spec: str | None = None
    description: str | None = None
    streams: dict[str, StreamConfig] = Field(min_length=1)
    max_quarantine_fraction: float = Field(default=0.5, ge=0.0, le=1.0)
    min_rows_fraction: float | None = Field(default=0.5, ge=0.0, le=1.0)
    key_scan_every: int | None = Field(default=None, ge=1)


@dataclass(frozen=True)
class RawRow:
    """A row as read, or the reason it could not be read.

    Attributes:
        position: Where the row is (``line 17``, ``row 17``), for people.
        data: The row's columns, or None when it could not be parsed.
        error: Why the row could not be used; a row with an error is
            quarantined, with whatever ``data`` could be read kept beside it.
    """

    position: str
    data: Mapping[str, Any] | None
    error: str | None = None


@dataclass
class ExtractResult:
    """What one source yielded: canonical rows per record type, and its health.

    Attributes:
        cursors: For incremental streams, the highest cursor value read.
        deleted: Keys of rows a soft-delete column marked deleted.
        scanned_keys: Every key of a stream whose keys were scanned this run.
    """

    source: str
    records: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    quarantine: list[QuarantinedRow] = field(default_factory=list)
    health: SourceHealth | None = None
    cursors: dict[str, Any] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    scanned_keys: dict[str, set[str]] = field(default_factory=dict)


def _jsonable_row(data: Mapping[str, Any] | None) -> dict[str, Any]:
    if not data:
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        out[str(key)] = value
    # Keep the raw row storable: json must accept it.
    json.dumps(out)
    return out


class Adapter(ABC):
    """Base class of every source adapter.

    Subclasses set ``kind`` and ``config_model`` and implement :meth:`read`.

    Args:
        name: The source's name in the configuration.
        config: The validated source configuration.
        base_dir: Folder that relative paths in the configuration refer to.
    """

    kind: ClassVar[str]
    config_model: ClassVar[type[SourceConfig]]

    def __init__(self, name: str, config: SourceConfig, base_dir: Path | None = None):
        self.name = name
        self.config = config
        self.base_dir = base_dir or Path.cwd()
        #: Cursor per record type of this extract (absent: read in full). An
        #: adapter that can filter at the source (SQL) reads only rows whose
        #: cursor column is at or after it; the base class filters the rest.
        self.since: dict[str, Any] = {}

    @abstractmethod
    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        """Yield every row of one stream, in source order.

        Raise :class:`~reconcile.errors.SourceError` when the source as a whole
        cannot be read (unreachable, missing file); yield a :class:`RawRow`
        with ``error`` for a single row that cannot be parsed.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once after :meth:`extract`."""

    @final
    def extract(
        self,
        since: Mapping[str, Any] | None = None,
        scan_keys: Collection[str] = (),
    ) -> ExtractResult:
        """Read, map and validate every stream; quarantine what cannot be used.

        Args:
            since: Cursor per record type: read only rows changed at or after it.
            scan_keys: Record types whose every key is read too (hard deletes).
        """
        started = time.perf_counter()
        result = ExtractResult(source=self.name)
        health = SourceHealth(source=self.name)
        self.since = dict(since or {})
        try:
            for record_type, stream in self.config.streams.items():
                used = self._extract_stream(record_type, stream, result, health)
                health.streams[record_type] = used
                if record_type in scan_keys and self.since.get(record_type) is not None:
                    result.scanned_keys[record_type] = self._scan_keys(record_type, stream)
        except SourceError as exc:
            health.healthy = False
            health.error = str(exc)
        except Exception as exc:  # an adapter bug or driver error fails the source, loudly
            health.healthy = False
            health.error = f"source {self.name!r}: {type(exc).__name__}: {exc}"
        finally:
            self.close()
        health.duration_s = round(time.perf_counter() - started, 3)
        if (
            health.healthy
            and health.rows_read
            and health.rows_quarantined / health.rows_read > self.config.max_quarantine_fraction
        ):
            health.healthy = False
            health.error = (
                f"source {self.name!r}: {health.rows_quarantined} of {health.rows_read} rows "
                f"quarantined, more than max_quarantine_fraction={self.config.max_quarantine_fraction}"
            )
        result.health = health
        return result

    def _extract_stream(
        self,
        record_type: str,
        stream: StreamConfig,
        result: ExtractResult,
        health: SourceHealth,
    ) -> int:
        model = record_model(record_type)
        mapper = RowMapper(model, stream.fields)
        key_field = model.key_field
        key_column = stream.key or mapper.column_of(key_field)
        out = result.records.setdefault(record_type, [])
        seen: dict[str, str] = {}
        used = 0

        def quarantine(raw: RawRow, row_label: str, field_name: str | None, reason: str) -> None:
            health.rows_quarantined += 1
            result.quarantine.append(
                QuarantinedRow(
                    source=self.name,
                    stream=record_type,
                    row=row_label,
                    field=field_name,
                    reason=reason,
                    raw=_jsonable_row(raw.data),
                )
            )

        cursor, since = stream.cursor, self.since.get(record_type)
        highest: Any = None
        key_mapper = RowMapper(model, {key_field: stream.fields[key_field]}) if key_field in stream.fields else None

        for raw in self.read(record_type, stream):
            if cursor is not None and raw.data is not None and raw.error is None:
                try:
                    position = coerce_cursor(raw.data.get(cursor.column), cursor)
                except (TypeError, ValueError, OverflowError) as exc:
                    position = None
                    health.rows_read += 1
                    quarantine(raw, raw.position, cursor.column, f"cursor column unreadable: {exc}")
                    continue
                if since is not None and position is not None and position < since:
                    health.rows_skipped += 1  # unchanged since the last run
                    continue
                if position is not None and (highest is None or position > highest):
                    highest = position
            health.rows_read += 1
            if raw.data is None or raw.error is not None:
                quarantine(raw, raw.position, None, raw.error or "row could not be read")
                continue
            if stream.deleted is not None and stream.deleted.is_deleted(raw.data.get(stream.deleted.column)):
                try:
                    deleted_key = str((key_mapper.map(raw.data) if key_mapper else {}).get(key_field))
                except MappingError as exc:
                    quarantine(raw, raw.position, exc.field, exc.reason)
                    continue
                if deleted_key in ("None", ""):
                    quarantine(raw, raw.position, key_field, "a deleted row without a key")
                    continue
                result.deleted.setdefault(record_type, set()).add(deleted_key)
                used += 1  # used: it deletes the record
                continue
            key_value = raw.data.get(key_column) if key_column else None
            label = (
                f"{raw.position} (key {str(key_value).strip()!r})"
                if key_value not in (None, "")
                else raw.position
            )
            try:
                mapped = mapper.map(raw.data)
                record = model.model_validate(mapped)
            except MappingError as exc:
                quarantine(raw, label, exc.field, exc.reason)
                continue
            except ValidationError as exc:
                first = exc.errors()[0]
                loc = ".".join(str(p) for p in first["loc"]) or None
                reason = first["msg"]
                if len(exc.errors()) > 1:
                    reason += f" (and {len(exc.errors()) - 1} more problem(s))"
                quarantine(raw, label, loc, reason)
                continue
            key = record.key()
            if key in seen:
                quarantine(
                    raw,
                    label,
                    key_field,
                    f"duplicate key {key!r}: already read at {seen[key]}",
                )
                continue
            seen[key] = raw.position
            out.append(record.model_dump())
            used += 1
        health.rows_used += used
        if highest is not None:
            result.cursors[record_type] = highest
        return used

    def _scan_keys(self, record_type: str, stream: StreamConfig) -> set[str]:
        """Every key of a stream, read in full (rows whose key cannot be mapped are left out)."""
        model = record_model(record_type)
        mapper = RowMapper(model, {model.key_field: stream.fields[model.key_field]})
        saved, self.since = self.since, {}
        keys: set[str] = set()
        try:
            for raw in self.read(record_type, stream):
                if raw.data is None or raw.error is not None:
                    continue
                if stream.deleted is not None and stream.deleted.is_deleted(raw.data.get(stream.deleted.column)):
                    continue
                try:
                    value = mapper.map(raw.data).get(model.key_field)
                except MappingError:
                    continue
                if value not in (None, ""):
                    keys.add(str(value))
        finally:
            self.since = saved
        return keys

    def resolve_path(self, path: str | Path) -> Path:
        """A configured path, relative to the configuration file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate)
