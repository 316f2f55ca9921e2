"""normalise_table: the ``_n_*`` columns for a whole table, computed once per distinct value."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reconcile._factorize import factorize_objects
from reconcile.model import record_model
from reconcile.normalise._address import (
    _numbered_rest,
    _split,
    _tokens,
    _unit_parts,
    _unit_text,
    postal_code,
)
from reconcile.normalise._company import company_name
from reconcile.normalise._contact import emails, phones, region_of
from reconcile.normalise._names import (
    _as_coded,
    _family,
    _given,
    _parse,
    _parse_usual,
    _words,
    person_name,
)
from reconcile.normalise._text import _arrow_text, as_text
from reconcile.normalise._vin import vins

__all__ = ["NORMALISED_COLUMNS", "normalise_table"]

#: The columns :func:`normalise_table` adds, in order.
NORMALISED_COLUMNS: tuple[str, ...] = (
    "_n_given", "_n_family", "_n_person", "_n_company", "_n_phone", "_n_email",
    "_n_street", "_n_unit", "_n_postal", "_n_address", "_n_vin",
)


_STRIP = operator.methodcaller("strip")


class _Coded:
    """A column as integer codes per row and the text each code stands for."""

    def __init__(self, codes: np.ndarray, texts: np.ndarray) -> None:
        self.codes = codes
        self.texts = texts

    def row_values(self) -> np.ndarray:
        values: np.ndarray = self.texts[self.codes]
        return values

    @classmethod
    def of(cls, frame: pd.DataFrame, name: str) -> _Coded:
        """``frame[name]`` coded; stripped text or None; all None if the frame lacks it."""
        if name not in frame.columns:
            return cls(np.zeros(len(frame), dtype=np.intp), np.array([None], dtype=object))
        series = frame[name]
        try:
            if series.dtype == object:  # text with a NUL kept apart
                codes, uniques = factorize_objects(series.to_numpy(dtype=object))
            else:
                codes, uniques = pd.factorize(series, use_na_sentinel=True)
        except TypeError:  # unhashable cells (lists from JSON): code them one by one
            codes, uniques = pd.factorize(pd.Series([as_text(v) for v in series.tolist()], dtype=object))
        # The code -1 (missing) picks the trailing None.
        if pd.api.types.infer_dtype(uniques, skipna=False) == "string":
            # Text only: as_text of a str is it stripped, None if blank (each stripped by map, in C).
            stripped = list(map(_STRIP, uniques.tolist()))
            if "" in stripped:
                stripped = [text or None for text in stripped]
            texts = np.empty(len(stripped) + 1, dtype=object)
            texts[:-1] = stripped
        else:
            texts = np.array([*(as_text(value) for value in uniques), None], dtype=object)
        return cls(np.asarray(codes, dtype=np.intp), texts)


def _combinations(columns: Sequence[_Coded]) -> tuple[np.ndarray, np.ndarray]:
    """A code per row for its combination of values, and the first row of each combination."""
    key = columns[0].codes
    for column in columns[1:]:
        # Pairwise, re-coded each time, so the combined key never overflows.
        width = len(column.texts) + 1
        key, _ = pd.factorize(key.astype(np.int64) * width + (column.codes + 1))
    if len(columns) == 1:
        key, _ = pd.factorize(key)  # the code -1 (missing) gets one of its own
    key = np.asarray(key, dtype=np.intp)
    # factorize numbers the combinations in order of appearance: each one's
    # first row is where the highest code so far goes up.
    highest = np.maximum.accumulate(key)
    first = np.flatnonzero(np.diff(highest, prepend=-1) > 0)
    return key, first


def _only_varying(columns: Sequence[_Coded]) -> int | None:
    """The one column whose value varies, if every other holds one value throughout (a country)."""
    varying = [i for i, column in enumerate(columns) if len(column.texts) > 8 or len(set(column.texts.tolist())) > 1]
    if len(varying) > 1:
        return None
    return varying[0] if varying else 0


def _repeat(value: Any, count: int) -> np.ndarray:
    # fromiter keeps a tuple as a single object (filling would broadcast it).
    return np.fromiter(itertools.repeat(value, count), dtype=object, count=count)


def _apply(columns: Sequence[_Coded], compute: Callable[..., Any], rows: int) -> _Coded:
    """``compute`` of each row's values, called once per distinct combination."""
    if rows == 0:
        return _Coded(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object))
    only = _only_varying(columns)
    if only is not None:
        # One varying column: its distinct values (the last, None, stands for the missing ones) with the others'.
        texts = columns[only].texts
        arguments = [texts.tolist() if i == only else itertools.repeat(column.texts[0], len(texts))
                     for i, column in enumerate(columns)]
        return _Coded(columns[only].codes, np.fromiter(map(compute, *arguments), dtype=object, count=len(texts)))
    key, first = _combinations(columns)
    # Each column's value at each combination's first row, as plain lists (no numpy scalar per cell).
    arguments = [column.texts[column.codes[first]].tolist() for column in columns]
    # fromiter keeps tuple results as single objects (slice assignment would broadcast them).
    results = np.fromiter(map(compute, *arguments), dtype=object, count=len(first))
    return _Coded(key, results)


