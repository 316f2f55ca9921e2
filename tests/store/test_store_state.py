"""Cursors, snapshots and artifacts: written with the run, or not at all."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store_factories import dump, finding, healthy, night, record_night, unhealthy

from reconcile.errors import StoreError
from reconcile.store import StateChanges, Store, decode_cursor, encode_cursor

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


def test_snapshot_upserts_deletes_and_replace(store: Store) -> None:
    key = ("billing", "account")
    long_key = "K" * 600  # longer than any index allows; keyed by its hash
    record_night(store, 1, [], state=StateChanges(
        upserts={key: {"A1": {"account_id": "A1", "name": "Ann"}, long_key: {"account_id": long_key}}},
        replace={key},
    ))
    assert store.snapshot(*key) == {"A1": {"account_id": "A1", "name": "Ann"}, long_key: {"account_id": long_key}}
    record_night(store, 2, [], state=StateChanges(
        upserts={key: {"A1": {"account_id": "A1", "name": "Anne"}, "A2": {"account_id": "A2"}}},
        deletes={key: {long_key}},
    ))
    assert store.snapshot(*key) == {"A1": {"account_id": "A1", "name": "Anne"}, "A2": {"account_id": "A2"}}
    record_night(store, 3, [], state=StateChanges(upserts={key: {"A3": {"account_id": "A3"}}}, replace={key}))
    assert store.snapshot(*key) == {"A3": {"account_id": "A3"}}
    assert store.snapshot("billing", "invoice") == {}


def test_values_are_stored_json_safe(store: Store) -> None:
    key = ("dealer", "vehicle")
    record = {"vehicle_id": "V1", "opened": dt.date(2026, 1, 2), "at": dt.datetime(2026, 1, 2, 3, 4, tzinfo=dt.UTC),
              "amount": float("nan")}
    record_night(store, 1, [], state=StateChanges(upserts={key: {"V1": record}}, replace={key}))
    stored = store.snapshot(*key)["V1"]
    assert stored["vehicle_id"] == "V1"
    assert stored["opened"] == "2026-01-02"
    assert stored["amount"] is None


def test_a_failed_run_moves_no_cursor_and_changes_no_snapshot(store: Store) -> None:
    key = ("crm", "contact")
    record_night(store, 1, [finding("C1")], state=StateChanges(
        cursors={key: 10}, upserts={key: {"C1": {"contact_id": "C1"}}}, replace={key},
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
                         state=StateChanges(cursors={key: 99}, upserts={key: {"C9": {}}}))
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
