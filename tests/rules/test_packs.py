"""Rule packs, overrides, the registry, and configuration errors with their locations."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import pytest
from pydantic import ValidationError

from reconcile.errors import ConfigError
from reconcile.packs import available, load_yaml_pack
from reconcile.rules import (
    Rule,
    build_rules,
    resolve_rule_dicts,
    rule_classes,
    rule_union_adapter,
    validate_rule,
)
from reconcile.rules.builtin import BUILTIN_RULES, MonitoringGapRule
from reconcile.rules.generic import GENERIC_RULES

ALL_PACKS = ["telecom", "payments", "automotive", "crm"]

# The contract's default owners and severities, and which pack holds each kind.
DEFAULTS = {
    "failed_autopay": ("payments", "billing", "high"),
    "payment_misapplied": ("payments", "billing", "high"),
    "provisioned_not_billed": ("telecom", "billing", "high"),
    "billed_not_provisioned": ("telecom", "provisioning", "medium"),
    "duplicate_active_line": ("telecom", "provisioning", "medium"),
    "monitoring_gap": ("telecom", "service", "critical"),
    "recall_missing_locally": ("automotive", "service", "high"),
    "unresolved_low_survey": ("crm", "customer-experience", "medium"),
    "name_mismatch": ("crm", "account-management", "medium"),
}


class CustomRule(Rule):
    """A rule class named by import path in a config (not registered)."""

    kind: Literal["custom_check"] = "custom_check"
    threshold: int = 3


def _problems(packs: list[str], rules: list[dict], origin: str | None = "reconcile.yaml") -> dict[str, str]:
    with pytest.raises(ConfigError) as err:
        build_rules(packs, rules, origin=origin)
    return dict(err.value.problems)


GENERIC_KINDS = {"missing_in", "field_mismatch", "status_mismatch", "duplicate", "balance", "stale"}


def test_every_kind_is_registered_through_entry_points() -> None:
    classes = rule_classes()
    assert set(classes) == set(DEFAULTS) | GENERIC_KINDS
    assert set(classes.values()) == set(BUILTIN_RULES) | set(GENERIC_RULES)


def test_shipped_packs_hold_every_kind_with_the_default_owner_and_severity() -> None:
    assert set(ALL_PACKS) <= set(available("rules"))
    rules = build_rules(ALL_PACKS, [])
    assert len(rules) == len(DEFAULTS)
    for rule in rules:
        pack, owner, severity = DEFAULTS[rule.kind]
        assert rule.id == rule.kind
        assert (rule.owner, rule.severity.value) == (owner, severity), rule.id
        _, data = load_yaml_pack("rules", pack)
        assert rule.id in [r["id"] for r in data["rules"]]
        assert data["description"]


def test_each_pack_rule_has_a_description_comment() -> None:
    for pack in ALL_PACKS:
        path, data = load_yaml_pack("rules", pack)
        lines = path.read_text(encoding="utf-8").splitlines()
        for rule in data["rules"]:
            start = lines.index(f"  - id: {rule['id']}")
            assert lines[start - 1].strip().startswith("#"), f"{pack}: {rule['id']} has no comment above it"


def test_user_rules_merge_over_pack_rules_and_new_ones_follow() -> None:
    resolved = resolve_rule_dicts(
        ["telecom"],
        [
            {"id": "monitoring_gap", "offline_hours": 48, "owner": "monitoring-centre"},
            {"id": "big_autopay", "kind": "failed_autopay", "owner": "key-accounts", "min_failures": 2},
        ],
        origin="reconcile.yaml",
    )
    ids = [data["id"] for _, data in resolved]
    assert ids == ["billed_not_provisioned", "provisioned_not_billed", "duplicate_active_line",
                   "monitoring_gap", "big_autopay"]
    origins = {data["id"]: origin for origin, data in resolved}
    assert origins["monitoring_gap"] == "rule 'monitoring_gap' (pack telecom), changed by reconcile.yaml: rules[0]"
    assert origins["big_autopay"] == "reconcile.yaml: rules[1]"
    assert origins["duplicate_active_line"] == "rule 'duplicate_active_line' (pack telecom)"
    merged = resolved[3][1]
    assert merged["offline_hours"] == 48 and merged["severity"] == "critical"

    rules = {r.id: r for r in build_rules(["telecom"], [{"id": "monitoring_gap", "offline_hours": 48}])}
    gap = rules["monitoring_gap"]
    assert isinstance(gap, MonitoringGapRule)
    assert gap.offline_hours == 48 and gap.owner == "service" and gap.products == ["monitoring"]


def test_disabled_rules_are_dropped() -> None:
    rules = build_rules(ALL_PACKS, [{"id": "duplicate_active_line", "enabled": False}])
    assert "duplicate_active_line" not in {r.id for r in rules}
    assert len(rules) == len(DEFAULTS) - 1


def test_durations_read_from_yaml() -> None:
    (rule,) = build_rules([], [{"id": "g", "kind": "monitoring_gap", "owner": "s", "grace": "PT6H"}])
    assert rule.grace == dt.timedelta(hours=6)


def test_unknown_kind_is_reported_with_its_location_and_the_allowed_kinds() -> None:
    problems = _problems([], [{"id": "gap", "kind": "monitoring_gapp", "owner": "service"}])
    message = problems["reconcile.yaml: rules[0].kind"]
    assert "unknown kind 'monitoring_gapp'" in message and "did you mean 'monitoring_gap'" in message
    assert "failed_autopay" in message


def test_all_errors_are_reported_at_once_each_with_its_location() -> None:
    problems = _problems(
        ["telecom", "telco"],
        [
            {"id": "monitoring_gap", "offline_hourz": 48},
            {"id": "x", "kind": "failed_autopay", "owner": "billing", "min_failures": 0},
            {"id": "new_rule", "owner": "billing"},
            {"kind": "failed_autopay", "owner": "billing"},
            {"id": "y", "kind": "no_such_kind", "owner": "billing"},
            {"id": "z", "kind": "failed_autopay"},
        ],
    )
    assert set(problems) == {
        "reconcile.yaml: rule_packs[1]",
        "reconcile.yaml: rules[0].offline_hourz",
        "reconcile.yaml: rules[1].min_failures",
        "reconcile.yaml: rules[2].kind",
        "reconcile.yaml: rules[3].id",
        "reconcile.yaml: rules[4].kind",
        "reconcile.yaml: rules[5].owner",
    }
    assert "available: automotive, crm, payments, telecom" in problems["reconcile.yaml: rule_packs[1]"]
    assert "did you mean 'offline_hours'" in problems["reconcile.yaml: rules[0].offline_hourz"]
    assert "greater than or equal to 1; got 0" in problems["reconcile.yaml: rules[1].min_failures"]
    assert "needs a kind" in problems["reconcile.yaml: rules[2].kind"]
    assert problems["reconcile.yaml: rules[5].owner"] == "required field missing"


def test_a_bad_value_from_a_pack_is_located_in_the_pack() -> None:
    problems = _problems(["telecom"], [{"id": "monitoring_gap", "kind": "failed_autopay"}])
    assert "needs a new id" in problems["reconcile.yaml: rules[0].kind"]
    # Without a file name, locations are the bare paths.
    problems = _problems([], [{"id": "gap", "kind": "monitoring_gap", "owner": "s", "offline_hours": "soon"}],
                         origin=None)
    assert list(problems) == ["rules[0].offline_hours"]


def test_misspelt_pack_rule_id_and_unselected_pack_get_a_hint() -> None:
    problems = _problems(["telecom"], [{"id": "monitoring_gapp", "offline_hours": 4},
                                       {"id": "failed_autopay", "min_failures": 2}])
    assert "did you mean the pack rule 'monitoring_gap'" in problems["reconcile.yaml: rules[0].kind"]
    assert "pack 'payments', which rule_packs does not include" in problems["reconcile.yaml: rules[1].kind"]


def test_duplicate_ids_and_packs_are_errors() -> None:
    problems = _problems(["crm", "crm"], [{"id": "a", "kind": "name_mismatch", "owner": "x"},
                                         {"id": "a", "kind": "name_mismatch", "owner": "x"}])
    assert set(problems) == {"reconcile.yaml: rule_packs[1]", "reconcile.yaml: rules[1].id"}


def test_union_adapter_errors_carry_the_location() -> None:
    adapter = rule_union_adapter()
    rule = adapter.validate_python({"id": "g", "kind": "monitoring_gap", "owner": "s"})
    assert isinstance(rule, MonitoringGapRule)
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"id": "g", "kind": "monitoring_gap", "owner": "s", "offline_hourz": 1})
    (error,) = err.value.errors()
    assert error["type"] == "extra_forbidden" and error["loc"] == ("monitoring_gap", "offline_hourz")
    with pytest.raises(ValidationError) as err:
        adapter.validate_python({"id": "g", "kind": "nope", "owner": "s"})
    assert err.value.errors()[0]["type"] == "union_tag_invalid"


def test_a_rule_class_can_be_named_by_import_path() -> None:
    path = f"{__name__}:CustomRule"
    rule = validate_rule({"id": "c", "kind": path, "owner": "x", "threshold": 5})
    assert isinstance(rule, CustomRule) and rule.kind == "custom_check" and rule.threshold == 5
    (built,) = build_rules([], [{"id": "c", "kind": path, "owner": "x"}])
    assert isinstance(built, CustomRule)
    problems = _problems([], [{"id": "c", "kind": path, "owner": "x", "treshold": 5},
                              {"id": "d", "kind": "no.such.module:Rule", "owner": "x"},
                              {"id": "e", "kind": "reconcile.errors:ConfigError", "owner": "x"}])
    assert "did you mean 'threshold'" in problems["reconcile.yaml: rules[0].treshold"]
    assert "cannot import" in problems["reconcile.yaml: rules[1].kind"]
    assert "not a subclass" in problems["reconcile.yaml: rules[2].kind"]