def _apply_arrays(columns: Sequence[_Coded], compute: Callable[..., np.ndarray], rows: int) -> _Coded:
    """``compute`` of the columns' values as arrays, one element per distinct combination."""
    if rows == 0:
        return _Coded(np.zeros(0, dtype=np.intp), np.zeros(0, dtype=object))
    only = _only_varying(columns)
    if only is not None:
        # One varying column: its distinct values (the last, None, stands for the missing ones) with the others'.
        texts = columns[only].texts
        return _Coded(columns[only].codes, compute(*(
            texts if i == only else _repeat(column.texts[0], len(texts)) for i, column in enumerate(columns)
        )))
    key, first = _combinations(columns)
    return _Coded(key, compute(*(column.texts[column.codes[first]] for column in columns)))


def _derive(coded: _Coded, compute: Callable[[Any], Any]) -> _Coded:
    """A coded column computed from another's distinct values."""
    values = np.fromiter(map(compute, coded.texts.tolist()), dtype=object, count=len(coded.texts))
    return _Coded(coded.codes, values)


def _by_value(values: list[Any], codes: np.ndarray) -> _Coded:
    """A coded column re-coded by equal values: ``values[code]`` is each code's value (hashable)."""
    index: dict[Any, int] = {}
    recode = np.fromiter((index.setdefault(value, len(index)) for value in values), dtype=np.intp, count=len(values))
    distinct = np.empty(len(index), dtype=object)
    distinct[:] = list(index)  # slice assignment of a list keeps tuples as single objects
    return _Coded(recode[codes], distinct)


def _name_alone(name: str | None) -> tuple[str | None, str | None]:
    """:func:`person_name` of a whole name (text, or None) without given or family name fields."""
    return (None, None) if name is None else _parse(name)


def _given_alone(given: str | None) -> str | None:
    """:func:`person_name`'s given name from the given name field (text, or None) with no whole name."""
    return _given(_words(given)) if given else None


def _family_alone(family: str | None) -> str | None:
    """:func:`person_name`'s family name from the family name field (text, or None) with no whole name."""
    return _family(_words(family)) if family else None


def _person(given: str | None, family: str | None) -> str | None:
    """The given and family name joined, as ``_n_person`` holds them."""
    return " ".join(p for p in (given, family) if p) or None


def _name_parts(names: _Coded) -> tuple[_Coded, _Coded, _Coded]:
    """The given name, the family name and the two joined (the person), each coded as ``names``."""
    pairs = names.texts.tolist()
    given = np.empty(len(pairs), dtype=object)
    family = np.empty(len(pairs), dtype=object)
    given[:] = [g for g, _ in pairs]
    family[:] = [f for _, f in pairs]
    person = np.fromiter(
        ((f"{g} {f}" if f else g) if g else (f or None) for g, f in pairs), dtype=object, count=len(pairs)
    )
    return _Coded(names.codes, given), _Coded(names.codes, family), _Coded(names.codes, person)


