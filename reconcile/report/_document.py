"""The JSON report: a documented, versioned document built from a :class:`RunResult`.

The models below *are* the schema: :func:`json_schema` exports it, and a
consumer can validate a file with ``ReportDocument.model_validate_json``.
Version 1 promises that these fields keep their names, types and meanings;
a change to any of them is a new ``schema_version``. New optional fields may
be added within a version.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from operator import attrgetter
from typing import Any, BinaryIO, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconcile._version import __version__
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.results import RunResult
from reconcile.store._json import encode_json, encode_json_bytes, json_safe

__all__ = [
    "SCHEMA_VERSION",
    "FindingEntry",
    "SuppressionEntry",
    "UnverifiedEntry",
    "HealthEntry",
    "QuarantineEntry",
    "RecordEntry",
    "ReportDocument",
    "RunEntry",
    "Summary",
    "build_document",
    "finding_json",
    "json_schema",
    "sort_findings",
    "write_json",
]

#: Version of the JSON report's layout.
SCHEMA_VERSION = 1

_text = str.__str__  # a StrEnum member's value, as plain text (its ``.value`` is a slower descriptor)

#: ``by_status`` key of findings of a run without a store (no lifecycle).
UNTRACKED = "untracked"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordEntry(_Model):
    """One record involved in a finding."""

    rid: str = Field(description="source:record_type:key, unique across systems")
    source: str = Field(description="The system (source name in the configuration)")
    record_type: str
    key: str = Field(description="The record's key in its system")
    role: str | None = Field(description="What the record is to the finding, e.g. 'mandate'")
    fields: dict[str, Any] = Field(description="The fields that matter, as the system holds them")


class SuppressionEntry(_Model):
    """Why a finding is suppressed: it keeps its status but needs no action."""

    reason: str
    author: str
    since: dt.datetime = Field(description="When it was suppressed (UTC)")
    until: dt.datetime | None = Field(description="When the suppression lapses (UTC); null for good")


class UnverifiedEntry(_Model):
    """Why a finding could not be verified lately (a source it comes from was unhealthy)."""

    run_id: int = Field(description="The latest run that could not verify it")
    reason: str
    since: dt.datetime = Field(description="As-of time of the first run in a row that could not verify it")


class FindingEntry(_Model):
    """One finding."""

    fingerprint: str = Field(description="Stable identity across runs")
    rule_id: str
    kind: str
    severity: Severity
    owner: str = Field(description="The team that can fix it")
    status: FindingStatus | None = Field(description="new, open, reopened or resolved; null without a store")
    entity_id: str | None = Field(description="The matched customer (entity)")
    subject: RecordEntry
    records: list[RecordEntry]
    story: str = Field(description="One sentence a person can act on")
    confidence: float = Field(ge=0.0, le=1.0, description="How sure the match linking the records is")
    detail: dict[str, Any]
    detail_key: str
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    age_days: int | None = Field(description="Whole days from first_seen to the run's as_of")
    suppression: SuppressionEntry | None = Field(
        default=None, description="Set when a person suppressed the finding (it then fails no run)"
    )
    unverified: UnverifiedEntry | None = Field(
        default=None, description="Set while a source the finding comes from was unhealthy"
    )


class RunEntry(_Model):
    """The run."""

    id: int | None = Field(description="The run's id in the store; null without a store")
    status: str = Field(description="succeeded, failed or running")
    as_of: dt.datetime = Field(description="The reference time rules measured against (UTC)")
    started_at: dt.datetime
    finished_at: dt.datetime | None
    healthy: bool = Field(description="Every source was healthy")
    entities: int
    links: int
    timings: dict[str, float] = Field(description="Seconds per stage")


class Summary(_Model):
    """Counts a dashboard or a person reads first."""

    findings: int
    resolved: int = Field(description="Findings of earlier runs this run resolved")
    quarantined: int = Field(description="Rows that could not be used")
    by_severity: dict[str, int] = Field(description="Every severity, most severe first, zeros included")
    by_status: dict[str, int] = Field(description="new/open/reopened ('untracked' without a store)")
    by_kind: dict[str, int]
    by_owner: dict[str, int]
    by_rule: dict[str, int]
    suppressed: int = Field(default=0, description="Findings suppressed by a person (counted in findings)")


class HealthEntry(_Model):
    """How one source fared."""

    source: str
    healthy: bool
    rows_read: int
    rows_used: int
    rows_quarantined: int
    rows_skipped: int = Field(
        default=0, description="Rows of incremental file streams unchanged since the cursor"
    )
    duration_s: float
    error: str | None
    streams: dict[str, int] = Field(
        description="Records per record type (for incremental streams: the whole snapshot)"
    )


class QuarantineEntry(_Model):
    """A row that could not be used, with the reason."""

    source: str
    stream: str
    row: str
    field: str | None
    reason: str
    raw: dict[str, Any]


class ReportDocument(_Model):
    """The whole JSON report (``schema_version`` 1)."""

    schema_version: Literal[1] = 1
    generator: str = Field(description="The program and version that wrote the report")
    run: RunEntry
    summary: Summary
    health: list[HealthEntry]
    findings: list[FindingEntry] = Field(description="Most severe first, then by owner, kind, subject")
    resolved: list[FindingEntry] = Field(description="Findings this run resolved")
    quarantine: list[QuarantineEntry]


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the JSON report (version 1)."""
    schema = ReportDocument.model_json_schema()
    schema["$id"] = f"https://reconcile.invalid/schemas/report-v{SCHEMA_VERSION}.json"
    return schema


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by owner, kind, subject and fingerprint (deterministic).

    The fingerprint (a hash, computed each time it is read) is read only to
    order findings equal on everything before it (a rule's several findings
    on one subject), which are few: the same order as sorting on all five.
    """
    keys = [_sort_key(f.__dict__) for f in findings]
    order = sorted(range(len(keys)), key=keys.__getitem__)
    ordered = [findings[i] for i in order]
    start = 0
    for end in range(1, len(order) + 1):
        if end < len(order) and keys[order[end]] == keys[order[start]]:
            continue
        if end - start > 1:  # a run of ties: by fingerprint (stable, as sorting on the whole key is)
            ordered[start:end] = sorted(ordered[start:end], key=_fingerprint)
        start = end
    return ordered


_RANK = {severity.value: severity.rank for severity in Severity}  # by its text: an enum member hashes in Python


def _sort_key(values: dict[str, Any]) -> tuple[int, str, str, str]:
    """``(-severity.rank, owner, kind, subject.rid)`` of a finding's fields."""
    subject = values["subject"]
    return (-_RANK[_text(values["severity"])], values["owner"], values["kind"],
            f"{subject.source}:{subject.record_type}:{subject.key}")


