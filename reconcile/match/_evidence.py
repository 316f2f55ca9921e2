"""The match evidence of findings: why a finding's records are one customer.

A finding names records of several systems (a billing account, a CRM
contact, a payment of that account...). The rules trust matching to have put
them in one entity; :func:`attach_match_evidence` writes down why, in
``finding.detail["match"]``, so a person reading the finding can check it.
See ``docs/matching.md`` ("Findings' evidence").
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Container, Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from reconcile.findings import Finding, RecordRef
from reconcile.match._resolve import MatchResult

__all__ = ["MAX_EVIDENCE_LINKS", "attach_match_evidence", "finding_evidence"]

log = logging.getLogger("reconcile.match")

#: Links explained per finding at most; the rest are counted in ``omitted``.
MAX_EVIDENCE_LINKS = 4

#: How many parent hops lead from a dependent record to its identity record at most.
_MAX_DEPTH = 4


class _Parents:
    """rid -> ``_parent_rid`` of dependent records, built per record type when first asked.

    With ``wanted`` (the rids the findings name), a record type's map first
    holds those rids only: the findings name a few of the run's millions of
    records. A rid outside ``wanted`` (the parent of a parent) is looked up
    in the whole type's map, built when first needed.
    """

    def __init__(self, tables: Mapping[str, pd.DataFrame], identity: Container[str], wanted: set[str] | None = None):
        self.tables = tables
        self.identity = identity
        self.wanted = wanted
        self.by_type: dict[str, dict[str, str]] = {}
        self.wanted_by_type: dict[str, dict[str, str]] = {}
        self._wanted_index: pd.Index | None = None

    def identity_rid(self, rid: str, record_type: str) -> str | None:
        for _ in range(_MAX_DEPTH):
            if rid in self.identity:
                return rid
            if self.wanted is not None and rid in self.wanted:
                parents = self.wanted_by_type.get(record_type)
                if parents is None:
                    if self._wanted_index is None:  # one hash table of the wanted rids for every type
                        self._wanted_index = _unique_index(self.wanted)
                    parents = self.wanted_by_type[record_type] = self._load(record_type, self._wanted_index)
            else:
                parents = self.by_type.get(record_type)
                if parents is None:
                    parents = self.by_type[record_type] = self._load(record_type)
            parent = parents.get(rid)
            if parent is None:
                return None
            rid = parent
            record_type = parent.split(":")[1] if parent.count(":") >= 2 else ""
        return None

    def _load(self, record_type: str, only: Collection[str] | pd.Index | None = None) -> dict[str, str]:
        """The type's rid -> parent rid map (of the rids in ``only``, if given).

        The table's rids are looked up in ``only``'s hash table (an Index keeps
        it once built: every type asked probes the same one), rather than a
        table of ``only`` made again for each type from the set.
        """
        frame = self.tables.get(record_type)
        if frame is None or frame.empty or "_parent_rid" not in frame.columns:
            return {}
        # The two columns' arrays only: a boolean index of the whole table would
        # copy every column, and one of a Series makes its index keep its labels
        # as an array (the table's index, for the rest of the run).
        # With ``only``, the named rows are found first: the test for a missing
        # parent then reads a few rows, not the whole column.
        rids = frame["_rid"].to_numpy(dtype=object)
        parents = frame["_parent_rid"].to_numpy(dtype=object)
        if only is not None:
            named = np.flatnonzero(_unique_index(only).get_indexer(pd.Index(rids, dtype=object, copy=False)) >= 0)
            rids, parents = rids[named], parents[named]
        known = pd.notna(parents)
        rids, parents = rids[known], parents[known]
        return dict(zip(map(str, rids.tolist()), map(str, parents.tolist()), strict=True))


def _unique_index(values: Collection[str] | pd.Index) -> pd.Index:
    """``values`` as an object Index without repeats (``values`` itself if it is one already)."""
    if isinstance(values, pd.Index) and values.dtype == object and values.is_unique:
        return values
    return pd.Index(list(dict.fromkeys(values)), dtype=object)


def finding_evidence(
    finding: Finding,
    matched: MatchResult,
    parents: _Parents,
    cache: dict[tuple[str, str], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """The match evidence of one finding, or None when its records are one identity record.

    The anchor is the subject's identity record (the subject itself, or the
    identity record it depends on); every other identity record among the
    finding's records is joined to it by the shortest chain of accepted
    links, and each link of the chains is explained once.
    """
    cache = {} if cache is None else cache
    planned = _plan(finding, matched, parents)
    if planned is None:
        return None
    for pair in planned[1]:
        if pair not in cache:
            cache[pair] = matched.explain(*pair).compact()
    return _evidence(planned, cache)


def _refs(finding: Finding) -> list[RecordRef]:
    """The subject and the records of a finding, the subject once when it leads the records (as rules write them)."""
    records = finding.records
    if records and records[0] is finding.subject:
        return records
    return [finding.subject, *records]


def _plan(finding: Finding, matched: MatchResult, parents: _Parents) -> tuple[list[str], list[tuple[str, str]], int, list[str]] | None:
    """A finding's identity records, the pairs to explain, how many more were left out, and the unlinked ones."""
    anchors: list[str] = []
    for ref in _refs(finding):
        rid = parents.identity_rid(ref.rid, ref.record_type)
        if rid is not None and rid not in anchors:
            anchors.append(rid)
    if len(anchors) < 2:
        return None
    anchor, others = anchors[0], anchors[1:]
    pairs: list[tuple[str, str]] = []
    unlinked: list[str] = []
    for other in others:
        chain = matched.path(anchor, other)
        if not chain:
            unlinked.append(other)
            pairs.append((anchor, other))  # explain it anyway: why it is *not* linked
            continue
        for left, right in zip(chain, chain[1:], strict=False):
            pair = (min(left, right), max(left, right))
            if pair not in pairs:
                pairs.append(pair)
    shown = pairs[:MAX_EVIDENCE_LINKS]
    return anchors, shown, len(pairs) - len(shown), unlinked


