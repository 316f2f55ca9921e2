"""A run built by hand for the report tests: known findings, health, quarantine."""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.results import QuarantinedRow, RunResult, SourceHealth

AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
HOSTILE = '<script>alert("pwned")</script>'


def make_finding(
    key: str,
    *,
    kind: str = "failed_autopay",
    severity: Severity | str = Severity.high,
    owner: str = "billing",
    status: FindingStatus | None = FindingStatus.new,
    story: str | None = None,
    name: str = "Robert Smith",
    first_seen_days_ago: int = 0,
    records: list[RecordRef] | None = None,
    entity_id: str | None = None,
    **extra: Any,
) -> Finding:
    """A finding about billing account ``key``: its records in billing, CRM and payments."""
    first_seen = AS_OF - dt.timedelta(days=first_seen_days_ago)
    return Finding(
        rule_id=kind.replace("_", "-"),
        kind=kind,
        severity=Severity(severity),
        owner=owner,
        entity_id=entity_id or f"E-{key}",
        subject=RecordRef(source="billing", record_type="account", key=key,
                          fields={"holder": name.upper(), "autopay": True}, role="mandate"),
        records=records if records is not None else [
            RecordRef(source="billing", record_type="account", key=key,
                      fields={"holder": name.upper(), "autopay": True}, role="mandate"),
            RecordRef(source="crm", record_type="contact", key=f"C-{key}",
                      fields={"name": name, "phone": "+15551234567"}),
            RecordRef(source="payments", record_type="payment", key=f"P-{key}",
                      fields={"result": "R01", "amount": 49.9, "on": "2026-10-02"}, role="attempt"),
        ],
        story=story or f"Auto-pay on {key} failed 3 times since 2026-08-02 (R01); nobody told {name}.",
        confidence=0.92,
        status=status,
        first_seen=first_seen if status is not None else None,
        last_seen=AS_OF if status is not None else None,
        **extra,
    )


def make_result(**overrides: Any) -> RunResult:
    """Six findings over three owners, four severities and three statuses; one resolved."""
    findings = [
        make_finding("AC-1", severity="critical", status=FindingStatus.new),
        make_finding("AC-2", severity="high", status=FindingStatus.open, first_seen_days_ago=12),
        make_finding("AC-3", severity="low", status=FindingStatus.reopened, first_seen_days_ago=40),
        make_finding("LN-7", kind="duplicate_active_line", severity="medium", owner="service",
                     story="Customer E-LN-7 has two active internet lines after a move: LN-7 and LN-8."),
        make_finding("LN-9", kind="provisioned_not_billed", severity="high", owner="service",
                     status=FindingStatus.open, first_seen_days_ago=3),
        make_finding("VIN-1", kind="recall_missing_locally", severity="info", owner="dealer service",
                     story="Recall 24V-123 for VIN 1HGCM82633A004352 is open at head office, not at the dealer."),
    ]
    resolved = [
        make_finding("AC-0", severity="medium", status=FindingStatus.resolved, first_seen_days_ago=30,
                     story="Auto-pay on AC-0 failed twice; fixed since."),
    ]
    values: dict[str, Any] = {
        "run_id": 42,
        "as_of": AS_OF,
        "started_at": AS_OF + dt.timedelta(minutes=1),
        "finished_at": AS_OF + dt.timedelta(minutes=3),
        "findings": findings,
        "resolved": resolved,
        "health": [
            SourceHealth(source="billing", rows_read=1000, rows_used=998, rows_quarantined=2,
                         duration_s=1.25, streams={"account": 500, "invoice": 498}),
            SourceHealth(source="crm", rows_read=400, rows_used=400, duration_s=0.5, streams={"contact": 400}),
        ],
        "quarantine": [
            QuarantinedRow(source="billing", stream="account", row="line 17", field="opened_at",
                           reason="not a date: 'soon'", raw={"opened": "soon"}),
            QuarantinedRow(source="billing", stream="invoice", row="INV-9", field="amount",
                           reason="not a number: 'n/a'", raw={"amount": "n/a"}),
        ],
        "entities": 350,
        "links": 120,
        "timings": {"extract": 1.75, "match": 0.5},
    }
    values.update(overrides)
    return RunResult(**values)
