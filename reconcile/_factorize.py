"""Factorising columns of objects without pandas' one blind spot: text with a NUL character."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["factorize_objects", "factorize_texts"]


def factorize_objects(values: Any, *, na_sentinel: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values, use_na_sentinel=na_sentinel)`` of an object column, never joining different values.

    pandas hashes a column of text as C strings, which end at a NUL
    character: ``''`` and ``'\\x00'``, or ``'a\\x00b'`` and ``'a\\x00c'``,
    would get one code. Each row is checked against its code's value (one
    comparison per row, equal objects at once); only where one differs is
    the column coded again by Python's own equality. Without
    ``na_sentinel``, missing values (None, NaN) are one value with a code
    of its own, as pandas codes them.
    """
    array = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(array, use_na_sentinel=na_sentinel)
    present = codes >= 0
    got, want = uniques[codes[present]], array[present]
    same = np.asarray(got == want, dtype=bool)
    if not na_sentinel:
        same |= np.asarray(pd.isna(got), dtype=bool) & np.asarray(pd.isna(want), dtype=bool)
    if len(array) and not bool(same.all()):
        first: dict[Any, int] = {}
        kept: list[Any] = []
        missing = _MISSING
        recoded = np.full(len(array), -1, dtype=np.intp)
        for i in np.flatnonzero(present).tolist():
            value = array[i]
            key = missing if not na_sentinel and pd.isna(value) else value
            code = first.setdefault(key, len(first))
            if code == len(kept):
                kept.append(np.nan if key is missing else value)  # pandas keeps NaN for the missing value
            recoded[i] = code
        return recoded, np.array(kept, dtype=object)
    return codes, uniques


#: Stands for every missing value while a column is coded again (NaN is unequal to itself).
_MISSING = object()


#: From this many rows on, :func:`factorize_texts` codes a column of text by Arrow.
ARROW_ROWS = 1 << 16


def factorize_texts(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """:func:`factorize_objects` of a column, by Arrow when it is text (and None) only.

    The same codes and the same distinct objects (each value's first row's)
    as ``pd.factorize`` gives, but text that differs only after a NUL
    character keeps codes of its own. Arrow hashes each value's UTF-8 bytes
    with their length (so a NUL is a character like any other), in about
    two thirds of pandas' time on a column of many distinct values (names,
    phones, addresses of millions of records), and without the row check
    of :func:`factorize_objects`. A column that is not all text and None
    (numbers, dates, bytes, NaN), or is short, goes to
    :func:`factorize_objects`.
    """
    array = np.asarray(values, dtype=object)
    if len(array) >= ARROW_ROWS:
        coded = _arrow_codes(array)
        if coded is not None:
            return coded, array[first_appearances(coded)]
    return factorize_objects(array)


def _arrow_codes(array: np.ndarray) -> np.ndarray | None:
    """Codes (``np.intp``, -1 for None) of a column of text and None numbered as they first appear, else None."""
    import pyarrow as pa  # here: importing reconcile (and listing its plugins) does not import pyarrow

    try:
        # The type inferred: text if every value is a str or None; binary for bytes, an error for other objects.
        arr = pa.array(array, from_pandas=False)
    except (pa.ArrowException, TypeError, ValueError, UnicodeError, OverflowError):
        return None
    if not isinstance(arr, pa.Array) or arr.type not in (pa.string(), pa.large_string()):
        return None  # not text, or chunked (beyond 2 GiB of text)
    indices = arr.dictionary_encode().indices  # numbered in order of first appearance, None left null
    if indices.null_count:
        indices = indices.fill_null(-1)
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)


def first_appearances(codes: np.ndarray) -> np.ndarray:
    """The row of each code's first appearance, for codes numbered in order of first appearance (-1: none).

    A row holds a first appearance exactly when its code exceeds every code
    before it (no sort, no hash).
    """
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    running = np.maximum.accumulate(codes)
    new = np.empty(len(codes), dtype=bool)
    new[0] = codes[0] >= 0
    np.greater(running[1:], running[:-1], out=new[1:])
    return np.flatnonzero(new)
