"""normalise_table: the ``_n_*`` columns for a whole table, computed once per distinct value."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from reconcile.model import record_model
from reconcile.normalise._address import address
from reconcile.normalise._company import company_name
from reconcile.normalise._contact import email, phone, region_of
from reconcile.normalise._names import person_name
from reconcile.normalise._text import as_text
from reconcile.normalise._vin import vin

__all__ = ["NORMALISED_COLUMNS", "normalise_table"]

#: The columns :func:`normalise_table` adds, in order.
NORMALISED_COLUMNS: tuple[str, ...] = (
    "_n_given", "_n_family", "_n_person", "_n_company", "_n_phone", "_n_email",
    "_n_street", "_n_unit", "_n_postal", "_n_address", "_n_vin",
)


class _Coded:
    """A column as integer codes per row and the text each code stands for."""

    def __init__(self, codes: np.ndarray, texts: np.ndarray) -> None:
        self.codes = codes
        self.texts = texts

    @classmethod
    def of(cls, frame: pd.DataFrame, name: str) -> _Coded:
        """``frame[name]`` coded; stripped text or None; all None if the frame lacks it."""
        if name not in frame.columns:
            return cls(np.zeros(len(frame), dtype=np.intp), np.array([None], dtype=object))
        series = frame[name]
        try:
            codes, uniques = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists from JSON): code them one by one
            codes, uniques = pd.factorize(pd.Series([as_text(v) for v in series.tolist()], dtype=object))
        # The code -1 (missing) picks the trailing None.
        texts = np.array([*(as_text(value) for value in uniques), None], dtype=object)
        return cls(np.asarray(codes, dtype=np.intp), texts)

    def row_values(self) -> np.ndarray:
        values: np.ndarray = self.texts[self.codes]
        return values


def _apply(columns: Sequence[_Coded], compute: Callable[..., Any], rows: int) -> _Coded:
    """``compute`` of each row's values, called once per distinct combination."""
    if rows == 0:
        return _Coded(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object))
    key = columns[0].codes
    for column in columns[1:]:
        # Pairwise, re-coded each time, so the combined key never overflows.
        width = len(column.texts) + 1
        key, _ = pd.factorize(key.astype(np.int64) * width + (column.codes + 1))
    key, _ = pd.factorize(key)
    _, first = np.unique(key, return_index=True)
    # Each column's value at each combination's first row, as plain lists (no numpy scalar per cell).
    arguments = [column.texts[column.codes[first]].tolist() for column in columns]
    # fromiter keeps tuple results as single objects (slice assignment would broadcast them).
    results = np.fromiter(
        (compute(*values) for values in zip(*arguments, strict=True)), dtype=object, count=len(first)
    )
    return _Coded(np.asarray(key, dtype=np.intp), results)


def _derive(coded: _Coded, compute: Callable[[Any], Any]) -> _Coded:
    """A coded column computed from another's distinct values."""
    values = np.fromiter((compute(value) for value in coded.texts.tolist()), dtype=object, count=len(coded.texts))
    return _Coded(coded.codes, values)


def normalise_table(frame: pd.DataFrame, record_type: str, *, default_region: str = "US") -> pd.DataFrame:
    """A copy of ``frame`` with the normalised ``_n_*`` columns added (see :data:`NORMALISED_COLUMNS`).

    Works on the party fields of the canonical model (``name``,
    ``given_name``, ``family_name``, ``company``, ``email``, ``phone``,
    ``street``, ``unit``, ``postal_code``, ``country``) and ``vin``; a column
    the frame lacks counts as all unknown. Unknown results are ``None``
    (never NaN). Each normaliser runs once per distinct value (or combination
    of values), so a large table with repeated values is quick.

    Args:
        frame: One record type's table.
        record_type: Its canonical record type (``"account"``, ``"contact"``...).
        default_region: Region for phone numbers written without a country
            code and for addresses without a country (ISO 3166 alpha-2). A
            row's ``country`` overrides it.

    Returns:
        The copy, with ``_n_given``, ``_n_family``, ``_n_person``,
        ``_n_company``, ``_n_phone``, ``_n_email``, ``_n_street``,
        ``_n_unit``, ``_n_postal``, ``_n_address`` and ``_n_vin``.

    Raises:
        KeyError: ``record_type`` is not a canonical record type.
    """
    record_model(record_type)
    rows = len(frame)
    default = default_region.upper()

    def column(name: str) -> _Coded:
        return _Coded.of(frame, name)

    names = _apply([column("name"), column("given_name"), column("family_name")], person_name, rows)
    regions = _derive(column("country"), lambda country: region_of(country, default))
    places = _apply([column("street"), column("unit"), column("postal_code"), regions], address, rows)
    added: dict[str, _Coded] = {
        "_n_given": _derive(names, lambda parts: parts[0]),
        "_n_family": _derive(names, lambda parts: parts[1]),
        "_n_person": _derive(names, lambda parts: " ".join(p for p in parts if p) or None),
        "_n_company": _derive(column("company"), company_name),
        "_n_phone": _apply([column("phone"), regions], phone, rows),
        "_n_email": _derive(column("email"), email),
        "_n_street": _derive(places, lambda parts: parts[0]),
        "_n_unit": _derive(places, lambda parts: parts[1]),
        "_n_postal": _derive(places, lambda parts: parts[2]),
        "_n_address": _derive(
            places, lambda parts: f"{parts[0]}|{parts[1] or ''}|{parts[2]}" if parts[0] and parts[2] else None
        ),
        "_n_vin": _derive(column("vin"), vin),
    }
    out = frame.copy()
    for name in NORMALISED_COLUMNS:
        out[name] = pd.Series(added[name].row_values(), index=out.index, dtype=object)
    return out
