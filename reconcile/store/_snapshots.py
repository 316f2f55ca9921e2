"""Snapshots of incremental streams, kept column by column (Parquet parts).

A stream read incrementally keeps its canonical records as of the last
committed run, so rules see every record however few changed. At millions of
records a row per record (JSON) is too slow to read and write each night, so
a snapshot is kept as a few Parquet parts (``PART_ROWS`` records each, zstd)
in the store's ``snapshot_parts`` table, replaced whole in the run's own
transaction.

Reading a snapshot gives the canonical values back as Python objects and
builds the frame the way an extract does, so a record read from a snapshot
and the same record read from its source are the same in every column.
"""

from __future__ import annotations

import io
import json
import tempfile
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from reconcile.errors import StoreError
from reconcile.model import record_model
from reconcile.store import _schema as s

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported when a snapshot is read or written, not with the store:
# `import reconcile` and commands that touch no snapshot stay quick.

__all__ = [
    "DELTA_SHARE",
    "DERIVED_PREFIX",
    "EncodedSnapshot",
    "MAX_DELTAS",
    "MAX_DELTAS_MERGED_IN_PANDAS",
    "PART_ROWS",
    "SnapshotDelta",
    "SnapshotLayout",
    "Spill",
    "decode_parts",
    "encode_frame",
    "encode_parts",
    "frame_from_values",
    "read_frame",
    "read_records",
    "read_snapshot",
    "records_of",
    "snapshot_frame",
    "write_encoded",
    "write_frame",
]

#: Records per Parquet part (a part stays well under MariaDB's default 16 MB packet).
PART_ROWS = 50_000

# Schema metadata: columns whose values were kept as JSON text (mixed types),
# and the tag of the derived columns kept beside the canonical ones.
_JSON_COLUMNS = b"reconcile.json_columns"
_DERIVED_TAG = b"reconcile.derived"

#: Columns derived from a record that a snapshot may keep beside it (the
#: normalised ``_n_*`` columns), valid while their tag is unchanged.
DERIVED_PREFIX = "_n_"

# Schema metadata of a delta part: the run that wrote it and the keys it deletes.
_DELTA = b"reconcile.delta"

#: A snapshot keeps at most this many deltas after its whole parts; the next
#: committed run writes it whole again (compaction). Deltas are merged into
#: the whole parts in Arrow when read (:func:`_merged_in_arrow`): every column
#: taken once however many deltas there are, each delta a few lookups on the
#: keys (at 100,000 customers about 0.3 s of CPU over every stream for the
#: first, little for the next), against about 1.5 s for writing every
#: snapshot whole. When the parts do not allow it (columns kept as JSON
#: text, types that differ) deltas are merged in pandas, a merge of every
#: column each (about 0.7 s), and such a snapshot keeps at most one.
MAX_DELTAS = 6

#: Deltas a snapshot keeps when they are merged in pandas as it is read.
MAX_DELTAS_MERGED_IN_PANDAS = 1

#: ... and its deltas hold at most this share of its whole parts' records
#: (changed records and deleted keys), else it is written whole.
DELTA_SHARE = 0.2


@dataclass(frozen=True)
class SnapshotLayout:
    """How a stored snapshot is kept: whole parts, then deltas.

    Attributes:
        parts: Parts stored (0: none, or kept as JSON rows by an old release).
        base_rows: Records in its whole parts.
        deltas: Deltas stored after them.
        delta_rows: Changed records and deleted keys in those deltas.
        columns: The columns it was read with (canonical, and derived when
            they were kept under the tag asked for).
        in_arrow: Its deltas were merged in Arrow (else in pandas, or it has none).
        values: For each text or date column whose equal values were read
            as one object, those objects by value (a snapshot's changed
            records can take them: see :func:`reconcile.incremental.apply_snapshots`,
            which lets them go after its merge).
    """

    parts: int = 0
    base_rows: int = 0
    deltas: int = 0
    delta_rows: int = 0
    columns: tuple[str, ...] = ()
    in_arrow: bool = False
    values: Mapping[str, Mapping[Any, Any]] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class SnapshotDelta:
    """What a run changed in a snapshot it read: kept as a delta part when small.

    Attributes:
        positions: Rows of the run's merged frame that are its changed
            records, in the order they were merged (new ones last, in order).
        gone: Keys of the snapshot's records the run deleted.
        layout: How the snapshot it merged into was kept.
    """

    positions: np.ndarray
    gone: tuple[str, ...]
    layout: SnapshotLayout


def _column_array(values: pd.Series) -> tuple[pa.Array, bool]:
    """A column as an Arrow array; values of mixed types are kept as JSON text."""
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(values), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        text = [None if v is None or v != v else json.dumps(v, default=str) for v in values]
        return pa.array(text, type=pa.string()), True


