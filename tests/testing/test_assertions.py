"""assert_findings / assert_no_findings: what they accept and what their failure messages show."""

from __future__ import annotations

import re
from typing import Any

import pytest

from reconcile import RunResult
from reconcile.testing import (
    Sources,
    assert_findings,
    assert_no_findings,
    format_findings,
    run_sources,
)

MISSING_CONTACT = {
    "id": "account_without_contact", "kind": "missing_in", "owner": "crm-team",
    "present": {"type": "account"}, "absent": {"type": "contact"},
}


def _payment(pid: str, day: int) -> dict[str, Any]:
    return {"payment_id": pid, "account_id": "AC-1", "amount": 80.0,
            "attempted_at": f"2026-10-{day:02d}T09:00:00Z", "status": "failed", "return_code": "R01",
            "method": "ach", "autopay": True}


@pytest.fixture(scope="module")
def result() -> RunResult:
    """Ann's auto-pay keeps failing (failed_autopay, high); Bob has no CRM contact (missing_in, medium)."""
    sources = Sources().records(
        "billing",
        account=[
            {"account_id": "AC-1", "name": "LEE, ANN", "email": "ann@example.com", "autopay": True,
             "autopay_method": "ach"},
            {"account_id": "AC-2", "name": "STONE, BOB", "email": "bob@example.com"},
        ],
        payment=[_payment("P-1", 2), _payment("P-2", 9), _payment("P-3", 16)],
        invoice=[{"invoice_id": "I-1", "account_id": "AC-1", "amount": 80.0, "issued_at": "2026-09-01",
                  "due_date": "2026-09-20", "status": "open"}],
    ).records(
        "crm",
        contact=[{"contact_id": "C-1", "given_name": "Ann", "family_name": "Lee", "email": "ann@example.com"},
                 {"contact_id": None, "given_name": "Nobody"}],
    )
    return run_sources(sources, packs=["payments"], rules=[MISSING_CONTACT])


def test_matching_findings_are_returned(result: RunResult) -> None:
    (autopay,) = assert_findings(result, kind="failed_autopay", subject="AC-1", severity="high", owner="billing")
    assert autopay.rule_id == "failed_autopay"
    assert assert_findings(result, subject="billing:account:AC-2", count=1)[0].kind == "missing_in"
    assert len(assert_findings(result)) == 2
    assert assert_findings(result, story="failed 3 times", involves="P-2", count=1) == [autopay]
    assert assert_findings(result, story=re.compile(r"AC-\d has no contact"), count=1)
    assert assert_findings(result, kind="duplicate", count=0) == []
    assert assert_findings(result.findings, kind="missing_in", count=1)


def test_a_missing_finding_prints_every_story_and_the_evidence_per_system(result: RunResult) -> None:
    with pytest.raises(AssertionError) as err:
        assert_findings(result, kind="failed_autopay", subject="AC-2")
    text = str(err.value)
    assert text.startswith(
        "expected at least 1 finding with kind='failed_autopay', subject='AC-2'; found 0.\n"
        "The run's 2 finding(s):\n"
        "  [high] failed_autopay: rule 'failed_autopay', owner 'billing', subject billing:account:AC-1\n"
        "    story: Auto-pay on account AC-1 (ach) has failed 3 times since 2026-10-02"
    )
    assert "    evidence:\n      billing:\n        account AC-1 (mandate): account_id='AC-1'" in text
    assert "        payment P-3 (failed_attempt): payment_id='P-3'" in text
    assert "        invoice I-1 (overdue_invoice): " in text
    assert "  [medium] missing_in: rule 'account_without_contact', owner 'crm-team'" in text
    assert "story: billing account AC-2 has no contact for the same customer (there is none)." in text
    # What never reached the rules is said too.
    assert "1 row(s) were quarantined, so no rule saw them:\n  crm contact row 2: field 'contact_id':" in text


def test_a_wrong_count_marks_the_matches(result: RunResult) -> None:
    with pytest.raises(AssertionError) as err:
        assert_findings(result, owner="billing", count=2)
    text = str(err.value)
    assert text.startswith("expected 2 finding(s) with owner='billing'; found 1.\nThe run's 2 finding(s) (* = matches):\n* [high]")
    assert "\n  [medium] missing_in" in text


def test_assert_no_findings_at_or_above_a_severity(result: RunResult) -> None:
    assert_no_findings(result, min_severity="critical")
    assert_no_findings(result, kind="duplicate")
    assert_no_findings([])
    with pytest.raises(AssertionError) as err:
        assert_no_findings(result, min_severity="medium", owner="crm-team")
    text = str(err.value)
    assert text.startswith("expected no findings with min_severity='medium', owner='crm-team'; found 1.")
    assert "* [medium] missing_in" in text and "  [high] failed_autopay" in text
    with pytest.raises(AssertionError, match="expected no findings; found 2"):
        assert_no_findings(result)


def test_bad_arguments_are_errors_not_failures(result: RunResult) -> None:
    with pytest.raises(ValueError, match="unknown severity 'hihg'; allowed: info, low, medium, high, critical"):
        assert_findings(result, severity="hihg")
    with pytest.raises(ValueError, match="count must be 0 or more"):
        assert_findings(result, count=-1)


def test_no_findings_at_all_says_so() -> None:
    with pytest.raises(AssertionError, match=r"found 0\.\n\(no findings\)"):
        assert_findings([], kind="missing_in")


def test_long_lists_are_cut(result: RunResult) -> None:
    many = [result.findings[1]] * 30
    text = format_findings(many, limit=5)
    assert text.count("story:") == 5 and text.endswith("... and 25 more")
