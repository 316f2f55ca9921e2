"""Billed vs provisioned, duplicate lines after a move, and monitoring gaps (stories 4 and 5)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from conftest import AS_OF, at, context, days_ago, roles, run, subjects

from reconcile.rules.builtin import (
    BilledNotProvisionedRule,
    DuplicateActiveLineRule,
    MonitoringGapRule,
    ProvisionedNotBilledRule,
)

BILLED = BilledNotProvisionedRule(id="billed_not_provisioned", owner="provisioning")
PROVISIONED = ProvisionedNotBilledRule(id="provisioned_not_billed", owner="billing", severity="high")
DUPLICATE = DuplicateActiveLineRule(id="duplicate_active_line", owner="provisioning")
GAP = MonitoringGapRule(id="monitoring_gap", owner="service", severity="critical")

ACCOUNT = {"account_id": "AC-1", "name": "LEE, ANN", "opened_at": days_ago(500),
           "street": "12 Oak St", "postal_code": "98101"}


def _sub(sid: str, product: str, start: dt.date, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {"subscription_id": sid, "account_id": "AC-1", "product": product, "status": status,
            "start_date": start, "monthly_amount": 59.99, **extra}


def _line(lid: str, product: str, activated: dt.date | None, status: str = "active", **extra: Any) -> dict[str, Any]:
    return {"line_id": lid, "name": "Ann Lee", "product": product, "status": status,
            "activated_at": activated, "street": "12 Oak Street", "postal_code": "98101", **extra}


# ---------------------------------------------------------------- billed_not_provisioned

def test_billed_subscription_without_an_active_line_is_a_finding() -> None:
    ctx = context(
        account=[ACCOUNT],
        subscription=[_sub("S-FIBER", "fiber_1g", days_ago(300)), _sub("S-MON", "monitoring", days_ago(90))],
        service_line=[_line("L-FIBER", "fiber_1g", days_ago(299)), _line("L-MON", "monitoring", None, "pending")],
    )
    (finding,) = run(BILLED, ctx)
    assert finding.subject.key == "S-MON" and finding.subject.record_type == "subscription"
    assert roles(finding) == {"subscription": ["S-MON"], "account": ["AC-1"], "inactive_line": ["L-MON"]}
    assert finding.detail["line_state"] == "line L-MON is pending"
    assert finding.story == (
        f"Subscription S-MON (monitoring) on account AC-1 has been billed since {days_ago(90)} "
        "(59.99 a month), but the customer has no active monitoring line (line L-MON is pending): "
        "provision the service or stop billing it."
    )


def test_subscription_started_within_the_grace_period_is_not_a_finding() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-NEW", "fiber_300", days_ago(0))],
                  service_line=[_line("L-NEW", "fiber_300", None, "pending")])
    assert run(BILLED, ctx) == []
    longer = BILLED.model_copy(update={"grace": dt.timedelta(days=10)})
    late = context(account=[ACCOUNT], subscription=[_sub("S-NEW", "fiber_300", days_ago(5))])
    assert run(longer, late) == []
    assert subjects(run(BILLED, late)) == ["S-NEW"]


def test_a_line_of_the_product_at_another_customer_does_not_count() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-1", "fiber_1g", days_ago(50))],
                  service_line=[_line("L-X", "fiber_1g", days_ago(50), _entity="E-2")])
    (finding,) = run(BILLED, ctx)
    assert finding.detail["line_state"] == "no line was ever provisioned"


def test_product_map_lets_a_bundle_be_provided_by_other_products() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-B", "home_bundle", days_ago(50))],
                  service_line=[_line("L-1", "fiber_1g", days_ago(50))])
    assert subjects(run(BILLED, ctx)) == ["S-B"]
    mapped = BILLED.model_copy(update={"product_map": {"home_bundle": ["fiber_1g", "fiber_300"]}})
    assert run(mapped, ctx) == []


def test_subscription_whose_account_matched_no_entity_keeps_its_account() -> None:
    # The lone account is its own entity, with its subscriptions; E-1's line is not its line.
    account = {**ACCOUNT, "_entity": None}
    ctx = context(account=[account], subscription=[_sub("S-1", "fiber_1g", days_ago(50))],
                  service_line=[_line("L-1", "fiber_1g", days_ago(50))])
    (finding,) = run(BILLED, ctx)
    assert finding.entity_id is None
    assert roles(finding)["account"] == ["AC-1"]


# ---------------------------------------------------------------- provisioned_not_billed

def test_active_line_without_an_active_subscription_is_a_finding() -> None:
    ctx = context(
        account=[ACCOUNT],
        subscription=[_sub("S-OLD", "monitoring", days_ago(200), status="closed", end_date=days_ago(40))],
        service_line=[_line("L-MON", "monitoring", days_ago(199), device_id="HUB-1")],
    )
    (finding,) = run(PROVISIONED, ctx)
    assert finding.subject.key == "L-MON"
    assert roles(finding) == {"line": ["L-MON"], "inactive_subscription": ["S-OLD"], "account": ["AC-1"]}
    assert finding.detail["billing_state"] == f"subscription S-OLD is closed since {days_ago(40)}"
    assert finding.detail["device"] == "HUB-1"
    assert "12 Oak Street" in finding.story and "start billing it" in finding.story


def test_line_activated_within_the_grace_period_is_not_a_finding() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-P", "dsl_50", days_ago(-1), status="pending")],
                  service_line=[_line("L-1", "dsl_50", days_ago(0))])
    assert run(PROVISIONED, ctx) == []


def test_product_map_names_the_subscriptions_that_bill_a_line() -> None:
    ctx = context(account=[ACCOUNT], subscription=[_sub("S-B", "home_bundle", days_ago(50))],
                  service_line=[_line("L-1", "fiber_1g", days_ago(50))])
    assert subjects(run(PROVISIONED, ctx)) == ["L-1"]
    assert run(PROVISIONED.model_copy(update={"product_map": {"fiber_1g": ["fiber_1g", "home_bundle"]}}), ctx) == []


def test_billed_line_and_unmatched_line() -> None:
    ctx = context(
        account=[ACCOUNT],
        subscription=[_sub("S-1", "fiber_1g", days_ago(300))],
        service_line=[_line("L-1", "fiber_1g", days_ago(300)),
                      _line("L-LONE", "fiber_1g", days_ago(300), _entity=None)],
    )
    (finding,) = run(PROVISIONED, ctx)
    assert finding.subject.key == "L-LONE" and finding.entity_id is None
    assert finding.detail["accounts"] == "none found"


# ---------------------------------------------------------------- duplicate_active_line

def _moved(new_product: str = "fiber_1g") -> dict[str, Any]:
    return {
        "account": [ACCOUNT],
        "contact": [{"contact_id": "K1", "name": "Ann Lee", "street": "9 Elm Avenue", "postal_code": "98102"}],
        "service_line": [
            _line("L-OLD", "fiber_1g", days_ago(700)),
            _line("L-NEW", new_product, days_ago(90), street="9 Elm Ave", postal_code="98102-1234"),
        ],
    }


def test_old_line_left_active_after_a_move_is_a_finding() -> None:
    (finding,) = run(DUPLICATE, context(**_moved()))
    assert finding.subject.key == "L-OLD"
    assert roles(finding) == {"old_line": ["L-OLD"], "new_line": ["L-NEW"], "current_address": ["K1"]}
    assert finding.detail["current_text"] == "the CRM contact K1 gives the new address"
    assert "12 Oak Street" in finding.story and "9 Elm Ave" in finding.story


def test_second_home_with_another_product_is_not_a_finding() -> None:
    assert run(DUPLICATE, context(**_moved(new_product="monitoring"))) == []


def test_same_address_written_differently_is_not_a_finding() -> None:
    world = _moved()
    world["service_line"][1].update(street="12 OAK ST", postal_code="98101")
    assert run(DUPLICATE, context(**world)) == []


def test_old_line_at_the_current_address_is_not_reported() -> None:
    world = _moved()
    world["contact"][0].update(street="12 Oak St", postal_code="98101")
    assert run(DUPLICATE, context(**world)) == []


def test_without_a_contact_the_latest_account_gives_the_current_address() -> None:
    world = _moved()
    del world["contact"]
    world["account"] = [
        ACCOUNT,
        {"account_id": "AC-2", "name": "LEE, ANN", "opened_at": days_ago(95), "street": "9 Elm Ave",
         "postal_code": "98102"},
    ]
    (finding,) = run(DUPLICATE, context(**world))
    assert roles(finding)["current_address"] == ["AC-2"]
    world["account"][1]["street"] = "12 Oak St"
    world["account"][1]["postal_code"] = "98101"
    assert run(DUPLICATE, context(**world)) == []


# ---------------------------------------------------------------- monitoring_gap

def _monitored(offline: dt.timedelta, alerts: tuple[dt.datetime, ...] = (), monitored: bool = True) -> dict[str, Any]:
    product = "monitoring" if monitored else "fiber_300"
    return {
        "account": [ACCOUNT],
        "subscription": [_sub("S-MON", product, days_ago(400))],
        "service_line": [_line("L-MON", product, days_ago(399), device_id="HUB-1")],
        "device_status": [{"device_id": "HUB-1", "status": "offline", "last_heartbeat": AS_OF - offline}],
        "alert": [{"alert_id": f"A{i}", "device_id": "HUB-1", "sent_at": t, "kind": "device_offline"}
                  for i, t in enumerate(alerts)],
    }


def test_device_offline_for_days_with_no_alert_is_a_finding() -> None:
    world = _monitored(dt.timedelta(days=5, hours=3), alerts=(at(days=60),))
    (finding,) = run(GAP, context(**world))
    assert finding.subject.key == "HUB-1" and finding.subject.record_type == "device_status"
    assert roles(finding) == {
        "device": ["HUB-1"], "line": ["L-MON"], "subscription": ["S-MON"], "account": ["AC-1"],
        "earlier_alert": ["A0"],
    }
    assert finding.detail["offline_hours"] == 123
    assert finding.detail["offline_for"] == "5 days"
    assert finding.detail["last_alert"] == at(days=60).date().isoformat()
    assert finding.story.startswith("Monitoring device HUB-1 on line L-MON at 12 Oak Street, 98101 has sent nothing")


def test_offline_for_ten_hours_is_not_a_finding() -> None:
    assert run(GAP, context(**_monitored(dt.timedelta(hours=10)))) == []


def test_offline_for_a_hundred_hours_with_an_alert_sent_is_not_a_finding() -> None:
    offline = dt.timedelta(hours=100)
    world = _monitored(offline, alerts=(AS_OF - offline + dt.timedelta(minutes=10),))
    assert run(GAP, context(**world)) == []
    # Only alerts of the configured kinds count.
    other_kinds = GAP.model_copy(update={"alert_kinds": ["battery_low"]})
    assert subjects(run(other_kinds, context(**world))) == ["HUB-1"]


def test_device_of_a_customer_without_monitoring_is_not_a_finding() -> None:
    assert run(GAP, context(**_monitored(dt.timedelta(days=9), monitored=False))) == []
    world = _monitored(dt.timedelta(days=9))
    world["subscription"][0]["status"] = "closed"
    assert run(GAP, context(**world)) == []


def test_offline_threshold_and_grace_are_parameters() -> None:
    world = _monitored(dt.timedelta(hours=50))
    assert run(GAP, context(**world)) == []
    assert subjects(run(GAP.model_copy(update={"offline_hours": 48}), context(**world))) == ["HUB-1"]
    lagging = GAP.model_copy(update={"offline_hours": 48, "grace": dt.timedelta(hours=6)})
    assert run(lagging, context(**world)) == []


def test_device_on_no_known_line_is_not_a_finding() -> None:
    world = _monitored(dt.timedelta(days=9))
    world["device_status"][0]["device_id"] = "HUB-UNKNOWN"
    assert run(GAP, context(**world)) == []


def test_the_story_names_the_first_paying_subscription_by_key() -> None:
    """Two monitoring subscriptions on the customer: the one with the smaller key carries the story,
    whichever comes first in the table."""
    world = _monitored(dt.timedelta(days=9))
    world["subscription"] = [_sub("S-MON-9", "monitoring", days_ago(300)), _sub("S-MON-1", "monitoring", days_ago(400)),
                             _sub("S-MON-5", "monitoring", days_ago(200))]
    (finding,) = run(GAP, context(**world))
    assert roles(finding)["subscription"] == ["S-MON-1"]
