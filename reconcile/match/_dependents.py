"""Entities for the tables' records: identity records' from the match result, dependents' from their parent.

:func:`attach_dependents` (``reconcile.pipeline.attach_dependents``) gives a payment, an invoice, a
telemetry reading... its parent's rid, entity and confidence: the parent
whose reference field holds the dependent's reference, in the dependent's
own source first, else in any source. At a million customers that is
millions of references; looking them up through a pandas ``MultiIndex``
factorised and sorted every reference string (about half the match stage's
time). Here each distinct parent reference is hashed once, every dependent's
reference is looked up in that table, and the rest is integer work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from reconcile.model import RECORD_TYPES

if TYPE_CHECKING:
    from reconcile.match._resolve import MatchResult

__all__ = ["attach_dependents", "parent_positions"]


def _first_rows(keys: np.ndarray, size: int) -> np.ndarray:
    """Per key ``0..size-1``: the row of its first occurrence in ``keys`` (-1 if it does not occur)."""
    unique, first = np.unique(keys, return_index=True)  # return_index: the first occurrence
    table = np.full(size, -1, dtype=np.int64)
    table[unique] = first
    return table


def _codes(parents: np.ndarray, dependents: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Codes of the parents' values (0..k-1) and the dependents' (-1: no parent holds it), and k.

    One hash pass over both: values are numbered in order of first appearance, so
    the parents' come first.
    """
    codes, _ = pd.factorize(np.concatenate([parents, dependents]), use_na_sentinel=False)
    codes = codes.astype(np.int64)
    theirs = codes[len(parents):]
    size = int(codes[:len(parents)].max()) + 1 if len(parents) else 0
    theirs[theirs >= size] = -1
    return codes[:len(parents)], theirs, size


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
    ref_codes, their_refs, ref_count = _codes(np.asarray(parent_refs, dtype=object), np.asarray(refs, dtype=object))
    source_codes, their_sources, source_count = _codes(
        np.asarray(parent_sources, dtype=object), np.asarray(sources, dtype=object)
    )
    found = their_refs >= 0
    anywhere = np.full(len(their_refs), -1, dtype=np.int64)
    anywhere[found] = _first_rows(ref_codes, ref_count)[their_refs[found]]
    # (reference, source) as one number: a table of every reference x source (a handful of sources).
    width = np.int64(max(source_count, 1))
    found &= their_sources >= 0
    same = np.full(len(their_refs), -1, dtype=np.int64)
    same[found] = _first_rows(ref_codes * width + source_codes, ref_count * int(width))[
        their_refs[found] * width + their_sources[found]
    ]
    return same, anywhere


def _entity_columns(rids: pd.Series, result: MatchResult) -> tuple[pd.Series, pd.Series]:
    """``rids.map(result.entity_of)`` and ``rids.map(result.confidence).fillna(1.0)``, each rid looked up once.

    ``Series.map`` with a Series looks every value up in the mapper's index
    and takes its values (NaN where absent); both results share one lookup
    when the two Series share their index (as :func:`resolve` makes them).
    """
    if not len(rids) or not len(result.entity_of) or not result.confidence.index.equals(result.entity_of.index):
        return rids.map(result.entity_of), rids.map(result.confidence).fillna(1.0)
    at = result.entity_of.index.get_indexer(rids)
    entity = pd.api.extensions.take(result.entity_of.to_numpy(), at, allow_fill=True)
    confidence = pd.api.extensions.take(result.confidence.to_numpy(), at, allow_fill=True)
    return (
        pd.Series(entity, index=rids.index, name=rids.name),
        pd.Series(confidence, index=rids.index, name=rids.name).fillna(1.0),
    )


def attach_dependents(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Give dependent records their parent's rid, entity and confidence.

    A reference is resolved in the record's own source first, then in any
    source holding the parent type (telemetry refers to inventory's devices).
    A record whose parent is found nowhere keeps ``_entity`` None.
    """
    out = dict(tables)
    for record_type, frame in tables.items():
        parent = RECORD_TYPES[record_type].parent
        if parent is None:
            continue
        frame = frame.copy(deep=False)  # new columns only: the others are shared, not copied
        parents = tables.get(parent.parent_type)
        frame["_parent_rid"] = None
        frame["_entity"] = None
        frame["_confidence"] = None
        if parents is not None and not parents.empty and not frame.empty:
            lookup = parents[["_source", parent.parent_field, "_rid", "_entity", "_confidence"]]
            lookup = lookup[lookup[parent.parent_field].notna()]
            same, anywhere = parent_positions(
                lookup["_source"].to_numpy(dtype=object), lookup[parent.parent_field].astype(str).to_numpy(dtype=object),
                frame["_source"].to_numpy(dtype=object), frame[parent.field].astype(str).to_numpy(dtype=object),
            )
            for column in ("_rid", "_entity", "_confidence"):
                held = np.append(lookup[column].to_numpy(dtype=object), np.nan)  # -1, no parent: NaN
                absent = pd.isna(held)  # per parent, not per dependent
                values, missing = held[same], absent[same]
                values[missing] = held[anywhere[missing]]
                values[missing & absent[anywhere]] = None  # found nowhere: None, never NaN
                target = "_parent_rid" if column == "_rid" else column
                # Typed as a list of these values would be (confidences: float64, NaN where unknown).
                frame[target] = pd.Series(values, index=frame.index, dtype=object, copy=False).infer_objects()
        out[record_type] = frame
    return out
