"""The CSV report: one row per finding, for a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any, TextIO

from reconcile.findings import Finding
from reconcile.report._document import Ages, age_days, sort_findings
from reconcile.results import RunResult
from reconcile.store._json import encode_json_bytes, utc_iso

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
    text = value if type(value) is str else "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


_plain = str.__str__  # a StrEnum member's value, as plain text (its ``.value`` is a slower descriptor)


def _row(finding: Finding, result: RunResult, ages: Ages | None = None, times: dict[Any, str] | None = None) -> list[str]:
    """One finding's cells (``ages`` and ``times``: its age and its times' texts, worked out once per value)."""
    values = finding.__dict__
    records = "; ".join(
        f"{r.source}:{r.record_type}:{r.key}" + (f" ({r.role})" if r.role else "") for r in values["records"]
    )
    age = age_days(finding, result.as_of) if ages is None else ages(finding)
    sup = getattr(finding, "suppression", None)
    status, subject, first, last = values["status"], values["subject"], values["first_seen"], values["last_seen"]
    if times is None:
        times = {}
    return [
        finding.fingerprint,
        _text(_plain(status) if status else ""),
        _plain(values["severity"]),
        _text(values["owner"]),
        _text(values["kind"]),
        _text(values["rule_id"]),
        _text(values["entity_id"]),
        _text(f"{subject.source}:{subject.record_type}:{subject.key}"),
        _text(values["story"]),
        f"{values['confidence']:.3f}",
        (times.get(first) or times.setdefault(first, utc_iso(first))) if first else "",
        (times.get(last) or times.setdefault(last, utc_iso(last))) if last else "",
        "" if age is None else str(age),
        _text(records),
        _text(values["detail_key"]),
        _text(encode_json_bytes(values["detail"], sort_keys=True).decode("utf-8")),
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
    # Most findings share their times: each age and each time's text is worked out once.
    ages = Ages(result.as_of)
    times: dict[Any, str] = {}
    for finding in sort_findings(result.findings) if findings is None else findings:
        writer.writerow(_row(finding, result, ages, times))


def render_csv(result: RunResult) -> str:
    """The findings of a run as CSV text: a header and one row per finding."""
    out = io.StringIO()
    write_csv(result, out)
    return out.getvalue()
