"""The lifecycle across nightly runs, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from store_factories import dump, finding, healthy, night, quarantined, record_night, unhealthy

from reconcile.errors import StoreError
from reconcile.findings import FindingStatus as S
from reconcile.findings import Severity
from reconcile.store import RunStatus, Store
from reconcile.store._schema import findings as findings_table


def _statuses(items: list) -> dict[str, S]:  # type: ignore[type-arg]
    return {f.subject.key: f.status for f in items}


def test_new_open_resolved_reopened_across_nights(store: Store) -> None:
    a, b = finding("AC-1"), finding("AC-2")

    run1, seen, resolved = record_night(store, 1, [a, b])
    assert _statuses(seen) == {"AC-1": S.new, "AC-2": S.new}
    assert all(f.first_seen == night(1) and f.last_seen == night(1) for f in seen)
    assert resolved == []

    run2, seen, resolved = record_night(store, 2, [a, b.model_copy(update={"story": "now 4 times"})])
    assert _statuses(seen) == {"AC-1": S.open, "AC-2": S.open}
    assert all(f.first_seen == night(1) and f.last_seen == night(2) for f in seen)
    assert resolved == []
    assert store.finding(b.fingerprint).story == "now 4 times"  # type: ignore[union-attr]

    run3, seen, resolved = record_night(store, 3, [a])
    assert _statuses(seen) == {"AC-1": S.open}
    assert [(f.subject.key, f.status, f.first_seen, f.last_seen) for f in resolved] == [
        ("AC-2", S.resolved, night(1), night(2))
    ]
    assert {f.subject.key for f in store.open_findings()} == {"AC-1"}

    run4, seen, resolved = record_night(store, 4, [a, b])
    assert _statuses(seen) == {"AC-1": S.open, "AC-2": S.reopened}
    reopened = next(f for f in seen if f.subject.key == "AC-2")
    assert reopened.first_seen == night(1), "age counts from the first sighting, across resolutions"
    assert reopened.last_seen == night(4)

    run5, seen, _ = record_night(store, 5, [a, b])
    assert _statuses(seen) == {"AC-1": S.open, "AC-2": S.open}

    history = [(h.run_id, h.from_status, h.to_status, h.at) for h in store.finding_history(b.fingerprint)]
    assert history == [
        (run1, None, S.new, night(1)),
        (run2, S.new, S.open, night(2)),
        (run3, S.open, S.resolved, night(3)),
        (run4, S.resolved, S.reopened, night(4)),
        (run5, S.reopened, S.open, night(5)),
    ]
    reasons = [h.reason for h in store.finding_history(b.fingerprint)]
    assert reasons[2] == f"not seen in run {run3}, whose sources were all healthy"
    assert "after it was resolved" in reasons[3]
    # Staying open is not a change: AC-1 has two entries over five nights.
    assert [h.to_status for h in store.finding_history(a.fingerprint)] == [S.new, S.open]
    with store.engine.connect() as conn:
        times = dict(conn.execute(sa.select(findings_table.c.fingerprint, findings_table.c.times_seen)).all())
    assert times == {a.fingerprint: 5, b.fingerprint: 4}


def test_a_failed_run_changes_nothing(store: Store) -> None:
    a, b = finding("AC-1"), finding("AC-2")
    record_night(store, 1, [a, b], quarantine=[quarantined()])
    before = dump(store, skip=("runs",))
    open_before = store.open_findings()

    failed = store.begin_run(night(2), config_digest="cfg")
    store.fail_run(failed, "source 'crm': file missing")

    assert dump(store, skip=("runs",)) == before
    assert store.open_findings() == open_before
    run = store.runs()[-1]
    assert (run.id, run.status, run.error) == (failed, RunStatus.failed, "source 'crm': file missing")
    assert run.status == "failed" and run.finished_at is not None
    failed_result = store.run_result(failed)
    assert (failed_result.status, failed_result.findings, failed_result.health) == ("failed", [], [])

    # The next good run carries on from the last good one, as if the failure never happened.
    _, seen, resolved = record_night(store, 3, [a])
    assert _statuses(seen) == {"AC-1": S.open}
    assert [f.subject.key for f in resolved] == ["AC-2"]


def test_an_unhealthy_source_never_resolves(store: Store) -> None:
    a, b = finding("AC-1"), finding("AC-2")
    record_night(store, 1, [a, b])
    history_before = {f: store.finding_history(f) for f in (a.fingerprint, b.fingerprint)}

    _, seen, resolved = record_night(store, 2, [], health=unhealthy("crm"))
    assert (seen, resolved) == ([], [])
    assert _statuses(store.open_findings()) == {"AC-1": S.new, "AC-2": S.new}
    assert {f: store.finding_history(f) for f in history_before} == history_before

    # A finding seen while a source is down still moves on; the unseen one stays.
    _, seen, resolved = record_night(store, 3, [a], health=unhealthy("crm", "billing"))
    assert _statuses(seen) == {"AC-1": S.open}
    assert resolved == []
    assert _statuses(store.open_findings()) == {"AC-1": S.open, "AC-2": S.new}

    # Once every source is healthy again, absence means fixed.
    _, _, resolved = record_night(store, 4, [a])
    assert [f.subject.key for f in resolved] == ["AC-2"]
    health = store.run_result(store.runs()[1].id).health
    assert [(h.source, h.healthy, h.error) for h in health] == [
        ("crm", False, "source 'crm': file missing"),
        ("billing", True, None),
    ]


def test_a_rule_that_was_not_evaluated_resolves_with_that_reason(store: Store) -> None:
    kept, dropped = finding("AC-1"), finding("AC-1", rule_id="name-mismatch", kind="name_mismatch")
    record_night(store, 1, [kept, dropped])
    run2, _, resolved = record_night(store, 2, [kept], rule_ids=["failed-autopay"])
    assert [f.rule_id for f in resolved] == ["name-mismatch"]
    assert store.finding_history(dropped.fingerprint)[-1].reason == (
        f"rule 'name-mismatch' was not evaluated in run {run2}"
    )


def test_many_findings_cross_the_in_list_chunks(store: Store) -> None:
    many = [finding(f"AC-{i:05d}") for i in range(1234)]
    _, seen, _ = record_night(store, 1, many)
    assert {f.status for f in seen} == {S.new}
    _, seen, resolved = record_night(store, 2, many[:600])
    assert {f.status for f in seen} == {S.open} and len(resolved) == 634
    _, seen, resolved = record_night(store, 3, many)
    assert sum(f.status == S.reopened for f in seen) == 634
    assert sum(f.status == S.open for f in seen) == 600
    assert resolved == []
    assert store.runs()[-1].counts == {
        "findings": 1234, "new": 0, "open": 600, "reopened": 634, "resolved": 0,
        "quarantined": 0, "sources": 2, "unhealthy_sources": 0, "suppressed": 0,
    }


def test_only_a_running_run_can_be_finished_or_failed(store: Store) -> None:
    run_id, _, _ = record_night(store, 1, [finding("AC-1")])
    with pytest.raises(StoreError, match=f"run {run_id} is succeeded; only a running run can be finished"):
        store.finish_run(run_id, findings=[])
    with pytest.raises(StoreError, match="only a running run can be marked failed"):
        store.fail_run(run_id, "too late")
    with pytest.raises(StoreError, match="there is no run 999"):
        store.finish_run(999, findings=[])
    with pytest.raises(StoreError, match="there is no run 999"):
        store.fail_run(999, "x")
    failed = store.begin_run(night(2))
    store.fail_run(failed, "boom")
    with pytest.raises(StoreError, match="is failed"):
        store.finish_run(failed, findings=[finding("AC-2")])
    assert store.finding(finding("AC-2").fingerprint) is None


def test_duplicate_fingerprints_are_refused_before_writing(store: Store) -> None:
    run_id = store.begin_run(night(1))
    twin = finding("AC-1")
    with pytest.raises(StoreError, match=f"two findings share the fingerprint {twin.fingerprint}"):
        store.finish_run(run_id, findings=[twin, twin.model_copy(update={"story": "again"})])
    assert store.open_findings() == []
    assert store.run(run_id).status == RunStatus.running


def test_finish_is_all_or_nothing(store: Store) -> None:
    record_night(store, 1, [finding("AC-1")])
    before = dump(store)
    run_id = store.begin_run(night(2))
    # The second health row for the same source breaks a unique constraint
    # after findings, history and snapshots were already written in the transaction.
    with pytest.raises(StoreError, match=f"finishing run {run_id} failed in the store"):
        store.finish_run(run_id, findings=[finding("AC-2")], health=healthy("crm", "crm"))
    after = dump(store, skip=("runs", "run_lock"))
    assert after == {name: rows for name, rows in before.items() if name not in ("runs", "run_lock")}
    assert store.run(run_id).status == RunStatus.running
    assert store.lock_holder().run_id == run_id  # type: ignore[union-attr]  # still its run
    store.fail_run(run_id, "store write failed")
    assert store.run(run_id).status == RunStatus.failed


def test_names_longer_than_the_store_keeps_are_refused(store: Store) -> None:
    run_id = store.begin_run(night(1))
    with pytest.raises(StoreError, match="owner 'xxxx.*is 250 characters; the store keeps at most 200"):
        store.finish_run(run_id, findings=[finding("AC-1", owner="x" * 250)])
    with pytest.raises(StoreError, match="source name"):
        store.finish_run(run_id, findings=[], health=healthy("s" * 201))


def test_open_findings_by_owner_and_severity(store: Store) -> None:
    record_night(
        store,
        1,
        [
            finding("AC-1", severity="critical"),
            finding("AC-2", severity="low"),
            finding("AC-3", severity="medium", owner="service"),
            finding("AC-4", severity="info", owner="service"),
        ],
    )
    keys = lambda items: sorted(f.subject.key for f in items)  # noqa: E731
    assert keys(store.open_findings()) == ["AC-1", "AC-2", "AC-3", "AC-4"]
    assert keys(store.open_findings(owner="service")) == ["AC-3", "AC-4"]
    assert keys(store.open_findings(min_severity=Severity.medium)) == ["AC-1", "AC-3"]
    assert keys(store.open_findings(owner="billing", min_severity="low")) == ["AC-1", "AC-2"]
    assert store.open_findings(owner="nobody") == []


def test_runs_are_listed_oldest_first(store: Store) -> None:
    assert store.runs() == []
    first, _, _ = record_night(store, 1, [finding("AC-1")], timings={"extract": 1.5}, entities=7, links=3)
    second = store.begin_run(night(2), config_digest="other")
    runs = store.runs()
    assert [(r.id, r.status, r.as_of, r.config_digest) for r in runs] == [
        (first, RunStatus.succeeded, night(1), "cfg"),
        (second, RunStatus.running, night(2), "other"),
    ]
    assert first < second
    assert runs[0].timings == {"extract": 1.5}
    assert runs[0].counts["entities"] == 7 and runs[0].counts["links"] == 3
    assert runs[0].started_at <= runs[0].finished_at  # type: ignore[operator]
    assert runs[1].finished_at is None and runs[1].error is None
    assert [r.id for r in store.runs(limit=1)] == [second]
    assert store.run(first) == runs[0]
