"""The HTML report: readable by a support or billing person, and safe with hostile data."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_factories import HOSTILE, make_finding, make_result

from reconcile.findings import FindingStatus, RecordRef
from reconcile.report import render_html, write_reports
from reconcile.results import QuarantinedRow, SourceHealth

# Every tag the template writes; a tag outside this set came from the data.
TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "footer", "section", "nav",
    "article", "h1", "h2", "h3", "p", "div", "span", "b", "a", "ul", "li",
    "table", "thead", "tbody", "tr", "th", "td",
}


class _Page(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self._in_style = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += attrs
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style and data.strip():
            self.text.append(" ".join(data.split()))

    @property
    def plain(self) -> str:
        return " ".join(self.text)


def _hostile_result():  # type: ignore[no-untyped-def]
    img = '<img src=x onerror="alert(1)">'
    finding = make_finding(
        "AC-1<b>",
        name=HOSTILE,
        owner=f"billing {img}",
        story=f"Auto-pay failed for {HOSTILE}",
        entity_id='E-1" onmouseover="alert(2)',
    )
    finding.records.append(
        RecordRef(source=f"crm{img}", record_type="contact", key="C-9", fields={HOSTILE: HOSTILE})
    )
    return make_result(
        findings=[finding],
        resolved=[make_finding("AC-0", status=FindingStatus.resolved, story=f"was {img}")],
        health=[SourceHealth(source="crm", healthy=False, error=f"bad {HOSTILE}")],
        quarantine=[QuarantinedRow(source="billing", stream="account", row=HOSTILE, reason=img)],
    )


def test_hostile_values_are_escaped_and_never_become_markup(tmp_path: Path) -> None:
    html = write_reports(_hostile_result(), tmp_path, formats=["html"])["html"].read_text(encoding="utf-8")
    assert "<script" not in html.lower()
    assert "<img" not in html.lower()
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in html
    assert "AC-1&lt;b&gt;" in html and "AC-1<b>" not in html
    assert 'E-1&#34; onmouseover=&#34;alert(2)' in html
    page = _Page(html)
    assert set(page.tags) <= TEMPLATE_TAGS, set(page.tags) - TEMPLATE_TAGS
    assert not [name for name, _ in page.attributes if name.startswith("on")], "an event handler leaked"
    # The hostile values are shown to the reader as the text they are.
    assert f"Auto-pay failed for {HOSTILE}" in page.plain
    assert 'billing <img src=x onerror="alert(1)">' in page.plain
    assert HOSTILE in page.plain


def test_the_page_is_self_contained_and_forbids_scripts() -> None:
    html = render_html(make_result())
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    page = _Page(html)
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags
    assert not [v for n, v in page.attributes if n in {"src", "href"} and v and not v.startswith("#")]


def test_summary_numbers_and_every_story_appear() -> None:
    result = make_result()
    html = render_html(result)
    page = _Page(html)
    for number, label in [(6, "findings"), (3, "new"), (1, "back again"), (2, "still open"),
                          (1, "resolved since last run"), (2, "rows quarantined")]:
        assert f'<div class="card"><b>{number}</b>{label}</div>' in html, label
    for finding in result.findings:
        assert finding.story in page.plain
        assert f'id="f-{finding.fingerprint}"' in html
    assert "Auto-pay on AC-0 failed twice; fixed since." in page.plain  # the resolved one
    assert "As of 2026-11-01 06:00 UTC" in page.plain
    assert "first seen 2026-10-20 06:00 UTC (12 days)" in page.plain
    assert "match confidence 92%" in page.plain
    assert "not a number: 'n/a'" in page.plain  # quarantine reason
    assert "billing ok 1,000 998 2 1.25" in page.plain  # health row


def _section(html: str, name: str) -> str:
    start = html.index(f'<section id="{name}">')
    return html[start: html.index("\n</section>", start)]


def test_new_and_reopened_come_first_then_resolved_then_still_open_by_team_and_kind() -> None:
    html = render_html(make_result())
    assert html.index('<section id="changed">') < html.index('<section id="resolved">') < html.index(
        '<section id="findings">')
    changed = _section(html, "changed")
    assert re.findall(r'<section class="owner">\s*<h2>([^<]+) <span', changed) == [
        "billing", "dealer service", "service"]
    # In a group: the most severe first; AC-1 (critical, new) before AC-3 (low, back again).
    assert re.findall(r'id="f-\w+">\s*<div class="meta">\s*<span class="badge status-(\w+)"', changed) == [
        "new", "reopened", "new", "new"]
    assert changed.index("AC-1") < changed.index("AC-3") and "AC-2" not in changed
    still = _section(html, "findings")
    assert re.findall(r'<section class="owner" id="owner-\d+">\s*<h2>([^<]+) <span', still) == ["billing", "service"]
    assert "AC-2" in still and "LN-9" in still and "AC-1" not in still
    assert "Auto-pay on AC-0 failed twice; fixed since." in _Page(_section(html, "resolved")).plain
    assert "This page lists at most" not in html  # nothing was left out


def test_the_summary_table_counts_each_team_and_kind_and_links_to_its_groups() -> None:
    html = render_html(make_result())
    table = html[html.index('<table class="kinds">'): html.index("</table>", html.index('<table class="kinds">'))]
    rows = [_Page(row).plain for row in re.findall(r"<tr>.*?</tr>", table, flags=re.S)[1:]]
    assert rows == [
        "billing failed_autopay critical 3 1 1 1 1 0 0",
        "dealer service recall_missing_locally info 1 1 0 0 0 0 0",
        "service provisioned_not_billed high 1 0 0 1 0 0 0",
        "service duplicate_active_line medium 1 1 0 0 0 0 0",
    ]
    for anchor in re.findall(r'href="#([\w-]+)"', table):
        assert f'id="{anchor}"' in html


def _many(open_count: int, new_count: int) -> list:  # type: ignore[type-arg]
    found = [make_finding(f"AC-{i:03d}", status=FindingStatus.open, first_seen_days_ago=i % 7,
                          severity="critical" if i == 17 else "high") for i in range(open_count)]
    found += [make_finding(f"NW-{i:03d}", status=FindingStatus.new) for i in range(new_count)]
    return found


def test_each_group_lists_a_bounded_number_and_says_where_the_rest_are(tmp_path: Path) -> None:
    result = make_result(findings=_many(30, 5), resolved=[])
    paths = write_reports(result, tmp_path, formats=["json", "csv", "html"], html_findings_per_group=10)
    html = paths["html"].read_text(encoding="utf-8")
    page = _Page(html).plain
    still = _section(html, "findings")
    listed = re.findall(r'<article class="finding sev-\w+" id="f-(\w+)"', still)
    assert len(listed) == 10
    assert "Showing 10 of 30 (the most severe first, then the oldest). The other 20 are counted above and " \
           "listed in run-42.json and run-42.csv." in page
    assert "This page lists at most 10 findings per team and kind in each section below: 15 of the 35 " \
           "counted above." in page
    # The critical one first, then the oldest (6 days) of the rest.
    by_fp = {f.fingerprint: f for f in result.findings}
    shown = [by_fp[fp] for fp in listed]
    assert shown[0].subject.key == "AC-017"
    ages = [(result.as_of - f.first_seen).days for f in shown[1:]]  # type: ignore[operator]
    assert ages == sorted(ages, reverse=True) and ages[0] == 6
    assert len(re.findall(r"<article ", _section(html, "changed"))) == 5  # under the bound: all of them
    assert '<div class="card"><b>35</b>findings</div>' in html
    # The JSON and CSV hold every finding.
    assert len(json.loads(paths["json"].read_text(encoding="utf-8"))["findings"]) == 35
    assert len(paths["csv"].read_text(encoding="utf-8-sig").splitlines()) == 36


def test_the_bound_can_be_lifted_or_set_to_nothing() -> None:
    result = make_result(findings=_many(30, 0), resolved=[])
    assert len(re.findall(r"<article ", render_html(result, per_group=None))) == 30
    nothing = render_html(result, per_group=0)
    assert "<article " not in nothing and "Showing 0 of 30" in _Page(nothing).plain
    assert "reconcile report --run 42 --format json,csv" in _Page(nothing).plain
    with pytest.raises(ValueError, match="0 or more"):
        render_html(result, per_group=-1)


def test_evidence_puts_each_systems_value_side_by_side() -> None:
    mismatch = make_finding("K-1", kind="name_mismatch", severity="medium", owner="cards", records=[])
    mismatch.records.extend([
        RecordRef(source="crm", record_type="contact", key="C-1",
                  fields={"company": "Acme Widgets Ltd.", "given_name": None, "phone": ""}),
        RecordRef(source="cards", record_type="account", key="K-1",
                  fields={"company": "ACME WIDGETZ", "printed": 10, "given_name": None}),
    ])
    html = render_html(make_result(findings=[mismatch]))
    article = html[html.index("<article"): html.index("</article>")]
    headers = re.findall(r"<th>([^<]*)</th>", article)
    assert headers == ["System", "Record", "Key", "Role", "company", "Other fields"]
    rows = [
        [_Page(cell).plain for cell in re.findall(r"<td>(.*?)</td>", row, flags=re.S)]
        for row in re.findall(r"<tr.*?</tr>", article, flags=re.S)[1:]
    ]
    # Grouped by system; the subject (billing) is not among the records, so it is added;
    # fields no system filled in (given_name, phone) are left out.
    assert rows == [
        ["billing", "account", "K-1", "mandate", "", "holder ROBERT SMITH autopay yes"],
        ["cards", "account", "K-1", "", "ACME WIDGETZ", "printed 10"],
        ["crm", "contact", "C-1", "", "Acme Widgets Ltd.", ""],
    ]


def test_no_findings_says_so_and_unhealthy_sources_stand_out() -> None:
    health = [SourceHealth(source="crm", healthy=False, error="source 'crm': timed out")]
    page = _Page(render_html(make_result(findings=[], resolved=[], quarantine=[], health=health)))
    assert "No findings: every system agrees" in page.plain
    assert "crm unhealthy 0 0 0 0.00 source 'crm': timed out" in page.plain


def test_large_counts_have_thousands_separators() -> None:
    result = make_result(findings=_many(3, 0), resolved=[], entities=1_234_567)
    page = _Page(render_html(result)).plain
    assert "1,234,567 customers matched" in page
