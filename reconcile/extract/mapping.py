"""Declarative mapping of a source's columns onto canonical fields.

A stream's ``fields`` maps each canonical field either to a source column name
or to a :class:`FieldMapping` (several columns joined, a constant, a transform
with a format, a code table). When no transform is given, the canonical
field's type chooses one (a ``date`` field parses dates, a ``bool`` field
parses ``Y``/``N``...), so most mappings are plain column names.

Rows are mapped one at a time by :meth:`RowMapper.map` (the reference), or a
batch at a time by :meth:`RowMapper.map_columns`, which applies the same
scalar conversions column by column: once per distinct value for columns
with few distinct values, and with C-speed shortcuts where the driver already
delivers the right type. Both give the same values and the same errors.
"""

from __future__ import annotations

import datetime as dt
import decimal
import itertools
import operator
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import methodcaller
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from reconcile.model import CanonicalRecord

__all__ = ["ColumnSource", "FieldMapping", "FieldSpec", "MappingError", "RowMapper", "Transform"]

Transform = Literal[
    "str", "int", "float", "bool", "date", "datetime", "upper", "lower", "family_name", "given_name"
]

_TRUE = {"y", "yes", "true", "t", "1", "on", "enabled"}
_FALSE = {"n", "no", "false", "f", "0", "off", "disabled"}

# The Python type each transform produces.
TRANSFORM_TYPES: dict[str, type] = {
    "str": str,
    "upper": str,
    "lower": str,
    "family_name": str,
    "given_name": str,
    "int": int,
    "float": float,
    "bool": bool,
    "date": dt.date,
    "datetime": dt.datetime,
}


class FieldMapping(BaseModel):
    """How one canonical field is read from a source row.

    Exactly one of ``column``, ``columns`` or ``const`` says where the value
    comes from. ``transform`` converts it (default: chosen by the canonical
    field's type; with ``map``, the raw text is looked up), ``format`` is the
    ``strptime`` format (or a list of formats, tried in order) for dates,
    ``decimal`` the decimal separator of numbers, ``map`` a code table,
    ``null_values`` the source's markers for "no value" (such as ``9999``
    for an unknown model year) and ``default`` replaces a missing value or,
    with ``map``, a code the table does not know.

    Attributes:
        column: The source column.
        columns: Several source columns, joined with ``join`` (blanks skipped).
        join: The separator for ``columns``.
        const: A constant value.
        transform: ``str``, ``int``, ``float``, ``bool``, ``date``,
            ``datetime``, ``upper``, ``lower``, ``family_name`` or
            ``given_name`` (split ``LAST, FIRST`` or ``FIRST LAST``).
        format: ``strptime`` format(s) for ``date`` and ``datetime``.
        decimal: ``"."`` (``1,234.50``) or ``","`` (``1.234,50``) for numbers.
        map: Code table, matched case-insensitively: ``{FTTH-1000: fiber_1g}``.
        null_values: Source values that mean "no value" (compared with the
            text stripped), read as an empty value.
        default: The value for an empty source value, or for a code ``map``
            does not know (without it, an unknown code quarantines the row).
    """

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    columns: list[str] | None = Field(default=None, min_length=1)
    join: str = " "
    const: Any = None
    transform: Transform | None = None
    format: str | list[str] | None = None
    decimal: Literal[".", ","] = "."
    map: dict[Any, Any] | None = None
    null_values: list[str] = Field(default_factory=list)
    default: Any = None

    @field_validator("format")
    @classmethod
    def _formats_not_empty(cls, value: str | list[str] | None) -> str | list[str] | None:
        if isinstance(value, list) and not value:
            raise ValueError("give at least one format")
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        origins = [n for n in ("column", "columns", "const") if getattr(self, n) is not None]
        if len(origins) != 1:
            raise ValueError(
                "give exactly one of 'column', 'columns' or 'const' "
                f"(got {', '.join(origins) or 'none'})"
            )
        if self.format is not None and self.transform not in (None, "date", "datetime"):
            raise ValueError(f"'format' is for the date and datetime transforms, not {self.transform!r}")
        return self


FieldSpec = str | FieldMapping


