"""``ExtractResult.frame`` is the frame of its records, however the columns were kept (chunks of lists or arrays)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reconcile.extract.base import ExtractResult
from reconcile.model import record_model

_AT = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
_VALUES = {
    "payment_id": st.sampled_from(["P1", "P2", "P3"]),
    "account_id": st.sampled_from(["A1", "A2"]),
    "amount": st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.sampled_from([0.0, 49.9])),
    "attempted_at": st.sampled_from([_AT, _AT + dt.timedelta(seconds=1), _AT.replace(year=1900)]),
    "status": st.sampled_from(["ok", "failed"]),
    "return_code": st.sampled_from([None, "R01"]),
    "method": st.sampled_from([None, "card"]),
    "autopay": st.booleans(),
}
_ROW = st.fixed_dictionaries(_VALUES)


@settings(max_examples=120, deadline=None)
@given(
    chunks=st.lists(st.tuples(st.lists(_ROW, max_size=5), st.booleans(), st.booleans()), max_size=4),
    nones=st.sets(st.sampled_from(["amount", "attempted_at", "autopay"])),
)
def test_the_frame_is_the_records_frame(chunks: list[tuple[list[dict[str, Any]], bool, bool]], nones: set[str]) -> None:
    # Values a column check would refuse never get here; Nones are put in to see inference keep them.
    result = ExtractResult("billing")
    store = result.columns_of("payment")
    for rows, as_arrays, one_by_one in chunks:
        rows = [{k: (None if k in nones and i % 2 else v) for k, v in row.items()} for i, row in enumerate(rows)]
        if one_by_one:
            for row in rows:
                store.add_row(row)
        else:
            columns: dict[str, Any] = {name: [row[name] for row in rows] for name in store.chunks}
            if as_arrays:
                columns = {name: np.array(values + [0], dtype=object)[:-1] for name, values in columns.items()}
            store.add_columns(columns, len(rows))
    names = list(record_model("payment").model_fields)
    assume(store.rows > 0)  # no rows: a frame of empty float columns, as ever (the records' frame has objects)
    frame = result.frame("payment")
    expected = pd.DataFrame.from_records(result.records["payment"], columns=names)
    assert list(frame.columns) == names
    assert frame.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(frame, expected)
    for name in names:
        assert [type(v) for v in frame[name].tolist()] == [type(v) for v in expected[name].tolist()]
