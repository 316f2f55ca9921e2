"""One customer's whole story: every finding about an entity, on one timeline, with its records.

No single system holds this story: billing knows the failed payments, the CRM
the name, service the lines. The store holds the findings about an entity
from every rule and run, with their history, and (for incrementally read
streams) the full records in its snapshots.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from reconcile.findings import FindingStatus, Severity
from reconcile.store._tracked import TrackedFinding

__all__ = ["EntityStory", "StoryEvent", "StoryRecord", "build_story"]


class StoryRecord(BaseModel):
    """One record of the entity in one system.

    Attributes:
        rid: ``source:record_type:key``.
        source / record_type / key: Where it lives.
        roles: What it is to the findings that involve it (``mandate``...).
        fields: The fields the findings showed (merged over findings).
        snapshot: The full canonical record from the store's snapshot, when
            its stream is read incrementally (None otherwise).
        findings: Fingerprints of the findings that involve it.
    """

    model_config = ConfigDict(frozen=True)

    rid: str
    source: str
    record_type: str
    key: str
    roles: list[str] = Field(default_factory=list)
    fields: dict[str, Any] = Field(default_factory=dict)
    snapshot: dict[str, Any] | None = None
    findings: list[str] = Field(default_factory=list)


class StoryEvent(BaseModel):
    """One thing that happened to one of the entity's findings.

    Attributes:
        at: When (a run's as-of time; the wall clock for suppressions).
        run_id: The run (None for a suppression, which a person made).
        fingerprint / kind / severity / owner / story: The finding.
        event: ``new``, ``open``, ``resolved``, ``reopened`` (status changes),
            ``suppressed`` or ``unverified``.
        from_status: The status before, for a status change.
        reason: Why, in words.
    """

    model_config = ConfigDict(frozen=True)

    at: dt.datetime
    run_id: int | None
    fingerprint: str
    kind: str
    severity: Severity
    owner: str
    story: str
    event: str
    from_status: FindingStatus | None = None
    reason: str


class EntityStory(BaseModel):
    """Everything the store knows about one entity (customer).

    Attributes:
        entity_id: The entity asked for.
        findings: Its findings (latest state, or as a past run saw them),
            most severe first.
        timeline: Every status change, suppression and unverified flag of
            those findings, oldest first.
        records: The records involved, by system, then type and key.
    """

    model_config = ConfigDict(frozen=True)

    entity_id: str
    findings: list[TrackedFinding] = Field(default_factory=list)
    timeline: list[StoryEvent] = Field(default_factory=list)
    records: list[StoryRecord] = Field(default_factory=list)

    @property
    def systems(self) -> dict[str, list[StoryRecord]]:
        """The records grouped by system (source name)."""
        out: dict[str, list[StoryRecord]] = {}
        for record in self.records:
            out.setdefault(record.source, []).append(record)
        return out

    def __bool__(self) -> bool:
        return bool(self.findings)


def build_story(
    entity_id: str,
    findings: Sequence[TrackedFinding],
    history: Sequence[Any],
    snapshots: Mapping[str, dict[str, Any]],
) -> EntityStory:
    """Assemble a story from the store's rows (history: ``HistoryEntry`` objects)."""
    ordered = sorted(
        findings, key=lambda f: (-f.severity.rank, f.owner, f.kind, f.subject.rid, f.fingerprint)
    )
    by_fp = {f.fingerprint: f for f in ordered}
    events: list[tuple[tuple[Any, ...], StoryEvent]] = []
    for order, entry in enumerate(history):
        finding = by_fp.get(entry.fingerprint)
        if finding is None:
            continue
        events.append((
            (entry.at, entry.run_id, 0, order),
            StoryEvent(
                at=entry.at, run_id=entry.run_id, fingerprint=finding.fingerprint, kind=finding.kind,
                severity=finding.severity, owner=finding.owner, story=finding.story,
                event=entry.to_status.value, from_status=entry.from_status, reason=entry.reason,
            ),
        ))
    for finding in ordered:
        common: dict[str, Any] = {"fingerprint": finding.fingerprint, "kind": finding.kind, "severity": finding.severity,
                  "owner": finding.owner, "story": finding.story}
        if finding.suppression is not None:
            sup = finding.suppression
            until = f" until {sup.until.strftime('%Y-%m-%d %H:%M')} UTC" if sup.until else ""
            events.append((
                (sup.created_at, -1, 1, 0),
                StoryEvent(at=sup.created_at, run_id=None, event="suppressed",
                           reason=f"suppressed by {sup.author}{until}: {sup.reason}", **common),
            ))
        if finding.unverified is not None:
            flag = finding.unverified
            events.append((
                (flag.since, flag.run_id, 2, 0),
                StoryEvent(at=flag.since, run_id=flag.run_id, event="unverified", reason=flag.reason, **common),
            ))
    events.sort(key=lambda pair: (pair[0][0], pair[0][1] if pair[0][1] is not None else -1, *pair[0][2:]))

    records: dict[str, dict[str, Any]] = {}
    for finding in ordered:
        for ref in (finding.subject, *finding.records):
            entry = records.setdefault(
                ref.rid,
                {"rid": ref.rid, "source": ref.source, "record_type": ref.record_type, "key": ref.key,
                 "roles": [], "fields": {}, "findings": []},
            )
            if ref.role and ref.role not in entry["roles"]:
                entry["roles"].append(ref.role)
            entry["fields"].update(ref.fields)
            if finding.fingerprint not in entry["findings"]:
                entry["findings"].append(finding.fingerprint)
    story_records = [
        StoryRecord(**entry, snapshot=snapshots.get(rid))
        for rid, entry in sorted(records.items(), key=lambda kv: (kv[1]["source"], kv[1]["record_type"], kv[1]["key"]))
    ]
    return EntityStory(
        entity_id=entity_id, findings=list(ordered), timeline=[e for _, e in events], records=story_records
    )
