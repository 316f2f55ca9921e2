"""The match stage's faster paths give what the plain ones they replace give, to the last bit.

- ``not_generated`` with ``distinct_missing`` codes: the pairs ``generated_by`` does not mark.
- ``score_patterns``: ``score_pairs`` of the decoded levels.
- ``resolve``'s entity count: the distinct component labels.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_helpers import population

import reconcile.match._compare as compare_module
from reconcile.match import MatchingConfig, resolve
from reconcile.match._model import score_pairs, score_patterns
from reconcile.match._runner import compare_pairs, distinct_missing, generated_by, not_generated

_CODES = st.lists(st.integers(-1, 3), min_size=1, max_size=12)


def _every_pair(view, n, whole_from=0):  # type: ignore[no-untyped-def]
    """Every pair of ``n`` records (left < right) and ``view``'s levels of them, every length counted at once from ``whole_from`` pairs.

    From ``whole_from`` pairs on, the levels are compared twice: with no
    table of value pairs (pairs ruled out by bounds, the others computed)
    and with one (few values): the two must agree.
    """
    left, right = (np.array(side, dtype=np.int64) for side in zip(*itertools.combinations(range(n), 2), strict=True))
    saved, saved_table = compare_module._WHOLE_LENGTHS, compare_module.MAX_LEVEL_TABLE
    compare_module._WHOLE_LENGTHS = whole_from
    try:
        compare_module.MAX_LEVEL_TABLE = 0  # first without a table (none is made)
        bounded = view.compare(left, right)
        compare_module.MAX_LEVEL_TABLE = saved_table
        levels = view.compare(left, right)
        np.testing.assert_array_equal(bounded, levels)
        return left, right, levels
    finally:
        compare_module._WHOLE_LENGTHS, compare_module.MAX_LEVEL_TABLE = saved, saved_table


@given(
    owners=st.lists(_CODES, max_size=4),
    pairs=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11)), max_size=40),
    wide=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_not_generated_is_what_generated_by_does_not_mark(owners, pairs, wide) -> None:  # type: ignore[no-untyped-def]
    size = max((len(codes) for codes in owners), default=12)
    dtype = np.int64 if wide else np.int32
    arrays = [np.resize(np.asarray(codes, dtype=dtype), size) for codes in owners]
    pairs = [(a % size, b % size) for a, b in pairs if a % size != b % size]  # a pair is of two records
    left = np.array([a for a, _ in pairs], dtype=np.int64)
    right = np.array([b for _, b in pairs], dtype=np.int64)
    marked = generated_by(arrays, left, right)
    got_left, got_right = not_generated([distinct_missing(codes) for codes in arrays], left, right)
    np.testing.assert_array_equal(got_left, left[~marked])
    np.testing.assert_array_equal(got_right, right[~marked])


@given(codes=_CODES)
@settings(max_examples=200, deadline=None)
def test_distinct_missing_codes_are_equal_exactly_when_the_part_pairs_the_records(codes) -> None:  # type: ignore[no-untyped-def]
    array = np.asarray(codes, dtype=np.int32)
    distinct = distinct_missing(array)
    assert distinct.dtype == array.dtype
    np.testing.assert_array_equal(distinct[array >= 0], array[array >= 0])
    for i in range(len(codes)):
        for j in range(len(codes)):
            if i != j:
                assert (distinct[i] == distinct[j]) == (codes[i] >= 0 and codes[i] == codes[j])


@pytest.fixture(scope="module")
def matched():  # type: ignore[no-untyped-def]
    identity, _ = population(150, seed=3)
    return resolve(identity, MatchingConfig())


@given(data=st.data())
@settings(max_examples=60, deadline=None)
def test_score_patterns_is_score_pairs_of_the_decoded_levels(matched, data) -> None:  # type: ignore[no-untyped-def]
    explainer = matched._explainer
    comparators, model, frequencies = explainer.comparators, explainer.model, explainer.frequencies
    assert model is not None and any(f.term_frequency for f in model.fields)
    n = len(explainer.rids)
    # Pairs of records (as candidates: left < right, some of one entity) and their patterns, numbered.
    lows = data.draw(st.lists(st.integers(0, n - 2), min_size=1, max_size=60))
    left = np.asarray(lows, dtype=np.int64)
    right = np.asarray([data.draw(st.integers(low + 1, min(low + 3, n - 1))) for low in lows], dtype=np.int64)
    levels = compare_pairs(comparators, left, right)
    patterns, numbers = np.unique(levels, axis=0, return_inverse=True)
    numbers = numbers.reshape(-1).astype(np.uint16)
    for given_frequencies in (frequencies, None):
        expected = score_pairs(model, comparators, patterns[numbers], left, given_frequencies)
        got = score_patterns(model, comparators, patterns, numbers, left, given_frequencies)
        assert got.dtype == expected.dtype
        np.testing.assert_array_equal(got, expected)  # bit for bit: the same additions in the same order


def test_entity_count_is_the_number_of_distinct_entities(matched) -> None:  # type: ignore[no-untyped-def]
    assert matched.stats["entities"] == matched.entity_of.nunique()
    assert 0 < matched.stats["entities"] < len(matched.entity_of)


@given(streets=st.lists(st.text(alphabet=" 12\u0663ab_-\t\u00e9", max_size=8), unique=True, max_size=25)
       # ASCII only (read by Arrow), with the spaces Python's \s has and RE2's has not.
       | st.lists(st.text(alphabet=" 109aZ_-.\t\v\x1c\x1f\n", max_size=8), unique=True, max_size=25))
@settings(max_examples=300, deadline=None)
def test_house_number_codes_are_the_extracted_numbers_factorised(streets) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from reconcile.match._compare import house_number_codes

    values = np.asarray(streets, dtype=object)
    numbers = pd.Series(values, dtype=object).str.extract(r"^\s*(\d+\w*)\b", expand=False)
    expected = pd.factorize(numbers.to_numpy(dtype=object), use_na_sentinel=True)[0]
    got = house_number_codes(values)
    assert got.tolist() == expected.tolist()


@given(
    values=st.lists(st.text(alphabet="abc", max_size=6) | st.none(), min_size=2, max_size=12),
    metric=st.sampled_from(["levenshtein", "damerau_levenshtein", "hamming"]),
    max_distances=st.sampled_from([[1], [1, 2], [2]]),
)
@settings(max_examples=150, deadline=None)
def test_edit_distance_levels_do_not_depend_on_when_lengths_are_counted(values, metric, max_distances) -> None:  # type: ignore[no-untyped-def]
    """Every value's length counted at once (many pairs, through a restricted view) or as asked: the same levels."""
    import pandas as pd

    from reconcile.match._compare import Column, EditDistanceComparator
    from reconcile.match._config import EditDistanceComparison

    def levels(whole_from: int) -> np.ndarray:
        column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
        comparator = EditDistanceComparator(
            "v", column, EditDistanceComparison(column="v", metric=metric, max_distances=max_distances)
        )
        records = np.arange(len(values))[::-1].copy()
        return _every_pair(comparator.restricted(records), len(values), whole_from)[2]  # type: ignore[no-any-return]

    np.testing.assert_array_equal(levels(0), levels(10**9))


