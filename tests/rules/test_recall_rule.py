"""recall_missing_locally: head office has the recall, the dealer who knows the vehicle does not."""

from __future__ import annotations

from typing import Any

from conftest import context, days_ago, roles, run, subjects

from reconcile.rules.builtin import RecallMissingLocallyRule

RULE = RecallMissingLocallyRule(id="recall_missing_locally", owner="service", severity="high")
VIN = "1HGCM82633A004352"
MISTYPED = "1HGCM8263EA0O4352"  # one wrong character, and O typed for 0


def _world(dealer_vin: str = VIN, dealer_status: str | None = None, remedy: str = "open",
           **extra: Any) -> dict[str, Any]:
    world: dict[str, Any] = {
        "recall_notice": [{"notice_id": "RN-1", "campaign": "24V-318", "vin": VIN, "name": "ANN LEE",
                           "notice_date": days_ago(60), "remedy_status": remedy}],
        "vehicle": [{"vehicle_id": "V-1", "vin": dealer_vin, "make": "Honda", "given_name": "Ann",
                     "family_name": "Lee"}],
        "dealer_recall": [],
        "repair_order": [],
    }
    if dealer_status is not None:
        world["dealer_recall"].append({"dealer_recall_id": "DR-1", "vehicle_id": "V-1", "campaign": "24V-318",
                                       "status": dealer_status})
    world.update(extra)
    return world


def test_open_notice_for_a_vehicle_the_dealer_knows_without_the_campaign() -> None:
    (finding,) = run(RULE, context(**_world()))
    assert finding.subject.key == "RN-1" and finding.subject.record_type == "recall_notice"
    assert finding.detail_key == "24V-318"
    assert roles(finding) == {"notice": ["RN-1"], "dealer_vehicle": ["V-1"]}
    assert finding.detail["vin_match"] == "same VIN"
    assert finding.detail["repair_state"] == "no repair order for it exists"
    assert finding.story == (
        f"Recall 24V-318 is open at head office for VIN {VIN} (notice RN-1 of {days_ago(60)}), but the "
        "dealer's vehicle V-1 (same VIN) does not have the campaign; no repair order for it exists: "
        "load the campaign at the dealer so the repair is not refused."
    )


def test_a_typed_in_vin_one_character_off_still_matches() -> None:
    (finding,) = run(RULE, context(**_world(dealer_vin=MISTYPED)))
    assert finding.detail["vin_distance"] == 1
    assert finding.detail["dealer_vin"] == MISTYPED
    assert finding.detail["vin_match"] == f"dealer VIN {MISTYPED}, one character off"
    strict = RULE.model_copy(update={"max_vin_distance": 0})
    assert run(strict, context(**_world(dealer_vin=MISTYPED))) == []


def test_dealer_with_the_campaign_open_under_a_mistyped_vin_is_not_a_finding() -> None:
    assert run(RULE, context(**_world(dealer_vin=MISTYPED, dealer_status="open"))) == []
    assert run(RULE, context(**_world(dealer_status="completed"))) == []


def test_a_closed_dealer_record_does_not_count_as_having_the_campaign() -> None:
    world = _world(dealer_status="closed")
    world["repair_order"] = [{"repair_order_id": "RO-1", "vehicle_id": "V-1", "campaign": "24v-318 ",
                              "status": "open"}]
    (finding,) = run(RULE, context(**world))
    assert roles(finding) == {"notice": ["RN-1"], "dealer_vehicle": ["V-1"], "dealer_recall": ["DR-1"],
                              "repair_order": ["RO-1"]}
    assert finding.detail["repair_state"] == "repair order RO-1 is open"


def test_remedied_notice_is_not_a_finding() -> None:
    assert run(RULE, context(**_world(remedy="remedied"))) == []


def test_dealer_that_does_not_know_the_vehicle_is_not_a_finding() -> None:
    other_vehicle = "5YJ3E1EA7KF317000"
    assert run(RULE, context(**_world(dealer_vin=other_vehicle))) == []
    # The same VIN at a dealer vehicle of another customer: not linked, not known.
    world = _world()
    world["vehicle"][0]["_entity"] = "E-2"
    assert run(RULE, context(**world)) == []


def test_notice_within_the_grace_period_is_not_yet_a_finding() -> None:
    world = _world()
    world["recall_notice"][0]["notice_date"] = days_ago(0)
    assert run(RULE, context(**world)) == []


def test_two_campaigns_on_one_vehicle_are_two_findings() -> None:
    world = _world()
    world["recall_notice"].append({**world["recall_notice"][0], "notice_id": "RN-2", "campaign": "26V-112"})
    findings = run(RULE, context(**world))
    assert subjects(findings) == ["RN-1", "RN-2"]
    assert len({f.fingerprint for f in findings}) == 2
