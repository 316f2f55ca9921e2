"""Cursors, snapshots and artifacts: written with the run, or not at all."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_factories import dump, finding, healthy, night, record_night, unhealthy

from reconcile.errors import StoreError
from reconcile.model import record_model
from reconcile.store import StateChanges, Store, decode_cursor, encode_cursor
from reconcile.store._snapshots import PART_ROWS, frame_from_values

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def test_a_new_store_has_no_cursor_snapshot_or_artifact(store: Store) -> None:
    assert store.cursor("billing", "account") is None
    assert store.cursors() == {}
    assert store.snapshot("billing", "account") == {}
    assert store.artifact("match-model") is None
    assert store.last_good_health("billing") is None


@pytest.mark.parametrize(
    "value",
    [0, -5, 2**40, 1.5, EPOCH, dt.datetime(2026, 11, 1, 6, 0, 0, 123456, tzinfo=dt.UTC),
     dt.date(2026, 1, 31), "", "00042", "2026-11-01T06:00:00"],
    ids=repr,
)
def test_cursor_values_come_back_as_they_went_in(store: Store, value: Any) -> None:
    """0, the epoch and an empty string are cursors, not 'no cursor'."""
    record_night(store, 1, [], state=StateChanges(cursors={("billing", "account"): value}))
    back = store.cursor("billing", "account")
    assert back == value
    assert type(back) is type(value)
    assert store.cursors() == {("billing", "account"): value}


def _frame(record_type: str, *records: dict[str, Any]) -> Any:
    """The frame an extract of these records gives (fields not given are None)."""
    model = record_model(record_type)
    names = list(model.model_fields)
    dumped = [model.model_validate(r).model_dump() for r in records]
    return frame_from_values(record_type, {n: [r[n] for r in dumped] for n in names})


def _account(key: str, **fields: Any) -> dict[str, Any]:
    return {"account_id": key, "status": "active", "autopay": False, **fields}


def test_snapshots_are_replaced_whole_with_the_run(store: Store) -> None:
    key = ("billing", "account")
    long_key = "K" * 600  # longer than any index allows
    record_night(store, 1, [], state=StateChanges(
        frames={key: _frame("account", _account("A1", name="Ann"), _account(long_key))}))
    kept = store.snapshot(*key)
    assert set(kept) == {"A1", long_key}
    assert kept["A1"]["name"] == "Ann" and kept[long_key]["name"] is None
    record_night(store, 2, [], state=StateChanges(
        frames={key: _frame("account", _account("A1", name="Anne"), _account("A2"))}))
    assert {k: v["name"] for k, v in store.snapshot(*key).items()} == {"A1": "Anne", "A2": None}
    record_night(store, 3, [])  # a run that read no stream incrementally keeps the snapshot
    assert set(store.snapshot(*key)) == {"A1", "A2"}
    assert store.snapshot("billing", "invoice") == {}


def test_a_snapshot_comes_back_as_the_frame_that_went_in(store: Store) -> None:
    import pandas as pd

    key = ("billing", "payment")
    payments = [
        {"payment_id": f"P{i}", "account_id": "A1", "amount": 10.5 * i, "status": "failed" if i % 3 else "ok",
         "attempted_at": dt.datetime(2026, 1, 1, i % 24, tzinfo=dt.UTC), "autopay": bool(i % 2),
         "return_code": None if i % 2 else "R01"}
        for i in range(PART_ROWS + 7)  # more than one part
    ]
    frame = _frame("payment", *payments)
    record_night(store, 1, [], state=StateChanges(frames={key: frame}))
    pd.testing.assert_frame_equal(store.snapshot_frame(*key), frame)


def test_values_are_stored_json_safe(store: Store) -> None:
    key = ("dealer", "vehicle")
    record = {"vehicle_id": "V1", "vin": "1HGCM82633A004352", "year": 2020}
    record_night(store, 1, [], state=StateChanges(frames={key: _frame("vehicle", record)}))
    stored = store.snapshot(*key)["V1"]
    assert stored["vehicle_id"] == "V1"
    assert stored["year"] == 2020
    assert json.loads(json.dumps(stored)) == stored


def test_a_failed_run_moves_no_cursor_and_changes_no_snapshot(store: Store) -> None:
    key = ("crm", "contact")
    record_night(store, 1, [finding("C1")], state=StateChanges(
        cursors={key: 10}, frames={key: _frame("contact", {"contact_id": "C1"})},
        artifacts={"match-model": {"m": [0.9]}},
    ))
    before = dump(store, skip=("runs",))
    run_id = store.begin_run(night(2), config_digest="cfg")
    store.fail_run(run_id, "source crm unreachable")
    assert dump(store, skip=("runs",)) == before
    assert store.cursor(*key) == 10


def test_a_run_that_fails_to_commit_writes_no_state(store: Store) -> None:
    key = ("crm", "contact")
    record_night(store, 1, [], state=StateChanges(cursors={key: 10}))
    run_id = store.begin_run(night(2), config_digest="cfg")
    duplicate = [finding("C1"), finding("C1")]
    with pytest.raises(StoreError):
        store.finish_run(run_id, findings=duplicate, health=healthy(),
                         state=StateChanges(cursors={key: 99}, frames={key: _frame("contact", {"contact_id": "C9"})}))
    assert store.cursor(*key) == 10
    assert store.snapshot(*key) == {}


def test_artifacts_are_replaced_by_name(store: Store) -> None:
    record_night(store, 1, [], state=StateChanges(artifacts={"match-model": {"version": 1, "m": [0.9, 0.1]}}))
    record_night(store, 2, [], state=StateChanges(artifacts={"match-model": {"version": 2}}))
    assert store.artifact("match-model") == {"version": 2}


def test_last_good_health_skips_unhealthy_and_failed_runs(store: Store) -> None:
    from reconcile.results import SourceHealth

    good = SourceHealth(source="billing", rows_read=1000, rows_used=990, rows_quarantined=10,
                        streams={"account": 990})
    record_night(store, 1, [], health=[good])
    record_night(store, 2, [], health=unhealthy("billing", "crm"))
    failed = store.begin_run(night(3), config_digest="cfg")
    store.fail_run(failed, "boom")
    last = store.last_good_health("billing")
    assert last is not None
    assert (last.rows_read, last.rows_used, last.streams) == (1000, 990, {"account": 990})


@given(st.one_of(
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=50),
    st.dates(),
    st.datetimes(timezones=st.just(dt.UTC)),
))
def test_cursor_encoding_round_trips(value: Any) -> None:
    back = decode_cursor(encode_cursor(value))
    assert back == value
    assert type(back) is type(value)


def test_a_naive_datetime_cursor_is_utc() -> None:
    assert decode_cursor(encode_cursor(dt.datetime(2026, 1, 1, 12))) == dt.datetime(2026, 1, 1, 12, tzinfo=dt.UTC)


@pytest.mark.parametrize("value", [True, None, {"a": 1}, [1]])
def test_values_that_cannot_order_rows_are_not_cursors(value: Any) -> None:
    with pytest.raises(TypeError):
        encode_cursor(value)


def test_normalised_columns_are_kept_under_their_tag(store: Store) -> None:
    key = ("crm", "contact")
    frame = _frame("contact", {"contact_id": "C1", "name": "Ann Lee"}, {"contact_id": "C2"})
    frame["_n_given"] = ["ann", None]
    frame["_n_family"] = ["lee", None]
    state = StateChanges(frames={key: frame}, derived_tag="tag-1")
    record_night(store, 1, [], state=state)
    kept = store.snapshot_frame(*key, derived_tag="tag-1")
    assert kept["_n_given"].tolist() == ["ann", None] and kept["_n_family"].tolist() == ["lee", None]
    # Another release or normalise setting: the normalised columns are not reused.
    assert not [c for c in store.snapshot_frame(*key, derived_tag="tag-2").columns if c.startswith("_n_")]
    assert not [c for c in store.snapshot_frame(*key).columns if c.startswith("_n_")]
