"""The HTML report: one self-contained page a support or billing person can act on.

Rendered with Jinja2 with autoescaping on: every value from the data (names,
stories, keys, owners) is escaped, so a hostile value such as a ``<script>``
tag in a customer name is shown as text. The page has no script and loads
nothing; its Content-Security-Policy forbids both, as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reconcile._version import __version__
from reconcile.findings import Finding, RecordRef, Severity
from reconcile.report._document import age_days, sort_findings, summary
from reconcile.results import RunResult
from reconcile.store._json import json_safe
from reconcile.store._story import EntityStory

__all__ = ["render_html"]

#: Quarantined rows listed one by one on the page (all are counted, and all are in the JSON).
QUARANTINE_ROWS_SHOWN = 200


@dataclass
class _Evidence:
    """The records of one finding as a table, one row per record.

    A field that two or more records hold (a name, an amount) gets a column,
    so the systems' values sit side by side; a field only one record holds is
    listed in that record's "other fields" cell.
    """

    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Item:
    finding: Finding
    evidence: _Evidence
    age_days: int | None

    @property
    def evidence_html(self) -> Markup:
        return _evidence_rows_html(self.evidence)


def _esc(value: Any) -> str:
    """``value`` as Jinja2's autoescaping writes it (markupsafe's escaping, spelled out for speed)."""
    if hasattr(value, "__html__"):
        return str(value.__html__())
    text = value if type(value) is str else str(value)
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    if "'" in text:
        text = text.replace("'", "&#39;")
    if '"' in text:
        text = text.replace('"', "&#34;")
    return text


def _evidence_rows_html(evidence: _Evidence) -> Markup:
    """The evidence table's rows, exactly as the template wrote them cell by cell (built here: much faster)."""
    out: list[str] = []
    for row in evidence.rows:
        subject = ' class="subject"' if row["subject"] else ""
        values = "".join(f"<td>{_esc(value)}</td>" for value in row["values"])
        other = "".join(
            f'<span class="kv"><b>{_esc(name)}</b> {_esc(value)}</span>' for name, value in row["other"]
        )
        out.append(
            f"          <tr{subject}><td>{_esc(row['system'])}</td><td>{_esc(row['record'])}</td>\n"
            f"            <td>{_esc(row['key'])}</td><td>{_esc(row['role'])}</td>\n"
            f"{values}            <td>{other}</td></tr>\n"
        )
    return Markup("".join(out))


def _match_fields_html(link: Any) -> Markup:
    """The rows of one link's match-evidence table, exactly as the template wrote them."""
    out: list[str] = []
    for field_ in link.get("fields", []):
        out.append(
            f"            <tr><td>{_esc(field_.get('comparison'))}</td><td>{_esc(_show(field_.get('value_l')))}</td>"
            f"<td>{_esc(_show(field_.get('value_r')))}</td>\n"
            f"                <td>{_esc(field_.get('level'))}</td>"
            f"<td class=\"num\">{_esc('%+.2f' % (field_.get('weight', 0),))}</td></tr>\n"  # noqa: UP031 - the template's format filter is %
        )
    return Markup("".join(out))


def _show(value: Any) -> str:
    """A field value as a person reads it."""
    value = json_safe(value)
    if value is None:
        return "—"
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if isinstance(value, list):
        return ", ".join(_show(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def _when(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _evidence(finding: Finding) -> _Evidence:
    records: list[RecordRef] = list(finding.records)
    if finding.subject.rid not in {r.rid for r in records}:
        records.insert(0, finding.subject)
    records.sort(key=lambda r: r.source)  # grouped by system, stable within one
    # A field a system leaves empty is no evidence: it neither makes a column
    # nor fills the "other fields" cell.
    held = [{k: v for k, v in r.fields.items() if json_safe(v) not in (None, "")} for r in records]
    holders: dict[str, int] = {}
    for fields in held:
        for name in fields:
            holders[name] = holders.get(name, 0) + 1
    columns = [name for name, n in holders.items() if n > 1]
    rows = [
        {
            "system": r.source,
            "record": r.record_type,
            "key": r.key,
            "role": r.role or "",
            "subject": r.rid == finding.subject.rid,
            "values": [_show(fields[c]) if c in fields else "" for c in columns],
            "other": [(name, _show(value)) for name, value in fields.items() if name not in columns],
        }
        for r, fields in zip(records, held, strict=True)
    ]
    return _Evidence(columns=columns, rows=rows)


def _groups(findings: Iterable[Finding], as_of: dt.datetime) -> list[dict[str, Any]]:
    """Findings by owner (alphabetical), then by severity (most severe first)."""
    by_owner: dict[str, dict[Severity, list[_Item]]] = {}
    for finding in sort_findings(list(findings)):
        item = _Item(finding, _evidence(finding), age_days(finding, as_of))
        by_owner.setdefault(finding.owner, {}).setdefault(finding.severity, []).append(item)
    return [
        {
            "owner": owner,
            "count": sum(len(items) for items in severities.values()),
            "severities": [
                {"severity": severity, "items": severities[severity]}
                for severity in reversed(Severity)
                if severity in severities
            ],
        }
        for owner, severities in sorted(by_owner.items())
    ]


@cache
def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("reconcile.report", "templates"),
        autoescape=True,  # every value from the data is escaped: never turn this off
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["show"] = _show
    env.filters["when"] = _when
    env.filters["match_fields_html"] = _match_fields_html
    return env


def _story_view(story: EntityStory) -> dict[str, Any]:
    """A customer's story laid out for the page: the timeline and the records per system."""
    numbers = {f.fingerprint: i for i, f in enumerate(story.findings, start=1)}
    systems = []
    for system, records in story.systems.items():
        rows = []
        for record in records:
            fields = record.snapshot if record.snapshot is not None else record.fields
            shown = [(name, _show(value)) for name, value in fields.items() if json_safe(value) not in (None, "")]
            rows.append({
                "record": record.record_type, "key": record.key, "roles": ", ".join(record.roles),
                "fields": shown, "from_snapshot": record.snapshot is not None,
                "findings": [numbers[fp] for fp in record.findings if fp in numbers],
            })
        systems.append({"system": system, "rows": rows})
    return {
        "entity_id": story.entity_id,
        "findings": [(numbers[f.fingerprint], f) for f in story.findings],
        "timeline": [(e, numbers.get(e.fingerprint)) for e in story.timeline],
        "systems": systems,
    }


def render_html(result: RunResult, *, stories: Sequence[EntityStory] = ()) -> str:
    """The HTML page of a run.

    Args:
        result: The run.
        stories: Customers' whole stories (``Store.stories_for(result)``),
            shown in their own section and linked from their findings.
    """
    counts = summary(result)
    quarantine_by_stream: dict[tuple[str, str], int] = {}
    for row in result.quarantine:
        key = (row.source, row.stream)
        quarantine_by_stream[key] = quarantine_by_stream.get(key, 0) + 1
    views = [_story_view(story) for story in stories if story.findings]
    story_anchor = {view["entity_id"]: f"story-{i}" for i, view in enumerate(views, start=1)}
    template = _environment().get_template("report.html.j2")
    return template.render(
        stories=views,
        story_anchor=story_anchor,
        result=result,
        summary=counts,
        severities=list(reversed(Severity)),
        groups=_groups(result.findings, result.as_of),
        resolved=sort_findings(list(result.resolved)),
        quarantine_by_stream=sorted(quarantine_by_stream.items()),
        quarantine_rows=result.quarantine[:QUARANTINE_ROWS_SHOWN],
        version=__version__,
    )
