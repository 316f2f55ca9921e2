"""The migration check, tested with reconcile's pytest plugin (fixtures from reconcile.testing.plugin)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from migration_check import BILLING_FIELDS, CRM_FIELDS, RULES, check, main
from reconcile.testing import assert_findings, assert_no_findings

ANN_BILLING = {"ACCT_NO": "AC-1", "HOLDER": "LEE, ANN M", "EMAIL": "ann.lee@example.com",
               "PHONE": "206-384-0143", "ADDR1": "12 N MAPLE ST", "ADDR2": "APT 4B", "ZIP": "98101-1234",
               "STATE": "A"}
ANN_CRM = {"Id": "003-1", "FirstName": "Ann", "LastName": "Lee", "Email": "Ann.Lee@Example.com",
           "MobilePhone": "(206) 384-0143", "MailingStreet": "12 North Maple Street Apt 4B",
           "MailingPostalCode": "98101"}
BOB_BILLING = {"ACCT_NO": "AC-2", "HOLDER": "STONE, ROBERT", "EMAIL": "bob@example.net",
               "PHONE": "503-555-0101", "ADDR1": "9 OAK AVE", "ADDR2": "", "ZIP": "97201", "STATE": "A"}


@pytest.fixture
def migrated(reconcile_sources):
    """Billing as it was before the migration; the CRM as the migration wrote it (Bob was lost)."""
    reconcile_sources.records("billing", account=[ANN_BILLING, BOB_BILLING], fields={"account": BILLING_FIELDS})
    reconcile_sources.records("crm", contact=[ANN_CRM], fields={"contact": CRM_FIELDS})
    return reconcile_sources


def test_an_account_lost_in_the_migration_is_found(migrated, reconcile_run):
    result = reconcile_run(rules=RULES)
    (finding,) = assert_findings(result, rule_id="account_not_migrated", subject="AC-2", severity="high")
    assert finding.story == "billing account AC-2 has no contact for the same customer (there is none)."
    # Ann is written differently in each system, but she is one customer and nothing is wrong.
    assert_no_findings(result, involves="AC-1")


def test_a_closed_account_need_not_be_migrated(reconcile_sources, reconcile_run):
    reconcile_sources.records("billing", account=[{**BOB_BILLING, "STATE": "C"}], fields={"account": BILLING_FIELDS})
    reconcile_sources.records("crm", contact=[ANN_CRM], fields={"contact": CRM_FIELDS})
    assert_no_findings(reconcile_run(rules=RULES))


def test_an_email_changed_by_the_migration_is_found(reconcile_sources, reconcile_run):
    reconcile_sources.records("billing", account=[ANN_BILLING], fields={"account": BILLING_FIELDS})
    reconcile_sources.records("crm", contact=[{**ANN_CRM, "Email": "ann.lee@example.org"}], fields={"contact": CRM_FIELDS})
    result = reconcile_run(rules=RULES)
    (finding,) = assert_findings(result, rule_id="email_changed_in_migration", count=1, owner="migration-team")
    assert "ann.lee@example.org" in finding.story
    assert [(r.source, r.key) for r in finding.records] == [("billing", "AC-1"), ("crm", "003-1")]


def test_a_bad_billing_row_is_quarantined_not_checked(reconcile_sources, reconcile_run):
    reconcile_sources.records(
        "billing", account=[ANN_BILLING, BOB_BILLING, {**BOB_BILLING, "ACCT_NO": "AC-3", "STATE": "X"}],
        fields={"account": BILLING_FIELDS},
    )
    reconcile_sources.records("crm", contact=[ANN_CRM], fields={"contact": CRM_FIELDS})
    result = reconcile_run(rules=RULES)
    (row,) = result.quarantine
    assert (row.source, row.row, row.field) == ("billing", "row 3 (key 'AC-3')", "status")
    assert_findings(result, subject="AC-2", count=1)


def test_findings_are_remembered_across_waves(migrated, reconcile_run, reconcile_store):
    first = reconcile_run(rules=RULES, store=reconcile_store)
    assert_findings(first, subject="AC-2", status="new")
    second = reconcile_run(rules=RULES, store=reconcile_store)
    assert_findings(second, subject="AC-2", status="open")


def test_check_is_what_the_app_runs(reconcile_as_of):
    result = check([ANN_BILLING, BOB_BILLING], [ANN_CRM], as_of=reconcile_as_of)
    assert_findings(result, subject="AC-2", count=1)


def _write(path: Path, rows: list[dict[str, str]]) -> str:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return str(path)


def test_the_command_exits_1_on_a_high_finding(tmp_path, capsys):
    billing = _write(tmp_path / "billing.csv", [ANN_BILLING, BOB_BILLING])
    crm = _write(tmp_path / "crm.csv", [ANN_CRM])
    assert main([billing, crm]) == 1
    out = capsys.readouterr().out
    assert out == "HIGH  migration-team  billing account AC-2 has no contact for the same customer (there is none).\n"
    assert main([billing, _write(tmp_path / "crm2.csv", [ANN_CRM, {**ANN_CRM, "Id": "003-2",
        "FirstName": "Robert", "LastName": "Stone", "Email": "bob@example.net", "MobilePhone": "503-555-0101",
        "MailingStreet": "9 Oak Avenue", "MailingPostalCode": "97201"}])]) == 0