class MappingError(ValueError):
    """A value could not be mapped; names the canonical field."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


# Converters: (value, formats, decimal) -> canonical value; raise ValueError/TypeError.


def _to_str(value: Any, _fmts: tuple[str, ...] = (), _dec: str = ".") -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


_THOUSANDS_SPACES = str.maketrans("", "", " \u00a0\u202f\u2009'_")
_CURRENCY = "$€£¥"


def _number_text(value: Any, decimal: str) -> str:
    text = str(value).strip().strip(_CURRENCY).strip()
    if text.startswith(("-", "+")) and text[1:2] in _CURRENCY:
        text = text[0] + text[2:]
    text = text.translate(_THOUSANDS_SPACES)
    if decimal == ",":
        return text.replace(".", "").replace(",", ".")
    return text.replace(",", "")


def _to_int(value: Any, _fmts: tuple[str, ...] = (), decimal: str = ".") -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    return int(_number_text(value, decimal))


def _to_float(value: Any, _fmts: tuple[str, ...] = (), decimal: str = ".") -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        return float(value)
    return float(_number_text(value, decimal))


def _to_bool(value: Any, _fmts: tuple[str, ...] = (), _dec: str = ".") -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a yes/no value (Y/N, true/false, 1/0, yes/no)")


# strptime is slow; for the commonest formats a strict pattern check followed
# by the C parser gives the same result (anything else goes to strptime).
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}").fullmatch
_COMPACT_DATE = re.compile(r"[0-9]{8}").fullmatch
_ISO_SECONDS = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}").fullmatch


def _strptime(text: str, fmt: str) -> dt.datetime:
    if fmt == "%Y-%m-%d" and _ISO_DATE(text):
        return dt.datetime.fromisoformat(text)
    if fmt == "%Y%m%d" and _COMPACT_DATE(text):
        return dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:]))
    if fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S") and _ISO_SECONDS(text) and text[10] == fmt[8]:
        return dt.datetime.fromisoformat(text)
    return dt.datetime.strptime(text, fmt)


def _parse_formats(text: str, fmts: tuple[str, ...]) -> dt.datetime:
    if len(fmts) == 1:
        return _strptime(text, fmts[0])
    for fmt in fmts:
        try:
            return _strptime(text, fmt)
        except ValueError:
            continue
    raise ValueError(f"matches none of the formats {', '.join(fmts)}")


def _to_datetime(value: Any, fmts: tuple[str, ...] = (), _dec: str = ".") -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif fmts:
        parsed = _parse_formats(str(value).strip(), fmts)
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
    # Sources without a zone are read as UTC: every time in a run is UTC.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


#: Datetime formats whose common shape :func:`_iso_seconds_at_once` parses (() is ISO 8601, no format).
_SECONDS_FORMATS = ((), ("%Y-%m-%d %H:%M:%S",), ("%Y-%m-%dT%H:%M:%S",))
#: Fewer distinct values than this are converted one by one.
_AT_ONCE = 256


def _iso_seconds_at_once(values: Any, fmts: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray] | None:
    """``YYYY-MM-DD HH:MM:SS`` texts parsed together, as :func:`_to_datetime` parses each (None: not text).

    Args:
        values: A sequence of values, or an Arrow text array.
        fmts: The field's formats (one of :data:`_SECONDS_FORMATS`).

    Returns:
        An object array of the parsed values (None where not taken) and a
        boolean array of which to take: a text of exactly the format's shape
        (with no format, either separator and an optional ``Z`` or
        ``+00:00``) that names a real second of years 1 to 9999 (see
        :func:`reconcile.extract._arrow.iso_seconds`). Anything else is left
        to the caller's one-by-one path, errors included.
    """
    import pyarrow as pa

    from reconcile.extract import _arrow

    if isinstance(values, pa.Array):
        texts = values
    else:
        try:
            texts = pa.array(values, type=pa.string())
        except (pa.ArrowException, UnicodeError):  # not all text, or text Arrow cannot hold (a lone surrogate)
            return None
    if fmts:
        shape = f"^{_arrow.ISO_DATE}{fmts[0][8]}{_arrow.ISO_TIME}$"
    else:
        shape = f"^{_arrow.ISO_DATE}[ T]{_arrow.ISO_TIME}(Z|\\+00:00)?$"
    seconds, take = _arrow.iso_seconds(texts, shape)
    out = np.empty(len(texts), dtype=object)
    if take.any():
        instants = seconds[take].tolist()
        out[take] = np.fromiter(
            map(dt.datetime.fromtimestamp, instants, itertools.repeat(dt.UTC, len(instants))),
            dtype=object, count=len(instants),
        )
    return out, take


def _spread(lookup: np.ndarray, codes: np.ndarray) -> tuple[Any, bool, Any, Any]:
    """:meth:`_CompiledField.arrow_column`'s result from each distinct value's canonical value and the rows' codes."""
    k = len(lookup)
    failed = np.fromiter(map(operator.is_, lookup, itertools.repeat(_FAIL, k)), dtype=bool, count=k)
    nones = np.fromiter(map(operator.is_, lookup, itertools.repeat(None, k)), dtype=bool, count=k)
    out = lookup[codes]
    fail_mask = failed[codes] if failed.any() else None
    none_mask = nones[codes] if nones.any() else None
    if none_mask is not None and not none_mask.any():
        none_mask = None
    return out, none_mask is not None, fail_mask, none_mask


