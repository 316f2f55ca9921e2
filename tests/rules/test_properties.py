"""Properties of every built-in rule over random small worlds (Hypothesis).

* Findings do not depend on the order of the rows of any table.
* Fingerprints are the same from run to run and distinct within a run.
* A finding's subject is a record of the subject's type that exists, and its
  entity (if any) is one that holds records of that type.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pandas as pd
from conftest import AS_OF, make_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.findings import Finding
from reconcile.rules import RuleContext, build_rules, evaluate_rules

RULES = build_rules(["telecom", "payments", "automotive", "crm"], [])
PRODUCTS = ["fiber_1g", "monitoring"]
NAMES = [("Ann", "Lee"), ("Bob", "Smith"), ("Robert", "Smith"), ("Ann", "Leigh")]
STREETS = [("12 Oak St", "98101"), ("12 Oak Street", "98101"), ("9 Elm Ave", "98102")]
VINS = ["1HGCM82633A004352", "1HGCM82633A0O4352", "1HGCM82633A004353", "5YJ3E1EA7KF317000"]
CAMPAIGNS = ["24V-318", "26V-112"]

settings.register_profile("rules", max_examples=30, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.load_profile("rules")

days = st.integers(min_value=-2, max_value=400)


def _day(n: int) -> dt.date:
    return (AS_OF - dt.timedelta(days=n)).date()


def _moment(n: int, hours: int = 0) -> dt.datetime:
    return AS_OF - dt.timedelta(days=n, hours=hours)


@st.composite
def worlds(draw: st.DrawFn) -> dict[str, list[dict[str, Any]]]:
    """A few customers, each with a random slice of every system."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counter = iter(range(10_000))

    def key(prefix: str) -> str:
        return f"{prefix}{next(counter)}"

    for e in range(draw(st.integers(1, 3))):
        entity = draw(st.sampled_from([f"E-{e}"] * 3 + [None]))
        # Products drawn per customer, so billing and inventory often overlap.
        products = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2, unique=True))
        given, family = draw(st.sampled_from(NAMES))
        street, postal = draw(st.sampled_from(STREETS))
        party = {"given_name": given, "family_name": family, "street": street, "postal_code": postal,
                 "_entity": entity}
        for _ in range(draw(st.integers(0, 2))):
            account = key("AC")
            rows["account"].append({
                **party, "account_id": account, "name": f"{family.upper()}, {given.upper()}",
                "status": draw(st.sampled_from(["active", "active", "closed"])),
                "autopay": draw(st.sampled_from([True, True, False])), "opened_at": _day(draw(days)), "_confidence": draw(st.sampled_from([1.0, 0.9])),
            })
            if draw(st.booleans()):  # a run of failed auto-pay charges, as in story 1
                for _ in range(3):
                    rows["payment"].append({
                        "payment_id": key("P"), "account_id": account, "status": "failed", "autopay": True,
                        "attempted_at": _moment(draw(st.integers(20, 120))), "return_code": "R01",
                    })
            for _ in range(draw(st.integers(0, 5))):
                rows["payment"].append({
                    "payment_id": key("P"), "account_id": account, "attempted_at": _moment(draw(days)),
                    "status": draw(st.sampled_from(["failed", "failed", "succeeded"])),
                    "autopay": draw(st.sampled_from([True, True, False])),
                    "return_code": draw(st.sampled_from([None, "R01"])),
                })
            for _ in range(draw(st.integers(0, 3))):
                rows["invoice"].append({
                    "invoice_id": key("I"), "account_id": account, "due_date": _day(draw(days)),
                    "status": draw(st.sampled_from(["open", "paid"])),
                })
            for _ in range(draw(st.integers(0, 2))):
                rows["subscription"].append({
                    "subscription_id": key("S"), "account_id": account,
                    "product": draw(st.sampled_from(products)), "start_date": _day(draw(days)),
                    "status": draw(st.sampled_from(["active", "active", "closed"])),
                })
        for _ in range(draw(st.integers(0, 3))):
            line_street, line_postal = draw(st.sampled_from(STREETS))
            device = draw(st.sampled_from([None, key("D")]))
            rows["service_line"].append({
                **party, "line_id": key("L"), "name": f"{given} {family}", "street": line_street,
                "postal_code": line_postal, "product": draw(st.sampled_from(products)),
                "status": draw(st.sampled_from(["active", "active", "pending"])),
                "activated_at": _day(draw(days)), "device_id": device,
            })
            if device is not None:
                rows["device_status"].append({
                    "device_id": device, "status": "offline",
                    "last_heartbeat": _moment(draw(st.integers(0, 10)), draw(st.integers(0, 23))),
                })
                for _ in range(draw(st.integers(0, 1))):
                    rows["alert"].append({"alert_id": key("A"), "device_id": device,
                                          "sent_at": _moment(draw(st.integers(0, 12)))})
        if draw(st.booleans()):
            contact = key("K")
            c_given, c_family = draw(st.sampled_from(NAMES))
            rows["contact"].append({**party, "contact_id": contact, "name": f"{c_given} {c_family}"})
            for _ in range(draw(st.integers(0, 1))):
                rows["case"].append({"case_id": key("C"), "contact_id": contact, "opened_at": _moment(draw(days))})
            for _ in range(draw(st.integers(0, 2))):
                rows["survey"].append({
                    "survey_id": key("SR"), "contact_id": contact, "score": draw(st.integers(0, 10)),
                    "scale_max": 10, "responded_at": _moment(draw(days)),
                })
        for _ in range(draw(st.integers(0, 2))):
            vehicle = key("V")
            rows["vehicle"].append({**party, "vehicle_id": vehicle, "vin": draw(st.sampled_from(VINS))})
            if draw(st.booleans()):
                rows["dealer_recall"].append({
                    "dealer_recall_id": key("DR"), "vehicle_id": vehicle,
                    "campaign": draw(st.sampled_from(CAMPAIGNS)),
                    "status": draw(st.sampled_from(["open", "completed", "closed"])),
                })
        for _ in range(draw(st.integers(0, 2))):
            rows["recall_notice"].append({
                **party, "notice_id": key("RN"), "name": f"{given} {family}",
                "vin": draw(st.sampled_from(VINS)), "campaign": draw(st.sampled_from(CAMPAIGNS)),
                "notice_date": _day(draw(days)), "remedy_status": draw(st.sampled_from(["open", "remedied"])),
            })
    return dict(rows)


