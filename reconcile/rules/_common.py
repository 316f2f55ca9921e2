"""Column helpers shared by the built-in rule kinds.

Every helper works on whole columns, so a rule filters and joins millions of
records with pandas and only builds Python objects for the few rows that end
up in a finding.

Entities. A record's entity is ``_entity``. A record no entity holds is not
dropped: a dependent record (a subscription, an invoice) falls back to its
parent's rid, and a record without a parent to its own rid (see
:func:`entity_key`). So a subscription whose account matched nothing still
sits with that account's other records, and never with another customer's.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reconcile._factorize import factorize_objects
from reconcile.findings import RecordRef
from reconcile.model import RECORD_TYPES
from reconcile.rules.base import META_COLUMNS, Rule, _jsonable

__all__ = [
    "BuiltinRule",
    "confidence",
    "cutoff_day",
    "day",
    "distinct_values",
    "entity_key",
    "entity_or_none",
    "group_rows",
    "is_in",
    "min_confidence",
    "normalised",
    "parent_in",
    "parent_rid",
    "pairs_on",
    "per_row",
    "plural",
    "positional",
    "records",
    "rows",
    "take",
    "text",
    "truthy",
    "column_values",
    "utc",
    "widen",
    "with_columns",
]


class BuiltinRule(Rule):
    """A shipped rule kind: it documents every fact its findings carry in ``facts``.

    ``description`` (a story template written in a config file) is checked
    against ``facts`` by :class:`~reconcile.rules.base.Rule` itself.
    """


def take(frame: pd.DataFrame, columns: Iterable[str] = (), rows: Any = None) -> pd.DataFrame:
    """A new frame of ``columns`` and the meta columns (those that exist) at ``rows``.

    ``rows`` is a boolean mask or positions (every row if None). A canonical
    table has dozens of columns and a rule reads a handful: taking them column
    by column copies only what the rule reads, where a boolean index of the
    whole table copies (and consolidates) every column.
    """
    names = {*META_COLUMNS, *columns}
    wanted = [c for c in frame.columns if c in names]
    if rows is None:
        return pd.DataFrame({c: column_values(frame[c]) for c in wanted}, index=frame.index, copy=True)
    positions = np.asarray(rows)
    if positions.dtype == bool:
        positions = np.flatnonzero(positions)
    data = {c: column_values(frame[c]).take(positions) for c in wanted}
    return pd.DataFrame(data, index=frame.index.take(positions), copy=False)


def with_columns(frame: pd.DataFrame, **columns: Any) -> pd.DataFrame:
    """What ``frame.assign(**columns)`` gives, without copying ``frame``'s columns first.

    ``assign`` copies every column of the frame (and merges them into one
    array per dtype) before adding the new ones: a fifth of the rules' time
    on frames of millions of rows. Here the result shares ``frame``'s column
    arrays; neither frame is written to in place by the rules, and setting a
    column on one never changes the other. Values are aligned on the index,
    as ``assign`` aligns them.
    """
    out = frame.copy(deep=False)
    for name, value in columns.items():
        out[name] = value
    return out


def column_values(series: pd.Series) -> Any:
    """A column's values without a copy: its numpy array, or its extension array (dates with a zone)."""
    return np.asarray(series) if isinstance(series.dtype, np.dtype) else series.array


