"""Comparators: agreement levels of record pairs, computed on whole arrays."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rapidfuzz.distance import JaroWinkler

from reconcile.match import (
    AddressComparison,
    EditDistanceComparison,
    ExactComparison,
    StringComparison,
)
from reconcile.match._compare import Column, build_comparator, factorize_text


def _comparator(config, **columns: list):
    frame = pd.DataFrame(columns)
    return build_comparator("c", config, lambda name: Column.of(frame, name))


def _all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    left, right = np.triu_indices(n, k=1)
    return left.astype(np.int64), right.astype(np.int64)


def test_text_values_are_stripped_and_blank_is_missing() -> None:
    codes, uniques = factorize_text([" ann ", "ann", "", None, float("nan"), 12.0, "bo"])
    assert list(uniques) == ["ann", "12", "bo"]
    assert codes.tolist() == [0, 0, -1, -1, -1, 1, 2]


def test_exact_levels() -> None:
    c = _comparator(ExactComparison(column="x"), x=["a", "a", "b", None])
    left, right = np.array([0, 0, 0, 2]), np.array([1, 2, 3, 3])
    assert c.compare(left, right).tolist() == [1, 0, -1, -1]
    assert c.levels == ("else", "exact")


def test_string_levels_follow_jaro_winkler_thresholds() -> None:
    names = ["martha", "marhta", "marta", "mark", "zed", None, "martha"]
    c = _comparator(StringComparison(column="x", thresholds=[0.95, 0.85]), x=names)
    assert c.levels == ("else", "jaro_winkler>=0.85", "jaro_winkler>=0.95", "exact")
    left, right = _all_pairs(len(names))
    levels = c.compare(left, right)
    for a, b, level in zip(left, right, levels, strict=True):
        x, y = names[a], names[b]
        if x is None or y is None:
            expected = -1
        elif x == y:
            expected = 3
        else:
            sim = JaroWinkler.normalized_similarity(x, y)
            expected = 2 if sim >= 0.95 else 1 if sim >= 0.85 else 0
        assert level == expected, (x, y)


def test_token_sort_similarity_ignores_word_order() -> None:
    c = _comparator(StringComparison(column="x", similarity="token_sort", thresholds=[0.9]),
                    x=["smith and jones plumbing", "jones and smith plumbing", "acme"])
    assert c.compare(np.array([0, 0]), np.array([1, 2])).tolist() == [1, 0]


@pytest.mark.parametrize(
    ("metric", "a", "b", "level"),
    [
        ("levenshtein", "1HGCM82633A004352", "1HGCM82633A004352", 3),
        ("levenshtein", "1HGCM82633A004352", "1HGCM82633A004362", 2),  # one substitution
        ("levenshtein", "1HGCM82633A004352", "1HGCM82633A00435", 2),  # one deletion
        ("levenshtein", "1HGCM82633A004352", "1HGCM82633A004325", 1),  # a transposition is 2 edits
        ("damerau_levenshtein", "19560125", "19570126", 1),  # two substitutions
        ("damerau_levenshtein", "19560125", "19560152", 2),  # a transposition is 1 edit
        ("hamming", "1HGCM82633A004352", "1HGCM82633A00435", 0),  # different lengths
        ("hamming", "1HGCM82633A004352", "1HGCM82633A004353", 2),
        ("levenshtein", "1HGCM82633A004352", "JT2AE92E5K0000000", 0),
    ],
)
def test_edit_distance_levels(metric: str, a: str, b: str, level: int) -> None:
    c = _comparator(EditDistanceComparison(column="x", metric=metric, max_distances=[1, 2]), x=[a, b])
    assert c.levels[-1] == "exact" and c.levels[1] == f"{metric}<=2"
    assert c.compare(np.array([0]), np.array([1])).tolist() == [level]


def test_address_levels() -> None:
    rows = [
        ("12 n maple st", "4b", "10001"),  # 0
        ("12 n maple st", "4b", "10001"),  # 1 exact with 0
        ("12 n maple st", None, "10001"),  # 2 unit missing
        ("12 n mapel st", "4b", "10001"),  # 3 similar street, same number
        ("12 n maple st", "4b", "10002"),  # 4 other postal code
        ("12 n maple st", "7", "10001"),  # 5 other unit
        ("14 n maple st", "4b", "10001"),  # 6 other house number: else
        (None, None, "10001"),  # 7 missing street
    ]
    streets, units, postals = (list(col) for col in zip(*rows, strict=True))
    c = _comparator(AddressComparison(street="s", unit="u", postal="p"), s=streets, u=units, p=postals)
    left = np.zeros(7, dtype=np.int64)
    right = np.arange(1, 8)
    got = [c.levels[x] if x >= 0 else "missing" for x in c.compare(left, right)]
    assert got == [
        "exact",
        "same street and postal code, unit missing",
        "similar street, same postal code",
        "same street, another postal code",
        "same street and postal code, another unit",
        "else",
        "missing",
    ]
    assert c.display(0) == "12 n maple st | 4b | 10001"
    assert c.display(2) == "12 n maple st |  | 10001"


@given(st.lists(st.sampled_from(["a", "b", "c", "d", None]), min_size=0, max_size=30))
@settings(max_examples=60, deadline=None)
def test_exact_agreement_equals_counting_every_pair(values: list) -> None:
    c = _comparator(ExactComparison(column="x"), x=values)
    p, pairs = c.exact_agreement()
    present = [v for v in values if v is not None]
    brute = [x == y for x, y in itertools.combinations(present, 2)]
    assert pairs == len(brute)
    assert p == pytest.approx(sum(brute) / len(brute) if brute else 0.0)


def test_value_frequency_is_the_share_of_records_holding_the_value() -> None:
    c = _comparator(StringComparison(column="x", term_frequency=True), x=["smith", "smith", "smith", "quennell", None])
    assert c.value_frequency(np.array([0, 3, 4])).tolist()[:2] == [0.75, 0.25]
    assert np.isnan(c.value_frequency(np.array([4]))[0])


@given(
    st.lists(st.tuples(st.sampled_from(["a", "b", "c", None]), st.integers(0, 2)), min_size=0, max_size=30)
)
@settings(max_examples=60, deadline=None)
def test_exact_agreement_across_groups_equals_counting_every_pair_across(rows: list) -> None:
    values = [v for v, _ in rows]
    groups = np.array([g for _, g in rows], dtype=np.int64)
    c = _comparator(ExactComparison(column="x"), x=values)
    p, pairs = c.exact_agreement(groups)
    present = [(v, g) for v, g in rows if v is not None]
    across = [x == y for (x, g), (y, h) in itertools.combinations(present, 2) if g != h]
    assert pairs == len(across)
    assert p == pytest.approx(sum(across) / len(across) if across else 0.0)


def test_value_codes_and_keys_name_each_distinct_value() -> None:
    c = _comparator(StringComparison(column="x", term_frequency=True), x=["smith", "jones", "smith", None])
    codes = c.value_codes(np.arange(4))
    keys = c.value_keys()
    assert [keys[k] if k >= 0 else None for k in codes] == ["smith", "jones", "smith", None]
    address = _comparator(AddressComparison(street="s", unit="u", postal="p"),
                          s=["1 main st", "1 main st", "2 oak ave"], u=[None, "4", None], p=["10001"] * 3)
    whole = address.value_keys()[address.value_codes(np.arange(3))]
    assert whole.tolist() == ["1 main st||10001", "1 main st|4|10001", "2 oak ave||10001"]


_WORDS = st.sampled_from(["ann", "anne", "ann", "bob", "bo", "12 main st", "12 main str", "9 oak rd", "", None])
_CONFIGS = [
    ExactComparison(column="x", term_frequency=True),
    StringComparison(column="x", thresholds=[0.95, 0.8]),
    EditDistanceComparison(column="x", max_distances=[1, 2]),
    EditDistanceComparison(column="x", metric="hamming", max_distances=[1]),
    AddressComparison(street="x", unit="y", postal="z", term_frequency=True),
]


@given(
    rows=st.lists(st.tuples(_WORDS, _WORDS, st.sampled_from(["10001", "10002", None])), min_size=2, max_size=25),
    config=st.sampled_from(_CONFIGS),
    data=st.data(),
)
@settings(max_examples=200, deadline=None)
def test_a_restricted_comparator_compares_the_records_it_was_given(rows, config, data) -> None:
    # The pair runner compares a chunk's pairs on a view of the chunk's records only.
    x, y, z = (list(column) for column in zip(*rows, strict=True))
    comparator = _comparator(config, x=x, y=y, z=z)
    n = len(rows)
    records = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=12)), dtype=np.int64)
    view = comparator.restricted(records)
    left, right = np.meshgrid(np.arange(len(records)), np.arange(len(records)), indexing="ij")
    left, right = left.ravel(), right.ravel()
    assert view.compare(left, right).tolist() == comparator.compare(records[left], records[right]).tolist()
    assert view.value_codes(left).tolist() == comparator.value_codes(records[left]).tolist()
    if len(comparator.value_counts()):  # (a column with no value at all has no frequencies)
        np.testing.assert_array_equal(view.value_frequency(left), comparator.value_frequency(records[left]))
    assert [view.display(k) for k in range(len(records))] == [comparator.display(int(r)) for r in records]
    # The whole population's figures are the comparator's own.
    assert view.value_counts().tolist() == comparator.value_counts().tolist()
    # And the comparator itself is unchanged by its views.
    everything = np.arange(n)
    a, b = np.meshgrid(everything, everything, indexing="ij")
    fresh = _comparator(config, x=x, y=y, z=z)
    assert comparator.compare(a.ravel(), b.ravel()).tolist() == fresh.compare(a.ravel(), b.ravel()).tolist()