def encode_parts(
    frame: pd.DataFrame, derived_tag: str | None = None, delta: Mapping[str, Any] | None = None
) -> list[bytes]:
    """A snapshot frame as Parquet parts of at most ``PART_ROWS`` records.

    ``derived_tag`` names how its derived (``_n_*``) columns were computed.
    With ``delta`` (``{"run": run id, "gone": [keys]}``) the parts are a
    delta: records replacing or added to those before, and keys deleted
    (listed in the first part only).
    """
    return [data for _, data in iter_parts(frame, None, derived_tag, delta)]


def iter_parts(
    frame: pd.DataFrame,
    names: Sequence[str] | None = None,
    derived_tag: str | None = None,
    delta: Mapping[str, Any] | None = None,
) -> Iterator[tuple[int, bytes]]:
    """:func:`encode_parts` one part at a time, as (records, Parquet bytes), of the columns ``names`` (default: all).

    The columns are taken a part at a time: no copy of the frame's columns
    (``frame[names]`` would copy every one, gigabytes at a million customers).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = list(frame.columns) if names is None else list(names)
    for start in range(0, max(len(frame), 1), PART_ROWS):
        chunk = frame.iloc[start : start + PART_ROWS]
        arrays, as_json = [], []
        for name in names:
            array, is_json = _column_array(chunk[name])
            arrays.append(array)
            if is_json:
                as_json.append(str(name))
        table = pa.Table.from_arrays(arrays, names=[str(name) for name in names])
        metadata = {_JSON_COLUMNS: json.dumps(as_json).encode()}
        if derived_tag is not None:
            metadata[_DERIVED_TAG] = derived_tag.encode()
        if delta is not None:
            metadata[_DELTA] = json.dumps({**delta, "gone": list(delta["gone"]) if start == 0 else []}).encode()
        table = table.replace_schema_metadata(metadata)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", write_statistics=False)  # never filtered on: no min/max to compute
        yield len(chunk), sink.getvalue()


def _tables(
    parts: Iterable[bytes], columns: Collection[str] | None = None
) -> Iterable[tuple[pa.Table, set[str], str | None]]:
    """Each part as an Arrow table (only ``columns``, when given), its JSON-text columns and its derived tag."""
    for table, as_json, tag, _ in map(lambda data: _read_part(data, columns), parts):
        yield table, as_json, tag


def _read_part(
    data: bytes, columns: Collection[str] | None = None, plain: Collection[str] | None = None
) -> tuple[pa.Table, set[str], str | None, dict[str, Any] | None]:
    """A part as an Arrow table, its JSON-text columns, its derived tag and its delta (None: a whole part).

    With ``plain`` (the columns to read as they are), every other text column
    is read as a dictionary array: as Parquet keeps it, each distinct text
    once and a number per record (see :func:`_frame_of`).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if columns is None and plain is None:
        table = pq.read_table(io.BytesIO(data))
    else:
        schema = pq.read_schema(io.BytesIO(data))
        names = None if columns is None else [name for name in columns if name in set(schema.names)]
        coded = None
        if plain is not None:
            coded = [
                kind.name for kind in schema
                if pa.types.is_string(kind.type) and kind.name not in plain and (names is None or kind.name in names)
            ]
        table = pq.read_table(io.BytesIO(data), columns=names, read_dictionary=coded or None)
    metadata = table.schema.metadata or {}
    tag = metadata.get(_DERIVED_TAG)
    delta = metadata.get(_DELTA)
    return (
        table,
        set(json.loads(metadata.get(_JSON_COLUMNS, b"[]"))),
        None if tag is None else tag.decode(),
        None if delta is None else json.loads(delta),
    )


def _assemble(
    record_type: str,
    parts: Iterable[bytes],
    derived_tag: str | None = None,
    columns: Collection[str] | None = None,
    keys: Collection[str] | None = None,
) -> tuple[pd.DataFrame, SnapshotLayout]:
    """A snapshot's frame from its whole parts and its deltas, each merged in the order written.

    A delta is merged as the run that wrote it merged its changes
    (:func:`reconcile.incremental.merge_changes`), so the frame is the one
    that run kept. With ``keys``, only those keys' records are read.
    """
    from reconcile.incremental import merge_changes

    key_field = record_model(record_type).key_field
    # Text read as Parquet keeps it (dictionaries), but for the key, which the merges look up,
    # and when only some keys are read (filtered first).
    read = [_read_part(data, columns, plain=None if keys is not None else (key_field,)) for data in parts]
    tags = {tag for _, _, tag, _ in read}
    tag = derived_tag if derived_tag is not None and tags == {derived_tag} else None
    base: list[tuple[pa.Table, set[str], str | None]] = []
    deltas: list[tuple[Any, list[str], list[tuple[pa.Table, set[str], str | None]]]] = []
    for table, as_json, part_tag, delta in read:
        if delta is None and not deltas:
            base.append((table, as_json, part_tag))
        elif delta is not None and deltas and deltas[-1][0] == delta.get("run"):
            deltas[-1][2].append((table, as_json, part_tag))
        elif delta is not None:
            deltas.append((delta.get("run"), list(delta.get("gone", [])), [(table, as_json, part_tag)]))
        else:
            raise ValueError(f"snapshot of {record_type}: a whole part after a delta")
    if deltas and keys is None:
        merged = _merged_in_arrow(key_field, base, deltas)
        if merged is not None:
            values: dict[str, dict[Any, Any]] = {}
            tables, rows = merged
            frame = _frame_of(record_type, [(table, set(), tag) for table in tables], tag, values, rows)
            return frame, _layout(read, base, deltas, frame, in_arrow=True, values=values)
    with_nulls = _integers_with_nulls(table for table, _, _, _ in read)

    def frame_of(
        tables: list[tuple[pa.Table, set[str], str | None]], values: dict[str, dict[Any, Any]] | None = None
    ) -> pd.DataFrame:
        if keys is not None:
            tables = _rows_of_keys(tables, key_field, keys, with_nulls)
        return _frame_of(record_type, tables, tag, values)

    shared: dict[str, dict[Any, Any]] = {}
    frame = frame_of(base, None if deltas else shared)
    for _, gone, tables in deltas:
        frame = merge_changes(record_type, frame, frame_of(tables), set(gone))
    if deltas:
        _settle(frame)
    return frame, _layout(read, base, deltas, frame, values=shared)


