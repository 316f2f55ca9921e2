"""Stage 6: reports of a run, for people and for machines.

- :func:`write_reports`: JSON (a documented, versioned schema: see
  :class:`ReportDocument` and :func:`json_schema`), CSV (one row per finding),
  HTML (one self-contained page for a support or billing person, listing a
  bounded number of findings per team and kind) and JUnit XML (a failed test
  per finding, for CI). JSON and CSV are streamed finding by finding
  (:func:`write_json`, :func:`write_csv`).
- :func:`terminal_summary` and :func:`health_table`: the same run on a terminal (rich).

Any past run can be reported again: ``write_reports(store.run_result(run_id), ...)``.
See ``docs/reports.md``.
"""

from __future__ import annotations

from reconcile.report._csv import CSV_COLUMNS, render_csv, write_csv
from reconcile.report._document import (
    SCHEMA_VERSION,
    FindingEntry,
    HealthEntry,
    QuarantineEntry,
    RecordEntry,
    ReportDocument,
    RunEntry,
    Summary,
    SuppressionEntry,
    UnverifiedEntry,
    build_document,
    json_schema,
    write_json,
)
from reconcile.report._html import FINDINGS_PER_GROUP, render_html
from reconcile.report._junit import render_junit
from reconcile.report._terminal import health_table, quarantine_table, terminal_summary
from reconcile.report._write import FORMATS, write_reports

__all__ = [
    "CSV_COLUMNS",
    "FINDINGS_PER_GROUP",
    "FORMATS",
    "SCHEMA_VERSION",
    "FindingEntry",
    "HealthEntry",
    "QuarantineEntry",
    "RecordEntry",
    "ReportDocument",
    "RunEntry",
    "Summary",
    "SuppressionEntry",
    "UnverifiedEntry",
    "build_document",
    "health_table",
    "quarantine_table",
    "json_schema",
    "render_csv",
    "render_html",
    "render_junit",
    "terminal_summary",
    "write_csv",
    "write_json",
    "write_reports",
]
