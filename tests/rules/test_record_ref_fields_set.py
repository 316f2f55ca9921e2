"""Records of findings, and findings of rules, share one fields-set: nothing a caller can do to one changes another's."""

from __future__ import annotations

import pickle

import pydantic
import pytest

from reconcile.findings import Finding, FindingStatus, RecordRef
from reconcile.rules._common import _ALL_REF_FIELDS, _REF_FIELDS, _record_ref
from reconcile.rules.builtin import NameMismatchRule


def test_shared_fields_set_stays_whole() -> None:
    first = _record_ref("billing", "account", "A1", {"status": "active"}, None)
    second = _record_ref("crm", "contact", "C1", {}, "contact")
    assert first.model_fields_set == second.model_fields_set == set(_REF_FIELDS)
    assert first == RecordRef.model_construct(source="billing", record_type="account", key="A1",
                                              fields={"status": "active"}, role=None)
    copied = first.model_copy(update={"role": "mandate"})
    assert copied.role == "mandate" and copied.model_fields_set is not _ALL_REF_FIELDS
    with pytest.raises(pydantic.ValidationError):
        second.role = "other"  # frozen: refused before the fields-set is touched
    assert set(_REF_FIELDS) == _ALL_REF_FIELDS
    assert second.model_dump(exclude_unset=True) == {"source": "crm", "record_type": "contact", "key": "C1",
                                                     "fields": {}, "role": "contact"}


def _two_findings() -> tuple[Finding, Finding]:
    rule = NameMismatchRule(id="names", owner="crm")
    ref = RecordRef(source="billing", record_type="account", key="A1")
    facts = {name: name for name in NameMismatchRule.facts}
    return tuple(rule.finding(subject=ref, records=[ref], entity_id="E1", confidence=0.9, facts=facts)
                 for _ in range(2))  # type: ignore[return-value]


def test_findings_of_rules_share_one_fields_set_that_no_assignment_reaches() -> None:
    first, second = _two_findings()
    assert first.__pydantic_fields_set__ is second.__pydantic_fields_set__  # shared: the memory saved
    plain = Finding.model_validate(first.model_dump(exclude_unset=True, exclude={"fingerprint"}))
    assert first.model_fields_set == plain.model_fields_set  # what pydantic itself records
    assert first.model_dump(exclude_unset=True) == plain.model_dump(exclude_unset=True)
    first.status = FindingStatus.new
    assert "status" in first.model_fields_set and "status" not in second.model_fields_set
    assert first.model_dump(exclude_unset=True)["status"] == "new"
    assert "status" not in second.model_dump(exclude_unset=True)
    copied = second.model_copy(update={"last_seen": None})
    assert "last_seen" in copied.model_fields_set and "last_seen" not in second.model_fields_set


def test_findings_pickled_together_still_copy_their_fields_set_before_a_change() -> None:
    third, fourth = pickle.loads(pickle.dumps(list(_two_findings())))
    assert third.__pydantic_fields_set__ is fourth.__pydantic_fields_set__  # shared again after unpickling
    third.first_seen = None
    assert "first_seen" in third.model_fields_set and "first_seen" not in fourth.model_fields_set
