"""reconcile.testing.strategies: records that validate, valid VINs, variants that normalise alike."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.model import RECORD_TYPES
from reconcile.normalise import vin, vin_is_valid
from reconcile.testing import strategies as rst

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("record_type", sorted(RECORD_TYPES))
@SETTINGS
@given(data=st.data())
def test_every_record_validates_against_its_canonical_model(record_type: str, data: st.DataObject) -> None:
    record = data.draw(rst.records(record_type))
    model = RECORD_TYPES[record_type]
    assert set(record) <= set(model.model_fields), set(record) - set(model.model_fields)
    validated = model.model_validate(record)
    assert validated.key()
    parent = model.parent
    if parent is not None:
        assert record[parent.field]


@SETTINGS
@given(rst.invoices(account_id="AC-1", status=st.just("open")), rst.payments(account_id="AC-1"))
def test_fixed_fields_are_kept(invoice: dict[str, Any], payment: dict[str, Any]) -> None:
    assert invoice["account_id"] == payment["account_id"] == "AC-1"
    assert invoice["status"] == "open"
    assert invoice["due_date"] >= invoice["issued_at"]


def test_fixing_a_field_the_type_lacks_names_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match=r"\['acount_id'\] are not fields of invoice; allowed: invoice_id, account_id"):
        rst.invoices(acount_id="AC-1")
    with pytest.raises(KeyError, match="unknown record type 'invoices'"):
        rst.records("invoices")


@SETTINGS
@given(rst.vins())
def test_vins_are_valid(value: str) -> None:
    assert vin_is_valid(value), value
    assert value[9] in rst.MODEL_YEARS.values()


@SETTINGS
@given(rst.vehicles(), rst.recall_notices())
def test_vehicles_and_notices_carry_valid_vins_and_a_consistent_year(vehicle: dict[str, Any], notice: dict[str, Any]) -> None:
    assert vin_is_valid(vin(vehicle["vin"])) and vin_is_valid(vin(notice["vin"]))
    assert rst.MODEL_YEARS[vehicle["year"]] == vin(vehicle["vin"])[9]


@SETTINGS
@given(rst.accounts(), rst.cases(), rst.invoices(), rst.subscriptions(), rst.service_lines())
def test_dates_are_in_order(
    account: dict[str, Any], case: dict[str, Any], invoice: dict[str, Any],
    subscription: dict[str, Any], line: dict[str, Any],
) -> None:
    assert account["closed_at"] is None or account["closed_at"] > account["opened_at"]
    assert case["closed_at"] is None or case["closed_at"] > case["opened_at"]
    assert invoice["paid_at"] is None or invoice["paid_at"] >= invoice["issued_at"]
    assert subscription["end_date"] is None or subscription["end_date"] > subscription["start_date"]
    assert line["deactivated_at"] is None or line["deactivated_at"] > line["activated_at"]
    assert case["opened_at"].tzinfo is not None and case["opened_at"].utcoffset() == dt.timedelta(0)


def _disagreements(variant: rst.Variant) -> dict[str, tuple[Any, Any]]:
    clean = rst.normalised_keys(variant.identity.clean(variant.record_type), variant.record_type)
    written = rst.normalised_keys(variant.record, variant.record_type)
    return {
        key: (clean[key], written[key])
        for key in clean
        if key not in variant.lost and clean[key] != written[key]
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rst.identity_variants(max_size=6))
def test_variants_normalise_to_the_identity_keys_their_noise_did_not_touch(variants: list[rst.Variant]) -> None:
    for variant in variants:
        RECORD_TYPES[variant.record_type].model_validate(variant.record)
        assert variant.noise <= rst.ALL_NOISE
        differ = _disagreements(variant)
        assert not differ, (variant.system, sorted(variant.noise), variant.record, differ)


@SETTINGS
@given(rst.identity_variants(noise=rst.FORMAT_NOISE, min_size=3))
def test_formatting_noise_loses_nothing(variants: list[rst.Variant]) -> None:
    for variant in variants:
        assert not variant.lost
        assert not (variant.noise & rst.LOSSY_NOISE)
    keys = [rst.normalised_keys(v.record, v.record_type) for v in variants]
    for name in ("given", "family", "email", "phone", "address"):
        assert len({k[name] for k in keys}) == 1, (name, [v.record for v in variants])


@SETTINGS
@given(rst.identity_variants(systems=["dealer", "recalls"], noise=rst.ALL_NOISE, min_size=4))
def test_only_a_vin_typo_loses_the_vin(variants: list[rst.Variant]) -> None:
    for variant in variants:
        # One wrong digit in positions 12-17 always breaks the check digit (weights 7..2, mod 11).
        assert vin_is_valid(vin(variant.record["vin"])) == ("vin" not in variant.lost), variant


@settings(max_examples=40, deadline=None)
@given(rst.identity_variants(noise={"nickname"}, systems=["crm", "inventory"], min_size=6, max_size=6))
def test_nicknames_appear_and_come_from_the_shipped_table(variants: list[rst.Variant]) -> None:
    for variant in variants:
        assert variant.noise <= {"nickname"}
        assert not _disagreements(variant)


def test_keys_are_unique_within_one_identity() -> None:
    @settings(max_examples=30, deadline=None)
    @given(rst.identity_variants(min_size=5, max_size=8))
    def check(variants: list[rst.Variant]) -> None:
        keys = [(v.record_type, v.record[rst._key_field(v.record_type)]) for v in variants]
        assert len(set(keys)) == len(keys), keys

    check()


def test_unknown_systems_and_noise_are_errors_naming_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="unknown system 'erp'; allowed: billing, crm"):
        rst.identity_variant(system="erp")
    with pytest.raises(ValueError, match=r"unknown noise \['typos'\]; allowed: "):
        rst.identity_variant(noise={"typos"})
