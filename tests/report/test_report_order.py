"""The report writers' shortcuts give what the plain way gives: order, JSON text, times."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from report_factories import AS_OF, make_finding, make_result

from reconcile.findings import Finding, RecordRef, Severity
from reconcile.report import _document
from reconcile.report._document import finding_json, sort_findings, write_json
from reconcile.store._json import encode_json

_FULL_KEY = lambda f: (-f.severity.rank, f.owner, f.kind, f.subject.rid, f.fingerprint)  # noqa: E731


def _finding(severity: str, owner: str, kind: str, key: str, rule: str, detail_key: str) -> Finding:
    return Finding(
        rule_id=rule, kind=kind, severity=Severity(severity), owner=owner, story="s",
        subject=RecordRef(source="billing", record_type="account", key=key), detail_key=detail_key,
    )


_findings = st.lists(
    st.builds(
        _finding,
        st.sampled_from(["low", "high", "critical"]),
        st.sampled_from(["billing", "crm"]),
        st.sampled_from(["failed_autopay", "missing_in"]),
        st.sampled_from(["A-1", "A-2", "A-3"]),
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(["", "x", "y", "z"]),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(_findings)
def test_sort_findings_orders_as_sorting_on_the_whole_key(findings: list[Finding]) -> None:
    # Few distinct subjects: many findings tie on all but the fingerprint (and some on it too).
    ordered = sort_findings(findings)
    assert [id(f) for f in ordered] == [id(f) for f in sorted(findings, key=_FULL_KEY)]


def test_sort_findings_breaks_ties_by_fingerprint() -> None:
    findings = [_finding("high", "billing", "k", "A-1", "r", d) for d in ("a", "b", "c", "d", "e")]
    assert sort_findings(findings) == sorted(findings, key=lambda f: f.fingerprint)
    assert sort_findings(list(reversed(findings))) == sorted(findings, key=lambda f: f.fingerprint)
    assert sort_findings([]) == []


def _plain_json(result: Any, findings: list[Finding]) -> bytes:
    """The JSON report as it was written before entries were written together: one write per entry."""
    out = io.BytesIO()
    write_json(result, out, findings=findings[:0], resolved=[])
    head = out.getvalue().split(b',\n"findings":[')[0]
    parts = [head]

    def items(name: str, values: list[Any], entry: Any) -> None:
        parts.append(f',\n"{name}":['.encode())
        first = True
        for value in values:
            parts.append(b"\n" if first else b",\n")
            parts.append(encode_json(entry(value)).encode("utf-8"))
            first = False
        parts.append(b"]" if first else b"\n]")

    items("findings", findings, lambda f: finding_json(f, result.as_of))
    items("resolved", sort_findings(list(result.resolved)), lambda f: finding_json(f, result.as_of))
    items("quarantine", list(result.quarantine), lambda q: {
        "source": q.source, "stream": q.stream, "row": q.row, "field": q.field, "reason": q.reason, "raw": q.raw,
    })
    parts.append(b"}\n")
    return b"".join(parts)


@pytest.mark.parametrize("together", [1, 2, 3, 1000])
@pytest.mark.parametrize("count", [0, 1, 2, 3, 7])
def test_json_entries_written_together_give_the_same_bytes(
    monkeypatch: pytest.MonkeyPatch, together: int, count: int
) -> None:
    monkeypatch.setattr(_document, "_WRITTEN_TOGETHER", together)
    findings = sort_findings([make_finding(f"AC-{i}", story=f"caf\u00e9 {i}") for i in range(count)])
    result = make_result(findings=findings, resolved=[], quarantine=make_result().quarantine[: count % 3])
    out = io.BytesIO()
    write_json(result, out, findings=findings)
    assert out.getvalue() == _plain_json(result, findings)


def test_times_are_written_as_each_one_alone_would_be() -> None:
    _document._Z_TEXTS.clear()
    paris = dt.timezone(dt.timedelta(hours=1))
    naive = dt.datetime(2026, 11, 1, 6, 0)
    times: list[Any] = [
        AS_OF, AS_OF.astimezone(paris), naive, naive.replace(microsecond=5), AS_OF, naive,
        pd.Timestamp("2026-11-01 06:00:00.000001", tz="UTC"), pd.Timestamp(AS_OF), None,
        dt.datetime(2026, 11, 1, 7, 0, tzinfo=paris),
    ]
    expected = [_document._z_text(t) for t in times]
    assert [_document._z(t) for t in times] == expected
    assert [_document._z(t) for t in reversed(times)] == list(reversed(expected))
    assert _document._z(naive) == "2026-11-01T06:00:00Z"
    # A subclass equal to a time written before is written as itself (not taken for it).
    _document._z(AS_OF)
    assert _document._z(_OddTime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)) == "odd"
    assert _document._z(AS_OF.astimezone(paris)) == "2026-11-01T06:00:00Z"


class _OddTime(dt.datetime):
    def isoformat(self, *args: Any, **kwargs: Any) -> str:
        return "odd"


def test_times_kept_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_document, "_Z_KEPT", 4)
    _document._Z_TEXTS.clear()
    for minutes in range(10):
        moment = AS_OF + dt.timedelta(minutes=minutes)
        assert _document._z(moment) == _document._z_text(moment)
        assert len(_document._Z_TEXTS) <= 4


def _tracked(finding: Finding, status: str, days: int | None, suppressed: bool) -> Finding:
    from reconcile.findings import FindingStatus
    from reconcile.store._tracked import Suppression, TrackedFinding

    sup = Suppression(fingerprint="f" * 24, reason="r", author="a", created_at=AS_OF) if suppressed else None
    return TrackedFinding.model_validate({
        **{k: getattr(finding, k) for k in Finding.model_fields},
        "status": FindingStatus(status),
        "first_seen": None if days is None else AS_OF - dt.timedelta(days=days),
        "suppression": sup,
    })


_tracked_findings = st.lists(
    st.builds(_tracked, _findings.filter(bool).map(lambda fs: fs[0]),
              st.sampled_from(["new", "open", "reopened", "resolved"]), st.sampled_from([None, 0, 3]),
              st.booleans()),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(found=_tracked_findings, section=st.sampled_from(["changed", "open", "resolved"]),
       count=st.one_of(st.none(), st.integers(0, 12)))
def test_a_group_ranks_and_cuts_as_sorting_on_the_key_and_fingerprint(
    found: list[Finding], section: str, count: int | None
) -> None:
    from reconcile.report._html import _order, _ranked

    key = _order(section)
    expected = sorted(found, key=lambda f: (*key(f), f.fingerprint))
    if count is not None:
        expected = expected[:count]
    assert [id(f) for f in _ranked(found, key, count)] == [id(f) for f in expected]


@settings(max_examples=100, deadline=None)
@given(found=_tracked_findings)
def test_summary_counts_as_one_loop_over_the_findings(found: list[Finding]) -> None:
    from collections import Counter

    result = make_result(findings=found)
    got = _document.summary(result)
    for name, attr in (("by_kind", "kind"), ("by_owner", "owner"), ("by_rule", "rule_id")):
        counts = Counter(getattr(f, attr) for f in found)
        assert list(getattr(got, name).items()) == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    assert got.by_severity == {s.value: sum(f.severity == s for f in found) for s in reversed(Severity)}
    assert got.suppressed == sum(getattr(f, "suppression", None) is not None for f in found)
    assert sum(got.by_status.values()) == len(found)
    for status, n in got.by_status.items():
        assert n == sum((f.status.value if f.status else "untracked") == status for f in found)