def _to_date(value: Any, fmts: tuple[str, ...] = (), _dec: str = ".") -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if fmts:
        return _parse_formats(str(value).strip(), fmts).date()
    text = str(value).strip()
    if len(text) > 10 and text[10] in "T ":
        return _to_datetime(text).date()
    return dt.date.fromisoformat(text)


def split_name(text: str) -> tuple[str | None, str | None]:
    """``(family, given)`` of ``"LAST, FIRST M"`` or ``"FIRST M LAST"``.

    A name with a comma is family name first; without one the last word is
    the family name. One word is a family name alone.
    """
    if "," in text:
        family, _, given = text.partition(",")
    else:
        words = text.split()
        if len(words) < 2:
            return (words[0] if words else None), None
        family, given = words[-1], " ".join(words[:-1])
    return (" ".join(family.split()) or None), (" ".join(given.split()) or None)


def _to_family(value: Any, _fmts: tuple[str, ...] = (), _dec: str = ".") -> str | None:
    return split_name(_to_str(value))[0]


def _to_given(value: Any, _fmts: tuple[str, ...] = (), _dec: str = ".") -> str | None:
    return split_name(_to_str(value))[1]


_TRANSFORMS: dict[str, Callable[[Any, tuple[str, ...], str], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
    "upper": lambda v, f, d: _to_str(v).upper(),
    "lower": lambda v, f, d: _to_str(v).lower(),
    "family_name": _to_family,
    "given_name": _to_given,
}


def _default_transform(annotation: Any) -> str:
    """Pick the transform a canonical field's type calls for."""
    args = typing.get_args(annotation)
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        candidates = [a for a in args if a is not type(None)]
        annotation = candidates[0] if candidates else str
    if annotation is bool:
        return "bool"
    if annotation is int:
        return "int"
    if annotation is float:
        return "float"
    if annotation is dt.datetime:
        return "datetime"
    if annotation is dt.date:
        return "date"
    return "str"


_FAIL: Any = type("_Fail", (), {"__repr__": lambda self: "<failed>"})()
_MISSING: Any = object()
_NONE_TYPE = type(None)
_NUMBER_TYPES = {int, float, decimal.Decimal}
# Columns with at most this many distinct values are converted once per value.
_MEMO_LIMIT = 50_000
#: Rows of a first Arrow batch that decide whether a plain text field repeats its values.
_REPEAT_SAMPLE = 1000
#: Distinct texts of one field kept as one object each, across batches (a foreign key of millions of rows).
_POOL_LIMIT = 5_000_000


class ColumnSource:
    """The columns of a batch of rows, each taken out when a field needs it.

    Rows given as sequences are turned into columns once, in C
    (``zip(*rows)``), when the first column is asked for. Rows of an Arrow
    table (:class:`reconcile.extract._arrow.ArrowRows`) are read column by
    column from the table.

    Args:
        columns: The column names, in the order of each row's values; None
            when ``rows`` holds one mapping per row.
        rows: The rows: sequences of values (as a DB-API cursor returns
            them) or mappings of column name to value.
    """

    __slots__ = ("_columns", "_index", "_rows", "arrow")

    def __init__(self, columns: Sequence[str] | None, rows: Sequence[Any]):
        from reconcile.extract._arrow import ArrowRows

        self._rows = rows
        self._index: dict[str, int] | None = None
        self._columns: dict[int, Sequence[Any]] | None = None
        #: The batch's Arrow table, when it was read as one.
        self.arrow: Any = rows.table if isinstance(rows, ArrowRows) else None
        if columns is not None:
            self._index = {}
            for i, name in enumerate(columns):
                self._index.setdefault(name, i)  # a repeated name: the first one

    def _column(self, column: str) -> Sequence[Any] | None:
        """The values of ``column`` as a sequence, or None when rows are mappings."""
        if self._index is None:
            return None
        at = self._index.get(column)
        if at is None:
            return [None] * len(self._rows)
        if self._columns is None:
            self._columns = {}
            if self.arrow is None:
                try:
                    self._columns = dict(enumerate(zip(*self._rows, strict=True))) if self._rows else {}
                except ValueError:  # rows of different lengths: each one looked at alone
                    width = max(self._index.values()) + 1
                    self._columns = {i: [_cell(row, i) for row in self._rows] for i in range(width)}
        values = self._columns.get(at)
        if values is None:
            values = self.arrow.column(at).to_pylist() if self.arrow is not None else ()
            self._columns[at] = values
        return values

    def arrow_column(self, column: str) -> Any:
        """The Arrow array of ``column`` when the batch is an Arrow table holding it as text, else None."""
        from reconcile.extract import _arrow

        array = self.arrow_array(column)
        return array if array is not None and _arrow.is_text(array) else None

    def arrow_array(self, column: str) -> Any:
        """The Arrow array of ``column`` (of any type) when the batch is an Arrow table holding it, else None."""
        if self.arrow is None or self._index is None or column not in self._index:
            return None
        from reconcile.extract import _arrow

        return _arrow.combined(self.arrow.column(self._index[column]))

    def values(self, column: str) -> list[Any]:
        """Every row's value of ``column`` (None where a row lacks it)."""
        values = self._column(column)
        if values is None:
            return list(map(methodcaller("get", column), self._rows))
        return values if isinstance(values, list) else list(values)

    def each(self, column: str) -> Iterator[Any]:
        """The same values as :meth:`values`, one at a time (to convert without a list between)."""
        values = self._column(column)
        if values is None:
            return map(methodcaller("get", column), self._rows)
        return iter(values)


def _cell(row: Sequence[Any], i: int) -> Any:
    return row[i] if i < len(row) else None


class _CompiledField:
    """One canonical field's mapping, ready to apply to rows or columns."""

    def __init__(self, name: str, spec: FieldSpec | Mapping[str, Any], annotation: Any):
        self.name = name
        mapping = (
            FieldMapping(column=spec)
            if isinstance(spec, str)
            else spec
            if isinstance(spec, FieldMapping)
            else FieldMapping.model_validate(spec)  # as written in YAML
        )
        self.columns: list[str] = (
            [mapping.column] if mapping.column is not None else list(mapping.columns or [])
        )
        self.join = mapping.join
        self.has_const = mapping.column is None and mapping.columns is None
        self.const = mapping.const
        # A code table looks up the source's text unless a transform is asked for.
        self.transform: str = mapping.transform or (
            "str" if mapping.map is not None else _default_transform(annotation)
        )
        self.out_type = TRANSFORM_TYPES[self.transform]
        self._convert = _TRANSFORMS[self.transform]
        fmt = mapping.format
        self.formats: tuple[str, ...] = (fmt,) if isinstance(fmt, str) else tuple(fmt or ())
        self.decimal = mapping.decimal
        self.table: dict[str, Any] | None = (
            {str(k).strip().lower(): v for k, v in mapping.map.items()}
            if mapping.map is not None
            else None
        )
        self._table_keys = sorted(str(k) for k in mapping.map) if mapping.map is not None else []
        self.default = mapping.default
        self.nulls = frozenset(mapping.null_values)
        # Plain text is stripped in bulk (no code table, no null markers to look up).
        self.plain_text = self.transform == "str" and self.table is None and not self.nulls
        # Distinct source value -> canonical value (or _FAIL), for str sources.
        self._memo: dict[Any, Any] | None = {}
        self._memo_failed = False
        self._memo_none = False
        # Whether this field's Arrow text repeats its values (a status, a city), decided on
        # its first batch of _REPEAT_SAMPLE rows or more; None until then.
        self._repeats: bool | None = None
        # The one object of each such text (None once it would exceed _POOL_LIMIT).
        self._texts: dict[str, str] | None = {}
        # Times whose common shapes Arrow parses to the second (see _iso_seconds_at_once).
        self._seconds_at_once = (
            self.transform == "datetime" and self.formats in _SECONDS_FORMATS and self.table is None and not self.nulls
        )

    @property
    def foreign_values(self) -> list[Any]:
        """Values this field can yield that no converter made: table entries and the default."""
        values = list(self.table.values()) if self.table is not None else []
        if self.default is not None:
            values.append(self.default)
        return values

    # -- one value ---------------------------------------------------------

    def origin(self, row: Mapping[str, Any]) -> Any:
        if self.has_const:
            return self.const
        if len(self.columns) == 1:
            return row.get(self.columns[0])
        return self._joined([row.get(c) for c in self.columns])

    def _joined(self, parts: Sequence[Any]) -> Any:
        kept = [str(p).strip() for p in parts if not _blank(p)]
        return self.join.join(kept) if kept else None

    def convert(self, value: Any) -> Any:
        """The canonical value of one source value; raises :class:`MappingError`."""
        if _blank(value) or (self.nulls and str(value).strip() in self.nulls):
            return self.default
        try:
            converted = self._convert(value, self.formats, self.decimal)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            fmts = " or ".join(repr(f) for f in self.formats)
            raise MappingError(
                self.name,
                f"cannot read {shown} as {self.transform}"
                + (f" with format {fmts}" if self.formats else "")
                + f": {exc}",
            ) from None
        if self.table is not None:
            code = str(converted).strip().lower()
            if code in self.table:
                return self.table[code]
            if self.default is not None:
                return self.default
            known = ", ".join(self._table_keys[:12]) + (", ..." if len(self._table_keys) > 12 else "")
            raise MappingError(self.name, f"code {converted!r} is not in the code table ({known})")
        return converted

    def __call__(self, row: Mapping[str, Any]) -> Any:
        return self.convert(self.origin(row))

    # -- a column of values -------------------------------------------------

    def _safe(self, value: Any) -> Any:
        try:
            return self.convert(value)
        except MappingError:
            return _FAIL

    def column(self, source: ColumnSource, n: int) -> tuple[Any, bool, Any, Any]:
        """The canonical values of ``n`` rows, with :data:`_FAIL` where one cannot be mapped.

        Returns:
            The values (a new list, or an object array for an Arrow batch);
            whether any may be None (so the caller fills defaults or rejects
            rows only when it has to); whether any may be :data:`_FAIL` (for
            an Arrow batch: a boolean array marking them, or None); and for
            an Arrow batch a boolean array marking the Nones (None: none).
        """
        if self.has_const:
            value = self._safe(self.const)
            return [value] * n, value is None, value is _FAIL, None
        if len(self.columns) > 1:
            if self.plain_text:
                arrays = [source.arrow_column(c) for c in self.columns]
                if all(array is not None for array in arrays):
                    return self._arrow_joined(arrays)
            cols = [source.values(c) for c in self.columns]
            out = [self._safe(self._joined(parts)) for parts in zip(*cols, strict=True)]
            return out, True, True, None
        column = self.columns[0]
        array = source.arrow_column(column)
        if array is not None:
            return self.arrow_column(array)
        memo = self._memo
        if memo is not None:
            try:
                out = list(map(memo.__getitem__, source.each(column)))
            except KeyError as missing:
                if not self.plain_text and type(missing.args[0]) is str:
                    # New text (no C-speed shortcut takes text for another type): learnt at once.
                    col = source.values(column)
                    if self._learn(col):
                        return list(map(memo.__getitem__, col)), self._memo_none, self._memo_failed, None
                    memo = None  # unfit for the memo (or it is full): not tried again below
            except TypeError:
                pass
            else:
                return out, self._memo_none, self._memo_failed, None
        if self.plain_text:
            try:
                out = list(map(str.strip, source.each(column)))
            except TypeError:
                pass
            else:
                if not all(out):
                    default = self.default
                    return [v if v else default for v in out], default is None, False, None
                return out, False, False, None
        col = source.values(column)
        shortcut = self._typed(col)
        if shortcut is not None:
            return shortcut[0], shortcut[1], False, None
        if memo is not None and self._learn(col):
            return list(map(memo.__getitem__, col)), self._memo_none, self._memo_failed, None
        return [self._safe(v) for v in col], True, True, None

    def arrow_column(self, array: Any) -> tuple[Any, bool, Any, Any]:
        """:meth:`column` for an Arrow text array: object arrays and boolean masks, no list per value.

        Plain text is taken as it is wherever it cannot need stripping (see
        :func:`reconcile.extract._arrow.needs_python`) and converted in
        Python elsewhere, by distinct value when it repeats (one object per
        text); times to the second are parsed in Arrow; every other mapping
        is applied once per distinct value and spread by index.
        """
        from reconcile.extract import _arrow

        default = self.default
        if self.plain_text:
            if not self._text_repeats(array):
                out, none = self._plain_texts(array)
                return out, none is not None, None, none
            # By distinct value: each converted once (in Arrow where it needs no stripping)
            # and kept as one object for every row and batch that holds it.
            distinct, codes = _arrow.dictionary_codes(array)
            texts, blank = self._plain_texts(distinct)
            pool = self._texts
            lookup = np.empty(len(texts) + 1, dtype=object)
            if pool is not None and len(pool) + len(texts) <= _POOL_LIMIT:
                values = texts.tolist()
                if blank is None:  # every one a text: the pool's object for each, at C speed
                    lookup[:-1] = list(map(pool.setdefault, values, values))
                else:
                    lookup[:-1] = [v if v is None else pool.setdefault(v, v) for v in values]
            else:
                self._texts = None  # too many distinct texts to keep: each batch's own objects
                lookup[:-1] = texts
            lookup[-1] = default  # a null, as a blank text: the default
            return _spread(lookup, codes)
        if self._seconds_at_once:
            return self._arrow_seconds(array)
        distinct, codes = _arrow.dictionary(array)
        memo = self._memo
        if memo is not None:
            converted_values = list(map(memo.get, distinct, itertools.repeat(_MISSING, len(distinct))))
        else:
            converted_values = [_MISSING] * len(distinct)
        if _MISSING in converted_values:
            todo = [j for j, converted in enumerate(converted_values) if converted is _MISSING]
            for j, converted in zip(todo, self._safe_many([distinct[j] for j in todo]), strict=True):
                value = distinct[j]
                converted_values[j] = converted
                if memo is not None:
                    if len(memo) < _MEMO_LIMIT:
                        memo[value] = converted
                        # What the list path learns from the memo: it may give None or fail.
                        self._memo_failed |= converted is _FAIL
                        self._memo_none |= converted is None
                    else:
                        self._memo = memo = None
        converted_values.append(self._safe(None))  # the index of a null
        lookup = np.empty(len(converted_values), dtype=object)
        for j, converted in enumerate(converted_values):
            lookup[j] = converted
        return _spread(lookup, codes)

    def _arrow_joined(self, arrays: Sequence[Any]) -> tuple[Any, bool, Any, Any]:
        """:meth:`column` of plain text joined from several Arrow text columns, joined in Arrow.

        A row whose parts cannot need stripping (see
        :func:`reconcile.extract._arrow.needs_python`) is joined in Arrow:
        its null and empty parts left out, the others joined with ``join``
        (no part to join: the default). Any other row is joined in Python, as
        the list path joins it. Plain text never fails.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        from reconcile.extract import _arrow

        n = len(arrays[0])
        text = pa.large_string() if any(pa.types.is_large_string(a.type) for a in arrays) else pa.string()
        separator = pa.scalar(self.join, type=text)
        python = np.zeros(n, dtype=bool)
        joined: Any = None
        for array in arrays:
            empty, flagged = _arrow.needs_python(array)
            python |= flagged
            part = array.cast(text)
            if empty.any():
                part = pc.if_else(pa.array(empty), pa.scalar(None, type=text), part)
            # Both present: joined; one missing: the other (coalesce takes the first that is not null).
            joined = part if joined is None else pc.coalesce(pc.binary_join_element_wise(joined, part, separator), joined, part)
        out = _arrow.objects(joined)
        missing = _arrow.null_mask(joined)
        none: Any = None
        if missing is not None:
            if self.default is None:
                none = missing.copy()
            else:
                out[missing] = self.default
        for i in np.flatnonzero(python).tolist():
            value = self._safe(self._joined([array[i].as_py() for array in arrays]))
            out[i] = value
            if value is None:
                if none is None:
                    none = np.zeros(n, dtype=bool)
                none[i] = True
        if none is not None and not none.any():
            none = None
        return out, none is not None, None, none

    def _arrow_seconds(self, array: Any) -> tuple[Any, bool, Any, Any]:
        """:meth:`arrow_column` of a datetime field read to the second: the distinct texts parsed in Arrow.

        What :func:`_iso_seconds_at_once` cannot vouch for (and every value of
        a batch with fewer than :data:`_AT_ONCE` distinct texts) goes through
        :meth:`_safe` one by one. No memo: timestamps seldom repeat, and
        parsing them together costs less than looking them up.
        """
        from reconcile.extract import _arrow

        distinct, codes = _arrow.dictionary_codes(array)
        k = len(distinct)
        lookup = np.empty(k + 1, dtype=object)
        rest = np.arange(k)
        if k >= _AT_ONCE:
            at_once = _iso_seconds_at_once(distinct, self.formats)
            if at_once is not None:
                lookup[:k], taken = at_once
                rest = np.flatnonzero(~taken)
        if len(rest):
            values = distinct.take(rest).to_pylist()
            lookup[rest] = np.fromiter(map(self._safe, values), dtype=object, count=len(values))
        lookup[k] = self._safe(None)  # the index of a null
        return _spread(lookup, codes)

    def _plain_texts(self, array: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """Plain text of an Arrow array as objects, stripped, blanks the default; where None, or None."""
        from reconcile.extract import _arrow

        n = len(array)
        default = self.default
        out = _arrow.objects(array)
        nulls = _arrow.null_mask(array)
        empty, flagged = _arrow.needs_python(array)
        blank = empty if nulls is None else empty | nulls  # both become the default
        none: Any = None
        if blank.any():
            if default is None:
                out[blank] = None
                none = blank
            else:
                out[blank] = default
        for i in np.flatnonzero(flagged).tolist():
            converted = self.convert(out[i])  # stripped, or the default if blank: never fails
            out[i] = converted
            if converted is None:
                if none is None:
                    none = np.zeros(n, dtype=bool)
                none[i] = True
        return out, none

    def _text_repeats(self, array: Any) -> bool:
        """Whether plain text should go by distinct value: its values repeat, twice or more on average.

        Such a column (a status, a product, a city, a foreign key) is
        stripped once per distinct value of each batch, and every row of a
        value gets the one object the field's pool keeps for it, across
        batches (up to :data:`_POOL_LIMIT` texts): taken one by one
        from Arrow, a million rows would be a million strings, which
        :func:`reconcile.pipeline.share_repeated_values` would then have to
        find equal again. Keys, names and addresses (mostly distinct) are
        taken as they are. Decided on the first batch of
        :data:`_REPEAT_SAMPLE` rows or more (a smaller one goes by value when
        it repeats, and the next batch decides again).
        """
        if self._repeats is not None:
            return self._repeats
        import pyarrow.compute as pc

        present = len(array) - array.null_count
        repeats = present > 0 and pc.count_distinct(array).as_py() * 2 <= present
        if len(array) >= _REPEAT_SAMPLE:
            self._repeats = repeats
        return repeats

    def _learn(self, col: Sequence[Any]) -> bool:
        """Convert each new distinct value of ``col`` once; False if the column is unfit for that."""
        memo = self._memo
        assert memo is not None
        try:
            distinct = set(col)
        except TypeError:  # unhashable values (lists from JSON)
            return False
        new = distinct.difference(memo)
        # Only str and None keys: 1 == 1.0 == True would share one entry.
        if any(type(v) is not str and v is not None for v in new):
            return False
        if len(memo) + len(new) > _MEMO_LIMIT:
            self._memo = None
            return False
        new_values = list(new)
        for value, converted in zip(new_values, self._safe_many(new_values), strict=True):
            memo[value] = converted
            if converted is _FAIL:
                self._memo_failed = True
            elif converted is None:
                self._memo_none = True
        return True

    def _safe_many(self, values: Sequence[Any]) -> list[Any]:
        """:meth:`_safe` of each value (distinct values, to be remembered).

        Dates written ``YYYY-MM-DD`` (read without a format, or with
        ``%Y-%m-%d``) are parsed by ``date.fromisoformat`` in one go, which
        is what :meth:`convert` ends in for them; anything else, and any
        text it refuses, goes through :meth:`_safe` (and its message).
        """
        if (
            self.transform == "date"
            and self.formats in ((), ("%Y-%m-%d",))
            and self.table is None
            and not self.nulls
            and len(values) > 8
        ):
            fromisoformat = dt.date.fromisoformat
            out: list[Any] = []
            for value in values:
                if type(value) is str and _ISO_DATE(value):
                    try:
                        out.append(fromisoformat(value))
                        continue
                    except ValueError:
                        pass
                out.append(self._safe(value))
            return out
        if self._seconds_at_once and len(values) >= _AT_ONCE:
            at_once = _iso_seconds_at_once(values, self.formats)
            if at_once is not None:
                parsed, ok = at_once[0].tolist(), at_once[1].tolist()
                return [parsed[i] if ok[i] else self._safe(value) for i, value in enumerate(values)]
        return [self._safe(value) for value in values]

    def _typed(self, col: Sequence[Any]) -> tuple[list[Any], bool] | None:
        """C-speed conversion when the values already have the right type, else None.

        Only where the converter is known to return such a value unchanged
        (a str stripped, an int, float, bool or date as it is).
        """
        if self.table is not None or self.nulls:
            return None
        transform = self.transform
        default = self.default
        if transform not in ("str", "int", "float", "bool", "date"):
            return None
        kinds = set(map(type, col))
        has_none = _NONE_TYPE in kinds
        kinds.discard(_NONE_TYPE)
        if transform == "str":
            if kinds <= {str}:
                return [default if v is None else (v.strip() or default) for v in col], default is None
            return None
        if not kinds or kinds == {self.out_type}:
            if not has_none:
                return list(col), False
            if default is None:
                return list(col), True
            return [default if v is None else v for v in col], False
        if transform == "bool" and kinds == {int} and set(col) <= {0, 1, None}:
            # Integer flags (a SQL INTEGER column): 0 and 1 are False and True, as _to_bool reads them.
            if not has_none:
                return list(map(bool, col)), False
            return [default if v is None else bool(v) for v in col], default is None
        if transform == "float" and not has_none and kinds <= _NUMBER_TYPES:
            try:
                return list(map(float, col)), False
            except (ValueError, OverflowError):  # a signalling NaN, a huge Decimal: one by one
                return None
        return None


class RowMapper:
    """Maps raw source rows onto one canonical record type.

    Args:
        model: The canonical record class.
        fields: Canonical field name -> column name or :class:`FieldMapping`
            (or the mapping as written in YAML).
    """

    def __init__(self, model: type[CanonicalRecord], fields: Mapping[str, FieldSpec | Mapping[str, Any]]):
        self.model = model
        self.fields = [
            _CompiledField(name, spec, model.model_fields[name].annotation)
            for name, spec in fields.items()
        ]

    @property
    def source_columns(self) -> list[str]:
        """Every source column the mapping reads, sorted."""
        return sorted({c for f in self.fields for c in f.columns})

    def column_of(self, field: str) -> str | None:
        """The one source column a canonical field is read from, if it is read from one."""
        for compiled in self.fields:
            if compiled.name == field and len(compiled.columns) == 1:
                return compiled.columns[0]
        return None

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return the canonical values of ``row``; raise :class:`MappingError`."""
        out: dict[str, Any] = {}
        for compiled in self.fields:
            value = compiled(row)
            if value is not None:
                out[compiled.name] = value
        return out

    def map_columns(
        self,
        source: ColumnSource,
        n: int,
        none_masks: dict[str, Any] | None = None,
    ) -> tuple[dict[str, Any], set[int], set[str]]:
        """Map ``n`` rows column by column.

        Args:
            source: The rows' source columns.
            n: The number of rows.
            none_masks: Filled, when given, with a boolean array per field
                marking its Nones, for the fields that have one (Arrow batches).

        Returns:
            Canonical field -> values (a list, or an object array for an
            Arrow batch); the indexes of rows where a value could not be
            mapped (map those rows with :meth:`map` for the reason); the
            fields whose values include None.
        """
        out: dict[str, Any] = {}
        failed: set[int] = set()
        with_none: set[str] = set()
        for compiled in self.fields:
            values, has_none, fail, none_mask = compiled.column(source, n)
            if isinstance(fail, np.ndarray):
                failed.update(np.flatnonzero(fail).tolist())
            elif fail and _FAIL in values:
                failed.update(i for i, v in enumerate(values) if v is _FAIL)
            if has_none:
                with_none.add(compiled.name)
                if none_masks is not None and none_mask is not None:
                    none_masks[compiled.name] = none_mask
            out[compiled.name] = values
        return out, failed, with_none
