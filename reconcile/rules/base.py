"""The rule contract: a pydantic model with a pure ``evaluate``.

A rule is configured in YAML (``id``, ``kind``, ``severity``, ``owner``, its
parameters) and evaluated over the matched entities of one run. It reads only
the :class:`RuleContext` it is given and yields :class:`~reconcile.findings.Finding`
objects; it never touches a source or the store, so a test can call it on
hand-built tables.
"""

from __future__ import annotations

import datetime as dt
import difflib
import functools
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from reconcile.findings import Finding, RecordRef, Severity, SharedFieldsSet
from reconcile.model import RECORD_TYPES

if TYPE_CHECKING:
    from reconcile.rules.example import RuleExample

__all__ = ["META_COLUMNS", "Duration", "Rule", "RuleContext", "empty_table", "parse_duration", "render_story"]

_UNITS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600,
          "hr": 3600, "hour": 3600, "d": 86400, "day": 86400, "w": 604800, "week": 604800}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?(?![a-z])\s*(?:,|and)?", re.IGNORECASE)


def parse_duration(value: Any) -> Any:
    """Read ``"36 hours"``, ``"1 day 12 hours"``, ``"90 minutes"``, ``"2 weeks"``.

    Anything else (ISO 8601 ``P1D``, ``"01:00:00"``, seconds as a number, a
    timedelta) is left to pydantic's own timedelta parsing.
    """
    if not isinstance(value, str):
        return value
    text = value.strip()
    total, position = 0.0, 0
    while position < len(text):
        match = _PART.match(text, position)
        if not match or match.group(2).lower() not in _UNITS:
            return value
        total += float(match.group(1)) * _UNITS[match.group(2).lower()]
        position = match.end()
    return dt.timedelta(seconds=total) if text else value


#: A duration in configuration: ``"36 hours"``, ``"2 days"``, ``P1D``, or seconds.
Duration = Annotated[dt.timedelta, BeforeValidator(parse_duration)]

#: Columns the pipeline adds to every canonical table handed to rules.
#: ``_source``: source name; ``_key``: the record's key in its source;
#: ``_rid``: ``source:type:key``; ``_entity``: the matched entity id (None for a
#: record that could not be attached); ``_confidence``: how sure the match is
#: that puts this record in its entity (1.0 for exact keys and singletons);
#: ``_parent_rid``: the rid of the parent record for dependent types.
META_COLUMNS: tuple[str, ...] = (
    "_source",
    "_key",
    "_rid",
    "_entity",
    "_confidence",
    "_parent_rid",
)


def empty_table(record_type: str) -> pd.DataFrame:
    """An empty canonical table of ``record_type`` with every column present."""
    return _empty_table(record_type).copy()


@functools.cache
def _empty_table(record_type: str) -> pd.DataFrame:
    columns = list(RECORD_TYPES[record_type].model_fields) + list(META_COLUMNS)
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@dataclass
class RuleContext:
    """Everything a rule may look at in one run.

    Attributes:
        as_of: The run's reference time (timezone-aware UTC). Rules measure
            ages and overdue dates against it, never against the clock.
        tables: Canonical records per record type, one row per record, with the
            :data:`META_COLUMNS`. A type no source provides is absent; use
            :meth:`table`, which returns an empty frame for it.
        findings: Findings produced earlier in this run, for rules that look at
            other findings (such as ``unresolved_low_survey``).
        open_findings: Findings still unresolved from earlier runs (from the store).
        sources: Names of the sources that took part, by record type.
    """

    as_of: dt.datetime
    tables: Mapping[str, pd.DataFrame]
    findings: Sequence[Finding] = field(default_factory=list)
    open_findings: Sequence[Finding] = field(default_factory=list)

    def table(self, record_type: str) -> pd.DataFrame:
        frame = self.tables.get(record_type)
        if frame is None:
            return empty_table(record_type)
        return frame

    @property
    def as_of_date(self) -> dt.date:
        return self.as_of.date()


def ref(
    row: Mapping[str, Any] | pd.Series,
    record_type: str,
    fields: Sequence[str] = (),
    role: str | None = None,
) -> RecordRef:
    """A :class:`RecordRef` for one row of a canonical table."""
    values: dict[str, Any] = {}
    for name in fields:
        value = row[name]
        values[name] = _jsonable(value)
    return RecordRef(
        source=str(row["_source"]),
        record_type=record_type,
        key=str(row["_key"]),
        fields=values,
        role=role,
    )


def _jsonable(value: Any) -> Any:
    kind = type(value)
    if kind is str or value is None or kind is int or kind is bool:
        return value
    # The common exact types first, each as the general path below treats it.
    if kind is float:
        return None if value != value else value
    if kind is dt.date or kind is dt.datetime:
        return value.isoformat()
    if kind is pd.Timestamp:  # NaT is not a Timestamp instance of this exact type
        # A Timestamp is a datetime: its datetime fields (nanoseconds dropped) are
        # what to_pydatetime() copies, so this is to_pydatetime().isoformat() without the copy.
        return dt.datetime.isoformat(value)
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and type(value) is float:  # the common cases, without pandas
        return None if value != value else value
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return value


