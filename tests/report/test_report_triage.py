"""Suppressed and unverified findings, and customer stories, in every report format."""

from __future__ import annotations

import csv
import datetime as dt
import io
import xml.etree.ElementTree as ET

from report_factories import AS_OF, make_finding, make_result
from rich.console import Console

from reconcile.findings import FindingStatus
from reconcile.report import (
    CSV_COLUMNS,
    ReportDocument,
    build_document,
    render_csv,
    render_html,
    render_junit,
    terminal_summary,
)
from reconcile.store import HistoryEntry, Suppression, TrackedFinding, Unverified
from reconcile.store._story import build_story

UNTIL = dt.datetime(2027, 1, 1, tzinfo=dt.UTC)


def _tracked(key: str, **flags: object) -> TrackedFinding:
    return TrackedFinding.model_validate({**make_finding(key).model_dump(exclude={"fingerprint"}), **flags})


def _result():  # type: ignore[no-untyped-def]
    hushed = _tracked("AC-1", suppression=Suppression(fingerprint="x", reason="bank fixes it", author="ann",
                                                      created_at=AS_OF, until=UNTIL))
    doubtful = _tracked("AC-2", unverified=Unverified(run_id=41, reason="source 'crm' was unhealthy in run 41",
                                                      since=AS_OF - dt.timedelta(days=1)))
    plain = make_finding("AC-3")
    return make_result(findings=[hushed, doubtful, plain]), hushed, doubtful


def test_json_flags_suppressed_and_unverified_findings() -> None:
    result, hushed, doubtful = _result()
    document = ReportDocument.model_validate_json(build_document(result).model_dump_json())
    entries = {f.subject.key: f for f in document.findings}
    sup = entries["AC-1"].suppression
    assert sup is not None and (sup.reason, sup.author, sup.until) == ("bank fixes it", "ann", UNTIL)
    flag = entries["AC-2"].unverified
    assert flag is not None and flag.run_id == 41 and "crm" in flag.reason
    assert entries["AC-3"].suppression is None and entries["AC-3"].unverified is None
    assert document.summary.suppressed == 1
    assert document.summary.findings == 3  # a suppressed finding is still a finding


def test_csv_has_the_suppression_columns() -> None:
    result, _, _ = _result()
    rows = list(csv.DictReader(io.StringIO(render_csv(result))))
    assert CSV_COLUMNS[-2:] == ("suppressed", "suppression")
    by_key = {row["subject"].rsplit(":", 1)[1]: row for row in rows}
    assert by_key["AC-1"]["suppressed"] == "yes"
    assert by_key["AC-1"]["suppression"] == "by ann until 2027-01-01T00:00:00+00:00: bank fixes it"
    assert by_key["AC-3"]["suppressed"] == "" and by_key["AC-3"]["suppression"] == ""


def test_junit_shows_a_suppressed_finding_as_skipped() -> None:
    result, hushed, _ = _result()
    root = ET.fromstring(render_junit(result))
    suite = root.find("testsuite[@name='reconcile.findings']")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("3", "2", "1")
    assert root.get("skipped") == "1"
    (skipped,) = [c for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert "AC-1" in (skipped.get("name") or "")
    assert skipped.find("skipped").get("message") == "suppressed by ann until 2027-01-01T00:00:00+00:00: bank fixes it"  # type: ignore[union-attr]


def test_html_marks_the_flags_and_tells_customer_stories() -> None:
    result, hushed, doubtful = _result()
    history = [HistoryEntry(fingerprint=f.fingerprint, run_id=42, from_status=None, to_status=FindingStatus.new,
                            reason=f"first seen in run 42 ({f.subject.key})", at=AS_OF) for f in (hushed, doubtful)]
    story = build_story("E-1", [hushed, doubtful], history, {})
    html = render_html(result, stories=[story])
    assert '<article class="finding sev-high suppressed"' in html
    assert "Suppressed by ann until 2027-01-01 00:00 UTC: bank fixes it" in html
    assert "Not verified since 2026-10-31 06:00 UTC (run 41): source &#39;crm&#39; was unhealthy in run 41" in html
    assert '<div class="card"><b>1</b>suppressed</div>' in html
    assert '<section class="story" id="story-1">' in html and "Customer E-1" in html
    assert "first seen in run 42 (AC-1)" in html and "first seen in run 42 (AC-2)" in html
    assert html.count('href="#story-1"') == 0  # these findings' entity ids are E-AC-1 / E-AC-2, not E-1
    linked = build_story("E-AC-1", [hushed], history, {})
    assert 'href="#story-1">This customer\'s whole story' in render_html(result, stories=[linked])
    assert "Customer stories" not in render_html(result)


def test_terminal_counts_suppressed_findings() -> None:
    result, _, _ = _result()
    console = Console(file=io.StringIO(), width=200)
    terminal_summary(result, console=console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "1 suppressed" in text
    assert "[suppressed by ann: bank fixes it]" in text