def test_value_keys_of_some_values_are_those_of_all_values(matched) -> None:  # type: ignore[no-untyped-def]
    """_stored_frequencies joins the text of the most common values only: the same text as of all values."""
    for comparator in matched._explainer.comparators:
        every = comparator.value_keys()
        assert len(every) == len(comparator.value_counts())
        for codes in (np.arange(len(every))[::-1].copy(), np.array([0, 0], dtype=np.int64)[: len(every)],
                      np.zeros(0, dtype=np.int64)):
            some = comparator.value_keys(codes)
            assert some.dtype == object
            assert some.tolist() == every[codes].tolist()


def test_stored_frequencies_are_each_values_share(matched) -> None:  # type: ignore[no-untyped-def]
    """The shares divided on an array are the ones divided value by value, to the last bit, in the same order."""
    from reconcile.match._model import MAX_STORED_FREQUENCIES, _stored_frequencies

    for comparator in matched._explainer.comparators:
        counts = comparator.value_counts()
        total = float(counts.sum())
        shared = np.flatnonzero(counts >= 2)
        top = shared[np.argsort(-counts[shared], kind="stable")][:MAX_STORED_FREQUENCIES]
        keys = comparator.value_keys()
        expected = {str(keys[code]): float(counts[code] / total) for code in top.tolist()} if total > 0 else {}
        got = _stored_frequencies(comparator)
        assert list(got.items()) == list(expected.items())


