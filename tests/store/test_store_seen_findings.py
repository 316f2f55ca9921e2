"""The findings a run returns are built without pydantic's loop, as model_construct builds them."""

from __future__ import annotations

import copy
import pickle

from store_factories import AS_OF, finding, night

from reconcile.findings import FindingStatus, SharedFieldsSet
from reconcile.store._store import _seen_finding
from reconcile.store._tracked import Suppression, TrackedFinding


def _constructed(f, status, first_seen, as_of, suppression):  # type: ignore[no-untyped-def]
    """The reference: what _seen_finding was."""
    return TrackedFinding.model_construct(
        rule_id=f.rule_id, kind=f.kind, severity=f.severity, owner=f.owner,
        entity_id=f.entity_id, subject=f.subject, records=f.records, story=f.story,
        confidence=f.confidence, detail=f.detail, detail_key=f.detail_key,
        status=status, first_seen=first_seen, last_seen=as_of, suppression=suppression, unverified=None,
    )


def test_a_seen_finding_is_what_model_construct_makes() -> None:
    sup = Suppression(fingerprint="f" * 24, reason="known", author="ops", created_at=AS_OF)
    for args in (
        (finding("AC-1"), FindingStatus.new, AS_OF, AS_OF, None),
        (finding("AC-2", detail_key="x"), FindingStatus.reopened, night(0), AS_OF, sup),
    ):
        fast, slow = _seen_finding(*args), _constructed(*args)
        assert type(fast) is TrackedFinding
        assert list(fast.__dict__.items()) == list(slow.__dict__.items())  # values and their order
        assert fast.model_fields_set == slow.model_fields_set == set(TrackedFinding.model_fields)
        assert fast.__pydantic_extra__ is None and slow.__pydantic_extra__ is None
        assert fast.__pydantic_private__ is None and slow.__pydantic_private__ is None
        assert fast == slow
        assert fast.fingerprint == args[0].fingerprint
        assert fast.model_dump() == slow.model_dump()
        assert fast.model_dump_json() == slow.model_dump_json()
        assert pickle.loads(pickle.dumps(fast)) == slow
        assert copy.deepcopy(fast) == slow


def test_seen_findings_share_a_fields_set_no_change_reaches_another() -> None:
    one = _seen_finding(finding("AC-1"), FindingStatus.new, AS_OF, AS_OF, None)
    two = _seen_finding(finding("AC-2"), FindingStatus.new, AS_OF, AS_OF, None)
    assert one.model_fields_set is two.model_fields_set
    assert type(one.model_fields_set) is SharedFieldsSet  # copied by a finding before it changes it
    one.story = "changed"
    assert one.story == "changed" and two.story != "changed"
    assert two.model_fields_set == set(TrackedFinding.model_fields)
    three = _seen_finding(finding("AC-3"), FindingStatus.new, AS_OF, AS_OF, None)
    assert three.model_fields_set == set(TrackedFinding.model_fields)
    copied = two.model_copy(update={"story": "other"})
    assert copied.story == "other" and two.story != "other"
    assert three.model_fields_set == set(TrackedFinding.model_fields)


def test_a_sqlite_store_gives_each_connection_a_large_page_cache(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reconcile.store import Store
    from reconcile.store._store import SQLITE_CACHE_KIB

    assert SQLITE_CACHE_KIB >= 64 * 1024
    store = Store(f"sqlite:///{tmp_path / 'reconcile.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()


def test_a_seen_finding_keeps_the_fingerprint_its_rules_finding_computed() -> None:
    from reconcile.findings import _cached_fingerprint

    found = finding("AC-1")
    unread = _seen_finding(found, FindingStatus.new, AS_OF, AS_OF, None)
    expected = found.fingerprint  # computed (and kept) by the rule's finding only now
    seen = _seen_finding(found, FindingStatus.new, AS_OF, AS_OF, None)
    assert _cached_fingerprint(seen) == _cached_fingerprint(found)  # kept: the report reads it without hashing
    assert seen.fingerprint is expected
    assert unread.fingerprint == expected  # nothing kept: computed when read


def test_finish_run_returns_findings_with_their_fingerprints_kept(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from reconcile.findings import _cached_fingerprint
    from reconcile.store import Store

    store = Store(f"sqlite:///{tmp_path / 'r.db'}")
    run_id = store.begin_run(AS_OF)
    seen, _ = store.finish_run(run_id, findings=[finding("AC-1"), finding("AC-2", detail_key="x")])
    for made in seen:
        kept = _cached_fingerprint(made)
        assert kept[3] == made.fingerprint == made.model_copy().fingerprint
    store.close()
