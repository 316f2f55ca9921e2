"""The duplicate-key check of a stream's batches: the same repeats, sets and positions as looking twice at every key."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.extract.base import _Dropped, _SeenKeys


def _reference_add_batch(seen: set[Any], keys: list[Any], positions: Any, dropped: list[Any]) -> list[Any]:
    """What _SeenKeys.add_batch did for every batch: a look at every key, then every key added."""
    if seen.isdisjoint(keys):
        earlier: set[Any] = set()
        before = len(seen)
        seen.update(keys)
        repeats = len(seen) - before != len(keys)
    else:
        earlier = seen.intersection(keys)
        seen.update(keys)
        repeats = True
    found: list[Any] = []
    if repeats:
        counts = Counter(keys)
        repeated = {key for key, count in counts.items() if count > 1} | earlier
        first_at: dict[Any, Any] = {}
        for i, key in enumerate(keys):
            if key not in repeated:
                continue
            if key in earlier or key in first_at:
                found.append((i, key, first_at.get(key)))
            else:
                first_at[key] = positions[i]
        for i, _, _ in found:
            keys[i] = marker = _Dropped()
            dropped.append(marker)
    if dropped:
        seen.difference_update(dropped)
    return found


_STEP = st.one_of(
    st.tuples(st.just("batch"), st.lists(st.one_of(st.sampled_from("abcdefghij"), st.just(None)), max_size=8)),
    st.tuples(st.just("row"), st.sampled_from("abcdefghijklm")),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_STEP, max_size=12))
def test_batches_repeat_the_keys_looking_twice_finds(steps: list[tuple[str, Any]]) -> None:
    fast, reference = _SeenKeys(), set()
    at = 0
    for kind, value in steps:
        if kind == "row":
            if value not in reference:  # the row path adds only a key not seen (else: a duplicate row)
                fast.add(value, at)
                reference.add(value)
            at += 1
            continue
        # None stands for a row quarantined before the check (a marker in place of its key).
        keys, markers, ref_keys, ref_markers = [], [], [], []
        for key in value:
            if key is None:
                keys.append(marker := _Dropped())
                markers.append(marker)
                ref_keys.append(marker)
                ref_markers.append(marker)
            else:
                keys.append(key)
                ref_keys.append(key)
        positions = list(range(at, at + len(value)))
        at += len(value)
        found = fast.add_batch(keys, positions, markers)
        expected = _reference_add_batch(reference, ref_keys, positions, ref_markers)
        assert found == expected
        assert [k if type(k) is not _Dropped else None for k in keys] == [
            k if type(k) is not _Dropped else None for k in ref_keys
        ]
        assert fast.keys == reference
        assert fast.keys == reference  # no marker kept
    for key in reference:
        assert key in fast
        assert fast.position(key) is not None
