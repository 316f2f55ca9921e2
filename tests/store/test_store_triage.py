"""Suppressions and unverified findings: flags that never change a finding's lifecycle."""

from __future__ import annotations

import datetime as dt

import pytest
from store_factories import dump, finding, healthy, night, record_night, unhealthy

from reconcile.errors import StoreError
from reconcile.findings import Finding, FindingStatus, RecordRef
from reconcile.results import SourceHealth
from reconcile.store import Store, is_suppressed

S = FindingStatus
FAR = dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


def _crm_only(key: str) -> Finding:
    """A finding whose records all come from the CRM."""
    return Finding(
        rule_id="name-mismatch", kind="name_mismatch", severity="medium", owner="crm team",
        entity_id=f"E-{key}",
        subject=RecordRef(source="crm", record_type="contact", key=key, fields={"name": "Ann"}),
        story=f"Contact {key} has two spellings.",
    )


# ---------------------------------------------------------------- suppressions


def test_a_suppressed_finding_keeps_its_lifecycle_and_is_flagged(store: Store) -> None:
    a, b = finding("AC-1"), finding("AC-2")
    record_night(store, 1, [a, b])
    sup = store.suppress(a.fingerprint, "the bank retries on its own", "ann", until=FAR)
    assert (sup.author, sup.reason, sup.until) == ("ann", "the bank retries on its own", FAR)
    run_id, seen, _ = record_night(store, 2, [a, b])
    flagged = {f.fingerprint: f for f in seen}
    assert flagged[a.fingerprint].status == S.open and is_suppressed(flagged[a.fingerprint])
    assert flagged[a.fingerprint].suppression == sup
    assert not is_suppressed(flagged[b.fingerprint])
    assert store.run(run_id).counts["suppressed"] == 1
    # The stored run remembers it as suppressed; so does the latest state.
    again = {f.fingerprint: f for f in store.run_result(run_id).findings}
    assert again[a.fingerprint].suppression == sup
    assert store.finding(a.fingerprint).suppression == sup  # type: ignore[union-attr]
    # Lifecycle unchanged: it resolves and reopens like any other finding.
    _, _, resolved = record_night(store, 3, [b])
    assert [f.fingerprint for f in resolved] == [a.fingerprint]
    _, seen, _ = record_night(store, 4, [a, b])
    back = {f.fingerprint: f for f in seen}[a.fingerprint]
    assert back.status == S.reopened and back.suppression == sup


def test_a_suppression_lapses_at_its_end(store: Store) -> None:
    """A run whose as-of time is before `until` applies it; one at or after it does not."""
    a = finding("AC-1")
    record_night(store, 1, [a])
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    store.suppress(a.fingerprint, "waiting for the migration", "bob", until=until)
    for as_of, applies in ((until - dt.timedelta(hours=1), True), (until, False), (until + dt.timedelta(days=1), False)):
        run_id = store.begin_run(as_of)
        (seen,), _ = store.finish_run(run_id, findings=[a], health=healthy())
        assert (seen.suppression is not None) is applies, as_of  # type: ignore[attr-defined]
        assert seen.status == S.open
        assert store.run(run_id).counts["suppressed"] == int(applies)
    # Still listed (it lapses by the runs' as-of time; by the wall clock it is in force).
    assert [x.fingerprint for x in store.suppressions(include_lapsed=False)] == [a.fingerprint]


def test_a_date_means_through_that_day(store: Store) -> None:
    a = finding("AC-1")
    record_night(store, 1, [a])
    sup = store.suppress(a.fingerprint, "holiday", "ann", until=dt.date(2098, 12, 31))
    assert sup.until == dt.datetime(2099, 1, 1, tzinfo=dt.UTC)


def test_unsuppress_and_listing(store: Store) -> None:
    a, b = finding("AC-1"), finding("AC-2")
    record_night(store, 1, [a, b])
    store.suppress(a.fingerprint, "first", "ann")
    store.suppress(b.fingerprint, "second", "bob", until=FAR)
    store.suppress(a.fingerprint, "replaced", "carl")  # a new decision replaces the old
    listed = store.suppressions()
    assert {x.fingerprint: (x.author, x.reason) for x in listed} == {
        a.fingerprint: ("carl", "replaced"), b.fingerprint: ("bob", "second"),
    }
    assert store.unsuppress(a.fingerprint) is True
    assert store.unsuppress(a.fingerprint) is False
    assert [x.fingerprint for x in store.suppressions(include_lapsed=False)] == [b.fingerprint]
    _, seen, _ = record_night(store, 2, [a, b])
    assert {f.fingerprint: f.suppressed for f in seen} == {a.fingerprint: False, b.fingerprint: True}  # type: ignore[attr-defined]