def _evidence(
    planned: tuple[list[str], list[tuple[str, str]], int, list[str]], explained: Mapping[tuple[str, str], Any]
) -> dict[str, Any]:
    anchors, shown, omitted, unlinked = planned
    evidence: dict[str, Any] = {"records": anchors, "links": [explained[pair] for pair in shown], "omitted": omitted}
    if unlinked:
        evidence["not_linked"] = unlinked
    return evidence


def attach_match_evidence(
    findings: Iterable[Finding],
    tables: Mapping[str, pd.DataFrame],
    matched: MatchResult,
) -> int:
    """Put the match evidence into ``finding.detail["match"]`` of every finding spanning records.

    Only findings whose records come from two or more identity records (after
    following dependent records to their parents) get it. A detail that
    already holds ``match`` is left alone. The fingerprint does not use the
    detail, so findings keep their identity.

    Returns:
        How many findings got evidence.
    """
    # The same collector settings as the rules: the explanations are many small
    # objects that live on, and a full collection would walk the whole run's heap.
    from reconcile.rules.engine import fewer_collections

    with fewer_collections():
        return _attach(findings, tables, matched)


class _IdentityRids:
    """``rid in self``: whether ``rid`` is an identity record (a label of ``index``, as text).

    What ``set(index.astype(str))`` answers, without a set of every identity
    record (millions of entries at a million customers, for the few the
    findings name): the rids in ``wanted`` are looked up once, together, in
    the index's own hash table; any other (a parent's parent) in the index
    when asked.
    """

    def __init__(self, index: pd.Index, wanted: set[str]):
        if index.inferred_type != "string":
            index = index.astype(str)
        self.index = index
        self.wanted = wanted
        listed = list(wanted)
        if not len(index) or not listed:
            found = np.zeros(len(listed), dtype=bool)
        elif index.is_unique:
            found = index.get_indexer(pd.Index(listed, dtype=object)) >= 0
        else:
            found = pd.Index(listed, dtype=object).isin(index)
        self.found = {rid for rid, yes in zip(listed, found.tolist(), strict=True) if yes}

    def __contains__(self, rid: object) -> bool:
        if rid in self.wanted:
            return rid in self.found
        return isinstance(rid, str) and rid in self.index


def _attach(findings: Iterable[Finding], tables: Mapping[str, pd.DataFrame], matched: MatchResult) -> int:
    findings = list(findings)
    wanted = {ref.rid for finding in findings for ref in _refs(finding)}
    parents = _Parents(tables, _IdentityRids(matched.entity_of.index, wanted), wanted)
    # First what each finding needs explained, then every pair explained at
    # once (the comparisons made on arrays), then the evidence put together.
    plans: list[tuple[Finding, tuple[list[str], list[tuple[str, str]], int, list[str]]]] = []
    wanted_pairs: dict[tuple[str, str], None] = {}
    for finding in findings:
        if "match" in finding.detail:
            log.debug("finding %s already has detail['match']; evidence not added", finding.fingerprint)
            continue
        try:
            planned = _plan(finding, matched, parents)
        except (KeyError, ValueError) as exc:  # a record matching never saw: no evidence, never a failure
            log.debug("no match evidence for finding %s: %s", finding.fingerprint, exc)
            continue
        if planned is not None:
            plans.append((finding, planned))
            wanted_pairs.update(dict.fromkeys(planned[1]))
    pairs = list(wanted_pairs)
    explained = dict(zip(pairs, matched.explain_compact(pairs), strict=True))
    count = 0
    for finding, planned in plans:
        failed = next((explained[p] for p in planned[1] if isinstance(explained[p], Exception)), None)
        if failed is not None:
            log.debug("no match evidence for finding %s: %s", finding.fingerprint, failed)
            continue
        finding.detail["match"] = _evidence(planned, explained)
        count += 1
    return count
