"""Declarative mapping of a source's columns onto canonical fields.

A stream's ``fields`` maps each canonical field either to a source column name
or to a :class:`FieldMapping` (several columns joined, a constant, a transform
with a format, a code table). When no transform is given, the canonical
field's type chooses one (a ``date`` field parses dates, a ``bool`` field
parses ``Y``/``N``...), so most mappings are plain column names.
"""

from __future__ import annotations

import datetime as dt
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from reconcile.model import CanonicalRecord

__all__ = ["FieldMapping", "FieldSpec", "MappingError", "RowMapper", "Transform"]

Transform = Literal["str", "int", "float", "bool", "date", "datetime", "upper", "lower"]

_TRUE = {"y", "yes", "true", "t", "1", "on", "enabled"}
_FALSE = {"n", "no", "false", "f", "0", "off", "disabled"}


class FieldMapping(BaseModel):
    """How one canonical field is read from a source row.

    Exactly one of ``column``, ``columns`` or ``const`` says where the value
    comes from. ``transform`` converts it (default: chosen by the canonical
    field's type), ``format`` is the ``strptime`` format for dates, ``map`` is a
    code table applied after the transform, and ``default`` replaces a missing
    value or, with ``map``, a code the table does not know.
    """

    model_config = ConfigDict(extra="forbid")

    column: str | None = None
    columns: list[str] | None = Field(default=None, min_length=1)
    join: str = " "
    const: Any = None
    transform: Transform | None = None
    format: str | None = None
    map: dict[str, Any] | None = None
    default: Any = None

    @model_validator(mode="after")
    def _one_origin(self) -> FieldMapping:
        origins = [n for n in ("column", "columns", "const") if getattr(self, n) is not None]
        if len(origins) != 1:
            raise ValueError(
                "give exactly one of 'column', 'columns' or 'const' "
                f"(got {', '.join(origins) or 'none'})"
            )
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


def _to_str(value: Any, _fmt: str | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _to_int(value: Any, _fmt: str | None) -> int:
    if isinstance(value, bool):
        raise ValueError("a boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a whole number")
        return int(value)
    text = str(value).strip().replace(",", "")
    return int(text)


def _to_float(value: Any, _fmt: str | None) -> float:
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip().replace(",", "")
    if text.startswith("$"):
        text = text[1:]
    return float(text)


def _to_bool(value: Any, _fmt: str | None) -> bool:
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


def _to_datetime(value: Any, fmt: str | None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, dt.date):
        parsed = dt.datetime(value.year, value.month, value.day)
    elif fmt:
        parsed = dt.datetime.strptime(str(value).strip(), fmt)
    else:
        text = str(value).strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
    # Sources without a zone are read as UTC: every time in a run is UTC.
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def _to_date(value: Any, fmt: str | None) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if fmt:
        return dt.datetime.strptime(str(value).strip(), fmt).date()
    text = str(value).strip()
    if len(text) > 10 and text[10] in "T ":
        return _to_datetime(text, None).date()
    return dt.date.fromisoformat(text)


_TRANSFORMS: dict[str, Callable[[Any, str | None], Any]] = {
    "str": _to_str,
    "int": _to_int,
    "float": _to_float,
    "bool": _to_bool,
    "date": _to_date,
    "datetime": _to_datetime,
    "upper": lambda v, f: _to_str(v, f).upper(),
    "lower": lambda v, f: _to_str(v, f).lower(),
}


def _default_transform(annotation: Any) -> str:
    """Pick the transform a canonical field's type calls for."""
    if isinstance(annotation, str):  # postponed annotations are resolved by pydantic
        annotation = eval(annotation, vars(dt), {})  # pragma: no cover
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


class _CompiledField:
    __slots__ = ("name", "columns", "join", "const", "has_const", "convert", "fmt", "table", "default", "transform")

    def __init__(self, name: str, spec: FieldSpec, annotation: Any):
        self.name = name
        mapping = FieldMapping(column=spec) if isinstance(spec, str) else spec
        self.columns: list[str] = (
            [mapping.column] if mapping.column is not None else list(mapping.columns or [])
        )
        self.join = mapping.join
        self.has_const = mapping.column is None and mapping.columns is None
        self.const = mapping.const
        self.transform = mapping.transform or _default_transform(annotation)
        self.convert = _TRANSFORMS[self.transform]
        self.fmt = mapping.format
        self.table = (
            {str(k).strip().lower(): v for k, v in mapping.map.items()}
            if mapping.map is not None
            else None
        )
        self.default = mapping.default

    def __call__(self, row: Mapping[str, Any]) -> Any:
        if self.has_const:
            value: Any = self.const
        elif len(self.columns) == 1:
            value = row.get(self.columns[0])
        else:
            parts = [row.get(c) for c in self.columns]
            kept = [str(p).strip() for p in parts if not _blank(p)]
            value = self.join.join(kept) if kept else None
        if _blank(value):
            return self.default
        try:
            converted = self.convert(value, self.fmt)
        except (ValueError, TypeError, OverflowError) as exc:
            shown = repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            raise MappingError(
                self.name,
                f"cannot read {shown} as {self.transform}"
                + (f" with format {self.fmt!r}" if self.fmt else "")
                + f": {exc}",
            ) from None
        if self.table is not None:
            code = str(converted).strip().lower()
            if code in self.table:
                return self.table[code]
            if self.default is not None:
                return self.default
            known = ", ".join(sorted(self.table)[:12])
            raise MappingError(self.name, f"code {converted!r} is not in the code table ({known})")
        return converted


class RowMapper:
    """Maps raw source rows onto one canonical record type.

    Args:
        model: The canonical record class.
        fields: Canonical field name -> column name or :class:`FieldMapping`.
    """

    def __init__(self, model: type[CanonicalRecord], fields: Mapping[str, FieldSpec]):
        self.model = model
        self._fields = [
            _CompiledField(name, spec, model.model_fields[name].annotation)
            for name, spec in fields.items()
        ]

    @property
    def source_columns(self) -> list[str]:
        return sorted({c for f in self._fields for c in f.columns})

    def column_of(self, field: str) -> str | None:
        for compiled in self._fields:
            if compiled.name == field and len(compiled.columns) == 1:
                return compiled.columns[0]
        return None

    def map(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """Return the canonical values of ``row``; raise :class:`MappingError`."""
        out: dict[str, Any] = {}
        for compiled in self._fields:
            value = compiled(row)
            if value is not None:
                out[compiled.name] = value
        return out
