"""write_reports: formats, file names, errors, and reports of a stored run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_factories import make_finding, make_result

from reconcile.findings import FindingStatus
from reconcile.report import FORMATS, write_reports
from reconcile.results import SourceHealth
from reconcile.store import Store


def test_every_format_is_written_in_the_order_asked(tmp_path: Path) -> None:
    target = tmp_path / "reports" / "nightly"
    written = write_reports(make_result(), target, formats=("junit", "html", "csv", "json", "html"))
    assert list(written) == ["junit", "html", "csv", "json"]
    assert {fmt: p.name for fmt, p in written.items()} == {
        "junit": "run-42.junit.xml", "html": "run-42.html", "csv": "run-42.csv", "json": "run-42.json",
    }
    assert all(p.parent == target and p.stat().st_size > 0 for p in written.values())
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in written.values()), "no temp files left"


def test_default_formats_and_a_run_without_a_store(tmp_path: Path) -> None:
    written = write_reports(make_result(run_id=None), tmp_path)
    assert {fmt: p.name for fmt, p in written.items()} == {"json": "report.json", "html": "report.html"}


def test_an_unknown_format_names_the_allowed_ones_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown report format 'pdf'; allowed: csv, html, json, junit"):
        write_reports(make_result(), tmp_path / "out", formats=["json", "pdf"])
    with pytest.raises(ValueError, match=r"unknown report formats 'pdf', 'xlsx'"):
        write_reports(make_result(), tmp_path / "out", formats=["pdf", "xlsx"])
    assert not (tmp_path / "out").exists()
    assert set(FORMATS) == {"json", "csv", "html", "junit"}


def test_a_report_is_replaced_whole(tmp_path: Path) -> None:
    first = write_reports(make_result(), tmp_path, formats=["json"])["json"]
    write_reports(make_result(findings=[]), tmp_path, formats=["json"])
    assert json.loads(first.read_text())["summary"]["findings"] == 0


def test_a_stored_run_is_reported_again(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    result = make_result()
    run_id = store.begin_run(result.as_of, config_digest="cfg")
    plain = [f.model_copy(update={"status": None, "first_seen": None, "last_seen": None})
             for f in result.findings]
    store.finish_run(run_id, findings=plain, health=[SourceHealth(source="billing")],
                     quarantine=result.quarantine, entities=350, links=120)
    again = store.run_result(run_id)
    store.close()
    written = write_reports(again, tmp_path / "reports", formats=["json", "html"])
    doc = json.loads(written["json"].read_text())
    assert doc["run"]["id"] == run_id and doc["run"]["entities"] == 350
    assert doc["summary"]["findings"] == 6 and doc["summary"]["by_status"] == {"new": 6, "open": 0, "reopened": 0}
    assert doc["summary"]["quarantined"] == 2
    html = written["html"].read_text()
    assert all(f.story in html for f in result.findings)
    assert {f["status"] for f in doc["findings"]} == {FindingStatus.new.value}


def test_findings_with_the_same_story_are_still_separate(tmp_path: Path) -> None:
    twins = [make_finding("AC-1", story="same"), make_finding("AC-2", story="same")]
    doc = json.loads(write_reports(make_result(findings=twins), tmp_path, formats=["json"])["json"].read_text())
    assert len(doc["findings"]) == 2
