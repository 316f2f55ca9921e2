"""The HTML page's layout (groups, counts, worst severities, order) is what the finding-by-finding pass made."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_factories import AS_OF, make_finding, make_result

from reconcile.findings import Finding, FindingStatus, Severity
from reconcile.report import _html
from reconcile.report._document import summary
from reconcile.store._tracked import Suppression, TrackedFinding, Unverified


def _reference_layout(result, per_group):  # type: ignore[no-untyped-def]
    """_layout as it was: one pass adding to each row's counts, finding by finding."""

    def section_of(finding):  # type: ignore[no-untyped-def]
        return "changed" if finding.status in (FindingStatus.new, FindingStatus.reopened) else "open"

    def order(section):  # type: ignore[no-untyped-def]
        if section == "changed":
            return lambda f: (-f.severity.rank, getattr(f, "suppression", None) is not None,
                              f.status != FindingStatus.reopened, f.subject.rid)
        if section == "open":
            return lambda f: (-f.severity.rank, getattr(f, "suppression", None) is not None,
                              _html._utc_or_max(f.first_seen), f.subject.rid)
        return lambda f: (-f.severity.rank, f.subject.rid)

    buckets: dict[Any, list[Finding]] = {}
    rows: dict[Any, Any] = {}
    for section, findings in (("findings", result.findings), ("resolved", result.resolved)):
        for finding in findings:
            where = section_of(finding) if section == "findings" else "resolved"
            buckets.setdefault((where, finding.owner, finding.kind), []).append(finding)
            row = rows.get((finding.owner, finding.kind))
            if row is None:
                row = rows[(finding.owner, finding.kind)] = _html._Row(finding.owner, finding.kind, finding.severity)
            elif finding.severity > row.worst and (where != "resolved" or not row.counts.get("total")):
                row.worst = finding.severity
            status = "resolved" if where == "resolved" else (
                finding.status.value if finding.status is not None else "untracked")
            row.counts[status] = row.counts.get(status, 0) + 1
            if where != "resolved":
                row.counts["total"] = row.counts.get("total", 0) + 1
                if getattr(finding, "suppression", None) is not None:
                    row.counts["suppressed"] = row.counts.get("suppressed", 0) + 1
                if getattr(finding, "unverified", None) is not None:
                    row.counts["unverified"] = row.counts.get("unverified", 0) + 1
    groups = []
    for number, ((where, owner, kind), found) in enumerate(sorted(buckets.items()), start=1):
        shown = sorted(found, key=lambda f: (*order(where)(f), f.fingerprint))
        statuses: dict[str, int] = {}
        for f in found:
            name = f.status.value if f.status is not None else "untracked"
            statuses[name] = statuses.get(name, 0) + 1
        groups.append((where, owner, kind, f"{where}-{number}", len(found),
                       max((f.severity for f in found), key=lambda v: v.rank), statuses,
                       shown if per_group is None else shown[:per_group]))
        rows[(owner, kind)].anchors[where] = f"{where}-{number}"
    return groups, {key: (row.worst, row.counts, row.anchors) for key, row in rows.items()}


def _as_data(sections, table):  # type: ignore[no-untyped-def]
    groups = sorted(
        (where, group.owner, group.kind, group.anchor, group.total, group.worst, group.statuses,
         [item.finding for item in group.items])
        for where, section in sections.items() for _, gs in section.owners for group in gs
    )
    rows = {(row.owner, row.kind): (row.worst, row.counts, row.anchors) for _, rs in table for row in rs}
    return groups, rows


_OWNERS = st.sampled_from(["billing", "service"])
_KINDS = st.sampled_from(["failed_autopay", "name_mismatch"])


@st.composite
def _findings(draw, resolved=False):  # type: ignore[no-untyped-def]
    key = draw(st.sampled_from(["AC-1", "AC-2", "AC-3", "AC-4"]))
    status = FindingStatus.resolved if resolved else draw(st.sampled_from([None, *FindingStatus]))
    made = make_finding(key, kind=draw(_KINDS), owner=draw(_OWNERS), severity=draw(st.sampled_from(list(Severity))),
                        status=status, first_seen_days_ago=draw(st.integers(0, 3)),
                        detail_key=str(draw(st.integers(0, 30))))
    sup = draw(st.booleans())
    flag = draw(st.booleans())
    if sup or flag:
        made = TrackedFinding.model_validate({
            **made.model_dump(exclude={"fingerprint"}),
            "suppression": Suppression(fingerprint="f" * 24, reason="r", author="a", created_at=AS_OF) if sup else None,
            "unverified": Unverified(run_id=1, reason="r", since=AS_OF - dt.timedelta(days=1)) if flag else None,
        })
    return made


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(found=st.lists(_findings(), max_size=25), gone=st.lists(_findings(resolved=True), max_size=8),
       per_group=st.sampled_from([None, 0, 1, 3]))
def test_the_layout_is_what_the_finding_by_finding_pass_made(found, gone, per_group) -> None:  # type: ignore[no-untyped-def]
    result = make_result(findings=found, resolved=gone)
    sections, table = _html._layout(result, per_group)
    groups, rows = _as_data(sections, table)
    expected_groups, expected_rows = _reference_layout(result, per_group)
    assert groups == sorted(expected_groups)
    assert rows == expected_rows
    assert summary(result).by_status == _reference_by_status(result)


def _reference_by_status(result):  # type: ignore[no-untyped-def]
    counts: dict[Any, int] = {}
    for f in result.findings:
        counts[f.status] = counts.get(f.status, 0) + 1
    out = {}
    for status in (*FindingStatus, None):
        n = counts.get(status, 0)
        if n or status in (FindingStatus.new, FindingStatus.open, FindingStatus.reopened):
            out["untracked" if status is None else status.value] = n
    return out
