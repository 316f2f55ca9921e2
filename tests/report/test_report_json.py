"""The JSON report: a versioned document whose numbers and stories match the run."""

from __future__ import annotations

import datetime as dt
import decimal
import json
from pathlib import Path

from report_factories import AS_OF, HOSTILE, make_finding, make_result

from reconcile.findings import FindingStatus
from reconcile.report import SCHEMA_VERSION, ReportDocument, json_schema, write_reports

TOP_LEVEL = {"schema_version", "generator", "run", "summary", "health", "findings", "resolved", "quarantine"}


def _load(tmp_path: Path, result=None) -> dict:  # type: ignore[no-untyped-def,type-arg]
    paths = write_reports(result or make_result(), tmp_path, formats=["json"])
    return json.loads(paths["json"].read_text(encoding="utf-8"))


def test_document_has_the_versioned_shape_and_validates(tmp_path: Path) -> None:
    doc = _load(tmp_path)
    assert doc["schema_version"] == SCHEMA_VERSION == 1
    assert set(doc) == TOP_LEVEL
    assert doc["generator"].startswith("reconcile ")
    ReportDocument.model_validate(doc)  # every field, type and bound of version 1
    assert doc["run"] == {
        "id": 42,
        "status": "succeeded",
        "as_of": "2026-11-01T06:00:00Z",
        "started_at": "2026-11-01T06:01:00Z",
        "finished_at": "2026-11-01T06:03:00Z",
        "healthy": True,
        "entities": 350,
        "links": 120,
        "timings": {"extract": 1.75, "match": 0.5},
    }


def test_summary_counts_match_the_run(tmp_path: Path) -> None:
    summary = _load(tmp_path)["summary"]
    assert summary["findings"] == 6
    assert summary["resolved"] == 1
    assert summary["quarantined"] == 2
    assert list(summary["by_severity"].items()) == [
        ("critical", 1), ("high", 2), ("medium", 1), ("low", 1), ("info", 1),
    ]
    assert summary["by_status"] == {"new": 3, "open": 2, "reopened": 1}
    assert summary["by_owner"] == {"billing": 3, "service": 2, "dealer service": 1}
    assert summary["by_kind"]["failed_autopay"] == 3
    assert sum(summary["by_rule"].values()) == 6


def test_findings_carry_their_story_records_and_lifecycle(tmp_path: Path) -> None:
    result = make_result()
    doc = _load(tmp_path, result)
    assert [f["severity"] for f in doc["findings"]] == ["critical", "high", "high", "medium", "low", "info"]
    assert {f["story"] for f in doc["findings"]} == {f.story for f in result.findings}
    by_key = {f["subject"]["key"]: f for f in doc["findings"]}
    ac2 = by_key["AC-2"]
    original = next(f for f in result.findings if f.subject.key == "AC-2")
    assert ac2["fingerprint"] == original.fingerprint
    assert (ac2["status"], ac2["age_days"], ac2["first_seen"]) == ("open", 12, "2026-10-20T06:00:00Z")
    assert ac2["subject"]["rid"] == "billing:account:AC-2"
    assert [(r["source"], r["role"]) for r in ac2["records"]] == [
        ("billing", "mandate"), ("crm", None), ("payments", "attempt"),
    ]
    assert ac2["records"][1]["fields"] == {"name": "Robert Smith", "phone": "+15551234567"}
    assert [f["subject"]["key"] for f in doc["resolved"]] == ["AC-0"]
    assert doc["resolved"][0]["status"] == "resolved"
    assert [(q["row"], q["reason"]) for q in doc["quarantine"]] == [
        ("line 17", "not a date: 'soon'"), ("INV-9", "not a number: 'n/a'"),
    ]
    assert [h["source"] for h in doc["health"]] == ["billing", "crm"]


