"""The HTML report: one self-contained page a support or billing person can act on.

Rendered with Jinja2 with autoescaping on: every value from the data (names,
stories, keys, owners) is escaped, so a hostile value such as a ``<script>``
tag in a customer name is shown as text. The page has no script and loads
nothing; its Content-Security-Policy forbids both, as a second line of defence.
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from reconcile._version import __version__
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.report._document import age_days, summary
from reconcile.results import RunResult
from reconcile.store._json import json_safe
from reconcile.store._story import EntityStory

__all__ = ["FINDINGS_PER_GROUP", "render_html"]

#: Quarantined rows listed one by one on the page (all are counted, and all are in the JSON).
QUARANTINE_ROWS_SHOWN = 200

#: Findings listed per team and kind in each section of the page, by default
#: (``reports.html_findings_per_group``); every finding is counted, and all
#: are in the JSON and CSV reports.
FINDINGS_PER_GROUP = 20


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


def _num(value: int) -> str:
    """A count with thousands separators (15,500), as a person reads it."""
    return f"{value:,}"


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


@dataclass
class _Group:
    """The findings of one team and kind in one section of the page: all counted, the first few listed."""

    owner: str
    kind: str
    anchor: str
    total: int
    worst: Severity
    items: list[_Item]
    statuses: dict[str, int]

    @property
    def hidden(self) -> int:
        return self.total - len(self.items)


@dataclass
class _Section:
    """A part of the page (new and back again, still open, resolved): its groups by team."""

    id: str
    owners: list[tuple[str, list[_Group]]]

    @property
    def total(self) -> int:
        return sum(g.total for _, groups in self.owners for g in groups)


@dataclass
class _Row:
    """One team and kind in the summary table, with links to its groups."""

    owner: str
    kind: str
    worst: Severity
    counts: dict[str, int] = field(default_factory=dict)
    anchors: dict[str, str] = field(default_factory=dict)


_SECTIONS = ("changed", "open", "resolved")


def _section_of(finding: Finding) -> str:
    if finding.status in (FindingStatus.new, FindingStatus.reopened):
        return "changed"
    return "open"  # open, or a run without a store (no lifecycle)


def _order(section: str) -> Any:
    """How the findings of a group are ranked: the most severe first; then what to look at first.

    The key without its last part, the fingerprint (see :func:`_ranked`).
    """
    if section == "changed":  # back again before new; suppressed ones last
        def key(f: Finding) -> tuple[Any, ...]:
            values, subject = f.__dict__, f.__dict__["subject"]
            return (-_RANK[_text(values["severity"])], getattr(f, "suppression", None) is not None,
                    values["status"] != FindingStatus.reopened,
                    f"{subject.source}:{subject.record_type}:{subject.key}")
    elif section == "open":  # the oldest first: they have waited longest
        def key(f: Finding) -> tuple[Any, ...]:
            values, subject = f.__dict__, f.__dict__["subject"]
            first = _utc_or_max(values["first_seen"])
            return (-_RANK[_text(values["severity"])], getattr(f, "suppression", None) is not None, first,
                    f"{subject.source}:{subject.record_type}:{subject.key}")
    else:
        def key(f: Finding) -> tuple[Any, ...]:
            subject = f.__dict__["subject"]
            return (-_RANK[_text(f.__dict__["severity"])], f"{subject.source}:{subject.record_type}:{subject.key}")
    return key


def _ranked(found: list[Finding], key: Any, count: int | None) -> list[Finding]:
    """``sorted(found, key=key + fingerprint)[:count]`` (all of them for None), reading few fingerprints.

    A fingerprint is a hash computed each time it is read; it only orders
    findings equal on ``key``. So the findings are ranked on ``key`` and only
    those that could be shown and tie with another one on it are ordered by
    fingerprint: every finding whose key is below the ``count``-th smallest,
    and every one equal to it.
    """
    keys = [key(f) for f in found]
    if count is not None and count < len(found):
        if count <= 0:
            return []
        last = heapq.nsmallest(count, keys)[-1]
        # Those that may be shown, in the order given (the sort below is stable, as sorted() on the whole key is).
        chosen = [i for i, k in enumerate(keys) if k <= last]
    else:
        chosen = list(range(len(found)))
    chosen.sort(key=keys.__getitem__)
    ordered = [found[i] for i in chosen]
    start = 0
    for end in range(1, len(chosen) + 1):
        if end < len(chosen) and keys[chosen[end]] == keys[chosen[start]]:
            continue
        if end - start > 1:  # ties on the key: by fingerprint
            ordered[start:end] = sorted(ordered[start:end], key=lambda f: f.fingerprint)
        start = end
    return ordered if count is None else ordered[:count]


_LATEST = dt.datetime.max.replace(tzinfo=dt.UTC)


def _utc_or_max(value: dt.datetime | None) -> dt.datetime:
    if value is None:
        return _LATEST
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def _layout(
    result: RunResult, per_group: int | None
) -> tuple[dict[str, _Section], list[tuple[str, list[_Row]]]]:
    """The page's sections and its team-and-kind table, from one pass over the run's findings."""
    buckets: dict[tuple[str, str, str], list[Finding]] = {}
    for section, findings in (("findings", result.findings), ("resolved", result.resolved)):
        for finding in findings:
            values = finding.__dict__
            if section == "resolved":
                where = "resolved"
            else:  # as _section_of
                where = "changed" if values["status"] in _CHANGED else "open"
            key = (where, values["owner"], values["kind"])
            found = buckets.get(key)
            if found is None:
                buckets[key] = [finding]
            else:
                found.append(finding)
    # The summary table: per team and kind, the worst unresolved severity (the worst resolved one
    # without any) and counts by status (resolved ones as "resolved"), only those above zero.
    rows: dict[tuple[str, str], _Row] = {}
    worst_open: dict[tuple[str, str], int] = {}
    for (where, owner, kind), found in buckets.items():
        row = rows.get((owner, kind))
        if row is None:
            row = rows[(owner, kind)] = _Row(owner, kind, Severity.info)  # its worst is set below
        counts = row.counts
        if where == "resolved":
            counts["resolved"] = counts.get("resolved", 0) + len(found)
            continue
        for name, n in _status_counts(found).items():
            counts[name] = counts.get(name, 0) + n
        counts["total"] = counts.get("total", 0) + len(found)
        suppressed = sum(getattr(f, "suppression", None) is not None for f in found)
        unverified = sum(getattr(f, "unverified", None) is not None for f in found)
        if suppressed:
            counts["suppressed"] = counts.get("suppressed", 0) + suppressed
        if unverified:
            counts["unverified"] = counts.get("unverified", 0) + unverified
        worst_open[(owner, kind)] = max(worst_open.get((owner, kind), -1), _worst_rank(found))
    for (where, owner, kind), found in buckets.items():
        if where == "resolved" and (owner, kind) not in worst_open:
            worst_open[(owner, kind)] = _worst_rank(found)
    for pair, rank in worst_open.items():
        rows[pair].worst = _BY_RANK[rank]
    sections = {name: _Section(name, []) for name in _SECTIONS}
    by_owner: dict[str, dict[str, list[_Group]]] = {name: {} for name in _SECTIONS}
    for number, ((where, owner, kind), found) in enumerate(sorted(buckets.items()), start=1):
        shown = _ranked(found, _order(where), per_group)
        anchor = f"{where}-{number}"
        group = _Group(
            owner=owner, kind=kind, anchor=anchor, total=len(found),
            worst=_BY_RANK[_worst_rank(found)],
            items=[_Item(f, _evidence(f), age_days(f, result.as_of)) for f in shown] if where != "resolved"
            else [_Item(f, _Evidence(), age_days(f, result.as_of)) for f in shown],
            statuses=_status_counts(found),
        )
        by_owner[where].setdefault(owner, []).append(group)
        rows[(owner, kind)].anchors[where] = anchor
    for where, owners in by_owner.items():
        sections[where].owners = [
            (owner, sorted(groups, key=lambda g: (-g.worst.rank, g.kind))) for owner, groups in sorted(owners.items())
        ]
    table: dict[str, list[_Row]] = {}
    for (owner, _), row in sorted(rows.items()):
        table.setdefault(owner, []).append(row)
    return sections, [
        (owner, sorted(owner_rows, key=lambda r: (-r.worst.rank, r.kind))) for owner, owner_rows in table.items()
    ]


_CHANGED = (FindingStatus.new, FindingStatus.reopened)
_text = str.__str__  # a StrEnum member's value, as plain text (an enum member hashes in Python, a str in C)
_RANK = {severity.value: severity.rank for severity in Severity}
_BY_RANK = {severity.rank: severity for severity in Severity}


def _worst_rank(found: list[Finding]) -> int:
    """The rank of the most severe of some findings (read in C: severities by their text)."""
    return max(map(_RANK.__getitem__, map(_text, map(_severity_of, found))))


def _status_counts(found: list[Finding]) -> dict[str, int]:
    """How many of some findings have each status (``untracked``: none), as the page names them."""
    statuses = list(map(_status_of, found))
    tracked = list(filter(None, statuses))
    counts: dict[str, int] = dict(Counter(map(_text, tracked)))
    if len(tracked) != len(statuses):
        counts["untracked"] = len(statuses) - len(tracked)
    return counts


_severity_of = attrgetter("severity")
_status_of = attrgetter("status")


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
    env.filters["num"] = _num
    env.filters["when"] = _when
    env.filters["match_fields_html"] = _match_fields_html
    return env


def _full_reports(result: RunResult) -> str:
    if result.run_id is None:
        return "the JSON and CSV reports"
    return f"the JSON and CSV reports (reconcile report --run {result.run_id} --format json,csv)"


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


def render_html(
    result: RunResult,
    *,
    stories: Sequence[EntityStory] = (),
    per_group: int | None = FINDINGS_PER_GROUP,
    full_reports: str | None = None,
) -> str:
    """The HTML page of a run.

    Every finding is counted, but each section lists at most ``per_group``
    findings per team and kind (the most severe first, then the ones to look
    at first), and says so with the counts: the JSON and CSV reports hold all.

    Args:
        result: The run.
        stories: Customers' whole stories (``Store.stories_for(result)``),
            shown in their own section and linked from their findings.
        per_group: Findings listed per team and kind in each section
            (None: all of them).
        full_reports: Where the reader finds every finding (such as
            ``run-42.json and run-42.csv``); by default the JSON and CSV
            reports and the command that writes them.
    """
    if per_group is not None and per_group < 0:
        raise ValueError(f"per_group must be 0 or more (or None for all), not {per_group}")
    counts = summary(result)
    quarantine_by_stream: dict[tuple[str, str], int] = {}
    for row in result.quarantine:
        key = (row.source, row.stream)
        quarantine_by_stream[key] = quarantine_by_stream.get(key, 0) + 1
    sections, table = _layout(result, per_group)
    views = [_story_view(story) for story in stories if story.findings]
    story_anchor = {view["entity_id"]: f"story-{i}" for i, view in enumerate(views, start=1)}
    template = _environment().get_template("report.html.j2")
    return template.render(
        stories=views,
        story_anchor=story_anchor,
        result=result,
        summary=counts,
        severities=list(reversed(Severity)),
        sections=sections,
        table=table,
        per_group=per_group,
        full_reports=full_reports or _full_reports(result),
        listed=sum(len(g.items) for section in sections.values() for _, gs in section.owners for g in gs),
        quarantine_by_stream=sorted(quarantine_by_stream.items()),
        quarantine_rows=result.quarantine[:QUARANTINE_ROWS_SHOWN],
        skipped=any(h.rows_skipped for h in result.health),
        version=__version__,
    )
