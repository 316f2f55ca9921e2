"""The JUnit XML report: CI systems show each finding as a failed test."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from reconcile.findings import Finding, Severity
from reconcile.report._document import sort_findings
from reconcile.results import RunResult, SourceHealth
from reconcile.store._json import utc_iso

__all__ = ["render_junit"]

# Characters XML 1.0 cannot hold at all; a value from a source may contain them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


def _finding_case(suite: ET.Element, finding: Finding) -> None:
    name = f"[{finding.severity.value}] {finding.rule_id}: {finding.subject.rid}"
    if finding.detail_key:
        name += f" ({finding.detail_key})"
    case = ET.SubElement(
        suite, "testcase", classname=_clean(f"reconcile.findings.{finding.owner}"), name=_clean(name), time="0"
    )
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
        # A suppressed finding is a decision, not a failure: CI shows it as skipped.
        until = f" until {utc_iso(sup.until)}" if sup.until is not None else ""
        skipped = ET.SubElement(case, "skipped", message=_clean(f"suppressed by {sup.author}{until}: {sup.reason}"))
        skipped.text = _clean("\n".join([finding.story, "", *lines]))
        return
    failure = ET.SubElement(
        case, "failure", message=_clean(finding.story), type=_clean(finding.severity.value)
    )
    failure.text = _clean("\n".join([finding.story, "", *lines]))


def _source_case(suite: ET.Element, health: SourceHealth) -> None:
    case = ET.SubElement(
        suite, "testcase", classname="reconcile.sources", name=_clean(health.source),
        time=f"{health.duration_s:.3f}",
    )
    if not health.healthy:
        failure = ET.SubElement(
            case, "failure", message=_clean(health.error or "unhealthy"), type="unhealthy"
        )
        failure.text = _clean(
            f"{health.error or 'unhealthy'}\nrows read {health.rows_read}, used {health.rows_used}, "
            f"quarantined {health.rows_quarantined}"
        )


def render_junit(result: RunResult, min_severity: Severity = Severity.low) -> bytes:
    """JUnit XML: a test per source (failed if unhealthy) and a failed test per
    finding at or above ``min_severity`` (a skipped one when the finding is suppressed)."""
    floor = Severity(min_severity)
    findings = sort_findings([f for f in result.findings if f.severity >= floor])
    root = ET.Element("testsuites", name="reconcile")
    sources = ET.SubElement(root, "testsuite", name="reconcile.sources")
    for health in result.health:
        _source_case(sources, health)
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
        _finding_case(checks, finding)

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
