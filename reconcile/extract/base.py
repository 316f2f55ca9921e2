"""The adapter contract and the orchestration every adapter shares.

An adapter declares its ``kind``, its pydantic configuration model (with
``extra="forbid"`` and ``kind: Literal[...]``) and implements one generator,
:meth:`Adapter.read`, that yields the raw rows of one stream. An adapter that
can hand over rows in bulk also implements :meth:`Adapter.read_batches`.
Mapping, validation, quarantine and counting live in :meth:`Adapter.extract`,
which is final: every row read is either used or quarantined with a reason,
and ``rows_read == rows_used + rows_quarantined`` for every stream.

Batches are mapped and validated column by column. Any row the column checks
cannot vouch for (a value that does not convert, a missing required field, a
value the canonical model would change, a duplicate key) is processed again
on its own through :meth:`RowMapper.map` and the canonical model's pydantic
validation, which give the reason it is quarantined with. So the fast path
decides nothing the row-by-row path would decide differently.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import json
import logging
import re
import time
import types
import typing
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import (
    Callable,
    Collection,
    Iterable,
    Iterator,
    Mapping,
    MutableMapping,
    Sequence,
)
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, final

import annotated_types
import numpy as np
import pandas as pd
from pandas.core.dtypes.cast import maybe_convert_platform
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from reconcile.errors import ConfigError, SourceError
from reconcile.extract.mapping import (
    TRANSFORM_TYPES,
    ColumnSource,
    FieldSpec,
    MappingError,
    RowMapper,
)
from reconcile.incremental import CursorConfig, DeletedConfig, ScannedKeys, coerce_cursor
from reconcile.model import CanonicalRecord, record_model
from reconcile.results import QuarantinedRow, SourceHealth
from reconcile.secrets import redact, redact_value, secret_values

__all__ = [
    "Adapter",
    "ExtractResult",
    "RawRow",
    "RowBatch",
    "SourceConfig",
    "StreamConfig",
    "undecodable",
]

log = logging.getLogger("reconcile.extract")
_NONE_TYPE = type(None)


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
        max_quarantined: The source is unhealthy, and the run fails, when more
            than this many of its rows are quarantined (None: no limit).
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
    max_quarantined: int | None = Field(default=None, ge=0)
    min_rows_fraction: float | None = Field(default=0.5, ge=0.0, le=1.0)
    key_scan_every: int | None = Field(default=None, ge=1)

    # A password expanded from ${ENV} never shows when a config is printed.
    def __repr__(self) -> str:
        return redact(super().__repr__())

    def __str__(self) -> str:
        return redact(super().__str__())


@dataclass(frozen=True)
class RawRow:
    """A row as read, or the reason it could not be read.

    Attributes:
        position: Where the row is (``line 17``, ``row 17``), for people.
        data: The row's columns, or None when it could not be parsed.
        error: Why the row could not be used; a row with an error is
            quarantined, with whatever ``data`` could be read kept beside it.
        field: The column at fault, when the error is about one.
    """

    position: str
    data: Mapping[str, Any] | None
    error: str | None = None
    field: str | None = None


@dataclass
class RowBatch:
    """Rows read together, in source order, that all parsed.

    Attributes:
        columns: The column names, in the order of each row's values; None
            when ``rows`` holds one mapping per row instead.
        rows: One sequence of values per row (as a DB-API cursor returns
            them), or one mapping per row.
        positions: Each row's number, counted in ``unit`` (``row 17``,
            ``line 17``), or its whole label as a string.
        unit: What ``positions`` count.
    """

    columns: Sequence[str] | None
    rows: Sequence[Any]
    positions: Sequence[int] | Sequence[str]
    unit: str = "row"
    #: Row ``i`` as the source gave it, when the rows' tuples cannot say it
    #: exactly (a JSON line's keys: an absent key and a null are both None
    #: in a column). Used for quarantine entries and row-by-row checks.
    raw: Callable[[int], dict[str, Any]] | None = None

    @classmethod
    def from_arrow(cls, table: Any, positions: Sequence[int] | Sequence[str], unit: str = "row") -> RowBatch:
        """A batch read as a ``pyarrow.Table``: mapped column by column from the table.

        Its ``rows`` give the same tuples of Python values as a cursor would
        (made only when asked for).
        """
        from reconcile.extract._arrow import ArrowRows

        return cls(list(table.column_names), ArrowRows(table), positions, unit)

    def label(self, i: int) -> str:
        """Where row ``i`` of the batch is, for people."""
        position = self.positions[i]
        return position if isinstance(position, str) else f"{self.unit} {position}"

    def data(self, i: int) -> dict[str, Any]:
        """Row ``i`` as a mapping of column name to value."""
        if self.raw is not None:
            return self.raw(i)
        row = self.rows[i]
        if self.columns is None:
            return dict(row)
        return dict(zip(self.columns, row, strict=False))


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested object as one row: nested keys become dotted column names (``a.b``).

    The jsonl, http and parquet adapters read nested records this way, so a
    mapping names ``MailingAddress.city`` the same whatever the format.
    """
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = key if not prefix and type(key) is str else f"{prefix}{key}"
        if isinstance(item, dict):
            # One level down without a call (a JSON line's address, its account).
            for inner, nested in item.items():
                if isinstance(nested, dict):
                    out.update(flatten(nested, f"{name}.{inner}."))
                else:
                    out[f"{name}.{inner}"] = nested
        else:
            out[name] = item
    return out


def unbatch(items: Iterable[RowBatch | RawRow]) -> Iterator[RawRow]:
    """The rows of :meth:`Adapter.read_batches` one at a time, for an adapter that reads in bulk."""
    for item in items:
        if isinstance(item, RawRow):
            yield item
            continue
        for i in range(len(item.rows)):
            yield RawRow(position=item.label(i), data=item.data(i))