def _fingerprint(finding: Finding) -> str:
    return finding.fingerprint


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _record(ref: RecordRef) -> RecordEntry:
    return RecordEntry(
        rid=ref.rid, source=ref.source, record_type=ref.record_type, key=ref.key,
        role=ref.role, fields=json_safe(ref.fields),
    )


def age_days(finding: Finding, as_of: dt.datetime) -> int | None:
    """Whole days from the finding's first sighting to ``as_of``."""
    first = _utc(finding.first_seen)
    now = _utc(as_of)
    if first is None or now is None:
        return None
    return max((now - first).days, 0)


class Ages:
    """:func:`age_days` of many findings against one as-of time, worked out once per distinct ``first_seen``.

    Equal times are the same instant, whose age is the same (most findings
    of a night share a handful of first sightings).
    """

    __slots__ = ("as_of", "known")

    def __init__(self, as_of: dt.datetime) -> None:
        self.as_of = as_of
        self.known: dict[dt.datetime, int | None] = {}

    def __call__(self, finding: Finding) -> int | None:
        first = finding.first_seen
        if first is None:
            return None
        known = self.known
        age = known.get(first, _UNKNOWN)
        if age is _UNKNOWN:
            age = known[first] = age_days(finding, self.as_of)
        return age  # type: ignore[return-value]


_UNKNOWN = object()


def _suppression(finding: Finding) -> SuppressionEntry | None:
    sup = getattr(finding, "suppression", None)
    if sup is None:
        return None
    return SuppressionEntry(reason=sup.reason, author=sup.author, since=_utc(sup.created_at),  # type: ignore[arg-type]
                            until=_utc(sup.until))


def _unverified(finding: Finding) -> UnverifiedEntry | None:
    flag = getattr(finding, "unverified", None)
    if flag is None:
        return None
    return UnverifiedEntry(run_id=flag.run_id, reason=flag.reason, since=_utc(flag.since))  # type: ignore[arg-type]


