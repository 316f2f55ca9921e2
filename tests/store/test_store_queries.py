"""Open findings by owner, severity, kind and age."""

from __future__ import annotations

import datetime as dt

from store_factories import finding, night, record_night

from reconcile.store import Store


def test_open_findings_by_owner_severity_kind_and_age(store: Store) -> None:
    record_night(store, 1, [finding("AC-1", severity="high"), finding("AC-2", severity="low")])
    record_night(store, 5, [
        finding("AC-1", severity="high"), finding("AC-2", severity="low"),
        finding("LN-1", kind="duplicate_active_line", owner="service", severity="critical"),
    ])
    keys = lambda found: sorted(f.subject.key for f in found)  # noqa: E731
    assert keys(store.open_findings()) == ["AC-1", "AC-2", "LN-1"]
    assert keys(store.open_findings(owner="service")) == ["LN-1"]
    assert keys(store.open_findings(min_severity="high")) == ["AC-1", "LN-1"]
    assert keys(store.open_findings(kind="duplicate_active_line")) == ["LN-1"]
    # Night 1 is four days before night 5: age counts from first seen.
    assert keys(store.open_findings(older_than=dt.timedelta(days=3), as_of=night(5))) == ["AC-1", "AC-2"]
    assert keys(store.open_findings(older_than=dt.timedelta(days=5), as_of=night(5))) == []
    assert keys(store.open_findings(older_than=dt.timedelta(days=3), as_of=night(5), min_severity="high")) == ["AC-1"]
