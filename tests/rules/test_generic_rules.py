"""The generic kinds, each with its findings and its near misses, as a user writes them in YAML."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from conftest import AS_OF, at, context, days_ago, roles, run, subjects
from pydantic import ValidationError

from reconcile.rules import Rule, validate_rule


def rule(text: str, **extra: Any) -> Rule:
    return validate_rule({"id": "r", "owner": "ops", **yaml.safe_load(text), **extra})


ACCOUNT = {"account_id": "AC-1", "name": "LEE, ANN", "opened_at": days_ago(400)}


def _sub(sid: str, product: str, start: dt.date | None, **extra: Any) -> dict[str, Any]:
    return {"subscription_id": sid, "account_id": "AC-1", "product": product, "start_date": start, **extra}


def _line(lid: str, product: str, **extra: Any) -> dict[str, Any]:
    return {"line_id": lid, "name": "Ann Lee", "product": product, **extra}


# ---------------------------------------------------------------- missing_in

MISSING = """
kind: missing_in
present: {type: subscription, where: [{field: status, value: active}], time_field: start_date}
absent: {type: service_line, where: [{field: status, op: in, value: [active]}]}
match: [product]
"""


def test_missing_in_reports_a_record_without_counterpart_and_shows_the_near_ones() -> None:
    ctx = context(
        account=[ACCOUNT],
        subscription=[_sub("S-1", "fiber_1g", days_ago(90)), _sub("S-2", "monitoring", days_ago(30))],
        service_line=[_line("L-1", "fiber_1g"), _line("L-2", "monitoring", status="pending")],
    )
    (finding,) = run(rule(MISSING), ctx)
    assert finding.kind == "missing_in" and finding.subject.key == "S-2" and finding.entity_id == "E-1"
    assert roles(finding) == {"present": ["S-2"], "near_counterpart": ["L-2"]}
    assert finding.subject.fields == {"subscription_id": "S-2", "status": "active",
                                      "start_date": days_ago(30).isoformat(), "product": "monitoring"}
    assert finding.story == (
        "billing subscription S-2 has no service line with product monitoring and status active for the "
        "same customer (inventory service line L-2 has status pending)."
    )


def test_missing_in_near_misses_another_customers_line_grace_and_as_of() -> None:
    ctx = context(
        account=[ACCOUNT],
        subscription=[
            _sub("S-OTHER", "fiber_1g", days_ago(90)),  # the only line of the product is another customer's
            _sub("S-NEW", "tv", days_ago(0)),  # within the grace period: provisioning follows
            _sub("S-LATER", "tv", days_ago(-5)),  # starts after as_of
            _sub("S-OLD", "tv", None, status="closed"),  # not active
        ],
        service_line=[_line("L-9", "fiber_1g", _entity="E-2")],
    )
    (finding,) = run(rule(MISSING), ctx)
    assert finding.subject.key == "S-OTHER" and finding.detail["counterpart_state"] == "there is none"
    assert run(rule(MISSING, grace="100 days"), ctx) == []
    assert subjects(run(rule(MISSING), context(as_of=AS_OF + dt.timedelta(days=30), **_tables(ctx)))) == [
        "S-LATER", "S-NEW", "S-OTHER"]


def _tables(ctx: Any) -> dict[str, list[dict[str, Any]]]:
    """The rows of a context again, to build it at another as-of time."""
    out = {}
    for name, frame in ctx.tables.items():
        keep = [c for c in frame.columns if not c.startswith("_n_") and c not in ("_rid", "_parent_rid")]
        out[name] = [{k: (None if v is None or v != v else v) for k, v in row.items()}
                     for row in frame[keep].to_dict("records")]
    return out


def test_missing_in_maps_values_and_restricts_sources() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-B", "home_bundle", days_ago(50))],
                  service_line=[_line("L-1", "fiber_1g", _source="inventory_old")])
    assert subjects(run(rule(MISSING), ctx)) == ["S-B"]
    mapped = rule(MISSING, match=[{"left": "product", "right": "product", "map": {"Home_Bundle": ["FIBER_1G"]}}])
    assert run(mapped, ctx) == []
    only_new = rule(MISSING, match=mapped.match, absent={"type": "service_line", "sources": ["inventory"]})  # type: ignore[attr-defined]
    (finding,) = run(only_new, ctx)
    assert "service line with product FIBER_1G for the same customer" in finding.story
    assert finding.detail["absent_systems"] == "inventory"


def test_missing_in_without_match_needs_any_counterpart_of_the_customer() -> None:
    accounts = [ACCOUNT, {**ACCOUNT, "account_id": "AC-2", "_entity": "E-2"},
                {**ACCOUNT, "account_id": "AC-3", "_entity": None}]
    ctx = context(account=accounts, contact=[{"contact_id": "K-1", "name": "Ann Lee"}])
    findings = run(rule("{kind: missing_in, present: {type: account}, absent: {type: contact}}"), ctx)
    assert subjects(findings) == ["AC-2", "AC-3"]
    assert [f.entity_id for f in findings] == ["E-2", None]


def test_missing_in_checks_its_match_fields() -> None:
    with pytest.raises(ValidationError, match=r"match\[0\]: right 'prodcut' is not a field of service_line"):
        rule(MISSING, match=[{"left": "product", "right": "prodcut"}])


# ---------------------------------------------------------------- field_mismatch

def test_field_mismatch_on_numbers_within_an_absolute_or_relative_tolerance() -> None:
    text = """
    kind: field_mismatch
    left: {type: invoice}
    right: {type: payment, where: [{field: status, value: succeeded}]}
    field: amount
    match: [account_id]
    absolute: 1
    """
    ctx = context(
        account=[ACCOUNT, {**ACCOUNT, "account_id": "AC-2"}],
        invoice=[{"invoice_id": "I-1", "account_id": "AC-1", "amount": 100.0, "due_date": days_ago(5)},
                 {"invoice_id": "I-2", "account_id": "AC-2", "amount": 100.0, "due_date": days_ago(5)}],
        payment=[{"payment_id": "P-1", "account_id": "AC-1", "amount": 99.5, "status": "succeeded",
                  "attempted_at": at(days=4)},
                 {"payment_id": "P-2", "account_id": "AC-2", "amount": 96.0, "status": "succeeded",
                  "attempted_at": at(days=4)},
                 {"payment_id": "P-3", "account_id": "AC-2", "amount": 100.0, "status": "failed",
                  "attempted_at": at(days=4)}],
    )
    (finding,) = run(rule(text), ctx)
    assert finding.subject.key == "I-2" and roles(finding) == {"left": ["I-2"], "right": ["P-2"]}
    assert finding.story == (
        "billing invoice I-2 has amount '100', but billing payment P-2 of the same customer has '96' "
        "(differs by 4.00, more than 1.00)."
    )
    assert run(rule(text, relative=0.05), ctx) == []  # 4 is within 5% of 100


def test_field_mismatch_on_dates_within_a_window_compares_days() -> None:
    text = """
    kind: field_mismatch
    left: {type: account}
    right: {type: case}
    left_field: opened_at
    right_field: opened_at
    window: 2 days
    """
    account = {**ACCOUNT, "opened_at": days_ago(10)}
    near = context(account=[account], contact=[{"contact_id": "K-1", "name": "Ann Lee"}],
                   case=[{"case_id": "C-1", "contact_id": "K-1", "opened_at": at(days=8, hours=-5)}])
    assert run(rule(text), near) == []  # a moment late on the second day after is two days by day
    far = context(account=[account], contact=[{"contact_id": "K-1", "name": "Ann Lee"}],
                  case=[{"case_id": "C-1", "contact_id": "K-1", "opened_at": at(days=3)}])
    (finding,) = run(rule(text), far)
    assert finding.detail["difference"] == "7 days apart, more than 2 days"
    assert finding.detail["compared"] == "date"


def test_field_mismatch_on_text_by_similarity_after_folding() -> None:
    text = "{kind: field_mismatch, left: {type: account}, right: {type: contact}, field: name, min_similarity: 0.9}"
    contacts = [{"contact_id": "K-1", "name": "Ann Lee"}]
    for same in ("LEE, ANN", "ann  lée", "Lee Ann."):
        assert run(rule(text), context(account=[{**ACCOUNT, "name": same}], contact=contacts)) == [], same
    (finding,) = run(rule(text), context(account=[{**ACCOUNT, "name": "Anne Leigh"}], contact=contacts))
    assert finding.detail["difference"].startswith("similarity 0.") and "below 0.90" in finding.detail["difference"]
    # A record that agrees with one of the customer's contacts is fine.
    both = [*contacts, {"contact_id": "K-2", "name": "Anne Leigh"}]
    assert run(rule(text), context(account=[{**ACCOUNT, "name": "Anne Leigh"}], contact=both)) == []


def test_field_mismatch_skips_missing_values_missing_counterparts_and_recent_changes() -> None:
    text = """
    kind: field_mismatch
    left: {type: account, time_field: opened_at}
    right: {type: contact}
    field: email
    """
    ctx = context(
        account=[{**ACCOUNT, "email": "ann@example.com"},
                 {**ACCOUNT, "account_id": "AC-2", "email": None},
                 {**ACCOUNT, "account_id": "AC-3", "email": "x@example.com", "_entity": "E-3"},
                 {**ACCOUNT, "account_id": "AC-4", "email": "new@example.com", "opened_at": days_ago(0)}],
        contact=[{"contact_id": "K-1", "name": "Ann Lee", "email": "ann.lee@example.com"}],
    )
    assert subjects(run(rule(text), ctx)) == ["AC-1"]


@pytest.mark.parametrize(("extra", "message"), [
    ({}, "name the field compared"),
    ({"field": "amount"}, "'amount' is not a field of account"),
    ({"field": "email", "absolute": 1}, "absolute and relative apply to numbers; 'email' is compared as text"),
    ({"field": "email", "window": "2 days"}, "window applies to dates and times"),
    ({"left_field": "opened_at", "right_field": "email"}, "cannot compare a date field with a text field"),
])
def test_field_mismatch_says_what_is_wrong_with_its_configuration(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule("{kind: field_mismatch, left: {type: account}, right: {type: contact}}", **extra)


# ---------------------------------------------------------------- status_mismatch

STATUS = """
kind: status_mismatch
left: {type: account, time_field: closed_at}
right: {type: service_line}
agree:
  closed: [closed, disconnected]
  active: [active, pending, disconnected]
