"""Scoring findings against the demo truth: precision and recall per kind."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from reconcile.demo import KINDS, Score, generate, read_truth, score
from reconcile.findings import Finding, RecordRef, Severity

HEADER = ["kind", "source", "record_type", "key", "detail_key", "customer_id", "note"]


def _truth(tmp_path: Path, findings: list[list[str]], near: list[list[str]] | None = None) -> Path:
    for name, rows in (("findings.csv", findings), ("near_misses.csv", near or [])):
        with (tmp_path / name).open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(HEADER)
            writer.writerows(rows)
    return tmp_path


def _finding(kind: str, source: str, record_type: str, key: str) -> Finding:
    return Finding(
        rule_id=kind, kind=kind, severity=Severity.high, owner="billing",
        subject=RecordRef(source=source, record_type=record_type, key=key), story=f"{kind} on {key}",
    )


TRUTH = [
    ["failed_autopay", "billing", "account", "AC-1", "", "C1", "three failures"],
    ["failed_autopay", "billing", "account", "AC-2", "", "C2", "three failures"],
    ["monitoring_gap", "telemetry", "device_status", "HUB-1", "", "C3", "offline"],
    ["recall_missing_locally", "recalls", "recall_notice", "RN-1", "26V-112", "C4", "missing"],
]
NEAR = [["failed_autopay", "billing", "account", "AC-9", "", "C9", "autopay_recovered: retried"]]


def test_perfect_predictions(tmp_path: Path) -> None:
    truth = _truth(tmp_path, TRUTH, NEAR)
    predicted = [_finding(r[0], r[1], r[2], r[3]) for r in TRUTH]
    result = score(predicted + predicted[:1], truth)  # a duplicate counts once
    assert isinstance(result, Score)
    assert result.perfect
    for kind in KINDS:
        assert result.precision(kind) == 1.0
        assert result.recall(kind) == 1.0
    assert result.kinds["failed_autopay"].tp == 2
    assert result.precision() == result.recall() == 1.0


def test_partial_predictions(tmp_path: Path) -> None:
    truth = _truth(tmp_path, TRUTH, NEAR)
    predicted = [
        _finding("failed_autopay", "billing", "account", "AC-1"),
        _finding("failed_autopay", "billing", "account", "AC-9"),  # a near miss
        _finding("monitoring_gap", "telemetry", "device_status", "HUB-1"),
        _finding("monitoring_gap", "telemetry", "device_status", "HUB-2"),
        _finding("name_mismatch", "billing", "account", "AC-5"),
        # right record, wrong kind: a miss and a false alarm
        _finding("payment_misapplied", "recalls", "recall_notice", "RN-1"),
    ]
    result = score(predicted, truth)
    fa = result.kinds["failed_autopay"]
    assert (fa.tp, fa.fp, fa.fn) == (1, 1, 1)
    assert result.precision("failed_autopay") == 0.5
    assert result.recall("failed_autopay") == 0.5
    assert result.precision("monitoring_gap") == 0.5
    assert result.recall("monitoring_gap") == 1.0
    assert result.precision("name_mismatch") == 0.0
    assert result.recall("name_mismatch") == 1.0  # nothing expected
    assert result.recall("recall_missing_locally") == 0.0
    assert result.precision("recall_missing_locally") == 1.0  # nothing reported
    assert result.precision("billed_not_provisioned") == result.recall("billed_not_provisioned") == 1.0
    assert [str(i.key) for i in fa.false_negatives] == ["AC-2"]
    assert [i.key for i in result.near_miss_hits] == ["AC-9"]
    assert not result.perfect
    assert result.precision() == pytest.approx(2 / 6)
    assert result.recall() == pytest.approx(2 / 4)
    table = result.table()
    for kind in KINDS:
        assert kind in table
    assert "Expected but not reported (2)" in table
    assert "AC-2" in table and "RN-1" in table
    assert "Near misses reported as findings (1)" in table
    assert "[" not in table  # safe to print through rich markup


def test_mappings_as_in_the_json_report(tmp_path: Path) -> None:
    truth = _truth(tmp_path, TRUTH)
    reported = [
        {"kind": r[0], "subject": {"source": r[1], "record_type": r[2], "key": r[3]}, "story": "x"}
        for r in TRUTH
    ]
    assert score(reported, truth).perfect


def test_nothing_expected_nothing_reported(tmp_path: Path) -> None:
    result = score([], _truth(tmp_path, []))
    assert result.perfect
    assert all(result.precision(k) == 1.0 and result.recall(k) == 1.0 for k in KINDS)
    assert result.precision() == 1.0


def test_scoring_the_truth_of_a_world_is_perfect(tmp_path: Path) -> None:
    world = generate(tmp_path, size=200, seed=4)
    expected = read_truth(world.truth_dir / "findings.csv")
    predicted = [_finding(t.kind, t.source, t.record_type, t.key) for t in expected]
    assert score(predicted, world.truth_dir).perfect
    dropped = score(predicted[1:], world.truth_dir)
    kind = expected[0].kind
    total = world.findings[kind]
    assert dropped.recall(kind) == pytest.approx((total - 1) / total)
    assert str(dropped.kinds[kind].false_negatives[0]).startswith(f"{kind} {expected[0].source}:")
