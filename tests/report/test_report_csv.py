"""The CSV report: one row per finding, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from report_factories import make_finding, make_result

from reconcile.report import CSV_COLUMNS, write_reports


def _rows(tmp_path: Path, result=None) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    path = write_reports(result or make_result(), tmp_path, formats=["csv"])["csv"]
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so Excel reads UTF-8"
    reader = csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline=""))
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    return list(reader)


def test_one_row_per_finding_with_its_story(tmp_path: Path) -> None:
    result = make_result()
    rows = _rows(tmp_path, result)
    assert len(rows) == len(result.findings) == 6
    assert sorted(r["fingerprint"] for r in rows) == sorted(f.fingerprint for f in result.findings)
    assert [r["severity"] for r in rows] == ["critical", "high", "high", "medium", "low", "info"]
    ac2 = next(r for r in rows if r["subject"] == "billing:account:AC-2")
    story = next(f.story for f in result.findings if f.subject.key == "AC-2")
    assert ac2["story"] == story
    assert (ac2["status"], ac2["owner"], ac2["age_days"], ac2["confidence"]) == ("open", "billing", "12", "0.920")
    assert ac2["first_seen"] == "2026-10-20T06:00:00+00:00"
    assert ac2["records"] == (
        "billing:account:AC-2 (mandate); crm:contact:C-AC-2; payments:payment:P-AC-2 (attempt)"
    )
    assert ac2["detail"] == "{}"


def test_no_findings_is_a_header_only(tmp_path: Path) -> None:
    assert _rows(tmp_path, make_result(findings=[], resolved=[])) == []


def test_commas_quotes_newlines_and_accents_survive(tmp_path: Path) -> None:
    story = 'Holder "SMITH, ROBERT"\nspelt Zoë Ñúñez; 3 cards'
    rows = _rows(tmp_path, make_result(findings=[make_finding("AC-1", story=story, detail={"n": [1, 2]})]))
    assert rows[0]["story"] == story
    assert rows[0]["detail"] == '{"n":[1,2]}'


def test_formulas_from_the_data_stay_text(tmp_path: Path) -> None:
    hostile = [
        make_finding("AC-1", story='=HYPERLINK("http://evil.example","click")'),
        make_finding("AC-2", owner="+billing", story="@SUM(1+1)"),
        make_finding("AC-3", story="-2+3"),
    ]
    rows = {r["subject"]: r for r in _rows(tmp_path, make_result(findings=hostile))}
    assert rows["billing:account:AC-1"]["story"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows["billing:account:AC-2"]["story"] == "'@SUM(1+1)"
    assert rows["billing:account:AC-2"]["owner"] == "'+billing"
    assert rows["billing:account:AC-3"]["story"] == "'-2+3"
    assert not any(v.startswith(("=", "+", "-", "@")) for r in rows.values() for v in r.values())


def test_times_and_ages_worked_out_once_per_value_are_each_findings_own(tmp_path: Path) -> None:
    """Equal times (the same instant, in any zone) share their text and age; naive ones are read as UTC."""
    import datetime as dt
    import json

    from reconcile.report._document import age_days
    from reconcile.store._json import utc_iso

    base = dt.datetime(2026, 10, 1, 6, 0, tzinfo=dt.UTC)
    times = [base, base.astimezone(dt.timezone(dt.timedelta(hours=2))), base.replace(tzinfo=None),
             base - dt.timedelta(days=3, hours=1), (base - dt.timedelta(days=3, hours=1)).replace(tzinfo=None),
             base + dt.timedelta(days=60)]
    findings = []
    for i, first in enumerate(times * 2):
        made = make_finding(f"AC-{i}")
        made.first_seen, made.last_seen = first, times[-1 - i % len(times)]
        findings.append(made)
    result = make_result(findings=findings)
    rows = {r["subject"]: r for r in _rows(tmp_path, result)}
    document = json.loads(write_reports(result, tmp_path, formats=["json"])["json"].read_text())
    entries = {e["subject"]["rid"]: e for e in document["findings"]}
    for made in findings:
        row, entry = rows[made.subject.rid], entries[made.subject.rid]
        assert row["first_seen"] == utc_iso(made.first_seen)  # type: ignore[arg-type]
        assert row["last_seen"] == utc_iso(made.last_seen)  # type: ignore[arg-type]
        assert row["age_days"] == str(age_days(made, result.as_of))
        assert entry["age_days"] == age_days(made, result.as_of)
