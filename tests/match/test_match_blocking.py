"""Blocking: candidate pairs, checked against brute force and against recordlinkage."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import recordlinkage
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.match import BlockingKey, BlockPass, SortedNeighbourhoodPass
from reconcile.match._blocking import block_pairs, key_codes, pass_pairs, union_pairs
from reconcile.match._compare import Column


def _columns(frame: pd.DataFrame):
    return lambda name: Column.of(frame, name)


def _as_set(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(left.tolist(), right.tolist(), strict=True))


@given(st.lists(st.integers(min_value=-1, max_value=6), max_size=60), st.none() | st.integers(2, 8))
@settings(max_examples=150, deadline=None)
def test_block_pairs_are_every_pair_with_the_same_code(codes: list[int], max_size: int | None) -> None:
    left, right, skipped = block_pairs(np.array(codes, dtype=np.int64), max_size)
    sizes = {c: codes.count(c) for c in set(codes) if c >= 0}
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(codes)), 2)
        if codes[i] == codes[j] >= 0 and (max_size is None or sizes[codes[i]] <= max_size)
    }
    assert (left < right).all()
    assert len(left) == len(expected) == len(_as_set(left, right))
    assert _as_set(left, right) == expected
    assert skipped == sum(1 for s in sizes.values() if max_size is not None and s > max_size)


@given(
    st.lists(
        st.tuples(st.sampled_from(["smith", "smyth", "jones", None]), st.sampled_from(["10001", "10002", None])),
        min_size=2,
        max_size=40,
    )
)
@settings(max_examples=60, deadline=None)
def test_a_block_pass_equals_recordlinkage_block(rows: list[tuple]) -> None:
    frame = pd.DataFrame(rows, columns=["family", "postal"])
    left, right = pass_pairs("p", BlockPass(on=["family", "postal"], max_block_size=None), _columns(frame))
    index = recordlinkage.Index()
    index.block(["family", "postal"])
    oracle = index.index(frame)
    expected = {(min(a, b), max(a, b)) for a, b in oracle}
    assert _as_set(left, right) == expected


@given(st.lists(st.sampled_from(["anders", "andersen", "anderson", "baker", "bakker", "cole", None]), max_size=40))
@settings(max_examples=60, deadline=None)
def test_sorted_neighbourhood_equals_recordlinkage(names: list) -> None:
    frame = pd.DataFrame({"name": names})
    left, right = pass_pairs("sn", SortedNeighbourhoodPass(on=["name"], window=3), _columns(frame))
    assert (left < right).all()
    if frame["name"].notna().sum() < 2:
        assert len(left) == 0
        return
    oracle = recordlinkage.index.SortedNeighbourhood("name", window=3).index(frame)
    expected = {(min(a, b), max(a, b)) for a, b in oracle if a != b}
    assert _as_set(left, right) == expected


def test_key_transforms() -> None:
    frame = pd.DataFrame(
        {
            "family": ["Robert", "Rupert", "Rubin", None, "Ashcraft"],
            "vin": ["1HGCM82633A004352", "1HGCM82633A004362", "1HGCM82633A999999", "X", None],
        }
    )
    cols = _columns(frame)
    soundex = key_codes([BlockingKey(column="family", transform="soundex")], cols)
    assert soundex[0] == soundex[1] != soundex[2] and soundex[3] == -1
    prefix = key_codes([BlockingKey(column="vin", transform="prefix", length=11)], cols)
    assert prefix[0] == prefix[1] == prefix[2] != prefix[3] and prefix[4] == -1
    suffix = key_codes([BlockingKey(column="vin", transform="suffix", length=6)], cols)
    assert suffix[0] != suffix[1] and len(set(suffix[:3].tolist())) == 3
    both = key_codes([BlockingKey(column="family", transform="soundex"), BlockingKey(column="vin")], cols)
    assert both[3] == -1 and both[4] == -1 and len(set(both[:3].tolist())) == 3


def test_keys_that_differ_after_a_nul_character_are_different_keys() -> None:
    """pandas alone hashes text as C strings: "ab" and "ab\\x00" (values, or prefixes of values) would be one key."""
    frame = pd.DataFrame({"v": ["ab", "ab\x00", "ab\x00x", "\x00", ""]}, dtype=object)
    cols = _columns(frame)
    value = key_codes([BlockingKey(column="v")], cols)
    assert len(set(value[:4].tolist())) == 4 and value[4] == -1
    prefix = key_codes([BlockingKey(column="v", transform="prefix", length=3)], cols)
    assert prefix[0] != prefix[1] == prefix[2] != prefix[3] and prefix[0] != prefix[3]
    suffix = key_codes([BlockingKey(column="v", transform="suffix", length=1)], cols)
    assert suffix[1] == suffix[3] and len({suffix[0], suffix[1], suffix[2]}) == 3


def test_a_key_is_a_column_name_or_a_mapping() -> None:
    assert BlockingKey.model_validate("_n_postal").column == "_n_postal"
    assert BlockingKey(column="_n_family", transform="soundex").label() == "soundex(_n_family)"
    assert BlockingKey(column="_n_vin", transform="prefix", length=11).label() == "prefix(_n_vin, 11)"


def test_union_removes_duplicates_and_sorts() -> None:
    a = (np.array([0, 1, 2]), np.array([1, 2, 3]))
    b = (np.array([1, 0]), np.array([2, 3]))
    left, right = union_pairs(4, [a, b])
    assert list(zip(left.tolist(), right.tolist(), strict=True)) == [(0, 1), (0, 3), (1, 2), (2, 3)]
    empty = union_pairs(4, [])
    assert len(empty[0]) == 0


def test_blocks_larger_than_the_limit_are_skipped_with_a_warning(caplog) -> None:
    frame = pd.DataFrame({"phone": ["+10000000000"] * 6 + ["+12125550100"] * 2})
    with caplog.at_level("WARNING", logger="reconcile.match"):
        left, right = pass_pairs("phone", BlockPass(on=["phone"], max_block_size=5), _columns(frame))
    assert _as_set(left, right) == {(6, 7)}
    assert "skipped 1 block(s) larger than max_block_size=5" in caplog.text
    assert "'phone'" in caplog.text


def test_phonetic_transforms_group_spellings() -> None:
    frame = pd.DataFrame({"family": ["Macdonald", "Mcdonald", "Jones", "Johns", "Smith"]})
    cols = _columns(frame)
    for transform in ("metaphone", "nysiis", "soundex"):
        codes = key_codes([BlockingKey(column="family", transform=transform)], cols)
        assert codes[0] == codes[1] and codes[2] == codes[3], transform
        assert len({codes[0], codes[2], codes[4]}) == 3, transform
