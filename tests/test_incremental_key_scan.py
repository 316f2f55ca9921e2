"""A key-scan night's merge: apply_snapshots deletes what a plain set computation says is gone.

``gone`` is the soft-deleted keys, the snapshot's keys the scan did not find
and the changed keys it did not find; the snapshot's records with those keys
are deleted (found once, in Arrow, for the merge and the delta). The merged
frame, its delta and the keys it deleted must be what the reference merge
(frames concatenated) gives for that set.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.extract.base import ExtractResult
from reconcile.incremental import ScannedKeys, _merge_frames, apply_snapshots
from reconcile.results import SourceHealth
from reconcile.store._snapshots import SnapshotLayout, frame_from_values

KEYS = [f"P{i}" for i in range(10)] + ["p1", "P1 ", "\x00"]
AT = dt.datetime(2026, 1, 2, 6, tzinfo=dt.UTC)


def _payments(keys: list[str], status: str) -> list[dict[str, Any]]:
    return [{"payment_id": key, "account_id": "A1", "amount": 1.0, "attempted_at": AT, "status": status} for key in keys]


class _Store:
    def __init__(self, snapshot: pd.DataFrame) -> None:
        self.snapshot = snapshot

    def read_snapshot(self, source: str, record_type: str, derived_tag: str | None = None) -> tuple[pd.DataFrame, Any]:
        return self.snapshot.copy(), SnapshotLayout()


@settings(max_examples=200, deadline=None)
@given(
    snap_keys=st.lists(st.sampled_from(KEYS), unique=True, max_size=10),
    changed_keys=st.lists(st.sampled_from(KEYS), unique=True, max_size=5),
    deleted=st.sets(st.sampled_from(KEYS), max_size=3),
    scanned=st.none() | st.sets(st.sampled_from(KEYS)),
    arrow=st.booleans(),
)
def test_a_key_scan_deletes_the_keys_it_did_not_find(
    snap_keys: list[str], changed_keys: list[str], deleted: set[str], scanned: set[str] | None, arrow: bool
) -> None:
    import pyarrow as pa

    snapshot = frame_from_values("payment", {k: [r[k] for r in _payments(snap_keys, "old")] for k in _payments([""], "")[0]})
    result = ExtractResult("billing", health=SourceHealth(source="billing"))
    result.records["payment"] = _payments(changed_keys, "new")
    result.deleted["payment"] = set(deleted)
    if scanned is not None:
        keys = ScannedKeys()
        if arrow:
            keys.update_arrow(pa.array(sorted(scanned), type=pa.string()))
        else:
            keys.update(sorted(scanned))
        result.scanned_keys["payment"] = keys
    config = SimpleNamespace(sources={"billing": SimpleNamespace(streams={"payment": SimpleNamespace(cursor=object())})})
    changed = result.frame("payment")  # apply_snapshots lets the extract's rows go
    changes = apply_snapshots([result], config, _Store(snapshot), {"billing": {"payment": AT}})  # type: ignore[arg-type]

    gone = set(deleted)
    if scanned is not None:
        gone |= (set(snap_keys) | set(changed_keys)) - scanned
    expected = _merge_frames(
        "payment", snapshot, snapshot["payment_id"].astype(str), changed, changed["payment_id"].astype(str), gone
    )
    merged = changes.frames[("billing", "payment")]
    pd.testing.assert_frame_equal(merged, expected)
    delta = changes.deltas.get(("billing", "payment"))
    if delta is not None:
        assert list(delta.gone) == [key for key in snap_keys if key in gone]
        assert merged["payment_id"].take(delta.positions).tolist() == [k for k in changed_keys if k not in gone]
