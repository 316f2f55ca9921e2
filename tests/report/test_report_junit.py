"""The JUnit XML report: a failed test per finding at or above a severity, for CI."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from report_factories import HOSTILE, make_finding, make_result

from reconcile.findings import Severity
from reconcile.report import render_junit, write_reports
from reconcile.results import SourceHealth


def _parse(data: bytes) -> ET.Element:
    return ET.fromstring(data)


def test_a_failed_testcase_per_finding_at_or_above_low(tmp_path: Path) -> None:
    result = make_result()
    path = write_reports(result, tmp_path, formats=["junit"])["junit"]
    assert path.name == "run-42.junit.xml"
    root = ET.parse(path).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "7", "5")
    findings = root.find("testsuite[@name='reconcile.findings']")
    assert findings is not None
    cases = findings.findall("testcase")
    expected = [f for f in result.findings if f.severity >= Severity.low]
    assert len(cases) == len(expected) == 5
    assert {c.find("failure").get("message") for c in cases} == {f.story for f in expected}  # type: ignore[union-attr]
    first = cases[0]
    assert first.get("name") == "[critical] failed-autopay: billing:account:AC-1"
    assert first.get("classname") == "reconcile.findings.billing"
    failure = first.find("failure")
    assert failure is not None and failure.get("type") == "critical"
    assert "crm:contact:C-AC-1: name='Robert Smith'" in (failure.text or "")
    props = {p.get("name"): p.get("value") for p in findings.iter("property")}
    assert props == {"run_id": "42", "as_of": "2026-11-01T06:00:00+00:00", "min_severity": "low",
                     "findings_below_min_severity": "1"}
    sources = root.find("testsuite[@name='reconcile.sources']")
    assert sources is not None
    assert [c.get("name") for c in sources.findall("testcase")] == ["billing", "crm"]
    assert all(c.find("failure") is None for c in sources.findall("testcase"))


def test_the_threshold_selects_findings() -> None:
    root = _parse(render_junit(make_result(), Severity.high))
    names = [c.get("name") for c in root.iter("testcase") if c.get("classname", "").startswith("reconcile.findings")]
    assert len(names) == 3 and all(n.startswith(("[critical]", "[high]")) for n in names)  # type: ignore[union-attr]
    root = _parse(render_junit(make_result(), Severity.info))
    assert root.get("failures") == "6"


def test_an_unhealthy_source_is_a_failed_test() -> None:
    health = [SourceHealth(source="crm", healthy=False, error="source 'crm': file missing", rows_read=0)]
    root = _parse(render_junit(make_result(findings=[], resolved=[], health=health)))
    (case,) = root.iter("testcase")
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "source 'crm': file missing"
    assert (root.get("tests"), root.get("failures")) == ("1", "1")


def test_hostile_and_unprintable_values_keep_the_xml_valid() -> None:
    story = f"{HOSTILE} & ]]> \x00\x1b[31m bell\x07"
    root = _parse(render_junit(make_result(findings=[make_finding("AC-1", story=story)])))
    failure = next(root.iter("failure"))
    assert failure.get("message") == f"{HOSTILE} & ]]> \ufffd\ufffd[31m bell\ufffd"
