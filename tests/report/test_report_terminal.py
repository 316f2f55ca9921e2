"""The terminal summary and the health table (rich)."""

from __future__ import annotations

from report_factories import make_finding, make_result
from rich.console import Console
from rich.table import Table

from reconcile.report import health_table, quarantine_table, terminal_summary
from reconcile.results import SourceHealth


def _printed(result, **kwargs) -> str:  # type: ignore[no-untyped-def]
    console = Console(record=True, width=160, color_system=None)
    terminal_summary(result, console, **kwargs)
    return console.export_text()


def _line(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.strip().startswith(start))


def test_headline_and_counts() -> None:
    text = _printed(make_result())
    assert text.splitlines()[0] == "Run 42, as of 2026-11-01 06:00 UTC: succeeded"
    assert text.splitlines()[1] == (
        "6 findings (3 new, 2 open, 1 reopened); 1 resolved; 2 rows quarantined; 350 customers matched"
    )
    for label in ("By severity", "By status", "By kind", "By owner"):
        assert label in text
    # Counts by severity, kind and owner, side by side in their tables.
    assert _line(text, "critical").split()[:2] == ["critical", "1"]
    assert "failed_autopay          3" in text
    assert "dealer service  1" in text


def test_health_and_example_stories() -> None:
    result = make_result()
    text = _printed(result, examples=3)
    assert "Source health" in text
    assert _line(text, "│ billing").split("│")[1:7] == [" billing ", " ok     ", " 1,000 ", "  998 ",
                                                        "           2 ", "    1.25 "]
    assert "Examples (3 of 6):" in text
    examples = text[text.index("Examples"):].splitlines()[1:]
    # New findings first, most severe first, one per kind before repeating a kind.
    assert examples[0].startswith("CRITICAL new      billing · failed_autopay: Auto-pay on AC-1")
    assert examples[1].startswith("MEDIUM   new      service · duplicate_active_line:")
    assert examples[2].startswith("INFO     new      dealer service · recall_missing_locally:")


def test_data_is_printed_as_text_not_markup() -> None:
    story = "[bold red]boom[/] [link=http://evil.example]click[/link] \\[x]"
    text = _printed(make_result(findings=[make_finding("AC-1", story=story, owner="[red]ops")]))
    assert story in text
    assert "[red]ops" in text


def test_no_findings_and_a_run_without_a_store() -> None:
    text = _printed(make_result(run_id=None, findings=[], resolved=[]))
    assert text.startswith("Run (not stored), as of 2026-11-01 06:00 UTC: succeeded")
    assert "0 findings (0 new, 0 open, 0 reopened); 0 resolved" in text
    assert "No findings." in text and "Examples" not in text
    untracked = _printed(make_result(findings=[make_finding("AC-1", status=None)]))
    assert "1 findings (0 new, 0 open, 0 reopened, 1 untracked)" in untracked
    assert "untracked" in _line(untracked, "HIGH")


def test_health_table_rows_and_unhealthy_sources() -> None:
    health = [
        SourceHealth(source="billing", rows_read=10, rows_used=9, rows_quarantined=1, duration_s=0.5),
        SourceHealth(source="[crm]", healthy=False, error="source 'crm': file missing"),
    ]
    table = health_table(make_result(health=health))
    assert isinstance(table, Table)
    assert [c.header for c in table.columns] == [
        "Source", "Status", "Read", "Used", "Quarantined", "Seconds", "Problem",
    ]
    assert table.row_count == 2
    console = Console(record=True, width=120, color_system=None)
    console.print(table)
    text = console.export_text()
    assert "[crm]" in text and "UNHEALTHY" in text and "source 'crm': file missing" in text
    empty = health_table(make_result(health=[]))
    assert empty.row_count == 0 and empty.caption == "no source health recorded"


def test_failed_runs_say_so() -> None:
    text = _printed(make_result(status="failed", findings=[], resolved=[]))
    assert text.splitlines()[0].endswith(": failed")
    assert "0 findings (0 new, 0 open, 0 reopened); 0 resolved" in text


def test_quarantined_rows_are_counted_per_source_field_and_reason() -> None:
    from reconcile.results import QuarantinedRow

    def bad(row: str, field: str | None, reason: str, source: str = "billing") -> QuarantinedRow:
        return QuarantinedRow(source=source, stream="account", row=row, field=field, reason=reason)

    quarantine = [
        bad("line 3", "opened_at", "not a date: '31/02/2026'"),
        bad("line 9", "opened_at", "not a date: 'soon'"),
        bad("line 12", "opened_at", "not a date: '2026-13-01'"),
        bad("line 17 (key 'A7')", "account_id", "duplicate key 'A7': already read at line 4"),
        bad("line 2", None, "row has 9 cells, the header 7", source="crm"),
    ]
    result = make_result(quarantine=quarantine)
    text = _printed(result)
    assert "Quarantined rows" in text
    dates = _line(text, "│ billing │ account │ opened_at")
    assert "not a date: …" in dates and dates.rstrip(" │").endswith("3")
    duplicate = _line(text, "│ billing │ account │ account_id")
    assert "duplicate key …: already read at line N" in duplicate and duplicate.rstrip(" │").endswith("1")
    assert "row has N cells, the header N" in _line(text, "│ crm     │ account")
    assert quarantine_table(make_result(quarantine=[])) is None