def test_suppressing_needs_a_known_finding_a_reason_an_author_and_a_future(store: Store) -> None:
    a = finding("AC-1")
    record_night(store, 1, [a])
    with pytest.raises(StoreError, match="has no finding 'nope'; copy the fingerprint from a report"):
        store.suppress("nope", "typo", "ann")
    with pytest.raises(StoreError, match="needs a reason"):
        store.suppress(a.fingerprint, "  ", "ann")
    with pytest.raises(StoreError, match="needs an author"):
        store.suppress(a.fingerprint, "why", "")
    with pytest.raises(StoreError, match="already past"):
        store.suppress(a.fingerprint, "why", "ann", until=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(StoreError, match="author 'xxx"):
        store.suppress(a.fingerprint, "why", "x" * 300)
    assert store.suppressions() == []


# ---------------------------------------------------------------- unverified


def test_a_failed_run_marks_findings_of_the_unhealthy_source_unverified(store: Store) -> None:
    billing, crm = finding("AC-1"), _crm_only("C-9")  # AC-1 has a CRM record too
    only_billing = finding("AC-2").model_copy(update={"records": []})
    record_night(store, 1, [billing, crm, only_billing])
    before = dump(store, skip=("runs", "run_lock", "unverified", "source_health"))
    failed = store.begin_run(night(2))
    health = [SourceHealth(source="crm", healthy=False, error="source 'crm': connection refused"),
              *healthy("billing")]
    assert store.fail_run(failed, "source 'crm' unhealthy", health=health) == 2
    # No status, history, finding or state changed; only the flags, the run and its health.
    assert dump(store, skip=("runs", "run_lock", "unverified", "source_health")) == before
    flags = {f.fingerprint: f.unverified for f in store.open_findings()}
    assert flags[only_billing.fingerprint] is None
    for fp in (billing.fingerprint, crm.fingerprint):
        flag = flags[fp]
        assert flag is not None and flag.run_id == failed and flag.since == night(2)
        assert flag.reason == f"source 'crm' was unhealthy in run {failed}: source 'crm': connection refused"
    assert {f.status for f in store.open_findings()} == {S.new}
    assert store.run(failed).counts["unverified"] == 2
    failed_result = store.run_result(failed)
    assert failed_result.status == "failed" and failed_result.findings == []
    assert [(h.source, h.healthy) for h in failed_result.health] == [("crm", False), ("billing", True)]
    assert store.overview().unverified == 2

    # Another failed night: the flag keeps its start, names the latest run.
    again = store.begin_run(night(3))
    store.fail_run(again, "still down", health=health)
    flag = store.finding(crm.fingerprint).unverified  # type: ignore[union-attr]
    assert flag is not None and flag.run_id == again and flag.since == night(2)

    # The next good run clears every flag; what it does not see is resolved as usual.
    _, seen, resolved = record_night(store, 4, [billing])
    assert [f.unverified for f in seen] == [None]
    assert {f.fingerprint for f in resolved} == {crm.fingerprint, only_billing.fingerprint}
    assert store.finding(crm.fingerprint).unverified is None  # type: ignore[union-attr]
    assert store.overview().unverified == 0


def test_a_run_failing_in_a_stage_verifies_nothing_away(store: Store) -> None:
    record_night(store, 1, [finding("AC-1")])
    failed = store.begin_run(night(2))
    assert store.fail_run(failed, "matching failed: MemoryError", health=healthy()) == 0
    assert [f.unverified for f in store.open_findings()] == [None]


def test_finishing_with_an_unhealthy_source_flags_what_it_could_not_see(store: Store) -> None:
    """The API lets a run finish with an unhealthy source: unseen findings of it are unverified, seen ones not."""
    a, crm = finding("AC-1"), _crm_only("C-9")
    record_night(store, 1, [a, crm])
    run_id, (seen,), resolved = record_night(store, 2, [a], health=unhealthy("crm", "billing"))
    assert resolved == [] and seen.unverified is None  # type: ignore[attr-defined]
    assert store.finding(crm.fingerprint).unverified.run_id == run_id  # type: ignore[union-attr]
    assert store.finding(a.fingerprint).unverified is None  # type: ignore[union-attr]
    assert store.run(run_id).counts["unverified"] == 1
