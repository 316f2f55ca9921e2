"""Finding contents kept once per version: what each run saw comes back exactly, on every backend."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st
from store_factories import finding, healthy, night, record_night, unhealthy

from reconcile.findings import Finding, FindingStatus
from reconcile.results import SourceHealth
from reconcile.store import Store
from reconcile.store._schema import finding_versions, findings, run_findings

_LIFECYCLE = {"status", "first_seen", "last_seen", "suppression", "unverified"}


def _count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() or 0)


def _dumped(found: list[Finding]) -> list[dict[str, Any]]:
    return [f.model_dump(mode="json") for f in found]


def _version(key: str, v: int) -> Finding:
    return finding(key, story=f"Auto-pay on {key} failed {v + 2} times; nobody told the customer.",
                   detail={"failures": v + 2, "codes": ["R01"] * (v + 1)})


def test_an_unchanged_finding_adds_no_version_and_each_run_keeps_what_it_saw(store: Store) -> None:
    run1, seen1, _ = record_night(store, 1, [_version("AC-1", 0), _version("AC-2", 0)])
    assert _count(store, finding_versions) == 2
    run2, seen2, _ = record_night(store, 2, [_version("AC-1", 0), _version("AC-2", 1)])
    assert _count(store, finding_versions) == 3  # only AC-2's new content
    run3, seen3, _ = record_night(store, 3, [_version("AC-1", 0), _version("AC-2", 0)])
    assert _count(store, finding_versions) == 3  # AC-2 went back to its first content: kept already
    assert _count(store, run_findings) == 6

    for run_id, seen in ((run1, seen1), (run2, seen2), (run3, seen3)):
        assert _dumped(store.run_result(run_id).findings) == _dumped(seen)
    assert [f.story for f in store.run_result(run2).findings] == [
        "Auto-pay on AC-1 failed 2 times; nobody told the customer.",
        "Auto-pay on AC-2 failed 3 times; nobody told the customer.",
    ]
    # The findings table holds the latest content, and counts every sighting.
    latest = {f.subject.key: f for f in store.open_findings()}
    assert latest["AC-2"].story == _version("AC-2", 0).story and latest["AC-2"].detail["failures"] == 2
    with store.engine.connect() as conn:
        assert dict(conn.execute(sa.select(findings.c.fingerprint, findings.c.times_seen)).all()) == {
            finding("AC-1").fingerprint: 3, finding("AC-2").fingerprint: 3}


def test_the_returned_findings_equal_validated_ones(store: Store) -> None:
    """finish_run builds its results without re-validation: they must be what validation gives."""
    given_findings = [_version("AC-1", 0), finding("AC-2", severity="critical", owner="crm")]
    _, seen, _ = record_night(store, 1, given_findings)
    for original, returned in zip(given_findings, seen, strict=True):
        rebuilt = type(returned).model_validate(
            {**original.model_dump(exclude={"fingerprint", "status", "first_seen", "last_seen"}),
             "status": FindingStatus.new, "first_seen": night(1), "last_seen": night(1)}
        )
        assert returned == rebuilt
        assert returned.fingerprint == original.fingerprint


def test_a_resolved_finding_is_reported_again_as_the_run_resolved_it(store: Store) -> None:
    record_night(store, 1, [_version("AC-1", 0), _version("AC-2", 0)])
    record_night(store, 2, [_version("AC-1", 0), _version("AC-2", 1)])
    run3, _, resolved = record_night(store, 3, [_version("AC-1", 0)])
    (gone,) = resolved
    assert gone.status == FindingStatus.resolved and gone.story == _version("AC-2", 1).story
    again = store.run_result(run3)
    assert _dumped(again.resolved) == _dumped(resolved)
    assert again.resolved[0].first_seen == night(1) and again.resolved[0].last_seen == night(2)
    assert _count(store, finding_versions) == 3  # resolving writes no new version


def test_an_unhealthy_run_keeps_unseen_findings_untouched(store: Store) -> None:
    """Sightings are written one by one when a source is unhealthy (unseen findings stay as they were)."""
    record_night(store, 1, [_version("AC-1", 0), _version("AC-2", 0)])
    run2, seen, resolved = record_night(store, 2, [_version("AC-1", 0)], health=unhealthy("crm"))
    assert [f.status for f in seen] == [FindingStatus.open] and resolved == []
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(findings.c.fingerprint, findings.c.last_run_id)).all())
    assert rows == {finding("AC-1").fingerprint: run2, finding("AC-2").fingerprint: 1}
    statuses = {f.subject.key: f.status for f in store.open_findings()}
    assert statuses == {"AC-1": FindingStatus.open, "AC-2": FindingStatus.new}


def test_rows_skipped_is_kept_with_the_run(store: Store) -> None:
    health = [SourceHealth(source="crm", rows_read=3, rows_used=3, rows_skipped=40, streams={"case": 43}),
              *healthy("billing")]
    run_id, _, _ = record_night(store, 1, [finding("AC-1")], health=health)
    again = store.run_result(run_id)
    assert [(h.source, h.rows_skipped) for h in again.health] == [("crm", 40), ("billing", 0)]
    assert store.last_good_health("crm") == health[0]

    failed = store.begin_run(night(2))
    store.fail_run(failed, "crm timed out", health=[health[0].model_copy(update={"rows_skipped": 7})])
    assert store.run_result(failed).health[0].rows_skipped == 7


# Nights of random findings whose content changes at random: every run comes back as it was.
_nights = st.lists(
    st.tuples(
        st.dictionaries(st.sampled_from([f"AC-{i}" for i in range(5)]), st.integers(0, 2)),
        st.booleans(),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=40, deadline=None)
@given(_nights)
def test_every_run_is_reported_again_as_it_was(sequence: list[tuple[dict[str, int], bool]]) -> None:
    with Store("sqlite://") as store:
        returned: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        contents: set[tuple[str, int]] = set()
        for n, (versions, all_healthy) in enumerate(sequence, start=1):
            found = [_version(key, v) for key, v in sorted(versions.items())]
            run_id, seen, resolved = record_night(
                store, n, found, health=healthy() if all_healthy else unhealthy("crm")
            )
            returned[run_id] = (_dumped(seen), _dumped(resolved))
            contents.update(versions.items())
        for run_id, (seen_dump, resolved_dump) in returned.items():
            again = store.run_result(run_id)
            assert (_dumped(again.findings), _dumped(again.resolved)) == (seen_dump, resolved_dump)
        assert _count(store, finding_versions) == len(contents)
