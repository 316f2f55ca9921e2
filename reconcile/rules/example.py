"""Small hand-made worlds: the tables a rule sees, built from a few rows.

:func:`make_tables` turns rows written as dicts into the canonical tables the
pipeline hands to rules, with the meta columns (``_source``, ``_key``,
``_rid``, ``_entity``, ``_confidence``, ``_parent_rid``) and the normalised
``_n_*`` columns, so a rule can be tried, tested and documented without
sources or matching::

    tables = make_tables({
        "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
        "invoice": [{"invoice_id": "I-1", "account_id": "AC-1", "amount": 50, "due_date": "2026-09-01"}],
    })

A :class:`RuleExample` is such a world together with a rule configuration; a
rule kind's ``example`` is evaluated when its docs page is rendered, so the
example finding on the page is what the code produces.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from reconcile.findings import Finding
from reconcile.model import RECORD_TYPES, record_model
from reconcile.rules.base import META_COLUMNS, Rule, RuleContext

__all__ = ["DEFAULT_SOURCES", "EXAMPLE_AS_OF", "RuleExample", "make_context", "make_tables"]

#: The source a record type comes from when a row does not say (``_source``).
DEFAULT_SOURCES: dict[str, str] = {
    "account": "billing",
    "subscription": "billing",
    "invoice": "billing",
    "payment": "billing",
    "service_line": "inventory",
    "contact": "crm",
    "case": "crm",
    "survey": "crm",
    "recall_notice": "recalls",
    "recall_campaign": "nhtsa",
    "vehicle": "dealer",
    "dealer_recall": "dealer",
    "repair_order": "dealer",
    "device_status": "telemetry",
    "alert": "alerts",
}

#: The as-of time of the shipped examples.
EXAMPLE_AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)

_META_GIVEN = ("_entity", "_confidence", "_parent_rid")


def make_tables(rows_by_type: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, pd.DataFrame]:
    """The tables a rule sees, from rows written as dicts.

    Each row is validated against its record type (so ``"2026-09-01"`` becomes
    a date and a misspelt field is an error) and gets the meta columns:
    ``_source`` (:data:`DEFAULT_SOURCES` unless the row gives one), ``_key``,
    ``_rid``; identity records belong to entity ``E-1`` with confidence 1.0
    unless the row gives ``_entity`` or ``_confidence``; dependent records take
    their parent's rid, entity and confidence as the pipeline resolves them
    (same source first, then any source), unless the row gives them.

    Raises:
        KeyError: an unknown record type.
        pydantic.ValidationError: a row does not fit its record type.
    """
    from reconcile.normalise import normalise_table
    from reconcile.pipeline import attach_dependents

    frames: dict[str, pd.DataFrame] = {}
    given: dict[str, list[dict[str, Any]]] = {}
    for record_type, rows in rows_by_type.items():
        model = record_model(record_type)
        filled = []
        given[record_type] = []
        for row in rows:
            values = {k: v for k, v in row.items() if not k.startswith("_")}
            meta = {k: v for k, v in row.items() if k.startswith("_")}
            unknown = sorted(set(meta) - {"_source", "_key", *_META_GIVEN})
            if unknown:
                raise KeyError(f"{record_type} row sets {unknown}; rows may set _source, _key, {', '.join(_META_GIVEN)}")
            out = model.model_validate(values).model_dump()
            out["_source"] = str(meta.get("_source", DEFAULT_SOURCES.get(record_type, record_type)))
            out["_key"] = str(meta.get("_key", out[model.key_field]))
            out["_rid"] = f"{out['_source']}:{record_type}:{out['_key']}"
            if model.identity:
                out["_entity"] = meta.get("_entity", "E-1")
                out["_confidence"] = meta.get("_confidence", 1.0)
                out["_parent_rid"] = None
            filled.append(out)
            given[record_type].append({k: meta[k] for k in _META_GIVEN if k in meta})
        columns = [*model.model_fields, *META_COLUMNS]
        frame = pd.DataFrame.from_records(filled, columns=columns)
        frame = frame.astype({c: object for c in META_COLUMNS})
        if model.identity:
            frame = normalise_table(frame, record_type)
        frames[record_type] = frame
    tables = attach_dependents(frames)
    for record_type, frame in tables.items():
        if RECORD_TYPES[record_type].parent is None:
            continue
        for column in _META_GIVEN:
            merged = [g.get(column, None if pd.isna(v) else v)
                      for g, v in zip(given[record_type], frame[column], strict=True)]
            frame[column] = pd.Series(merged, index=frame.index, dtype=object)
    return tables


def make_context(
    rows_by_type: Mapping[str, Sequence[Mapping[str, Any]]],
    as_of: dt.datetime = EXAMPLE_AS_OF,
    findings: Sequence[Finding] = (),
) -> RuleContext:
    """A :class:`RuleContext` over :func:`make_tables` of ``rows_by_type``."""
    return RuleContext(as_of=as_of, tables=make_tables(rows_by_type), findings=list(findings))


@dataclass(frozen=True)
class RuleExample:
    """A small world on which a rule kind finds something, for its docs page.

    Attributes:
        records: Rows per record type (see :func:`make_tables`).
        params: The rule's configuration besides ``id``, ``kind`` and ``owner``.
        id: The example rule's id (default: the kind).
        owner: The example rule's owner.
        before: Configurations of other rules evaluated with it (for a kind
            that reads other findings).
        as_of: The run's as-of time.
    """

    records: Mapping[str, Sequence[Mapping[str, Any]]]
    params: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None
    owner: str = "operations"
    before: Sequence[Mapping[str, Any]] = ()
    as_of: dt.datetime = EXAMPLE_AS_OF

    def config(self, kind: str) -> dict[str, Any]:
        """The example rule as it would be written in a configuration."""
        return {"id": self.id or kind, "kind": kind, "owner": self.owner, **self.params}

    def rule(self, cls: type[Rule]) -> Rule:
        """The example rule, validated by ``cls``."""
        kind = cls.model_fields["kind"].default
        return cls.model_validate(self.config(kind))

    def context(self) -> RuleContext:
        return make_context(self.records, self.as_of)

    def findings(self, cls: type[Rule]) -> list[Finding]:
        """The findings of the example rule (those of ``before`` rules are not returned)."""
        from reconcile.rules.engine import evaluate_rules
        from reconcile.rules.packs import validate_rule

        rule = self.rule(cls)
        others = [validate_rule(c) for c in self.before]
        return [f for f in evaluate_rules([*others, rule], self.context()) if f.rule_id == rule.id]