def _evaluate(tables: dict[str, pd.DataFrame]) -> list[Finding]:
    return evaluate_rules(RULES, RuleContext(as_of=AS_OF, tables=tables))


def _dump(findings: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in findings]


@given(world=worlds(), seed=st.integers(0, 2**32 - 1))
def test_findings_do_not_depend_on_row_order(world: dict[str, list[dict[str, Any]]], seed: int) -> None:
    tables = make_tables(**world)
    shuffled = {
        name: frame.sample(frac=1, random_state=seed).reset_index(drop=True) for name, frame in tables.items()
    }
    assert _dump(_evaluate(tables)) == _dump(_evaluate(shuffled))


@given(world=worlds())
def test_fingerprints_are_stable_and_distinct(world: dict[str, list[dict[str, Any]]]) -> None:
    first = _evaluate(make_tables(**world))
    second = _evaluate(make_tables(**world))
    assert [f.fingerprint for f in first] == [f.fingerprint for f in second]
    prints = [f.fingerprint for f in first]
    assert len(prints) == len(set(prints))
    subjects = [(f.rule_id, f.subject.rid, f.detail_key) for f in first]
    assert len(subjects) == len(set(subjects))


@given(world=worlds())
def test_findings_are_about_existing_subjects_of_their_entity(world: dict[str, list[dict[str, Any]]]) -> None:
    tables = make_tables(**world)
    for finding in _evaluate(tables):
        subject_table = tables[finding.subject.record_type]
        holders = subject_table[subject_table["_rid"] == finding.subject.rid]
        assert len(holders) == 1, finding.subject
        if finding.entity_id is not None:
            assert finding.entity_id in set(subject_table["_entity"].dropna())
            assert holders["_entity"].iloc[0] == finding.entity_id
        assert 0.0 <= finding.confidence <= 1.0
        assert finding.story and "{" not in finding.story
        assert finding.records[0] == finding.subject
        involved = []
        for record in finding.records:
            table = tables[record.record_type]
            value = table.loc[table["_rid"] == record.rid, "_confidence"].iloc[0]
            involved.append(1.0 if value is None or pd.isna(value) else float(value))
        if finding.kind == "unresolved_low_survey":  # also as sure as the findings it is about
            assert finding.confidence <= min(involved)
        else:
            assert finding.confidence == min(involved), finding.kind
        rule = next(r for r in RULES if r.id == finding.rule_id)
        assert set(finding.detail) == set(type(rule).facts), finding.kind  # type: ignore[attr-defined]
