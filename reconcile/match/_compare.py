"""Comparisons: the agreement level of each field for many record pairs at once.

A comparator is prepared once over the identity frame: each column is
factorised into integer codes, so exact agreement is an integer comparison,
and string similarity is computed by rapidfuzz only once per distinct pair of
values (names repeat a lot). Levels are small integers: 0 is "else" (the
values disagree), the highest is exact agreement, -1 means a value is missing
on either side (no evidence either way).
"""

from __future__ import annotations

import copy
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, Hamming, Indel, Jaro, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from reconcile._factorize import factorize_objects, factorize_texts
from reconcile.match._config import (
    AddressComparison,
    EditDistanceComparison,
    ExactComparison,
    StringComparison,
)

__all__ = ["Column", "Comparator", "build_comparator", "factorize_text"]

NULL = -1
#: A pair of values whose level is not computed yet (see _OneColumn._compare_many).
_UNKNOWN = -2

_SIMILARITY: dict[str, Callable[..., float]] = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "jaro": Jaro.normalized_similarity,
    "levenshtein": Levenshtein.normalized_similarity,
    "damerau_levenshtein": OSA.normalized_similarity,
    "indel": Indel.normalized_similarity,
    "token_sort": fuzz.token_sort_ratio,  # 0..100, rescaled below
}
_DISTANCE: dict[str, Callable[..., int]] = {
    "levenshtein": Levenshtein.distance,
    "damerau_levenshtein": OSA.distance,
    "hamming": Hamming.distance,
}


def _as_text(value: Any) -> str | None:
    if isinstance(value, str):
        text = value
    elif hasattr(value, "isoformat"):
        text = str(value.isoformat())
    elif isinstance(value, float) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    text = text.strip()
    return text or None


