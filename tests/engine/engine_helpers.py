"""Worlds for the engine tests: the demo world's tables, and the same with records no entity holds."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from reconcile.config import Config, load_config
from reconcile.demo import generate, write_config
from reconcile.model import RECORD_TYPES
from reconcile.pipeline import build_tables, extract_sources
from reconcile.rules._generic import GENERIC_RULES, BalanceRule
from reconcile.rules._select import Records
from reconcile.rules.base import Rule


def demo_config(directory: Path, size: int) -> Config:
    """The demo world of ``size`` customers written into ``directory``, and its configuration."""
    world = generate(directory, size=size, seed=11)
    return load_config(write_config(directory, world))


def raw_tables(config: Config) -> dict[str, pd.DataFrame]:
    """The world's canonical tables, as the extract stage leaves them."""
    return build_tables(extract_sources(config))


def with_orphans(tables: Mapping[str, pd.DataFrame], seed: int = 3) -> dict[str, pd.DataFrame]:
    """The tables with about one dependent record in eight pointing at no parent (or at nothing).

    Such a record gets no entity: rules group it under its own rid (or the
    rid its reference would have), so it exercises the records-without-an-entity paths.
    """
    rng = random.Random(seed)
    out = dict(tables)
    for record_type, frame in tables.items():
        parent = RECORD_TYPES[record_type].parent
        if parent is None or frame.empty:
            continue
        frame = frame.copy()
        values = frame[parent.field].astype(object).to_numpy(copy=True)
        for i in range(len(values)):
            roll = rng.random()
            if roll < 0.1:
                values[i] = f"MISSING-{i % 7}"  # several records share one missing parent
            elif roll < 0.125:
                values[i] = None
        frame[parent.field] = values
        out[record_type] = frame
    return out


def scrambled(tables: Mapping[str, pd.DataFrame], seed: int = 5) -> dict[str, pd.DataFrame]:
    """Matched tables made inconsistent the ways hand-built tables can be.

    Some identity records lose their entity, some dependents carry another
    entity than their parent's, and some lose ``_parent_rid`` (rules then
    guess the same-source parent's rid from the reference).
    """
    rng = random.Random(seed)
    out = dict(tables)
    entities = sorted({e for f in tables.values() if "_entity" in f for e in f["_entity"].dropna().unique()})
    for record_type, frame in tables.items():
        if frame.empty:
            continue
        frame = frame.copy()
        entity = frame["_entity"].astype(object).to_numpy(copy=True)
        parent_rid = frame["_parent_rid"].astype(object).to_numpy(copy=True)
        for i in range(len(frame)):
            roll = rng.random()
            if RECORD_TYPES[record_type].identity:
                if roll < 0.05:
                    entity[i] = None
            elif roll < 0.05:
                entity[i] = rng.choice(entities)
            elif roll < 0.1:
                parent_rid[i] = None
                entity[i] = None
        frame["_entity"] = entity
        frame["_parent_rid"] = parent_rid
        out[record_type] = frame
    return out


def generic_rules() -> list[Rule]:
    """One rule of every generic kind (their documented examples), plus a balance per entity."""
    rules: list[Rule] = []
    for kind in GENERIC_RULES:
        example = kind.example
        assert example is not None
        params: dict[str, Any] = dict(example.params)
        rules.append(kind(id=example.id or kind.model_fields["kind"].default, owner=example.owner, **params))
    rules.append(BalanceRule(
        id="balance_per_customer", owner="billing", left=Records(type="invoice"),
        right=Records(type="payment"), amount="amount", per="entity", absolute=1.0,
    ))
    return rules


def dumped(findings: list[Any]) -> list[dict[str, Any]]:
    """Findings as plain data, every field (fingerprint, kind, subject, records, severity, detail)."""
    return [f.model_dump(mode="json") for f in findings]