@given(
    keys=st.lists(st.integers(0, 5), max_size=40) | st.lists(st.integers(0, 70_000), max_size=40)
    | st.lists(st.integers(0, 2**32 + 5), max_size=20) | st.lists(st.integers(-3, 3), max_size=20),
    dtype=st.sampled_from([np.int32, np.int64]),
)
@settings(max_examples=300, deadline=None)
def test_stable_order_is_the_stable_argsort(keys, dtype) -> None:  # type: ignore[no-untyped-def]
    from reconcile.match._blocking import stable_order

    if dtype is np.int32 and any(k >= 2**31 for k in keys):
        dtype = np.int64
    array = np.asarray(keys, dtype=dtype)
    np.testing.assert_array_equal(stable_order(array), np.argsort(array, kind="stable"))


_EDIT_TEXT = st.text(alphabet="ab0123456789+@.é", min_size=1, max_size=40)


@given(
    values=st.lists(_EDIT_TEXT, min_size=2, max_size=10, unique=True),
    metric=st.sampled_from(["levenshtein", "damerau_levenshtein", "hamming"]),
    max_distances=st.sampled_from([[1], [1, 2], [3]]),
)
@settings(max_examples=300, deadline=None)
def test_edit_distance_levels_with_character_signatures_are_rapidfuzz_levels(values, metric, max_distances) -> None:  # type: ignore[no-untyped-def]
    """Pairs told far apart by their characters (many pairs) get the levels rapidfuzz's distances give, pair by pair."""
    import pandas as pd
    from rapidfuzz.distance import OSA, Hamming, Levenshtein

    from reconcile.match._compare import Column, EditDistanceComparator
    from reconcile.match._config import EditDistanceComparison

    column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
    comparator = EditDistanceComparator(
        "v", column, EditDistanceComparison(column="v", metric=metric, max_distances=max_distances)
    )
    left, right, got = _every_pair(comparator.restricted(np.arange(len(values))), len(values))
    scorer = {"levenshtein": Levenshtein, "damerau_levenshtein": OSA, "hamming": Hamming}[metric]
    expected = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        a, b = values[i], values[j]
        if metric == "hamming" and len(a) != len(b):
            expected.append(0)
            continue
        distance = scorer.distance(a, b)
        level = 0
        for index, limit in enumerate(reversed(max_distances), start=1):
            if distance <= limit:
                level = index
        expected.append(level)
    assert got.tolist() == expected


@given(a=_EDIT_TEXT, b=_EDIT_TEXT)
@settings(max_examples=500, deadline=None)
def test_character_signatures_differ_by_at_most_twice_the_edit_distance(a, b) -> None:  # type: ignore[no-untyped-def]
    """The signatures' difference is a lower bound of twice every edit distance, and 0 for a value not ASCII."""
    from rapidfuzz.distance import OSA, Levenshtein

    from reconcile.match._compare import character_signatures, signature_distance

    signatures = character_signatures(np.array([a, b], dtype=object))
    found = int(signature_distance(signatures[:1], signatures[1:])[0])
    assert found <= 2 * OSA.distance(a, b) <= 2 * Levenshtein.distance(a, b)
    if not (a.isascii() and b.isascii()):
        assert found == 0
    elif len(a) <= 15 and len(b) <= 15:
        # No count capped: the exact difference of the counts per class.
        counts = [np.bincount([ord(c) % 15 for c in text], minlength=15) for text in (a, b)]
        assert found == int(np.abs(counts[0] - counts[1]).sum())


def _looked_up_frequencies(comparator, stored):  # type: ignore[no-untyped-def]
    """value_frequencies as it was: every value's text looked up in the stored shares."""
    import pandas as pd

    counts = comparator.value_counts().astype(np.float64)
    frequency = counts / max(float(counts.sum()), 1.0)
    if stored and len(frequency):
        looked_up = pd.Series(comparator.value_keys(), dtype=object).map(
            pd.Series(stored, dtype=np.float64)).to_numpy(dtype=np.float64)
        frequency = np.where(np.isnan(looked_up), frequency, looked_up)
    return frequency


