"""``resolve``: identity records in, entities, links and their evidence out.

The stages, each on whole arrays:

1. Records are sorted by ``_rid`` and numbered, so the result does not
   depend on row order.
2. Candidate pairs: the pairs of every deterministic rule's groups and of
   every blocking pass, without duplicates.
3. Every comparison's level for every candidate pair.
4. Deterministic links: pairs a rule links, unless one of its
   ``unless_disagree`` comparisons is at "else".
5. The Fellegi-Sunter model, estimated without labels; each candidate's
   match probability; pairs from the threshold on link.
6. Clustering: connected components of the links (strongest first under
   constraints), named ``E`` + a hash of the component's smallest rid.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from reconcile.match._blocking import block_pairs, key_codes, pass_pairs, union_pairs
from reconcile.match._cluster import connected_components, constrained_components, entity_ids
from reconcile.match._compare import Column, Comparator, build_comparator
from reconcile.match._config import AddressComparison, BlockingKey, MatchingConfig
from reconcile.match._model import LinkageModel, estimate, probability, score_pairs

__all__ = ["FieldEvidence", "LinkExplanation", "MatchResult", "resolve"]

log = logging.getLogger("reconcile.match")

LINK_COLUMNS = ["rid_l", "rid_r", "score", "probability", "method"]


class FieldEvidence(BaseModel):
    """What one comparison says about a pair of records.

    Attributes:
        comparison: The comparison's name (``family_name``, ``address``...).
        kind: Its kind (``string``, ``exact``, ``edit_distance``, ``address``).
        columns: The columns compared.
        value_l: The compared value of the first record (None if missing).
        value_r: The compared value of the second record.
        level: The agreement level's name (``exact``, ``jaro_winkler>=0.92``,
            ``else``), or ``missing`` when either value is missing.
        level_index: The level's number: 0 is "else", the highest is exact,
            -1 is missing.
        weight: The evidence in bits (log2 of the Bayes factor): positive
            for a match, negative against, 0 when missing.
        m: Share of matching pairs at this level (None when missing).
        u: Share of non-matching pairs at this level; for exact agreement
            with term frequencies, the value's own ``u``.
        value_frequency: For exact agreement weighed by term frequency, the
            share of records holding the value.
    """

    model_config = ConfigDict(frozen=True)

    comparison: str
    kind: str
    columns: list[str]
    value_l: str | None
    value_r: str | None
    level: str
    level_index: int
    weight: float
    m: float | None = None
    u: float | None = None
    value_frequency: float | None = None


class LinkExplanation(BaseModel):
    """Why two records are (or are not) linked.

    Attributes:
        rid_l: The first record (the smaller rid).
        rid_r: The second record.
        fields: The evidence of every comparison, in configuration order.
        prior_weight: The score of a pair with no evidence (log2-odds of the
            prior probability that two records match).
        score: ``prior_weight`` plus the fields' weights (log2-odds).
        probability: The match probability the score gives.
        threshold: The probability from which a scored pair links.
        deterministic_rule: The first deterministic rule whose keys agree
            for the pair (None if none), even when vetoed.
        vetoed_by: Comparisons at "else" that vetoed that rule.
        veto: Comparisons of the ``veto`` setting at "else" for the pair:
            they forbid a probabilistic link.
        candidate: Whether blocking (or a rule) proposed the pair.
        linked: Whether the pair is an accepted link (directly).
        method: How it was linked: ``deterministic:<rule>`` or
            ``probabilistic`` (None if not linked).
        same_entity: Whether the records ended in the same entity (directly
            or through other records).
    """

    model_config = ConfigDict(frozen=True)

    rid_l: str
    rid_r: str
    fields: list[FieldEvidence]
    prior_weight: float
    score: float
    probability: float
    threshold: float
    deterministic_rule: str | None = None
    vetoed_by: list[str] = []
    veto: list[str] = []
    candidate: bool = False
    linked: bool = False
    method: str | None = None
    same_entity: bool = False

    def field(self, comparison: str) -> FieldEvidence:
        """The evidence of one comparison, by name."""
        for evidence in self.fields:
            if evidence.comparison == comparison:
                return evidence
        raise KeyError(f"no comparison {comparison!r}; compared: {[f.comparison for f in self.fields]}")

    def text(self) -> str:
        """A plain-text table of the evidence, for a terminal or a log."""
        verdict = (
            f"linked ({self.method})" if self.linked
            else "same entity (through other records)" if self.same_entity
            else "not linked" if self.candidate
            else "not linked (not a candidate: no rule or blocking pass proposed the pair)"
        )
        lines = [
            f"{self.rid_l}  <->  {self.rid_r}: {verdict}",
            f"  match probability {self.probability:.6f} (threshold {self.threshold:g}), "
            f"score {self.score:+.2f} bits = prior {self.prior_weight:+.2f} + evidence",
        ]
        if self.deterministic_rule is not None:
            note = f", vetoed by {', '.join(self.vetoed_by)}" if self.vetoed_by else ""
            lines.append(f"  deterministic rule {self.deterministic_rule!r} applies{note}")
        if self.veto:
            lines.append(f"  no probabilistic link: {', '.join(self.veto)} clearly disagree (veto)")
        for f in self.fields:
            lines.append(
                f"  {f.comparison:<14} {f.weight:+7.2f}  {f.level:<34} "
                f"{f.value_l!r} | {f.value_r!r}"
            )
        return "\n".join(lines)


class _Columns:
    """Factorised columns of the identity frame, prepared once each."""

    def __init__(self, frame: pd.DataFrame):
        self.frame = frame
        self.cache: dict[str, Column] = {}

    def __call__(self, name: str) -> Column:
        column = self.cache.get(name)
        if column is None:
            column = self.cache[name] = Column.of(self.frame, name)
        return column


class MatchResult:
    """The outcome of :func:`resolve`.

    Attributes:
        entity_of: ``_rid`` -> entity id (``E`` + 12 hex digits), for every
            identity record; a record linked to nothing is an entity of its own.
        confidence: ``_rid`` -> how sure the link that puts the record in its
            entity is (0..1): 1.0 for singletons and deterministic links,
            else the best probability among its links.
        links: One row per accepted pair: ``rid_l``, ``rid_r`` (``rid_l <
            rid_r``), ``score`` (log2-odds), ``probability`` (1.0 for
            deterministic links) and ``method`` (``deterministic:<rule>`` or
            ``probabilistic``).
        model: The estimated Fellegi-Sunter model (None without comparisons).
        stats: Counts and timings of the stages.
        config: The settings used.
    """

    def __init__(
        self,
        *,
        entity_of: pd.Series,
        confidence: pd.Series,
        links: pd.DataFrame,
        model: LinkageModel | None,
        stats: dict[str, Any],
        config: MatchingConfig,
        explainer: Callable[[str, str], LinkExplanation],
    ):
        self.entity_of = entity_of
        self.confidence = confidence
        self.links = links
        self.model = model
        self.stats = stats
        self.config = config
        self._explainer = explainer

    def __repr__(self) -> str:
        return (
            f"MatchResult(records={len(self.entity_of)}, entities={self.entity_of.nunique()}, "
            f"links={len(self.links)})"
        )

    def explain(self, rid_a: str, rid_b: str) -> LinkExplanation:
        """The evidence for (or against) linking two records, field by field.

        Works for any two identity records, linked or not.

        Raises:
            KeyError: a rid is not an identity record of this result.
        """
        return self._explainer(rid_a, rid_b)

    def members(self, entity: str) -> list[str]:
        """The rids of one entity, sorted."""
        return sorted(self.entity_of.index[self.entity_of == entity])


def _validate(identity: pd.DataFrame, config: MatchingConfig) -> pd.DataFrame:
    if "_rid" not in identity.columns:
        raise ValueError("the identity frame needs a '_rid' column (one unique id per record)")
    rids = identity["_rid"]
    if rids.isna().any():
        raise ValueError(f"{int(rids.isna().sum())} identity record(s) have no '_rid'")
    duplicated = rids[rids.duplicated()]
    if len(duplicated):
        raise ValueError(
            f"'_rid' must be unique; duplicated: {sorted(map(str, duplicated.unique()))[:5]}"
        )
    missing = sorted(config.columns() - set(identity.columns))
    if missing:
        users = _column_users(config)
        detail = "; ".join(f"{column} (used by {', '.join(users[column])})" for column in missing)
        raise ValueError(
            f"the identity frame lacks column(s) the matching settings read: {detail}. "
            "Add the column (normalise adds the _n_* columns) or disable what uses it, "
            "e.g. matching: {comparisons: {vin: {enabled: false}}}"
        )
    if config.clustering.constraints:
        for needed, attr in (("_source", "source"), ("_type", "record_type")):
            if needed not in identity.columns and any(
                getattr(c, attr) is not None for c in config.clustering.constraints
            ):
                raise ValueError(f"clustering constraints by {attr} need a {needed!r} column")
    # Only the columns matching reads, in _rid order: copying a wide frame costs more than matching it.
    rid_text = rids.astype(str).to_numpy(dtype=object)
    order = np.argsort(rid_text, kind="stable")
    data = {"_rid": rid_text[order]}
    for column in ["_source", "_type", *sorted(config.columns())]:
        if column in identity.columns and column not in data:
            data[column] = identity[column].to_numpy(dtype=object)[order]
    return pd.DataFrame(data)


def _column_users(config: MatchingConfig) -> dict[str, list[str]]:
    users: dict[str, list[str]] = {}
    for name, rule in config.active_rules().items():
        for column in rule.columns:
            users.setdefault(column, []).append(f"deterministic.{name}")
    for name, comparison in config.active_comparisons().items():
        columns = (
            [comparison.street, comparison.unit, comparison.postal]
            if isinstance(comparison, AddressComparison) else [comparison.column]
        )
        for column in columns:
            users.setdefault(column, []).append(f"comparisons.{name}")
    for name, blocking in config.active_blocking().items():
        for key in blocking.on:
            users.setdefault(key.column, []).append(f"blocking.{name}")
    return users


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 4)
        self._last = now


def resolve(identity: pd.DataFrame, config: MatchingConfig | None = None) -> MatchResult:
    """Link identity records that describe the same customer, and group them into entities.

    Args:
        identity: One row per identity record: ``_rid`` (unique), ``_source``
            and ``_type`` (for constraints and explanations), and every
            column the settings read (the normalised ``_n_*`` columns,
            ``birth_date``...). Row order does not matter.
        config: Matching settings (default: :class:`MatchingConfig` defaults).

    Returns:
        Entities, confidences, links and their explanations.

    Raises:
        ValueError: ``_rid`` is missing or not unique, or a column the
            settings read is missing (the message says which and why).
    """
    config = config if config is not None else MatchingConfig()
    timer = _Timer()
    frame = _validate(identity, config)
    n = len(frame)
    rids = frame["_rid"].to_numpy(dtype=object)
    columns = _Columns(frame)
    comparators = [build_comparator(name, c, columns) for name, c in config.active_comparisons().items()]
    by_name = {c.name: f for f, c in enumerate(comparators)}
    timer.lap("prepare")

    # ---------------------------------------------------------------- candidates
    rules = config.active_rules()
    rule_keys: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    stats: dict[str, Any] = {"records": n, "pairs_by_rule": {}, "pairs_by_pass": {}}
    for name, rule in rules.items():
        codes = key_codes([BlockingKey(column=c) for c in rule.columns], columns)
        left, right, skipped = block_pairs(codes, rule.max_group_size)
        if skipped:
            log.info("deterministic rule %r ignored %d key value(s) shared by more than %d records",
                     name, skipped, rule.max_group_size)
        sizes = np.bincount(codes[codes >= 0], minlength=int(codes.max()) + 1 if n and codes.max() >= 0 else 0)
        usable = codes >= 0
        if rule.max_group_size is not None and len(sizes):
            usable &= sizes[np.maximum(codes, 0)] <= rule.max_group_size
        rule_keys[name] = (codes, usable)
        parts.append((left, right))
        stats["pairs_by_rule"][name] = len(left)
    for name, blocking in config.active_blocking().items():
        left, right = pass_pairs(name, blocking, columns)
        parts.append((left, right))
        stats["pairs_by_pass"][name] = len(left)
    left, right = union_pairs(n, parts)
    del parts
    stats["candidate_pairs"] = len(left)
    timer.lap("candidates")

    # ---------------------------------------------------------------- comparisons
    if comparators:
        levels = np.stack([c.compare(left, right) for c in comparators], axis=1)
    else:
        levels = np.zeros((len(left), 0), dtype=np.int8)
    timer.lap("compare")

    # ---------------------------------------------------------------- deterministic
    rule_names = list(rules)
    rule_of = np.full(len(left), -1, dtype=np.int64)
    for k, (name, rule) in enumerate(rules.items()):
        codes, usable = rule_keys[name]
        agree = (codes[left] == codes[right]) & usable[left] & usable[right]
        for comparison in rule.unless_disagree:
            agree &= levels[:, by_name[comparison]] != 0
        rule_of[agree & (rule_of < 0)] = k
    deterministic = rule_of >= 0
    stats["deterministic_pairs"] = int(deterministic.sum())
    timer.lap("deterministic")

    # ---------------------------------------------------------------- probabilistic
    model: LinkageModel | None = None
    if comparators:
        share = float(deterministic.mean()) if len(left) else 0.0
        model = estimate(comparators, levels, n, config.estimation, deterministic_share=share)
        scores = score_pairs(model, comparators, levels, left)
        probabilities = probability(scores)
    else:
        scores = np.zeros(len(left))
        probabilities = np.zeros(len(left))
    timer.lap("model")
    vetoed = np.zeros(len(left), dtype=bool)
    for comparison in config.veto:
        vetoed |= levels[:, by_name[comparison]] == 0
    stats["vetoed_pairs"] = int((vetoed & (probabilities >= config.threshold) & ~deterministic).sum())
    accepted = deterministic | ((probabilities >= config.threshold) & ~vetoed)
    link_probability = np.where(deterministic, 1.0, probabilities)

    # ---------------------------------------------------------------- clustering
    chosen = np.flatnonzero(accepted)
    constraints = config.clustering.constraints
    if constraints:
        # Strongest first: deterministic, then by probability; ties by record numbers.
        order = chosen[np.lexsort((right[chosen], left[chosen], -link_probability[chosen], ~deterministic[chosen]))]
        members = []
        for constraint in constraints:
            mask = np.ones(n, dtype=bool)
            if constraint.source is not None:
                mask &= frame["_source"].astype(str).to_numpy() == constraint.source
            if constraint.record_type is not None:
                mask &= frame["_type"].astype(str).to_numpy() == constraint.record_type
            members.append(mask)
        labels, kept = constrained_components(
            n, left[order], right[order], members, [c.max_records for c in constraints]
        )
        stats["links_dropped_by_constraints"] = int((~kept).sum())
        chosen = np.sort(order[kept])
    else:
        labels = connected_components(n, left[chosen], right[chosen])
        stats["links_dropped_by_constraints"] = 0
    entities = entity_ids(rids, labels)
    confidence = np.full(n, -1.0)
    np.maximum.at(confidence, left[chosen], link_probability[chosen])
    np.maximum.at(confidence, right[chosen], link_probability[chosen])
    confidence[confidence < 0] = 1.0
    timer.lap("cluster")

    methods = np.array(
        [f"deterministic:{r}" for r in rule_names] + ["probabilistic"], dtype=object
    )
    links = pd.DataFrame(
        {
            "rid_l": rids[left[chosen]],
            "rid_r": rids[right[chosen]],
            "score": scores[chosen],
            "probability": link_probability[chosen],
            "method": methods[np.where(rule_of[chosen] >= 0, rule_of[chosen], len(rule_names))],
        },
        columns=LINK_COLUMNS,
    )
    index = pd.Index(rids, name="_rid")
    entity_of = pd.Series(entities, index=index, name="entity", dtype=object)
    confidence_series = pd.Series(confidence, index=index, name="confidence")
    stats.update(
        deterministic_links=int(deterministic[chosen].sum()),
        probabilistic_links=int((~deterministic[chosen]).sum()),
        entities=int(len(np.unique(labels))) if n else 0,
        timings=timer.timings,
    )
    log.info(
        "matching: %d records, %d candidate pairs, %d deterministic + %d probabilistic links, %d entities",
        n, len(left), stats["deterministic_links"], stats["probabilistic_links"], stats["entities"],
    )

    explainer = _Explainer(
        rids=rids, comparators=comparators, model=model, config=config, rules=rules,
        rule_keys=rule_keys, by_name=by_name, candidates=left * np.int64(max(n, 1)) + right,
        link_keys=left[chosen] * np.int64(max(n, 1)) + right[chosen],
        link_methods=links["method"].to_numpy(dtype=object), entities=entities,
    )
    timer.lap("result")  # stats["timings"] is this same dict
    return MatchResult(
        entity_of=entity_of, confidence=confidence_series, links=links, model=model,
        stats=stats, config=config, explainer=explainer,
    )


class _Explainer:
    """Recomputes the evidence of any one pair from the prepared comparisons."""

    def __init__(self, *, rids: np.ndarray, comparators: list[Comparator], model: LinkageModel | None,
                 config: MatchingConfig, rules: dict[str, Any], rule_keys: dict[str, tuple[np.ndarray, np.ndarray]],
                 by_name: dict[str, int], candidates: np.ndarray, link_keys: np.ndarray,
                 link_methods: np.ndarray, entities: np.ndarray):
        self.rids = rids
        self.position = {rid: i for i, rid in enumerate(rids.tolist())}
        self.comparators = comparators
        self.model = model
        self.config = config
        self.rules = rules
        self.rule_keys = rule_keys
        self.by_name = by_name
        self.candidates = candidates  # sorted (union_pairs sorts)
        order = np.argsort(link_keys, kind="stable")
        self.link_keys = link_keys[order]
        self.link_methods = link_methods[order]
        self.entities = entities

    def _index(self, rid: str) -> int:
        try:
            return self.position[str(rid)]
        except KeyError:
            raise KeyError(f"{rid!r} is not an identity record of this match result") from None

    @staticmethod
    def _contains(sorted_keys: np.ndarray, key: int) -> int:
        at = int(np.searchsorted(sorted_keys, key))
        return at if at < len(sorted_keys) and sorted_keys[at] == key else -1

    def __call__(self, rid_a: str, rid_b: str) -> LinkExplanation:
        i, j = self._index(rid_a), self._index(rid_b)
        if i == j:
            raise ValueError("explain needs two different records")
        lo, hi = min(i, j), max(i, j)
        left, right = np.array([lo]), np.array([hi])
        n = max(len(self.rids), 1)
        fields: list[FieldEvidence] = []
        total = 0.0
        prior_weight = self.model.prior_weight if self.model is not None else 0.0
        levels: dict[str, int] = {}
        for f, comparator in enumerate(self.comparators):
            level = int(comparator.compare(left, right)[0])
            levels[comparator.name] = level
            weight, m, u, frequency = 0.0, None, None, None
            if self.model is not None and level >= 0:
                params = self.model.fields[f]
                m, u = float(params.m[level]), float(params.u[level])
                weight = float(params.weights[level])
                if params.term_frequency and level == comparator.exact_level:
                    frequency = float(comparator.value_frequency(left)[0])
                    u = float(params.tf_u(np.array([frequency]))[0])
                    weight = float(np.log2(max(m, 1e-300) / u))
            total += weight
            fields.append(
                FieldEvidence(
                    comparison=comparator.name, kind=comparator.kind, columns=list(comparator.columns),
                    value_l=comparator.display(lo), value_r=comparator.display(hi),
                    level=comparator.levels[level] if level >= 0 else "missing", level_index=level,
                    weight=weight, m=m, u=u, value_frequency=frequency,
                )
            )
        score = prior_weight + total
        rule_name, vetoed = None, []
        for name, rule in self.rules.items():
            codes, usable = self.rule_keys[name]
            if codes[lo] >= 0 and codes[lo] == codes[hi] and usable[lo] and usable[hi]:
                rule_name = name
                vetoed = [c for c in rule.unless_disagree if levels.get(c) == 0]
                if not vetoed:
                    break
        key = lo * n + hi
        at = self._contains(self.link_keys, key)
        return LinkExplanation(
            rid_l=str(self.rids[lo]), rid_r=str(self.rids[hi]), fields=fields,
            prior_weight=prior_weight, score=score,
            probability=float(probability(np.array([score]))[0]) if self.model is not None else 0.0,
            threshold=self.config.threshold, deterministic_rule=rule_name, vetoed_by=vetoed,
            veto=[c for c in self.config.veto if levels.get(c) == 0],
            candidate=self._contains(self.candidates, key) >= 0, linked=at >= 0,
            method=str(self.link_methods[at]) if at >= 0 else None,
            same_entity=bool(self.entities[lo] == self.entities[hi]),
        )
