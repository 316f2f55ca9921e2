"""A metrics file in the Prometheus text format, for monitoring the nightly job.

``reconcile run --metrics-file /var/lib/node_exporter/textfile/reconcile.prom``
writes it after every attempt (succeeded, failed, locked out, or stopped by
a configuration error), atomically, so node_exporter's textfile collector
(or any scraper) never reads half a file. See ``docs/cron.md`` for alerts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from reconcile.findings import FindingStatus, Severity
from reconcile.results import RunResult
from reconcile.store._tracked import is_suppressed

__all__ = ["MetricsContext", "render_metrics", "write_metrics"]

_STATUSES = (FindingStatus.new, FindingStatus.open, FindingStatus.reopened)


@dataclass
class MetricsContext:
    """What the metrics say beyond the run's result.

    Attributes:
        exit_code: What ``reconcile run`` exits with.
        outcome: ``succeeded``, ``findings``, ``failed``, ``locked`` or ``config_error``.
        finished_at: When the attempt ended (wall clock).
        last_success: When the latest succeeded run of the store finished.
        open_findings / unverified / suppressed: Counts of the store's
            unresolved findings after the attempt (None when unknown).
    """

    exit_code: int
    outcome: str
    finished_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    last_success: dt.datetime | None = None
    open_findings: int | None = None
    unverified: int | None = None
    suppressed: int | None = None


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _stamp(value: dt.datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return round(value.timestamp(), 3)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(self, name: str, help_text: str, samples: Sequence[tuple[Mapping[str, str], float]],
               kind: str = "gauge") -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            text = ",".join(f'{key}="{_label(str(val))}"' for key, val in labels.items())
            self.lines.append(f"{name}{{{text}}} {_number(value)}" if text else f"{name} {_number(value)}")

    def one(self, name: str, help_text: str, value: float) -> None:
        self.metric(name, help_text, [({}, value)])


def render_metrics(result: RunResult | None, context: MetricsContext) -> str:
    """The metrics of one attempt as Prometheus text exposition (version 0.0.4)."""
    out = _Writer()
    out.one("reconcile_run_success", "1 if the last run succeeded (findings or not), else 0",
            context.outcome in ("succeeded", "findings"))
    out.one("reconcile_run_exit_code", "Exit code of the last reconcile run", context.exit_code)
    out.metric(
        "reconcile_run_outcome", "The last run's outcome (1 for the one that happened)",
        [({"outcome": name}, name == context.outcome)
         for name in ("succeeded", "findings", "failed", "locked", "config_error")],
    )
    out.one("reconcile_run_timestamp_seconds", "When the last run ended (Unix time)", _stamp(context.finished_at))
    if context.last_success is not None:
        out.one("reconcile_run_last_success_timestamp_seconds",
                "When the latest succeeded run ended (Unix time)", _stamp(context.last_success))
    if result is not None:
        if result.run_id is not None:
            out.one("reconcile_run_id", "Id of the last run in the store", result.run_id)
        out.one("reconcile_run_as_of_timestamp_seconds", "The last run's as-of time (Unix time)",
                _stamp(result.as_of))
        end = result.finished_at or context.finished_at
        out.one("reconcile_run_duration_seconds", "How long the last run took",
                max((end - result.started_at).total_seconds(), 0.0))
        out.metric("reconcile_run_stage_duration_seconds", "Seconds per stage of the last run",
                   [({"stage": stage}, seconds) for stage, seconds in result.timings.items()])
        if result.status == "succeeded":
            out.metric(
                "reconcile_findings", "Findings of the last run by severity and status",
                [({"severity": sev.value, "status": status.value},
                  sum(1 for f in result.findings if f.severity == sev and f.status == status))
                 for sev in reversed(Severity) for status in _STATUSES]
                + ([({"severity": sev.value, "status": "untracked"},
                     sum(1 for f in result.findings if f.severity == sev and f.status is None))
                    for sev in reversed(Severity)] if any(f.status is None for f in result.findings) else []),
            )
            out.one("reconcile_findings_resolved", "Findings the last run resolved", len(result.resolved))
            out.one("reconcile_findings_suppressed_in_run", "Findings of the last run that are suppressed",
                    sum(1 for f in result.findings if is_suppressed(f)))
            out.one("reconcile_entities", "Customers (entities) the last run matched", result.entities)
            out.one("reconcile_links", "Links between records the last run accepted", result.links)
        health = result.health
        out.metric("reconcile_source_healthy", "1 if the source was healthy in the last run",
                   [({"source": h.source}, h.healthy) for h in health])
        for name, attribute, help_text in (
            ("reconcile_source_rows_read", "rows_read", "Rows read per source in the last run"),
            ("reconcile_source_rows_used", "rows_used", "Rows used per source in the last run"),
            ("reconcile_source_rows_quarantined", "rows_quarantined", "Rows quarantined per source in the last run"),
            ("reconcile_source_rows_skipped", "rows_skipped", "Unchanged incremental rows skipped per source"),
            ("reconcile_source_duration_seconds", "duration_s", "Seconds spent reading each source"),
        ):
            out.metric(name, help_text, [({"source": h.source}, getattr(h, attribute)) for h in health])
        out.one("reconcile_rows_quarantined", "Rows quarantined in the last run", len(result.quarantine))
    for name, value, help_text in (
        ("reconcile_store_open_findings", context.open_findings, "Unresolved findings in the store"),
        ("reconcile_store_unverified_findings", context.unverified,
         "Unresolved findings not verified because a source they come from was unhealthy"),
        ("reconcile_store_suppressed_findings", context.suppressed, "Unresolved findings suppressed now"),
    ):
        if value is not None:
            out.one(name, help_text, value)
    return "\n".join(out.lines) + "\n"


def write_metrics(path: str | Path, text: str) -> Path:
    """Replace the metrics file atomically (its folder is created if needed)."""
    from reconcile.report._write import write_atomically

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, text.encode("utf-8"))
    return target