def test_value_frequencies_are_the_looked_up_ones(matched, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A model's own stored shares give the values' own shares without every value's text; other shares are looked up."""
    import types

    from reconcile.match._model import _stored_frequencies, value_frequencies

    checked = 0
    for comparator, params in zip(matched._explainer.comparators, matched.model.fields, strict=True):
        if not params.term_frequency:
            continue
        stored = dict(params.term_frequencies)
        assert stored == _stored_frequencies(comparator)  # the model was estimated on these records
        expected = _looked_up_frequencies(comparator, stored)
        every_text = type(comparator).value_keys

        def some_texts_only(self, codes=None, every_text=every_text):  # type: ignore[no-untyped-def]
            assert codes is not None, "every value's text was made"
            return every_text(self, codes)

        with monkeypatch.context() as patch:
            patch.setattr(type(comparator), "value_keys", some_texts_only)
            got = value_frequencies(comparator, params)
        np.testing.assert_array_equal(got, expected)
        # Shares from elsewhere (a reused model): looked up, value by value.
        first = next(iter(stored), "no such value")
        for other in ({**stored, first: 0.5}, {k: v for k, v in stored.items() if k != first},
                      {**stored, "no such value": 0.25}):
            np.testing.assert_array_equal(value_frequencies(comparator, types.SimpleNamespace(term_frequencies=other)),
                                          _looked_up_frequencies(comparator, other))
        checked += bool(stored)
    assert checked >= 3


def test_address_frequencies_are_looked_up_when_two_addresses_share_a_text() -> None:
    """"x|y" on "" and "z", and "x" on "y" and "|z", are both "x|y||z": the stored share is looked up for both."""
    import types

    import pandas as pd

    from reconcile.match._compare import AddressComparator, Column
    from reconcile.match._config import AddressComparison
    from reconcile.match._model import _stored_frequencies, value_frequencies

    frame = pd.DataFrame({"s": ["x|y", "x|y", "x", "q", "q"], "u": [None, None, "y", None, None],
                          "p": ["z", "z", "|z", "1", "1"]}, dtype=object)
    comparator = AddressComparator("address", Column.of(frame, "s"), Column.of(frame, "u"), Column.of(frame, "p"),
                                   AddressComparison())
    stored = _stored_frequencies(comparator)
    assert "x|y||z" in stored
    got = value_frequencies(comparator, types.SimpleNamespace(term_frequencies=stored))
    np.testing.assert_array_equal(got, _looked_up_frequencies(comparator, stored))
    assert got[comparator.value_codes(np.array([2]))[0]] == stored["x|y||z"]  # not its own share


_NAME_TEXT = st.text(alphabet="aeinorstlmé", min_size=1, max_size=20) | st.sampled_from(
    ["smith", "smyth", "johnson", "jonson", "maria", "mario", "aaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaab"])


@given(
    values=st.lists(_NAME_TEXT, min_size=2, max_size=10, unique=True),
    similarity=st.sampled_from(["jaro_winkler", "jaro", "levenshtein"]),
    thresholds=st.sampled_from([[0.92, 0.85], [0.94, 0.88], [0.7], [0.99, 0.6, 0.4]]),
)
@settings(max_examples=300, deadline=None)
def test_string_levels_with_a_jaro_bound_are_rapidfuzz_levels(values, similarity, thresholds) -> None:  # type: ignore[no-untyped-def]
    """Pairs told too unlike by their characters (many pairs) get the levels rapidfuzz's similarities give, pair by pair."""
    import pandas as pd
    from rapidfuzz.distance import Jaro, JaroWinkler, Levenshtein
    from rapidfuzz.process import cpdist

    from reconcile.match._compare import Column, StringComparator
    from reconcile.match._config import StringComparison

    column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
    comparator = StringComparator("v", column, StringComparison(column="v", similarity=similarity,
                                                                thresholds=thresholds))
    left, right, got = _every_pair(comparator.restricted(np.arange(len(values))), len(values))
    scorer = {"jaro_winkler": JaroWinkler, "jaro": Jaro, "levenshtein": Levenshtein}[similarity]
    expected = []
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        # As the comparator computes it (cpdist may round otherwise than a call for one pair).
        sim = float(cpdist([values[i]], [values[j]], scorer=scorer.normalized_similarity)[0])
        level = 0
        for index, threshold in enumerate(reversed(thresholds), start=1):
            if sim >= threshold:
                level = index
        expected.append(level)
    assert got.tolist() == expected


@given(a=_NAME_TEXT | _EDIT_TEXT, b=_NAME_TEXT | _EDIT_TEXT)
@settings(max_examples=500, deadline=None)
def test_signatures_common_characters_bound_the_jaro_matches(a, b) -> None:  # type: ignore[no-untyped-def]
    """Exact where no count is capped: per class the lesser count, summed (at least the common characters), and the lengths."""
    from reconcile.match._compare import character_signatures, signature_common

    signatures = character_signatures(np.array([a, b], dtype=object))
    common, length_a, length_b, exact = (int(v[0]) for v in signature_common(signatures[:1], signatures[1:]))
    counts = [np.bincount([ord(c) % 15 for c in text], minlength=15) for text in (a, b)]
    uncapped = a.isascii() and b.isascii() and max(counts[0].max(), counts[1].max()) < 15
    assert bool(exact) == uncapped
    if uncapped:
        assert (common, length_a, length_b) == (int(np.minimum(counts[0], counts[1]).sum()), len(a), len(b))
        assert common >= sum(min(a.count(c), b.count(c)) for c in set(a))
    else:
        assert (common, length_a, length_b) == (0, 0, 0)


@given(labels=st.lists(st.integers(0, 30), max_size=30) | st.lists(st.integers(-5, 200), max_size=10),
       dtype=st.sampled_from([np.int64, np.int32, np.intp]))
@settings(max_examples=300, deadline=None)
def test_entity_ids_are_those_of_the_sorted_distinct_labels(labels, dtype) -> None:  # type: ignore[no-untyped-def]
    """entity_ids marks record-number labels instead of sorting them: the names of np.unique's way."""
    import hashlib

    from reconcile.match._cluster import _distinct, entity_ids

    array = np.asarray(labels, dtype=dtype)
    unique, inverse = np.unique(array, return_inverse=True)
    got_unique, got_inverse = _distinct(array)
    np.testing.assert_array_equal(got_unique, unique)
    np.testing.assert_array_equal(got_inverse, inverse.reshape(-1))
    if len(array) and array.min() >= 0:
        rids = np.array([f"src:r{k:03d}" for k in range(int(array.max()) + 1)], dtype=object)
        expected = ["E" + hashlib.sha1(str(rids[label]).encode("utf-8")).hexdigest()[:12] for label in array.tolist()]
        assert entity_ids(rids, array).tolist() == expected


@given(
    values=st.lists(st.sampled_from(["smith", "smyth", "jonson", "johnson", "maria", "mario", "ab", "ba"]) | st.none(),
                    min_size=2, max_size=14),
    kind=st.sampled_from(["jaro_winkler", "levenshtein", "damerau_levenshtein", "hamming"]),
    order=st.randoms(use_true_random=False),
)
@settings(max_examples=200, deadline=None)
def test_levels_read_from_the_table_of_value_pairs_are_the_computed_ones(values, kind, order) -> None:  # type: ignore[no-untyped-def]
    """Many pairs of few values: levels read from the table of value pairs (filled as views compare, both ways
    round) are those computed pair by pair; missing values and repeated values included."""
    import pandas as pd

    from reconcile.match._compare import Column, EditDistanceComparator, StringComparator
    from reconcile.match._config import EditDistanceComparison, StringComparison

    def comparator():  # type: ignore[no-untyped-def]
        column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
        if kind == "jaro_winkler":
            return StringComparator("v", column, StringComparison(column="v"))
        return EditDistanceComparator("v", column, EditDistanceComparison(column="v", metric=kind, max_distances=[1]))

    n = len(values)
    pairs = [(i, j) for i in range(n) for j in range(n) if i != j]  # both ways round
    order.shuffle(pairs)
    left = np.array([i for i, _ in pairs], dtype=np.int64)
    right = np.array([j for _, j in pairs], dtype=np.int64)
    one_by_one = comparator()
    expected = np.array([one_by_one.compare(left[k:k + 1], right[k:k + 1])[0] for k in range(len(left))])
    tabled = comparator()
    saved, saved_table = compare_module._WHOLE_LENGTHS, compare_module.MAX_LEVEL_TABLE
    compare_module._WHOLE_LENGTHS = 1
    try:
        compare_module.MAX_LEVEL_TABLE = 0  # too many values for a table: pairs ruled out by bounds, the rest computed
        np.testing.assert_array_equal(comparator().restricted(np.arange(n)).compare(left, right), expected)
        compare_module.MAX_LEVEL_TABLE = saved_table
        half = len(left) // 2
        # Two views of other records: the second reads what the first filled in.
        records = np.arange(n)[::-1].copy()
        first = tabled.restricted(records).compare(n - 1 - left[:half], n - 1 - right[:half])
        assert tabled.__dict__.get("_level_holder")  # the view filled in the comparator's own table
        second = tabled.restricted(np.arange(n)).compare(left, right)
        np.testing.assert_array_equal(first, expected[:half])
        np.testing.assert_array_equal(second, expected)
        tabled.forget_levels()
        assert not tabled.__dict__["_level_holder"]
        np.testing.assert_array_equal(tabled.compare(right, left), expected)  # a table made again
    finally:
        compare_module._WHOLE_LENGTHS, compare_module.MAX_LEVEL_TABLE = saved, saved_table
