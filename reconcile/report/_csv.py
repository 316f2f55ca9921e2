"""The CSV report: one row per finding, for a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, TextIO

from reconcile.findings import Finding
from reconcile.report._document import age_days, sort_findings
from reconcile.results import RunResult
from reconcile.store._json import encode_json, utc_iso

__all__ = ["CSV_COLUMNS", "render_csv", "write_csv"]

CSV_COLUMNS = (
    "fingerprint",
    "status",
    "severity",
    "owner",
    "kind",
    "rule_id",
    "entity_id",
    "subject",
    "story",
    "confidence",
    "first_seen",
    "last_seen",
    "age_days",
    "records",
    "detail_key",
    "detail",
    "suppressed",
    "suppression",
)

# A cell starting with one of these is a formula to Excel and LibreOffice; a
# customer name such as "=HYPERLINK(...)" must stay text (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _text(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _row(finding: Finding, result: RunResult) -> list[str]:
    records = "; ".join(
        r.rid + (f" ({r.role})" if r.role else "") for r in finding.records
    )
    age = age_days(finding, result.as_of)
    sup = getattr(finding, "suppression", None)
    return [
        finding.fingerprint,
        _text(finding.status.value if finding.status else ""),
        finding.severity.value,
        _text(finding.owner),
        _text(finding.kind),
        _text(finding.rule_id),
        _text(finding.entity_id),
        _text(finding.subject.rid),
        _text(finding.story),
        f"{finding.confidence:.3f}",
        utc_iso(finding.first_seen) if finding.first_seen else "",
        utc_iso(finding.last_seen) if finding.last_seen else "",
        "" if age is None else str(age),
        _text(records),
        _text(finding.detail_key),
        _text(encode_json(finding.detail, sort_keys=True)),
        "yes" if sup is not None else "",
        _text(_suppression_text(sup)),
    ]


def _suppression_text(sup: Any) -> str:
    if sup is None:
        return ""
    until = f" until {utc_iso(sup.until)}" if sup.until is not None else ""
    return f"by {sup.author}{until}: {sup.reason}"


def write_csv(result: RunResult, out: TextIO, *, findings: Iterable[Finding] | None = None) -> None:
    """Write the CSV report to ``out`` row by row: a header and one row per finding.

    Args:
        result: The run.
        out: A text file (opened with ``newline=""``).
        findings: The run's findings already in report order, if the caller has them.
    """
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for finding in sort_findings(result.findings) if findings is None else findings:
        writer.writerow(_row(finding, result))


def render_csv(result: RunResult) -> str:
    """The findings of a run as CSV text: a header and one row per finding."""
    out = io.StringIO()
    write_csv(result, out)
    return out.getvalue()
