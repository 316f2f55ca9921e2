"""Tables on the wire: a DataFrame that pickles its text and date columns fast, and exactly.

Pickling a column of Python strings costs one pickle opcode and one object
per cell; the Dask engine sends every table to the workers once per run, so
that is most of what the client spends on shipping them. :class:`PackedFrame`
sends such a column as one string (the cells joined by a separator no cell
contains) and a column of ``datetime.date`` objects as ``datetime64[D]``;
both come back as the very same objects (``str`` cells, ``date`` cells, and
the missing markers, None or NaN, each where it was). A column holding
anything else, or a ``str`` subclass, is pickled as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PackedFrame"]

#: Separators tried in turn; a column whose cells contain all of them is pickled as it is.
_SEPARATORS = ("\x1f", "\x1e", "\x00")
_EPOCH = dt.date(1970, 1, 1).toordinal()


def _pack_column(values: np.ndarray) -> tuple[str, Any] | None:
    """The compact form of an object column, or None if it has none."""
    missing = pd.isna(values)
    present = values[~missing] if missing.any() else values
    if len(present) == 0:
        return None
    cells = present.tolist()
    kinds = set(map(type, cells))
    if kinds == {str}:
        for separator in _SEPARATORS:
            joined = separator.join(cells)
            if joined.count(separator) == len(present) - 1:
                return "str", (joined, separator, missing, values[missing], len(values))
        return None
    if kinds == {dt.date}:
        ordinals = np.fromiter((day.toordinal() for day in cells), dtype=np.int64, count=len(cells))
        days = (ordinals - _EPOCH).astype("datetime64[D]")
        return "date", (days, missing, values[missing], len(values))
    return None


def _unpack_column(kind: str, packed: Any) -> np.ndarray:
    if kind == "str":
        joined, separator, missing, markers, size = packed
        cells: Any = joined.split(separator)
    else:
        days, missing, markers, size = packed
        cells = days.astype(object)  # datetime.date objects
    out = np.empty(size, dtype=object)
    if missing.any():
        out[~missing] = cells
        out[missing] = markers
    else:
        out[:] = cells
    return out


def _unpack(index: pd.Index, columns: pd.Index, rest: pd.DataFrame, packed: dict[int, tuple[str, Any]]) -> pd.DataFrame:
    if not packed:
        return rest
    data: dict[Any, Any] = {}
    for position, name in enumerate(columns):
        # Arrays, not Series: nothing is aligned on the index (which may repeat a label).
        data[name] = _unpack_column(*packed[position]) if position in packed else rest[name].array
    return pd.DataFrame(data, index=index, columns=columns, copy=False)


def _pack(frame: pd.DataFrame) -> tuple[Any, ...]:
    packed: dict[int, tuple[str, Any]] = {}
    if frame.columns.is_unique:
        for position, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes, strict=True)):
            if pd.api.types.is_object_dtype(dtype):
                compact = _pack_column(frame[name].to_numpy(dtype=object))
                if compact is not None:
                    packed[position] = compact
    if not packed:
        return frame.index, frame.columns, frame, packed
    rest = frame[[name for position, name in enumerate(frame.columns) if position not in packed]]
    return frame.index, frame.columns, rest, packed


class PackedFrame:
    """Wraps a DataFrame for sending: ``PackedFrame(frame)``, then ``.frame`` on the other side."""

    __slots__ = ("frame",)

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, _pack(self.frame)


def _rebuild(index: pd.Index, columns: pd.Index, rest: pd.DataFrame, packed: dict[int, tuple[str, Any]]) -> PackedFrame:
    return PackedFrame(_unpack(index, columns, rest, packed))
