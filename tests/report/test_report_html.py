"""The HTML report: readable by a support or billing person, and safe with hostile data."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

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
    assert "billing ok 1000 998 2 1.25" in page.plain  # health row


def test_findings_are_grouped_by_owner_then_severity() -> None:
    html = render_html(make_result())
    owners = re.findall(r'<section class="owner" id="owner-\d+">\s*<h2>([^<]+) <span', html)
    assert owners == ["billing", "dealer service", "service"]
    billing = html[html.index('id="owner-1"'): html.index('id="owner-2"')]
    severities = re.findall(r'<article class="finding sev-(\w+)"', billing)
    assert severities == ["critical", "high", "low"]
    assert "AC-1" in billing and "LN-7" not in billing


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
