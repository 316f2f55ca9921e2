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
   match probability; pairs from the threshold on link. With
   ``classifier: logistic``, a logistic regression fitted on the labelled
   pairs gives the probability instead.
6. Clustering: connected components of the links (strongest first under
   constraints), named ``E`` + a hash of the component's smallest rid.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from reconcile._factorize import factorize_texts
from reconcile.match._blocking import key_codes, key_strings, sorted_neighbourhood_pairs
from reconcile.match._cluster import connected_components, constrained_components, entity_ids
from reconcile.match._compare import Column, Comparator, build_comparator, factorize_text
from reconcile.match._config import (
    AddressComparison,
    BlockingKey,
    MatchingConfig,
    SortedNeighbourhoodPass,
)
from reconcile.match._logistic import LogisticClassifier, fit_logistic
from reconcile.match._model import (
    LinkageModel,
    estimate,
    probability,
    score_pairs,
    score_patterns,
    value_frequencies,
)
from reconcile.match._runner import (
    CHUNK_PAIRS,
    BlockPart,
    CandidatePlan,
    NeighbourhoodPart,
    PairRunner,
    current_runner,
    owner_codes,
)

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
            for a match, negative against, 0 when missing. With
            ``classifier: logistic``, the logistic coefficient of the level
            in bits (natural-log coefficient / ln 2); ``m``, ``u`` and
            ``value_frequency`` are then None.
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

    def compact(self) -> dict[str, Any]:
        """The explanation as small JSON-safe data, for a finding's evidence or ``--json``.

        Keys: ``rid_l``, ``rid_r``, ``linked``, ``method`` (``deterministic``,
        ``probabilistic`` or None), ``rule`` (the deterministic rule that
        links the pair, or None), ``same_entity``, ``score`` (bits),
        ``probability``, ``threshold``, ``veto`` and ``fields``: per
        comparison with a value on either side, ``comparison``, ``value_l``,
        ``value_r``, ``level`` and ``weight`` (bits).
        """
        method, rule = None, None
        if self.method is not None:
            method, _, rule_name = self.method.partition(":")
            rule = rule_name or None
        return {
            "rid_l": self.rid_l,
            "rid_r": self.rid_r,
            "linked": self.linked,
            "method": method,
            "rule": rule,
            "same_entity": self.same_entity,
            "score": round(float(self.score), 2),
            "probability": round(float(self.probability), 6),
            "threshold": float(self.threshold),
            "veto": list(self.veto),
            "fields": [
                {
                    "comparison": f.comparison,
                    "value_l": f.value_l,
                    "value_r": f.value_r,
                    "level": f.level,
                    "weight": round(float(f.weight), 2),
                }
                for f in self.fields
                if f.value_l is not None or f.value_r is not None
            ],
        }

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


class _Records:
    """The identity records in ``_rid`` order, read a column at a time.

    No sorted copy of the frame is made: a column is put in ``_rid`` order
    when it is read (once, to factorise it), so only its codes stay.
    """

    def __init__(self, identity: pd.DataFrame, rids: np.ndarray, order: np.ndarray):
        self.identity: pd.DataFrame | None = identity
        self.rids = rids
        self.order = order
        self.kept: dict[str, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.rids)

    def values(self, column: str) -> np.ndarray:
        """The column's values in ``_rid`` order (objects)."""
        if column == "_rid":
            return self.rids
        if column in self.kept:
            return self.kept[column]
        if self.identity is None:
            raise RuntimeError(f"the identity frame was let go before its column {column!r} was read")
        return np.asarray(self.identity[column].to_numpy(dtype=object)[self.order], dtype=object)

    def release(self, keep: Collection[str] = ()) -> None:
        """Let the identity frame go; the columns in ``keep`` stay readable (in ``_rid`` order)."""
        if self.identity is not None:
            self.kept = {c: self.values(c) for c in keep if c in self.identity.columns}
            self.identity = None

    def text(self, column: str) -> np.ndarray:
        """The column's values as text (``str`` of each), in ``_rid`` order."""
        return np.asarray(pd.Series(self.values(column), dtype=object).astype(str).to_numpy(), dtype=object)


class _Columns:
    """Factorised columns of the identity records, prepared once each."""

    def __init__(self, records: _Records):
        self.records = records
        self.cache: dict[str, Column] = {}

    def __call__(self, name: str) -> Column:
        column = self.cache.get(name)
        if column is None:
            column = self.cache[name] = Column(name, *factorize_text(self.records.values(name)))
        return column