class _StoryFormatter(string.Formatter):
    """``str.format`` limited to plain names: no attribute or index access."""

    def get_field(self, field_name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> Any:
        if not field_name.isidentifier():
            raise ValueError(
                f"story template field {{{field_name}}} must be a plain name such as {{account}}"
            )
        return super().get_field(field_name, args, kwargs)


_FORMATTER = _StoryFormatter()

#: The fields :meth:`Rule.finding` gives every finding, one set shared by them all.
_FINDING_FIELDS_ORDER = ("rule_id", "kind", "severity", "owner", "entity_id", "subject", "records", "story",
                         "confidence", "detail", "detail_key")
_FINDING_FIELDS_SET = SharedFieldsSet(_FINDING_FIELDS_ORDER)


_FINDING_DEFAULTS = {"status": None, "first_seen": None, "last_seen": None}
_new_finding = Finding.__new__
_set = object.__setattr__


def _valid_as_given(values: dict[str, Any]) -> bool:
    """True if validating ``values`` as a :class:`Finding` would keep every one as it is.

    So when each has the exact type its field holds: text, a :class:`Severity`,
    :class:`RecordRef` instances (kept, not copied, by validation), a float in
    [0, 1], a dict with text keys. A rule built elsewhere (a plugin's values of
    other types) goes through validation, which converts or rejects them.
    """
    entity_id, detail = values["entity_id"], values["detail"]
    return (
        type(values["rule_id"]) is str and type(values["kind"]) is str and type(values["owner"]) is str
        and type(values["story"]) is str and type(values["detail_key"]) is str
        and type(values["severity"]) is Severity
        and (entity_id is None or type(entity_id) is str)
        and type(values["subject"]) is RecordRef
        and all(type(r) is RecordRef for r in values["records"])
        and 0.0 <= values["confidence"] <= 1.0
        and all(type(k) is str for k in detail)
    )


def _assemble_finding(values: dict[str, Any]) -> Finding:
    """The :class:`Finding` validation builds from ``values`` (see :func:`_valid_as_given`), without validating.

    Its fields in their declared order, the defaults of the rest, and the
    shared fields-set :meth:`Finding.share_fields_set` would give it.
    """
    made = _new_finding(Finding)
    _set(made, "__dict__", {**values, **_FINDING_DEFAULTS})
    _set(made, "__pydantic_fields_set__", _FINDING_FIELDS_SET)
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made


def _assembles_as_validated() -> bool:
    """True if :func:`_assemble_finding` gives exactly what validation gives (this pydantic, this Finding)."""
    if (list(Finding.model_fields) != [*_FINDING_FIELDS_ORDER, *_FINDING_DEFAULTS]
            or Finding.__pydantic_post_init__ is not None
            or any(Finding.model_fields[n].default is not None for n in _FINDING_DEFAULTS)):
        return False
    subject = RecordRef(source="billing", record_type="account", key="AC-1", fields={"status": "active"})
    probe: dict[str, Any] = {
        "rule_id": "probe", "kind": "probe", "severity": Severity.high, "owner": "billing", "entity_id": "E1",
        "subject": subject, "records": [subject], "story": "s", "confidence": 0.5, "detail": {"n": 1},
        "detail_key": "",
    }
    validated, assembled = Finding(**probe), _assemble_finding(dict(probe))
    validated.share_fields_set(_FINDING_FIELDS_SET)
    slots = ("__dict__", "__pydantic_fields_set__", "__pydantic_extra__", "__pydantic_private__")
    return (
        validated == assembled
        and all(getattr(validated, slot, None) == getattr(assembled, slot, None) for slot in slots)
        and list(vars(validated)) == list(vars(assembled))
        and validated.records[0] is subject
        and validated.__pydantic_fields_set__ is _FINDING_FIELDS_SET
    )


@functools.lru_cache(maxsize=256)
def _plain_template(template: str) -> bool:
    """True if ``str.format_map`` renders ``template`` exactly as :data:`_FORMATTER` does.

    That is when every field is a plain name and no format spec nests a field;
    anything else goes through the formatter, which rejects or handles it.
    """
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:
        return False
    for _, name, spec, _ in parsed:
        if name is None:
            continue
        if not name.isidentifier() or (spec and ("{" in spec or "}" in spec)):
            return False
    return True


def render_story(template: str, facts: Mapping[str, Any]) -> str:
    """Render a story template with the finding's facts.

    Raises:
        KeyError: naming the missing fact and the facts that exist.
    """
    try:
        if _plain_template(template):
            return template.format_map(dict(facts))
        return _FORMATTER.vformat(template, (), dict(facts))
    except KeyError as exc:
        raise KeyError(
            f"story template uses {{{exc.args[0]}}}, which this rule does not provide; "
            f"available: {', '.join(sorted(facts))}"
        ) from None


class Rule(BaseModel):
    """Base class of every rule kind.

    Subclasses declare ``kind: Literal["..."]`` (the discriminator of the rule
    configuration union), their parameters as pydantic fields, a class-level
    ``story`` template and the ``facts`` it may use, and implement
    :meth:`evaluate`. A class-level ``example`` (a small world on which the
    kind finds something) is rendered on the kind's docs page.

    Attributes:
        id: Unique id of the configured rule (stable: it goes into fingerprints).
        severity: How urgent its findings are.
        owner: The team that should act on its findings.
        description: Overrides the kind's story template; ``{name}`` fields are
            the facts the kind provides (see its docs page).
        enabled: A pack's rule can be switched off by overriding this.
        grace: Timing differences between systems' extracts to tolerate.
    """

    model_config = ConfigDict(extra="forbid")

    kind: str
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.\-]+$")
    severity: Severity = Severity.medium
    owner: str = Field(min_length=1)
    description: str | None = None
    enabled: bool = True
    grace: Duration = dt.timedelta(hours=24)

    #: The default one-sentence story; ``{fact}`` fields come from the finding's facts.
    story: ClassVar[str] = "{rule_id}: discrepancy on {subject}"
    #: Every fact the kind's findings carry (name -> meaning): the names a story
    #: or ``description`` may use besides ``rule_id`` and ``subject``. The docs
    #: list them; when a kind declares them, a ``description`` is checked against them.
    facts: ClassVar[dict[str, str]] = {}
    #: A small world on which the kind finds something, shown on its docs page.
    example: ClassVar[RuleExample | None] = None
    #: Evaluate after every rule that does not set this (it reads ``ctx.findings``).
    needs_findings: ClassVar[bool] = False
    #: Each finding depends only on the records of one entity (and its
    #: dependents), so the rule may be evaluated on entity partitions and the
    #: findings concatenated (the Dask engine does). A rule that compares
    #: records of different entities, or reads ``ctx.findings``, leaves it False.
    entity_local: ClassVar[bool] = False

    @field_validator("description")
    @classmethod
    def _description_uses_known_facts(cls, description: str | None) -> str | None:
        if description is None:
            return None
        try:
            names = [f for _, f, _, _ in string.Formatter().parse(description) if f is not None]
        except ValueError as exc:
            raise ValueError(f"the template is not a valid format string: {exc}") from None
        if not cls.facts:  # the kind does not say what it provides: checked when rendered
            return description
        known = {"rule_id", "subject", *cls.facts}
        for name in names:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f" (did you mean {{{close[0]}}}?)" if close else ""
                kind = cls.model_fields["kind"].default
                raise ValueError(
                    f"the template uses {{{name}}}, which {kind} does not provide{hint}; "
                    f"available: {', '.join(sorted(known))}"
                )
        return description

    def evaluate(self, ctx: RuleContext) -> Iterable[Finding]:
        """Yield the findings of this rule; must be pure (no I/O, no clock)."""
        raise NotImplementedError

    def finding(
        self,
        *,
        subject: RecordRef,
        records: Sequence[RecordRef],
        entity_id: str | None,
        confidence: float,
        facts: Mapping[str, Any],
        detail_key: str = "",
    ) -> Finding:
        """Build a finding of this rule, rendering its story from ``facts``."""
        all_facts = {"rule_id": self.id, "subject": subject.key, **facts}
        story = render_story(self.description or self.story, all_facts)
        values: dict[str, Any] = {
            "rule_id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "owner": self.owner,
            "entity_id": entity_id,
            "subject": subject,
            "records": list(records),
            "story": story,
            "confidence": max(0.0, min(1.0, float(confidence))),
            "detail": {k: _jsonable(v) for k, v in facts.items()},
            "detail_key": detail_key,
        }
        if _ASSEMBLE_FINDINGS and _valid_as_given(values):
            return _assemble_finding(values)
        made = Finding(**values)
        made.share_fields_set(_FINDING_FIELDS_SET)  # one set for all of them (see SharedFieldsSet)
        return made


def iter_groups(frame: pd.DataFrame, by: str = "_entity") -> Iterator[tuple[Any, pd.DataFrame]]:
    """Group a table by entity, skipping records no entity holds."""
    if frame.empty:
        return iter(())
    return iter(frame[frame[by].notna()].groupby(by, sort=True))


# Findings are built by the hundred thousand: without validation when that gives the
# same object (checked here, for this pydantic), else validated.
_ASSEMBLE_FINDINGS = _assembles_as_validated()
