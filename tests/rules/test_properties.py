"""Properties of every shipped rule kind over random small worlds (Hypothesis).

The nine story kinds (from the shipped packs) and the six generic kinds
(configured below) are evaluated together, as in a run.

* Findings do not depend on the order of the rows of any table.
* Findings do not depend on the names given to the sources (systems).
* Fingerprints are the same from run to run, after any reordering of rows,
  and distinct within a run.
* Adding an unrelated customer never changes another customer's findings.
* A finding's subject is a record of the subject's type that exists, and its
  entity (if any) is one that holds records of that type.
* ``billed_not_provisioned`` and ``provisioned_not_billed`` find what
  ``missing_in`` configured as they say finds.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import pandas as pd
from conftest import AS_OF, make_tables
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.findings import Finding, fingerprint
from reconcile.rules import Rule, RuleContext, build_rules, evaluate_rules, validate_rule
from reconcile.rules.builtin import BilledNotProvisionedRule, ProvisionedNotBilledRule

ACTIVE = [{"field": "status", "op": "eq", "value": "active"}]
GENERIC = [
    {"id": "g_missing_line", "kind": "missing_in", "owner": "x",
     "present": {"type": "subscription", "where": ACTIVE, "time_field": "start_date"},
     "absent": {"type": "service_line", "where": ACTIVE, "sources": ["inventory", "inventory2"]},
     "match": ["product"]},
    {"id": "g_missing_contact", "kind": "missing_in", "owner": "x",
     "present": {"type": "account", "where": ACTIVE, "time_field": "opened_at"},
     "absent": {"type": "contact"}},
    {"id": "g_name", "kind": "field_mismatch", "owner": "x", "left": {"type": "account"},
     "right": {"type": "contact"}, "field": "name", "min_similarity": 0.8},
    {"id": "g_opened", "kind": "field_mismatch", "owner": "x", "left": {"type": "account", "where": ACTIVE},
     "right": {"type": "service_line"}, "left_field": "opened_at", "right_field": "activated_at",
     "window": "60 days"},
    {"id": "g_amount", "kind": "field_mismatch", "owner": "x",
     "left": {"type": "invoice", "time_field": "due_date"}, "right": {"type": "payment"},
     "field": "amount", "match": ["account_id"], "relative": 0.1},
    {"id": "g_status", "kind": "status_mismatch", "owner": "x", "left": {"type": "account"},
     "right": {"type": "subscription"}, "match": ["account_id"],
     "agree": {"closed": ["closed"], "active": ["active", "pending"]}},
    {"id": "g_duplicate", "kind": "duplicate", "owner": "x",
     "records": {"type": "service_line", "where": ACTIVE, "time_field": "activated_at"}, "per": ["product"]},
    {"id": "g_balance", "kind": "balance", "owner": "x", "per": "parent", "window": "180 days",
     "left": {"type": "invoice", "time_field": "due_date"},
     "right": {"type": "payment", "where": [{"field": "status", "op": "eq", "value": "succeeded"}],
               "time_field": "attempted_at"}, "amount": "amount", "absolute": 1},
    {"id": "g_balance_entity", "kind": "balance", "owner": "x", "per": "entity", "report": "left_higher",
     "left": {"type": "invoice", "where": [{"field": "status", "op": "eq", "value": "open"}]},
     "right": {"type": "payment", "where": [{"field": "status", "op": "eq", "value": "succeeded"}]},
     "amount": "amount"},
    {"id": "g_stale_device", "kind": "stale", "owner": "x", "older_than": "72 hours", "grace": 0,
     "record": {"type": "device_status", "time_field": "last_heartbeat"},
     "follow_up": {"type": "alert", "time_field": "sent_at"}, "match": ["device_id"]},
    {"id": "g_stale_case", "kind": "stale", "owner": "x", "older_than": "30 days",
     "record": {"type": "case", "time_field": "opened_at"},
     "follow_up": {"type": "survey", "time_field": "responded_at"}},
]
RULES = [*build_rules(["telecom", "payments", "automotive", "crm"], []), *map(validate_rule, GENERIC)]
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
def worlds(draw: st.DrawFn, tag: str = "") -> dict[str, list[dict[str, Any]]]:
    """A few customers, each with a random slice of every system.

    Accounts (with their dependents) and lines come from one of two sources
    each, so records of one type carry different source names. ``tag``
    prefixes every key and entity id, so two worlds with different tags
    share no customer.
    """
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    counter = iter(range(10_000))

    def key(prefix: str) -> str:
        return f"{tag}{prefix}{next(counter)}"

    for e in range(draw(st.integers(1, 3))):
        entity = draw(st.sampled_from([f"{tag}E-{e}"] * 3 + [None]))
        # Products drawn per customer, so billing and inventory often overlap.
        products = draw(st.lists(st.sampled_from(PRODUCTS), min_size=1, max_size=2, unique=True))
        given, family = draw(st.sampled_from(NAMES))
        street, postal = draw(st.sampled_from(STREETS))
        party = {"given_name": given, "family_name": family, "street": street, "postal_code": postal,
                 "_entity": entity}
        for _ in range(draw(st.integers(0, 2))):
            account = key("AC")
            billing = draw(st.sampled_from(["billing", "billing", "billing2"]))
            rows["account"].append({
                **party, "_source": billing, "account_id": account, "name": f"{family.upper()}, {given.upper()}",
                "status": draw(st.sampled_from(["active", "active", "closed"])),
                "autopay": draw(st.sampled_from([True, True, False])), "opened_at": _day(draw(days)), "_confidence": draw(st.sampled_from([1.0, 0.9])),
            })
            if draw(st.booleans()):  # a run of failed auto-pay charges, as in story 1
                for _ in range(3):
                    rows["payment"].append({
                        "_source": billing,
                        "payment_id": key("P"), "account_id": account, "status": "failed", "autopay": True,
                        "attempted_at": _moment(draw(st.integers(20, 120))), "return_code": "R01",
                    })
            for _ in range(draw(st.integers(0, 5))):
                rows["payment"].append({
                    "_source": billing, "amount": draw(st.sampled_from([50.0, 50.0, 53.0, 80.0])),
                    "payment_id": key("P"), "account_id": account, "attempted_at": _moment(draw(days)),
                    "status": draw(st.sampled_from(["failed", "failed", "succeeded"])),
                    "autopay": draw(st.sampled_from([True, True, False])),
                    "return_code": draw(st.sampled_from([None, "R01"])),
                })
            for _ in range(draw(st.integers(0, 3))):
                rows["invoice"].append({
                    "_source": billing, "amount": draw(st.sampled_from([50.0, 50.0, 80.0])),
                    "invoice_id": key("I"), "account_id": account, "due_date": _day(draw(days)),
                    "status": draw(st.sampled_from(["open", "paid"])),
                })
            for _ in range(draw(st.integers(0, 2))):
                rows["subscription"].append({
                    "_source": billing,
                    "subscription_id": key("S"), "account_id": account,
                    "product": draw(st.sampled_from(products)), "start_date": _day(draw(days)),
                    "status": draw(st.sampled_from(["active", "active", "closed"])),
                })
        for _ in range(draw(st.integers(0, 3))):
            line_street, line_postal = draw(st.sampled_from(STREETS))
            device = draw(st.sampled_from([None, key("D")]))
            rows["service_line"].append({
                **party, "_source": draw(st.sampled_from(["inventory", "inventory", "inventory2"])),
                "line_id": key("L"), "name": f"{given} {family}", "street": line_street,
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


def _shuffled(tables: dict[str, pd.DataFrame], seed: int, reset: bool) -> dict[str, pd.DataFrame]:
    out = {}
    for name, frame in tables.items():
        shuffled = frame.sample(frac=1, random_state=seed)
        out[name] = shuffled.reset_index(drop=True) if reset else shuffled
    return out


@given(world=worlds(), seed=st.integers(0, 2**32 - 1), reset=st.booleans())
def test_findings_do_not_depend_on_row_order(
    world: dict[str, list[dict[str, Any]]], seed: int, reset: bool
) -> None:
    tables = make_tables(**world)
    assert _dump(_evaluate(tables)) == _dump(_evaluate(_shuffled(tables, seed, reset)))


@given(world=worlds())
def test_fingerprints_are_stable_and_distinct(world: dict[str, list[dict[str, Any]]]) -> None:
    # Across reorderings: the row-order test compares whole findings, fingerprints included.
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


# ---------------------------------------------------------------- source names

SOURCE_NAMES = ["billing", "billing2", "inventory", "inventory2", "crm", "recalls", "dealer", "telemetry", "alerts"]


def _rename_rid(rid: Any, names: dict[str, str]) -> Any:
    if not isinstance(rid, str) or ":" not in rid:
        return rid
    source, rest = rid.split(":", 1)
    return f"{names.get(source, source)}:{rest}"


def _rename_tables(tables: dict[str, pd.DataFrame], names: dict[str, str]) -> dict[str, pd.DataFrame]:
    out = {}
    for record_type, frame in tables.items():
        frame = frame.copy()
        frame["_source"] = frame["_source"].map(lambda s: names.get(s, s))
        for column in ("_rid", "_parent_rid"):
            frame[column] = frame[column].map(lambda r: _rename_rid(r, names)).astype(object)
        out[record_type] = frame
    return out


def _rename_rule(rule: Rule, names: dict[str, str]) -> Rule:
    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: ([names.get(s, s) for s in v] if k == "sources" and v else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return validate_rule(walk(rule.model_dump()))


def _projection(finding: Finding, names: dict[str, str]) -> tuple[Any, ...]:
    """What a finding says, with source names renamed (stories and facts quote them, so they are left out)."""
    subject = finding.subject.model_copy(update={"source": names.get(finding.subject.source, finding.subject.source)})
    involved = sorted((_rename_rid(r.rid, names), r.role or "", tuple(sorted(r.fields.items(), key=str)))
                      for r in finding.records)
    return (finding.rule_id, finding.kind, subject.rid, finding.detail_key, finding.entity_id, finding.severity,
            finding.owner, finding.confidence, fingerprint(finding.rule_id, subject, finding.detail_key),
            tuple(map(str, involved)))


@given(world=worlds(), order=st.permutations(SOURCE_NAMES))
def test_findings_do_not_depend_on_the_names_of_sources(
    world: dict[str, list[dict[str, Any]]], order: list[str]
) -> None:
    # Sources swap names among themselves, so every sort by name can change.
    names = dict(zip(SOURCE_NAMES, order, strict=True))
    tables = make_tables(**world)
    before = sorted(_projection(f, names) for f in _evaluate(tables))
    renamed = [_rename_rule(r, names) for r in RULES]
    after = evaluate_rules(renamed, RuleContext(as_of=AS_OF, tables=_rename_tables(tables, names)))
    assert sorted(_projection(f, {}) for f in after) == before


# ---------------------------------------------------------------- unrelated customers

@given(world=worlds(tag="a"), other=worlds(tag="b"))
def test_an_unrelated_customer_never_changes_another_customers_findings(
    world: dict[str, list[dict[str, Any]]], other: dict[str, list[dict[str, Any]]]
) -> None:
    alone = make_tables(**world)
    together = make_tables(**{t: [*world.get(t, []), *other.get(t, [])] for t in {*world, *other}})
    mine = {rid for frame in alone.values() for rid in frame["_rid"]}
    expected = _dump(_evaluate(alone))
    got = [f for f in _evaluate(together) if f.subject.rid in mine]
    assert _dump(got) == expected


# ---------------------------------------------------------------- thin configurations

@given(world=worlds())
def test_service_kinds_find_what_their_missing_in_configuration_finds(world: dict[str, list[dict[str, Any]]]) -> None:
    ctx = RuleContext(as_of=AS_OF, tables=make_tables(**world))
    for rule in (
        BilledNotProvisionedRule(id="b", owner="x", product_map={"monitoring": ["monitoring", "fiber_1g"]}),
        ProvisionedNotBilledRule(id="p", owner="x", products=["monitoring"]),
        *(r for r in RULES if isinstance(r, BilledNotProvisionedRule | ProvisionedNotBilledRule)),
    ):
        generic = rule.as_missing_in()
        assert generic.kind == "missing_in"
        # The same subjects; the story kinds also show (and are as sure as) the account or accounts.
        own = [(f.fingerprint, f.entity_id) for f in evaluate_rules([rule], ctx)]
        assert own == [(f.fingerprint, f.entity_id) for f in evaluate_rules([generic], ctx)]