class LinkArrays:
    """The accepted links as arrays of numbers: what :attr:`MatchResult.links` is made from.

    ``left`` and ``right`` are positions in ``rids``, the rids of the
    result's ``entity_of`` in their order (``left < right``, in
    ``(left, right)`` order), ``method`` the position of each link's method in
    ``methods``. Only ``rids`` and the few ``methods`` are objects: a result
    whose links are kept so holds no array of millions of pointers for them,
    and its numbers can wait on disk (``reconcile.pipeline.ParkedResult``).
    """

    def __init__(self, rids: np.ndarray, left: np.ndarray, right: np.ndarray, score: np.ndarray,
                 probability: np.ndarray, method: np.ndarray, methods: np.ndarray):
        self.rids = rids
        self.left = left
        self.right = right
        self.score = score
        self.probability = probability
        self.method = method
        self.methods = methods

    def __len__(self) -> int:
        return len(self.left)

    def frame(self) -> pd.DataFrame:
        """The links as :attr:`MatchResult.links` gives them (rids and method names as text)."""
        return pd.DataFrame(
            {
                "rid_l": self.rids[self.left],
                "rid_r": self.rids[self.right],
                "score": self.score,
                "probability": self.probability,
                "method": self.methods[self.method],
            },
            columns=LINK_COLUMNS,
            copy=False,  # fresh arrays, each its own column: not copied into one block per dtype
        )


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
            With ``classifier: logistic`` it is still estimated (and can be
            reused), but the logistic regression, re-fitted from the labels
            on every run, scores the pairs; its coefficients are in
            ``stats["classifier"]``.
        stats: Counts and timings of the stages.
        config: The settings used.
    """

    def __init__(
        self,
        *,
        entity_of: pd.Series,
        confidence: pd.Series,
        links: pd.DataFrame | LinkArrays,
        model: LinkageModel | None,
        stats: dict[str, Any],
        config: MatchingConfig,
        explainer: Callable[[str, str], LinkExplanation],
    ):
        self.entity_of = entity_of
        self.confidence = confidence
        # Links given as arrays (as resolve gives them) become a frame when ``links`` is first read.
        self._link_arrays: LinkArrays | None = links if isinstance(links, LinkArrays) else None
        self._links: pd.DataFrame | None = None if isinstance(links, LinkArrays) else links
        self.model = model
        self.stats = stats
        self.config = config
        self._explainer = explainer
        # How path() finds linked records: all links' lists (built only if a link
        # joined two entities), else links grouped by entity and each entity's lists.
        self._neighbours: dict[str, list[str]] | None = None
        self._link_groups: tuple[pd.Index, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None
        self._by_entity: dict[str, dict[str, list[str]]] = {}

    @property
    def links(self) -> pd.DataFrame:
        """One row per accepted pair (see the class); made from the link arrays when first read."""
        if self._links is None:
            assert self._link_arrays is not None
            self._links = self._link_arrays.frame()
        return self._links

    @links.setter
    def links(self, links: pd.DataFrame) -> None:
        self._links, self._link_arrays = links, None
        self._neighbours, self._link_groups, self._by_entity = None, None, {}

    @property
    def link_count(self) -> int:
        """How many links were accepted (``len(links)``, without making the frame)."""
        return len(self._link_arrays) if self._link_arrays is not None else len(self.links)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without path()'s lists, which are made again when asked for, nor a links frame made from arrays."""
        state = {**self.__dict__, "_neighbours": None, "_link_groups": None, "_by_entity": {}}
        if self._link_arrays is not None:
            state["_links"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A result pickled before path() kept its lists this way has none of them;
        # one pickled before links were kept as arrays has its frame as ``links``.
        if "links" in state:
            state["_links"] = state.pop("links")
        self.__dict__.update(
            {"_neighbours": None, "_link_groups": None, "_by_entity": {}, "_link_arrays": None, **state}
        )

    def __repr__(self) -> str:
        return (
            f"MatchResult(records={len(self.entity_of)}, entities={self.entity_of.nunique()}, "
            f"links={self.link_count})"
        )

    def forget_lookups(self) -> None:
        """Let go of the hash table pandas keeps over the rids once a lookup (``map``, ``get_indexer``) built it.

        ``entity_of`` and ``confidence`` get a new index of the same rids
        (sharing its array, and still one index for both); the next lookup
        builds its table again. At a million customers (3.5 million identity records) the table
        is about 160 MiB, which the match stage built to give every record its entity
        and nothing reads while the rules run.
        """
        old = self.entity_of.index
        index = pd.Index(old.to_numpy(dtype=object), name=old.name, dtype=object, copy=False)
        shared = self.confidence.index is old
        self.entity_of = pd.Series(self.entity_of.to_numpy(), index=index, name=self.entity_of.name, copy=False)
        if shared:
            self.confidence = pd.Series(
                self.confidence.to_numpy(), index=index, name=self.confidence.name, copy=False
            )

    def explain(self, rid_a: str, rid_b: str) -> LinkExplanation:
        """The evidence for (or against) linking two records, field by field.

        Works for any two identity records, linked or not.

        Raises:
            KeyError: a rid is not an identity record of this result.
        """
        return self._explainer(rid_a, rid_b)

    def explain_compact(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any] | Exception]:
        """``explain(a, b).compact()`` of many pairs at once (comparisons made for all of them together).

        Returns, per pair, the compact explanation, or the error ``explain``
        would raise (KeyError: not an identity record; ValueError: the same
        record twice).
        """
        many = getattr(self._explainer, "compact_many", None)
        if many is not None:
            return list(many(pairs))
        out: list[dict[str, Any] | Exception] = []
        for a, b in pairs:
            try:
                out.append(self._explainer(a, b).compact())
            except (KeyError, ValueError) as exc:
                out.append(exc)
        return out

    def path(self, rid_a: str, rid_b: str) -> list[str]:
        """The shortest chain of accepted links from one record to another.

        ``[rid_a, ..., rid_b]``: each neighbour pair is a row of ``links``.
        Empty when the records are in different entities; ``[rid_a]`` when
        they are the same record.

        Raises:
            KeyError: a rid is not an identity record of this result.
        """
        # One hash lookup each (a finding's evidence asks this for every pair: no pandas call per rid).
        at_a, at_b = self._position(rid_a), self._position(rid_b)
        if rid_a == rid_b:
            return [rid_a]
        entities = self.entity_of.to_numpy()
        entity_a, entity_b = entities[at_a], entities[at_b]
        if entity_a != entity_b:
            return []
        neighbours = self._entity_neighbours(entity_a)
        came_from: dict[str, str | None] = {rid_a: None}
        frontier = [rid_a]
        while frontier and rid_b not in came_from:
            following = []
            for rid in frontier:
                for other in neighbours.get(rid, ()):
                    if other not in came_from:
                        came_from[other] = rid
                        following.append(other)
            frontier = following
        if rid_b not in came_from:  # clustering constraints can drop links; entities still come from links
            return []
        chain = [rid_b]
        while (previous := came_from[chain[-1]]) is not None:
            chain.append(previous)
        return chain[::-1]

    def _position(self, rid: str) -> int:
        """The row of ``rid`` in ``entity_of``; KeyError if it is not an identity record here."""
        try:
            at = self.entity_of.index.get_loc(rid)
        except KeyError:
            at = None
        if not isinstance(at, int | np.integer):  # absent (or, were rids repeated, several rows)
            raise KeyError(f"{rid!r} is not an identity record of this match result")
        return int(at)

    def _entity_neighbours(self, entity: str) -> Mapping[str, list[str]]:
        """Each record's linked records, in ``links`` order: of one entity's links, or of all of them.

        The first call groups the links by entity (arrays, one pass); each
        entity's lists are then made when a path in it is asked for, so
        explaining a few thousand findings does not build lists for millions
        of links. Were a link to join two entities (none does: entities are
        made from the links), every path would use the lists of all links,
        as a search from one record could then leave its entity.
        """
        if self._neighbours is not None:
            return self._neighbours
        if self._link_groups is None:
            entities = self.entity_of.to_numpy(dtype=object)
            arrays = self._link_arrays
            if arrays is not None and len(arrays.rids) == len(entities):
                # Positions in the rids of entity_of (resolve gives both the same rids): no rid is looked up.
                rids, at_left, at_right = arrays.rids, arrays.left, arrays.right
            else:
                left = self.links["rid_l"].to_numpy(dtype=object)
                right = self.links["rid_r"].to_numpy(dtype=object)
                index = self.entity_of.index
                at_left, at_right = index.get_indexer(left), index.get_indexer(right)
                if (at_left < 0).any() or (at_right < 0).any():  # a link to a record that is not here
                    self._neighbours = _neighbours_of(left.tolist(), right.tolist())
                    return self._neighbours
                rids = index.to_numpy(dtype=object)
            if (entities[at_left] != entities[at_right]).any():
                self._neighbours = _neighbours_of(rids[at_left].tolist(), rids[at_right].tolist())
                return self._neighbours
            codes, uniques = pd.factorize(entities[at_left])
            order = np.argsort(codes, kind="stable")  # links order kept within an entity
            starts = np.searchsorted(codes[order], np.arange(len(uniques) + 1))
            self._link_groups = (pd.Index(uniques), order, starts, rids, at_left, at_right)
        uniques, order, starts, rids, at_left, at_right = self._link_groups
        found = self._by_entity.get(entity)
        if found is None:
            try:
                code = uniques.get_loc(entity)
            except KeyError:  # an entity without links
                code = -1
            rows = order[starts[code] : starts[code + 1]] if code >= 0 else order[:0]
            found = self._by_entity[entity] = _neighbours_of(
                rids[at_left[rows]].tolist(), rids[at_right[rows]].tolist()
            )
        return found

    def members(self, entity: str) -> list[str]:
        """The rids of one entity, sorted."""
        return sorted(self.entity_of.index[self.entity_of == entity])