class _ColumnStore:
    """The canonical rows of one record type, column by column, in chunks as extracted.

    A batch's columns are kept as they are (no copy): lists, or object arrays
    for batches read as Arrow tables; a single row is appended to the last
    chunk (a new one after an array).
    """

    __slots__ = ("chunks", "rows")

    def __init__(self, names: Sequence[str]):
        self.chunks: dict[str, list[Any]] = {name: [] for name in names}
        self.rows = 0

    def add_columns(self, values: Mapping[str, Any], n: int) -> None:
        """Keep ``n`` rows given column by column; the lists (or arrays) are kept, not copied."""
        if not n:
            return
        for name, chunks in self.chunks.items():
            chunks.append(values[name])
        self.rows += n

    def add_row(self, row: Mapping[str, Any]) -> None:
        for name, chunks in self.chunks.items():
            if chunks and isinstance(chunks[-1], list):
                chunks[-1].append(row[name])
            else:
                chunks.append([row[name]])
        self.rows += 1

    def column(self, name: str) -> list[Any]:
        """A column as a list of Python values."""
        chunks = [c.tolist() if isinstance(c, np.ndarray) else c for c in self.chunks[name]]
        if len(chunks) == 1:
            return chunks[0]
        return list(itertools.chain.from_iterable(chunks))

    def array(self, name: str) -> np.ndarray[Any, Any]:
        """A column as an object array, filled chunk by chunk."""
        chunks = self.chunks[name]
        if len(chunks) == 1 and isinstance(chunks[0], np.ndarray):
            return chunks[0].copy()
        array = np.empty(self.rows, dtype=object)
        at = 0
        for chunk in chunks:
            if isinstance(chunk, np.ndarray):
                array[at : at + len(chunk)] = chunk
            else:
                array[at : at + len(chunk)] = np.fromiter(chunk, dtype=object, count=len(chunk))
            at += len(chunk)
        return array


class _Records(MutableMapping[str, list[dict[str, Any]]]):
    """``ExtractResult.records``: rows as dicts, made from the columns on first access."""

    def __init__(self, result: ExtractResult):
        self._result = result

    def __getitem__(self, record_type: str) -> list[dict[str, Any]]:
        result = self._result
        rows = result._rows.get(record_type)
        if rows is None:
            store = result._columns[record_type]  # KeyError for an unknown type, as a dict
            names = list(store.chunks)
            columns = [store.column(name) for name in names]
            rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]
            # From now on the list is the record type's rows: changes to it are kept.
            result._rows[record_type] = rows
            del result._columns[record_type]
        return rows

    def __setitem__(self, record_type: str, rows: list[dict[str, Any]]) -> None:
        result = self._result
        result._columns.pop(record_type, None)
        result._rows[record_type] = rows
        if record_type not in result._order:
            result._order.append(record_type)

    def __delitem__(self, record_type: str) -> None:
        result = self._result
        if record_type not in result._columns and record_type not in result._rows:
            raise KeyError(record_type)
        result._columns.pop(record_type, None)
        result._rows.pop(record_type, None)
        result._order.remove(record_type)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._result._order))

    def __len__(self) -> int:
        return len(self._result._order)


class ExtractResult:
    """What one source yielded: canonical rows per record type, and its health.

    Rows are kept column by column as they are extracted; :meth:`frame` gives
    a record type's rows as a DataFrame without making a dict per row, and
    :attr:`records` as one dict per row (every field of the type, as
    ``model_dump()`` gives it). Assigning ``records[type]`` replaces a type's rows.

    Args:
        source: The source's name.
        records: Canonical rows per record type.
        quarantine: Rows that could not be used.
        health: The source's health.

    Attributes:
        cursors: For incremental streams, the highest cursor value read.
        deleted: Keys of rows a soft-delete column marked deleted.
        scanned_keys: Every key of a stream whose keys were scanned this run
            (a set of text kept as Arrow text: :class:`~reconcile.incremental.ScannedKeys`).
    """

    def __init__(
        self,
        source: str,
        records: Mapping[str, list[dict[str, Any]]] | None = None,
        quarantine: list[QuarantinedRow] | None = None,
        health: SourceHealth | None = None,
    ):
        self.source = source
        self.quarantine: list[QuarantinedRow] = quarantine if quarantine is not None else []
        self.health = health
        self.cursors: dict[str, Any] = {}
        self.deleted: dict[str, set[str]] = {}
        self.scanned_keys: dict[str, ScannedKeys] = {}
        self._columns: dict[str, _ColumnStore] = {}
        self._rows: dict[str, list[dict[str, Any]]] = {}
        self._order: list[str] = []
        for record_type, rows in (records or {}).items():
            self.records[record_type] = list(rows)

    def __repr__(self) -> str:
        counts = {t: self.count(t) for t in self._order}
        return f"ExtractResult(source={self.source!r}, rows={counts}, quarantined={len(self.quarantine)})"

    @property
    def records(self) -> MutableMapping[str, list[dict[str, Any]]]:
        """Canonical rows per record type, one dict per row."""
        return _Records(self)

    @records.setter
    def records(self, value: Mapping[str, list[dict[str, Any]]]) -> None:
        self._columns.clear()
        self._rows.clear()
        self._order.clear()
        for record_type, rows in value.items():
            self.records[record_type] = list(rows)

    @property
    def record_types(self) -> list[str]:
        """The record types this source yielded, in the order they were read."""
        return list(self._order)

    def columns_of(self, record_type: str) -> _ColumnStore:
        """Where rows of ``record_type`` are kept while extracting."""
        store = self._columns.get(record_type)
        if store is None:
            if record_type in self._rows:
                raise RuntimeError(f"the {record_type} rows were already turned into dicts")
            store = _ColumnStore(list(record_model(record_type).model_fields))
            self._columns[record_type] = store
            self._order.append(record_type)
        return store

    def count(self, record_type: str) -> int:
        """How many rows of ``record_type`` there are."""
        if record_type in self._rows:
            return len(self._rows[record_type])
        store = self._columns.get(record_type)
        return store.rows if store is not None else 0

    def frame(self, record_type: str) -> pd.DataFrame:
        """The rows of ``record_type`` as a DataFrame with one column per canonical field.

        The same frame as ``pd.DataFrame.from_records(records[record_type],
        columns=fields)``, built from the columns directly.
        """
        model = record_model(record_type)
        names = list(model.model_fields)
        store = self._columns.get(record_type)
        if store is None:
            return pd.DataFrame.from_records(self._rows.get(record_type, []), columns=names)
        data: dict[str, Any] = {}
        for name, info in model.model_fields.items():
            simple = _simple_annotation(info.annotation)
            if store.rows and simple is not None and simple[0] in (str, dt.date):
                # Validated text and dates (or None) are objects: inference would only confirm it.
                data[name] = store.array(name)
            elif store.rows:
                # Bools, numbers, times: as inferred from records. A list's values would be
                # put into an object array and converted (then times inferred) by the frame:
                # the same steps on an array filled from the chunks, without the list.
                data[name] = maybe_convert_platform(store.array(name))
            else:
                data[name] = store.column(name)
        return pd.DataFrame(data, columns=names, copy=False)


