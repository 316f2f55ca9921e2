"""Factorising columns of objects without pandas' one blind spot: text with a NUL character."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["factorize_objects"]


def factorize_objects(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """``pd.factorize(values)`` of an object column, with codes that never join two different values.

    pandas hashes a column of text as C strings, which end at a NUL
    character: ``''`` and ``'\\x00'``, or ``'a\\x00b'`` and ``'a\\x00c'``,
    would get one code. Each row is checked against its code's value (one
    comparison per row, equal objects at once); only where one differs is
    the column coded again by Python's own equality.
    """
    array = np.asarray(values, dtype=object)
    codes, uniques = pd.factorize(array)
    present = codes >= 0
    if len(array) and not bool((uniques[codes[present]] == array[present]).all()):
        first: dict[Any, int] = {}
        recoded = np.full(len(array), -1, dtype=np.intp)
        for i in np.flatnonzero(present).tolist():
            recoded[i] = first.setdefault(array[i], len(first))
        return recoded, np.array(list(first), dtype=object)
    return codes, uniques
