"""Merging changed records into a snapshot: the column-by-column merge gives what the reference gives."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.incremental import NORMALISED_OK, _merge, _merge_frames
from reconcile.store._snapshots import frame_from_values

KEYS = [f"P{i}" for i in range(12)]
MOMENTS = [dt.datetime(2026, 1, d, 6, tzinfo=dt.UTC) for d in (1, 2, 3)]


@st.composite
def payments(draw: Any, keys: list[str]) -> pd.DataFrame:
    """The frame an extract of payments with these keys gives (dtypes inferred from the values)."""
    n = len(keys)
    maybe = st.booleans() if draw(st.booleans()) else st.none() | st.booleans()
    columns = {
        "payment_id": keys,
        "account_id": draw(st.lists(st.sampled_from(["A1", "A2", None]), min_size=n, max_size=n)),
        "amount": draw(st.lists(st.none() | st.floats(-5, 5, allow_nan=False), min_size=n, max_size=n)),
        "attempted_at": draw(st.lists(st.none() | st.sampled_from(MOMENTS), min_size=n, max_size=n)),
        "status": draw(st.lists(st.sampled_from(["ok", "failed"]), min_size=n, max_size=n)),
        "autopay": draw(st.lists(maybe, min_size=n, max_size=n)),
    }
    return frame_from_values("payment", columns)


@st.composite
def merges(draw: Any) -> tuple[pd.DataFrame, pd.DataFrame, set[str]]:
    snap_keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=10))
    changed_keys = draw(st.lists(st.sampled_from(KEYS), unique=draw(st.booleans()), max_size=8))
    snapshot = draw(payments(snap_keys))
    changed = draw(payments(changed_keys))
    if draw(st.booleans()):  # an identity stream's snapshot: normalised columns kept beside
        snapshot["_n_x"] = draw(st.lists(st.none() | st.sampled_from(["a", "b"]),
                                         min_size=len(snap_keys), max_size=len(snap_keys)))
        snapshot[NORMALISED_OK] = True
    gone = set(draw(st.lists(st.sampled_from(KEYS), max_size=4)))
    return snapshot, changed, gone


@settings(max_examples=300, deadline=None)
@given(merges())
def test_the_column_by_column_merge_is_the_reference(case: tuple[pd.DataFrame, pd.DataFrame, set[str]]) -> None:
    snapshot, changed, gone = case
    before = (snapshot.copy(), changed.copy())
    args = (snapshot, snapshot["payment_id"].astype(str), changed, changed["payment_id"].astype(str), gone)
    expected = _merge_frames("payment", *args)
    merged = _merge("payment", *args)
    pd.testing.assert_frame_equal(merged, expected)
    # Neither input is changed in place.
    pd.testing.assert_frame_equal(snapshot, before[0])
    pd.testing.assert_frame_equal(changed, before[1])


def test_changed_records_keep_their_place_and_new_ones_come_last() -> None:
    snapshot = frame_from_values("payment", {"payment_id": ["P1", "P2", "P3"], "status": ["a", "b", "c"]})
    changed = frame_from_values("payment", {"payment_id": ["P9", "P2"], "status": ["n", "B"]})
    keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
    merged = _merge("payment", snapshot, keys[0], changed, keys[1], {"P1"})
    assert merged["payment_id"].tolist() == ["P2", "P3", "P9"]
    assert merged["status"].tolist() == ["B", "c", "n"]
    assert isinstance(merged.index, pd.RangeIndex) and np.array_equal(merged.index, np.arange(3))


@settings(max_examples=200, deadline=None)
@given(merges())
def test_changed_values_equal_to_the_snapshots_become_its_objects(case: tuple[pd.DataFrame, pd.DataFrame, set[str]]) -> None:
    """With the snapshot's objects by value (as its reader gives them): the same merge, equal values one object."""
    snapshot, changed, gone = case
    # The snapshot's text as one object per value, and changed values as objects of their own.
    shared: dict[str, dict[Any, Any]] = {}
    for name in ("account_id", "status"):
        objects = {v: v for v in snapshot[name] if v is not None}
        shared[name] = objects
        changed[name] = pd.Series([None if v is None else "".join(list(v)) for v in changed[name]], dtype=object)
    args = (snapshot, snapshot["payment_id"].astype(str), changed, changed["payment_id"].astype(str), gone)
    expected = _merge("payment", *args)
    merged = _merge("payment", *args, shared)
    pd.testing.assert_frame_equal(merged, expected)
    fresh = [k for k in changed["payment_id"] if k not in gone]
    if not fresh or len(set(fresh)) < len(fresh) or set(snapshot["payment_id"]) <= gone:
        return  # merged by the reference (concatenated frames), which shares nothing
    for name, objects in shared.items():
        for value in merged[name]:
            if value in objects:
                assert value is objects[value]


def test_a_changed_value_takes_the_snapshots_object_only_of_its_own_type() -> None:
    snapshot = frame_from_values("payment", {"payment_id": ["P1", "P2"], "status": ["ok", "late"]})
    changed = frame_from_values("payment", {"payment_id": ["P2", "P3"], "status": ["".join(["o", "k"]), "late"]})
    keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
    merged = _merge("payment", snapshot, keys[0], changed, keys[1], set(), {"status": {"ok": snapshot["status"][0]}})
    assert merged["status"].tolist() == ["ok", "ok", "late"]
    assert merged["status"][1] is snapshot["status"][0]


@settings(max_examples=300, deadline=None)
@given(merges())
def test_where_the_merge_put_the_changed_records_is_where_the_delta_finds_them(
    case: tuple[pd.DataFrame, pd.DataFrame, set[str]]
) -> None:
    from reconcile.incremental import _delta

    snapshot, changed, gone = case
    snap_keys, changed_keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
    placed: list[np.ndarray] = []
    merged = _merge("payment", snapshot, snap_keys, changed, changed_keys, gone, None, placed)
    expected = _delta(merged["payment_id"], snap_keys, changed_keys, gone, None)
    got = _delta(merged["payment_id"], snap_keys, changed_keys, gone, None, placed[0] if placed else None)
    assert (expected is None) == (got is None)
    if expected is not None and got is not None:
        assert np.array_equal(got.positions, expected.positions) and got.positions.dtype == expected.positions.dtype
        assert got.gone == expected.gone