def _layout(
    read: list[Any],
    base: list[Any],
    deltas: list[Any],
    frame: pd.DataFrame,
    in_arrow: bool = False,
    values: Mapping[str, Mapping[Any, Any]] | None = None,
) -> SnapshotLayout:
    return SnapshotLayout(
        values=values or {},
        in_arrow=in_arrow,
        parts=len(read),
        base_rows=sum(table.num_rows for table, _, _ in base),
        deltas=len(deltas),
        delta_rows=sum(len(gone) + sum(table.num_rows for table, _, _ in tables) for _, gone, tables in deltas),
        columns=tuple(str(name) for name in frame.columns),
    )


def _merged_in_arrow(
    key_field: str,
    base: list[tuple[pa.Table, set[str], str | None]],
    deltas: list[tuple[Any, list[str], list[tuple[pa.Table, set[str], str | None]]]],
) -> tuple[list[pa.Table], np.ndarray] | None:
    """The whole parts with every delta merged in, found in Arrow, before any value becomes a Python object.

    The parts (of one schema) and the rows of them all, one after another,
    that make the merged snapshot: row for row what
    :func:`reconcile.incremental.merge_changes` gives for each delta in turn
    (deleted keys out, changed records in their place, new ones after); the
    rows are found on the key columns, so a delta costs a few key lookups,
    not a merge of every column. The parts' rows taken read into pandas as
    the merged frame written whole would (:func:`_assemble` of its parts;
    :func:`_frame_of` takes each column once), so no merge in pandas and no
    :func:`_settle` after. None (merge in pandas) unless the parts agree:
    the same columns, none kept as JSON text, one type per column (a column
    with no value at all may stand for text, booleans or dates, which read
    into pandas as objects either way), and text keys without a missing one.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    parts = [table for table, _, _ in base] + [table for _, _, tables in deltas for table, _, _ in tables]
    if any(as_json for _, as_json, _ in base) or any(as_json for _, _, tables in deltas for _, as_json, _ in tables):
        return None
    names = parts[0].column_names
    if any(table.column_names != names for table in parts) or names.count(key_field) != 1 or len(set(names)) != len(names):
        return None
    types = []
    for i in range(len(names)):
        found = {table.schema.field(i).type for table in parts}
        if len(found) > 1 and pa.null() in found:
            found.discard(pa.null())
            if len(found) == 1 and not _null_reads_alike(next(iter(found))):
                return None
        if len(found) != 1:
            return None
        types.append(found.pop())
    schema = pa.schema([pa.field(name, kind) for name, kind in zip(names, types, strict=True)])
    if not pa.types.is_string(schema.field(key_field).type):
        return None
    tables = []
    for table in parts:
        table = table.replace_schema_metadata(None)
        tables.append(table if table.schema.equals(schema) else table.cast(schema))
    if any(table.column(key_field).null_count for table in tables):
        return None

    def keys_of(some: list[pa.Table]) -> pa.Array:
        chunks = [chunk for table in some for chunk in table.column(key_field).chunks]
        return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())

    count = len(base)
    keys = keys_of(tables[:count])
    rows = np.arange(len(keys), dtype=np.int64)  # the merged rows, as rows of all the parts one after another
    offset = len(keys)
    for _, gone, delta_tables in deltas:
        changed = tables[count : count + len(delta_tables)]
        count += len(delta_tables)
        changed_keys = keys_of(changed)
        deleted = pa.array(sorted(gone), type=pa.string())
        keep = ~np.asarray(pc.is_in(keys, value_set=deleted).to_numpy(zero_copy_only=False), dtype=bool)
        fresh = np.flatnonzero(~np.asarray(pc.is_in(changed_keys, value_set=deleted).to_numpy(zero_copy_only=False), dtype=bool))
        fresh_keys = changed_keys.take(pa.array(fresh, type=pa.int64()))
        if len(pc.unique(fresh_keys)) != len(fresh_keys):
            return None
        kept = np.flatnonzero(keep)
        # As incremental._merge: where each kept record's key is among the changed ones (-1: it is not) ...
        hit = np.asarray(
            pc.index_in(keys.take(pa.array(kept, type=pa.int64())), value_set=fresh_keys)
            .fill_null(-1).to_numpy(zero_copy_only=False),
            dtype=np.int64,
        )
        replaced = hit >= 0
        # ... and the place of each changed record: its record's, or after them all.
        at = np.full(len(fresh), np.nan)
        at[hit[replaced]] = np.flatnonzero(replaced)
        new = np.isnan(at)
        at[new] = len(kept) + np.arange(int(new.sum()))
        order = np.concatenate([np.flatnonzero(~replaced).astype(float), at])
        local = np.concatenate([kept[~replaced], len(keys) + fresh])[np.argsort(order, kind="stable")]
        rows = np.concatenate([rows, offset + np.arange(len(changed_keys), dtype=np.int64)])[local]
        keys = pa.concat_arrays([keys, changed_keys]).take(pa.array(local, type=pa.int64()))
        offset += len(changed_keys)
    return tables, rows


def _null_reads_alike(kind: pa.DataType) -> bool:
    """Whether a column of this type with missing values reads into pandas as a column of no value at all does: objects, None where missing."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type  # text read as a dictionary: objects too
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_boolean(kind)
                or pa.types.is_date(kind))


