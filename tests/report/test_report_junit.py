"""The JUnit XML report: a failed test per finding at or above a severity, for CI."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_factories import AS_OF, HOSTILE, make_finding, make_result

from reconcile.findings import FindingStatus, RecordRef, Severity
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


# ---------------------------------------------------------------- the text is what ElementTree wrote


def _reference_junit(result, min_severity=Severity.low):  # type: ignore[no-untyped-def]
    """render_junit as it was: an ElementTree built, indented and serialised (the bytes to match)."""
    from reconcile.report._document import sort_findings
    from reconcile.report._junit import _clean
    from reconcile.store._json import utc_iso

    def finding_case(suite, finding):  # type: ignore[no-untyped-def]
        name = f"[{finding.severity.value}] {finding.rule_id}: {finding.subject.rid}"
        if finding.detail_key:
            name += f" ({finding.detail_key})"
        case = ET.SubElement(suite, "testcase", classname=_clean(f"reconcile.findings.{finding.owner}"),
                             name=_clean(name), time="0")
        lines = [
            f"status: {finding.status.value if finding.status else 'untracked'}",
            f"kind: {finding.kind}",
            f"owner: {finding.owner}",
            f"entity: {finding.entity_id or '-'} (match confidence {finding.confidence:.0%})",
        ]
        if finding.first_seen is not None:
            lines.append(f"first seen: {utc_iso(finding.first_seen)}")
        lines.append("records:")
        for record in finding.records:
            fields = ", ".join(f"{k}={v!r}" for k, v in record.fields.items())
            role = f" [{record.role}]" if record.role else ""
            lines.append(f"  {record.rid}{role}: {fields}")
        lines.append(f"fingerprint: {finding.fingerprint}")
        sup = getattr(finding, "suppression", None)
        if sup is not None:
            until = f" until {utc_iso(sup.until)}" if sup.until is not None else ""
            skipped = ET.SubElement(case, "skipped", message=_clean(f"suppressed by {sup.author}{until}: {sup.reason}"))
            skipped.text = _clean("\n".join([finding.story, "", *lines]))
            return
        failure = ET.SubElement(case, "failure", message=_clean(finding.story), type=_clean(finding.severity.value))
        failure.text = _clean("\n".join([finding.story, "", *lines]))

    def source_case(suite, health):  # type: ignore[no-untyped-def]
        case = ET.SubElement(suite, "testcase", classname="reconcile.sources", name=_clean(health.source),
                             time=f"{health.duration_s:.3f}")
        if not health.healthy:
            failure = ET.SubElement(case, "failure", message=_clean(health.error or "unhealthy"), type="unhealthy")
            failure.text = _clean(f"{health.error or 'unhealthy'}\nrows read {health.rows_read}, used "
                                  f"{health.rows_used}, quarantined {health.rows_quarantined}")

    floor = Severity(min_severity)
    findings = sort_findings([f for f in result.findings if f.severity >= floor])
    root = ET.Element("testsuites", name="reconcile")
    sources = ET.SubElement(root, "testsuite", name="reconcile.sources")
    for health in result.health:
        source_case(sources, health)
    checks = ET.SubElement(root, "testsuite", name="reconcile.findings")
    properties = ET.SubElement(checks, "properties")
    for name, value in (
        ("run_id", "" if result.run_id is None else str(result.run_id)),
        ("as_of", utc_iso(result.as_of)),
        ("min_severity", floor.value),
        ("findings_below_min_severity", str(len(result.findings) - len(findings))),
    ):
        ET.SubElement(properties, "property", name=name, value=value)
    for finding in findings:
        finding_case(checks, finding)
    total_tests = total_failures = total_skipped = 0
    for suite in (sources, checks):
        cases = suite.findall("testcase")
        failures = sum(1 for c in cases if c.find("failure") is not None)
        skipped = sum(1 for c in cases if c.find("skipped") is not None)
        suite.set("tests", str(len(cases)))
        suite.set("failures", str(failures))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        total_tests += len(cases)
        total_failures += failures
        total_skipped += skipped
    sources.set("time", f"{sum(h.duration_s for h in result.health):.3f}")
    checks.set("time", "0")
    root.set("tests", str(total_tests))
    root.set("failures", str(total_failures))
    root.set("errors", "0")
    root.set("skipped", str(total_skipped))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


_NASTY = st.text(alphabet=st.sampled_from([*"aZ0 -:;'", "&", "<", ">", '"', "\r", "\n", "\t", "\x00", "\x0b",
                                           "\ud800", "\ufffe", "é", "\U0001f600", "]"]), max_size=8)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts=st.lists(_NASTY, min_size=8, max_size=8),
    suppressed=st.booleans(),
    until=st.booleans(),
    healthy=st.lists(st.booleans(), max_size=3),
    status=st.sampled_from([None, *FindingStatus]),
    floor=st.sampled_from(list(Severity)),
    detail_key=_NASTY,
)
def test_the_xml_is_what_elementtree_wrote(  # type: ignore[no-untyped-def]
    texts, suppressed, until, healthy, status, floor, detail_key
) -> None:
    from reconcile.store._tracked import Suppression, TrackedFinding

    story, name, owner, key, role, reason, author, error = texts
    plain = make_finding(key or "AC-1", story=story or "s", name=name, owner=owner or "billing", status=status,
                         detail_key=detail_key)
    records = [RecordRef(source="crm", record_type="contact", key=key, fields={name: story, "n": 1.5}, role=role)]
    found = [plain, make_finding("AC-2", severity="low", status=status, records=records, entity_id=None),
             make_finding("AC-3", severity="info")]
    if suppressed:
        sup = Suppression(fingerprint=plain.fingerprint, reason=reason, author=author,
                          created_at=AS_OF, until=AS_OF + dt.timedelta(days=3) if until else None)
        found[0] = TrackedFinding.model_validate({**plain.model_dump(exclude={"fingerprint"}), "suppression": sup})
    health = [SourceHealth(source=f"s{i}{name}", healthy=ok, error=None if ok else error or None, rows_read=i,
                           duration_s=0.25 * i) for i, ok in enumerate(healthy)]
    result = make_result(findings=found, health=health, run_id=None if suppressed else 7)
    assert render_junit(result, floor) == _reference_junit(result, floor)


def test_the_xml_of_the_sample_run_is_what_elementtree_wrote() -> None:
    for floor in Severity:
        assert render_junit(make_result(), floor) == _reference_junit(make_result(), floor)
    assert render_junit(make_result(findings=[], health=[])) == _reference_junit(make_result(findings=[], health=[]))