"""


def test_status_mismatch_reports_every_counterpart_in_another_state() -> None:
    ctx = context(
        account=[{**ACCOUNT, "status": "Closed", "closed_at": days_ago(30)}],
        service_line=[_line("L-1", "fiber_1g", status="active"), _line("L-2", "tv", status="suspended"),
                      _line("L-3", "monitoring", status="disconnected"), _line("L-4", "voip", status=None)],
    )
    (finding,) = run(rule(STATUS), ctx)
    assert roles(finding) == {"left": ["AC-1"], "right": ["L-1", "L-2"]}
    assert finding.story == (
        "billing account AC-1 has status Closed, but inventory service line L-1 is active; inventory "
        "service line L-2 is suspended for the same customer (expected closed or disconnected)."
    )


def test_status_mismatch_near_misses() -> None:
    lines = [_line("L-1", "fiber_1g", status="active")]
    # An active account with an active line agrees; a state the table does not list is not judged.
    assert run(rule(STATUS), context(account=[{**ACCOUNT, "status": "active"}], service_line=lines)) == []
    assert run(rule(STATUS), context(account=[{**ACCOUNT, "status": "suspended"}], service_line=lines)) == []
    # Closed yesterday: the inventory may not have the disconnection yet.
    recent = context(account=[{**ACCOUNT, "status": "closed", "closed_at": days_ago(1)}], service_line=lines)
    assert run(rule(STATUS), recent) == []
    assert subjects(run(rule(STATUS, grace=0), recent)) == ["AC-1"]


def test_status_mismatch_between_an_account_and_its_own_subscriptions() -> None:
    text = """
    kind: status_mismatch
    left: {type: account}
    right: {type: subscription}
    match: [account_id]
    agree: {closed: [closed, cancelled]}
    """
    ctx = context(account=[{**ACCOUNT, "status": "closed"}, {**ACCOUNT, "account_id": "AC-2"}],
                  subscription=[_sub("S-1", "tv", None, status="cancelled"),
                                _sub("S-2", "tv", None, account_id="AC-2")])
    assert run(rule(text), ctx) == []  # AC-2's active subscription is not AC-1's
    assert run(rule(text, match=[{"left": "_rid", "right": "_parent_rid"}]), ctx) == []  # the same, by rid
    assert subjects(run(rule(text, match=[]), ctx)) == ["AC-1"]


# ---------------------------------------------------------------- duplicate

DUPLICATE = """
kind: duplicate
records: {type: service_line, where: [{field: status, value: active}], time_field: activated_at}
per: [product]
"""


def test_duplicate_reports_the_group_on_its_oldest_record() -> None:
    ctx = context(service_line=[
        _line("L-2", "fiber_1g", activated_at=days_ago(30)), _line("L-1", "FIBER_1G", activated_at=days_ago(300)),
        _line("L-3", "monitoring", activated_at=days_ago(30)), _line("L-4", "fiber_1g", status="pending"),
    ])
    (finding,) = run(rule(DUPLICATE), ctx)
    assert finding.subject.key == "L-1" and finding.detail_key == "fiber_1g"
    assert roles(finding) == {"duplicate": ["L-1", "L-2"]}
    assert finding.story == (
        "The customer has 2 service lines with status active of the same product (FIBER_1G) where at most "
        f"1 should be: inventory L-1 since {days_ago(300)}, inventory L-2 since {days_ago(30)}."
    )
    assert run(rule(DUPLICATE, max_count=2), ctx) == []
    assert subjects(run(rule(DUPLICATE, per=[]), ctx)) == ["L-1"]  # three active lines of any product


def test_duplicate_near_misses_recent_records_other_customers_and_missing_values() -> None:
    ctx = context(service_line=[
        _line("L-1", "fiber_1g", activated_at=days_ago(300)), _line("L-2", "fiber_1g", activated_at=days_ago(1)),
        _line("L-3", "tv", activated_at=days_ago(300)), _line("L-4", "tv", activated_at=days_ago(30), _entity="E-2"),
    ])
    assert run(rule(DUPLICATE), ctx) == []
    assert subjects(run(rule(DUPLICATE, grace=0), ctx)) == ["L-1"]


def test_duplicate_keeps_its_fingerprint_while_the_group_grows() -> None:
    lines = [_line("L-1", "tv", activated_at=days_ago(300)), _line("L-2", "tv", activated_at=days_ago(30))]
    (before,) = run(rule(DUPLICATE), context(service_line=lines))
    (after,) = run(rule(DUPLICATE), context(service_line=[*lines, _line("L-0", "tv", activated_at=days_ago(20))]))
    assert before.fingerprint == after.fingerprint and after.detail["count"] == 3


# ---------------------------------------------------------------- balance

BALANCE = """
kind: balance
left: {type: invoice, time_field: due_date}
right: {type: payment, where: [{field: status, value: succeeded}], time_field: attempted_at}
amount: amount
per: parent
window: 90 days
"""


def _invoice(iid: str, amount: float, due: dt.date, account: str = "AC-1") -> dict[str, Any]:
    return {"invoice_id": iid, "account_id": account, "amount": amount, "due_date": due}


def _paid(pid: str, amount: float, when: dt.datetime, account: str = "AC-1", status: str = "succeeded") -> dict[str, Any]:
    return {"payment_id": pid, "account_id": account, "amount": amount, "attempted_at": when, "status": status}


def test_balance_reports_a_parent_whose_sums_differ_in_the_window() -> None:
    ctx = context(
        account=[ACCOUNT, {**ACCOUNT, "account_id": "AC-2"}],
        invoice=[_invoice("I-1", 50, days_ago(60)), _invoice("I-2", 50, days_ago(30)),
                 _invoice("I-OLD", 50, days_ago(200)), _invoice("I-9", 70, days_ago(30), "AC-2")],
        payment=[_paid("P-1", 50, at(days=59)), _paid("P-2", 50, at(days=29), status="failed"),
                 _paid("P-9", 70, at(days=29), "AC-2")],
    )
    (finding,) = run(rule(BALANCE), ctx)
    assert finding.subject.key == "AC-1" and finding.subject.record_type == "account"
    assert roles(finding) == {"anchor": ["AC-1"], "left": ["I-1", "I-2"], "right": ["P-1"]}
    assert finding.story == (
        f"For account AC-1, 2 invoices totalling 100.00 in the 90 days before {days_ago(1)} do not balance "
        "1 payment totalling 50.00: the invoices exceed the payments by 50.00 (tolerance 0.01)."
    )
    assert finding.detail["difference"] == 50.0
    assert run(rule(BALANCE, absolute=50), ctx) == []
    assert run(rule(BALANCE, relative=0.5), ctx) == []
    assert run(rule(BALANCE, report="right_higher"), ctx) == []


def test_balance_leaves_out_what_is_within_the_grace_period_or_before_the_window() -> None:
    ctx = context(account=[ACCOUNT], invoice=[_invoice("I-1", 50, days_ago(1)), _invoice("I-0", 50, days_ago(120))],
                  payment=[])
    assert run(rule(BALANCE), ctx) == []
    assert subjects(run(rule(BALANCE, window="200 days"), ctx)) == ["AC-1"]
    assert subjects(run(rule(BALANCE, grace=0), ctx)) == ["AC-1"]


def test_balance_per_customer_sums_every_account_and_names_the_anchor() -> None:
    text = """
    kind: balance
    left: {type: invoice}
    right: {type: payment}
    amount: amount
    per: entity
    """
    ctx = context(account=[ACCOUNT, {**ACCOUNT, "account_id": "AC-0"}],
                  invoice=[_invoice("I-1", 80, days_ago(30))], payment=[_paid("P-0", 60, at(days=20), "AC-0")])
    (finding,) = run(rule(text), ctx)
    assert finding.subject.key == "AC-0" and roles(finding) == {"anchor": ["AC-0"], "left": ["I-1"], "right": ["P-0"]}
    (by_contact,) = run(rule(text, anchor="contact"),
                        context(account=[ACCOUNT], contact=[{"contact_id": "K-1", "name": "Ann Lee"}],
                                invoice=[_invoice("I-1", 80, days_ago(30))], payment=[]))
    assert by_contact.subject.rid == "crm:contact:K-1"


@pytest.mark.parametrize(("extra", "message"), [
    ({"amount": None}, "name the amounts"),
    ({"amount": "status"}, "'status' is not a field of invoice|'status' of invoice is not a number"),
    ({"right": {"type": "survey", "time_field": "responded_at"}, "right_amount": "score"},
     "per: parent needs both sides"),
    ({"left": {"type": "invoice"}}, "a window needs left.time_field"),
])
def test_balance_says_what_is_wrong_with_its_configuration(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(BALANCE, **extra)


# ---------------------------------------------------------------- stale

STALE = """
kind: stale
record: {type: device_status, time_field: last_heartbeat}
older_than: 72 hours
follow_up: {type: alert, time_field: sent_at}
match: [device_id]
grace: 0
"""


def _device(device: str, hours_ago: float | None) -> dict[str, Any]:
    return {"device_id": device, "status": "offline",
            "last_heartbeat": None if hours_ago is None else at(hours=hours_ago)}


def test_stale_reports_an_old_time_nothing_followed() -> None:
    lines = [_line(f"L-{n}", "monitoring", device_id=f"HUB-{n}") for n in range(1, 6)]
    ctx = context(
        service_line=lines,
        device_status=[_device("HUB-1", 100), _device("HUB-2", 100), _device("HUB-3", 50), _device("HUB-4", None)],
        alert=[{"alert_id": "A-1", "device_id": "HUB-1", "sent_at": at(hours=200)},
               {"alert_id": "A-2", "device_id": "HUB-2", "sent_at": at(hours=90)},
               {"alert_id": "A-3", "device_id": "HUB-1", "sent_at": at(hours=-2)}],  # after as_of: not yet
    )
    (finding,) = run(rule(STALE), ctx)
    assert finding.subject.key == "HUB-1" and roles(finding) == {"record": ["HUB-1"], "earlier_follow_up": ["A-1"]}
    assert finding.detail["age"] == "4 days" and finding.detail["age_hours"] == 100
    assert finding.story == (
        f"telemetry device status HUB-1 has last heartbeat {at(hours=100):%Y-%m-%d %H:%M} UTC, 4 days ago and "
        f"more than 3 days, and no alert followed it (the last one was on {at(hours=200):%Y-%m-%d %H:%M} UTC)."
    )
    assert subjects(run(rule(STALE, grace="2 days"), ctx)) == []  # 100 hours < 72 hours + 2 days
    assert subjects(run(rule(STALE, older_than="48 hours"), ctx)) == ["HUB-1", "HUB-3"]


def test_stale_without_follow_up_or_without_follow_up_times() -> None:
    ctx = context(service_line=[_line("L-1", "monitoring", device_id="HUB-1")],
                  device_status=[_device("HUB-1", 100)],
                  alert=[{"alert_id": "A-1", "device_id": "HUB-1", "sent_at": at(hours=200)}])
    bare = rule("{kind: stale, record: {type: device_status, time_field: last_heartbeat}, older_than: 3 days}")
    (finding,) = run(bare, ctx)
    assert finding.detail["follow_up_text"] == "" and finding.story.endswith("more than 3 days.")
    any_alert = rule(STALE, follow_up={"type": "alert"})
    assert run(any_alert, ctx) == []


@pytest.mark.parametrize(("extra", "message"), [
    ({"record": {"type": "device_status"}}, "record.time_field is required"),
    ({"follow_up": None}, "match needs a follow_up"),
    ({"older_than": 0}, "older_than must be a positive duration"),
])
def test_stale_says_what_is_wrong_with_its_configuration(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rule(STALE, **extra)


# ---------------------------------------------------------------- all of them

@pytest.mark.parametrize("kind", ["missing_in", "field_mismatch", "status_mismatch", "duplicate", "balance", "stale"])
def test_a_description_may_only_use_the_facts_of_the_kind(kind: str) -> None:
    from reconcile.rules.registry import rule_classes

    cls = rule_classes()[kind]
    assert cls.example is not None
    config = cls.example.config(kind)
    with pytest.raises(ValidationError, match=r"\{colour\}, which .* does not provide"):
        validate_rule({**config, "description": "{colour}"})
    fact = next(iter(cls.facts))
    described = validate_rule({**config, "description": f"{{rule_id}} / {{{fact}}}"})
    (finding, *_) = run(described, cls.example.context())
    assert finding.story.startswith(f"{config['id']} / ")