def factorize_text(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """Codes (-1 where missing or blank) and distinct stripped strings of a column.

    Work is per distinct value, not per record. Values that differ only
    after a NUL character are different values (pandas alone would join
    them: :func:`~reconcile._factorize.factorize_texts`).
    """
    raw = np.asarray(values, dtype=object)
    codes, uniques = factorize_texts(raw)
    if pd.api.types.infer_dtype(uniques, skipna=True) == "string":
        # str.strip() changes a value exactly when its first or last character is whitespace, and
        # then returns another object (the same one otherwise): checked in C, value by value.
        listed = uniques.tolist()
        if "" not in listed and all(map(operator.is_, map(str.strip, listed), listed)):
            # No value was blank or had surrounding whitespace (normalised columns): the codes stand.
            return np.asarray(codes, dtype=np.int64), np.asarray(uniques, dtype=object)
        stripped = pd.Series(uniques, dtype=object).str.strip()
        texts = stripped.where(stripped != "", None).to_numpy(dtype=object)
    else:
        texts = np.array([_as_text(u) for u in uniques], dtype=object)
    text_codes, text_uniques = factorize_objects(texts)
    text_codes = np.append(text_codes, -1).astype(np.int64)  # index -1 (missing) stays missing
    return text_codes[codes], np.asarray(text_uniques, dtype=object)


@dataclass
class Column:
    """A column factorised: ``codes[i]`` indexes ``uniques``, -1 where missing."""

    name: str
    codes: np.ndarray
    uniques: np.ndarray
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if len(self.uniques) < np.iinfo(np.int32).max and self.codes.dtype != np.int32:
            self.codes = self.codes.astype(np.int32)  # half the memory of int64, kept for the whole run
        present = self.codes[self.codes >= 0]
        self.counts = np.bincount(present, minlength=len(self.uniques)).astype(np.int64)

    @classmethod
    def of(cls, frame: pd.DataFrame, column: str) -> Column:
        codes, uniques = factorize_text(frame[column].to_numpy(dtype=object))
        return cls(column, codes, uniques)

    @property
    def present(self) -> int:
        return int(self.counts.sum())

    def restricted(self, records: np.ndarray) -> Column:
        """The column of the given records only: code ``k`` of the result is ``codes[records[k]]``.

        The distinct values and their counts are this column's (shared, not
        copied): counts stay those of every record.
        """
        view = copy.copy(self)
        view.codes = self.codes[records]
        return view

    def value(self, i: int) -> str | None:
        code = int(self.codes[i])
        return None if code < 0 else str(self.uniques[code])


def _exact_agreement(
    codes: np.ndarray, counts: np.ndarray, groups: np.ndarray | None = None
) -> tuple[float, float]:
    """P(two random records with a value agree exactly), and how many such pairs exist.

    With ``groups`` (a group number per record), only pairs of records in
    different groups count: the pairs that can link when records of one
    source never link with each other.
    """
    counts = counts.astype(np.float64)
    total = float(counts.sum())
    if groups is None:
        pairs = total * (total - 1) / 2
        same = float((counts * (counts - 1)).sum()) / 2
    else:
        present = codes >= 0
        width = int(groups.max()) + 1 if len(groups) else 1
        per_group = np.bincount(groups[present], minlength=width).astype(np.float64)
        pairs = (total * total - float((per_group * per_group).sum())) / 2
        # Pairs agreeing on a value, less those inside one group.
        inside = np.bincount(codes[present] * np.int64(width) + groups[present]).astype(np.float64)
        same = (float((counts * counts).sum()) - float((inside * inside).sum())) / 2
    if pairs <= 0:
        return 0.0, 0.0
    return same / pairs, pairs


#: From this many pairs on, an edit distance comparison counts the length of every distinct value at once.
_WHOLE_LENGTHS = 20_000

#: Largest number of pairs of values (the number of distinct values + 1, squared) for which a string or edit
#: distance comparison keeps the level of each pair it computed (int8 each: 16 MiB at most), see
#: :meth:`_OneColumn._compare_many`.
MAX_LEVEL_TABLE = 1 << 24


#: Pairs whose character signatures are compared at a time (bounds the temporary arrays).
_SIGNATURE_STEP = 1 << 18
#: Character classes a signature counts (code point modulo this); the signature's last four bits say it is usable.
_SIGNATURE_CLASSES = 15
_SIGNATURE_COUNTS = np.uint64((1 << (4 * _SIGNATURE_CLASSES)) - 1)
_EVEN_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_SIGNATURE_SHIFTS = np.arange(0, 4 * _SIGNATURE_CLASSES, 4, dtype=np.uint64)
_UNCAPPED = np.uint64(1) << np.uint64(4 * _SIGNATURE_CLASSES + 1)
#: Times a word of eight bytes, the sum of the bytes in the top byte (when the sum is below 256: no carry).
_BYTE_SUM = np.uint64(0x0101010101010101)
_TOP_BYTE = np.uint64(56)


def _byte_sums(words: np.ndarray) -> np.ndarray:
    """Per uint64, the sum of its eight bytes (int64), each byte at most 31 (so the sum fits in one byte)."""
    return ((words * _BYTE_SUM) >> _TOP_BYTE).astype(np.int64)


def character_signatures(values: np.ndarray) -> np.ndarray:
    """Per value, how many of its characters fall in each of 15 classes (code point modulo 15), as one uint64.

    Four bits a class, each count capped at 15; of the top four bits, the
    lowest is 1 for a value these counts describe (ASCII text), 0 for any
    other (no bound is drawn from it, see :func:`signature_distance`), and
    the next is 1 when no count was capped (:func:`signature_common`).
    """
    out = np.zeros(len(values), dtype=np.uint64)
    step = 1 << 16
    for at in range(0, len(values), step):
        part = values[at:at + step]
        try:
            arr = pa.array(part, type=pa.large_string())
        except (pa.ArrowException, UnicodeEncodeError, TypeError):
            continue  # not all text (or a lone surrogate): no bound for these
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
        if arr.buffers()[2] is None or offsets[-1] == offsets[0]:
            continue
        data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
        row = np.repeat(np.arange(len(arr), dtype=np.int64), np.diff(offsets))
        counts = np.bincount(row * _SIGNATURE_CLASSES + data % _SIGNATURE_CLASSES,
                             minlength=len(arr) * _SIGNATURE_CLASSES).reshape(len(arr), _SIGNATURE_CLASSES)
        # The counts side by side, four bits each (distinct bits: their sum is their union).
        packed = (np.minimum(counts, 15).astype(np.uint64) << _SIGNATURE_SHIFTS).sum(axis=1, dtype=np.uint64)
        ascii_only = np.ones(len(arr), dtype=bool)
        ascii_only[row[data >= 0x80]] = False
        if arr.null_count:
            ascii_only &= np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        packed[ascii_only] |= np.uint64(1) << np.uint64(4 * _SIGNATURE_CLASSES)
        packed[ascii_only & (counts.max(axis=1) < 15)] |= _UNCAPPED
        out[at:at + len(arr)] = packed
    return out


def signature_distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The summed difference of the class counts of two signatures each, 0 where either describes nothing.

    A lower bound of twice the edit distance of the values (:meth:`EditDistanceComparator._far`).
    """
    total = np.zeros(len(x), dtype=np.uint64)
    xc, yc = x & _SIGNATURE_COUNTS, y & _SIGNATURE_COUNTS
    for shift in (np.uint64(0), np.uint64(4)):
        # Every other count, one per byte: their differences, byte by byte, summed as whole words (30 at most a byte).
        xs = ((xc >> shift) & _EVEN_NIBBLES).view(np.uint8)
        ys = ((yc >> shift) & _EVEN_NIBBLES).view(np.uint8)
        total += (np.maximum(xs, ys) - np.minimum(xs, ys)).view(np.uint64)
    distance = _byte_sums(total)
    described = ((x & y) >> np.uint64(4 * _SIGNATURE_CLASSES)) & np.uint64(1) != 0
    return np.where(described, distance, 0)


def signature_common(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Characters two values can have in common (per class, the lesser count, summed), and each value's length.

    The last is whether the first three are exact (both signatures with no
    count capped); where not, they are 0.
    """
    common = np.zeros(len(x), dtype=np.uint64)
    length_x = np.zeros(len(x), dtype=np.uint64)
    length_y = np.zeros(len(x), dtype=np.uint64)
    xc, yc = x & _SIGNATURE_COUNTS, y & _SIGNATURE_COUNTS
    for shift in (np.uint64(0), np.uint64(4)):
        xs = ((xc >> shift) & _EVEN_NIBBLES)
        ys = ((yc >> shift) & _EVEN_NIBBLES)
        common += np.minimum(xs.view(np.uint8), ys.view(np.uint8)).view(np.uint64)
        length_x += xs
        length_y += ys
    exact = (x & y & _UNCAPPED) != 0
    sums = [np.where(exact, _byte_sums(total), 0) for total in (common, length_x, length_y)]
    return sums[0], sums[1], sums[2], exact


#: Similarities bounded from above by Jaro's bound (see StringComparator._below): the bound of each.
_JARO_BOUNDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "jaro": lambda jaro: jaro,
    "jaro_winkler": lambda jaro: 0.6 * jaro + 0.4,
}


