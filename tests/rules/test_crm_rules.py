"""name_mismatch and unresolved_low_survey (stories 3 and 2)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import HAVE_NORMALISER, at, context, roles, run, subjects

from reconcile.findings import Finding, RecordRef
from reconcile.rules.builtin import NameMismatchRule, UnresolvedLowSurveyRule

NAMES = NameMismatchRule(id="name_mismatch", owner="account-management")


def _person(given: str | None, family: str | None, **extra: Any) -> dict[str, Any]:
    """Normalised name columns as the normalise stage writes them."""
    return {"_n_given": given, "_n_family": family, "_n_company": None, **extra}


def _pair(account: dict[str, Any], contact: dict[str, Any]) -> dict[str, Any]:
    return {
        "account": [{"account_id": "AC-1", **account}],
        "contact": [{"contact_id": "K1", **contact}],
    }


def test_misspelt_family_name_is_a_finding() -> None:
    ctx = context(**_pair(
        {"name": "SMYTH, ROBERT J", **_person("robert", "smyth")},
        {"name": "Bob Smith", **_person("robert", "smith")},
    ))
    (finding,) = run(NAMES, ctx)
    assert finding.subject.key == "AC-1" and finding.subject.record_type == "account"
    assert roles(finding) == {"producing_record": ["AC-1"], "crm_contact": ["K1"]}
    assert finding.detail["differs"] == "family name 'smyth' differs from 'smith'"
    assert finding.story == (
        "billing account AC-1 is in the name 'SMYTH, ROBERT J', but the customer gave the CRM 'Bob Smith' "
        "(contact K1): the family name 'smyth' differs from 'smith'; correct the name in billing before "
        "anything else is printed with it."
    )


@pytest.mark.parametrize(
    ("account", "contact"),
    [
        pytest.param(_person("robert", "smith", name="SMITH, ROBERT J"),
                     _person("robert", "smith", name="Bob Smith"), id="nickname"),
        pytest.param(_person("jose", "garcia", name="GARCIA, JOSE"),
                     _person("jose", "garcia", name="José García"), id="accents"),
        pytest.param(_person("ann", "lee", name="LEE, ANN M"),
                     _person("ann", "lee", name="Dr. Ann Lee Jr."), id="title-and-initial"),
        pytest.param(_person(None, "lee", name="LEE"), _person("ann", "lee", name="Ann Lee"),
                     id="given-name-on-one-side-only"),
    ],
)
def test_formatting_differences_are_not_a_finding(account: dict[str, Any], contact: dict[str, Any]) -> None:
    assert run(NAMES, context(**_pair(account, contact))) == []


def test_company_names_are_compared_when_both_have_one() -> None:
    same = _pair(
        {"name": "DOE, JANE", "company": "SMITH & SONS LLC", **_person("jane", "doe", _n_company="smith and sons")},
        {"name": "Jane Doe", "company": "Smith and Sons, Inc.", **_person("jane", "doe", _n_company="smith and sons")},
    )
    assert run(NAMES, context(**same)) == []
    misspelt = _pair(
        {"name": "DOE, JANE", "company": "SMIHT & SONS LLC", **_person("jane", "doe", _n_company="smiht and sons")},
        {"name": "Jane Doe", "company": "Smith and Sons, Inc.", **_person("jane", "doe", _n_company="smith and sons")},
    )
    (finding,) = run(NAMES, context(**misspelt))
    assert finding.detail["compared"] == "company"
    assert finding.detail["name"] == "SMIHT & SONS LLC"


def test_the_account_is_reported_only_if_it_agrees_with_no_contact() -> None:
    world = _pair({"name": "LEE, ANN", **_person("ann", "lee")}, {"name": "Anne Leigh", **_person("anne", "leigh")})
    world["contact"].append({"contact_id": "K2", "name": "Ann Lee", **_person("ann", "lee")})
    assert run(NAMES, context(**world)) == []
    world["contact"][1]["_entity"] = "E-2"  # the matching contact is another customer
    assert subjects(run(NAMES, context(**world))) == ["AC-1"]


def test_other_record_types_can_be_checked() -> None:
    world = {
        "contact": [{"contact_id": "K1", "name": "Ann Lee", **_person("ann", "lee")}],
        "vehicle": [{"vehicle_id": "V-1", "vin": "X", "given_name": "Anne", "family_name": "Lea",
                     **_person("anne", "lea")}],
    }
    assert run(NAMES, context(**world)) == []
    vehicles = NAMES.model_copy(update={"record_types": ["vehicle"]})
    (finding,) = run(vehicles, context(**world))
    assert finding.subject.record_type == "vehicle" and finding.detail["name"] == "Anne Lea"


@pytest.mark.skipif(not HAVE_NORMALISER, reason="reconcile.normalise not available yet")
@pytest.mark.parametrize(
    ("billing", "crm", "found"),
    [
        ("SMITH, ROBERT J", "Dr. Bob Smith Jr.", False),
        ("GARCIA, JOSE", "José García", False),
        ("SMYTH, ROBERT", "Robert Smith", True),
    ],
)
def test_with_the_real_normaliser(billing: str, crm: str, found: bool) -> None:
    ctx = context(account=[{"account_id": "AC-1", "name": billing}], contact=[{"contact_id": "K1", "name": crm}])
    assert bool(run(NAMES, ctx)) is found


@pytest.mark.skipif(not HAVE_NORMALISER, reason="reconcile.normalise not available yet")
@pytest.mark.parametrize(
    ("billing", "crm", "found"),
    [
        ("SMITH & SONS LLC", "Smith and Sons, Inc.", False),
        ("WHITEWATER FLORIST LLC", "Whitewater Florist L.L.C.", False),
        ("SMIHT & SONS LLC", "Smith and Sons, Inc.", True),
    ],
)
def test_companies_with_the_real_normaliser(billing: str, crm: str, found: bool) -> None:
    ctx = context(account=[{"account_id": "AC-1", "name": "DOE, JANE", "company": billing}],
                  contact=[{"contact_id": "K1", "name": "Jane Doe", "company": crm}])
    assert bool(run(NAMES, ctx)) is found


# ---------------------------------------------------------------- unresolved_low_survey

SURVEYS = UnresolvedLowSurveyRule(id="unresolved_low_survey", owner="customer-experience")


def _other_finding(entity: str = "E-1", kind: str = "recall_missing_locally") -> Finding:
    return Finding(
        rule_id=kind, kind=kind, severity="high", owner="service", entity_id=entity,
        subject=RecordRef(source="recalls", record_type="recall_notice", key="RN-1"),
        story="...", confidence=0.9,
    )


def _survey(score: float, days: float, scale: float = 10) -> dict[str, Any]:
    return {
        "contact": [{"contact_id": "K1", "name": "Ann Lee"}],
        "survey": [{"survey_id": "SR-1", "contact_id": "K1", "score": score, "scale_max": scale,
                    "responded_at": at(days=days)}],
    }


def test_low_score_from_a_customer_with_another_finding() -> None:
    (finding,) = run(SURVEYS, context(findings=[_other_finding()], **_survey(2, 30)))
    assert finding.subject.key == "SR-1"
    assert roles(finding) == {"survey": ["SR-1"], "contact": ["K1"], "recall_missing_locally_subject": ["RN-1"]}
    assert finding.confidence == 0.9
    assert finding.story == (
        f"The customer scored 2/10 on {at(days=30).date()} (survey SR-1) and has an unresolved "
        "recall_missing_locally finding on recalls recall notice RN-1 (owner service): call them about "
        "that problem, not only about the score."
    )


def test_survey_near_misses() -> None:
    assert run(SURVEYS, context(**_survey(2, 30))) == []  # no other finding
    assert run(SURVEYS, context(findings=[_other_finding()], **_survey(9, 30))) == []  # high score
    assert run(SURVEYS, context(findings=[_other_finding()], **_survey(2, 200))) == []  # answered long ago
    assert run(SURVEYS, context(findings=[_other_finding("E-2")], **_survey(2, 30))) == []  # another customer
    same_kind = _other_finding(kind="unresolved_low_survey")
    assert run(SURVEYS, context(findings=[same_kind], **_survey(2, 30))) == []


def test_the_score_is_read_against_its_scale() -> None:
    assert subjects(run(SURVEYS, context(findings=[_other_finding()], **_survey(2, 30, scale=5)))) == ["SR-1"]
    assert run(SURVEYS, context(findings=[_other_finding()], **_survey(3, 30, scale=5))) == []


@pytest.mark.skipif(not HAVE_NORMALISER, reason="needs reconcile.normalise")
def test_tables_without_normalised_names_give_the_findings_of_normalised_ones() -> None:
    """The rule computes the _n_* names where a table lacks them (a raw table handed to the rule)."""
    import dataclasses

    ctx = context(
        account=[
            {"account_id": "AC-1", "name": "SMYTH, ROBERT J", "_entity": "E-1"},
            {"account_id": "AC-2", "name": "ACME Ltd", "company": "ACME Ltd", "_entity": "E-2"},
            {"account_id": "AC-3", "name": "Ann Lee", "_entity": "E-3"},
        ],
        contact=[
            {"contact_id": "K1", "name": "Bob Smith", "given_name": "Bob", "family_name": "Smith", "_entity": "E-1"},
            {"contact_id": "K2", "name": "Globex", "company": "Globex Inc", "_entity": "E-2"},
            {"contact_id": "K3", "name": "Ann Lee", "given_name": "Ann", "family_name": "Lee", "_entity": "E-3"},
        ],
    )
    normalised = run(NAMES, ctx)
    assert sorted(subjects(normalised)) == ["AC-1", "AC-2"]
    raw = {t: f.drop(columns=[c for c in f.columns if c.startswith("_n_")]) for t, f in ctx.tables.items()}
    again = run(NAMES, dataclasses.replace(ctx, tables=raw))
    assert [f.model_dump() for f in again] == [f.model_dump() for f in normalised]
