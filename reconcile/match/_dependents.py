"""Entities for the tables' records: identity records' from the match result, dependents' from their parent.

:func:`attach_dependents` (``reconcile.pipeline.attach_dependents``) gives a payment, an invoice, a
telemetry reading... its parent's rid, entity and confidence: the parent
whose reference field holds the dependent's reference, in the dependent's
own source first, else in any source. At a million customers that is
millions of references; looking them up through a pandas ``MultiIndex``
factorised and sorted every reference string (about half the match stage's
time). Here the references of one parent type and of every dependent type
that refers to it are numbered in one hash pass (:class:`_Parents`; of a
run of dependents holding one reference, as a customer's invoices come,
only the first), and the rest is integer work on the parents' rows.

:func:`_entity_columns` gives identity records their entity and confidence:
a table whose rids are, in order, a run of the match result's sorted rids
(as the demo's and most tables' are) takes that slice, checked value by
value, without hashing any rid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reconcile._factorize import factorize_objects
from reconcile.model import RECORD_TYPES

if TYPE_CHECKING:
    from reconcile.match._resolve import MatchResult

__all__ = ["attach_dependents", "parent_positions"]


def _first_rows(keys: np.ndarray, size: int) -> np.ndarray:
    """Per key ``0..size-1``: the row of its first occurrence in ``keys`` (-1 if it does not occur).

    ``pd.factorize`` numbers the keys in order of first appearance, so a row
    holds a first occurrence exactly when its number exceeds every number
    before it (no sort).
    """
    table = np.full(size, -1, dtype=np.int64)
    if not len(keys):
        return table
    codes, unique = pd.factorize(np.asarray(keys, dtype=np.int64))
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    np.greater(running[1:], running[:-1], out=new[1:])
    table[unique] = np.flatnonzero(new)
    return table


def _first_appearances(codes: np.ndarray) -> np.ndarray:
    """:func:`_first_rows` of codes numbered in order of first appearance (as ``pd.factorize`` numbers them)."""
    if not len(codes):
        return np.zeros(0, dtype=np.int64)
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = True
    np.greater(running[1:], running[:-1], out=new[1:])
    return np.flatnonzero(new).astype(np.int64)


def _runs(values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The first row of each run of equal values, and each run's length (None: every run is one row).

    Dependents often come in runs of one reference (a customer's invoices
    one after the other): only the first of each run need be hashed.
    """
    if len(values) < 2:
        return np.arange(len(values)), None
    starts = np.empty(len(values), dtype=bool)
    starts[0] = True
    np.not_equal(values[1:], values[:-1], out=starts[1:])  # text: equal values, one code
    heads = np.flatnonzero(starts)
    return heads, None if len(heads) == len(values) else np.diff(np.append(heads, len(values)))