def finding_entry(finding: Finding, as_of: dt.datetime) -> FindingEntry:
    return FindingEntry(
        fingerprint=finding.fingerprint,
        rule_id=finding.rule_id,
        kind=finding.kind,
        severity=finding.severity,
        owner=finding.owner,
        status=finding.status,
        entity_id=finding.entity_id,
        subject=_record(finding.subject),
        records=[_record(r) for r in finding.records],
        story=finding.story,
        confidence=finding.confidence,
        detail=json_safe(finding.detail),
        detail_key=finding.detail_key,
        first_seen=_utc(finding.first_seen),
        last_seen=_utc(finding.last_seen),
        age_days=age_days(finding, as_of),
        suppression=_suppression(finding),
        unverified=_unverified(finding),
    )


def summary(result: RunResult) -> Summary:
    """The counts of a run: findings by severity, status, kind, owner and rule (one pass)."""
    findings = result.findings
    # Counted in C, one attribute at a time (a loop adding to five counters costs seconds at a million customers).
    # Severities and statuses by their plain text (an enum member hashes in Python, a str in C).
    severities: Counter[str] = Counter(map(_text, map(attrgetter("severity"), findings)))
    tracked = list(filter(None, map(attrgetter("status"), findings)))  # None: a run without a store
    statuses: Counter[str | None] = Counter(map(_text, tracked))
    if len(tracked) != len(findings):
        statuses[None] = len(findings) - len(tracked)
    kinds: Counter[str] = Counter(map(attrgetter("kind"), findings))
    owners: Counter[str] = Counter(map(attrgetter("owner"), findings))
    rules: Counter[str] = Counter(map(attrgetter("rule_id"), findings))
    suppressed = sum(1 for f in findings if getattr(f, "suppression", None) is not None)

    def count(values: Counter[str]) -> dict[str, int]:
        return dict(sorted(values.items(), key=lambda kv: (-kv[1], kv[0])))

    by_status: dict[str, int] = {}
    for status in (*FindingStatus, None):
        n = statuses.get(None if status is None else status.value, 0)
        if n or status in (FindingStatus.new, FindingStatus.open, FindingStatus.reopened):
            by_status[UNTRACKED if status is None else status.value] = n
    return Summary(
        findings=len(result.findings),
        resolved=len(result.resolved),
        quarantined=len(result.quarantine),
        by_severity={s.value: severities.get(s.value, 0) for s in reversed(Severity)},
        by_status=by_status,
        by_kind=count(kinds),
        by_owner=count(owners),
        by_rule=count(rules),
        suppressed=suppressed,
    )


def build_document(result: RunResult) -> ReportDocument:
    """The JSON report of a run, as a validated model."""
    as_of = result.as_of
    return ReportDocument(
        generator=f"reconcile {__version__}",
        run=_run_entry(result),
        summary=summary(result),
        health=[HealthEntry.model_validate(h.model_dump()) for h in result.health],
        findings=[finding_entry(f, as_of) for f in sort_findings(result.findings)],
        resolved=[finding_entry(f, as_of) for f in sort_findings(result.resolved)],
        quarantine=[
            QuarantineEntry.model_validate({**q.model_dump(), "raw": json_safe(q.raw)})
            for q in result.quarantine
        ],
    )


# ---------------------------------------------------------------- streaming

#: Entries of the JSON report encoded before they are written together.
_WRITTEN_TOGETHER = 1000


def _z(value: dt.datetime | None) -> str | None:
    """A time as pydantic writes it in the document: ISO 8601 in UTC with ``Z``."""
    if type(value) is dt.datetime:  # most findings share their times (the run's as-of): each written once
        text = _Z_TEXTS.get(value)
        if text is None:
            if len(_Z_TEXTS) >= _Z_KEPT:
                _Z_TEXTS.clear()
            text = _Z_TEXTS[value] = _z_text(value)
        return text
    return _z_text(value)


#: :func:`_z` of the times written lately (equal times give the same text: the same instant in UTC).
_Z_TEXTS: dict[dt.datetime, str | None] = {}
_Z_KEPT = 1024


def _z_text(value: dt.datetime | None) -> str | None:
    moment = _utc(value)
    if moment is None:
        return None
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def _record_json(ref: RecordRef) -> dict[str, Any]:
    return {"rid": f"{ref.source}:{ref.record_type}:{ref.key}", "source": ref.source,
            "record_type": ref.record_type, "key": ref.key, "role": ref.role, "fields": ref.fields}