def decode_parts(parts: Iterable[bytes]) -> dict[str, list[Any]]:
    """The columns of a snapshot's parts, as lists of Python values, in part order.

    Part by part: a delta's records come after the others, not merged in
    (:func:`snapshot_frame` merges them).
    """
    columns: dict[str, list[Any]] = {}
    for table, as_json, _ in _tables(parts):
        for name in table.column_names:
            values = table.column(name).to_pylist()
            if name in as_json:
                values = [None if v is None else json.loads(v) for v in values]
            columns.setdefault(name, []).extend(values)
    return columns


def frame_from_values(record_type: str, columns: dict[str, list[Any]]) -> pd.DataFrame:
    """The frame an extract of these canonical values would give (the reference, row by row)."""
    from reconcile.extract.base import ExtractResult

    names = list(record_model(record_type).model_fields)
    rows = len(next(iter(columns.values()))) if columns else 0
    values = {name: columns.get(name, [None] * rows) for name in names}
    result = ExtractResult("snapshot")
    result.columns_of(record_type).add_columns(values, rows)
    return result.frame(record_type)


def snapshot_frame(record_type: str, parts: Iterable[bytes], derived_tag: str | None = None) -> pd.DataFrame:
    """A snapshot's parts as the frame an extract of the same records gives.

    Column by column in Arrow (no Python object per value except text and
    dates, which an extract keeps as objects too); equal to
    :func:`frame_from_values` of :func:`decode_parts` (a property test says so).
    The derived (``_n_*``) columns come too when they were kept with
    ``derived_tag`` in every part. Deltas are merged into the whole parts
    before them, in the order they were written.
    """
    return _assemble(record_type, parts, derived_tag)[0]


#: What pandas infers for object columns a round trip through Arrow leaves as objects.
_OBJECTS_STAY = frozenset({"string", "empty", "date", "bytes"})


def _settle(frame: pd.DataFrame) -> None:
    """Give object columns the dtype they would have if the frame had been written whole and read back.

    A merge keeps the dtype of the columns it merges, and a column can
    outlive what made it objects: booleans, say, whose one missing value was
    deleted by a later delta, stay objects where written whole they would
    come back as booleans. Only object columns holding other than text and
    dates (told by pandas' inference, in C) go through Arrow again.
    """
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or pd.api.types.infer_dtype(column, skipna=True) in _OBJECTS_STAY:
            continue
        array, is_json = _column_array(column)
        if is_json:
            values: Any = [None if v is None else json.loads(v) for v in array.to_pylist()]
            frame[name] = pd.Series(values, index=frame.index, dtype=object)
        else:
            settled = array.to_pandas(date_as_object=True)
            settled.index = frame.index
            if isinstance(settled.dtype, pd.DatetimeTZDtype) and settled.dtype.unit != "ns":
                settled = settled.astype(pd.DatetimeTZDtype("ns", settled.dtype.tz))
            frame[name] = settled