def _neighbours_of(left: Sequence[str], right: Sequence[str]) -> dict[str, list[str]]:
    """Each record's linked records, in the order of the links."""
    neighbours: dict[str, list[str]] = {}
    for a, b in zip(left, right, strict=True):
        neighbours.setdefault(a, []).append(b)
        neighbours.setdefault(b, []).append(a)
    return neighbours


def _validate(identity: pd.DataFrame, config: MatchingConfig) -> _Records:
    if "_rid" not in identity.columns:
        raise ValueError("the identity frame needs a '_rid' column (one unique id per record)")
    rids = identity["_rid"]
    if rids.isna().any():
        raise ValueError(f"{int(rids.isna().sum())} identity record(s) have no '_rid'")
    # Unique as text (the records are kept in text order): equal neighbours once sorted, below.
    rid_text = rids.astype(str).to_numpy(dtype=object)
    order = np.argsort(rid_text, kind="stable")
    rid_text = rid_text[order]
    repeated = rid_text[1:][rid_text[1:] == rid_text[:-1]]
    if len(repeated):
        raise ValueError(f"'_rid' must be unique; duplicated: {sorted(set(repeated.tolist()))[:5]}")
    missing = sorted(config.columns() - set(identity.columns))
    if missing:
        users = _column_users(config)
        detail = "; ".join(f"{column} (used by {', '.join(users[column])})" for column in missing)
        raise ValueError(
            f"the identity frame lacks column(s) the matching settings read: {detail}. "
            "Add the column (normalise adds the _n_* columns) or disable what uses it, "
            "e.g. matching: {comparisons: {vin: {enabled: false}}}"
        )
    if not config.link_within_source and "_source" not in identity.columns:
        raise ValueError("link_within_source: false needs a '_source' column (the source of each record)")
    if config.clustering.constraints:
        for needed, attr in (("_source", "source"), ("_type", "record_type")):
            if needed not in identity.columns and any(
                getattr(c, attr) is not None for c in config.clustering.constraints
            ):
                raise ValueError(f"clustering constraints by {attr} need a {needed!r} column")
    # The records in _rid order; their columns are read in that order when needed (none is copied whole).
    return _Records(identity, rid_text, order)


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


def _reuse(
    previous: LinkageModel | None, config: MatchingConfig, fingerprint: str, now: dt.datetime
) -> tuple[bool, str]:
    """Whether to reuse an earlier model, and why (not)."""
    if previous is None:
        return False, "no earlier model given"
    if config.reestimate == "always":
        return False, "reestimate: always"
    if previous.fingerprint != fingerprint:
        if config.reestimate == "never":
            raise ValueError(
                "the model was estimated under other comparison or estimation settings "
                f"(fingerprint {previous.fingerprint or 'none'}, now {fingerprint}) and reestimate is 'never'; "
                "set matching.reestimate: auto to estimate a new model, or restore the settings"
            )
        return False, "the comparison or estimation settings changed since the model was estimated"
    if config.reestimate == "never":
        return True, "reestimate: never"
    limit = config.reestimate_every_days
    if limit is not None:
        if previous.estimated_at is None:
            return False, "the model has no estimation time"
        age = now - previous.estimated_at
        if age >= dt.timedelta(days=limit):
            return False, f"the model is {age.total_seconds() / 86400:.1f} days old (reestimate_every_days: {limit:g})"
    return True, "same settings" + (f", within {limit:g} days" if limit is not None else "")


