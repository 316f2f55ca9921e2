"""Incremental nights on the demo world give exactly the findings of a full run.

Each night 1% of every table and file changes, 0.1% is deleted and as much
added (reconcile.demo.change). The incremental run reads only the changed
rows and a key scan, merges them into the snapshots and reconciles; a full
refresh of a copy of the same world and store must find exactly the same
things, with the same statuses, subjects, records and details.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from reconcile.demo import change, generate, track_changes, write_config
from reconcile.demo._nights import CURSOR_COLUMN
from reconcile.findings import Finding
from reconcile.pipeline import run


def _world(directory: Path, size: int, seed: int) -> tuple[Path, dt.datetime]:
    world = generate(directory, size=size, seed=seed)
    track_changes(directory, world.as_of)
    return write_config(directory, world, incremental=True), world.as_of


def _comparable(findings: list[Finding]) -> dict[str, dict[str, Any]]:
    return {
        f.fingerprint: {
            "status": f.status,
            "kind": f.kind,
            "rule": f.rule_id,
            "severity": f.severity,
            "subject": f.subject.rid,
            "records": sorted(r.rid for r in f.records),
            "confidence": f.confidence,
            "detail": f.detail,
        }
        for f in findings
    }


@pytest.mark.parametrize("seed", [3])
def test_incremental_nights_equal_full_runs(tmp_path: Path, seed: int) -> None:
    directory = tmp_path / "world"
    config, as_of = _world(directory, size=250, seed=seed)
    first = run(config, write_reports=False)
    read_in_full = sum(h.rows_read for h in first.health)
    for night in (1, 2):
        changes = change(directory, at=as_of + dt.timedelta(hours=night), seed=seed * 10 + night)
        assert changes.total > 0
        # A full refresh on a copy of the world and its store, as of the same time.
        twin = tmp_path / f"full-{night}"
        shutil.copytree(directory, twin)
        when = as_of + dt.timedelta(days=night)
        incremental = run(config, write_reports=False, as_of=when)
        full = run(twin / "reconcile.yaml", write_reports=False, as_of=when, full_refresh=True)
        assert _comparable(incremental.findings) == _comparable(full.findings)
        assert {f.fingerprint for f in incremental.resolved} == {f.fingerprint for f in full.resolved}
        assert incremental.entities == full.entities
        # It was incremental: the cursor kept most rows from being read.
        changed_rows = sum(h.rows_read for h in incremental.health)
        assert changed_rows < read_in_full / 2
        assert sum(h.rows_read for h in full.health) >= read_in_full * 0.99


def test_track_changes_is_idempotent_and_spread(tmp_path: Path) -> None:
    world = generate(tmp_path, size=60, seed=5)
    track_changes(tmp_path, world.as_of)
    before = (tmp_path / "telemetry.csv").read_bytes()
    track_changes(tmp_path, world.as_of)
    assert (tmp_path / "telemetry.csv").read_bytes() == before
    with sqlite3.connect(tmp_path / "billing.db") as conn:
        stamps = [r[0] for r in conn.execute(f"SELECT {CURSOR_COLUMN} FROM accounts")]
    assert all(stamps)
    assert len(set(stamps)) == len(stamps)  # distinct: few rows share a cursor boundary
    limit = world.as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert max(stamps) < limit


def test_change_counts_what_it_did(tmp_path: Path) -> None:
    world = generate(tmp_path, size=200, seed=5)
    track_changes(tmp_path, world.as_of)
    with (tmp_path / "telemetry.csv").open(newline="", encoding="utf-8") as fh:
        before = list(csv.DictReader(fh))
    at = world.as_of + dt.timedelta(hours=2)
    night = change(tmp_path, at=at, fraction=0.05, delete_fraction=0.02, seed=9)
    with (tmp_path / "telemetry.csv").open(newline="", encoding="utf-8") as fh:
        after = list(csv.DictReader(fh))
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(after) == len(before)  # as many added as deleted
    touched = [r for r in after if r[CURSOR_COLUMN] == stamp]
    assert len(touched) <= night.changed["telemetry.csv"] + night.added["telemetry.csv"]
    assert night.added["telemetry.csv"] == night.deleted["telemetry.csv"] == max(1, round(len(before) * 0.02))
    gone = {r["device_id"] for r in before} - {r["device_id"] for r in after}
    assert len(gone) == night.deleted["telemetry.csv"]
    with sqlite3.connect(tmp_path / "billing.db") as conn:
        (count,) = conn.execute(f"SELECT count(*) FROM payments WHERE {CURSOR_COLUMN} = ?", (stamp,)).fetchone()
    assert 0 < count <= night.changed["billing.payments"] + night.added["billing.payments"]


def test_change_needs_change_tracking(tmp_path: Path) -> None:
    world = generate(tmp_path, size=60, seed=5)
    with pytest.raises(ValueError, match="track_changes"):
        change(tmp_path, at=world.as_of)
