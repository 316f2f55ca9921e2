"""The JUnit XML report: CI systems show each finding as a failed test."""

from __future__ import annotations

import re
from collections.abc import Sequence

from reconcile.findings import Finding, Severity
from reconcile.report._document import sort_findings
from reconcile.results import RunResult, SourceHealth
from reconcile.store._json import utc_iso

__all__ = ["render_junit"]

# Characters XML 1.0 cannot hold at all; a value from a source may contain them.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _clean(value: object) -> str:
    return _NOT_XML.sub("\ufffd", "" if value is None else str(value))


_plain = str.__str__  # a StrEnum member's value, as plain text (its ``.value`` is a slower descriptor)


#: What ElementTree replaces in text (``xml.etree.ElementTree._escape_cdata``), in its order.
_CDATA = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
#: What it replaces in an attribute value (``_escape_attrib``), in its order.
_ATTRIB = (*_CDATA, ('"', "&quot;"), ("\r", "&#13;"), ("\n", "&#10;"), ("\t", "&#09;"))


def _escaped(value: str, table: Sequence[tuple[str, str]]) -> str:
    for old, new in table:
        if old in value:  # most values hold none: a test is cheaper than a replace
            value = value.replace(old, new)
    return value


def _attr(value: str) -> str:
    """An attribute value as ElementTree writes it (``xml.etree.ElementTree._escape_attrib``)."""
    return _escaped(value, _ATTRIB)


def _cdata(value: str) -> str:
    """Text as ElementTree writes it (``xml.etree.ElementTree._escape_cdata``)."""
    return _escaped(value, _CDATA)


def _element(tag: str, attributes: Sequence[tuple[str, str]], indent: str, text: str | None = None) -> str:
    """A leaf element on its own line, as ``ET.indent`` and ``ET.tostring`` lay it out (without its line end)."""
    opened = indent + "<" + tag + "".join(f' {name}="{_attr(value)}"' for name, value in attributes)
    return f"{opened}>{_cdata(text)}</{tag}>" if text else opened + " />"


def _case(attributes: Sequence[tuple[str, str]], child: str | None) -> str:
    """A testcase (4 spaces in) with at most one child element (6 spaces in), as ElementTree writes it."""
    if child is None:
        return _element("testcase", attributes, "    ")
    return _element("testcase", attributes, "    ", None)[:-3] + ">\n" + child + "\n    </testcase>"


def _finding_case(finding: Finding) -> str:
    values = finding.__dict__
    severity = _plain(values["severity"])
    subject = values["subject"]
    name = f"[{severity}] {values['rule_id']}: {subject.source}:{subject.record_type}:{subject.key}"
    if values["detail_key"]:
        name += f" ({values['detail_key']})"
    attributes = (("classname", _clean(f"reconcile.findings.{values['owner']}")), ("name", _clean(name)), ("time", "0"))
    status = values["status"]
    lines = [
        f"status: {_plain(status) if status else 'untracked'}",
        f"kind: {values['kind']}",
        f"owner: {values['owner']}",
        f"entity: {values['entity_id'] or '-'} (match confidence {values['confidence']:.0%})",
    ]
    if values["first_seen"] is not None:
        lines.append(f"first seen: {utc_iso(values['first_seen'])}")
    lines.append("records:")
    for record in values["records"]:
        fields = ", ".join(f"{k}={v!r}" for k, v in record.fields.items())
        role = f" [{record.role}]" if record.role else ""
        lines.append(f"  {record.source}:{record.record_type}:{record.key}{role}: {fields}")
    lines.append(f"fingerprint: {finding.fingerprint}")
    story = values["story"]
    text = _clean("\n".join([story, "", *lines]))
    sup = getattr(finding, "suppression", None)
    if sup is not None:
        # A suppressed finding is a decision, not a failure: CI shows it as skipped.
        until = f" until {utc_iso(sup.until)}" if sup.until is not None else ""
        child = _element("skipped", (("message", _clean(f"suppressed by {sup.author}{until}: {sup.reason}")),),
                         "      ", text)
    else:
        child = _element("failure", (("message", _clean(story)), ("type", _clean(severity))), "      ", text)
    return _case(attributes, child)


def _source_case(health: SourceHealth) -> str:
    attributes = (("classname", "reconcile.sources"), ("name", _clean(health.source)),
                  ("time", f"{health.duration_s:.3f}"))
    if health.healthy:
        return _case(attributes, None)
    text = _clean(
        f"{health.error or 'unhealthy'}\nrows read {health.rows_read}, used {health.rows_used}, "
        f"quarantined {health.rows_quarantined}"
    )
    return _case(attributes, _element("failure", (("message", _clean(health.error or "unhealthy")),
                                                  ("type", "unhealthy")), "      ", text))


def _suite(attributes: Sequence[tuple[str, str]], children: list[str]) -> str:
    """A testsuite (2 spaces in) and its children, one a line, as ElementTree writes it."""
    if not children:
        return _element("testsuite", attributes, "  ")
    return "\n".join([_element("testsuite", attributes, "  ")[:-3] + ">", *children, "  </testsuite>"])


def render_junit(result: RunResult, min_severity: Severity = Severity.low) -> bytes:
    """JUnit XML: a test per source (failed if unhealthy) and a failed test per
    finding at or above ``min_severity`` (a skipped one when the finding is suppressed)."""
    floor = Severity(min_severity)
    findings = sort_findings([f for f in result.findings if f.severity >= floor])
    # Written as text, as ElementTree built and indented it (ET.indent, ET.tostring: the same bytes).
    sources = [_source_case(health) for health in result.health]
    source_failures = sum(not health.healthy for health in result.health)
    properties = [
        _element("property", (("name", name), ("value", value)), "      ")
        for name, value in (
            ("run_id", "" if result.run_id is None else str(result.run_id)),
            ("as_of", utc_iso(result.as_of)),
            ("min_severity", floor.value),
            ("findings_below_min_severity", str(len(result.findings) - len(findings))),
        )
    ]
    cases = [_finding_case(finding) for finding in findings]
    skipped = sum(getattr(finding, "suppression", None) is not None for finding in findings)
    failures = len(findings) - skipped
    suites = [
        _suite((("name", "reconcile.sources"), ("tests", str(len(sources))), ("failures", str(source_failures)),
                ("errors", "0"), ("skipped", "0"), ("time", f"{sum(h.duration_s for h in result.health):.3f}")),
               sources),
        _suite((("name", "reconcile.findings"), ("tests", str(len(cases))), ("failures", str(failures)),
                ("errors", "0"), ("skipped", str(skipped)), ("time", "0")),
               ["    <properties>", *properties, "    </properties>", *cases]),
    ]
    root = _element("testsuites", (("name", "reconcile"), ("tests", str(len(sources) + len(cases))),
                                   ("failures", str(source_failures + failures)), ("errors", "0"),
                                   ("skipped", str(skipped))), "")[:-3] + ">"
    document = "\n".join(["<?xml version='1.0' encoding='utf-8'?>", root, *suites, "</testsuites>"])
    return document.encode("utf-8", "xmlcharrefreplace")