def _whole_names(names: _Coded) -> tuple[_Coded, _Coded, _Coded]:
    """:func:`_name_parts` of :func:`_name_alone` of each distinct name: given, family and person, coded.

    The usual names are read as arrays (:func:`_parse_usual`), any other by
    :func:`_name_alone`; the given and family names (and the two joined, the
    person, by Arrow for the usual names) are coded by equal value: a given
    name recurs across many names, and is made a str once.
    """
    texts = names.texts
    arr = _arrow_text(texts)
    if arr is None:
        return _name_parts(_apply([names], _name_alone, len(names.codes)))
    given, family = _parse_usual(arr)
    rows = np.flatnonzero(~np.asarray(pc.is_valid(family).to_numpy(zero_copy_only=False), dtype=bool))
    pairs = [_name_alone(texts[i]) for i in rows.tolist()]
    given_codes, given_texts = _as_coded(given, rows, [g for g, _ in pairs])
    family_codes, family_texts = _as_coded(family, rows, [f for _, f in pairs])
    # A usual name has both parts (words of letters): the person is them joined by a space.
    person = pc.binary_join_element_wise(given, family, pa.scalar(" ", type=pa.large_string()))
    person_codes, person_texts = _as_coded(person, rows, [_person(g, f) for g, f in pairs])
    return (
        _Coded(given_codes[names.codes], _objects(given_texts)),
        _Coded(family_codes[names.codes], _objects(family_texts)),
        _Coded(person_codes[names.codes], _objects(person_texts)),
    )


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _unit_identifiers(text: str | None) -> tuple[str, ...]:
    """The identifiers of a unit field, as :func:`address` reads it."""
    return () if text is None else tuple(_unit_parts(_tokens(text)))


def _street_lines(lines: _Coded) -> tuple[_Coded, _Coded]:
    """The canonical street line (:func:`_split`) and the unit identifiers it held, coded by equal value.

    The lines led by a house number take :func:`_split`'s shortcut as
    arrays: split at the first space (as ``_NUMBERED`` does: digits, then
    the first space), each distinct rest read once (:func:`_numbered_rest`),
    the number and the rest's canonical words joined by Arrow. Any other
    line (and every line, if the texts cannot be an Arrow array) is read by
    :func:`_split`.
    """
    texts = lines.texts
    streets = np.full(len(texts), None, dtype=object)
    part_codes = np.zeros(len(texts), dtype=np.intp)
    index: dict[tuple[str, ...], int] = {(): 0}
    one_by_one = np.ones(len(texts), dtype=bool)
    arr = _arrow_text(texts)
    if arr is not None and len(arr):
        pieces = pc.split_pattern(arr, " ", max_splits=1)
        rows = np.flatnonzero(pc.list_value_length(pieces).fill_null(0).to_numpy(zero_copy_only=False) == 2)
        if len(rows):
            at = pieces.offsets.to_numpy(zero_copy_only=False)[rows]
            numbers, rests = pieces.values.take(pa.array(at)), pieces.values.take(pa.array(at + 1))
            numbered = pc.match_substring_regex(numbers, "^[0-9]+$").to_numpy(zero_copy_only=False)
            encoded = rests.dictionary_encode()
            templates = [_numbered_rest(rest) for rest in encoded.dictionary.to_pylist()]
            readable = np.array([template is not None for template in templates], dtype=bool)
            rest_parts = np.array(
                [0 if template is None else index.setdefault(template[1], len(index)) for template in templates],
                dtype=np.intp,
            )
            suffixes = pa.array(["" if template is None else template[0] for template in templates],
                                type=pa.large_string())
            which = encoded.indices.to_numpy(zero_copy_only=False)
            taken = np.flatnonzero(numbered & readable[which])
            joined = pc.binary_join_element_wise(
                numbers.take(pa.array(taken)),
                suffixes.take(pa.array(which[taken])),
                pa.scalar("", type=pa.large_string()),
            )
            streets[rows[taken]] = joined.to_numpy(zero_copy_only=False)
            part_codes[rows[taken]] = rest_parts[which[taken]]
            one_by_one[rows[taken]] = False
    for i in np.flatnonzero(one_by_one).tolist():
        street, parts = _split(texts[i])
        streets[i] = street
        code = index.get(parts)
        if code is None:
            code = index[parts] = len(index)
        part_codes[i] = code
    distinct_parts = np.empty(len(index), dtype=object)
    distinct_parts[:] = list(index)  # slice assignment of a list keeps tuples as single objects
    return _Coded(lines.codes, streets), _Coded(part_codes[lines.codes], distinct_parts)