_SURROGATE = re.compile("[\udc80-\udcff]+")


#: A UTF-16 surrogate in decoded text: JSON can write one alone (``"\\ud800"``), which is no Unicode text.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def lone_surrogate(data: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first column of a JSON row whose text holds a lone surrogate, with the reason; None if none does.

    The jsonl and http adapters quarantine such a row naming the column,
    whichever way it is mapped (a pair of escapes is one character and fine).
    """
    for key, item in data.items():
        for text in _texts(item):
            found = _LONE_SURROGATE.search(text)
            if found is not None:
                return key, f"column {key!r}: text holds a lone surrogate {found.group()!r}, which is not Unicode"
    return None


def _texts(value: Any) -> Iterator[str]:
    """The text in a JSON value (itself, or in the lists and objects it holds)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)


def undecodable(text: str, encoding: str) -> str | None:
    """What was wrong with ``text`` if it holds bytes that were not valid ``encoding``, else None.

    Adapters read such bytes as lone surrogates (``surrogateescape``), which
    no valid text contains, and quarantine the row with this reason.
    """
    found = _SURROGATE.search(text)
    if found is None:
        return None
    raw = found.group().encode("utf-8", "surrogateescape")
    return f"bytes {raw!r} are not valid {encoding} (set the stream's encoding)"


def _jsonable_row(data: Mapping[str, Any] | None) -> dict[str, Any]:
    if not data:
        return {}
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dt.date | dt.datetime):
            value = value.isoformat()
        elif isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif isinstance(value, float) and value != value:
            value = None
        elif isinstance(value, list | dict):
            try:
                json.dumps(value)
            except (TypeError, ValueError):
                value = str(value)
        elif not isinstance(value, str | int | float | bool | type(None)):
            value = str(value)
        if isinstance(value, str) and _SURROGATE.search(value):
            # Undecodable bytes (kept as surrogates) are stored as \\x escapes.
            value = value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        out[str(key)] = value
    # Keep the raw row storable: json must accept it.
    json.dumps(out)
    return redact_value(out) if secret_values() else out


# -- the column checks of the fast path -----------------------------------------

_SIMPLE_TYPES = (str, int, float, bool, dt.date, dt.datetime)
# Model settings the column checks reproduce (or that do not touch values).
_HARMLESS_CONFIG = {"extra", "str_strip_whitespace", "frozen", "title", "populate_by_name", "protected_namespaces"}


@dataclass
class _FieldCheck:
    """What the canonical model accepts unchanged in one field."""

    name: str
    py_type: type
    required: bool
    default: Any
    # Values a mapping can yield that no converter made (code table entries,
    # defaults), which the model would reject or change: their rows go the slow way.
    refused: set[int] = field(default_factory=set)


