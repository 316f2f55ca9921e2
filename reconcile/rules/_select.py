"""Selecting records for the generic rule kinds: a record type, sources, filters, a time field.

A selection is written in YAML as::

    present:
      type: subscription
      sources: [billing]                  # optional: every source by default
      where:                              # every filter must hold
        - {field: status, op: in, value: [active, suspended]}
        - {field: start_date, op: lt, value: "as_of - 30 days"}
      time_field: start_date              # optional: when the record happened

and turned into a frame with whole-column operations (no per-row Python).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import typing
from collections.abc import Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from reconcile._factorize import factorize_objects
from reconcile.model import RECORD_TYPES
from reconcile.rules._common import (
    column_values,
    confidence,
    cutoff_day,
    distinct_values,
    entity_key,
    per_row,
    take,
    truthy,
    utc,
    with_columns,
)
from reconcile.rules.base import META_COLUMNS, RuleContext, parse_duration

__all__ = [
    "FieldKind",
    "FieldPair",
    "Filter",
    "Pairing",
    "RecordTypeName",
    "Records",
    "check_field",
    "check_pairs",
    "column_text",
    "field_kind",
    "age_text",
    "duration_text",
    "distinct_pairs",
    "join_codes",
    "key_codes",
    "pair_up",
    "time_text",
]

if typing.TYPE_CHECKING:
    RecordTypeName = str
else:  # the canonical record types, as a Literal: the JSON Schema and errors list them
    RecordTypeName = Literal[tuple(RECORD_TYPES)]
Op = Literal["in", "not_in", "eq", "ne", "lt", "le", "gt", "ge", "is_null", "not_null"]
FieldKind = Literal["text", "number", "bool", "date", "datetime"]

_LIST_OPS = ("in", "not_in")
_NULL_OPS = ("is_null", "not_null")
_ORDER_OPS = ("lt", "le", "gt", "ge")
_AS_OF = re.compile(r"^\s*as_of\s*(?:([+-])\s*(.+?))?\s*$", re.IGNORECASE)
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def field_kind(record_type: str, name: str) -> FieldKind:
    """How values of a field compare: as text, numbers, booleans, dates or moments."""
    if name == "_confidence":
        return "number"
    if name in META_COLUMNS:
        return "text"
    annotation = RECORD_TYPES[record_type].model_fields[name].annotation
    args = [a for a in typing.get_args(annotation) if a is not type(None)] or [annotation]
    kind = args[0]
    if kind is dt.datetime:
        return "datetime"
    if kind is dt.date:
        return "date"
    if kind is bool:
        return "bool"
    if kind in (int, float):
        return "number"
    return "text"


def check_field(record_type: str, name: str, what: str = "field") -> None:
    """Raise a ValueError naming the record type's fields if ``name`` is not one of them."""
    fields = [*RECORD_TYPES[record_type].model_fields, *META_COLUMNS]
    if name in fields:
        return
    close = difflib.get_close_matches(name, fields, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ValueError(
        f"{what} {name!r} is not a field of {record_type}{hint}; "
        f"fields: {', '.join(RECORD_TYPES[record_type].model_fields)}, or {', '.join(META_COLUMNS)}"
    )


def time_value(value: Any, as_of: dt.datetime) -> pd.Timestamp:
    """A filter's time value: a date or moment, or ``as_of``, ``as_of - 30 days``, ``as_of + 1 day``."""
    if isinstance(value, str):
        match = _AS_OF.match(value)
        if match:
            moment = pd.Timestamp(as_of).tz_convert("UTC")
            if match.group(1):
                delta = parse_duration(match.group(2))
                if not isinstance(delta, dt.timedelta):
                    raise ValueError(f"cannot read {match.group(2)!r} in {value!r} as a duration such as '30 days'")
                moment = moment + delta if match.group(1) == "+" else moment - delta
            return moment
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        stamp = pd.NaT
    if pd.isna(stamp):
        raise ValueError(
            f"{value!r} is not a date or time; write 2026-08-02, 2026-08-02T10:00:00Z or 'as_of - 30 days'"
        )
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _bool_value(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if str(value).strip().casefold() in _TRUE:
        return True
    if str(value).strip().casefold() in _FALSE:
        return False
    raise ValueError(f"{value!r} is not true or false")


def column_text(series: pd.Series) -> pd.Series:
    """Values as stripped, case-folded text (object dtype; None where missing or blank).

    Each distinct value is folded once, so a column of a few statuses over
    millions of rows costs a hash lookup per row. A column of objects is
    coded in one pass (:func:`~reconcile.rules._common.distinct_values`) and
    each row takes its value's text by its code; any other dtype is read
    through its distinct values.
    """
    if series.dtype == object:
        codes, distinct = distinct_values(series)
        texts = [str(value).strip().casefold() or None for value in distinct.tolist()]
        return pd.Series(per_row(codes, texts, None), index=series.index, name=series.name if texts else None,
                         dtype=object)
    present = series.dropna()
    lookup = {value: str(value).strip().casefold() or None for value in pd.unique(present)}
    folded = series.map(lookup) if lookup else pd.Series(None, index=series.index, dtype=object)
    return folded.astype(object).where(folded.notna(), None)


class Filter(BaseModel):
    """One condition a record must meet: ``{field: status, op: in, value: [active]}``.

    ``op`` is one of ``eq``, ``ne``, ``in``, ``not_in`` (text compared
    case-insensitively), ``lt``, ``le``, ``gt``, ``ge`` (numbers, dates and
    times by value), ``is_null`` and ``not_null`` (no value; blank text is
    missing). A value of a date or time field may be ``as_of``, ``as_of - 30
    days`` or ``as_of + 1 day``; a date field is compared by day. A missing
    value never satisfies ``eq``, ``in`` or an order; it satisfies ``ne`` and
    ``not_in``.

    Attributes:
        field: A field of the record type (or a meta column such as ``_source``).
        op: The comparison.
        value: What to compare with: one value, or a list for ``in`` and ``not_in``.
    """

    model_config = ConfigDict(extra="forbid")

    field: str = Field(min_length=1)
    op: Op = "eq"
    value: Any = None

    @model_validator(mode="after")
    def _value_fits_op(self) -> Filter:
        if self.op in _NULL_OPS:
            if self.value is not None:
                raise ValueError(f"op {self.op!r} takes no value; remove value: {self.value!r}")
        elif self.op in _LIST_OPS:
            if self.value is None:
                raise ValueError(f"op {self.op!r} needs a list of values, e.g. value: [active, suspended]")
            if not isinstance(self.value, list | tuple):
                self.value = [self.value]
        elif isinstance(self.value, list | tuple | dict):
            raise ValueError(f"op {self.op!r} compares with one value; use op: in for a list")
        elif self.value is None:
            raise ValueError(f"op {self.op!r} needs a value (to select missing values use op: is_null)")
        return self

    def values(self) -> list[Any]:
        if self.op in _NULL_OPS:
            return []
        return list(self.value) if self.op in _LIST_OPS else [self.value]

    def check(self, record_type: str) -> None:
        """Raise a ValueError if the field is unknown or a value cannot be read as its type."""
        check_field(record_type, self.field)
        kind = field_kind(record_type, self.field)
        if self.op in _ORDER_OPS and kind in ("text", "bool"):
            raise ValueError(f"op {self.op!r} orders numbers, dates and times; {self.field!r} is {kind}")
        for value in self.values():
            try:
                self._typed(value, kind, EXAMPLE_AS_OF_PROBE)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"field {self.field!r} ({kind}): {exc}") from None

    @staticmethod
    def _typed(value: Any, kind: FieldKind, as_of: dt.datetime) -> Any:
        if kind == "number":
            if isinstance(value, bool):
                raise ValueError(f"{value!r} is not a number")
            return float(value)
        if kind == "bool":
            return _bool_value(value)
        if kind == "date":
            return time_value(value, as_of).normalize()
        if kind == "datetime":
            return time_value(value, as_of)
        if isinstance(value, dict | list):
            raise ValueError(f"{value!r} is not a single value")
        return str(value).strip().casefold()

    def mask(self, frame: pd.DataFrame, record_type: str, as_of: dt.datetime) -> pd.Series:
        """Which rows of ``frame`` meet the condition."""
        kind = field_kind(record_type, self.field)
        raw = frame[self.field] if self.field in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if kind == "number":
            column: pd.Series = pd.to_numeric(raw, errors="coerce")
        elif kind in ("date", "datetime"):
            column = utc(raw)
        elif kind == "bool":
            column = truthy(raw).astype(object).where(raw.notna(), None)
        else:
            column = column_text(raw)  # blank text is missing
        missing = column.isna() | raw.isna()
        if self.op == "is_null":
            return missing
        if self.op == "not_null":
            return ~missing
        values = [self._typed(v, kind, as_of) for v in self.values()]
        if self.op in ("eq", "in"):
            hit = column.isin(values)
        elif self.op in ("ne", "not_in"):
            return ~column.isin(values).fillna(False).astype(bool) | missing
        else:
            value = values[0]
            compare = {"lt": column.lt, "le": column.le, "gt": column.gt, "ge": column.ge}[self.op]
            hit = compare(value)
        return hit.fillna(False).astype(bool) & ~missing

    def describe(self, record_type: str) -> str:
        """The condition in words: ``status is active or suspended``."""
        name = self.field.lstrip("_").replace("_", " ")
        shown = [str(v) for v in self.values()]
        if self.op == "is_null":
            return f"no {name}"
        if self.op == "not_null":
            return f"a {name}"
        if self.op in ("eq", "in"):
            return f"{name} {' or '.join(shown)}"
        if self.op in ("ne", "not_in"):
            return f"{name} not {' or '.join(shown)}"
        kind = field_kind(record_type, self.field)
        words = {
            "lt": "before" if kind in ("date", "datetime") else "below",
            "le": "on or before" if kind in ("date", "datetime") else "at most",
            "gt": "after" if kind in ("date", "datetime") else "above",
            "ge": "on or after" if kind in ("date", "datetime") else "at least",
        }
        return f"{name} {words[self.op]} {shown[0]}"


# Any fixed moment will do to check that a filter's time value can be read.
EXAMPLE_AS_OF_PROBE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


class Records(BaseModel):
    """A selection of records: of one type, from some sources, meeting every filter.

    Records dated after the run's ``as_of`` (by ``time_field``) did not exist
    yet as of the run and are left out. Records of one customer are those of
    one matched entity; a record no entity holds is grouped with its parent
    record (or alone), never with another customer's.

    Attributes:
        type: The canonical record type (``subscription``, ``service_line``...).
        sources: Only records of these sources; ``None``: every source.
        where: Filters every selected record meets (see below).
        time_field: The date or time field saying when the record happened;
            the rule's ``grace`` and ``as_of`` are measured on it.
        show: More fields to show in the records of a finding.
    """

    model_config = ConfigDict(extra="forbid")

    type: RecordTypeName
    sources: list[str] | None = Field(default=None, min_length=1)
    where: list[Filter] = Field(default_factory=list)
    time_field: str | None = None
    show: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _fields_exist(self) -> Records:
        for position, condition in enumerate(self.where):
            try:
                condition.check(self.type)
            except ValueError as exc:
                raise ValueError(f"where[{position}]: {exc}") from None
        if self.time_field is not None:
            check_field(self.type, self.time_field, "time_field")
            if field_kind(self.type, self.time_field) not in ("date", "datetime"):
                raise ValueError(f"time_field {self.time_field!r} of {self.type} is not a date or time")
        for name in self.show:
            check_field(self.type, name, "show")
        return self

    @property
    def key_field(self) -> str:
        return RECORD_TYPES[self.type].key_field

    @property
    def time_kind(self) -> FieldKind | None:
        return None if self.time_field is None else field_kind(self.type, self.time_field)

    def fields(self, *extra: str | None) -> tuple[str, ...]:
        """The fields a finding shows of these records: key, filters, time, ``show``, ``extra``."""
        names = [self.key_field, *(f.field for f in self.where), self.time_field, *extra, *self.show]
        return tuple(dict.fromkeys(n for n in names if n and not n.startswith("_")))

    def candidates(
        self, ctx: RuleContext, only_ok: bool = False, columns: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Records of the type and sources as of the run, with ``_ok`` (meets ``where``).

        Adds ``_ekey`` (the customer), ``_conf`` (match confidence) and ``_t``
        (the time field as UTC, NaT if none). ``only_ok`` keeps only the
        records that meet ``where``. ``columns`` limits the frame to those
        columns and the meta columns (default: every column).
        """
        frame = ctx.table(self.type)
        if frame.empty:
            return with_columns(frame, _ekey=pd.Series(dtype=object), _conf=pd.Series(dtype=float),
                                _t=pd.Series(dtype="datetime64[ns, UTC]"), _ok=pd.Series(dtype=bool))
        # Filters read whole columns; only the chosen rows of the wanted columns are copied.
        if self.sources is not None:
            positions = np.flatnonzero(frame["_source"].astype(str).isin(self.sources).to_numpy())
        else:
            positions = np.arange(len(frame))
        if self.time_field is not None:
            time_column = frame[self.time_field]
            moment = utc(time_column if self.sources is None else time_column.take(positions))
        else:
            moment = pd.Series(pd.NaT, index=frame.index.take(positions), dtype="datetime64[ns, UTC]")
        current = ~(moment > pd.Timestamp(ctx.as_of)).to_numpy(dtype=bool)
        positions, moment = positions[current], moment[current]
        filtered = _columns_at(frame, [c.field for c in self.where], positions)
        ok = pd.Series(True, index=filtered.index)
        for condition in self.where:
            ok &= condition.mask(filtered, self.type, ctx.as_of)
        if only_ok:
            keep = ok.to_numpy(dtype=bool)
            positions, moment, ok = positions[keep], moment[keep], ok[keep]
        out = take(frame, frame.columns if columns is None else columns, positions)
        return with_columns(out, _ekey=entity_key(out), _conf=confidence(out), _t=moment, _ok=ok.astype(bool))

    def select(self, ctx: RuleContext, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The records that meet every filter (see :meth:`candidates`)."""
        return self.candidates(ctx, only_ok=True, columns=columns)

    def settled(self, frame: pd.DataFrame, as_of: dt.datetime, grace: dt.timedelta) -> pd.Series:
        """Records older than the grace period (or of unknown time): the other systems had time to follow.

        A date field is compared by day (see :func:`~reconcile.rules._common.cutoff_day`).
        """
        if self.time_field is None:
            return pd.Series(True, index=frame.index)
        if self.time_kind == "date":
            cut = cutoff_day(as_of, grace)
        else:
            cut = pd.Timestamp(as_of) - pd.Timedelta(grace)
        return (frame["_t"].isna() | (frame["_t"] < cut)).astype(bool)

    def describe(self) -> str:
        """The filters in words: ``status active and product fiber_1g``."""
        return " and ".join(f.describe(self.type) for f in self.where)


def _columns_at(frame: pd.DataFrame, names: Sequence[str], positions: np.ndarray) -> pd.DataFrame:
    """The named columns that exist, at ``positions`` (no meta columns)."""
    wanted = [c for c in dict.fromkeys(names) if c in frame.columns]
    return pd.DataFrame({c: column_values(frame[c]).take(positions) for c in wanted},
                        index=frame.index.take(positions), copy=False)


def _pair(value: Any) -> Any:
    if isinstance(value, str):
        return {"left": value, "right": value}
    return value


class FieldPair(BaseModel):
    """Two fields that must hold the same value: ``{left: product, right: product}``, or just ``product``.

    Compared as case-insensitive text; a missing value matches nothing.
    ``map`` lists, for a value on the left, the values on the right that
    correspond (``{home_bundle: [fiber_1g, fiber_300]}``); a value it does
    not list corresponds to itself.

    Attributes:
        left: The field of the first selection.
        right: The field of the second selection (the same name if omitted).
        map: Left value -> right values that correspond to it.
    """

    model_config = ConfigDict(extra="forbid")

    left: str = Field(min_length=1)
    right: str = Field(min_length=1)
    map: dict[str, list[str]] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _right_defaults_to_left(cls, data: Any) -> Any:
        if isinstance(data, dict) and "left" in data and "right" not in data:
            return {**data, "right": data["left"]}
        return data

    def describe(self) -> str:
        return self.left.lstrip("_").replace("_", " ")


Pairing = Annotated[FieldPair, BeforeValidator(_pair)]


def check_pairs(pairs: Sequence[FieldPair], left: Records, right: Records) -> None:
    for position, pair in enumerate(pairs):
        try:
            check_field(left.type, pair.left, "left")
            check_field(right.type, pair.right, "right")
        except ValueError as exc:
            raise ValueError(f"match[{position}]: {exc}") from None


def _keys(frame: pd.DataFrame, pairs: Sequence[FieldPair], side: str) -> pd.DataFrame:
    """``_rid``, ``_ekey`` and one ``_m<i>`` column per pair; the left side expands mapped values.

    Indexed by the rows' positions in ``frame``. A row missing a value of a
    pair is left out.
    """
    positions = np.arange(len(frame))
    keys: dict[str, np.ndarray] = {}
    for position, pair in enumerate(pairs):
        name = pair.left if side == "left" else pair.right
        raw = frame[name] if name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        raw = raw.reset_index(drop=True)
        values = column_text(raw) if not name.startswith("_") else raw.astype(object).where(raw.notna(), None)
        current = values.to_numpy(dtype=object)[positions]
        if side == "left" and pair.map:
            mapping = {str(k).strip().casefold(): [str(v).strip().casefold() for v in vs] for k, vs in pair.map.items()}
            lookup = {u: mapping.get(u, [u]) for u in values.dropna().unique()}
            # One row per mapped value (none for a missing value or an empty list), in order.
            expanded = [lookup[v] if v is not None and v in lookup else [] for v in current.tolist()]
            counts = np.fromiter((len(e) for e in expanded), dtype=np.intp, count=len(expanded))
            flat = np.fromiter((v for e in expanded for v in e), dtype=object, count=int(counts.sum()))
            keys = {k: np.repeat(v, counts) for k, v in keys.items()}
            positions = np.repeat(positions, counts)
            current = flat
        keep = pd.notna(current)
        keys = {k: v[keep] for k, v in keys.items()}
        keys[f"_m{position}"] = current[keep]
        positions = positions[keep]
    data = {"_rid": column_values(frame["_rid"]).take(positions), "_ekey": column_values(frame["_ekey"]).take(positions)}
    return pd.DataFrame({**data, **keys}, index=positions, copy=False)


def key_codes(
    left: pd.DataFrame, right: pd.DataFrame, pairs: Sequence[FieldPair]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The match keys of ``left`` and ``right`` as integers, equal where records pair up.

    Returns ``(left_rows, left_code, right_rows, right_code)``: positions of
    key rows in their frame (a left row repeats once per mapped value; a row
    missing a value is left out) and one integer per key row, the same for
    records of one customer that agree on every pair.
    """
    lk = _keys(left, pairs, "left")
    rk = _keys(right, pairs, "right")
    left_code, right_code = _joint_codes(lk, rk, ["_ekey", *(f"_m{i}" for i in range(len(pairs)))])
    return lk.index.to_numpy(), left_code, rk.index.to_numpy(), right_code


def join_codes(left_code: np.ndarray, right_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every (i, j) with ``left_code[i] == right_code[j]``, ordered by i, then j."""
    joined = pd.DataFrame({"_l": left_code, "_li": np.arange(len(left_code))}).merge(
        pd.DataFrame({"_l": right_code, "_ri": np.arange(len(right_code))}), on="_l")
    li, ri = joined["_li"].to_numpy(), joined["_ri"].to_numpy()
    order = np.lexsort((ri, li))
    return li[order], ri[order]


def distinct_pairs(left_at: np.ndarray, right_at: np.ndarray, size: int) -> np.ndarray:
    """Positions of the first of each distinct (left, right) pair, in order (``size``: right positions < size)."""
    _, first = np.unique(left_at.astype(np.int64) * max(size, 1) + right_at, return_index=True)
    return np.sort(first)


def pair_up(
    left: pd.DataFrame, right: pd.DataFrame, pairs: Sequence[FieldPair], right_columns: Sequence[str] = ()
) -> pd.DataFrame:
    """Pairs of a left and a right record of the same customer agreeing on every pair of fields.

    Returns ``_rid`` (left), ``_ekey``, ``_rid_r`` (right) and the right
    frame's ``right_columns``, one row per pair, in the order of the left
    records (and of a left record's mapped values), then of the right ones.
    """
    extra = [c for c in right_columns if c not in ("_rid", "_ekey")]
    if left.empty or right.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in ("_rid", "_ekey", "_rid_r", *extra)})
    if not (left["_rid"].is_unique and right["_rid"].is_unique):
        return _pair_up_by_merge(_keys(left, pairs, "left"), _keys(right, pairs, "right"), right, pairs, extra)
    # Every record has its own rid: join on integer codes of the keys and
    # take each pair's columns by position, with no string hashing beyond the keys.
    left_rows, left_code, right_rows, right_code = key_codes(left, right, pairs)
    li, ri = join_codes(left_code, right_code)
    left_at, right_at = left_rows[li], right_rows[ri]
    if any(pair.map for pair in pairs):
        # A map can list a value twice over: one row per pair of records.
        keep = distinct_pairs(left_at, right_at, len(right))
        left_at, right_at = left_at[keep], right_at[keep]
    return pd.DataFrame(
        {
            "_rid": column_values(left["_rid"]).take(left_at),
            "_ekey": column_values(left["_ekey"]).take(left_at),
            "_rid_r": column_values(right["_rid"]).take(right_at),
            **{c: column_values(right[c]).take(right_at) for c in extra},
        },
        copy=False,
    )


#: Combined match keys stay below this (int64 never overflows).
_KEY_LIMIT = 2**62


def _joint_codes(lk: pd.DataFrame, rk: pd.DataFrame, on: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One integer per row of ``lk`` and of ``rk``, equal where the rows agree on every ``on`` column."""
    size = len(lk)
    key: np.ndarray | None = None
    for column in on:
        codes, uniques = factorize_objects(  # not pd.factorize: '' and '\x00' are two keys
            np.concatenate([np.asarray(lk[column], dtype=object), np.asarray(rk[column], dtype=object)]),
            na_sentinel=False,
        )
        if key is None:
            key = codes.astype(np.int64)
            continue
        # Equal keys, and only those, make equal combined keys: key * width + code for codes
        # below width. Re-coded (densely) only when that could overflow, not after each
        # column: a hash pass over every key row, and its table, at each column was
        # half of the keying's time and memory.
        width = len(uniques) + 1
        if int(key.max(initial=0)) >= _KEY_LIMIT // width:
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * width + codes
    assert key is not None
    return key[:size], key[size:]


def _pair_up_by_merge(
    lk: pd.DataFrame, rk: pd.DataFrame, right: pd.DataFrame, pairs: Sequence[FieldPair], extra: list[str]
) -> pd.DataFrame:
    """:func:`pair_up` when rids repeat: a merge on the keys and on ``_rid``, pairs once each."""
    rk = rk.merge(right[["_rid", *extra]], on="_rid", how="left") if extra else rk
    on = ["_ekey", *(f"_m{i}" for i in range(len(pairs)))]
    joined = lk.merge(rk, on=on, suffixes=("", "_r"))
    if "_rid_r" not in joined.columns:  # pragma: no cover - _rid is always on both sides
        joined = joined.rename(columns={"_rid": "_rid_r"})
    return joined.drop_duplicates(["_rid", "_rid_r"]).drop(columns=[c for c in on if c != "_ekey"])


def time_text(value: Any, kind: FieldKind | None) -> str | None:
    """A date (``2026-08-02``) or moment (``2026-08-02 14:05 UTC``) for a story; None if unknown."""
    if value is None or value is pd.NaT or (isinstance(value, float) and pd.isna(value)):
        return None
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if kind == "date":
        return str(stamp.date().isoformat())
    return str(stamp.strftime("%Y-%m-%d %H:%M UTC"))


def duration_text(value: dt.timedelta | pd.Timedelta) -> str:
    """``3 days``, ``36 hours``, ``90 minutes``, ``45 seconds``: the largest whole unit."""
    seconds = int(pd.Timedelta(value).total_seconds())
    for size, word in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds and seconds % size == 0:
            count = seconds // size
            return f"{count} {word}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def age_text(value: dt.timedelta | pd.Timedelta) -> str:
    """An age for a story, rounded down: ``9 days`` from two days on, else ``30 hours``."""
    hours = pd.Timedelta(value).total_seconds() / 3600
    if hours >= 48:
        days = int(hours // 24)
        return f"{days} days"
    whole = int(hours)
    return f"{whole} hour{'s' if whole != 1 else ''}"
