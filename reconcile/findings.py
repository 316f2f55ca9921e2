"""Findings: what a rule says is wrong, for whom, and who should act."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, computed_field

__all__ = ["Finding", "FindingStatus", "RecordRef", "Severity", "fingerprint"]


class Severity(StrEnum):
    """How urgent a finding is; ordered from least to most severe."""

    info = "info"
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_ORDER[self]

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, Severity):
            return self.rank >= other.rank
        return NotImplemented

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, Severity):
            return self.rank > other.rank
        return NotImplemented

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, Severity):
            return self.rank <= other.rank
        return NotImplemented

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        if isinstance(other, Severity):
            return self.rank < other.rank
        return NotImplemented


_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class FindingStatus(StrEnum):
    """Where a finding stands across runs."""

    new = "new"
    open = "open"
    resolved = "resolved"
    reopened = "reopened"


class RecordRef(BaseModel):
    """One record involved in a finding, with the fields that matter."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    record_type: str
    key: str
    fields: dict[str, Any] = Field(default_factory=dict)
    role: str | None = None  # what this record is to the finding, e.g. "mandate"

    @property
    def rid(self) -> str:
        return f"{self.source}:{self.record_type}:{self.key}"


def fingerprint(rule_id: str, subject: RecordRef, detail_key: str = "") -> str:
    """A stable identity for a finding across runs.

    Built from the rule id, the subject record's identity (source, type, key)
    and an optional detail key (such as a recall campaign), never from values
    that change from night to night (counts, amounts, dates, entity ids).
    """
    source, record_type, key = subject.source, subject.record_type, subject.key
    if (type(rule_id) is str and type(source) is str and type(record_type) is str and type(key) is str
            and type(detail_key) is str):
        joined = rule_id + source + record_type + key + detail_key
        # Printable ASCII without quotes or backslashes: what json.dumps writes is the text between quotes.
        if joined.isascii() and joined.isprintable() and '"' not in joined and "\\" not in joined:
            payload = f'["{rule_id}","{source}","{record_type}","{key}","{detail_key}"]'
            return hashlib.sha256(payload.encode("ascii")).hexdigest()[:24]
    payload = json.dumps([rule_id, source, record_type, key, detail_key], separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


class SharedFieldsSet(set[str]):
    """The fields-set many findings share (a rule's findings all set the same fields).

    A set per finding costs about 700 bytes, 100 MB for the 155,000 findings
    of a million customers. :class:`Finding` gives an instance its own copy
    before pydantic adds a name to it (on assignment), so sharing is never
    seen; the type marks it as shared, also after pickling (where the
    findings pickled together share one again).
    """

    __slots__ = ()


class Finding(BaseModel):
    """A discrepancy between systems, ready for the team that should act.

    Attributes:
        rule_id: The configured rule that produced it.
        kind: The rule kind (``failed_autopay``, ``missing_in``...).
        severity: How urgent it is.
        owner: The team that can fix it.
        entity_id: The matched entity (customer) it concerns.
        subject: The record the finding is about; with ``rule_id`` and
            ``detail_key`` it makes the fingerprint.
        records: Every record involved, in each system, with the fields that matter.
        story: One sentence a person can act on.
        confidence: How sure the match is that links the records (0..1).
        detail: Kind-specific facts (JSON-serialisable).
        detail_key: Distinguishes several findings of one rule on one subject.
    """

    model_config = ConfigDict(extra="forbid")

    # The fingerprint once computed, with what it was computed from (see ``fingerprint``):
    # a slot, so it is no field, is not compared, copied or pickled, and costs nothing unset.
    __slots__ = ("_fingerprint_cache",)

    rule_id: str
    kind: str
    severity: Severity
    owner: str
    entity_id: str | None = None
    subject: RecordRef
    records: list[RecordRef] = Field(default_factory=list)
    story: str
    confidence: float = Field(default=1.0, ge=0.0, le=1.0)
    detail: dict[str, Any] = Field(default_factory=dict)
    detail_key: str = ""
    # Filled in by the store when the finding is persisted.
    status: FindingStatus | None = None
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def fingerprint(self) -> str:
        """:func:`fingerprint` of the finding, computed once while its rule id, subject and detail key stay.

        The value is kept with the very objects it was computed from; a
        finding whose rule id, subject or detail key is replaced (the
        subject is frozen, strings are immutable) computes it again.
        """
        values = self.__dict__
        rule_id, subject, detail_key = values["rule_id"], values["subject"], values["detail_key"]
        try:
            cached = _cached_fingerprint(self)  # the slot itself: no detour through pydantic's __getattr__
        except AttributeError:  # never computed (or a copy: slots are not copied)
            pass
        else:
            if cached[0] is rule_id and cached[1] is subject and cached[2] is detail_key:
                return cached[3]
        value = fingerprint(rule_id, subject, detail_key)
        object.__setattr__(self, "_fingerprint_cache", (rule_id, subject, detail_key, value))
        return value

    def share_fields_set(self, shared: SharedFieldsSet) -> None:
        """Use ``shared`` as this finding's fields-set if it names the same fields (saves memory)."""
        if self.__pydantic_fields_set__ == shared:
            object.__setattr__(self, "__pydantic_fields_set__", shared)

    def __setattr__(self, name: str, value: Any) -> None:
        fields_set = self.__pydantic_fields_set__
        if type(fields_set) is SharedFieldsSet:  # its own copy, before pydantic adds ``name`` to it
            object.__setattr__(self, "__pydantic_fields_set__", set(fields_set))
        super().__setattr__(name, value)


#: Reads a finding's fingerprint slot (AttributeError while it is unset).
_cached_fingerprint = Finding.__dict__["_fingerprint_cache"].__get__
