"""Tables on the wire: a DataFrame that pickles its text and date columns fast, and exactly.

Pickling a column of Python strings costs one pickle opcode and one object
per cell; the Dask engine sends every table to the workers once per run, so
that is most of what the client spends on shipping them. :class:`PackedFrame`
sends a column of text as an Arrow string array when pyarrow is installed on
both sides (``arrow=True``), else as one string (the cells joined by a
separator no cell contains), and a column of ``datetime.date`` objects as
``datetime64[D]``. The cells come back as they were: ``str`` cells as
``str``, ``date`` cells as ``date``, and each missing marker (None, NaN,
``pd.NA``) where it was. A ``str`` subclass (``numpy.str_``) comes back as
``str``, which compares, hashes and prints the same. A column holding
anything else is pickled as it is.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd

try:
    import pyarrow as pa
except ImportError:  # optional: the separator encoding works without it
    pa = None

__all__ = ["PackedFrame", "arrow_available"]

#: Separators tried in turn; a column whose cells contain all of them is pickled as it is.
_SEPARATORS = ("\x1f", "\x1e", "\x00")
_EPOCH = dt.date(1970, 1, 1).toordinal()


def arrow_available() -> bool:
    """Whether this process can pack and unpack text columns with Arrow."""
    return pa is not None


def _pack_column(values: np.ndarray, arrow: bool) -> tuple[str, Any] | None:
    """The compact form of an object column, or None if it has none."""
    inferred = pd.api.types.infer_dtype(values, skipna=True)  # one pass in C
    if inferred not in ("string", "date"):
        return None
    if inferred == "string" and arrow and pa is not None:
        try:  # every cell a str or None (NaN, NA, bytes and unencodable text raise)
            return "arrow", pa.array(values, type=pa.large_string(), from_pandas=False)
        except (pa.ArrowException, UnicodeError, TypeError, ValueError):
            pass
    missing = np.asarray(values == None, dtype=np.bool_)  # noqa: E711 - elementwise, in C
    present = values[~missing] if missing.any() else values
    cells = present.tolist()
    kinds = set(map(type, cells))
    if not kinds <= {str, dt.date}:  # NaN, NA or NaT besides None, or a subclass: look closer
        missing = np.asarray(pd.isna(values), dtype=np.bool_)
        cells = values[~missing].tolist()
        kinds = set(map(type, cells))
    if not cells:
        return None
    if kinds == {str}:
        for separator in _SEPARATORS:
            joined = separator.join(cells)
            if joined.count(separator) == len(cells) - 1:
                return "str", (joined, separator, missing, values[missing], len(values))
        return None
    if kinds == {dt.date}:
        ordinals = np.array(list(map(dt.date.toordinal, cells)), dtype=np.int64)
        days = (ordinals - _EPOCH).astype("datetime64[D]")
        return "date", (days, missing, values[missing], len(values))
    return None


def _unpack_column(kind: str, packed: Any) -> np.ndarray:
    if kind == "arrow":
        out = packed.to_numpy(zero_copy_only=False)  # str cells, None where null
        return out if out.flags.writeable else out.copy()
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


def _pack(frame: pd.DataFrame, arrow: bool) -> tuple[Any, ...]:
    packed: dict[int, tuple[str, Any]] = {}
    if frame.columns.is_unique:
        for position, (name, dtype) in enumerate(zip(frame.columns, frame.dtypes, strict=True)):
            if pd.api.types.is_object_dtype(dtype):
                compact = _pack_column(frame[name].to_numpy(dtype=object), arrow)
                if compact is not None:
                    packed[position] = compact
    if not packed:
        return frame.index, frame.columns, frame, packed
    rest = frame[[name for position, name in enumerate(frame.columns) if position not in packed]]
    return frame.index, frame.columns, rest, packed


def _unpack(index: pd.Index, columns: pd.Index, rest: pd.DataFrame, packed: dict[int, tuple[str, Any]]) -> pd.DataFrame:
    if not packed:
        return rest
    data: dict[Any, Any] = {}
    for position, name in enumerate(columns):
        # Arrays, not Series: nothing is aligned on the index (which may repeat a label).
        data[name] = _unpack_column(*packed[position]) if position in packed else rest[name].array
    out = pd.DataFrame(data, index=index, columns=columns, copy=False)
    for name in rest.columns:
        if rest[name].dtype != out[name].dtype:
            # The frame constructor infers moments in object arrays (None and a
            # datetime become datetime64): put the column back as it was sent.
            out[name] = pd.Series(rest[name].to_numpy(), index=out.index, dtype=rest[name].dtype, copy=False)
    return out


class PackedFrame:
    """Wraps a DataFrame for sending: ``PackedFrame(frame)``, then ``.frame`` on the other side.

    ``arrow``: pack text with Arrow (only when both sides have pyarrow).
    """

    __slots__ = ("arrow", "frame")

    def __init__(self, frame: pd.DataFrame, arrow: bool = False):
        self.frame = frame
        self.arrow = arrow

    def __reduce__(self) -> tuple[Any, ...]:
        return _rebuild, (*_pack(self.frame, self.arrow and pa is not None), self.arrow)


def _rebuild(
    index: pd.Index, columns: pd.Index, rest: pd.DataFrame, packed: dict[int, tuple[str, Any]], arrow: bool
) -> PackedFrame:
    return PackedFrame(_unpack(index, columns, rest, packed), arrow)
