from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.extract.mapping import FieldMapping, MappingError, RowMapper
from reconcile.model import Account, Payment, Subscription


def test_plain_columns_and_type_driven_transforms() -> None:
    mapper = RowMapper(
        Account,
        {
            "account_id": "acct",
            "autopay": "ap",
            "opened_at": "opened",
            "name": FieldMapping(columns=["first", "last"]),
        },
    )
    mapped = mapper.map({"acct": 12, "ap": "Y", "opened": "2024-03-05", "first": "Ann", "last": " Lee "})
    assert mapped == {
        "account_id": "12",
        "autopay": True,
        "opened_at": dt.date(2024, 3, 5),
        "name": "Ann Lee",
    }


def test_datetime_without_zone_is_utc_and_with_zone_is_converted() -> None:
    mapper = RowMapper(Payment, {"payment_id": "id", "account_id": "a", "amount": "amt",
                                 "attempted_at": "at", "status": "s"})
    naive = mapper.map({"id": "1", "a": "A", "amt": "10.5", "at": "2026-01-02 03:04:05", "s": "x"})
    assert naive["attempted_at"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    zoned = mapper.map({"id": "1", "a": "A", "amt": "$1,010.5", "at": "2026-01-02T03:04:05+02:00", "s": "x"})
    assert zoned["attempted_at"] == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert zoned["amount"] == 1010.5


def test_code_table_default_and_unknown_code() -> None:
    spec = FieldMapping(column="plan", map={"INET-1000": "fiber_1g", "MON-BASIC": "monitoring"})
    mapper = RowMapper(Subscription, {"subscription_id": "id", "account_id": "a", "product": spec})
    assert mapper.map({"id": "1", "a": "A", "plan": "inet-1000"})["product"] == "fiber_1g"
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "a": "A", "plan": "TV-HD"})
    assert err.value.field == "product"
    assert "TV-HD" in err.value.reason

    with_default = FieldMapping(column="plan", map={"INET-1000": "fiber_1g"}, default="other")
    mapper = RowMapper(Subscription, {"subscription_id": "id", "account_id": "a", "product": with_default})
    assert mapper.map({"id": "1", "a": "A", "plan": "TV-HD"})["product"] == "other"


def test_date_with_format_and_bad_date_names_the_field() -> None:
    spec = FieldMapping(column="d", format="%d/%m/%Y")
    mapper = RowMapper(Account, {"account_id": "id", "opened_at": spec})
    assert mapper.map({"id": "1", "d": "05/03/2024"})["opened_at"] == dt.date(2024, 3, 5)
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "d": "2024-03-05"})
    assert err.value.field == "opened_at"
    assert "%d/%m/%Y" in err.value.reason


def test_mapping_needs_exactly_one_origin() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FieldMapping(column="a", const="b")
    with pytest.raises(ValueError, match="exactly one"):
        FieldMapping()


def test_constant_and_blank_values() -> None:
    mapper = RowMapper(Account, {"account_id": "id", "country": FieldMapping(const="US"), "email": "e"})
    assert mapper.map({"id": "7", "e": "   "}) == {"account_id": "7", "country": "US"}


@given(st.sampled_from(["Y", "y", "yes", "TRUE", "1", "on", 1, True]))
def test_truthy_values(value: object) -> None:
    mapper = RowMapper(Account, {"account_id": "id", "autopay": "ap"})
    assert mapper.map({"id": "1", "ap": value})["autopay"] is True


@given(st.text(min_size=1).filter(lambda s: s.strip().lower() not in
       {"y", "yes", "true", "t", "1", "on", "enabled", "n", "no", "false", "f", "0", "off", "disabled"}))
def test_anything_else_is_not_a_boolean(value: str) -> None:
    mapper = RowMapper(Account, {"account_id": "id", "autopay": "ap"})
    if not value.strip():
        assert "autopay" not in mapper.map({"id": "1", "ap": value})
        return
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "ap": value})
    assert err.value.field == "autopay"
