"""Batches read as Arrow tables: rows for the reference path, columns for the fast one.

Adapters that can have the rows parsed in C++ (the ``csv`` adapter through
``pyarrow.csv``, the ``sql`` adapter on PostgreSQL through ``COPY``) hand
over a batch as a :class:`pyarrow.Table` of text columns. The mapping then
works on the Arrow columns directly (see ``_CompiledField.arrow_column`` in
:mod:`reconcile.extract.mapping`): values that cannot need stripping are
taken as they are, code tables, dates and flags are converted once per
distinct value, and only the rows a column check cannot vouch for are
looked at one by one, as Python values, by the row-by-row reference.

The csv module and the DB-API cursor stay the reference: the row-by-row
path (``Adapter.columnar = False``) reads through them, and the tests
compare both. PostgreSQL through ADBC needs ``adbc-driver-postgresql`` (the
``postgres`` extra); without it, or without pyarrow, the adapters read as
the reference does.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import numpy as np

__all__ = ["ArrowRows", "available", "dictionary", "dictionary_codes", "needs_python", "null_mask", "objects"]


def available() -> bool:
    """Whether pyarrow can be imported."""
    try:
        import pyarrow  # noqa: F401
        import pyarrow.compute  # noqa: F401
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


# Single rows are read from the Arrow columns until this many (or a sixteenth
# of the batch) have been asked for; then the whole batch is turned into
# Python rows at once (row-by-row reading).
_SINGLE_ROWS = 64


class ArrowRows(Sequence[tuple[Any, ...]]):
    """The rows of an Arrow table as tuples of Python values, made when first asked for.

    Args:
        table: A ``pyarrow.Table`` (or ``RecordBatch``).
    """

    __slots__ = ("_asked", "_rows", "table")

    def __init__(self, table: Any):
        self.table = table
        self._rows: list[tuple[Any, ...]] | None = None
        self._asked = 0

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def _all(self) -> list[tuple[Any, ...]]:
        if self._rows is None:
            columns = [column.to_pylist() for column in self.table.columns]
            self._rows = list(zip(*columns, strict=True)) if columns else [() for _ in range(len(self))]
        return self._rows

    @overload
    def __getitem__(self, index: int) -> tuple[Any, ...]: ...

    @overload
    def __getitem__(self, index: slice) -> list[tuple[Any, ...]]: ...

    def __getitem__(self, index: int | slice) -> tuple[Any, ...] | list[tuple[Any, ...]]:
        if isinstance(index, slice) or self._rows is not None:
            return self._all()[index]
        self._asked += 1
        if self._asked > max(_SINGLE_ROWS, len(self) // 16):
            return self._all()[index]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return tuple(column[index].as_py() for column in self.table.columns)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        return iter(self._all())


def is_text(array: Any) -> bool:
    """Whether an Arrow array holds text (string or large_string)."""
    import pyarrow as pa

    return bool(pa.types.is_string(array.type) or pa.types.is_large_string(array.type))


def combined(column: Any) -> Any:
    """One Arrow array of a table column (chunks joined when there are several)."""
    import pyarrow as pa

    if isinstance(column, pa.ChunkedArray):
        if column.num_chunks == 1:
            return column.chunk(0)
        return column.combine_chunks()
    return column


def objects(array: Any) -> np.ndarray[Any, Any]:
    """The values of a text array as an object array of ``str`` (None where null)."""
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=object)


def null_mask(array: Any) -> np.ndarray[Any, Any] | None:
    """Where an array is null, or None when nowhere."""
    if not array.null_count:
        return None
    return np.asarray(array.is_null().to_numpy(zero_copy_only=False), dtype=bool)


# Every character Python's str.strip() removes, by the byte a UTF-8 text starts
# or ends with: ASCII whitespace itself, and for the rest any byte of a
# multi-byte character (a text starting or ending with one is checked in
# Python, which is exact; such texts are few).
# [c for c in range(0x110000) if chr(c).isspace()] (tests check it still is).
WHITESPACE = (
    9, 10, 11, 12, 13, 28, 29, 30, 31, 32, 133, 160, 5760, 8192, 8193, 8194, 8195, 8196, 8197, 8198,
    8199, 8200, 8201, 8202, 8232, 8233, 8239, 8287, 12288,
)
_EDGE = np.zeros(256, dtype=bool)
_EDGE[[c for c in WHITESPACE if c < 0x80]] = True
_EDGE[0x80:] = True


def needs_python(array: Any) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """Empty texts, and texts that may have whitespace at either end (nulls are neither).

    Read from the array's offsets and data buffers: the first and the last byte
    of every text, looked up in a table. A text flagged here is converted in
    Python; one not flagged is exactly what ``str.strip`` would leave.
    """
    import pyarrow as pa

    n = len(array)
    if n == 0:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    offset_type = np.int64 if pa.types.is_large_string(array.type) else np.int32
    buffers = array.buffers()
    offsets = np.frombuffer(buffers[1], dtype=offset_type)[array.offset : array.offset + n + 1].astype(np.int64)
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.zeros(0, dtype=np.uint8)
    starts, ends = offsets[:-1], offsets[1:]
    empty = ends <= starts
    full = ~empty
    flagged = np.zeros(n, dtype=bool)
    if data.size:
        first = np.where(full, starts, 0)
        last = np.where(full, ends - 1, 0)
        flagged = full & (_EDGE[data[first]] | _EDGE[data[last]])
    nulls = null_mask(array)
    if nulls is not None:
        empty &= ~nulls
    return empty, flagged


def dictionary(array: Any) -> tuple[list[Any], np.ndarray[Any, Any]]:
    """The distinct values of an array and, per row, the index of its value (len(distinct) for null)."""
    distinct, codes = dictionary_codes(array)
    return distinct.to_pylist(), codes


def dictionary_codes(array: Any) -> tuple[Any, np.ndarray[Any, Any]]:
    """The distinct values of an array as an Arrow array and, per row, the index of its value (len for null)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(array)
    distinct = encoded.dictionary
    indices = encoded.indices
    if indices.null_count:
        indices = indices.fill_null(len(distinct))
    return distinct, np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)


#: A date of years 1 to 9999 with its month and day bounded (not the day in its month).
ISO_DATE = r"(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
#: A time of day to the second, every field bounded.
ISO_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


def iso_seconds(texts: Any, shape: str) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the epoch of each text ``YYYY-MM-DD?HH:MM:SS...`` of ``shape``, and which were read.

    ``shape`` is a whole-text pattern whose texts hold the date in their
    first ten characters and the time in characters 12 to 19 (built from
    :data:`ISO_DATE` and :data:`ISO_TIME`, which bound every field but the
    day). Arrow's parser carries over (30 February is 2 March), so the day
    must also be the parsed day: a text is read exactly when ``datetime``
    would read that date and time. The others (and nulls) are False, with 0
    seconds, left to the caller.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_large_string(texts.type):
        texts = texts.cast(pa.string())
    shaped = pc.match_substring_regex(texts, shape)
    plain = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(texts, 0, 10), pc.utf8_slice_codeunits(texts, 11, 19), " "
    )
    parsed = pc.strptime(plain, format="%Y-%m-%d %H:%M:%S", unit="s", error_is_null=True)
    day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(shaped, texts, "0000-00-01"), 8, 10), pa.int64())
    read = pc.and_kleene(shaped, pc.equal(pc.day(parsed), day)).fill_null(False)
    readable = np.asarray(read.to_numpy(zero_copy_only=False), dtype=bool)
    seconds = parsed.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    return np.where(readable, seconds, 0), readable
