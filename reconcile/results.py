"""What a run produces: per-source health, quarantined rows, findings, timings."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconcile.findings import Finding, FindingStatus, Severity

__all__ = ["QuarantinedRow", "RunResult", "SourceHealth"]


class QuarantinedRow(BaseModel):
    """A row that could not be used, kept with the reason.

    Attributes:
        source: The source name from the configuration.
        stream: The record type the row was mapped onto.
        row: The row's key if it has one, else its position (``line 17``).
        field: The canonical (or source) field at fault, if one is.
        reason: What was wrong, in words.
        raw: The row as read (JSON-serialisable), so nothing is lost.
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    stream: str
    row: str
    field: str | None = None
    reason: str
    raw: dict[str, Any] = Field(default_factory=dict)


class SourceHealth(BaseModel):
    """How one source fared in one run; ``rows_read == rows_used + rows_quarantined``.

    ``rows_skipped`` counts rows of an incremental stream that a source could
    not filter itself (a file) and that had not changed since the cursor: they
    are not read as changes. ``streams`` counts records per record type after
    incremental merging (the whole snapshot).
    """

    model_config = ConfigDict(extra="forbid")

    source: str
    healthy: bool = True
    rows_read: int = 0
    rows_used: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    duration_s: float = 0.0
    error: str | None = None
    streams: dict[str, int] = Field(default_factory=dict)  # rows used per record type


class RunResult(BaseModel):
    """The outcome of one run, as returned by :func:`reconcile.run`.

    Attributes:
        run_id: The run's id in the store (None when run without a store).
        as_of: The reference time rules measured against.
        started_at / finished_at: Wall-clock times of the run.
        findings: Every finding of this run, with its status across runs.
        resolved: Findings of earlier runs that this run resolved.
        health: One entry per source.
        quarantine: Rows that could not be used.
        entities: How many matched entities the run built.
        timings: Seconds per stage (extract, normalise, match, rules, persist, report).
        reports: Paths of the reports written, by format.
    """

    model_config = ConfigDict(extra="forbid")

    run_id: int | None = None
    as_of: dt.datetime
    started_at: dt.datetime
    finished_at: dt.datetime | None = None
    status: str = "succeeded"
    findings: list[Finding] = Field(default_factory=list)
    resolved: list[Finding] = Field(default_factory=list)
    health: list[SourceHealth] = Field(default_factory=list)
    quarantine: list[QuarantinedRow] = Field(default_factory=list)
    entities: int = 0
    links: int = 0
    timings: dict[str, float] = Field(default_factory=dict)
    reports: dict[str, str] = Field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return all(h.healthy for h in self.health)

    def counts_by(self, attribute: str) -> Counter[str]:
        """Count findings by ``kind``, ``severity``, ``owner``, ``rule_id`` or ``status``."""
        return Counter(str(getattr(f, attribute)) for f in self.findings)

    def at_or_above(self, severity: Severity) -> list[Finding]:
        return [f for f in self.findings if f.severity >= severity]

    def by_status(self, status: FindingStatus) -> list[Finding]:
        return [f for f in self.findings if f.status == status]
