"""Findings, health and quarantine built by hand for the store tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from reconcile.findings import Finding, RecordRef, Severity
from reconcile.results import QuarantinedRow, SourceHealth

AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)


def night(n: int) -> dt.datetime:
    """The as-of time of the n-th nightly run (night 1 is AS_OF)."""
    return AS_OF + dt.timedelta(days=n - 1)


def finding(
    key: str,
    *,
    rule_id: str = "failed-autopay",
    kind: str = "failed_autopay",
    severity: Severity | str = Severity.high,
    owner: str = "billing",
    story: str | None = None,
    detail_key: str = "",
    **extra: Any,
) -> Finding:
    """A finding about billing account ``key`` with one CRM record as evidence."""
    return Finding(
        rule_id=rule_id,
        kind=kind,
        severity=Severity(severity),
        owner=owner,
        entity_id=f"E-{key}",
        subject=RecordRef(source="billing", record_type="account", key=key,
                          fields={"autopay": True}, role="mandate"),
        records=[
            RecordRef(source="billing", record_type="account", key=key, fields={"autopay": True},
                      role="mandate"),
            RecordRef(source="crm", record_type="contact", key=f"C-{key}",
                      fields={"name": f"Customer {key}"}),
        ],
        story=story or f"Auto-pay on {key} failed 3 times; nobody told the customer.",
        detail_key=detail_key,
        **extra,
    )


def healthy(*sources: str) -> list[SourceHealth]:
    return [SourceHealth(source=s, rows_read=10, rows_used=10) for s in sources or ("billing", "crm")]


def unhealthy(source: str, *others: str) -> list[SourceHealth]:
    return [
        SourceHealth(source=source, healthy=False, error=f"source {source!r}: file missing"),
        *healthy(*others or ("billing",)),
    ]


def quarantined(row: str = "line 7", **raw: Any) -> QuarantinedRow:
    return QuarantinedRow(source="billing", stream="account", row=row, field="opened_at",
                          reason="not a date: 'soon'", raw=raw or {"opened": "soon"})


def record_night(
    store: Any, n: int, findings: list[Finding], health: list[SourceHealth] | None = None, **kwargs: Any
) -> tuple[int, list[Finding], list[Finding]]:
    """Begin and finish the n-th nightly run; return its id, findings and resolved findings."""
    run_id = store.begin_run(night(n), config_digest="cfg")
    seen, resolved = store.finish_run(
        run_id, findings=findings, health=healthy() if health is None else health, **kwargs
    )
    return run_id, seen, resolved


def dump(store: Any, *, skip: tuple[str, ...] = ()) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every store table (sorted), to compare before and after."""
    import sqlalchemy as sa

    from reconcile.store._schema import metadata

    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in metadata.sorted_tables:
            if table.name in skip:
                continue
            rows = conn.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out