def _check_fits(model: LinkageModel, comparators: list[Comparator]) -> None:
    have = [(f.name, tuple(f.levels)) for f in model.fields]
    want = [(c.name, tuple(c.levels)) for c in comparators]
    if have != want:
        raise ValueError(
            f"the model's comparisons {[h[0] for h in have]} do not fit the settings' {[w[0] for w in want]}; "
            "estimate a new model (matching.reestimate: always)"
        )


_YES = {"1", "true", "t", "yes", "y", "match"}
_NO = {"0", "false", "f", "no", "n", "non-match", "nonmatch"}


def _read_training_pairs(config: MatchingConfig) -> pd.DataFrame | None:
    path = config.training_pairs
    if path is None:
        return None
    if not path.is_file():
        raise ValueError(f"matching.training_pairs: {str(path)!r} is not a file; give a CSV with the "
                         "columns rid_l, rid_r, is_match, or remove the setting")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _labelled_pairs(
    table: pd.DataFrame, rids: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Record numbers and labels of the usable labelled pairs, and counts for the stats."""
    missing = [c for c in ("rid_l", "rid_r", "is_match") if c not in table.columns]
    if missing:
        raise ValueError(f"training pairs lack the column(s) {missing}; expected rid_l, rid_r, is_match "
                         f"(one labelled pair per row), got {list(table.columns)}")
    text = table["is_match"].astype(str).str.strip().str.lower()
    unknown = sorted(set(text) - _YES - _NO)
    if unknown:
        raise ValueError(f"training pairs: is_match must be 1/0 (or true/false, yes/no); got {unknown[:5]}")
    is_match = text.isin(_YES).to_numpy()
    positions = []
    for column in ("rid_l", "rid_r"):
        wanted = table[column].astype(str).to_numpy(dtype=object)
        at = np.searchsorted(rids, wanted) if len(rids) else np.zeros(len(wanted), dtype=np.int64)
        at = np.minimum(at, max(len(rids) - 1, 0))
        found = (rids[at] == wanted) if len(rids) else np.zeros(len(wanted), dtype=bool)
        positions.append(np.where(found, at, -1))
    a, b = positions
    usable = (a >= 0) & (b >= 0) & (a != b)
    if (~usable).any():
        log.warning("training pairs: %d of %d pair(s) name a record not in this frame (or the same record "
                    "twice) and are not used", int((~usable).sum()), len(table))
    lo, hi = np.minimum(a, b)[usable].astype(np.int64), np.maximum(a, b)[usable].astype(np.int64)
    is_match = is_match[usable]
    if not is_match.any():
        raise ValueError("the training pairs hold no labelled match between records of this frame: m cannot "
                         "be counted from them; add matches (is_match 1) or remove matching.training_pairs")
    summary = {"pairs": int(usable.sum()), "matches": int(is_match.sum()),
               "non_matches": int((~is_match).sum()), "unused": int((~usable).sum())}
    return lo, hi, is_match, summary


class _Timer:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 4)
        self._last = now

    def record(self, seconds: Mapping[str, float]) -> None:
        """Stages timed elsewhere (by the pair runner); the next lap starts now."""
        for stage, value in seconds.items():
            self.timings[stage] = round(value, 4)
        self._last = time.perf_counter()


def resolve(
    identity: pd.DataFrame | Callable[[], pd.DataFrame],
    config: MatchingConfig | None = None,
    model: LinkageModel | Mapping[str, Any] | None = None,
    *,
    labels: pd.DataFrame | None = None,
    now: dt.datetime | None = None,
    runner: PairRunner | None = None,
) -> MatchResult:
    """Link identity records that describe the same customer, and group them into entities.

    Args:
        identity: One row per identity record: ``_rid`` (unique), ``_source``
            and ``_type`` (for constraints and explanations), and every
            column the settings read (the normalised ``_n_*`` columns,
            ``birth_date``...). Row order does not matter. Or a function
            that makes that frame: resolve alone then holds it, and lets it
            go once every column it reads is prepared (the pipeline passes
            one: at a million customers the frame is about 0.5 GB).
        config: Matching settings (default: :class:`MatchingConfig` defaults).
        model: A model from an earlier run (a :class:`LinkageModel` or its
            ``to_dict()``), reused instead of estimating one unless
            ``config.reestimate`` says otherwise (see there). The model used
            is ``result.model``; ``result.stats["model"]`` says whether it
            was reused and why (not).
        labels: Labelled pairs (``rid_l``, ``rid_r``, ``is_match``) to count
            ``m`` from (and, with ``classifier: logistic``, to fit the
            classifier on); default: ``config.training_pairs``, if set.
        now: The time to date a new model and to age a reused one by
            (default: now, UTC).
        runner: Where candidate pairs are found and compared (default: the
            runner set by ``using_runner``, else this process). The Dask
            engine passes one that spreads the work over its workers; the
            result is the same.

    Returns:
        Entities, confidences, links and their explanations.

    Raises:
        ValueError: ``_rid`` is missing or not unique, a column the settings
            read is missing (the message says which and why), the training
            pairs are unusable or missing under ``classifier: logistic``,
            or ``reestimate: never`` meets a model
            estimated under other settings.
    """
    config = config if config is not None else MatchingConfig()
    if config.classifier == "logistic" and labels is None and config.training_pairs is None:
        raise ValueError(
            "matching.classifier: logistic needs labelled pairs: set matching.training_pairs (a CSV of "
            "rid_l, rid_r, is_match) or pass resolve(..., labels=frame); or use classifier: fellegi_sunter"
        )
    now = now if now is not None else dt.datetime.now(dt.UTC)
    previous = LinkageModel.from_dict(dict(model)) if isinstance(model, Mapping) else model
    fingerprint = config.model_fingerprint()
    reuse, reason = _reuse(previous, config, fingerprint, now)
    timer = _Timer()
    made_here = callable(identity)
    frame = identity() if callable(identity) else identity
    del identity  # a frame made here is held by records alone
    records = _validate(frame, config)
    del frame
    n = len(records)
    rids = records.rids
    columns = _Columns(records)
    comparators = [build_comparator(name, c, columns) for name, c in config.active_comparisons().items()]
    by_name = {c.name: f for f, c in enumerate(comparators)}

    # ---------------------------------------------------------------- candidates and comparisons
    rules = config.active_rules()
    parts: list[BlockPart | NeighbourhoodPart] = [
        BlockPart(name, "rule", key_codes([BlockingKey(column=c) for c in rule.columns], columns), rule.max_group_size)
        for name, rule in rules.items()
    ]
    for name, blocking in config.active_blocking().items():
        if isinstance(blocking, SortedNeighbourhoodPass):
            parts.append(NeighbourhoodPart(name, key_strings(blocking.on, columns), blocking.window))
        else:
            parts.append(BlockPart(name, "pass", key_codes(blocking.on, columns), blocking.max_block_size))
    # Per deterministic rule: its code of each record, -1 where the rule pairs the record with nothing.
    rule_keys: dict[str, np.ndarray] = {
        part.name: owner_codes(part) for part in parts if isinstance(part, BlockPart) and part.kind == "rule"
    }
    groups: np.ndarray | None = None
    if not config.link_within_source:
        groups = factorize_texts(records.text("_source"))[0].astype(np.int64)  # NUL characters kept apart
    candidacy = _Candidacy(parts, groups, rule_keys)
    timer.lap("prepare")
    if made_here:
        # Every column is prepared but those the clustering constraints read at the end.
        records.release({"_source", "_type"} if config.clustering.constraints else ())
    runner = runner if runner is not None else current_runner()
    found = runner.candidates(
        CandidatePlan(n=n, parts=parts, groups=groups, comparators=comparators, owners=candidacy.owners)
    )
    stats: dict[str, Any] = {"records": n, "pairs_by_rule": {}, "pairs_by_pass": {}}
    for part, count in zip(parts, found.pairs, strict=True):
        stats["pairs_by_rule" if part.kind == "rule" else "pairs_by_pass"][part.name] = count
    timer.record(found.seconds)
    del parts
    pairs = len(found)
    stats["candidate_pairs"] = pairs

    # ---------------------------------------------------------------- deterministic
    # The candidates are read a chunk at a time, in the runner's order (no step needs another).
    rule_names = list(rules)
    rule_of: list[np.ndarray | None] = [
        _rule_of(rules, rule_keys, by_name, a, b, partial(found.levels_of, stored), first)
        for first, a, b, stored in found.stored_chunks(CHUNK_PAIRS)
    ]
    deterministic_pairs = sum(int(np.count_nonzero(r >= 0)) for r in rule_of if r is not None)
    stats["deterministic_pairs"] = deterministic_pairs
    timer.lap("deterministic")

    # ---------------------------------------------------------------- probabilistic
    model_used: LinkageModel | None = None
    frequencies: list[np.ndarray | None] = []
    labelled_pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    classifier: LogisticClassifier | None = None
    if comparators:
        reusing = reuse and previous is not None
        table = None
        if not reusing or config.classifier == "logistic":
            table = labels if labels is not None else _read_training_pairs(config)
        if table is not None:
            label_lo, label_hi, is_match, stats["training"] = _labelled_pairs(table, rids)
            labelled_pairs = (label_lo, label_hi, is_match)
        if config.classifier == "logistic" and labelled_pairs is not None:
            label_levels = np.stack([c.compare(label_lo, label_hi) for c in comparators], axis=1)
            classifier = fit_logistic(comparators, label_levels, is_match, seed=config.estimation.seed)
            stats["classifier"] = classifier.to_dict()
        if reusing:
            assert previous is not None
            _check_fits(previous, comparators)
            model_used = previous
        else:
            share = deterministic_pairs / pairs if pairs else 0.0
            labelled = None
            if labelled_pairs is not None:
                labelled = np.stack([c.compare(label_lo[is_match], label_hi[is_match]) for c in comparators], axis=1)
            model_used = estimate(
                comparators, [], n, config.estimation, deterministic_share=share, groups=groups,
                pattern_counts=found.pattern_counts([len(c.levels) for c in comparators]),
                labelled_matches=labelled, compare=lambda a, b: runner.compare(comparators, a, b),
            )
            model_used.fingerprint = fingerprint
            model_used.estimated_at = now
            model_used.threshold = config.threshold
        assert model_used is not None
        for comparator in comparators:
            comparator.forget_levels()  # the pairs of candidates, random and labelled pairs are compared
        frequencies = [
            value_frequencies(c, params) if params.term_frequency else None
            for c, params in zip(comparators, model_used.fields, strict=True)
        ]
    stats["model"] = {
        "reused": bool(reuse and model_used is not None),
        "reason": reason,
        "method": model_used.method if model_used is not None else None,
        "fingerprint": fingerprint,
    }

    # Scores, a chunk of candidates at a time: only the accepted pairs' are kept, and each
    # chunk of candidates is let go once scored.
    vetoed_pairs = 0
    accepted_parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    # Pieces kept as pattern numbers are scored from per-pattern tables, their levels never decoded.
    patterns = found.patterns
    for k, (a, b, stored) in enumerate(found.pop_stored_chunks(CHUNK_PAIRS)):
        chunk_rules, rule_of[k] = rule_of[k], None
        assert chunk_rules is not None
        # The chunk's pattern table when its pairs are pattern numbers (and no classifier reads levels).
        numbered = patterns if stored.ndim == 1 and classifier is None else None
        if numbered is not None:
            stored = stored.astype(np.intp)  # pattern numbers as indices (uint16 ones are converted at every take)
        chunk_levels = stored if numbered is not None else found.levels_of(stored)
        if not comparators:
            scores = probabilities = np.zeros(len(a))
        else:
            if classifier is not None:
                scores = classifier.scores(chunk_levels)
            else:
                assert model_used is not None
                scores = (
                    score_patterns(model_used, comparators, numbered, stored, a, frequencies) if numbered is not None
                    else score_pairs(model_used, comparators, chunk_levels, a, frequencies)
                )
            probabilities = probability(scores)
        deterministic = chunk_rules >= 0
        vetoed = np.zeros(len(a), dtype=bool)
        for comparison in config.veto:
            if numbered is not None:
                vetoed |= np.take(numbered[:, by_name[comparison]] == 0, stored)
            else:
                vetoed |= chunk_levels[:, by_name[comparison]] == 0
        linkable = probabilities >= config.threshold
        vetoed_pairs += int(np.count_nonzero(vetoed & linkable & ~deterministic))
        index = np.flatnonzero(deterministic | (linkable & ~vetoed))
        accepted_parts.append((
            a[index].astype(np.int64), b[index].astype(np.int64), scores[index],
            np.where(deterministic[index], 1.0, probabilities[index]), chunk_rules[index],
        ))
    del found, rule_of
    stats["vetoed_pairs"] = vetoed_pairs
    timer.lap("model")

    # ---------------------------------------------------------------- clustering
    # The accepted pairs in (left, right) order, as if every candidate had been sorted.
    def joined(parts: Sequence[tuple[np.ndarray, ...]], column: int, empty: np.ndarray) -> np.ndarray:
        return np.concatenate([part[column] for part in parts]) if parts else empty

    link_left = joined(accepted_parts, 0, np.zeros(0, np.int64))
    link_right = joined(accepted_parts, 1, np.zeros(0, np.int64))
    chosen_scores, chosen_probability = joined(accepted_parts, 2, np.zeros(0)), joined(accepted_parts, 3, np.zeros(0))
    chosen_rule = joined(accepted_parts, 4, np.zeros(0, np.int8))
    del accepted_parts
    order = np.argsort(link_left * np.int64(max(n, 1)) + link_right)  # distinct keys: one order
    link_left, link_right = link_left[order], link_right[order]
    chosen_scores, chosen_probability, chosen_rule = chosen_scores[order], chosen_probability[order], chosen_rule[order]
    chosen_deterministic = chosen_rule >= 0
    constraints = config.clustering.constraints
    if constraints:
        # Strongest first: deterministic, then by probability; ties by record numbers.
        order = np.lexsort((link_right, link_left, -chosen_probability, ~chosen_deterministic))
        members = []
        for constraint in constraints:
            mask = np.ones(n, dtype=bool)
            if constraint.source is not None:
                mask &= records.text("_source") == constraint.source
            if constraint.record_type is not None:
                mask &= records.text("_type") == constraint.record_type
            members.append(mask)
        labels, kept = constrained_components(
            n, link_left[order], link_right[order], members, [c.max_records for c in constraints]
        )
        stats["links_dropped_by_constraints"] = int((~kept).sum())
        keep = np.sort(order[kept])
        chosen_scores, chosen_probability = chosen_scores[keep], chosen_probability[keep]
        chosen_rule, chosen_deterministic = chosen_rule[keep], chosen_deterministic[keep]
        link_left, link_right = link_left[keep], link_right[keep]
    else:
        labels = connected_components(n, link_left, link_right)
        stats["links_dropped_by_constraints"] = 0
    entities = entity_ids(rids, labels)
    confidence = np.full(n, -1.0)
    np.maximum.at(confidence, link_left, chosen_probability)
    np.maximum.at(confidence, link_right, chosen_probability)
    confidence[confidence < 0] = 1.0
    timer.lap("cluster")

    methods = np.array(
        [f"deterministic:{r}" for r in rule_names] + ["probabilistic"], dtype=object
    )
    method_of = np.where(chosen_deterministic, chosen_rule, len(rule_names)).astype(
        np.int8 if len(methods) < 127 else np.int32
    )
    # Numbers and the rids: MatchResult.links makes the frame of text when it is read.
    links = LinkArrays(rids, link_left, link_right, chosen_scores, chosen_probability, method_of, methods)
    index = pd.Index(rids, name="_rid")
    entity_of = pd.Series(entities, index=index, name="entity", dtype=object)
    confidence_series = pd.Series(confidence, index=index, name="confidence")
    stats.update(
        deterministic_links=int(chosen_deterministic.sum()),
        probabilistic_links=int((~chosen_deterministic).sum()),
        entities=int(np.count_nonzero(labels == np.arange(n))),  # a component's smallest record labels itself
        timings=timer.timings,
    )
    log.info(
        "matching: %d records, %d candidate pairs, %d deterministic + %d probabilistic links, %d entities",
        n, pairs, stats["deterministic_links"], stats["probabilistic_links"], stats["entities"],
    )
    if labelled_pairs is not None and model_used is not None:
        # How the fitted model classifies its own labelled pairs at the threshold.
        label_lo, label_hi, is_match = labelled_pairs
        label_levels = np.stack([c.compare(label_lo, label_hi) for c in comparators], axis=1)
        label_scores = (
            classifier.scores(label_levels) if classifier is not None
            else score_pairs(model_used, comparators, label_levels, label_lo, frequencies)
        )
        linked = probability(label_scores)
        stats["training"]["agreement"] = float(((linked >= config.threshold) == is_match).mean())
    explainer = _Explainer(
        rids=rids, comparators=comparators, model=model_used, frequencies=frequencies, config=config, rules=rules,
        classifier=classifier,
        rule_keys=rule_keys, by_name=by_name, candidacy=candidacy,
        link_keys=link_left * np.int64(max(n, 1)) + link_right,
        link_methods=method_of, method_names=methods, entities=entities,
    )
    timer.lap("result")  # stats["timings"] is this same dict
    return MatchResult(
        entity_of=entity_of, confidence=confidence_series, links=links, model=model_used,
        stats=stats, config=config, explainer=explainer,
    )


def _rule_of(
    rules: Mapping[str, Any], rule_keys: Mapping[str, np.ndarray], by_name: Mapping[str, int],
    left: np.ndarray, right: np.ndarray, levels: Callable[[], np.ndarray], first: int = 0,
) -> np.ndarray:
    """Per candidate: the number of the first deterministic rule that links it, -1 if none.

    ``levels`` gives the pairs' levels (asked for only if a rule's
    ``unless_disagree`` needs them). ``first``: the rules before it do not
    agree on any of the pairs (the runner found them by a later part, see
    ``Candidates.stored_chunks``; the rules are the plan's first parts, and a
    rule agrees on a pair exactly when its part generates the pair), so they
    are not looked at: none is when ``first`` is past the rules.
    """
    rule_of: np.ndarray = np.full(len(left), -1, dtype=np.int8 if len(rules) < 127 else np.int32)
    later = list(rules.items())[first:]
    if not later:
        return rule_of
    levels_read = levels() if any(rule.unless_disagree for _, rule in later) else None
    for at in range(0, len(left), CHUNK_PAIRS):
        a, b = left[at:at + CHUNK_PAIRS], right[at:at + CHUNK_PAIRS]
        out: np.ndarray = rule_of[at:at + CHUNK_PAIRS]  # a view: written in place
        for k, (name, rule) in enumerate(later, start=first):
            codes = rule_keys[name]
            key = codes[a]
            agree = (key >= 0) & (key == codes[b])
            for comparison in rule.unless_disagree:
                assert levels_read is not None
                agree &= levels_read[at:at + CHUNK_PAIRS, by_name[comparison]] != 0
            out[agree & (out < 0)] = k
    return rule_of


class _Candidacy:
    """Whether a rule or blocking pass proposes a pair, told from the parts' codes.

    The same answer as looking the pair up among the candidates, without
    keeping every candidate: a pair is one when a block part's codes of both
    records are equal (and not -1), or a sorted neighbourhood pass pairs them
    (those pairs found again on the first question), and its records are in
    different sources when records of one source never pair.
    """

    def __init__(
        self, parts: list[BlockPart | NeighbourhoodPart], groups: np.ndarray | None, rule_keys: Mapping[str, np.ndarray]
    ):
        self.owners = [
            rule_keys[part.name] if part.kind == "rule" else owner_codes(part)
            for part in parts if isinstance(part, BlockPart)
        ]
        self.windows = [(part.keys, part.window) for part in parts if isinstance(part, NeighbourhoodPart)]
        self.groups = groups
        self._window_keys: np.ndarray | None = None

    def __call__(self, lo: int, hi: int, n: int) -> bool:
        if self.groups is not None and self.groups[lo] == self.groups[hi]:
            return False
        for codes in self.owners:
            if codes[lo] >= 0 and codes[lo] == codes[hi]:
                return True
        if not self.windows:
            return False
        if self._window_keys is None:
            keys = [np.zeros(0, dtype=np.int64)]
            for strings, window in self.windows:
                a, b = sorted_neighbourhood_pairs(strings, window)
                keys.append(a * np.int64(n) + b)
            self._window_keys = np.unique(np.concatenate(keys))
        at = int(np.searchsorted(self._window_keys, lo * n + hi))
        return at < len(self._window_keys) and int(self._window_keys[at]) == lo * n + hi


class _Explainer:
    """Recomputes the evidence of any one pair from the prepared comparisons."""

    def __init__(self, *, rids: np.ndarray, comparators: list[Comparator], model: LinkageModel | None,
                 frequencies: list[np.ndarray | None], config: MatchingConfig, rules: dict[str, Any],
                 rule_keys: dict[str, np.ndarray], by_name: dict[str, int], candidacy: _Candidacy,
                 link_keys: np.ndarray, link_methods: np.ndarray, method_names: np.ndarray, entities: np.ndarray,
                 classifier: LogisticClassifier | None = None):
        self.rids = rids  # sorted: a rid is found by bisection, no dictionary of every rid is kept
        self.comparators = comparators
        self.model = model
        self.frequencies = frequencies
        self.config = config
        self.rules = rules
        self.rule_keys = rule_keys
        self.by_name = by_name
        self.candidacy = candidacy
        if len(link_keys) > 1 and not bool((link_keys[1:] >= link_keys[:-1]).all()):
            order = np.argsort(link_keys, kind="stable")
            link_keys, link_methods = link_keys[order], link_methods[order]
        # resolve() gives them sorted, and the links' own method numbers: kept, not copied.
        self.link_keys = link_keys
        self.link_methods = link_methods  # per link: its method's position in method_names
        self.method_names = method_names
        self.entities = entities
        self.classifier = classifier

    def _index(self, rid: str) -> int:
        text = str(rid)
        at = int(np.searchsorted(self.rids, text)) if len(self.rids) else 0
        if at < len(self.rids) and self.rids[at] == text:
            return at
        raise KeyError(f"{rid!r} is not an identity record of this match result")

    @staticmethod
    def _contains(sorted_keys: np.ndarray, key: int) -> int:
        at = int(np.searchsorted(sorted_keys, key))
        return at if at < len(sorted_keys) and sorted_keys[at] == key else -1

    def compact_many(self, pairs: Sequence[tuple[str, str]]) -> list[dict[str, Any] | Exception]:
        """``self(a, b).compact()`` for every pair, the comparisons and lookups made for all pairs at once.

        Every weight, score and probability is computed by the same scalar
        arithmetic as :meth:`__call__` (tests check the results are equal);
        only the comparators' levels, the term-frequency lookups and the
        link lookups are done on arrays (each pair's result is its own).
        """
        out: list[dict[str, Any] | Exception] = [ValueError("unexplained")] * len(pairs)
        lows: list[int] = []
        highs: list[int] = []
        at: list[int] = []
        for k, (rid_a, rid_b) in enumerate(pairs):
            try:
                i, j = self._index(rid_a), self._index(rid_b)
            except KeyError as exc:
                out[k] = exc
                continue
            if i == j:
                out[k] = ValueError("explain needs two different records")
                continue
            lows.append(min(i, j))
            highs.append(max(i, j))
            at.append(k)
        if not at:
            return out
        lo, hi = np.asarray(lows, dtype=np.int64), np.asarray(highs, dtype=np.int64)
        n = max(len(self.rids), 1)
        levels = [comparator.compare(lo, hi) for comparator in self.comparators]
        frequencies: list[np.ndarray | None] = []
        for f, comparator in enumerate(self.comparators):
            params = self.model.fields[f] if self.model is not None and self.classifier is None else None
            if params is None or not params.term_frequency:
                frequencies.append(None)
                continue
            by_value = self.frequencies[f] if f < len(self.frequencies) else None
            exact = comparator.exact_level
            agree = np.zeros(len(lo), dtype=bool) if exact is None else np.asarray(levels[f]) == exact
            values = np.full(len(lo), np.nan)
            if agree.any():  # looked up only where the pair agrees exactly, as one pair at a time does
                records = lo[agree]
                values[agree] = (
                    by_value[comparator.value_codes(records)] if by_value is not None
                    else comparator.value_frequency(records)
                )
            frequencies.append(values)
        keys = lo * n + hi
        found = np.searchsorted(self.link_keys, keys) if len(self.link_keys) else np.zeros(len(keys), dtype=np.int64)
        linked = found < len(self.link_keys)
        linked[linked] = self.link_keys[found[linked]] == keys[linked]
        prior_weight = self.model.prior_weight if self.model is not None else 0.0
        if self.classifier is not None:
            prior_weight = self.classifier.intercept
        threshold = float(self.config.threshold)
        # Per comparator, what does not depend on the pair, read once: the levels as
        # Python ints, the model's m and weights per level, and the term-frequency u
        # of every pair (a product and a maximum: each element as alone).
        level_lists = [np.asarray(level).tolist() for level in levels]
        fields_of = self.model.fields if self.classifier is None and self.model is not None else None
        m_lists = [fields_of[f].m.tolist() if fields_of else [] for f in range(len(self.comparators))]
        weight_lists = [fields_of[f].weights.tolist() if fields_of else [] for f in range(len(self.comparators))]
        tf_u_lists = [
            fields_of[f].tf_u(np.asarray(tf, dtype=np.float64)).tolist() if fields_of and tf is not None else None
            for f, tf in enumerate(frequencies)
        ]
        exact_levels = [comparator.exact_level for comparator in self.comparators]
        for p, k in enumerate(at):
            left, right = int(lo[p]), int(hi[p])
            fields: list[dict[str, Any]] = []
            total = 0.0
            by_name: dict[str, int] = {}
            for f, comparator in enumerate(self.comparators):
                level = level_lists[f][p]
                by_name[comparator.name] = level
                weight = 0.0
                if self.classifier is not None:
                    weight = self.classifier.weight(f, level)
                elif self.model is not None and level >= 0:
                    m = m_lists[f][level]
                    weight = weight_lists[f][level]
                    tf_u = tf_u_lists[f]
                    if tf_u is not None and level == exact_levels[f]:
                        weight = float(np.log2(max(m, 1e-300) / tf_u[p]))
                total += weight
                value_l, value_r = comparator.display(left), comparator.display(right)
                if value_l is not None or value_r is not None:
                    fields.append({
                        "comparison": comparator.name,
                        "value_l": value_l,
                        "value_r": value_r,
                        "level": comparator.levels[level] if level >= 0 else "missing",
                        "weight": round(float(weight), 2),
                    })
            score = prior_weight + total
            is_linked = bool(linked[p])
            method, rule = None, None
            if is_linked:
                method, _, rule_name = str(self.method_names[self.link_methods[found[p]]]).partition(":")
                rule = rule_name or None
            out[k] = {
                "rid_l": str(self.rids[left]),
                "rid_r": str(self.rids[right]),
                "linked": is_linked,
                "method": method,
                "rule": rule,
                "same_entity": bool(self.entities[left] == self.entities[right]),
                "score": round(float(score), 2),
                "probability": round(
                    float(probability(np.array([score]))[0]) if self.model is not None else 0.0, 6
                ),
                "threshold": threshold,
                "veto": [c for c in self.config.veto if by_name.get(c) == 0],
                "fields": fields,
            }
        return out

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
        if self.classifier is not None:
            prior_weight = self.classifier.intercept
        levels: dict[str, int] = {}
        for f, comparator in enumerate(self.comparators):
            level = int(comparator.compare(left, right)[0])
            levels[comparator.name] = level
            weight, m, u, frequency = 0.0, None, None, None
            if self.classifier is not None:
                weight = self.classifier.weight(f, level)  # the level's logistic coefficient, in bits
            elif self.model is not None and level >= 0:
                params = self.model.fields[f]
                m, u = float(params.m[level]), float(params.u[level])
                weight = float(params.weights[level])
                if params.term_frequency and level == comparator.exact_level:
                    by_value = self.frequencies[f] if f < len(self.frequencies) else None
                    frequency = (
                        float(by_value[comparator.value_codes(left)[0]]) if by_value is not None
                        else float(comparator.value_frequency(left)[0])
                    )
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
            codes = self.rule_keys[name]
            if codes[lo] >= 0 and codes[lo] == codes[hi]:
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
            candidate=self.candidacy(lo, hi, n), linked=at >= 0,
            method=str(self.method_names[self.link_methods[at]]) if at >= 0 else None,
            same_entity=bool(self.entities[lo] == self.entities[hi]),
        )