def _units(street_parts: _Coded, units: _Coded, rows: int) -> _Coded:
    """The unit of each row: the identifiers in its street line and in its unit field, once each.

    :func:`address`'s unit, computed once per distinct pair of street and unit
    that holds any identifier (most rows hold none: their unit is None).
    """
    # The unit depends on the identifiers alone, and few distinct ones recur
    # (most street lines hold none): code the lines by the identifiers they hold.
    unit_parts = _by_value(units.texts.tolist(), units.codes)
    street_has = np.fromiter(map(bool, street_parts.texts.tolist()), dtype=bool, count=len(street_parts.texts))
    unit_has = np.fromiter(map(bool, unit_parts.texts.tolist()), dtype=bool, count=len(unit_parts.texts))
    holding = np.flatnonzero(street_has[street_parts.codes] | unit_has[unit_parts.codes])
    # Code 0 is None (no identifier); the rows holding identifiers get the codes after it.
    codes = np.zeros(rows, dtype=np.intp)
    if len(holding) == 0:
        return _Coded(codes, np.array([None], dtype=object))
    pairs = _apply(
        [_Coded(street_parts.codes[holding], street_parts.texts), _Coded(unit_parts.codes[holding], unit_parts.texts)],
        lambda street_parts, unit_parts: _unit_text([*street_parts, *unit_parts]),
        len(holding),
    )
    codes[holding] = pairs.codes + 1
    return _Coded(codes, np.concatenate([np.array([None], dtype=object), pairs.texts]))


def _address_keys(street: _Coded, unit: _Coded, postal: _Coded, rows: int) -> _Coded:
    """``street|unit|postal`` where the street and the postal code are known, once per distinct address."""

    def keys(streets: np.ndarray, units: np.ndarray, postals: np.ndarray) -> np.ndarray:
        # Each part is text or None.
        return np.fromiter(
            (
                None if s is None or p is None else f"{s}|{'' if u is None else u}|{p}"
                for s, u, p in zip(streets.tolist(), units.tolist(), postals.tolist(), strict=True)
            ),
            dtype=object,
            count=len(streets),
        )

    return _apply_arrays([street, unit, postal], keys, rows)


def normalise_table(frame: pd.DataFrame, record_type: str, *, default_region: str = "US") -> pd.DataFrame:
    """``frame`` with the normalised ``_n_*`` columns added (see :data:`NORMALISED_COLUMNS`), as a new frame.

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
        A new frame (``frame`` is left as it was; its columns are shared,
        not copied), with ``_n_given``, ``_n_family``, ``_n_person``,
        ``_n_company``, ``_n_phone``, ``_n_email``, ``_n_street``,
        ``_n_unit``, ``_n_postal``, ``_n_address`` and ``_n_vin``.

    Raises:
        KeyError: ``record_type`` is not a canonical record type.
    """
    record_model(record_type)
    rows = len(frame)
    default = default_region.upper()

    columns: dict[str, _Coded] = {}

    def column(name: str) -> _Coded:
        # Coded once each: the VINs and postal codes are read again as the pool's seeds.
        coded = columns.get(name)
        if coded is None:
            coded = columns[name] = _Coded.of(frame, name)
        return coded

    whole_names, given_names, family_names = column("name"), column("given_name"), column("family_name")
    # A column with no value has the one text None.
    if len(given_names.texts) == len(family_names.texts) == 1:  # neither holds a name: parse the whole name
        given, family, person = _whole_names(whole_names)
    elif len(whole_names.texts) == 1:  # the given and family name fields alone: each read by itself
        given = _derive(given_names, _given_alone)
        family = _derive(family_names, _family_alone)
        person = _apply([given, family], _person, rows)
    else:
        given, family, person = _name_parts(_apply([whole_names, given_names, family_names], person_name, rows))
    regions = _derive(column("country"), lambda country: region_of(country, default))
    # address() in its three parts, each computed once per distinct value it
    # depends on: the street line (and the units it holds), the unit, the postal code.
    street, street_parts = _street_lines(column("street"))
    unit = _units(street_parts, _derive(column("unit"), _unit_identifiers), rows)
    postal = _apply([column("postal_code"), regions], postal_code, rows)
    added: dict[str, _Coded] = {
        "_n_given": given,
        "_n_family": family,
        "_n_person": person,
        "_n_company": _derive(column("company"), company_name),
        "_n_phone": _apply_arrays([column("phone"), regions], phones, rows),
        "_n_email": _apply_arrays([column("email")], emails, rows),
        "_n_street": street,
        "_n_unit": unit,
        "_n_postal": postal,
        "_n_address": _address_keys(street, unit, postal, rows),
        "_n_vin": _apply_arrays([column("vin")], vins, rows),
    }
    # Equal results are one object: a given name parsed from 40,000 whole names
    # would otherwise be 40,000 strings. A VIN or postal code that normalising
    # left as it was is the input's own object.
    shared = _shared_texts([column(name).texts for name in ("vin", "postal_code")],
                           [added[name].texts for name in NORMALISED_COLUMNS])
    # A new frame sharing the input's columns (none is written in place): at a
    # million customers a deep copy would duplicate gigabytes of pointers.
    out = frame.copy(deep=False)
    for name, texts in zip(NORMALISED_COLUMNS, shared, strict=True):
        out[name] = pd.Series(texts[added[name].codes], index=out.index, dtype=object)
    return out


