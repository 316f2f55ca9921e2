"""MatchingConfig: defaults, merging over them, and errors that name the field."""

from __future__ import annotations

import pytest
import yaml
from pydantic import ValidationError

from reconcile.config import parse_config
from reconcile.errors import ConfigError
from reconcile.match import (
    AddressComparison,
    BlockPass,
    EditDistanceComparison,
    MatchingConfig,
    SortedNeighbourhoodPass,
    StringComparison,
)

CONTACTS = {
    "kind": "csv",
    "streams": {"contact": {"path": "contacts.csv", "fields": {"contact_id": "id", "name": "name"}}},
}


def test_defaults_cover_customers_accounts_lines_and_vehicles() -> None:
    config = MatchingConfig()
    assert list(config.deterministic) == ["email", "phone_family", "company_phone", "vin", "person_address"]
    assert config.deterministic["phone_family"].columns == ["_n_phone", "_n_family"]
    assert config.deterministic["phone_family"].unless_disagree == ["given_name"]
    assert isinstance(config.comparisons["given_name"], StringComparison)
    assert config.comparisons["given_name"].thresholds == [0.92, 0.85]
    assert config.comparisons["family_name"].term_frequency is True
    assert isinstance(config.comparisons["vin"], EditDistanceComparison)
    assert isinstance(config.comparisons["address"], AddressComparison)
    assert all(isinstance(p, BlockPass) for p in config.blocking.values())
    assert {"phone", "email", "vin", "family_postal", "street_postal"} <= set(config.blocking)
    assert config.threshold == 0.9
    assert config.veto == [] and config.clustering.constraints == []
    assert "_n_family" in config.columns() and "birth_date" in config.columns()


def test_entries_merge_over_the_defaults_field_by_field() -> None:
    config = MatchingConfig.model_validate(
        {
            "deterministic": {"vin": {"enabled": False}, "account_no": {"columns": ["account_no"]}},
            "comparisons": {"given_name": {"thresholds": [0.95]}, "phone": {"kind": "exact", "column": "_n_phone"}},
            "blocking": {"names": {"kind": "sorted_neighbourhood", "on": ["_n_person"], "window": 5},
                         "family_postal": {"max_block_size": 50}},
        }
    )
    assert config.deterministic["vin"].enabled is False
    assert config.deterministic["vin"].columns == ["_n_vin"]  # kept from the default
    assert "vin" not in config.active_rules() and "account_no" in config.active_rules()
    given = config.comparisons["given_name"]
    assert isinstance(given, StringComparison)
    assert given.thresholds == [0.95] and given.column == "_n_given" and given.term_frequency
    assert config.comparisons["phone"].kind == "exact"  # another kind replaces the default whole
    assert isinstance(config.blocking["names"], SortedNeighbourhoodPass)
    family = config.blocking["family_postal"]
    assert isinstance(family, BlockPass) and family.max_block_size == 50 and len(family.on) == 2
    assert family.on[0].transform == "soundex"
    assert "account_no" in config.columns()


def test_without_inheriting_defaults_only_the_given_entries_count() -> None:
    config = MatchingConfig(
        inherit_defaults=False,
        comparisons={"ssn": {"kind": "exact", "column": "ssn"}},
        blocking={"ssn": {"on": ["ssn"]}},
    )
    assert list(config.comparisons) == ["ssn"] and list(config.blocking) == ["ssn"]
    assert config.deterministic == {}
    assert config.columns() == {"ssn"}


@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"comparisons": {"given_name": {"thresold": [0.9]}}}, "thresold"),
        ({"comparisons": {"given_name": {"thresholds": [0.8, 0.9]}}}, "strictly decreasing"),
        ({"comparisons": {"given_name": {"thresholds": [1.5]}}}, "between 0 and 1"),
        ({"comparisons": {"vin": {"max_distances": [2, 1]}}}, "strictly increasing"),
        ({"comparisons": {"x": {"kind": "fuzzy", "column": "x"}}}, "fuzzy"),
        ({"blocking": {"p": {"on": [{"column": "_n_vin", "transform": "prefix"}]}}}, "needs a length"),
        ({"blocking": {"p": {"on": [{"column": "_n_vin", "length": 3}]}}}, "prefix and suffix"),
        ({"blocking": {"p": {"kind": "sorted_neighbourhood", "on": ["_n_person"], "window": 4}}}, "odd"),
        ({"deterministic": {"email": {"unless_disagree": ["given"]}}}, "not enabled comparisons"),
        ({"veto": ["nickname"]}, "not enabled comparisons"),
        ({"threshold": 1.0}, "threshold"),
        ({"clustering": {"constraints": [{"source": "crm", "max_records": 0}]}}, "max_records"),
        ({"estimation": {"randm_pairs": 5}}, "randm_pairs"),
    ],
)
def test_mistakes_are_errors_that_name_the_field(data: dict, where: str) -> None:
    with pytest.raises(ValidationError, match=where):
        MatchingConfig.model_validate(data)


def test_disabling_a_comparison_a_rule_depends_on_is_an_error() -> None:
    with pytest.raises(ValidationError, match=r"deterministic.email.unless_disagree"):
        MatchingConfig(comparisons={"given_name": {"enabled": False}})
    config = MatchingConfig(
        comparisons={"given_name": {"enabled": False}},
        deterministic={"email": {"unless_disagree": []}, "phone_family": {"unless_disagree": []}},
    )
    assert "given_name" not in config.active_comparisons()


def test_the_matching_section_of_reconcile_yaml(tmp_path) -> None:
    text = """
sources:
  crm: {kind: csv, streams: {contact: {path: contacts.csv, fields: {contact_id: id, name: name}}}}
matching:
  threshold: 0.95
  veto: [given_name]
  deterministic:
    vin: {enabled: false}
  clustering:
    constraints: [{source: dealer, record_type: vehicle, max_records: 3}]
"""
    config = parse_config(yaml.safe_load(text), origin="reconcile.yaml", base_dir=tmp_path)
    assert config.matching.threshold == 0.95
    assert config.matching.veto == ["given_name"]
    assert not config.matching.deterministic["vin"].enabled
    assert config.matching.clustering.constraints[0].max_records == 3
    # The digest sees matching settings.
    other = parse_config({**yaml.safe_load(text), "matching": {"threshold": 0.8}}, base_dir=tmp_path)
    assert config.digest() != other.digest()
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"crm": CONTACTS}, "matching": {"treshold": 0.8}}, origin="reconcile.yaml")
    assert any("matching.treshold" in loc for loc, _ in err.value.problems)