def _frame_of(
    record_type: str,
    tables: Iterable[tuple[pa.Table, set[str], str | None]],
    derived_tag: str | None = None,
    values: dict[str, dict[Any, Any]] | None = None,
    take: np.ndarray | None = None,
) -> pd.DataFrame:
    """:func:`snapshot_frame` of parts already read as Arrow tables (see :func:`_tables`).

    With ``take``, the frame of those rows of the parts, one after another
    (the parts have one schema): each column of objects is taken once made,
    any other in Arrow, before pandas (so a column reads as the taken rows
    alone would: integers without a missing value stay integers).

    Column by column: a column of text (or dates) becomes its distinct
    values as objects, each once, and a ``take`` of them: a dictionary
    column (:func:`_read_part`) as Parquet kept it, whose values are made
    once for the column (and not again for each part) when they repeat; a
    plain text column value by value. The frame is the one
    :func:`_frame_by_parts` gives (pandas of each part, concatenated; a
    property test says so), which also reads parts with columns kept as
    JSON text or not the same columns in every part. Each text or date
    column whose equal values are one object gives them by value in
    ``values``, when it is given.
    """
    import pyarrow as pa

    tables = list(tables)
    if (
        not tables
        or any(as_json for _, as_json, _ in tables)
        or len({tuple(table.column_names) for table, _, _ in tables}) != 1
        or len(set(tables[0][0].column_names)) != tables[0][0].num_columns
    ):
        if take is not None:
            raise ValueError("rows are taken from parts of one schema only")
        return _frame_by_parts(record_type, tables, derived_tag)
    names = list(record_model(record_type).model_fields)
    present = tables[0][0].column_names
    if derived_tag is not None and {tag for _, _, tag in tables} == {derived_tag}:
        names += [c for c in present if str(c).startswith(DERIVED_PREFIX)]
    rows = sum(table.num_rows for table, _, _ in tables)
    index = pd.RangeIndex(rows if take is None else len(take))
    data: dict[str, pd.Series] = {}
    for name in names:
        if name not in present:
            data[name] = pd.Series(np.full(len(index), None, dtype=object), index=index, dtype=object)
            continue
        kinds = {table.schema.field(name).type for table, _, _ in tables}
        chunks = [chunk for table, _, _ in tables for chunk in table.column(name).chunks]
        if all(_as_objects(kind) for kind in kinds):
            objects, shared = _objects(chunks, rows, take)
            if values is not None and shared is not None:
                values[name] = shared
            data[name] = pd.Series(objects, index=index, dtype=object, copy=False)
            continue
        if take is not None:
            column = pa.chunked_array(chunks, type=next(iter(kinds))).take(pa.array(take, type=pa.int64()))
            column = column.to_pandas(date_as_object=True)
        elif len(kinds) == 1:
            column = pa.chunked_array(chunks, type=next(iter(kinds))).to_pandas(date_as_object=True)
        else:
            # As frames (not series) are concatenated: their rules for a part of missing values differ.
            column = pd.concat(
                [table.select([name]).to_pandas(date_as_object=True) for table, _, _ in tables], ignore_index=True
            )[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) and column.dtype.unit != "ns":
            column = column.astype(pd.DatetimeTZDtype("ns", column.dtype.tz))
        data[name] = column
    return pd.DataFrame(data, index=index, columns=names, copy=False)


def _as_objects(kind: pa.DataType) -> bool:
    """Whether a column of this type reads into pandas as objects that :func:`_objects` makes: text, dates, nothing."""
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        return bool(pa.types.is_string(kind.value_type))
    return bool(pa.types.is_string(kind) or pa.types.is_null(kind) or kind == pa.date32())


#: A column's values are made once for the column (shared between parts) when its parts
#: hold at most this share of distinct values: for text that hardly repeats, a lookup
#: per value would cost more than it saves.
_SHARED_SHARE = 0.75


