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
from collections.abc import Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import sqlalchemy as sa

from reconcile.model import record_model
from reconcile.store import _schema as s

if TYPE_CHECKING:
    import pyarrow as pa

# pyarrow is imported when a snapshot is read or written, not with the store:
# `import reconcile` and commands that touch no snapshot stay quick.

__all__ = [
    "DERIVED_PREFIX",
    "PART_ROWS",
    "decode_parts",
    "encode_parts",
    "frame_from_values",
    "read_frame",
    "read_records",
    "records_of",
    "snapshot_frame",
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


def _column_array(values: pd.Series) -> tuple[pa.Array, bool]:
    """A column as an Arrow array; values of mixed types are kept as JSON text."""
    import pyarrow as pa

    try:
        return pa.Array.from_pandas(values), False
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        text = [None if v is None or v != v else json.dumps(v, default=str) for v in values]
        return pa.array(text, type=pa.string()), True


def encode_parts(frame: pd.DataFrame, derived_tag: str | None = None) -> list[bytes]:
    """A snapshot frame as Parquet parts of at most ``PART_ROWS`` records.

    ``derived_tag`` names how its derived (``_n_*``) columns were computed.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = []
    for start in range(0, max(len(frame), 1), PART_ROWS):
        chunk = frame.iloc[start : start + PART_ROWS]
        arrays, names, as_json = [], [], []
        for name in chunk.columns:
            array, is_json = _column_array(chunk[name])
            arrays.append(array)
            names.append(str(name))
            if is_json:
                as_json.append(str(name))
        table = pa.Table.from_arrays(arrays, names=names)
        metadata = {_JSON_COLUMNS: json.dumps(as_json).encode()}
        if derived_tag is not None:
            metadata[_DERIVED_TAG] = derived_tag.encode()
        table = table.replace_schema_metadata(metadata)
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="zstd", write_statistics=False)  # never filtered on: no min/max to compute
        parts.append(sink.getvalue())
    return parts


def _tables(
    parts: Iterable[bytes], columns: Collection[str] | None = None
) -> Iterable[tuple[pa.Table, set[str], str | None]]:
    """Each part as an Arrow table (only ``columns``, when given), its JSON-text columns and its derived tag."""
    import pyarrow.parquet as pq

    for data in parts:
        if columns is None:
            table = pq.read_table(io.BytesIO(data))
        else:
            present = set(pq.read_schema(io.BytesIO(data)).names)
            table = pq.read_table(io.BytesIO(data), columns=[name for name in columns if name in present])
        metadata = table.schema.metadata or {}
        tag = metadata.get(_DERIVED_TAG)
        yield table, set(json.loads(metadata.get(_JSON_COLUMNS, b"[]"))), None if tag is None else tag.decode()


def decode_parts(parts: Iterable[bytes]) -> dict[str, list[Any]]:
    """The columns of a snapshot's parts, as lists of Python values, in part order."""
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
    ``derived_tag`` in every part.
    """
    return _frame_of(record_type, _tables(parts), derived_tag)


def _frame_of(
    record_type: str, tables: Iterable[tuple[pa.Table, set[str], str | None]], derived_tag: str | None = None
) -> pd.DataFrame:
    """:func:`snapshot_frame` of parts already read as Arrow tables (see :func:`_tables`)."""
    names = list(record_model(record_type).model_fields)
    frames = []
    tags = set()
    for table, as_json, tag in tables:
        tags.add(tag)
        frame = table.to_pandas(date_as_object=True, types_mapper=None)
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
    parts = read_parts(conn, source, record_type)
    if parts:
        return snapshot_frame(record_type, parts, derived_tag)
    model = record_model(record_type)
    snap = s.snapshots
    rows = conn.execute(
        sa.select(snap.c.data).where((snap.c.source == source) & (snap.c.record_type == record_type))
    ).all()
    records = [model.model_validate(row.data).model_dump() for row in rows]
    names = list(model.model_fields)
    return frame_from_values(record_type, {name: [r[name] for r in records] for name in names})


def write_frame(
    conn: sa.Connection,
    run_id: int,
    source: str,
    record_type: str,
    frame: pd.DataFrame,
    derived_tag: str | None = None,
) -> None:
    """Replace a stream's snapshot with ``frame``, in the caller's transaction.

    The canonical columns are kept, and the derived (``_n_*``) columns with
    ``derived_tag`` when one is given.
    """
    names = list(record_model(record_type).model_fields)
    if derived_tag is not None:
        names += [c for c in frame.columns if str(c).startswith(DERIVED_PREFIX)]
    where_parts = (s.snapshot_parts.c.source == source) & (s.snapshot_parts.c.record_type == record_type)
    conn.execute(s.snapshot_parts.delete().where(where_parts))
    conn.execute(
        s.snapshots.delete().where((s.snapshots.c.source == source) & (s.snapshots.c.record_type == record_type))
    )
    rows = [
        {"source": source, "record_type": record_type, "part": number, "run_id": run_id,
         "records": min(PART_ROWS, len(frame) - number * PART_ROWS), "data": data}
        for number, data in enumerate(encode_parts(frame[names], derived_tag))
    ]
    for row in rows:  # one part per statement: a part is megabytes
        conn.execute(s.snapshot_parts.insert(), row)


def _rows_of_keys(
    tables: Iterable[tuple[pa.Table, set[str], str | None]], key_field: str, keys: Collection[str]
) -> list[tuple[pa.Table, set[str], str | None]]:
    """The tables' rows of the given keys only, found before any value becomes a Python object.

    A key column kept as text is filtered here (its values are their own
    ``str()``); any other is left whole for the caller's check. An integer
    column with a missing value in any part becomes floats in pandas, so it
    is made floats before its missing values are filtered away: the rows
    come out as the whole snapshot's frame has them.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    tables = list(tables)
    with_nulls = {
        name
        for table, _, _ in tables
        for name, column in zip(table.column_names, table.columns, strict=True)
        if pa.types.is_integer(column.type) and column.null_count
    }
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
        tables = _tables(parts, columns=list(model.model_fields))
        frame = _frame_of(record_type, _rows_of_keys(tables, key_field, keys))
        frame = frame[frame[key_field].astype(str).isin(keys)]
        for key, record in records_of(frame, key_field).items():
            out[(source, record_type, key)] = record
    return out
