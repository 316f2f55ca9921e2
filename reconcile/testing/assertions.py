"""Assertions on a run's findings whose failure messages tell the whole story.

::

    from reconcile.testing import assert_findings, assert_no_findings

    (finding,) = assert_findings(result, kind="missing_in", subject="AC-2", count=1)
    assert_no_findings(result, min_severity="high")

When an assertion fails, the message lists every finding of the run with its
severity, rule, owner, subject, story and evidence (each record involved,
grouped by system, with the fields that matter), and says which sources were
unhealthy and which rows were quarantined: a missing finding is often a row
that never reached the rules.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconcile.findings import Finding, RecordRef, Severity
    from reconcile.results import RunResult

__all__ = ["assert_findings", "assert_no_findings", "format_findings", "format_run"]

#: Findings listed in a failure message beyond those the assertion is about.
MAX_LISTED = 25


def _findings_of(result: RunResult | Iterable[Finding]) -> tuple[list[Finding], RunResult | None]:
    from reconcile.results import RunResult

    if isinstance(result, RunResult):
        return list(result.findings), result
    return list(result), None


def _severity(value: Severity | str) -> Severity:
    from reconcile.findings import Severity

    try:
        return Severity(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Severity)
        raise ValueError(f"unknown severity {value!r}; allowed: {allowed}") from None


def _matches_subject(ref: RecordRef, subject: str) -> bool:
    return subject in (ref.key, ref.rid)


def _matches(finding: Finding, criteria: Mapping[str, Any]) -> bool:
    for name, wanted in criteria.items():
        if name == "subject":
            if not _matches_subject(finding.subject, wanted):
                return False
        elif name == "story":
            if isinstance(wanted, re.Pattern):
                if not wanted.search(finding.story):
                    return False
            elif wanted not in finding.story:
                return False
        elif name == "min_severity":
            if finding.severity < wanted:
                return False
        elif name == "involves":
            if not any(_matches_subject(ref, wanted) for ref in finding.records):
                return False
        elif getattr(finding, name) != wanted:
            return False
    return True


def _criteria(**given: Any) -> dict[str, Any]:
    criteria = {k: v for k, v in given.items() if v is not None}
    if "severity" in criteria:
        criteria["severity"] = _severity(criteria["severity"])
    if "min_severity" in criteria:
        criteria["min_severity"] = _severity(criteria["min_severity"])
    if "status" in criteria:
        from reconcile.findings import FindingStatus

        criteria["status"] = FindingStatus(criteria["status"])
    return criteria


def _describe(criteria: Mapping[str, Any]) -> str:
    parts = []
    for name, value in criteria.items():
        shown = value.pattern if isinstance(value, re.Pattern) else str(value)
        parts.append(f"{name}={shown!r}")
    return ", ".join(parts)


def _value(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def format_finding(finding: Finding, marker: str = " ") -> str:
    """One finding as a block of lines: headline, story, entity and evidence per system."""
    status = f", {finding.status.value}" if finding.status is not None else ""
    lines = [
        f"{marker} [{finding.severity.value}] {finding.kind}: rule {finding.rule_id!r}, owner "
        f"{finding.owner!r}, subject {finding.subject.rid}{status}",
        f"    story: {finding.story}",
    ]
    if finding.entity_id is not None or finding.confidence < 1.0:
        lines.append(f"    customer: {finding.entity_id}, match confidence {finding.confidence:.2f}")
    records = finding.records or [finding.subject]
    by_system: dict[str, list[RecordRef]] = {}
    for ref in records:
        by_system.setdefault(ref.source, []).append(ref)
    lines.append("    evidence:")
    for system, refs in by_system.items():
        lines.append(f"      {system}:")
        for ref in refs:
            role = f" ({ref.role})" if ref.role else ""
            fields = ", ".join(f"{k}={_value(v)}" for k, v in ref.fields.items())
            lines.append(
                f"        {ref.record_type.replace('_', ' ')} {ref.key}{role}" + (f": {fields}" if fields else "")
            )
    return "\n".join(lines)


def format_findings(
    findings: Sequence[Finding], marked: Sequence[Finding] = (), limit: int | None = MAX_LISTED
) -> str:
    """Findings as text for people: marked ones (``*``) first, at most ``limit`` others."""
    if not findings:
        return "(no findings)"
    ids = {id(f) for f in marked}
    first = [f for f in findings if id(f) in ids]
    rest = [f for f in findings if id(f) not in ids]
    shown = first + (rest if limit is None else rest[: max(0, limit - len(first))])
    blocks = [format_finding(f, "*" if id(f) in ids else " ") for f in shown]
    hidden = len(findings) - len(shown)
    if hidden:
        blocks.append(f"  ... and {hidden} more")
    return "\n".join(blocks)


def format_run(result: RunResult) -> str:
    """What a run saw besides its findings: unhealthy sources and quarantined rows."""
    lines = []
    for health in result.health:
        if not health.healthy:
            lines.append(f"source {health.source!r} was unhealthy: {health.error}")
    if result.quarantine:
        lines.append(
            f"{len(result.quarantine)} row(s) were quarantined, so no rule saw them:"
        )
        for row in result.quarantine[:MAX_LISTED]:
            field = f" field {row.field!r}:" if row.field else ""
            lines.append(f"  {row.source} {row.stream} {row.row}:{field} {row.reason}")
        if len(result.quarantine) > MAX_LISTED:
            lines.append(f"  ... and {len(result.quarantine) - MAX_LISTED} more")
    return "\n".join(lines)


def _report(head: str, findings: list[Finding], marked: list[Finding], run: RunResult | None) -> str:
    parts = [head]
    if findings:
        note = " (* = matches)" if marked else ""
        parts.append(f"The run's {len(findings)} finding(s){note}:")
    parts.append(format_findings(findings, marked))
    if run is not None:
        extra = format_run(run)
        if extra:
            parts.append(extra)
    return "\n".join(parts)


def assert_findings(
    result: RunResult | Iterable[Finding],
    *,
    kind: str | None = None,
    count: int | None = None,
    rule_id: str | None = None,
    subject: str | None = None,
    owner: str | None = None,
    severity: Severity | str | None = None,
    status: str | None = None,
    story: str | re.Pattern[str] | None = None,
    involves: str | None = None,
    entity_id: str | None = None,
) -> list[Finding]:
    """Assert that the run found findings meeting every given criterion.

    Args:
        result: A :class:`reconcile.RunResult`, or findings.
        kind: The rule kind (``missing_in``, ``failed_autopay``...).
        count: Exactly this many must match; None: at least one.
        rule_id: The configured rule's id.
        subject: The subject's key (``AC-1``) or rid (``billing:account:AC-1``).
        owner: The team the findings go to.
        severity: Exactly this severity.
        status: ``new``, ``open``, ``resolved`` or ``reopened`` (runs with a store).
        story: Text the story contains, or a compiled pattern it matches.
        involves: A record key or rid among the finding's records.
        entity_id: The matched customer.

    Returns:
        The matching findings, in the run's order.

    Raises:
        AssertionError: listing every finding of the run (matches marked),
            with stories and evidence, and the run's quarantined rows.
    """
    __tracebackhide__ = True
    if count is not None and count < 0:
        raise ValueError(f"count must be 0 or more, not {count}")
    findings, run = _findings_of(result)
    criteria = _criteria(
        kind=kind, rule_id=rule_id, subject=subject, owner=owner, severity=severity,
        status=status, story=story, involves=involves, entity_id=entity_id,
    )
    matched = [f for f in findings if _matches(f, criteria)]
    if (count is None and matched) or (count is not None and len(matched) == count):
        return matched
    what = f"with {_describe(criteria)}" if criteria else "in all"
    wanted = "at least 1 finding" if count is None else f"{count} finding(s)"
    head = f"expected {wanted} {what}; found {len(matched)}."
    raise AssertionError(_report(head, findings, matched, run))


def assert_no_findings(
    result: RunResult | Iterable[Finding],
    *,
    min_severity: Severity | str | None = None,
    kind: str | None = None,
    rule_id: str | None = None,
    subject: str | None = None,
    owner: str | None = None,
    involves: str | None = None,
) -> None:
    """Assert that the run found nothing (at or above ``min_severity``, of the given kind...).

    Args:
        result: A :class:`reconcile.RunResult`, or findings.
        min_severity: Only findings at least this severe count (``"high"``
            lets ``medium`` and below pass).
        kind, rule_id, subject, owner, involves: Only findings meeting these count
            (see :func:`assert_findings`).

    Raises:
        AssertionError: listing the offending findings with stories and
            evidence, and the run's quarantined rows.
    """
    __tracebackhide__ = True
    findings, run = _findings_of(result)
    criteria = _criteria(
        min_severity=min_severity, kind=kind, rule_id=rule_id, subject=subject, owner=owner,
        involves=involves,
    )
    matched = [f for f in findings if _matches(f, criteria)]
    if not matched:
        return
    what = f" with {_describe(criteria)}" if criteria else ""
    head = f"expected no findings{what}; found {len(matched)}."
    raise AssertionError(_report(head, findings, matched, run))
