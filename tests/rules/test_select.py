"""The selection language of the generic kinds: filters, record selections, field pairs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import yaml
from conftest import AS_OF, at, context, days_ago
from pydantic import ValidationError

from reconcile.rules._select import (
    FieldPair,
    Filter,
    Records,
    age_text,
    column_text,
    duration_text,
    field_kind,
    time_value,
)

ACCOUNTS = [
    {"account_id": "A1", "status": "Active", "autopay": True, "opened_at": days_ago(400), "_confidence": 0.8},
    {"account_id": "A2", "status": "closed", "autopay": False, "opened_at": days_ago(10)},
    {"account_id": "A3", "status": None, "autopay": None, "opened_at": None},
    {"account_id": "A4", "status": "  ", "opened_at": days_ago(31), "_source": "billing_eu"},
]
PAYMENTS = [
    {"payment_id": "P1", "account_id": "A1", "amount": 10.0, "attempted_at": at(days=2), "status": "ok"},
    {"payment_id": "P2", "account_id": "A1", "amount": 25.5, "attempted_at": at(hours=3), "status": "ok"},
    {"payment_id": "P3", "account_id": "A1", "amount": None, "attempted_at": None, "status": "ok"},
]


def _keys(record_type: str, rows: list[dict[str, Any]], condition: str) -> list[str]:
    ctx = context(**{record_type: rows})
    selected = Records.model_validate({"type": record_type, "where": [yaml.safe_load(condition)]}).select(ctx)
    return sorted(selected["_key"])


@pytest.mark.parametrize(("condition", "keys"), [
    ("{field: status, op: eq, value: active}", ["A1"]),  # case-insensitive, trimmed
    ("{field: status, value: ACTIVE}", ["A1"]),  # eq is the default op
    ("{field: status, op: in, value: [active, closed]}", ["A1", "A2"]),
    ("{field: status, op: in, value: closed}", ["A2"]),  # one value is read as a list of one
    ("{field: status, op: ne, value: active}", ["A2", "A3", "A4"]),  # missing values are not 'active'
    ("{field: status, op: not_in, value: [active, closed]}", ["A3", "A4"]),
    ("{field: status, op: is_null}", ["A3", "A4"]),  # blank text is missing
    ("{field: status, op: not_null}", ["A1", "A2"]),
    ("{field: autopay, op: eq, value: true}", ["A1"]),
    ("{field: autopay, op: eq, value: 'no'}", ["A2", "A4"]),  # A4 takes the model's default, false
    ("{field: opened_at, op: lt, value: '2026-01-01'}", ["A1"]),
    ("{field: opened_at, op: ge, value: 'as_of - 30 days'}", ["A2"]),  # by day: A4 is 31 days old
    ("{field: opened_at, op: le, value: 'as_of - 31 days'}", ["A1", "A4"]),
    ("{field: opened_at, op: gt, value: as_of}", []),
    ("{field: _source, op: eq, value: billing_eu}", ["A4"]),
    ("{field: _confidence, op: lt, value: 0.9}", ["A1"]),
])
def test_filters_on_text_booleans_dates_and_meta_columns(condition: str, keys: list[str]) -> None:
    assert _keys("account", ACCOUNTS, condition) == keys


@pytest.mark.parametrize(("condition", "keys"), [
    ("{field: amount, op: gt, value: 10}", ["P2"]),
    ("{field: amount, op: ge, value: 10}", ["P1", "P2"]),
    ("{field: amount, op: in, value: [10, 25.5]}", ["P1", "P2"]),
    ("{field: amount, op: is_null}", ["P3"]),
    ("{field: attempted_at, op: ge, value: 'as_of - 1 day'}", ["P2"]),  # a moment, not a day
    ("{field: attempted_at, op: lt, value: '2026-10-31T00:00:00Z'}", ["P1"]),
])
def test_filters_on_numbers_and_moments(condition: str, keys: list[str]) -> None:
    assert _keys("payment", PAYMENTS, condition) == keys


@pytest.mark.parametrize(("data", "message"), [
    ({"field": "status", "op": "in"}, "op 'in' needs a list of values"),
    ({"field": "status", "op": "is_null", "value": "x"}, "op 'is_null' takes no value"),
    ({"field": "status", "op": "eq", "value": ["a", "b"]}, "use op: in for a list"),
    ({"field": "status", "op": "eq"}, "use op: is_null"),
    ({"field": "status", "op": "like", "value": "a"}, "Input should be 'in', 'not_in'"),
    ({"field": "status", "value": "a", "values": "b"}, "Extra inputs are not permitted"),
])
def test_a_filter_says_how_to_fix_it(data: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Filter.model_validate(data)


@pytest.mark.parametrize(("where", "message"), [
    ({"field": "stauts", "value": "a"}, r"where\[0\]: field 'stauts' is not a field of account \(did you mean 'status'\?\)"),
    ({"field": "status", "op": "lt", "value": "a"}, "op 'lt' orders numbers, dates and times; 'status' is text"),
    ({"field": "opened_at", "op": "lt", "value": "last tuesday"}, r"field 'opened_at' \(date\): .*not a date"),
    ({"field": "opened_at", "op": "lt", "value": "as_of - 3 dayz"}, "cannot read '3 dayz'"),
    ({"field": "autopay", "value": "maybe"}, "'maybe' is not true or false"),
])
def test_a_selection_checks_its_filters_against_the_record_type(where: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Records.model_validate({"type": "account", "where": [where]})


def test_a_selection_checks_its_type_time_field_and_shown_fields() -> None:
    with pytest.raises(ValidationError, match="Input should be 'account'"):
        Records.model_validate({"type": "acount"})
    with pytest.raises(ValidationError, match="time_field 'status' of account is not a date or time"):
        Records.model_validate({"type": "account", "time_field": "status"})
    with pytest.raises(ValidationError, match="show 'colour' is not a field of account"):
        Records.model_validate({"type": "account", "show": ["colour"]})
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        Records.model_validate({"type": "account", "wher": []})


def test_sources_and_as_of_narrow_a_selection() -> None:
    rows = [*ACCOUNTS, {"account_id": "A5", "opened_at": days_ago(-3)}]
    ctx = context(account=rows)
    assert sorted(Records(type="account", sources=["billing_eu"]).select(ctx)["_key"]) == ["A4"]
    # Opened after the run's as_of: it did not exist yet as of the run.
    assert "A5" not in set(Records(type="account", time_field="opened_at").select(ctx)["_key"])
    assert "A5" in set(Records(type="account").select(ctx)["_key"])


def test_candidates_carry_customer_confidence_time_and_whether_they_pass() -> None:
    ctx = context(account=ACCOUNTS[:2], payment=PAYMENTS[:1])
    frame = Records.model_validate(
        {"type": "account", "time_field": "opened_at", "where": [{"field": "status", "value": "active"}]}
    ).candidates(ctx)
    assert list(frame["_ok"]) == [True, False]
    assert list(frame["_conf"]) == [0.8, 1.0]
    assert list(frame["_ekey"]) == ["E-1", "E-1"]
    assert frame["_t"].iloc[0] == pd.Timestamp(days_ago(400), tz="UTC")


def test_settled_records_are_older_than_the_grace_period_by_day_or_by_moment() -> None:
    ctx = context(account=ACCOUNTS, payment=PAYMENTS)
    accounts = Records(type="account", time_field="opened_at")
    frame = accounts.select(ctx)
    settled = frame[accounts.settled(frame, AS_OF, dt.timedelta(days=10))]["_key"]
    assert sorted(settled) == ["A1", "A3", "A4"]  # A2 opened 10 days ago: not before the cutoff day
    payments = Records(type="payment", time_field="attempted_at")
    frame = payments.select(ctx)
    assert sorted(frame[payments.settled(frame, AS_OF, dt.timedelta(hours=4))]["_key"]) == ["P1", "P3"]


def test_field_pairs_are_written_short_or_long() -> None:
    assert FieldPair.model_validate({"left": "product"}).right == "product"
    pair = FieldPair.model_validate({"left": "product", "right": "plan", "map": {"bundle": ["fiber_1g"]}})
    assert (pair.left, pair.right, pair.map) == ("product", "plan", {"bundle": ["fiber_1g"]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        FieldPair.model_validate({"left": "a", "rigth": "b"})


def test_helpers() -> None:
    assert field_kind("payment", "attempted_at") == "datetime"
    assert field_kind("invoice", "due_date") == "date"
    assert field_kind("invoice", "amount") == "number"
    assert field_kind("account", "autopay") == "bool"
    assert field_kind("account", "_rid") == "text"
    assert list(column_text(pd.Series([" Active ", None, "", 3]))) == ["active", None, None, "3"]
    assert time_value("as_of + 1 day", AS_OF) == pd.Timestamp(AS_OF + dt.timedelta(days=1))
    assert time_value("2026-01-02", AS_OF) == pd.Timestamp("2026-01-02", tz="UTC")
    assert [duration_text(dt.timedelta(seconds=s)) for s in (86400 * 3, 36 * 3600, 5400, 45)] == [
        "3 days", "36 hours", "90 minutes", "45 seconds"]
    assert [age_text(dt.timedelta(hours=h)) for h in (1, 30, 48, 9 * 24 + 5)] == [
        "1 hour", "30 hours", "2 days", "9 days"]
