"""One customer's whole story: findings of every rule and run on one timeline, records per system."""

from __future__ import annotations

from store_factories import finding, healthy, night, record_night, unhealthy

from reconcile.findings import Finding, FindingStatus, RecordRef
from reconcile.model import record_model
from reconcile.store import StateChanges, Store
from reconcile.store._snapshots import frame_from_values


def _name_mismatch(key: str, entity: str) -> Finding:
    return Finding(
        rule_id="name-mismatch", kind="name_mismatch", severity="medium", owner="crm team", entity_id=entity,
        subject=RecordRef(source="crm", record_type="contact", key=f"C-{key}", fields={"name": "Zoë <b>Ng</b>"}),
        records=[
            RecordRef(source="crm", record_type="contact", key=f"C-{key}", fields={"name": "Zoë <b>Ng</b>"}),
            RecordRef(source="billing", record_type="account", key=key, fields={"holder": "ZOE NG"},
                      role="producer"),
        ],
        story=f"Billing prints 'ZOE NG' for CRM contact C-{key}.",
    )


def test_an_entitys_findings_history_and_records(store: Store) -> None:
    autopay = finding("AC-1")  # entity E-AC-1: billing account AC-1 and CRM contact C-AC-1
    names = _name_mismatch("AC-1", "E-AC-1")
    other = finding("AC-2")
    # Night 1: autopay only; the CRM stream is read incrementally, so its records are in the snapshot.
    contacts = frame_from_values("contact", {"contact_id": ["C-AC-1"], "name": ["Zoë <b>Ng</b>"],
                                             "email": ["zoe@example.com"]})
    record_night(store, 1, [autopay, other], state=StateChanges(frames={("crm", "contact"): contacts}))
    record_night(store, 2, [autopay, names, other])  # names is new
    record_night(store, 3, [names, other])  # autopay resolved
    store.suppress(names.fingerprint, "legal name differs on purpose", "ann")
    record_night(store, 4, [autopay, names, other])  # autopay reopened

    story = store.entity_story("E-AC-1")
    assert [f.kind for f in story.findings] == ["failed_autopay", "name_mismatch"]  # most severe first
    assert story.findings[0].status == FindingStatus.reopened
    assert story.findings[1].suppression is not None
    status_changes = [(e.run_id, e.kind, e.event) for e in story.timeline if e.event != "suppressed"]
    assert status_changes == [
        (1, "failed_autopay", "new"),
        (2, "failed_autopay", "open"),
        (2, "name_mismatch", "new"),
        (3, "name_mismatch", "open"),
        (3, "failed_autopay", "resolved"),
        (4, "failed_autopay", "reopened"),
    ]
    assert [e.at for e in story.timeline if e.event != "suppressed"] == sorted(
        e.at for e in story.timeline if e.event != "suppressed"
    )
    (suppressed,) = [e for e in story.timeline if e.event == "suppressed"]
    assert suppressed.run_id is None and "suppressed by ann: legal name differs on purpose" in suppressed.reason
    assert all(e.fingerprint != other.fingerprint for e in story.timeline)

    assert {name: [r.key for r in records] for name, records in story.systems.items()} == {
        "billing": ["AC-1"], "crm": ["C-AC-1"],
    }
    (contact,) = story.systems["crm"]
    assert contact.snapshot is not None  # the whole canonical record: every field, None where empty
    assert {k: v for k, v in contact.snapshot.items() if v is not None} == {
        "contact_id": "C-AC-1", "name": "Zoë <b>Ng</b>", "email": "zoe@example.com"}
    assert set(contact.snapshot) == set(record_model("contact").model_fields)
    assert contact.findings == [autopay.fingerprint, names.fingerprint]
    (account,) = story.systems["billing"]
    assert account.snapshot is None  # not read incrementally: only what the findings showed
    assert account.fields == {"autopay": True, "holder": "ZOE NG"}
    assert sorted(account.roles) == ["mandate", "producer"]

    # A record id finds the same customer; an unknown id finds nothing.
    assert store.entity_story("billing:account:AC-1").findings == story.findings
    assert not store.entity_story("E-nobody") and store.entity_story("E-nobody").records == []


def test_the_story_as_a_past_run_saw_it(store: Store) -> None:
    autopay = finding("AC-1")
    names = _name_mismatch("AC-1", "E-AC-1")
    record_night(store, 1, [autopay])
    record_night(store, 2, [autopay, names])
    record_night(store, 3, [names])
    then = store.entity_story("E-AC-1", up_to_run=1)
    assert [(f.kind, f.status) for f in then.findings] == [("failed_autopay", FindingStatus.new)]
    assert [(e.run_id, e.event) for e in then.timeline] == [(1, "new")]
    now = store.entity_story("E-AC-1")
    assert {f.kind: f.status for f in now.findings} == {
        "failed_autopay": FindingStatus.resolved, "name_mismatch": FindingStatus.open,
    }


def test_unverified_flags_are_on_the_timeline(store: Store) -> None:
    autopay = finding("AC-1")
    record_night(store, 1, [autopay])
    failed = store.begin_run(night(2))
    store.fail_run(failed, "crm down", health=unhealthy("crm", "billing"))
    story = store.entity_story("E-AC-1")
    assert [(e.run_id, e.event) for e in story.timeline] == [(1, "new"), (failed, "unverified")]
    assert "source 'crm' was unhealthy" in story.timeline[-1].reason


def test_stories_for_a_run_pick_customers_with_several_findings(store: Store) -> None:
    autopay, names, lone = finding("AC-1"), _name_mismatch("AC-1", "E-AC-1"), finding("AC-2")
    run_id, seen, _ = record_night(store, 1, [autopay, names, lone])
    result = store.run_result(run_id)
    stories = store.stories_for(result)
    assert [s.entity_id for s in stories] == ["E-AC-1"]
    assert len(stories[0].findings) == 2 and len(stories[0].timeline) == 2
    assert store.stories_for(result, min_findings=1, limit=5)[-1].entity_id == "E-AC-2"
    assert healthy()  # the factories' default health was used