def _shared_texts(seeds: Sequence[np.ndarray], columns: Sequence[np.ndarray]) -> list[np.ndarray]:
    """``columns`` with every str replaced by the first equal one among ``seeds`` and ``columns``, in order.

    What a :class:`_Pool` seeded with ``seeds`` gives for each column, with
    the texts hashed and compared by Arrow (``dictionary_encode``) instead of
    a Python dict: at a million customers the pool took 5.2 s for 12 million
    texts, this 3.2 s. Missing values keep their objects. Texts that are not
    all str (or None), or that Arrow cannot hold (a lone surrogate), go to
    the pool.
    """
    everything = np.concatenate([*seeds, *columns]) if len(seeds) + len(columns) else np.zeros(0, dtype=object)
    codes = _first_codes(everything) if pd.api.types.infer_dtype(everything, skipna=True) in ("string", "empty") else None
    if codes is None:
        pool = _Pool()
        for texts in seeds:
            pool.seed(texts)
        return [pool.shared(texts) for texts in columns]
    rows = np.flatnonzero(codes >= 0)
    codes = codes[rows]
    # Each text's first row: the least row of its code (NumPy does not say which of repeated
    # indices an assignment writes last, so no assignment order is relied on).
    first = np.full(int(codes.max()) + 1 if len(codes) else 0, len(everything), dtype=np.intp)
    np.minimum.at(first, codes, rows)
    shared = everything.copy()
    shared[rows] = everything[first[codes]]
    out: list[np.ndarray] = []
    at = sum(len(texts) for texts in seeds)
    for texts in columns:
        out.append(shared[at : at + len(texts)])
        at += len(texts)
    return out


def _first_codes(texts: np.ndarray) -> np.ndarray | None:
    """A code per text, equal for equal texts (-1 for None), by Arrow; None if Arrow cannot hold them.

    Arrow's buffers are handed back once done: its memory pool keeps what
    is freed for reuse, and at a million customers these texts are hundreds
    of MiB, held into the next stages otherwise.
    """
    arr = _arrow_text(texts)
    if arr is None:
        return None
    encoded = arr.dictionary_encode()
    codes = np.array(encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False))  # a copy: Arrow's buffers go
    del arr, encoded
    pa.default_memory_pool().release_unused()
    return codes


class _Pool:
    """One object per distinct text across a table's normalised columns."""

    def __init__(self) -> None:
        self._texts: dict[str, str] = {}

    def seed(self, texts: np.ndarray) -> None:
        """Offer these texts (and None, skipped) as the objects equal results become."""
        for text in texts.tolist():
            if isinstance(text, str):
                self._texts.setdefault(text, text)

    def shared(self, texts: np.ndarray) -> np.ndarray:
        """``texts`` with every str replaced by the pool's equal object (added if new); other values kept."""
        pool = self._texts
        out = np.empty(len(texts), dtype=object)
        out[:] = [pool.setdefault(text, text) if isinstance(text, str) else text for text in texts.tolist()]
        return out
