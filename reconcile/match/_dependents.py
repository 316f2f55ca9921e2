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


def _first_rows(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct keys (sorted) and the row of each one's first occurrence."""
    unique, first = np.unique(keys, return_index=True)  # return_index: the first occurrence
    return unique, first.astype(np.int64)


def _find(unique: np.ndarray, first: np.ndarray, keys: np.ndarray, valid: np.ndarray) -> np.ndarray:
    at = np.searchsorted(unique, keys)
    at = np.minimum(at, max(len(unique) - 1, 0))
    hit = valid & (unique[at] == keys) if len(unique) else np.zeros(len(keys), dtype=bool)
    return np.where(hit, first[at] if len(unique) else -1, -1)


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
    parent_refs = np.asarray(parent_refs, dtype=object)
    refs = np.asarray(refs, dtype=object)
    ref_codes, ref_uniques = pd.factorize(parent_refs, use_na_sentinel=False)
    source_codes, source_uniques = pd.factorize(np.asarray(parent_sources, dtype=object), use_na_sentinel=False)
    ref_codes = ref_codes.astype(np.int64)
    source_codes = source_codes.astype(np.int64)
    # The dependents' references and sources as the parents' codes (-1: no parent has it).
    their_refs = pd.Index(ref_uniques, dtype=object).get_indexer(refs).astype(np.int64)
    their_sources = pd.Index(source_uniques, dtype=object).get_indexer(
        np.asarray(sources, dtype=object)).astype(np.int64)
    width = np.int64(max(len(source_uniques), 1))

    unique, first = _first_rows(ref_codes)
    anywhere = _find(unique, first, their_refs, their_refs >= 0)
    unique, first = _first_rows(ref_codes * width + source_codes)
    same = _find(unique, first, their_refs * width + their_sources, (their_refs >= 0) & (their_sources >= 0))
    return same, anywhere
