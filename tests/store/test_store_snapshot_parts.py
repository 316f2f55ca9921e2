"""Snapshot parts: reading some records, reading only the changes since a full write."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from unittest import mock

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.store import _snapshots
from reconcile.store._snapshots import encode_parts, frame_from_values, records_of

KEYS = [f"V{i}" for i in range(10)]


@st.composite
def vehicles(draw: Any) -> pd.DataFrame:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=9))
    n = len(keys)

    def column(values: Any) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    years = column(st.none() | st.integers(1950, 2030)) if draw(st.booleans()) else column(st.integers(1950, 2030))
    frame = frame_from_values("vehicle", {
        "vehicle_id": keys,
        "vin": column(st.sampled_from(["1HGCM82633A004352", "JH4KA4650JC000403"])),
        "name": column(st.none() | st.text(max_size=3)),
        "year": years,
        "birth_date": column(st.none() | st.dates(dt.date(1940, 1, 1), dt.date(2000, 1, 1))),
    })
    if draw(st.booleans()):  # integers and None in an object column: Arrow integers with nulls
        frame["year"] = pd.Series(years, index=frame.index, dtype=object)
    return frame


@settings(max_examples=200, deadline=None)
@given(vehicles(), st.sets(st.sampled_from(KEYS)), st.integers(1, 4))
def test_records_of_some_keys_are_those_of_the_whole_snapshot(frame: pd.DataFrame, keys: set[str], rows: int) -> None:
    """Filtered in Arrow before pandas: the same records, values of the same types (a year stays 2020 or 2020.0)."""
    with mock.patch.object(_snapshots, "PART_ROWS", rows):
        parts = encode_parts(frame)
    whole = _snapshots.snapshot_frame("vehicle", parts)
    expected = records_of(whole[whole["vehicle_id"].astype(str).isin(keys)], "vehicle_id")
    tables = _snapshots._tables(parts, columns=list(whole.columns))
    some = _snapshots._frame_of("vehicle", _snapshots._rows_of_keys(tables, "vehicle_id", keys))
    got = records_of(some[some["vehicle_id"].astype(str).isin(keys)], "vehicle_id")
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)
