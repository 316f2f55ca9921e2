"""Which parent record each dependent record refers to, on integer codes.

``reconcile.pipeline.attach_dependents`` gives a payment, an invoice, a
telemetry reading... its parent's rid, entity and confidence: the parent
whose reference field holds the dependent's reference, in the dependent's
own source first, else in any source. At a million customers that is
millions of references; looking them up through a pandas ``MultiIndex``
factorised and sorted every reference string (about half the match stage's
time). Here each distinct parent reference is hashed once, every dependent's
reference is looked up in that table, and the rest is integer work.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["parent_positions"]


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
