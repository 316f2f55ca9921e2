"""Nights on the demo world, with the store on every backend: exactly the expected new, open,
resolved, reopened and unverified findings.

- night 1: every finding is new;
- night 2: one monitoring hub is back online (its gap resolved) and another
  goes offline with nobody alerted (a new gap); the rest is open;
- night 3: the CRM export is missing: the run fails, nothing changes status,
  and the open findings with a CRM record are unverified;
- night 4: the CRM is back and the first hub goes offline again: its gap is
  reopened, every flag cleared.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from reconcile.config import load_config
from reconcile.demo import generate, write_config
from reconcile.errors import RunError
from reconcile.findings import Finding, FindingStatus
from reconcile.pipeline import run
from reconcile.store import Store

S = FindingStatus


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("nights")
    write_config(directory, generate(directory, size=150, seed=7))
    return directory


def _telemetry(world: Path) -> list[dict[str, str]]:
    with (world / "telemetry.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _set_device(world: Path, device: str, state: str, last_seen: str) -> None:
    rows = _telemetry(world)
    for row in rows:
        if row["device_id"] == device:
            row["state"], row["last_seen_utc"] = state, last_seen
    with (world / "telemetry.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _gaps(world: Path) -> list[str]:
    with (world / "truth" / "findings.csv").open(newline="", encoding="utf-8") as handle:
        return sorted(r["key"] for r in csv.DictReader(handle) if r["kind"] == "monitoring_gap")


def _quiet_hub(world: Path) -> str:
    """A monitoring hub that is up and was never alerted about."""
    alerted = (world / "alerts.csv").read_text(encoding="utf-8")
    return next(r["device_id"] for r in _telemetry(world)
                if r["device_id"].startswith("HUB-") and r["state"] == "UP" and r["device_id"] not in alerted)


def _by_status(findings: list[Finding]) -> dict[FindingStatus | None, set[str]]:
    out: dict[FindingStatus | None, set[str]] = {}
    for finding in findings:
        out.setdefault(finding.status, set()).add(finding.fingerprint)
    return out


def _gap_of(findings: list[Finding], device: str) -> str:
    (fp,) = [f.fingerprint for f in findings if f.kind == "monitoring_gap" and f.subject.key == device]
    return fp


def _from_crm(finding: Finding) -> bool:
    return "crm" in {r.source for r in (finding.subject, *finding.records)}


def test_four_nights(demo_world: Path, db_url: str, tmp_path: Path) -> None:
    world = tmp_path / "world"
    shutil.copytree(demo_world, world)
    path = world / "reconcile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["store"] = {"url": db_url}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(path)
    fixed, *_ = _gaps(world)
    broken = _quiet_hub(world)

    night1 = run(config, write_reports=False)
    all1 = {f.fingerprint for f in night1.findings}
    assert _by_status(night1.findings) == {S.new: all1}
    gap_fixed = _gap_of(night1.findings, fixed)

    _set_device(world, fixed, "UP", "2026-11-01T05:55:00Z")
    _set_device(world, broken, "DOWN", "2026-10-20T03:00:00Z")
    night2 = run(config, write_reports=False)
    gap_new = _gap_of(night2.findings, broken)
    assert _by_status(night2.findings) == {S.new: {gap_new}, S.open: all1 - {gap_fixed}}
    assert [f.fingerprint for f in night2.resolved] == [gap_fixed]
    all2 = {f.fingerprint for f in night2.findings}

    (world / "crm_contacts.jsonl").rename(world / "crm_contacts.jsonl.away")
    with pytest.raises(RunError, match="crm"):
        run(config, write_reports=False)
    with Store(db_url) as store:
        failed = store.runs()[-1]
        assert failed.status == "failed" and store.lock_holder() is None
        unresolved = store.open_findings()
        assert {f.fingerprint for f in unresolved} == all2
        assert _by_status(unresolved) == {S.new: {gap_new}, S.open: all1 - {gap_fixed}}  # unchanged
        flagged = {f.fingerprint for f in unresolved if f.unverified is not None}
        expected = {f.fingerprint for f in unresolved if _from_crm(f)}
        assert flagged == expected and 0 < len(flagged) < len(all2)
        assert all(f.unverified.run_id == failed.id for f in unresolved if f.unverified)  # type: ignore[union-attr]
        assert store.finding(gap_fixed).status == S.resolved  # type: ignore[union-attr]

    (world / "crm_contacts.jsonl.away").rename(world / "crm_contacts.jsonl")
    _set_device(world, fixed, "DOWN", "2026-10-21T03:00:00Z")
    night4 = run(config, write_reports=False)
    assert _by_status(night4.findings) == {S.reopened: {gap_fixed}, S.open: all2}
    assert night4.resolved == []
    with Store(db_url) as store:
        assert store.overview().unverified == 0
        history = [(h.run_id, h.to_status) for h in store.finding_history(gap_fixed)]
        assert history == [(1, S.new), (2, S.resolved), (4, S.reopened)]
