"""Finding fingerprints: the fast path gives json.dumps' text, and a finding keeps its fingerprint while it stays."""

from __future__ import annotations

import copy
import hashlib
import json
import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.findings import Finding, RecordRef, Severity, fingerprint


def _reference(rule_id: str, subject: RecordRef, detail_key: str = "") -> str:
    """The fingerprint as it was always computed (the JSON module's text of the five parts)."""
    payload = json.dumps([rule_id, subject.source, subject.record_type, subject.key, detail_key], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def _finding(key: str = "AC-1", **changes: object) -> Finding:
    values: dict[str, object] = {
        "rule_id": "failed-autopay", "kind": "failed_autopay", "severity": Severity.high, "owner": "billing",
        "subject": RecordRef(source="billing", record_type="account", key=key), "story": "s",
    }
    return Finding.model_validate(values | changes)


# Printable ASCII (the fast path), quotes, backslashes, control characters, DEL and beyond ASCII.
_TEXT = st.text(alphabet=st.sampled_from([*"abAZ09-_ :/{}[],", '"', "\\", "\x00", "\n", "\x1f", "\x7f", "é", "€",
                                          "\u2028", "\U0001f600"]), max_size=12)


@settings(max_examples=500, deadline=None)
@given(rule_id=_TEXT, source=_TEXT, record_type=_TEXT, key=_TEXT, detail_key=_TEXT)
def test_fingerprint_is_the_json_modules_text_hashed(
    rule_id: str, source: str, record_type: str, key: str, detail_key: str
) -> None:
    subject = RecordRef(source=source, record_type=record_type, key=key)
    assert fingerprint(rule_id, subject, detail_key) == _reference(rule_id, subject, detail_key)


def test_fingerprint_of_examples_at_the_edges_of_the_fast_path() -> None:
    for key in ("AC-1", 'A"C', "A\\C", "A\x7fC", "A\tC", "AÉC", "A C", "~", ""):
        subject = RecordRef(source="billing", record_type="account", key=key)
        assert fingerprint("rule", subject, key) == _reference("rule", subject, key), key


def test_fingerprint_of_text_subclasses_and_other_types_is_the_json_modules() -> None:
    subject = RecordRef.model_construct(source=Severity.high, record_type="account", key=12)  # type: ignore[arg-type]
    assert fingerprint("rule", subject) == _reference("rule", subject)
    subject = RecordRef(source="billing", record_type="account", key="AC-1")
    assert fingerprint("rule", subject, 7) == _reference("rule", subject, 7)  # type: ignore[arg-type]


def test_a_finding_computes_its_fingerprint_once_while_it_stays() -> None:
    found = _finding()
    first = found.fingerprint
    assert first == _reference("failed-autopay", found.subject)
    assert found.fingerprint is first  # kept, not computed again
    assert found.model_dump()["fingerprint"] == first


def test_the_fingerprint_follows_a_changed_rule_id_subject_or_detail_key() -> None:
    found = _finding()
    assert found.fingerprint == _reference("failed-autopay", found.subject)
    found.rule_id = "other-rule"
    assert found.fingerprint == _reference("other-rule", found.subject)
    found.subject = RecordRef(source="billing", record_type="account", key="AC-2")
    assert found.fingerprint == _reference("other-rule", found.subject)
    found.detail_key = "campaign-7"
    assert found.fingerprint == _reference("other-rule", found.subject, "campaign-7")
    assert found.model_copy(update={"detail_key": "x"}).fingerprint == _reference("other-rule", found.subject, "x")


def test_a_kept_fingerprint_is_no_field_and_changes_no_comparison_copy_or_pickle() -> None:
    found, twin = _finding(), _finding()
    assert found.fingerprint == twin.fingerprint
    fresh = _finding()
    assert found == fresh and fresh == found  # one has its fingerprint kept, the other not yet
    assert "_fingerprint_cache" not in vars(found)
    assert found.model_dump() == fresh.model_dump()
    for made in (pickle.loads(pickle.dumps(found)), copy.deepcopy(found), found.model_copy()):
        assert made == found
        assert made.fingerprint == found.fingerprint
