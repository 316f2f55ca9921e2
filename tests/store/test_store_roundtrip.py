"""What goes into the store comes back out the same, on every backend."""

from __future__ import annotations

import datetime as dt
import decimal

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from store_factories import AS_OF, finding, healthy, night, quarantined, record_night

from reconcile.errors import StoreError
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.results import SourceHealth
from reconcile.store import SCHEMA_VERSION, Store
from reconcile.store._schema import store_meta


def _rich_finding() -> Finding:
    return Finding(
        rule_id="name-mismatch",
        kind="name_mismatch",
        severity=Severity.medium,
        owner="card issuing",
        entity_id="E-0042",
        subject=RecordRef(source="cards", record_type="account", key="K/42 ü",
                          fields={"holder": "ACME WIDGETZ"}, role="producer"),
        records=[
            RecordRef(source="crm", record_type="contact", key="C-42",
                      fields={"company": "Acme Widgets Ltd.", "since": "2024-01-02", "n": 3,
                              "ok": True, "none": None, "ratio": 0.125}, role="said"),
            RecordRef(source="cards", record_type="account", key="K/42 ü",
                      fields={"holder": "ACME WIDGETZ"}, role="producer"),
        ],
        story="Cards print 'ACME WIDGETZ' for <b>Acme Widgets Ltd.</b> — Zoë's \"company\" 💳 " + "x" * 70_000,
        confidence=0.873,
        detail={"distance": 2, "names": ["acme widgetz", "acme widgets"], "nested": {"a": [1, 2.5, None]}},
        detail_key="holder-name",
    )


def test_a_finding_comes_back_identical(store: Store) -> None:
    original = _rich_finding()
    _, (returned,), _ = record_night(store, 1, [original])
    assert returned.model_dump(exclude={"status", "first_seen", "last_seen", "suppression", "unverified"}) == original.model_dump(
        exclude={"status", "first_seen", "last_seen"}
    )
    (stored,) = store.open_findings()
    assert stored == returned
    assert stored.fingerprint == original.fingerprint
    assert len(stored.story) == len(original.story)  # beyond MySQL's 64 KiB TEXT
    assert store.finding(original.fingerprint) == returned
    assert store.finding("no-such-fingerprint") is None


def test_values_that_are_not_json_are_stored_as_json(store: Store) -> None:
    detail = {
        "when": dt.datetime(2026, 10, 30, 8, 15, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "day": dt.date(2026, 10, 1),
        "amount": decimal.Decimal("49.90"),
        "missing": float("nan"),
        "count": np.int64(3),
        "seen": pd.Timestamp("2026-10-29T10:00:00Z"),
        "not_a_time": pd.NaT,
        "codes": {"R02", "R01"},
        "pair": ("a", 1),
    }
    _, (returned,), _ = record_night(store, 1, [finding("AC-1", detail=detail)])
    expected = {
        "when": "2026-10-30T06:15:00+00:00",
        "day": "2026-10-01",
        "amount": 49.9,
        "missing": None,
        "count": 3,
        "seen": "2026-10-29T10:00:00+00:00",
        "not_a_time": None,
        "codes": ["R01", "R02"],
        "pair": ["a", 1],
    }
    assert store.open_findings()[0].detail == expected
    assert store.run_result(1).findings[0].detail == expected
    # The run's own findings keep the caller's values; only the stored copy is JSON.
    assert returned.detail["amount"] == decimal.Decimal("49.90")
    assert returned.detail["codes"] == {"R01", "R02"}


def test_times_are_utc_with_microseconds(store: Store) -> None:
    local = dt.datetime(2026, 11, 1, 8, 30, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))
    run_id = store.begin_run(local, started_at=dt.datetime(2026, 11, 1, 3, 0, 1, 999999))
    seen, _ = store.finish_run(run_id, findings=[finding("AC-1")], health=healthy())
    run = store.run(run_id)
    assert run.as_of == local and run.as_of.tzinfo == dt.UTC
    assert run.as_of.isoformat() == "2026-11-01T03:00:00.123456+00:00"
    assert run.started_at == dt.datetime(2026, 11, 1, 3, 0, 1, 999999, tzinfo=dt.UTC), "naive means UTC"
    (stored,) = store.open_findings()
    assert stored.first_seen == seen[0].first_seen == local
    assert stored.first_seen.tzinfo == dt.UTC  # type: ignore[union-attr]


def test_a_run_is_rebuilt_from_the_store(store: Store) -> None:
    started = AS_OF + dt.timedelta(minutes=1)
    health = [
        SourceHealth(source="billing", rows_read=12, rows_used=11, rows_quarantined=1, duration_s=0.25,
                     streams={"account": 6, "invoice": 5}),
        SourceHealth(source="crm", rows_read=4, rows_used=4, duration_s=0.125, streams={"contact": 4}),
    ]
    rows = [quarantined("line 7", opened="soon", amount=float("inf"), when=dt.date(2026, 1, 2)),
            quarantined("AC-9")]
    record_night(store, 1, [finding("AC-1"), finding("AC-2")])
    run_id = store.begin_run(night(2), config_digest="cfg")
    seen, resolved = store.finish_run(
        run_id, findings=[_rich_finding(), finding("AC-1")], health=health, quarantine=rows,
        started_at=started, timings={"extract": 1.5, "match": 0.75}, entities=40, links=12,
    )
    result = store.run_result(run_id)
    assert result.run_id == run_id and result.status == "succeeded"
    assert (result.as_of, result.started_at) == (night(2), started)
    assert result.finished_at == store.run(run_id).finished_at
    assert result.findings == seen
    assert [f.status for f in result.findings] == [FindingStatus.new, FindingStatus.open]
    assert result.resolved == resolved and [f.subject.key for f in resolved] == ["AC-2"]
    assert result.health == health
    assert [(q.row, q.reason, q.raw) for q in result.quarantine] == [
        ("line 7", "not a date: 'soon'", {"opened": "soon", "amount": None, "when": "2026-01-02"}),
        ("AC-9", "not a date: 'soon'", {"opened": "soon"}),
    ]
    assert (result.entities, result.links, result.timings) == (40, 12, {"extract": 1.5, "match": 0.75})


def test_a_past_run_keeps_what_it_saw(store: Store) -> None:
    first_id, first_seen, _ = record_night(store, 1, [finding("AC-1", story="failed twice")])
    record_night(store, 2, [finding("AC-1", story="failed three times")])
    record_night(store, 3, [])
    past = store.run_result(first_id)
    assert [(f.story, f.status, f.last_seen) for f in past.findings] == [
        ("failed twice", FindingStatus.new, night(1))
    ]
    assert past.findings == first_seen
    assert [f.story for f in store.run_result(3).resolved] == ["failed three times"]
    assert store.run_result(3).findings == []
    with pytest.raises(StoreError, match="there is no run 77"):
        store.run_result(77)


def test_a_reopened_store_remembers(db_url: str) -> None:
    with Store(db_url) as first:
        record_night(first, 1, [finding("AC-1")])
    with Store(db_url) as again:
        _, (seen,), _ = record_night(again, 2, [finding("AC-1")])
        assert seen.status == FindingStatus.open
        with again.engine.connect() as conn:
            version = conn.execute(sa.select(store_meta.c.value)).scalar_one()
        assert version == str(SCHEMA_VERSION)


def test_a_store_from_a_newer_release_is_refused(db_url: str) -> None:
    with Store(db_url) as store, store.engine.begin() as conn:
        conn.execute(store_meta.update().values(value=str(SCHEMA_VERSION + 1)))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than"):
        Store(db_url)
