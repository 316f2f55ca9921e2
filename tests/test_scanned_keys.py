"""ScannedKeys: a key scan's keys kept as Arrow text behave as the set of those keys (Hypothesis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.incremental import ScannedKeys, _in

# Keys as sources give them: ids, text with NUL characters, accents, lone surrogates (JSON can hold one).
keys = st.one_of(
    st.sampled_from(["AC-1", "AC-2", "ac-1", "AC-1 ", "\x00", "a\x00b", "a\x00c", "straße", "\udc80", "x\ud800"]),
    st.text(min_size=1, max_size=6),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(keys, max_size=8), max_size=5), st.lists(keys, max_size=5), st.lists(keys, max_size=20))
def test_behaves_as_the_set_of_its_keys(batches: list[list[str]], singles: list[str], probe: list[str]) -> None:
    scanned = ScannedKeys()
    for batch in batches:
        scanned.update(batch)
    for key in singles:
        scanned.add(key)
    expected = {key for batch in batches for key in batch} | set(singles)
    assert scanned == expected and expected == scanned
    assert len(scanned) == len(expected)
    assert set(scanned) == expected
    assert all((key in scanned) == (key in expected) for key in probe)
    column = pd.Series(probe, dtype=object)
    assert _in(column, scanned).tolist() == column.isin(expected).tolist()
    assert scanned.isin(column).dtype == np.bool_


def test_keys_added_one_at_a_time_are_kept_as_arrow_text_in_blocks() -> None:
    scanned = ScannedKeys()
    for i in range(ScannedKeys.PENDING + 5):
        scanned.add(f"K{i}")
    assert len(scanned._chunks) == 1 and len(scanned._pending) == 5  # one block in Arrow so far
    assert len(scanned.values()) == ScannedKeys.PENDING + 5
    assert f"K{ScannedKeys.PENDING + 4}" in scanned and "K-1" not in scanned


def test_a_large_lookup_goes_by_arrow_and_agrees_with_pandas() -> None:
    found = [f"INV-{i:08d}" for i in range(0, 200_000, 3)]
    scanned = ScannedKeys()
    for start in range(0, len(found), 10_000):
        scanned.update(found[start:start + 10_000])
    column = pd.Series([f"INV-{i:08d}" for i in range(200_000)], dtype=object)
    assert np.array_equal(_in(column, scanned), column.isin(set(found)).to_numpy())
    assert scanned._set is None  # the lookup made no Python set of the keys


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.lists(keys, max_size=8), max_size=4),
    st.lists(st.lists(keys, max_size=8), max_size=4),
    st.lists(keys, max_size=6),
    st.integers(min_value=0, max_value=120),
)
def test_keys_added_as_arrow_text_and_few_keys_looked_up(
    texts: list[list[str]], arrow: list[list[str]], probe: list[str], filler: int
) -> None:
    """Arrow chunks and Python keys together; a lookup of keys far fewer than the scanned ones hashes the few."""
    import pyarrow as pa

    scanned = ScannedKeys()
    for batch in texts:
        scanned.update(batch)
    added_as_arrow = [[key for key in batch if key.isprintable() and "\ud800" not in key and "\udc80" not in key]
                      for batch in arrow]
    for i, batch in enumerate(added_as_arrow):
        array = pa.array(batch, type=pa.large_string() if i % 2 else pa.string())
        scanned.update_arrow(array)
    scanned.update([f"filler-{i}" for i in range(filler)])  # the scanned keys many more than the probe
    expected = {key for batch in texts + added_as_arrow for key in batch} | {f"filler-{i}" for i in range(filler)}
    assert scanned == expected
    column = pd.Series(probe, dtype=object)
    assert _in(column, scanned).tolist() == column.isin(expected).tolist()


def test_text_keys_are_taken_as_they_are_or_made_text() -> None:
    from reconcile.incremental import _text

    texts = pd.Series(["A", "B", "C"], dtype=object)
    assert _text(texts) is texts  # no copy of a snapshot's keys, text already
    mixed = pd.Series(["A", 2, None, 1.5], dtype=object)
    assert _text(mixed).tolist() == mixed.astype(str).tolist() == ["A", "2", "None", "1.5"]
    numbers = pd.Series([1, 2])
    assert _text(numbers).tolist() == ["1", "2"]
