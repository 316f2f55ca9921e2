"""Each finding's match evidence in the reports: escaped in HTML, whole in JSON."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

from report_factories import HOSTILE, make_finding, make_result

from reconcile.report import render_html, write_reports

TITLE = "Why these records are the same customer"


def _evidence(name: str = "robert") -> dict:
    return {
        "records": ["billing:account:AC-9", "crm:contact:C-AC-9"],
        "links": [{
            "rid_l": "billing:account:AC-9", "rid_r": "crm:contact:C-AC-9", "linked": True,
            "method": "probabilistic", "rule": None, "same_entity": True, "score": 19.66,
            "probability": 0.999999, "threshold": 0.9, "veto": [],
            "fields": [
                {"comparison": "given_name", "value_l": name, "value_r": "robert", "level": "exact", "weight": 6.85},
                {"comparison": "phone", "value_l": "+15551234567", "value_r": None, "level": "missing", "weight": 0.0},
            ],
        }],
        "omitted": 2,
    }


class _Tags(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)


def test_html_shows_the_evidence_table() -> None:
    finding = make_finding("AC-9", detail={"match": _evidence()})
    html = render_html(make_result(findings=[finding]))
    assert html.count(TITLE) == 1
    assert "probability 0.9999990" not in html and "probability 1.0000" in html
    assert "(threshold 0.9)" in html
    for text in ("given_name", "exact", "+6.85", "missing", "+0.00", "2 more link(s)"):
        assert text in html


def test_html_evidence_is_escaped() -> None:
    finding = make_finding("AC-9", detail={"match": _evidence(name=HOSTILE)})
    html = render_html(make_result(findings=[finding]))
    assert HOSTILE not in html
    assert "&lt;script&gt;" in html
    assert "script" not in _Tags(html).tags


def test_findings_without_evidence_show_no_table() -> None:
    assert TITLE not in render_html(make_result())
    odd = make_finding("AC-9", detail={"match": "free text from a rule"})
    assert TITLE not in render_html(make_result(findings=[odd]))


def test_json_report_carries_the_evidence(tmp_path: Path) -> None:
    finding = make_finding("AC-9", detail={"match": _evidence()})
    path = write_reports(make_result(findings=[finding]), tmp_path, formats=["json"])["json"]
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["findings"][0]["detail"]["match"] == _evidence()