def _workers(pairs: int) -> int:
    # Threads pay off only for many pairs; a single explanation should not spawn them.
    return -1 if pairs >= 20_000 else 1


def _unique_pairs(a: np.ndarray, b: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct unordered code pairs and, per input pair, the index of its distinct pair."""
    lo = np.minimum(a, b)
    hi = np.maximum(a, b)
    # A hash table, not a sort: the order of the distinct pairs does not matter.
    inverse, keys = pd.factorize(lo * np.int64(width) + hi)
    return keys // width, keys % width, inverse.astype(np.int64)


class Comparator:
    """The agreement level of one field for record pairs.

    Attributes:
        name: The comparison's name in the configuration.
        kind: ``exact``, ``string``, ``edit_distance`` or ``address``.
        columns: The columns compared.
        levels: Level names, "else" first, exact agreement last.
        m_prior: Default share of matching pairs at each level.
        u_prior: Default share of non-matching pairs at each level.
        term_frequency: Whether exact agreement is weighed by the value's frequency.
    """

    name: str
    kind: str
    columns: list[str]
    levels: tuple[str, ...]
    m_prior: np.ndarray
    u_prior: np.ndarray
    term_frequency: bool

    @property
    def exact_level(self) -> int:
        return len(self.levels) - 1

    def compare(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """Levels (int8, -1 where a value is missing) of the pairs ``(left[k], right[k])``."""
        raise NotImplementedError

    def exact_agreement(self, groups: np.ndarray | None = None) -> tuple[float, float]:
        """P(two random records that both have a value agree exactly), and the number of such pairs.

        With ``groups``, only pairs of records in different groups count.
        """
        raise NotImplementedError

    def value_frequency(self, left: np.ndarray) -> np.ndarray:
        """Share of records (with a value) that hold the value of each record in ``left``."""
        raise NotImplementedError

    def value_counts(self) -> np.ndarray:
        """Records per distinct value (the whole address for an address)."""
        raise NotImplementedError

    def value_codes(self, records: np.ndarray) -> np.ndarray:
        """The distinct value (an index into :meth:`value_counts`) of each record; -1 if missing."""
        raise NotImplementedError

    def value_keys(self, codes: np.ndarray | None = None) -> np.ndarray:
        """Each distinct value as text, in the order of :meth:`value_counts` (for stored term frequencies).

        With ``codes``, the text of those distinct values only (``value_keys()[codes]``).
        """
        raise NotImplementedError

    def display(self, i: int) -> str | None:
        """The compared value of record ``i``, as shown in explanations."""
        raise NotImplementedError

    def forget_levels(self) -> None:
        """Let go of levels kept to compare many pairs faster (none, unless the kind keeps a table of them)."""

    def restricted(self, records: np.ndarray) -> Comparator:
        """This comparison over the given records only: record ``k`` of the result is ``records[k]`` here.

        ``restricted(records).compare(i, j)`` is ``compare(records[i],
        records[j])``. Comparing many pairs of a few records (a chunk of
        blocks) this way reads each record's codes once and then codes that
        lie close together, not codes scattered over every record. Value
        counts and frequencies stay those of every record.
        """
        raise NotImplementedError


class _OneColumn(Comparator):
    def __init__(self, name: str, column: Column, term_frequency: bool):
        self.name = name
        self.column = column
        self.columns = [column.name]
        self.term_frequency = term_frequency

    def _codes(self, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a = self.column.codes[left]
        b = self.column.codes[right]
        null = (a < 0) | (b < 0)
        exact = (a == b) & ~null
        return a, b, null, exact

    def _compare_many(self, left: np.ndarray, right: np.ndarray) -> np.ndarray | None:
        """:meth:`compare` of many pairs by a table of every pair of values, or None for too many values.

        The level of a pair of values is the same whenever it is computed.
        With few distinct values (the number of values + 1, squared, at most
        :data:`MAX_LEVEL_TABLE`), a table holds the level of each pair of
        values (missing on either side, exact, and every other pair once it
        has been computed), shared by the views :meth:`restricted` makes:
        given and family names pair the same values over and over, and a
        pair's level is then one number read from the table.
        """
        table = self._level_table()
        if table is None:
            return None
        width = len(self.column.uniques) + 1
        shifted = self.column.codes + 1  # 0: missing
        key = shifted[left]
        key *= width
        key += shifted[right]
        levels = table[key]
        unknown = np.flatnonzero(levels == _UNKNOWN)
        if len(unknown):
            key = key[unknown]
            a, b = key // width, key % width
            found = self._fuzzy_levels(a - 1, b - 1, True)
            table[key] = found
            table[b * width + a] = found  # the same pair the other way round
            levels[unknown] = found
        return levels

    def _level_table(self) -> np.ndarray | None:
        """Level per pair of values (``(a + 1) * width + b + 1``, see :meth:`_compare_many`), None for too many values."""
        holder: list[np.ndarray] = self.__dict__.setdefault("_level_holder", [])
        if not holder:
            width = len(self.column.uniques) + 1
            if width * width > MAX_LEVEL_TABLE:
                return None
            table = np.full(width * width, _UNKNOWN, dtype=np.int8)
            table[:width] = NULL  # the first value missing
            table[::width] = NULL  # the second
            table[np.arange(1, width) * (width + 1)] = self.exact_level  # one value on both sides
            holder.append(table)
        return holder[0]

    def forget_levels(self) -> None:
        """Let go of the table of levels (:meth:`_compare_many`), in this comparator and its views."""
        self.__dict__.setdefault("_level_holder", []).clear()

    def _fuzzy_levels(self, a: np.ndarray, b: np.ndarray, many: bool) -> np.ndarray:
        """The levels (int8) of pairs of different values (codes ``a``, ``b``, both present), each computed.

        ``many``: the pairs are part of a comparison of many pairs (from
        ``_WHOLE_LENGTHS`` on), where bounds rule out pairs before computing.
        """
        raise NotImplementedError

    def _ruled_out(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which pairs of different values (codes ``a``, ``b``, both present) are surely at "else", by bounds alone."""
        return np.zeros(len(a), dtype=bool)

    def _compare_bounded(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        """:meth:`compare` of many pairs, the pairs of different values that bounds rule out left at "else".

        Most pairs of a large comparison are of values far apart: they are
        told by :meth:`_ruled_out` and nothing more is done for them; only
        the others are computed (:meth:`_fuzzy_levels`, which rules out and
        computes the same way). The same levels as one by one.
        """
        codes = self.column.codes
        a, b = codes[left], codes[right]
        out = np.equal(a, b).view(np.int8)  # 1 where one value on both sides
        out *= np.int8(self.exact_level)
        out[np.minimum(a, b) < 0] = NULL
        rest = np.flatnonzero(out == 0)  # two values, different
        if len(rest):
            a, b = a[rest], b[rest]
            near = np.flatnonzero(~self._ruled_out(a, b))
            if len(near):
                out[rest[near]] = self._fuzzy_levels(a[near], b[near], True)
        return out

    def exact_agreement(self, groups: np.ndarray | None = None) -> tuple[float, float]:
        return _exact_agreement(self.column.codes, self.column.counts, groups)

    def value_frequency(self, left: np.ndarray) -> np.ndarray:
        present = max(self.column.present, 1)
        codes = self.column.codes[left]
        return np.where(codes >= 0, self.column.counts[np.maximum(codes, 0)] / present, np.nan)

    def value_counts(self) -> np.ndarray:
        return self.column.counts

    def value_codes(self, records: np.ndarray) -> np.ndarray:
        return np.asarray(self.column.codes[records], dtype=np.int64)

    def value_keys(self, codes: np.ndarray | None = None) -> np.ndarray:
        keys = np.asarray(self.column.uniques, dtype=object)
        return keys if codes is None else keys[codes]

    def display(self, i: int) -> str | None:
        return self.column.value(i)

    def restricted(self, records: np.ndarray) -> Comparator:
        self.__dict__.setdefault("_signature_holder", [])  # made here, so views share what is filled in
        levels = self.__dict__.setdefault("_level_holder", [])
        view = copy.copy(self)
        view.__dict__["_level_holder"] = levels  # copy.copy leaves it out (see __getstate__): shared too
        view.column = self.column.restricted(records)
        return view

    def _signatures(self) -> np.ndarray:
        """:func:`character_signatures` of every distinct value, counted once (in the holder views share)."""
        holder: list[np.ndarray] = self.__dict__.setdefault("_signature_holder", [])
        if not holder:
            holder.append(character_signatures(self.column.uniques))
        return holder[0]


class ExactComparator(_OneColumn):
    kind = "exact"

    def __init__(self, name: str, column: Column, term_frequency: bool):
        super().__init__(name, column, term_frequency)
        self.levels = ("else", "exact")
        self.m_prior = np.array([0.05, 0.95])
        self.u_prior = np.array([0.99, 0.01])

    def compare(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        _, _, null, exact = self._codes(left, right)
        out = exact.astype(np.int8)
        out[null] = NULL
        return out


class StringComparator(_OneColumn):
    kind = "string"

    def __init__(self, name: str, column: Column, config: StringComparison):
        super().__init__(name, column, config.term_frequency)
        self.thresholds = list(config.thresholds)
        self.similarity = config.similarity
        self._scorer = _SIMILARITY[config.similarity]
        fuzzy = [f"{config.similarity}>={t:g}" for t in reversed(self.thresholds)]
        self.levels = ("else", *fuzzy, "exact")
        k = len(self.thresholds)
        # Higher thresholds hold more of the matches that are not exact.
        share = np.arange(1, k + 1, dtype=np.float64)
        self.m_prior = np.concatenate([[0.03], 0.09 * share / share.sum(), [0.88]])
        self.u_prior = np.concatenate([[0.97], np.full(k, 0.01 / max(k, 1)), [0.02]])

    def __getstate__(self) -> dict[str, Any]:
        # rapidfuzz's compiled scorers do not pickle: the Dask engine ships comparators by name.
        # Nor the levels kept of pairs of values (up to 16 MiB): computed again where needed.
        return {k: v for k, v in self.__dict__.items() if k not in ("_scorer", "_level_holder")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scorer = _SIMILARITY[self.similarity]

    def _below(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which pairs of values (codes ``a``, ``b``) are surely less similar than the lowest threshold.

        Jaro's similarity is ``(m/|a| + m/|b| + (m - t)/m) / 3`` for ``m``
        matching characters (0 if none), and ``m`` is at most the characters
        the two have in common, at most the sum over classes of the lesser
        count (:func:`signature_common`): so at most ``(c/|a| + c/|b| + 1) / 3``
        for ``c`` that sum (capped by the lengths). Jaro-Winkler adds
        ``l * 0.1 * (1 - jaro)`` for a common prefix of ``l <= 4``: at most
        ``0.6 * jaro + 0.4``. Pairs whose bound is below the lowest threshold
        (by a margin for rounding) are at "else" without being computed.
        """
        signatures = self._signatures()
        below = np.zeros(len(a), dtype=bool)
        lowest = min(self.thresholds) - 1e-9
        for at in range(0, len(a), _SIGNATURE_STEP):
            x, y = signatures[a[at:at + _SIGNATURE_STEP]], signatures[b[at:at + _SIGNATURE_STEP]]
            common, length_x, length_y, exact = signature_common(x, y)
            with np.errstate(divide="ignore", invalid="ignore"):
                most = np.minimum(common, np.minimum(length_x, length_y)).astype(np.float64)
                jaro = np.where(most > 0, (most / length_x + most / length_y + 1.0) / 3.0, 0.0)
            bound = _JARO_BOUNDS[self.similarity](jaro)
            below[at:at + _SIGNATURE_STEP] = exact & (bound < lowest)
        return below

    def _ruled_out(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if self.similarity not in _JARO_BOUNDS:
            return np.zeros(len(a), dtype=bool)
        return self._below(a, b)

    def similarities(self, a: np.ndarray, b: np.ndarray, *, bounded: bool = False) -> np.ndarray:
        """Similarity (0..1) of the values with codes ``a`` and ``b`` (both present).

        With ``bounded`` (for a Jaro or Jaro-Winkler similarity), pairs of
        values surely below the lowest threshold (:meth:`_below`) are not
        computed: 0 for them.
        """
        if len(a) == 0:
            return np.zeros(0, dtype=np.float64)
        ua, ub, inverse = _unique_pairs(a, b, len(self.column.uniques))
        uniques = self.column.uniques
        if bounded and self.similarity in _JARO_BOUNDS:
            scores = np.zeros(len(ua), dtype=np.float64)
            kept = np.flatnonzero(~self._below(ua, ub))
            scores[kept] = cpdist(list(uniques[ua[kept]]), list(uniques[ub[kept]]), scorer=self._scorer,
                                  workers=_workers(len(kept)))
            return np.asarray(scores[inverse], dtype=np.float64)
        scores = cpdist(list(uniques[ua]), list(uniques[ub]), scorer=self._scorer, workers=_workers(len(ua)))
        scores = np.asarray(scores, dtype=np.float64)
        if self.similarity == "token_sort":
            scores = scores / 100.0
        return np.asarray(scores[inverse], dtype=np.float64)

    def _fuzzy_levels(self, a: np.ndarray, b: np.ndarray, many: bool) -> np.ndarray:
        # Many pairs: those too unlike to reach the lowest threshold are not computed (see _below).
        sims = self.similarities(a, b, bounded=many)
        level = np.zeros(len(sims), dtype=np.int8)
        # thresholds are descending; level 1 is the lowest fuzzy level
        for index, threshold in enumerate(reversed(self.thresholds), start=1):
            level[sims >= threshold] = index
        return level

    def compare(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        many = len(left) >= _WHOLE_LENGTHS
        if many:
            levels = self._compare_many(left, right)
            return levels if levels is not None else self._compare_bounded(left, right)
        a, b, null, exact = self._codes(left, right)
        out = np.zeros(len(left), dtype=np.int8)
        fuzzy = ~null & ~exact
        if fuzzy.any():
            out[fuzzy] = self._fuzzy_levels(a[fuzzy], b[fuzzy], many)
        out[exact] = self.exact_level
        out[null] = NULL
        return out


class EditDistanceComparator(_OneColumn):
    kind = "edit_distance"

    def __init__(self, name: str, column: Column, config: EditDistanceComparison):
        super().__init__(name, column, config.term_frequency)
        self.metric = config.metric
        self.max_distances = list(config.max_distances)
        self._scorer = _DISTANCE[config.metric]
        fuzzy = [f"{config.metric}<={d}" for d in reversed(self.max_distances)]
        self.levels = ("else", *fuzzy, "exact")
        k = len(self.max_distances)
        share = np.arange(1, k + 1, dtype=np.float64)
        self.m_prior = np.concatenate([[0.03], 0.05 * share / share.sum(), [0.92]])
        self.u_prior = np.concatenate([[0.998], np.full(k, 0.001 / k), [0.001]])

    def __getstate__(self) -> dict[str, Any]:
        # Nor the levels kept of pairs of values (up to 16 MiB): computed again where needed.
        return {k: v for k, v in self.__dict__.items() if k not in ("_scorer", "_level_holder")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._scorer = _DISTANCE[self.metric]

    def _value_lengths(self, codes: np.ndarray) -> np.ndarray:
        """The length of the values with the given codes, each distinct value's counted once and kept.

        Only the values asked for are counted (a finding's evidence compares
        a pair or two: not every value's length), and views made by
        :meth:`restricted` share what is counted.
        """
        known: np.ndarray | None = self.__dict__.get("_known_lengths")
        if known is None or len(known) != len(self.column.uniques):
            known = self._known_lengths = np.full(len(self.column.uniques), -1, dtype=np.int32)
        lengths = known[codes]
        unknown = lengths < 0
        if unknown.any():
            todo = np.unique(codes[unknown])
            known[todo] = np.fromiter(map(len, self.column.uniques[todo]), dtype=np.int32, count=len(todo))
            lengths = known[codes]
        return lengths

    def restricted(self, records: np.ndarray) -> Comparator:
        self._value_lengths(np.zeros(0, dtype=np.int64))  # the lengths' table made here, so views share it
        return super().restricted(records)

    def _far(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Which pairs of values (codes ``a``, ``b``) are further apart than the largest level, by their characters.

        Each edit changes at most two of a value's character counts by one
        (a transposition none), so half the difference of two values'
        :func:`character_signatures` is at most their distance: pairs whose
        signatures differ by more than twice the largest distance are at the
        cap without being computed. Every distinct value's signature is
        counted once (in the holder views share), on the first call.
        """
        signatures = self._signatures()
        far = np.empty(len(a), dtype=bool)
        limit = 2 * self.max_distances[-1]
        for at in range(0, len(a), _SIGNATURE_STEP):
            far[at:at + _SIGNATURE_STEP] = signature_distance(
                signatures[a[at:at + _SIGNATURE_STEP]], signatures[b[at:at + _SIGNATURE_STEP]]
            ) > limit
        return far

    def _ruled_out(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # As distances() tells the pairs at the cap: by their lengths, then by their characters.
        self._all_lengths()
        lengths: np.ndarray = self.__dict__["_known_lengths"]
        len_a, len_b = lengths[a], lengths[b]
        out = len_a != len_b if self.metric == "hamming" else np.abs(len_a - len_b) > self.max_distances[-1]
        rows = np.flatnonzero(~out)
        if len(rows):
            out[rows[self._far(a[rows], b[rows])]] = True
        return np.asarray(out, dtype=bool)

    def distances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Edit distance of the values with codes ``a`` and ``b`` (capped above the largest level).

        Hamming compares values of one length only. Each edit changes a
        length by one at most: values whose lengths differ by the cap or more
        are at the cap already (the distance is capped). Such pairs are told
        by their lengths first (and, for many pairs, by their characters:
        :meth:`_far`); only the others are de-duplicated and computed.
        """
        cap = self.max_distances[-1] + 1
        if len(a) == 0:
            return np.zeros(0, dtype=np.int64)
        whole = len(a) >= _WHOLE_LENGTHS
        if whole:
            self._all_lengths()
        len_a, len_b = self._value_lengths(a), self._value_lengths(b)
        usable = len_a == len_b if self.metric == "hamming" else np.abs(len_a - len_b) < cap
        if whole and usable.any():
            # Many pairs: those whose characters differ too much are at the cap already (see _far).
            rows = np.flatnonzero(usable)
            usable[rows[self._far(a[rows], b[rows])]] = False
        dist = np.full(len(a), cap, dtype=np.int64)
        if usable.any():
            ua, ub, inverse = _unique_pairs(a[usable], b[usable], len(self.column.uniques))
            uniques = self.column.uniques
            found = cpdist(
                list(uniques[ua]), list(uniques[ub]), scorer=self._scorer,
                score_cutoff=cap - 1, workers=_workers(len(ua)),
            )
            dist[usable] = np.minimum(np.asarray(found, dtype=np.int64), cap)[inverse]
        return dist

    def _all_lengths(self) -> None:
        """Every distinct value's length counted at once (in the table views share), when many pairs are compared."""
        self._value_lengths(np.zeros(0, dtype=np.int64))  # the table, made if need be
        known: np.ndarray = self.__dict__["_known_lengths"]
        if (known < 0).any():
            known[:] = np.fromiter(map(len, self.column.uniques), dtype=np.int32, count=len(known))

    def _fuzzy_levels(self, a: np.ndarray, b: np.ndarray, many: bool) -> np.ndarray:
        dist = self.distances(a, b)
        level = np.zeros(len(dist), dtype=np.int8)
        # max_distances ascending: the smallest distance is the highest fuzzy level
        k = len(self.max_distances)
        for index, limit in enumerate(reversed(self.max_distances), start=1):
            level[dist <= limit] = index
        level[level > k] = k
        return level

    def compare(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        many = len(left) >= _WHOLE_LENGTHS
        if many:
            levels = self._compare_many(left, right)
            return levels if levels is not None else self._compare_bounded(left, right)
        a, b, null, exact = self._codes(left, right)
        out = np.zeros(len(left), dtype=np.int8)
        fuzzy = ~null & ~exact
        if fuzzy.any():
            out[fuzzy] = self._fuzzy_levels(a[fuzzy], b[fuzzy], many)
        out[exact] = self.exact_level
        out[null] = NULL
        return out


_HOUSE_NUMBER = re.compile(r"^\s*(\d+\w*)\b")


def house_number_codes(streets: np.ndarray) -> np.ndarray:
    """A code per street for its house number (the leading ``\\d+\\w*``), -1 where it has none.

    ``pd.Series(streets).str.extract(r"^\\s*(\\d+\\w*)\\b", expand=False)``
    factorised, with the pattern matched by Arrow when every street is ASCII
    text, else in a plain loop (no frame built).
    """
    arr = _ascii_text(streets)
    if arr is not None:
        # ASCII text: the pattern in RE2 (_HOUSE_NUMBER_ASCII), the numbers coded by Arrow in order of
        # appearance, as factorize codes them.
        extracted = pc.struct_field(pc.extract_regex(arr, _HOUSE_NUMBER_ASCII), "number")  # null: no number
        codes = extracted.dictionary_encode().indices.fill_null(-1).to_numpy(zero_copy_only=False)
        return np.asarray(codes, dtype=np.int64)
    match = _HOUSE_NUMBER.match
    numbers = [None if (found := match(street)) is None else found.group(1) for street in streets.tolist()]
    return np.asarray(pd.factorize(np.asarray(numbers, dtype=object), use_na_sentinel=True)[0])


# _HOUSE_NUMBER for ASCII text in RE2: Python's \s also matches \v and \x1c-\x1f (RE2's does not), and
# \w* taking every word character leaves a word boundary behind it.
_HOUSE_NUMBER_ASCII = r"^[ \t\n\r\f\v\x1c-\x1f]*(?P<number>[0-9]+[0-9A-Za-z_]*)"


def _ascii_text(values: np.ndarray) -> pa.Array | None:
    """``values`` as an Arrow array of text when every one is ASCII text (no None); else None."""
    if not len(values):
        return None
    try:
        arr = pa.array(values, type=pa.large_string(), from_pandas=False)
    except (pa.ArrowException, UnicodeEncodeError, TypeError):
        return None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.null_count or not pc.all(pc.string_is_ascii(arr)).as_py():
        return None
    return arr


class AddressComparator(Comparator):
    kind = "address"
    levels = (
        "else",
        "same street and postal code, another unit",
        "same street, another postal code",
        "similar street, same postal code",
        "same street and postal code, unit missing",
        "exact",
    )

    def __init__(self, name: str, street: Column, unit: Column, postal: Column, config: AddressComparison):
        self.name = name
        self.street, self.unit, self.postal = street, unit, postal
        self.columns = [street.name, unit.name, postal.name]
        self.term_frequency = config.term_frequency
        self.street_threshold = config.street_threshold
        self.m_prior = np.array([0.05, 0.01, 0.02, 0.04, 0.08, 0.80])
        self.u_prior = np.array([0.9995, 0.0001, 0.0001, 0.0001, 0.0001, 0.0001])
        # The house number of each distinct street: "similar" streets must share it.
        self._number_codes = house_number_codes(street.uniques)
        # The whole address as one code (unit missing is a value of its own).
        street_codes, unit_codes, postal_codes = (c.codes.astype(np.int64) for c in (street, unit, postal))
        whole = np.where(
            (street_codes >= 0) & (postal_codes >= 0),
            (street_codes * (len(unit.uniques) + 1) + unit_codes + 1) * (len(postal.uniques) + 1) + postal_codes,
            -1,
        )
        del street_codes, unit_codes, postal_codes
        codes, uniques = pd.factorize(whole, use_na_sentinel=False)
        codes = codes.astype(np.int64)
        if (whole < 0).any():
            codes[whole < 0] = -1
        self.whole = codes.astype(np.int32) if len(uniques) < np.iinfo(np.int32).max else codes
        present = codes[codes >= 0]
        self.whole_counts = np.bincount(present, minlength=len(uniques)).astype(np.int64)

    def compare(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        sa, sb = self.street.codes[left], self.street.codes[right]
        pa, pb = self.postal.codes[left], self.postal.codes[right]
        ua, ub = self.unit.codes[left], self.unit.codes[right]
        null = (sa < 0) | (sb < 0) | (pa < 0) | (pb < 0)
        same_street = sa == sb
        same_postal = pa == pb
        unit_same = ua == ub
        unit_missing = (ua < 0) != (ub < 0)
        out = np.zeros(len(left), dtype=np.int8)
        both = same_street & same_postal
        out[both & ~unit_same & ~unit_missing] = 1
        out[same_street & ~same_postal] = 2
        maybe = ~same_street & same_postal & ~null
        if maybe.any():
            na = self._number_codes[np.maximum(sa[maybe], 0)]
            nb = self._number_codes[np.maximum(sb[maybe], 0)]
            candidates = (na == nb) & (na >= 0)
            similar = np.zeros(len(na), dtype=bool)
            if candidates.any():
                x, y = sa[maybe][candidates], sb[maybe][candidates]
                ux, uy, inverse = _unique_pairs(x, y, len(self.street.uniques))
                uniques = self.street.uniques
                sims = np.asarray(
                    cpdist(list(uniques[ux]), list(uniques[uy]), scorer=JaroWinkler.normalized_similarity,
                           workers=_workers(len(ux))),
                    dtype=np.float64,
                )[inverse]
                similar[candidates] = sims >= self.street_threshold
            level = out[maybe]
            level[similar] = 3
            out[maybe] = level
        out[both & unit_missing] = 4
        out[both & unit_same] = 5
        out[null] = NULL
        return out

    def exact_agreement(self, groups: np.ndarray | None = None) -> tuple[float, float]:
        return _exact_agreement(self.whole, self.whole_counts, groups)

    def value_frequency(self, left: np.ndarray) -> np.ndarray:
        present = max(int(self.whole_counts.sum()), 1)
        codes = self.whole[left]
        return np.where(codes >= 0, self.whole_counts[np.maximum(codes, 0)] / present, np.nan)

    def value_counts(self) -> np.ndarray:
        return self.whole_counts

    def value_codes(self, records: np.ndarray) -> np.ndarray:
        return np.asarray(self.whole[records], dtype=np.int64)

    def value_keys(self, codes: np.ndarray | None = None) -> np.ndarray:
        # The parts of each whole address, from the first record that holds it (joined only for those asked for).
        holders = np.flatnonzero(self.whole >= 0)
        first = np.zeros(len(self.whole_counts), dtype=np.int64)
        first[self.whole[holders][::-1]] = holders[::-1]
        if codes is not None:
            first = first[codes]
        parts = []
        for column in (self.street, self.unit, self.postal):
            held = column.codes[first]
            parts.append(np.where(held >= 0, np.append(column.uniques, "")[held], ""))
        if not len(first):
            return np.zeros(0, dtype=object)
        joined = pd.Series(parts[0], dtype=object).str.cat(
            [pd.Series(parts[1], dtype=object), pd.Series(parts[2], dtype=object)], sep="|"
        )
        return np.asarray(joined.to_numpy(dtype=object), dtype=object)

    def restricted(self, records: np.ndarray) -> Comparator:
        view = copy.copy(self)
        view.street, view.unit, view.postal = (c.restricted(records) for c in (self.street, self.unit, self.postal))
        view.whole = self.whole[records]
        return view

    def display(self, i: int) -> str | None:
        street = self.street.value(i)
        postal = self.postal.value(i)
        if street is None and postal is None:
            return None
        return f"{street or ''} | {self.unit.value(i) or ''} | {postal or ''}"


def build_comparator(name: str, config: Any, columns: Callable[[str], Column]) -> Comparator:
    """The comparator of one configured comparison; ``columns`` gives a prepared column by name."""
    if isinstance(config, ExactComparison):
        return ExactComparator(name, columns(config.column), config.term_frequency)
    if isinstance(config, StringComparison):
        return StringComparator(name, columns(config.column), config)
    if isinstance(config, EditDistanceComparison):
        return EditDistanceComparator(name, columns(config.column), config)
    if isinstance(config, AddressComparison):
        return AddressComparator(name, columns(config.street), columns(config.unit), columns(config.postal), config)
    raise TypeError(f"unknown comparison {type(config).__name__}")