def _objects(
    chunks: list[pa.Array], rows: int, take: np.ndarray | None = None
) -> tuple[np.ndarray, dict[Any, Any] | None]:
    """Text (dictionary or plain), date and null chunks as one array of objects, None where missing.

    What pandas makes of them (``to_pandas(date_as_object=True)``), value
    for value; with ``take``, those rows of them. Each value of a dictionary
    (dates: of their distinct values) is made once and every row takes its
    own: one ``take`` of objects per column, by numbers worked out first.
    When the dictionaries hold few distinct values for the rows, they are
    first made one dictionary in Arrow, so equal values are one object
    across the chunks, given back by value (else None, as for plain text,
    made value by value).
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    coded = [pc.dictionary_encode(chunk) if pa.types.is_date(chunk.type) else chunk for chunk in chunks]
    dictionaries = [chunk for chunk in coded if pa.types.is_dictionary(chunk.type)]
    share = (
        not any(pa.types.is_string(chunk.type) for chunk in coded)
        and len({chunk.type for chunk in dictionaries}) <= 1
        and sum(len(chunk.dictionary) for chunk in dictionaries) <= _SHARED_SHARE * rows
    )
    if share and len(dictionaries) > 1:
        unified = iter(pa.chunked_array(dictionaries).unify_dictionaries().chunks)
        coded = [next(unified) if pa.types.is_dictionary(chunk.type) else chunk for chunk in coded]
    pieces: list[np.ndarray] = [np.array([None], dtype=object)]  # number 0: None
    size = 1
    codes = np.zeros(rows, dtype=np.intp)
    made: tuple[Any, int] | None = None  # the last dictionary, and the number of its first value
    at = 0
    for chunk in coded:
        n = len(chunk)
        if pa.types.is_dictionary(chunk.type):
            dictionary = chunk.dictionary
            same = tuple(
                (buffer.address, buffer.size) if buffer is not None else None for buffer in dictionary.buffers()
            ) + (dictionary.offset, len(dictionary))
            if made is None or made[0] != same:
                if pa.types.is_date(dictionary.type):
                    pieces.append(np.array(dictionary.to_pylist(), dtype=object))
                else:
                    pieces.append(np.asarray(dictionary.to_numpy(zero_copy_only=False), dtype=object))
                made = (same, size)
                size += len(dictionary)
            indices = chunk.indices
            if indices.null_count:
                indices = indices.fill_null(-made[1])  # number 0 once the first value's is added
            codes[at : at + n] = indices.to_numpy()
            codes[at : at + n] += made[1]
        elif pa.types.is_string(chunk.type):
            pieces.append(np.asarray(chunk.to_numpy(zero_copy_only=False), dtype=object))
            codes[at : at + n] = np.arange(size, size + n)
            size += n
        at += n
    objects = np.concatenate(pieces) if len(pieces) > 1 else pieces[0]
    out = objects.take(codes if take is None else codes[take])
    shared = None
    if share:
        distinct = objects[1:].tolist()
        shared = dict(zip(distinct, distinct, strict=True))
    return out, shared


def _frame_by_parts(
    record_type: str, tables: Iterable[tuple[pa.Table, set[str], str | None]], derived_tag: str | None = None
) -> pd.DataFrame:
    """:func:`_frame_of` part by part: each part into pandas, concatenated (the reference)."""
    names = list(record_model(record_type).model_fields)
    frames = []
    tags = set()
    for table, as_json, tag in tables:
        tags.add(tag)
        frame = _plain(table).to_pandas(date_as_object=True, types_mapper=None)
        for name in as_json:
            frame[name] = [None if v is None else json.loads(v) for v in table.column(name).to_pylist()]
        frames.append(frame)
    if not frames:
        return frame_from_values(record_type, {})
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    for name in names:
        if name not in frame.columns:
            frame[name] = None
            continue
        column = frame[name]
        if isinstance(column.dtype, pd.DatetimeTZDtype) and column.dtype.unit != "ns":
            frame[name] = column.astype(pd.DatetimeTZDtype("ns", column.dtype.tz))
    if derived_tag is not None and tags == {derived_tag}:
        names += [c for c in frame.columns if str(c).startswith(DERIVED_PREFIX)]
    return frame[names]


def _plain(table: pa.Table) -> pa.Table:
    """The table with its dictionary columns (see :func:`_read_part`) as plain columns of their values."""
    import pyarrow as pa

    if not any(pa.types.is_dictionary(kind) for kind in table.schema.types):
        return table
    schema = pa.schema(
        [kind.with_type(kind.type.value_type) if pa.types.is_dictionary(kind.type) else kind for kind in table.schema],
        metadata=table.schema.metadata,
    )
    return table.cast(schema)


def records_of(frame: pd.DataFrame, key_field: str) -> dict[str, dict[str, Any]]:
    """A snapshot frame as JSON-safe records by key (as the store's rows held them)."""
    out: dict[str, dict[str, Any]] = {}
    names = list(frame.columns)
    for row in frame.itertuples(index=False, name=None):
        record = {}
        for name, value in zip(names, row, strict=True):
            if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
                value = None
            elif hasattr(value, "isoformat"):
                value = value.isoformat()
            elif hasattr(value, "item"):  # numpy scalars
                value = value.item()
            record[name] = value
        out[str(record[key_field])] = record
    return out


# ---------------------------------------------------------------- in the store


def read_parts(conn: sa.Connection, source: str, record_type: str) -> list[bytes]:
    """The Parquet parts of a stream's snapshot, in order (empty: none kept this way)."""
    parts = s.snapshot_parts
    rows = conn.execute(
        sa.select(parts.c.data)
        .where((parts.c.source == source) & (parts.c.record_type == record_type))
        .order_by(parts.c.part)
    ).all()
    return [bytes(row.data) for row in rows]


def read_frame(
    conn: sa.Connection, source: str, record_type: str, derived_tag: str | None = None
) -> pd.DataFrame:
    """A stream's snapshot as the frame its extract would give (empty if none is kept).

    With ``derived_tag``, the derived columns kept under that tag come too.
    Snapshots kept by a release before revision 0005 (a JSON row per record)
    are read too, until the next committed run rewrites them as parts.
    """
    return read_snapshot(conn, source, record_type, derived_tag)[0]


def read_snapshot(
    conn: sa.Connection, source: str, record_type: str, derived_tag: str | None = None
) -> tuple[pd.DataFrame, SnapshotLayout]:
    """:func:`read_frame`, and how the snapshot is kept (for :func:`write_frame`'s delta)."""
    parts = read_parts(conn, source, record_type)
    if parts:
        return _assemble(record_type, parts, derived_tag)
    model = record_model(record_type)
    snap = s.snapshots
    rows = conn.execute(
        sa.select(snap.c.data).where((snap.c.source == source) & (snap.c.record_type == record_type))
    ).all()
    records = [model.model_validate(row.data).model_dump() for row in rows]
    names = list(model.model_fields)
    return frame_from_values(record_type, {name: [r[name] for r in records] for name in names}), SnapshotLayout()


def write_frame(
    conn: sa.Connection,
    run_id: int,
    source: str,
    record_type: str,
    frame: pd.DataFrame,
    derived_tag: str | None = None,
    delta: SnapshotDelta | None = None,
) -> None:
    """Replace a stream's snapshot with ``frame``, in the caller's transaction.

    The canonical columns are kept, and the derived (``_n_*``) columns with
    ``derived_tag`` when one is given. With ``delta`` (how ``frame`` differs
    from the snapshot kept), only the changed records and deleted keys are
    appended as a delta part, while the snapshot's deltas stay few and small
    (``MAX_DELTAS``, ``DELTA_SHARE``) and it was read with the same columns;
    else it is written whole.
    """
    whole, first, parts = _planned(conn, run_id, source, record_type, frame, derived_tag, delta)
    _insert_parts(conn, run_id, source, record_type, whole, first, parts)


@dataclass(frozen=True)
class EncodedSnapshot:
    """A stream's snapshot encoded ahead of the commit (:func:`encode_frame`); its parts wait in a :class:`Spill`.

    Attributes:
        source: The source.
        record_type: The stream's record type.
        whole: It replaces every part kept (else it is a delta, or nothing, after them).
        first_part: The number of its first part: 0 when whole, else the parts
            kept when it was encoded (it is written only while they stay so).
        parts: Each part's records, and where its bytes are in the spill.
    """

    source: str
    record_type: str
    whole: bool
    first_part: int
    parts: tuple[tuple[int, int, int], ...]


class Spill:
    """Bytes kept in an unnamed temporary file (``TMPDIR``) until they are read back; closing deletes it."""

    def __init__(self) -> None:
        # Closed by close() (the run closes its StateChanges).
        self._file: IO[bytes] | None = tempfile.TemporaryFile(prefix="reconcile-snapshot-")  # noqa: SIM115

    def put(self, data: bytes) -> tuple[int, int]:
        """Append ``data``; where it is (offset, length)."""
        assert self._file is not None, "the spill is closed"
        offset = self._file.seek(0, io.SEEK_END)
        self._file.write(data)
        return offset, len(data)

    def get(self, offset: int, length: int) -> bytes:
        """The bytes put at ``offset``."""
        assert self._file is not None, "the spill is closed"
        self._file.seek(offset)
        data = self._file.read(length)
        if len(data) != length:
            raise OSError(f"the snapshot spill file gave {len(data)} of {length} bytes at {offset}")
        return data

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def encode_frame(
    conn: sa.Connection,
    run_id: int,
    source: str,
    record_type: str,
    frame: pd.DataFrame,
    spill: Spill,
    derived_tag: str | None = None,
    delta: SnapshotDelta | None = None,
) -> EncodedSnapshot:
    """What :func:`write_frame` would write, encoded now into ``spill``; :func:`write_encoded` writes it.

    ``conn`` only reads (how the snapshot is kept decides whole or delta):
    a run encodes its snapshots once their records are final, so the frames
    can go before matching, and writes them in its commit.
    """
    whole, first, parts = _planned(conn, run_id, source, record_type, frame, derived_tag, delta)
    placed = tuple((records, *spill.put(data)) for records, data in parts)
    return EncodedSnapshot(source, record_type, whole, first, placed)


def write_encoded(conn: sa.Connection, run_id: int, encoded: EncodedSnapshot, spill: Spill) -> None:
    """Write a snapshot :func:`encode_frame` encoded, in the caller's transaction.

    Raises:
        StoreError: a delta whose snapshot's parts changed since it was
            encoded (another run wrote it): the run must not commit.
    """
    where_parts = _where_parts(encoded.source, encoded.record_type)
    if not encoded.whole:
        stored = conn.execute(sa.select(sa.func.count()).select_from(s.snapshot_parts).where(where_parts)).scalar()
        if stored != encoded.first_part:
            raise StoreError(
                f"the snapshot of source {encoded.source!r} {encoded.record_type} changed while this run "
                f"worked on it ({stored} parts kept, {encoded.first_part} when it was read); run again"
            )
    parts = ((records, spill.get(offset, length)) for records, offset, length in encoded.parts)
    _insert_parts(conn, run_id, encoded.source, encoded.record_type, encoded.whole, encoded.first_part, parts)


def _where_parts(source: str, record_type: str) -> Any:
    return (s.snapshot_parts.c.source == source) & (s.snapshot_parts.c.record_type == record_type)


def _planned(
    conn: sa.Connection,
    run_id: int,
    source: str,
    record_type: str,
    frame: pd.DataFrame,
    derived_tag: str | None,
    delta: SnapshotDelta | None,
) -> tuple[bool, int, Iterator[tuple[int, bytes]]]:
    """How ``frame`` is kept: (whole, number of its first part, its parts as (records, bytes), made as read)."""
    names = list(record_model(record_type).model_fields)
    if derived_tag is not None:
        names += [c for c in frame.columns if str(c).startswith(DERIVED_PREFIX)]
    if delta is not None and _delta_fits(conn, _where_parts(source, record_type), delta, names, len(frame)):
        if not len(delta.positions) and not delta.gone:
            return False, delta.layout.parts, iter(())  # nothing changed: the snapshot stays as it is
        meta = {"run": run_id, "gone": sorted(delta.gone)}
        return False, delta.layout.parts, iter_parts(frame.iloc[delta.positions], names, derived_tag, meta)
    return True, 0, iter_parts(frame, names, derived_tag)


def _insert_parts(
    conn: sa.Connection,
    run_id: int,
    source: str,
    record_type: str,
    whole: bool,
    first: int,
    parts: Iterable[tuple[int, bytes]],
) -> None:
    """Write parts numbered from ``first``; ``whole`` deletes the snapshot's parts (and old JSON rows) first."""
    if whole:
        conn.execute(s.snapshot_parts.delete().where(_where_parts(source, record_type)))
        conn.execute(
            s.snapshots.delete().where((s.snapshots.c.source == source) & (s.snapshots.c.record_type == record_type))
        )
    for number, (records, data) in enumerate(parts, start=first):  # one part per statement: a part is megabytes
        conn.execute(s.snapshot_parts.insert(), {
            "source": source, "record_type": record_type, "part": number,
            "run_id": run_id, "records": records, "data": data,
        })


def _integers_with_nulls(tables: Iterable[pa.Table]) -> set[str]:
    """Integer columns with a missing value in any of the tables (pandas makes them floats)."""
    import pyarrow as pa

    return {
        name
        for table in tables
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_integer(column.type) and column.null_count
    }


def _delta_fits(
    conn: sa.Connection, where_parts: Any, delta: SnapshotDelta, names: list[str], rows: int
) -> bool:
    """Whether a run's changes can be kept as a delta after the snapshot's parts (else: written whole)."""
    layout = delta.layout
    if not layout.parts or not layout.base_rows or set(names) != set(layout.columns):
        return False
    if len(delta.positions) and (int(delta.positions.max()) >= rows or int(delta.positions.min()) < 0):
        return False
    stored = conn.execute(sa.select(sa.func.count()).select_from(s.snapshot_parts).where(where_parts)).scalar()
    if stored != layout.parts:
        return False
    if not len(delta.positions) and not delta.gone:
        return True  # nothing changed: nothing to write, however many deltas it has
    if layout.deltas >= (MAX_DELTAS if layout.in_arrow else MAX_DELTAS_MERGED_IN_PANDAS):
        return False
    return layout.delta_rows + len(delta.positions) + len(delta.gone) <= DELTA_SHARE * layout.base_rows


def _rows_of_keys(
    tables: Iterable[tuple[pa.Table, set[str], str | None]],
    key_field: str,
    keys: Collection[str],
    with_nulls: set[str] | None = None,
) -> list[tuple[pa.Table, set[str], str | None]]:
    """The tables' rows of the given keys only, found before any value becomes a Python object.

    A key column kept as text is filtered here (its values are their own
    ``str()``); any other is left whole for the caller's check. An integer
    column with a missing value in any part (``with_nulls``, by default
    found in these tables) becomes floats in pandas, so it is made floats
    before its missing values are filtered away: the rows come out as the
    whole snapshot's frame has them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = list(tables)
    if with_nulls is None:
        with_nulls = _integers_with_nulls(table for table, _, _ in tables)
    wanted = pa.array(sorted(keys), type=pa.string())
    out = []
    for table, as_json, tag in tables:
        for name in with_nulls & set(table.column_names):
            if pa.types.is_integer(table.schema.field(name).type):
                at = table.column_names.index(name)
                table = table.set_column(at, name, table.column(name).cast(pa.float64()))
        if key_field in table.column_names and key_field not in as_json:
            column = table.column(key_field)
            if pa.types.is_string(column.type):
                table = table.filter(pc.is_in(column, value_set=wanted))
        out.append((table, as_json, tag))
    return out


def read_records(conn: sa.Connection, wanted: Mapping[tuple[str, str], set[str]]) -> dict[tuple[str, str, str], dict[str, Any]]:
    """The kept canonical records of the given keys: (source, record type, key) -> JSON-safe record."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (source, record_type), keys in wanted.items():
        parts = read_parts(conn, source, record_type)
        if not parts:
            continue
        model = record_model(record_type)
        key_field = model.key_field
        frame, _ = _assemble(record_type, parts, columns=list(model.model_fields), keys=keys)
        frame = frame[frame[key_field].astype(str).isin(keys)]
        for key, record in records_of(frame, key_field).items():
            out[(source, record_type, key)] = record
    return out
