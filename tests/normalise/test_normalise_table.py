"""normalise_table: the _n_* columns of the contract, None for unknown, once per distinct value."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import reconcile.normalise._table as table_module
from reconcile.model import PARTY_FIELDS
from reconcile.normalise import NORMALISED_COLUMNS, normalise_table, person_name


def _frame(rows: list[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame([{**dict.fromkeys(PARTY_FIELDS), **row} for row in rows])


def test_adds_every_column_of_the_contract() -> None:
    frame = _frame(
        [
            {"name": "SMITH, ROBERT J", "company": "SMITH AND SONS LLC", "phone": "(206) 384-0143",
             "email": "Bob@Example.com", "street": "123 N MAPLE ST APT 4B", "postal_code": "98101-1234"},
            {"given_name": "Bob", "family_name": "Smith", "company": "Smith & Sons, Inc.",
             "phone": "+1 206 384 0143", "email": "bob@example.com", "street": "123 North Maple Street",
             "unit": "Apartment 4B", "postal_code": "98101"},
        ]
    )
    out = normalise_table(frame, "account")
    assert tuple(out.columns[-len(NORMALISED_COLUMNS):]) == NORMALISED_COLUMNS
    expected = {
        "_n_given": "robert", "_n_family": "smith", "_n_person": "robert smith", "_n_company": "smith and sons",
        "_n_phone": "+12063840143", "_n_email": "bob@example.com", "_n_street": "123 n maple st",
        "_n_unit": "4b", "_n_postal": "98101", "_n_address": "123 n maple st|4b|98101", "_n_vin": None,
    }
    for row in out[list(NORMALISED_COLUMNS)].to_dict("records"):
        assert row == expected


def test_unknown_is_none_never_nan_and_missing_columns_count_as_unknown() -> None:
    frame = pd.DataFrame({"name": ["Ann Lee", None, np.nan], "postal_code": [np.nan, "98101", None]},
                         index=[10, 20, 30])
    out = normalise_table(frame, "contact")
    assert list(out.index) == [10, 20, 30]
    for column in NORMALISED_COLUMNS:
        assert out[column].dtype == object
        assert not any(isinstance(v, float) and math.isnan(v) for v in out[column])
    assert list(out["_n_person"]) == ["ann lee", None, None]
    assert list(out["_n_postal"]) == [None, "98101", None]
    assert list(out["_n_address"]) == [None, None, None]  # no street
    assert list(out["_n_vin"]) == [None, None, None]


def test_the_address_key_needs_a_street_and_a_postal_code() -> None:
    out = normalise_table(_frame([{"street": "9 Elm Ave", "postal_code": "02108"},
                                  {"street": "9 Elm Ave"}, {"postal_code": "02108"}]), "service_line")
    assert list(out["_n_address"]) == ["9 elm ave||02108", None, None]


def test_person_is_the_parts_that_exist() -> None:
    out = normalise_table(_frame([{"name": "Smith"}, {"given_name": "Ann"}, {"name": "Ann Lee"}]), "contact")
    assert list(out["_n_person"]) == ["smith", "ann", "ann lee"]


def test_vins_of_vehicles_and_recall_notices() -> None:
    frame = _frame([{"vin": "1m8gdm9axkp0427 88"}, {"vin": None}])
    frame["vin"] = frame["vin"].astype(object)
    out = normalise_table(frame, "vehicle")
    assert list(out["_n_vin"]) == ["1M8GDM9AXKP042788", None]


def test_a_rows_country_overrides_the_default_region() -> None:
    frame = _frame(
        [
            {"phone": "020 7946 0958", "country": "GB", "postal_code": "sw1a 1aa"},
            {"phone": "(206) 384-0143", "country": "USA", "postal_code": "2108"},
            {"phone": "(206) 384-0143", "postal_code": "98101-0001"},
        ]
    )
    out = normalise_table(frame, "contact", default_region="US")
    assert list(out["_n_phone"]) == ["+442079460958", "+12063840143", "+12063840143"]
    assert list(out["_n_postal"]) == ["SW1A1AA", "02108", "98101"]
    gb = normalise_table(_frame([{"phone": "020 7946 0958"}]), "contact", default_region="gb")
    assert list(gb["_n_phone"]) == ["+442079460958"]


def test_returns_a_copy_and_replaces_stale_normalised_columns() -> None:
    frame = _frame([{"name": "Bob Smith"}])
    frame["_n_given"] = "stale"
    before = frame.copy()
    out = normalise_table(frame, "contact")
    pd.testing.assert_frame_equal(frame, before)
    assert out.loc[0, "_n_given"] == "robert"


def test_an_empty_table_gets_empty_columns() -> None:
    out = normalise_table(pd.DataFrame({"name": pd.Series(dtype=object)}), "account")
    assert out.empty and set(NORMALISED_COLUMNS) <= set(out.columns)


def test_unknown_record_type_is_an_error_naming_the_allowed_ones() -> None:
    with pytest.raises(KeyError, match="allowed: account"):
        normalise_table(_frame([]), "acount")


def test_each_distinct_value_is_normalised_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, ...]] = []

    def counting(*args: object) -> tuple[str | None, str | None]:
        calls.append(args)
        return person_name(*args)

    def counting_alone(name: str | None) -> tuple[str | None, str | None]:  # whole names alone take this way
        calls.append((name,))
        return person_name(name)

    parse_usual = table_module._parse_usual

    def counting_usual(names: pa.Array) -> tuple[pa.Array, pa.Array]:  # the usual ones, as arrays
        given, family = parse_usual(names)
        calls.extend((name,) for name, f in zip(names.to_pylist(), family.to_pylist(), strict=True) if f is not None)
        return given, family

    monkeypatch.setattr(table_module, "person_name", counting)
    monkeypatch.setattr(table_module, "_name_alone", counting_alone)
    monkeypatch.setattr(table_module, "_parse_usual", counting_usual)
    names = ["SMITH, ROBERT", "Bob Smith", None, "Dr. Bob Smith Jr."] * 1000
    out = table_module.normalise_table(_frame([{"name": n} for n in names]), "contact")
    assert sorted(calls, key=str) == sorted([(n,) for n in names[:4]], key=str)  # each once, one way or the other
    assert list(out["_n_person"][:4]) == ["robert smith", "robert smith", None, "robert smith"]


def test_equal_results_are_one_object_and_an_unchanged_vin_or_postal_code_is_the_inputs() -> None:
    # Different whole names give equal given and family names: one object each, not one per name.
    # Distinct str objects are built with join so that no literal interning hides a copy.
    vin = "".join(["1HGCM82633A00435", "2"])
    frame = _frame(
        [
            {"name": "Smith, Robert", "street": "1 Main St", "postal_code": "".join(["981", "01"]), "vin": vin},
            {"name": "ROBERT SMITH", "street": "1 MAIN STREET", "postal_code": "98101-0001", "vin": vin.lower()},
            {"name": "Robert  Smith", "street": "1 Main Street", "postal_code": "98101", "vin": None},
        ]
    )
    out = normalise_table(frame, "vehicle")
    for column in ("_n_given", "_n_family", "_n_person", "_n_street", "_n_postal", "_n_address"):
        values = out[column].tolist()
        assert values[0] == values[1] == values[2] is not None
        assert len({id(v) for v in values}) == 1, column
    assert out["_n_vin"].tolist()[:2] == [vin, vin]
    assert out["_n_vin"].iloc[0] is frame["vin"].iloc[0]  # left as it was: the input's object
    assert out["_n_postal"].iloc[0] is frame["postal_code"].iloc[0]