def _simple_annotation(annotation: Any) -> tuple[type, bool] | None:
    """``(type, nullable)`` for ``T`` or ``T | None`` with T a plain scalar type, else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not _NONE_TYPE]
        if len(args) != 1 or len(typing.get_args(annotation)) != 2:
            return None
        return (args[0], True) if args[0] in _SIMPLE_TYPES else None
    return (annotation, False) if annotation in _SIMPLE_TYPES else None


class _ColumnPlan:
    """How a batch of mapped columns is validated against a canonical model, or None if it cannot be."""

    def __init__(self, model: type[CanonicalRecord], mapper: RowMapper):
        self.model = model
        self.checks: dict[str, _FieldCheck] = {}
        self.fill: dict[str, Any] = {}
        self.ok = self._build(model, mapper)

    def _build(self, model: type[CanonicalRecord], mapper: RowMapper) -> bool:
        if set(model.model_config) - _HARMLESS_CONFIG:
            return False
        decorators = model.__pydantic_decorators__
        if decorators.validators or decorators.field_validators or decorators.model_validators:
            return False
        strip = bool(model.model_config.get("str_strip_whitespace"))
        mapped = {f.name: f for f in mapper.fields}
        for name, info in model.model_fields.items():
            simple = _simple_annotation(info.annotation)
            if simple is None:
                return False
            py_type, _nullable = simple
            for meta in info.metadata:
                # Converters yield stripped, non-empty strings: min_length 1 holds.
                if not (isinstance(meta, annotated_types.MinLen) and py_type is str and meta.min_length <= 1):
                    return False
            default = None if info.is_required() else info.get_default(call_default_factory=True)
            compiled = mapped.get(name)
            if compiled is None:
                if info.is_required():
                    return False
                self.fill[name] = default
                continue
            if compiled.table is None and TRANSFORM_TYPES[compiled.transform] is not py_type:
                return False  # the model would convert (or reject) every value: go row by row
            check = _FieldCheck(name, py_type, info.is_required(), default)
            annotation: Any = (
                typing.Annotated[info.annotation, *info.metadata] if info.metadata else info.annotation
            )
            adapter: TypeAdapter[Any] = TypeAdapter(annotation, config=ConfigDict(str_strip_whitespace=strip))
            for value in compiled.foreign_values:
                if value is None:
                    continue
                try:
                    accepted = adapter.validate_python(value)
                except ValidationError:
                    check.refused.add(id(value))
                    continue
                if type(accepted) is not type(value) or accepted != value:
                    check.refused.add(id(value))
            self.checks[name] = check
        return True

    def validate(
        self,
        values: dict[str, Any],
        with_none: set[str],
        n: int,
        none_masks: Mapping[str, np.ndarray[Any, Any]] | None = None,
    ) -> set[int]:
        """Fill defaults in place; return the rows the columns cannot vouch for.

        ``none_masks`` marks the Nones of the fields whose values are arrays
        (Arrow batches), so they are found without a look at every value.
        """
        bad: set[int] = set()
        masks = none_masks or {}
        for name, check in self.checks.items():
            column = values[name]
            if check.refused:
                refused = check.refused
                bad.update(i for i, v in enumerate(column) if id(v) in refused)
            if name in with_none:
                mask = masks.get(name)
                if check.required:
                    if mask is not None:
                        bad.update(np.flatnonzero(mask).tolist())
                    else:
                        bad.update(i for i, v in enumerate(column) if v is None)
                elif check.default is not None:
                    default = check.default
                    if mask is not None:
                        column[mask] = default
                    elif isinstance(column, np.ndarray):
                        values[name] = np.fromiter(
                            (default if v is None else v for v in column), dtype=object, count=len(column)
                        )
                    else:
                        values[name] = [default if v is None else v for v in column]
        for name, default in self.fill.items():
            values[name] = [default] * n
        return bad


# -- adapters -------------------------------------------------------------------


class Adapter(ABC):
    """Base class of every source adapter.

    Subclasses set ``kind`` and ``config_model`` and implement :meth:`read`
    (and, to hand over rows in bulk, :meth:`read_batches`).

    Args:
        name: The source's name in the configuration.
        config: The validated source configuration.
        base_dir: Folder that relative paths in the configuration refer to.
    """

    kind: ClassVar[str]
    config_model: ClassVar[type[SourceConfig]]
    #: Rows per batch when :meth:`read_batches` groups the rows of :meth:`read`.
    batch_size: ClassVar[int] = 2_000
    #: Map and validate batches column by column (False: every row on its
    #: own, the reference the column path is tested against).
    columnar: ClassVar[bool] = True
    #: Pause Python's cyclic garbage collector while :meth:`extract` reads.
    pause_gc: ClassVar[bool] = True
    #: An incremental read yields every row of the stream (a file: the cursor
    #: is checked after reading), so a key scan collects the keys in that same
    #: read instead of reading the stream again (with the columnar path, and
    #: when :meth:`key_scan_stream` gives the stream itself).
    reads_every_row: ClassVar[bool] = False

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

    def read_batches(self, record_type: str, stream: StreamConfig) -> Iterator[RowBatch | RawRow]:
        """Yield the rows of one stream in source order, in batches.

        Rows that could not be parsed come as :class:`RawRow` with ``error``.
        The default groups the rows of :meth:`read`; an adapter that reads
        rows in bulk (a DB-API cursor's ``fetchmany``) overrides it.
        """
        rows: list[Mapping[str, Any]] = []
        labels: list[str] = []
        for raw in self.read(record_type, stream):
            if raw.error is not None or raw.data is None:
                yield raw
                continue
            rows.append(raw.data)
            labels.append(raw.position)
            if len(rows) >= self.batch_size:
                yield RowBatch(None, rows, labels)
                rows, labels = [], []
        if rows:
            yield RowBatch(None, rows, labels)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; called once after :meth:`extract`."""

    def key_scan_stream(self, record_type: str, stream: StreamConfig) -> StreamConfig:
        """The stream a key scan reads: by default the stream itself.

        A key scan maps only the key field (and checks the soft-delete
        column), so an adapter that can read fewer columns (a SQL table)
        returns a stream that reads just those.
        """
        return stream

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
        # Reading allocates millions of short-lived containers (row tuples,
        # batch lists) in no reference cycle; the cyclic collector's passes over
        # the growing columns are pure cost (about a tenth of the time), so it
        # waits until the read is done.
        paused = self.pause_gc and gc.isenabled()
        if paused:
            gc.disable()
        try:
            for record_type, stream in self.config.streams.items():
                scan = record_type in scan_keys and self.since.get(record_type) is not None
                collector = None
                if scan and self.reads_every_row and self.columnar and self.key_scan_stream(record_type, stream) is stream:
                    collector = _KeyCollector(record_type, stream)
                used = _StreamExtraction(self, record_type, stream, result, health, collector).run()
                health.streams[record_type] = used
                if collector is not None:
                    result.scanned_keys[record_type] = collector.keys
                elif scan:
                    result.scanned_keys[record_type] = self._scan_keys(record_type, stream)
        except SourceError as exc:
            health.healthy = False
            health.error = str(exc)
        except ConfigError as exc:
            health.healthy = False
            health.error = f"source {self.name!r}: " + "; ".join(f"{loc}: {msg}" for loc, msg in exc.problems)
        except Exception as exc:  # an adapter bug or driver error fails the source, loudly
            health.healthy = False
            health.error = redact(f"source {self.name!r}: {type(exc).__name__}: {exc}")
        finally:
            if paused:
                gc.enable()
            self.close()
        health.duration_s = round(time.perf_counter() - started, 3)
        if health.healthy:
            health.error = self._too_many_quarantined(health)
            health.healthy = health.error is None
        result.health = health
        return result

    def _too_many_quarantined(self, health: SourceHealth) -> str | None:
        quarantined, read = health.rows_quarantined, health.rows_read
        if not read:
            return None
        share = f"{quarantined} of {read} rows quarantined ({quarantined / read:.1%})"
        limit = self.config.max_quarantined
        if limit is not None and quarantined > limit:
            return f"source {self.name!r}: {share}, more than max_quarantined={limit}"
        fraction = self.config.max_quarantine_fraction
        if quarantined / read > fraction:
            return f"source {self.name!r}: {share}, more than max_quarantine_fraction={fraction}"
        return None

    def _scan_keys(self, record_type: str, stream: StreamConfig) -> ScannedKeys:
        """Every key of a stream, read in full (rows whose key cannot be mapped are left out).

        Batches are read with :meth:`read_batches` and only the key column is
        mapped, column by column (``columnar = False``: row by row, through
        :meth:`read`, the reference). An adapter that ``reads_every_row``
        collects them while it reads the stream instead (the same
        :class:`_KeyCollector` on the same batches).
        """
        collector = _KeyCollector(record_type, self.key_scan_stream(record_type, stream))
        saved, self.since = self.since, {}
        try:
            if not self.columnar:
                for raw in self.read(record_type, collector.stream):
                    collector.row(raw)
                return collector.keys
            for item in self.read_batches(record_type, collector.stream):
                collector.add(item)
        finally:
            self.since = saved
        return collector.keys

    def resolve_path(self, path: str | Path) -> Path:
        """A configured path, relative to the configuration file's folder."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else (self.base_dir / candidate)


class _KeyCollector:
    """The keys a key scan finds in a stream's rows: mapped key values, less deleted rows and rows without one."""

    def __init__(self, record_type: str, stream: StreamConfig):
        model = record_model(record_type)
        self.stream = stream
        self.key_field = model.key_field
        self.mapper = RowMapper(model, {model.key_field: stream.fields[model.key_field]})
        self.deleted = _DeletedValues(stream.deleted) if stream.deleted is not None else None
        self.keys = ScannedKeys()

    def add(self, item: RowBatch | RawRow) -> None:
        """The keys of a batch (column by column) or of a row as read."""
        if isinstance(item, RawRow):
            self.row(item)
        else:
            self.batch(item)

    def row(self, raw: RawRow) -> None:
        """One row's key, unless it has none, cannot be read or is deleted (the reference)."""
        if raw.data is None or raw.error is not None:
            return
        deleted = self.deleted
        if deleted is not None and deleted.read(raw.data.get(deleted.deleted.column)):
            return
        try:
            value = self.mapper.map(raw.data).get(self.key_field)
        except MappingError:
            return
        if value not in (None, ""):
            self.keys.add(str(value))

    def batch(self, item: RowBatch) -> None:
        n = len(item.rows)
        if not n:
            return
        source = ColumnSource(item.columns, item.rows)
        if source.arrow is not None and self.arrow_batch(source):
            return
        values, failed, _ = self.mapper.map_columns(source, n)
        column = values[self.key_field]
        found = column.tolist() if isinstance(column, np.ndarray) else list(column)
        skip = set(failed)
        if self.deleted is not None:
            skip.update(np.flatnonzero(self.deleted_rows(source, n)).tolist())
        if skip:
            found = [value for i, value in enumerate(found) if i not in skip]
        if set(map(type, found)) <= {str}:
            # Text keys (the usual): added as they are, but the empty one (never a key).
            self.keys.update([value for value in found if value] if "" in found else found)
            return
        self.keys.update([str(value) for value in found if value is not None and value != ""])


    def arrow_batch(self, source: ColumnSource) -> bool:
        """:meth:`batch` of a key of plain text read as Arrow text: the keys stay Arrow text.

        No Python string is made for a key that cannot need stripping (see
        :func:`reconcile.extract._arrow.needs_python`): the column is
        filtered in Arrow (nulls, empty texts and deleted rows left out);
        the few others are mapped one by one, as :meth:`row` maps them.
        Returns False (nothing added) for any other key mapping or column.
        """
        key = self.mapper.fields[0]
        if not key.plain_text or len(key.columns) != 1 or key.default is not None:
            return False
        array = source.arrow_column(key.columns[0])
        if array is None:
            return False
        import pyarrow as pa

        from reconcile.extract import _arrow

        empty, flagged = _arrow.needs_python(array)
        keep = ~(empty | flagged)
        nulls = _arrow.null_mask(array)
        if nulls is not None:
            keep &= ~nulls
        if self.deleted is not None:
            deleted = self.deleted_rows(source, len(array))
            keep &= ~deleted
            flagged &= ~deleted
        self.keys.update_arrow(array if keep.all() else array.filter(pa.array(keep)))
        odd = np.flatnonzero(flagged)
        if len(odd):
            texts = [key.convert(value) for value in array.take(pa.array(odd)).to_pylist()]
            self.keys.update([text for text in texts if text is not None and text != ""])
        return True

    def deleted_rows(self, source: ColumnSource, n: int) -> np.ndarray:
        """Which rows the soft-delete column marks deleted (by distinct value for an Arrow column)."""
        deleted, config = self.deleted, self.stream.deleted
        assert deleted is not None and config is not None
        array = source.arrow_array(config.column)
        if array is not None:
            import pyarrow as pa

            from reconcile.extract import _arrow

            try:
                distinct, codes = _arrow.dictionary(array)
            except pa.ArrowException:  # a type Arrow cannot encode: value by value below
                pass
            else:
                flags = np.fromiter(map(deleted.read, distinct), dtype=bool, count=len(distinct))
                return np.append(flags, False)[codes]  # a null (the last code) is no delete
        return np.fromiter(map(deleted.read, source.each(config.column)), dtype=bool, count=n)


class _StreamExtraction:
    """Reads one stream and sorts every row into used or quarantined."""

    def __init__(
        self,
        adapter: Adapter,
        record_type: str,
        stream: StreamConfig,
        result: ExtractResult,
        health: SourceHealth,
        keys: _KeyCollector | None = None,
    ):
        self.adapter = adapter
        #: Collects every row's key as the stream is read (a key scan in the same read), or None.
        self.keys = keys
        self.record_type = record_type
        self.stream = stream
        self.result = result
        self.health = health
        self.model = record_model(record_type)
        self.mapper = RowMapper(self.model, stream.fields)
        self.plan = _ColumnPlan(self.model, self.mapper)
        self.key_field = self.model.key_field
        self.key_column = stream.key or self.mapper.column_of(self.key_field)
        self.out = result.columns_of(record_type)
        self.names = list(self.out.chunks)
        # The keys used so far, and where each was read.
        self.seen = _SeenKeys()
        self.unit = "row"
        self.used = 0
        # Incremental reading (see reconcile.incremental).
        self.cursor = stream.cursor
        self.since = adapter.since.get(record_type)
        self.highest: Any = None
        self.key_mapper = (
            RowMapper(self.model, {self.key_field: stream.fields[self.key_field]})
            if stream.deleted is not None and self.key_field in stream.fields
            else None
        )
        self.cursor_values = _CursorValues(stream.cursor) if stream.cursor is not None else None
        self.deleted_values = _DeletedValues(stream.deleted) if stream.deleted is not None else None

    def run(self) -> int:
        incremental = self.cursor is not None or self.stream.deleted is not None
        columnar = self.plan.ok and self.adapter.columnar
        for item in self.adapter.read_batches(self.record_type, self.stream):
            if self.keys is not None:
                self.keys.add(item)
            if isinstance(item, RawRow):
                self.one(item)
            elif not columnar:
                self.unit = item.unit
                for i in range(len(item.rows)):
                    self.one(RawRow(item.label(i), item.data(i)), item.positions[i])
            elif incremental:
                self.unit = item.unit
                self.incremental_batch(item)
            else:
                self.health.rows_read += len(item.rows)
                self.unit = item.unit
                self.batch(item)
        self.health.rows_used += self.used
        if self.highest is not None:
            self.result.cursors[self.record_type] = self.highest
        log.debug(
            "source %s, %s: %d used (%s)", self.adapter.name, self.record_type, self.used,
            "column by column" if columnar else "row by row",
        )
        return self.used

    def one(self, raw: RawRow, position: int | str | None = None) -> None:
        """One row as read: the cursor and soft-delete checks, then :meth:`row`."""
        cursor, health = self.cursor, self.health
        if cursor is not None and raw.data is not None and raw.error is None:
            try:
                at = coerce_cursor(raw.data.get(cursor.column), cursor)
            except (TypeError, ValueError, OverflowError) as exc:
                health.rows_read += 1
                self.quarantine(raw.data, raw.position, cursor.column, f"cursor column unreadable: {exc}")
                return
            if self.since is not None and at is not None and at < self.since:
                health.rows_skipped += 1  # unchanged since the last run
                return
            if at is not None and (self.highest is None or at > self.highest):
                self.highest = at
        health.rows_read += 1
        deleted = self.stream.deleted
        if (
            deleted is not None
            and raw.data is not None
            and raw.error is None
            and deleted.is_deleted(raw.data.get(deleted.column))
        ):
            self.soft_delete(raw.data, raw.position)
            return
        self.row(raw, position)

    def soft_delete(self, data: Mapping[str, Any], label: str) -> None:
        """A row its soft-delete column marks deleted: its key is recorded (the row is used), or it is quarantined."""
        try:
            key = str((self.key_mapper.map(data) if self.key_mapper else {}).get(self.key_field))
        except MappingError as exc:
            self.quarantine(data, label, exc.field, exc.reason)
            return
        if key in ("None", ""):
            self.quarantine(data, label, self.key_field, "a deleted row without a key")
            return
        self.result.deleted.setdefault(self.record_type, set()).add(key)
        self.used += 1  # used: it deletes the record

    # -- incremental streams, a batch at a time --

    def incremental_batch(self, batch: RowBatch) -> None:
        """:meth:`one` for every row of a batch, column by column.

        The cursor column is read once per distinct text, rows older than
        the stored cursor are skipped (counted in ``rows_skipped``), rows
        whose cursor cannot be read and soft-deleted rows are settled one by
        one, and the rest go through :meth:`batch`. Quarantine entries are
        listed in source order, as when reading row by row.
        """
        n = len(batch.rows)
        if not n:
            return
        health, cursor, deleted = self.health, self.cursor, self.stream.deleted
        source = ColumnSource(batch.columns, batch.rows)
        unreadable: dict[int, str] = {}
        rows: Sequence[int]
        if cursor is None:
            rows = range(n)
        else:
            kept: list[int] = []
            rows = kept
            since, highest = self.since, self.highest
            assert self.cursor_values is not None
            read = self.cursor_values.read
            skipped = 0
            texts = source.arrow_column(cursor.column)
            if texts is None:
                texts = _text_array(source, cursor)
            fast = _utc_seconds(texts, cursor, since)
            if fast is None:
                indexes: Sequence[int] = range(n)
                values: Iterable[Any] = source.each(cursor.column)
            else:
                # Most rows settled in Arrow (see _utc_seconds); the rest one by one, below.
                seconds, readable, older = fast
                fresh = readable & ~older
                skipped = int(np.count_nonzero(older))
                if fresh.any():
                    top = _EPOCH + dt.timedelta(seconds=int(seconds[fresh].max()))
                    if highest is None or top > highest:
                        highest = top
                slow = np.flatnonzero(~readable)
                indexes = slow.tolist()
                values = texts.take(slow).to_pylist() if len(slow) else []
                kept.extend(np.flatnonzero(fresh).tolist())
            for i, value in zip(indexes, values, strict=True):
                at = read(value)
                if type(at) is _Unreadable:
                    unreadable[i] = at.reason
                elif since is not None and at is not None and at < since:
                    skipped += 1  # unchanged since the last run
                    continue
                elif at is not None and (highest is None or at > highest):
                    highest = at
                kept.append(i)
            if fast is not None and indexes:
                kept.sort()
            health.rows_skipped += skipped
            self.highest = highest
        health.rows_read += len(rows)
        flags: list[bool] | None = None
        if deleted is not None:
            assert self.deleted_values is not None
            flags = list(map(self.deleted_values.read, source.each(deleted.column)))
        if not unreadable and (flags is None or not any(flags)):
            if len(rows) == n:
                self.batch(batch)
            elif rows:
                self.batch(_rows_of(batch, rows))
            return
        quarantine = self.result.quarantine
        # The quarantine entry of each row settled here, by row.
        settled: dict[int, QuarantinedRow] = {}
        rest: list[int] = []
        for i in rows:
            if i in unreadable:
                assert cursor is not None
                self.quarantine(batch.data(i), batch.label(i), cursor.column, f"cursor column unreadable: {unreadable[i]}")
                settled[i] = quarantine.pop()
            elif flags is not None and flags[i]:
                mark = len(quarantine)
                self.soft_delete(batch.data(i), batch.label(i))
                if len(quarantine) > mark:
                    settled[i] = quarantine.pop()
            else:
                rest.append(i)
        if rest:
            before = len(quarantine)
            dropped = self.batch(batch if len(rest) == n else _rows_of(batch, rest))
            for k, entry in zip(dropped, quarantine[before:], strict=True):
                settled[rest[k]] = entry
            del quarantine[before:]
        quarantine.extend(settled[i] for i in sorted(settled))

    # -- one row at a time (the reference) --

    def quarantine(self, data: Mapping[str, Any] | None, row_label: str, field_name: str | None, reason: str) -> None:
        self.health.rows_quarantined += 1
        self.result.quarantine.append(
            QuarantinedRow(
                source=self.adapter.name,
                stream=self.record_type,
                row=redact(row_label),
                field=field_name,
                reason=redact(reason),
                raw=_jsonable_row(data),
            )
        )

    def _where(self, position: int | str) -> str:
        return position if isinstance(position, str) else f"{self.unit} {position}"

    def _label(self, data: Mapping[str, Any], position: str) -> str:
        key_value = data.get(self.key_column) if self.key_column else None
        if key_value is None or (isinstance(key_value, str) and not key_value.strip()):
            return position
        return f"{position} (key {str(key_value).strip()!r})"

    def checked(self, raw: RawRow) -> dict[str, Any] | None:
        """One parsed row mapped and validated: its canonical values, or None once quarantined."""
        assert raw.data is not None
        try:
            record = self.model.model_validate(self.mapper.map(raw.data))
        except MappingError as exc:
            self.quarantine(raw.data, self._label(raw.data, raw.position), exc.field, exc.reason)
            return None
        except ValidationError as exc:
            errors = exc.errors()
            first = errors[0]
            loc = ".".join(str(p) for p in first["loc"]) or None
            reason = first["msg"]
            if len(errors) > 1:
                reason += f" (and {len(errors) - 1} more problem(s))"
            self.quarantine(raw.data, self._label(raw.data, raw.position), loc, reason)
            return None
        return record.model_dump()

    def duplicate(self, data: Mapping[str, Any], label: str, key: str, first: int | str | None = None) -> None:
        """Quarantine a row whose key was used already (at ``first``, or where the seen keys say)."""
        where = self.seen.position(key) if first is None else first
        self.quarantine(
            data, self._label(data, label), self.key_field,
            f"duplicate key {key!r}: already read at {self._where(where)}",
        )

    def row(self, raw: RawRow, position: int | str | None = None) -> None:
        """Map, validate and keep or quarantine one row."""
        if raw.data is None or raw.error is not None:
            # A row that parsed but holds a bad value names its key; a row that
            # did not parse is only where it is (its "key" may be any cell).
            label = raw.position if raw.data is None or raw.field is None else self._label(raw.data, raw.position)
            self.quarantine(raw.data, label, raw.field, raw.error or "row could not be read")
            return
        dumped = self.checked(raw)
        if dumped is None:
            return
        key = str(dumped[self.key_field])
        if key in self.seen:
            self.duplicate(raw.data, raw.position, key)
            return
        self.seen.add(key, raw.position if position is None else position)
        self.out.add_row(dumped)
        self.used += 1

    # -- a batch at a time --

    def batch(self, batch: RowBatch) -> list[int]:
        """Map and validate a batch column by column; rows the columns cannot vouch for go one by one.

        Returns the rows quarantined, in the order of their entries (source order).
        """
        n = len(batch.rows)
        if not n:
            return []
        none_masks: dict[str, np.ndarray[Any, Any]] = {}
        values, bad, with_none = self.mapper.map_columns(ColumnSource(batch.columns, batch.rows), n, none_masks)
        bad |= self.plan.validate(values, with_none, n, none_masks)
        positions = batch.positions
        dropped: list[int] = []
        quarantined_before = len(self.result.quarantine)
        # Whether a row maps and validates does not depend on the others, so
        # these rows are settled first; duplicates are decided below, in
        # source order, as when reading row by row.
        bad_keys: dict[int, Any] = {}
        markers: list[_Dropped] = []
        for i in sorted(bad):
            dumped = self.checked(RawRow(batch.label(i), batch.data(i)))
            if dumped is None:
                dropped.append(i)
                bad_keys[i] = marker = _Dropped()  # equal to no key: takes no part in the duplicate check
                markers.append(marker)
                continue
            for name in self.names:
                values[name][i] = dumped[name]
            bad_keys[i] = str(dumped[self.key_field])
        column = values[self.key_field]
        keys: list[Any] = column.tolist() if isinstance(column, np.ndarray) else list(column)
        for i, key in bad_keys.items():
            keys[i] = key
        for i, key, first in self.seen.add_batch(keys, positions, markers):
            self.duplicate(batch.data(i), batch.label(i), key, first)
            dropped.append(i)
        if dropped:
            if len(dropped) > 1:
                # Quarantined rows are listed in source order, duplicates among them.
                quarantine = self.result.quarantine
                entries = quarantine[quarantined_before:]
                ordered = sorted(zip(dropped, entries, strict=True), key=itemgetter(0))
                quarantine[quarantined_before:] = [entry for _, entry in ordered]
            gone = sorted(dropped, reverse=True)
            for name in self.names:
                column = values[name]
                if isinstance(column, np.ndarray):
                    values[name] = np.delete(column, gone)
                else:
                    for i in gone:
                        del column[i]
        self.out.add_columns(values, n - len(dropped))
        self.used += n - len(dropped)
        return sorted(dropped)


class _SeenKeys:
    """The keys of a stream's used rows, and where each was read.

    Keys are kept in a set; where one was read is looked up only for the
    message of a duplicate: in the batches' key lists at first, and through
    a key -> position index once duplicates turn out to be common.
    """

    __slots__ = ("_batches", "_index", "_lookups", "_repeated", "_single_keys", "_single_positions", "keys")

    #: Positions looked up in the key lists before an index is built.
    SCANS = 16

    def __init__(self) -> None:
        self.keys: set[Any] = set()
        self._batches: list[tuple[list[Any], Sequence[int | str]]] = []
        self._single_keys: list[Any] = []
        self._single_positions: list[int | str] = []
        self._batches.append((self._single_keys, self._single_positions))
        self._index: dict[Any, int | str] | None = None
        self._lookups = 0
        # Whether a batch repeated a key yet (until then add_batch looks at each key once).
        self._repeated = False

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def add(self, key: str, position: int | str) -> None:
        self.keys.add(key)
        self._single_keys.append(key)
        self._single_positions.append(position)
        if self._index is not None:
            self._index[key] = position

    def add_batch(
        self,
        keys: list[Any],
        positions: Sequence[int] | Sequence[str],
        dropped: list[Any],
    ) -> list[tuple[int, Any, int | str | None]]:
        """Add a batch's keys; return the rows that repeat a key read before, in source order.

        ``keys`` holds a :class:`_Dropped` for each row that is not used; they
        are given again in ``dropped``. Each repeat is returned as its index,
        its key and where the key was first read in this batch (None: in an
        earlier one); its entry in ``keys`` becomes a :class:`_Dropped` too.
        """
        seen = self.keys
        earlier: set[Any] = set()
        repeats = True
        if not self._repeated:
            # No key repeated so far: one pass adds them, and the set's growth tells whether
            # one repeats now (the set is as large as the keys of tens of millions of rows).
            before = len(seen)
            seen.update(keys)
            if len(seen) - before == len(keys):
                repeats = False
            else:
                # One does: the set as it was before this batch, from the batches' keys
                # (a dropped row's marker is in no set), then as below from now on.
                self._repeated = True
                seen.clear()
                for kept, _ in self._batches:
                    seen.update(key for key in kept if type(key) is not _Dropped)
        if repeats:
            if seen.isdisjoint(keys):
                before = len(seen)
                seen.update(keys)
                repeats = len(seen) - before != len(keys)
            else:
                earlier = seen.intersection(keys)
                seen.update(keys)
        found: list[tuple[int, Any, int | str | None]] = []
        if repeats:
            counts = Counter(keys)
            repeated = {key for key, count in counts.items() if count > 1} | earlier
            first_at: dict[Any, int | str] = {}
            for i, key in enumerate(keys):
                if key not in repeated:
                    continue
                if key in earlier or key in first_at:
                    found.append((i, key, first_at.get(key)))
                else:
                    first_at[key] = positions[i]
            for i, _, _ in found:
                keys[i] = marker = _Dropped()
                dropped.append(marker)
        if dropped:
            seen.difference_update(dropped)
        self._batches.append((keys, positions))
        if self._index is not None:
            self._index.update(zip(keys, positions, strict=True))
        return found

    def position(self, key: Any) -> int | str:
        """Where ``key`` was read."""
        if self._index is None:
            self._lookups += 1
            if self._lookups <= self.SCANS:
                for keys, positions in self._batches:
                    try:
                        return positions[keys.index(key)]
                    except ValueError:
                        continue
            self._index = {}
            for keys, positions in self._batches:
                self._index.update(zip(keys, positions, strict=True))
        return self._index[key]


class _Dropped:
    """Stands in for the key of a quarantined row: equal only to itself."""

    __slots__ = ()


def _rows_of(batch: RowBatch, indexes: Sequence[int]) -> RowBatch:
    """The rows ``indexes`` of a batch (in that order), where they were read."""
    from reconcile.extract._arrow import ArrowRows

    positions: list[Any] = [batch.positions[i] for i in indexes]
    rows = batch.rows
    if isinstance(rows, ArrowRows):
        import pyarrow as pa

        return RowBatch.from_arrow(rows.table.take(pa.array(indexes, type=pa.int64())), positions, batch.unit)
    return RowBatch(batch.columns, [rows[i] for i in indexes], positions, batch.unit)


@dataclass(frozen=True)
class _Unreadable:
    """A cursor value :func:`coerce_cursor` refused, and why."""

    reason: str


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

#: The one shape of cursor text settled in Arrow: UTC to the second, as change-tracking columns are often written.
_UTC_SECONDS_PATTERN = r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z$"


def _utc_seconds(array: Any, cursor: CursorConfig, since: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A text cursor column's values read in Arrow where :func:`coerce_cursor` would give the same.

    Returns each row's time in seconds since the epoch, whether the row was
    read so (its text is exactly ``YYYY-MM-DDTHH:MM:SSZ``, every field in its
    range and the day in its month (:func:`reconcile.extract._arrow.iso_seconds`),
    in the years 1900 to 9999: what ``fromisoformat`` reads as that UTC time),
    and whether it is older than ``since``. The other rows (null, other
    shapes, unreadable) are left to the caller, one by one. None: not a text
    column of timestamps without a format, or ``since`` is not a time with a zone.
    """
    if array is None or cursor.type != "timestamp" or cursor.format is not None:
        return None
    if since is not None and not (isinstance(since, dt.datetime) and since.utcoffset() is not None):
        return None
    from reconcile.extract._arrow import iso_seconds

    seconds, readable = iso_seconds(array, _UTC_SECONDS_PATTERN)
    readable &= (seconds >= _YEAR_1900) & (seconds < _YEAR_10000)
    if since is None:
        older = np.zeros(len(seconds), dtype=bool)
    else:
        # at < since, at whole seconds: at most since's whole second, less one unless since has a fraction.
        gap = since - _EPOCH
        whole = gap.days * 86_400 + gap.seconds
        older = readable & (seconds < whole + (1 if gap.microseconds else 0))
    return seconds, readable, older


def _text_array(source: ColumnSource, cursor: CursorConfig) -> Any:
    """A batch's cursor values as an Arrow text array when they are all text (or None), for :func:`_utc_seconds`.

    Rows read as Python values (a query through a DB-API cursor, JSON
    lines parsed one by one) hold their cursor text as ``str``: settled in
    Arrow like a batch read as Arrow (the rest, and every value of a batch
    holding anything but text, one by one). None: not a timestamp cursor
    without a format, something else than text, or no pyarrow.
    """
    if cursor.type != "timestamp" or cursor.format is not None:
        return None
    from reconcile.extract import _arrow

    values = source.values(cursor.column)
    if not values or not set(map(type, values)) <= {str, _NONE_TYPE} or not _arrow.available():
        return None
    import pyarrow as pa

    try:
        return pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):  # a lone surrogate (undecodable bytes kept as text)
        return None


_YEAR_1900 = int((dt.datetime(1900, 1, 1, tzinfo=dt.UTC) - _EPOCH).total_seconds())
_YEAR_10000 = int((dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC) - _EPOCH).total_seconds()) + 1


class _CursorValues:
    """:func:`coerce_cursor` of a stream's cursor values, remembered per distinct text."""

    #: Texts remembered at most (then forgotten, and remembered anew).
    LIMIT = 100_000

    def __init__(self, cursor: CursorConfig):
        self.cursor = cursor
        self.memo: dict[str, Any] = {}

    def read(self, value: Any) -> Any:
        """The cursor value of a raw value (None if missing), or an :class:`_Unreadable`."""
        text = type(value) is str
        if text:
            known = self.memo.get(value, _Unreadable)
            if known is not _Unreadable:
                return known
        try:
            at = coerce_cursor(value, self.cursor)
        except (TypeError, ValueError, OverflowError) as exc:
            at = _Unreadable(str(exc))
        if text:
            if len(self.memo) >= self.LIMIT:
                self.memo.clear()
            self.memo[value] = at
        return at


class _DeletedValues:
    """:meth:`DeletedConfig.is_deleted` of a stream's soft-delete values, remembered per distinct text."""

    def __init__(self, deleted: DeletedConfig):
        self.deleted = deleted
        self.memo: dict[str, bool] = {}

    def read(self, value: Any) -> bool:
        if value is None:
            return False
        if type(value) is not str:
            return self.deleted.is_deleted(value)
        known = self.memo.get(value)
        if known is None:
            if len(self.memo) >= _CursorValues.LIMIT:
                self.memo.clear()
            known = self.memo[value] = self.deleted.is_deleted(value)
        return known