def finding_json(finding: Finding, as_of: dt.datetime) -> dict[str, Any]:
    """A finding as the document's :class:`FindingEntry`, as plain data (no model is built).

    ``fields`` and ``detail`` are left as they are: the encoder makes them
    plain JSON the way :func:`~reconcile.store.json_safe` does.
    """
    return _finding_json(finding, age_days(finding, as_of))


def _finding_json(finding: Finding, age: int | None) -> dict[str, Any]:
    """:func:`finding_json` with the finding's age given."""
    values = finding.__dict__
    sup = getattr(finding, "suppression", None)
    flag = getattr(finding, "unverified", None)
    status = values["status"]
    return {
        "fingerprint": finding.fingerprint,
        "rule_id": values["rule_id"],
        "kind": values["kind"],
        "severity": _text(values["severity"]),
        "owner": values["owner"],
        "status": None if status is None else _text(status),
        "entity_id": values["entity_id"],
        "subject": _record_json(values["subject"]),
        "records": [_record_json(r) for r in values["records"]],
        "story": values["story"],
        "confidence": values["confidence"],
        "detail": values["detail"],
        "detail_key": values["detail_key"],
        "first_seen": _z(values["first_seen"]),
        "last_seen": _z(values["last_seen"]),
        "age_days": age,
        "suppression": None if sup is None else {
            "reason": sup.reason, "author": sup.author, "since": _z(sup.created_at), "until": _z(sup.until),
        },
        "unverified": None if flag is None else {
            "run_id": flag.run_id, "reason": flag.reason, "since": _z(flag.since),
        },
    }


def _run_entry(result: RunResult) -> RunEntry:
    return RunEntry(
        id=result.run_id,
        status=result.status,
        as_of=_utc(result.as_of),  # type: ignore[arg-type]
        started_at=_utc(result.started_at),  # type: ignore[arg-type]
        finished_at=_utc(result.finished_at),
        healthy=result.healthy,
        entities=result.entities,
        links=result.links,
        timings=dict(result.timings),
    )


def write_json(
    result: RunResult,
    out: BinaryIO,
    *,
    findings: Sequence[Finding] | None = None,
    resolved: Sequence[Finding] | None = None,
) -> None:
    """Write the JSON report to ``out`` finding by finding (one per line), never the whole document at once.

    The file is the document :func:`build_document` describes (schema
    version 1), so ``ReportDocument.model_validate_json`` reads it.

    Args:
        result: The run.
        out: A binary file.
        findings / resolved: The run's findings and resolved ones already in
            report order (:func:`sort_findings`), if the caller has them.
    """
    as_of = result.as_of
    ordered = sort_findings(list(result.findings)) if findings is None else findings
    gone = sort_findings(list(result.resolved)) if resolved is None else resolved
    head = {
        "schema_version": SCHEMA_VERSION,
        "generator": f"reconcile {__version__}",
        "run": _run_entry(result).model_dump(mode="json"),
        "summary": summary(result).model_dump(mode="json"),
        "health": [HealthEntry.model_validate(h.model_dump()).model_dump(mode="json") for h in result.health],
    }
    out.write(encode_json(head)[:-1].encode("utf-8"))

    def items(name: str, values: Iterable[Any], entry: Any) -> None:
        # One entry a line, written _WRITTEN_TOGETHER entries at a time (not a write per entry).
        out.write(f',\n"{name}":['.encode())
        lines: list[bytes] = []
        first = True
        for value in values:
            lines.append(encode_json_bytes(entry(value)))
            if len(lines) == _WRITTEN_TOGETHER:
                out.write((b"\n" if first else b",\n") + b",\n".join(lines))
                lines.clear()
                first = False
        if lines:
            out.write((b"\n" if first else b",\n") + b",\n".join(lines))
            first = False
        out.write(b"]" if first else b"\n]")

    ages = Ages(as_of)
    items("findings", ordered, lambda f: _finding_json(f, ages(f)))
    items("resolved", gone, lambda f: _finding_json(f, ages(f)))
    items("quarantine", result.quarantine, lambda q: {
        "source": q.source, "stream": q.stream, "row": q.row, "field": q.field, "reason": q.reason, "raw": q.raw,
    })
    out.write(b"}\n")