def positional(table: pd.DataFrame) -> bool:
    """True if ``table``'s index labels are its row positions (as the pipeline builds tables)."""
    index = table.index
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def widen(
    table: pd.DataFrame, frame: pd.DataFrame, positions: Any, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """``frame`` with the ``columns`` of ``table`` it lacks (every column if None).

    Row ``i`` of ``frame`` is the record at ``positions[i]`` in ``table``; a
    rule compares records on a few columns and takes the rest for the few it reports.
    """
    names = list(table.columns) if columns is None else [c for c in dict.fromkeys(columns) if c in table.columns]
    lacking = [c for c in names if c not in frame.columns]
    if not lacking:
        return frame
    at = np.asarray(positions, dtype=np.intp)
    return frame.assign(**{c: column_values(table[c]).take(at) for c in lacking})


def rows(frame: pd.DataFrame, columns: Iterable[str] = ()) -> list[dict[str, Any]]:
    """Rows as dicts of ``columns`` (those that exist) plus ``_source``, ``_key``, ``_rid``.

    Read column by column: building findings from plain dicts keeps the
    per-finding work free of pandas overhead.
    """
    wanted = list(dict.fromkeys(c for c in ("_source", "_key", "_rid", *columns) if c in frame.columns))
    values = [frame[c].tolist() for c in wanted]
    return [dict(zip(wanted, row, strict=True)) for row in zip(*values, strict=True)]


def group_rows(frame: pd.DataFrame, key: str, columns: Iterable[str] = ()) -> dict[Any, list[dict[str, Any]]]:
    """:func:`rows` per value of ``key``, each list in the frame's order."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for row in rows(frame, (*columns, key)):
        out.setdefault(row[key], []).append(row)
    return out


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def entity_key(frame: pd.DataFrame) -> pd.Series:
    """The entity to group a record by: ``_entity``, else ``~<parent rid>``, else ``~<own rid>``.

    The ``~`` prefix keeps the fallback keys apart from real entity ids.
    """
    key = _column(frame, "_entity").astype(object)
    for column in ("_parent_rid", "_rid"):
        mask = key.isna().to_numpy()
        if not mask.any():
            return key  # nothing missing, so no NaN to turn into None
        key = _filled(key, mask, "~" + _column(frame, column)[mask].astype("string"))
    return key.where(key.notna(), None)


def _filled(series: pd.Series, mask: np.ndarray, values: pd.Series) -> pd.Series:
    """``series`` (object dtype) with the rows under ``mask`` replaced by ``values`` (one per masked row).

    The fallback values are computed for the masked rows only, not the whole column.
    """
    out = series.to_numpy(dtype=object, copy=True)
    out[mask] = values.astype(object).to_numpy(dtype=object)
    return pd.Series(out, index=series.index, name=series.name, dtype=object)


def entity_or_none(value: Any) -> str | None:
    """The entity id a finding reports: real entity ids only, never a fallback key."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value)
    return None if text.startswith("~") else text


def parent_rid(frame: pd.DataFrame, record_type: str, rows: np.ndarray | None = None) -> pd.Series:
    """The parent's rid of each dependent record (of the records at positions ``rows``, if given).

    ``_parent_rid`` as the pipeline set it; where it is missing and the
    reference is the parent's key, the same-source parent's rid is assumed
    (``billing:account:AC-1`` for an invoice of ``AC-1`` in ``billing``).
    With ``rows``, what ``parent_rid(frame, record_type).iloc[rows]`` gives,
    without the column of every record first.
    """
    if rows is not None:
        rid = _column(frame, "_parent_rid")
        values = np.asarray(column_values(rid).take(rows), dtype=object)
        rid = pd.Series(values, index=frame.index.take(rows), name=rid.name, dtype=object)
        frame = _Rows(frame, rows)  # type: ignore[assignment]
    else:
        rid = _column(frame, "_parent_rid").astype(object)
    parent = RECORD_TYPES[record_type].parent
    if parent is None:
        return rid
    mask = rid.isna().to_numpy()
    if not mask.any():
        return rid  # every parent known, so no NaN to turn into None
    if parent.parent_field == RECORD_TYPES[parent.parent_type].key_field and parent.field in frame:
        guess = (
            frame["_source"][mask].astype("string")
            + f":{parent.parent_type}:"
            + frame[parent.field][mask].astype("string")
        )
        rid = _filled(rid, mask, guess)
    return rid.where(rid.notna(), None)


def parent_in(frame: pd.DataFrame, record_type: str, rids: Any) -> np.ndarray:
    """``parent_rid(frame, record_type).isin(rids)`` as a boolean array, without the column of every parent rid.

    The pipeline's ``_parent_rid`` is read as it is; the parents of the
    records it lacks are worked out (as :func:`parent_rid` does) for those
    records only.
    """
    given = _column(frame, "_parent_rid")
    hit = np.asarray(given.isin(rids).to_numpy(), dtype=bool)
    missing = np.flatnonzero(given.isna().to_numpy())
    if len(missing):
        hit[missing] = parent_rid(frame, record_type, missing).isin(rids).to_numpy()
    return hit


class _Rows:
    """The columns of ``frame`` at positions ``rows``, each taken when read (what ``frame.iloc[rows]`` holds)."""

    def __init__(self, frame: pd.DataFrame, rows: np.ndarray):
        self._frame, self._rows = frame, rows

    def __contains__(self, name: object) -> bool:
        return name in self._frame

    def __getitem__(self, name: str) -> pd.Series:
        column = self._frame[name]
        return pd.Series(column_values(column).take(self._rows), index=self._frame.index.take(self._rows),
                         name=column.name)


def utc(series: pd.Series) -> pd.Series:
    """Dates and datetimes as tz-aware UTC timestamps (a date is its midnight); NaT if unknown."""
    if series.empty:
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    # What to_datetime gives for a column that holds moments already, without
    # its sampling of the values (which builds thousands of Timestamps).
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if isinstance(series.dtype, np.dtype) and series.dtype.kind == "M":
        return series.dt.tz_localize("UTC")
    return pd.to_datetime(series, utc=True, errors="coerce")


def cutoff_day(as_of: dt.datetime, grace: dt.timedelta) -> pd.Timestamp:
    """Midnight (UTC) of the day of ``as_of - grace``.

    A date field is *older than the grace period* when its day comes before
    this day; comparing whole days keeps a date-only field from depending on
    the hour of the run.
    """
    moment = as_of - grace
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return pd.Timestamp(moment.date(), tz="UTC")


def distinct_values(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """A column of objects coded by its distinct values: ``(codes, values)``.

    ``values`` are the distinct values in order of appearance and
    ``codes[i]`` is row ``i``'s position among them, -1 where the row is
    missing. One hash pass over the objects, with the hash table ``pd.unique``,
    ``isin`` and ``map`` use: values equal as Python objects (1, 1.0 and True)
    are one value, the first of them. A column of a few statuses over millions
    of rows is then read once per status, and each row takes its answer by code.
    """
    return factorize_objects(series.to_numpy(dtype=object))  # text with a NUL kept apart too


def pairs_on(left: pd.Series, right: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(i, j)`` of every row ``i`` of ``left`` and ``j`` of ``right`` holding equal keys.

    The pairs ``left.merge(right, how="inner")`` on the keys gives, as
    positions instead of a frame of both sides' columns, and in a set order
    (merge's depends on its hash join): by left row, and each left row's
    right rows in their order. Keys are never missing here (the callers pair
    entity keys).
    """
    codes, uniques = factorize_objects(  # not pd.factorize: keys differing after a NUL stay apart
        np.concatenate([left.to_numpy(dtype=object), right.to_numpy(dtype=object)]), na_sentinel=False
    )
    mine, theirs = codes[: len(left)], codes[len(left) :]
    order = np.argsort(theirs, kind="stable")  # right rows grouped by key, each group in row order
    counts = np.bincount(theirs, minlength=len(uniques))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    per_left = counts[mine]
    at_left = np.repeat(np.arange(len(left), dtype=np.int64), per_left)
    # Within each left row's run of pairs, the k-th pair takes the k-th right row of its key.
    offsets = np.arange(len(at_left), dtype=np.int64) - np.repeat(np.cumsum(per_left) - per_left, per_left)
    at_right = order[np.repeat(starts[mine], per_left) + offsets].astype(np.int64, copy=False)
    return at_left, at_right


def per_row(codes: np.ndarray, per_value: Sequence[Any], missing: Any, dtype: Any = object) -> np.ndarray:
    """Each row's entry of ``per_value`` by its code (see :func:`distinct_values`); ``missing`` for code -1."""
    return np.array([*per_value, missing], dtype=dtype)[codes]


def is_in(series: pd.Series, values: Iterable[str] | None) -> pd.Series:
    """Case-insensitive membership; ``None`` means any value (but not a missing one)."""
    if values is None:
        return series.notna()
    wanted = {str(v).casefold() for v in values}
    if series.dtype == object:
        # Each distinct value folded once (a status column holds a handful of
        # them). Only when every value is text: distinct values of other types
        # can be equal (1 and True) yet read differently.
        codes, distinct = distinct_values(series)
        if len(distinct) and pd.api.types.infer_dtype(distinct, skipna=False) == "string":
            hit = per_row(codes, [v.casefold() in wanted for v in distinct.tolist()], False, bool)
            return pd.Series(hit, index=series.index, name=series.name)
    return series.astype("string").str.casefold().isin(wanted).fillna(False).astype(bool)


_TRUE = (True, "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES", "1", 1)


def truthy(series: pd.Series) -> pd.Series:
    """A boolean column read leniently (missing is false)."""
    if series.dtype == bool:  # True and False are read as themselves: no hash pass over the objects
        return series.copy()
    return series.astype(object).isin(_TRUE)


def confidence(frame: pd.DataFrame) -> pd.Series:
    """``_confidence`` as floats; a record with none stands alone, so 1.0."""
    values = pd.to_numeric(_column(frame, "_confidence"), errors="coerce").to_numpy(dtype=float, na_value=1.0)
    return pd.Series(np.clip(values, 0.0, 1.0), index=frame.index)


def normalised(frame: pd.DataFrame, record_type: str, columns: Sequence[str]) -> pd.DataFrame:
    """The frame with the normalise stage's ``_n_*`` columns, computing them if missing.

    The pipeline normalises identity tables before matching, so this is a
    no-op there; a caller that hands raw tables to a rule gets them computed.
    """
    if all(c in frame.columns for c in columns) or frame.empty:
        if frame.empty:
            frame = frame.copy()
            for c in columns:
                if c not in frame.columns:
                    frame[c] = pd.Series(dtype=object)
        return frame
    try:
        from reconcile.normalise import normalise_table
    except ImportError as exc:  # pragma: no cover - the normalise stage ships with the package
        missing = ", ".join(c for c in columns if c not in frame.columns)
        raise RuntimeError(
            f"the {record_type} table lacks the normalised columns {missing}; "
            "run reconcile.normalise.normalise_table on it first"
        ) from exc
    return normalise_table(frame, record_type)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 invoice"``, ``"3 invoices"``."""
    return f"{count} {word if count == 1 else (words or word + 's')}"


_ABSENT = object()


def records(
    frame: pd.DataFrame | Iterable[Mapping[str, Any]],
    record_type: str,
    fields: Sequence[str],
    role: str,
) -> list[RecordRef]:
    """RecordRefs for the rows of a (small) frame, with the fields that exist."""
    listed = rows(frame, fields) if isinstance(frame, pd.DataFrame) else list(frame)
    # Built without re-validation: every value is coerced here (str, plain JSON
    # values), and record_type/role come from the rule kinds' code.
    construct = _record_ref
    record_type = str(record_type)
    role = None if role is None else str(role)
    out = []
    absent = _ABSENT
    for row in listed:
        values = {}
        for name in fields:
            value = row.get(name, absent)
            if value is absent:
                continue
            # The common exact types as _jsonable reads them, without a call per value.
            kind = type(value)
            if kind is str or value is None or kind is bool or kind is int:
                values[name] = value
            elif kind is float:
                values[name] = None if value != value else value
            elif kind is dt.date:
                values[name] = value.isoformat()
            else:
                values[name] = _jsonable(value)
        source, key = row["_source"], row["_key"]
        out.append(construct(
            source if type(source) is str else str(source),
            record_type,
            key if type(key) is str else str(key),
            values,
            role,
        ))
    return out


def _construct_record_ref(source: str, record_type: str, key: str, fields: dict[str, Any], role: str | None) -> RecordRef:
    return RecordRef.model_construct(source=source, record_type=record_type, key=key, fields=fields, role=role)


_REF_FIELDS = ("source", "record_type", "key", "fields", "role")
_ALL_REF_FIELDS = set(_REF_FIELDS)
_new_ref = RecordRef.__new__
_set = object.__setattr__


def _assemble_record_ref(source: str, record_type: str, key: str, fields: dict[str, Any], role: str | None) -> RecordRef:
    """What ``RecordRef.model_construct`` builds with all five fields given, without its loop over fields."""
    ref = _new_ref(RecordRef)
    _set(ref, "__dict__", {"source": source, "record_type": record_type, "key": key, "fields": fields, "role": role})
    _set(ref, "__pydantic_fields_set__", _ALL_REF_FIELDS)  # one set for all: a frozen model never changes it
    _set(ref, "__pydantic_extra__", None)
    _set(ref, "__pydantic_private__", None)
    return ref


def _same_as_construct() -> bool:
    """True if :func:`_assemble_record_ref` builds exactly what model_construct does (this pydantic)."""
    if tuple(RecordRef.model_fields) != _REF_FIELDS or RecordRef.__pydantic_post_init__ is not None:
        return False
    probe = ("billing", "account", "AC-1", {"status": "active"}, "mandate")
    built, constructed = _assemble_record_ref(*probe), _construct_record_ref(*probe)
    slots = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
    return built == constructed and all(
        getattr(built, slot, None) == getattr(constructed, slot, None) for slot in slots
    ) and list(vars(built)) == list(vars(constructed))


# Findings carry tens of thousands of records: build them without model_construct's
# generic loop when that gives the same object, else with model_construct.
_record_ref = _assemble_record_ref if _same_as_construct() else _construct_record_ref


def min_confidence(*values: Iterable[float] | float) -> float:
    """The lowest confidence among the records involved (1.0 if none)."""
    flat: list[float] = []
    for value in values:
        if isinstance(value, int | float):
            flat.append(float(value))
        else:
            flat.extend(float(v) for v in value)
    clean = [v for v in flat if v == v]  # NaN is the one float unequal to itself
    return min(clean) if clean else 1.0


_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_NS_PER_DAY = 86_400 * 10**9


def day(value: Any) -> dt.date | None:
    """A timestamp, datetime or date as a date (UTC); None if unknown."""
    if value is None or value is pd.NaT:
        return None
    if type(value) is pd.Timestamp and value.unit == "ns":
        # Nanoseconds since the epoch: of the UTC moment if the stamp has a zone, of
        # the wall time if not. Whole days of them are the day tz_convert("UTC").date()
        # (or date()) gives, without converting the stamp.
        return dt.date.fromordinal(_EPOCH_ORDINAL + value.value // _NS_PER_DAY)
    if isinstance(value, pd.Timestamp):
        if pd.isna(value):
            return None
        return value.tz_convert("UTC").date() if value.tzinfo else value.date()
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date() if value.tzinfo else value.date()
    if isinstance(value, dt.date):
        return value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return day(pd.Timestamp(value))


def text(value: Any, default: str = "") -> str:
    """A cell as text for a story; ``default`` if missing."""
    if type(value) is str:
        return value
    if value is None:
        return default
    try:
        if pd.isna(value):
            return default
    except (TypeError, ValueError):
        pass
    return str(value)