def test_values_are_plain_json_and_hostile_text_survives(tmp_path: Path) -> None:
    odd = make_finding("AC-9", story=HOSTILE, name=HOSTILE, detail={
        "when": dt.datetime(2026, 10, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "amount": decimal.Decimal("12.50"),
        "ratio": float("nan"),
    })
    doc = _load(tmp_path, make_result(findings=[odd], resolved=[]))
    (entry,) = doc["findings"]
    assert entry["story"] == HOSTILE
    assert entry["records"][1]["fields"]["name"] == HOSTILE
    assert entry["detail"] == {"when": "2026-10-01T10:00:00+00:00", "amount": 12.5, "ratio": None}


def test_a_run_without_a_store_counts_findings_as_untracked(tmp_path: Path) -> None:
    untracked = [make_finding("AC-1", status=None), make_finding("AC-2", status=None)]
    doc = _load(tmp_path, make_result(run_id=None, findings=untracked, resolved=[]))
    assert doc["run"]["id"] is None
    assert doc["summary"]["by_status"] == {"new": 0, "open": 0, "reopened": 0, "untracked": 2}
    assert {f["status"] for f in doc["findings"]} == {None}
    assert {f["age_days"] for f in doc["findings"]} == {None}


def test_json_schema_documents_version_1() -> None:
    schema = json_schema()
    assert schema["$id"].endswith("report-v1.json")
    assert set(schema["required"]) == TOP_LEVEL - {"schema_version"}
    assert schema["properties"]["schema_version"]["const"] == 1
    finding = schema["$defs"]["FindingEntry"]
    assert {"fingerprint", "story", "owner", "severity", "status", "records"} <= set(finding["required"])
    assert finding["additionalProperties"] is False
    assert "One sentence" in finding["properties"]["story"]["description"]


def test_statuses_from_a_real_lifecycle_are_reported(tmp_path: Path) -> None:
    reopened = make_finding("AC-1", status=FindingStatus.reopened, first_seen_days_ago=100)
    doc = _load(tmp_path, make_result(findings=[reopened], resolved=[], as_of=AS_OF))
    assert (doc["findings"][0]["status"], doc["findings"][0]["age_days"]) == ("reopened", 100)


def _tracked_result():  # type: ignore[no-untyped-def]
    from reconcile.store import Suppression, TrackedFinding, Unverified

    base = make_finding("AC-7", detail={
        "when": dt.datetime(2026, 10, 1, 12, 30, 15, 250000, tzinfo=dt.UTC), "day": dt.date(2026, 9, 30),
        "amount": decimal.Decimal("12.50"), "ratio": float("nan"), "codes": {"R02", "R01"}, "pair": ("a", 1),
        "nested": {"deep": [1, 2.5e-07, None, True]}, "big": 10**20,
    })
    hushed = TrackedFinding.model_validate({
        **base.model_dump(exclude={"fingerprint"}),
        "suppression": Suppression(fingerprint="x", reason="bank fixes it", author="ann", created_at=AS_OF,
                                   until=AS_OF + dt.timedelta(days=30, microseconds=5)),
        "unverified": Unverified(run_id=41, reason="crm was down", since=AS_OF - dt.timedelta(days=1)),
    })
    return make_result(findings=[*make_result().findings, hushed])


def test_the_streamed_file_is_the_document_build_document_describes(tmp_path: Path) -> None:
    from reconcile.report import build_document

    for result in (make_result(), _tracked_result(), make_result(findings=[], resolved=[], quarantine=[]),
                   make_result(run_id=None, findings=[make_finding("AC-1", status=None)], resolved=[])):
        text = write_reports(result, tmp_path, formats=["json"])["json"].read_text(encoding="utf-8")
        assert json.loads(text) == json.loads(build_document(result).model_dump_json())
        assert ReportDocument.model_validate_json(text).summary.findings == len(result.findings)
        # One finding per line: the file can be read (and grepped) line by line.
        if result.findings:
            lines = text.splitlines()
            start = lines.index('"findings":[')
            assert all(line.startswith('{"fingerprint":') for line in lines[start + 1: start + 1 + len(result.findings)])
