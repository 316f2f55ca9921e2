"""The terminal summary (rich): what a person at a shell or reading a cron mail sees."""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections import Counter

from rich.columns import Columns
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reconcile.findings import Finding, FindingStatus, Severity
from reconcile.report._document import summary
from reconcile.results import RunResult

__all__ = ["health_table", "quarantine_table", "terminal_summary"]

SEVERITY_STYLES = {
    Severity.critical: "bold white on red",
    Severity.high: "bold red",
    Severity.medium: "yellow",
    Severity.low: "cyan",
    Severity.info: "dim",
}

# New and reopened findings are what a person has not seen yet: show them first.
_STATUS_ORDER = {FindingStatus.new: 0, FindingStatus.reopened: 1, None: 2, FindingStatus.open: 3}


def _when(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def health_table(result: RunResult) -> Table:
    """One row per source: healthy or not, rows read, used and quarantined, time, error."""
    table = Table(title="Source health", title_justify="left")
    table.add_column("Source")
    table.add_column("Status")
    table.add_column("Read", justify="right")
    table.add_column("Used", justify="right")
    table.add_column("Quarantined", justify="right")
    table.add_column("Seconds", justify="right")
    table.add_column("Problem", overflow="fold")
    for h in result.health:
        status = Text("ok", style="green") if h.healthy else Text("UNHEALTHY", style="bold red")
        table.add_row(
            Text(h.source),
            status,
            f"{h.rows_read:,}",
            f"{h.rows_used:,}",
            f"{h.rows_quarantined:,}",
            f"{h.duration_s:.2f}",
            Text(h.error or ""),
        )
    if not result.health:
        table.caption = "no source health recorded"
    return table


def _count_table(title: str, counts: dict[str, int], styles: dict[str, str] | None = None) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 1))
    table.add_column(title)
    table.add_column("n", justify="right")
    for name, count in counts.items():
        table.add_row(Text(name, style=(styles or {}).get(name, "")), f"{count:,}")
    if not counts:
        table.add_row(Text("none", style="dim"), "0")
    return table


def _example(finding: Finding) -> Text:
    line = Text()
    line.append(f"{finding.severity.value.upper():<8}", style=SEVERITY_STYLES[finding.severity])
    status = finding.status.value if finding.status else "untracked"
    line.append(f" {status:<8} ", style="bold" if finding.status in (FindingStatus.new, FindingStatus.reopened) else "")
    line.append(finding.owner, style="bold")
    line.append(f" · {finding.kind}: ", style="dim")
    line.append(finding.story)
    sup = getattr(finding, "suppression", None)
    if sup is not None:
        line.append(f" [suppressed by {sup.author}: {sup.reason}]", style="dim")
    return line


def _examples(findings: list[Finding], limit: int) -> list[Finding]:
    ordered = sorted(
        findings,
        key=lambda f: (getattr(f, "suppression", None) is not None, _STATUS_ORDER.get(f.status, 2),
                       -f.severity.rank, f.owner, f.kind, f.fingerprint),
    )
    # One per kind first, so a few lines show the variety, then the rest.
    chosen: list[Finding] = []
    kinds: set[str] = set()
    for finding in ordered:
        if finding.kind not in kinds:
            chosen.append(finding)
            kinds.add(finding.kind)
    picked = {id(f) for f in chosen}  # by identity: comparing whole findings is slow at scale
    rest = (f for f in ordered if id(f) not in picked)
    chosen += itertools.islice(rest, max(limit - len(chosen), 0))
    return chosen[:limit]


def _reason_kind(reason: str) -> str:
    """A quarantine reason without the row's own values, so equal problems group."""
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "…", reason)
    text = re.sub(r"\b(line|row) \d+\b", r"\1 N", text)
    return re.sub(r"\d+", "N", text)


def quarantine_table(result: RunResult, *, limit: int = 20) -> Table | None:
    """Quarantined rows counted per source, stream, field and reason (None if there are none)."""
    if not result.quarantine:
        return None
    counted = Counter(
        (q.source, q.stream, q.field or "", _reason_kind(q.reason)) for q in result.quarantine
    )
    table = Table(title="Quarantined rows", title_justify="left")
    for name, justify in (("Source", "left"), ("Stream", "left"), ("Field", "left"),
                          ("Reason", "left"), ("Rows", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    ordered = sorted(counted.items(), key=lambda item: (-item[1], item[0]))
    for (source, stream, field, reason), n in ordered[:limit]:
        table.add_row(Text(source), Text(stream), Text(field), Text(reason), f"{n:,}")
    if len(ordered) > limit:
        table.caption = f"{len(ordered) - limit} more groups; every row is in the JSON report and the store"
    return table


def terminal_summary(result: RunResult, console: Console | None = None, *, examples: int = 5) -> None:
    """Print a run's summary: counts by severity, status, kind and owner; source
    health; and a few example findings with their stories (new ones first).

    Args:
        result: The run.
        console: Where to print (default: a new rich Console on stdout).
        examples: How many example findings to show.
    """
    console = console or Console()
    counts = summary(result)
    run = f"Run {result.run_id}" if result.run_id is not None else "Run (not stored)"
    headline = Text()
    headline.append(f"{run}, as of {_when(result.as_of)}: ", style="bold")
    headline.append(result.status, style="green" if result.status == "succeeded" else "bold red")
    console.print(headline)

    line = Text()
    line.append(f"{counts.findings:,} findings", style="bold")
    parts = [f"{n:,} {name}" for name, n in counts.by_status.items()]
    if parts:
        line.append(" (" + ", ".join(parts) + ")")
    line.append(f"; {counts.resolved:,} resolved; {counts.quarantined:,} rows quarantined")
    if counts.suppressed:
        line.append(f"; {counts.suppressed:,} suppressed")
    if result.entities:
        line.append(f"; {result.entities:,} customers matched")
    console.print(line)

    if counts.findings:
        severity_counts = {k: v for k, v in counts.by_severity.items() if v}
        styles = {s.value: SEVERITY_STYLES[s] for s in Severity}
        console.print(
            Columns(
                [
                    _count_table("By severity", severity_counts, styles),
                    _count_table("By status", counts.by_status),
                    _count_table("By kind", counts.by_kind),
                    _count_table("By owner", counts.by_owner),
                ],
                padding=(1, 4),
            )
        )
    console.print()
    console.print(health_table(result))
    quarantined = quarantine_table(result)
    if quarantined is not None:
        console.print(quarantined)
    console.print()
    shown = _examples(result.findings, examples)
    if shown:
        console.print(Text(f"Examples ({len(shown)} of {counts.findings:,}):", style="bold"))
        for finding in shown:
            console.print(_example(finding))
    else:
        console.print(Text("No findings.", style="green"))