def _codes(parents: np.ndarray, dependents: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes of the parents' values (0..k-1) and the dependents' (-1: no parent holds it), and k.

    One hash pass over both: values are numbered in order of first appearance, so
    the parents' come first. Missing values (None, NaN) are values like any other.
    """
    codes, _ = pd.factorize(np.concatenate([parents, dependents]), use_na_sentinel=False)
    codes = codes.astype(np.int64)
    theirs = codes[len(parents):]
    size = int(codes[:len(parents)].max()) + 1 if len(parents) else 0
    theirs[theirs >= size] = -1
    return codes[:len(parents)], theirs, size


def _text(values: np.ndarray) -> np.ndarray:
    """``astype(str)`` of an object array (``None`` -> ``"None"``...), not copied when every value is a ``str`` already."""
    values = np.asarray(values, dtype=object)
    if pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
        return values
    return np.asarray(pd.Series(values, dtype=object, copy=False).astype(str).to_numpy(dtype=object), dtype=object)


class _Parents:
    """The parents' references and sources, numbered once for every dependent type that looks them up.

    Args:
        sources: Per parent row, its source (any values; missing ones match
            missing ones, as ``pd.factorize`` numbers them).
        refs: Per parent row, its reference (text, never missing).
        dependents: The references (text) of the dependents that will look
            these parents up, numbered in the same hash pass as the parents'
            (the first of each run of equal references only): :meth:`positions`
            is then given the dependents' number here.
    """

    def __init__(self, sources: np.ndarray, refs: np.ndarray, dependents: Sequence[np.ndarray] = ()):
        refs = np.asarray(refs, dtype=object)
        runs = [_runs(np.asarray(theirs, dtype=object)) for theirs in dependents]
        # One hash pass: the parents' references first (so numbered as alone), then the dependents' runs.
        # Text that differs after a NUL character is another reference: factorize_objects, not pd.factorize
        # (references come in order, their equal values mostly one object: pandas' hash with the row check
        # beats Arrow's here, which copies every text first).
        codes, ref_uniques = factorize_objects(np.concatenate([refs, *[theirs[heads] for theirs, (heads, _) in
                                                                       zip(dependents, runs, strict=True)]]))
        codes = codes.astype(np.int64)
        ref_codes = codes[:len(refs)]
        size = int(ref_codes.max()) + 1 if len(refs) else 0
        ref_uniques = ref_uniques[:size]
        self._known: list[tuple[np.ndarray, np.ndarray | None]] = []  # per dependent type: codes of its runs
        at = len(refs)
        for heads, lengths in runs:
            theirs = codes[at:at + len(heads)]
            at += len(heads)
            theirs[theirs >= size] = -1  # not a parent's reference
            self._known.append((theirs, lengths))
        self._uniques = np.asarray(ref_uniques, dtype=object)
        self._refs: pd.Index | None = None  # for other dependents: a hash table of the parents' references
        sources = np.asarray(sources, dtype=object)
        if len(sources) and isinstance(sources[0], str) and bool((sources == sources[0]).all()):
            source_codes, self.sources = None, sources[:1].copy()  # one source (the usual case): no row hashed
        else:
            codes, source_uniques = pd.factorize(sources, use_na_sentinel=False)
            source_codes, self.sources = codes.astype(np.int64), np.asarray(source_uniques, dtype=object)
        # (reference, source) as one number: a table of every reference x source (a handful of sources).
        self.width = np.int64(max(len(self.sources), 1))
        # The references are numbered in order of first appearance: _first_rows needs no hashing for them.
        self.first_anywhere = _first_appearances(ref_codes)
        self.first_same = (
            self.first_anywhere if source_codes is None
            else _first_rows(ref_codes * self.width + source_codes, len(ref_uniques) * int(self.width))
        )

    def _one_source(self, sources: np.ndarray) -> int | None:
        """The parents' code of the dependents' source (-1: no parent's) when they have one (text), else None."""
        if len(sources) and isinstance(sources[0], str) and bool((sources == sources[0]).all()):
            return int(_codes(self.sources, sources[:1])[1][0])  # no row hashed
        return None

    def _source_codes(self, sources: np.ndarray, one: int | None = None) -> np.ndarray:
        """The parents' code of each dependent's source (-1: no parent's); ``one``: :meth:`_one_source`, if known."""
        one = self._one_source(sources) if one is None else one
        if one is not None:
            return np.full(len(sources), one, dtype=np.int64)  # a table of one source (the usual case)
        codes, uniques = pd.factorize(sources)  # one source or a few: each row's hash is a hit
        if (codes < 0).any():  # a missing source: numbered as the parents' were
            return _codes(self.sources, sources)[1]
        mapped = _codes(self.sources, np.asarray(uniques, dtype=object))[1]
        return mapped[codes] if len(mapped) else np.full(len(codes), -1, dtype=np.int64)

    def _ref_codes(self, refs: np.ndarray) -> np.ndarray:
        """The parents' code of each dependent's reference (-1: no parent's), looked up once per run."""
        if self._refs is None:
            self._refs = pd.Index(self._uniques, dtype=object, copy=False)
        heads, lengths = _runs(refs)
        codes = np.asarray(self._refs.get_indexer(pd.Index(refs[heads], dtype=object, copy=False)), dtype=np.int64)
        return codes if lengths is None else np.repeat(codes, lengths)

    def positions(
        self, sources: np.ndarray, refs: np.ndarray, numbered: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:func:`parent_positions` of these parents for the given dependents.

        ``numbered``: the dependents' number in ``dependents`` (their
        references were numbered with the parents'), else they are looked up.
        """
        if numbered is not None:
            heads, lengths = self._known[numbered]
            their_refs = heads if lengths is None else np.repeat(heads, lengths)
        else:
            their_refs = self._ref_codes(np.asarray(refs, dtype=object))
        sources = np.asarray(sources, dtype=object)
        one = self._one_source(sources)
        found = their_refs >= 0
        if found.all():  # every dependent has a parent (the usual case): one take, no mask
            anywhere = np.asarray(self.first_anywhere[their_refs], dtype=np.int64)
        else:
            anywhere = np.full(len(their_refs), -1, dtype=np.int64)
            anywhere[found] = self.first_anywhere[their_refs[found]]
        if one == 0 and self.first_same is self.first_anywhere:
            # Parents of one source, dependents of that source: the parent in the source is the first anywhere.
            return anywhere.copy(), anywhere
        their_sources = self._source_codes(sources, one)
        found &= their_sources >= 0
        same = np.full(len(their_refs), -1, dtype=np.int64)
        same[found] = self.first_same[their_refs[found] * self.width + their_sources[found]]
        return same, anywhere


def parent_positions(
    parent_sources: np.ndarray, parent_refs: np.ndarray, sources: np.ndarray, refs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """For each dependent, the first parent row with its reference: in its own source, and in any source.

    Args:
        parent_sources, parent_refs: Per parent row, its source and its
            reference (text, never missing).
        sources, refs: Per dependent row, its source and the reference it
            holds (text).

    Returns:
        ``(same, anywhere)``: per dependent row, the position of the first
        parent row whose source and reference are the dependent's (-1 if
        none), and of the first parent row with that reference whatever
        its source (-1 if none). "First" is in the parents' row order, as
        ``drop_duplicates`` keeps it.
    """
    return _Parents(parent_sources, parent_refs, [refs]).positions(sources, refs, 0)


def _entity_columns(rids: pd.Series, result: MatchResult) -> tuple[pd.Series, pd.Series]:
    """``rids.map(result.entity_of)`` and ``rids.map(result.confidence).fillna(1.0)``, each rid looked up once.

    ``Series.map`` with a Series looks every value up in the mapper's index
    and takes its values (NaN where absent); both results share one lookup
    when the two Series share their index (as :func:`resolve` makes them).
    When that index is sorted and unique (``resolve`` sorts the rids) and the
    rids are, in order, a run of it (an identity table whose rids are sorted
    and make up a whole type), the run is found by one bisection and checked
    value by value: no rid is hashed.
    """
    if not len(rids) or not len(result.entity_of) or not result.confidence.index.equals(result.entity_of.index):
        return rids.map(result.entity_of), rids.map(result.confidence).fillna(1.0)
    index = result.entity_of.index
    values = rids.to_numpy(dtype=object)
    at: np.ndarray | slice | None = None
    if index.dtype == object and index.is_monotonic_increasing and index.is_unique:
        known = index.to_numpy(dtype=object)
        try:
            start = int(np.searchsorted(known, values[0]))
        except TypeError:  # a rid that does not compare with text (a number...): looked up below
            start = len(known)
        end = start + len(values)
        if end <= len(known) and bool((known[start:end] == values).all()):
            at = slice(start, end)
    if at is None:
        at = index.get_indexer(rids)
        entity = pd.api.extensions.take(result.entity_of.to_numpy(), at, allow_fill=True)
        confidence = pd.api.extensions.take(result.confidence.to_numpy(), at, allow_fill=True)
    else:
        entity = result.entity_of.to_numpy()[at].copy()
        confidence = result.confidence.to_numpy()[at].copy()
    return (
        pd.Series(entity, index=rids.index, name=rids.name),
        pd.Series(confidence, index=rids.index, name=rids.name).fillna(1.0),
    )


_COLUMNS = {"_rid": "_parent_rid", "_entity": "_entity", "_confidence": "_confidence"}


class _Held:
    """One column of the parents (rows with a reference), ready to be taken for dependents.

    A dependent takes the value of its parent in its own source, or, where
    that is missing, of its parent in any source; None where both are
    missing or there is no parent. The result is typed as ``infer_objects``
    types a list of those values: float64 (NaN where None) for a float
    column, else objects.
    """

    def __init__(self, column: pd.Series, rows: np.ndarray):
        self.floats: np.ndarray | None = None
        if column.dtype == np.float64:
            self.floats = np.append(column.to_numpy()[rows], np.nan)  # -1, no parent: NaN
            self.absent = np.isnan(self.floats)
            self.values = None
            self.text = False
            return
        values = column.to_numpy(dtype=object)[rows]
        text = pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")  # then none is missing
        held = np.append(values, np.array([None], dtype=object))
        if text:
            self.absent = np.zeros(len(held), dtype=bool)
            self.absent[-1] = True
        else:
            self.absent = np.asarray(pd.isna(held), dtype=bool)
            held[self.absent] = None  # missing: None, never NaN
            text = pd.api.types.infer_dtype(held, skipna=True) in ("string", "empty")
        self.values = held
        # Text and None only: infer_objects would keep the objects as they are.
        self.text = text and not pd.get_option("future.infer_string")

    def take(self, same: np.ndarray, anywhere: np.ndarray, index: pd.Index) -> pd.Series:
        pick = np.where(self.absent[same], anywhere, same)
        if self.floats is not None:
            if not bool(self.absent[pick].all()):  # a value at all: float64, NaN where None
                return pd.Series(self.floats[pick], index=index, dtype=np.float64, copy=False)
            return pd.Series(np.full(len(pick), None, dtype=object), index=index, dtype=object, copy=False)
        assert self.values is not None
        series = pd.Series(self.values[pick], index=index, dtype=object, copy=False)
        return series if self.text else series.infer_objects()


def attach_dependents(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Give dependent records their parent's rid, entity and confidence.

    A reference is resolved in the record's own source first, then in any
    source holding the parent type (telemetry refers to inventory's devices).
    A record whose parent is found nowhere keeps ``_entity`` None.
    """
    out = dict(tables)
    indexed: dict[tuple[str, str], tuple[_Parents, dict[str, _Held]]] = {}
    # Every dependent type's references (text) first: each parent type's are numbered with its dependents'.
    texts: dict[str, np.ndarray] = {}
    waiting: dict[tuple[str, str], list[str]] = {}
    for record_type, frame in tables.items():
        parent = RECORD_TYPES[record_type].parent
        parents = tables.get(parent.parent_type) if parent is not None else None
        if parent is None or parents is None or parents.empty or frame.empty:
            continue
        texts[record_type] = _text(frame[parent.field].to_numpy(dtype=object))
        waiting.setdefault((parent.parent_type, parent.parent_field), []).append(record_type)
    for record_type, frame in tables.items():
        parent = RECORD_TYPES[record_type].parent
        if parent is None:
            continue
        frame = frame.copy(deep=False)  # new columns only: the others are shared, not copied
        parents = tables.get(parent.parent_type)
        if parents is None or parents.empty or frame.empty:
            for target in _COLUMNS.values():
                frame[target] = None
            out[record_type] = frame
            continue
        key = (parent.parent_type, parent.parent_field)
        if key not in indexed:
            wanted = ["_source", parent.parent_field, *_COLUMNS]
            if any(column not in parents.columns for column in wanted):
                parents[wanted]  # the KeyError naming what is missing
            refs = parents[parent.parent_field]
            rows = np.flatnonzero(refs.notna().to_numpy())  # parents without a reference are no one's
            index = _Parents(
                parents["_source"].to_numpy(dtype=object)[rows], _text(refs.to_numpy(dtype=object)[rows]),
                [texts[name] for name in waiting[key]],
            )
            indexed[key] = (index, {column: _Held(parents[column], rows) for column in _COLUMNS})
        index, held = indexed[key]
        same, anywhere = index.positions(
            frame["_source"].to_numpy(dtype=object), texts.pop(record_type), waiting[key].index(record_type)
        )
        for column, target in _COLUMNS.items():
            frame[target] = held[column].take(same, anywhere, frame.index)
        out[record_type] = frame
    return out
