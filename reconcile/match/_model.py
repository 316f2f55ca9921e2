"""The Fellegi-Sunter model: estimation without labels, and pair scores.

For every comparison and level, ``m`` is the share of matching pairs at that
level and ``u`` the share of non-matching pairs; agreement at a level weighs
``log2(m / u)`` bits. A pair's score is the prior's log-odds plus its
weights; its match probability follows from the score.

* ``u`` comes from random record pairs (nearly all non-matches): exact
  agreement is counted exactly from the value frequencies, the other levels
  from a sample. Matches among the random pairs are then taken out
  (``u = (p - prior * m) / (1 - prior)``), so an identifier that only ever
  agrees between records of the same customer is not mistaken for a common
  coincidence.
* ``m`` and the share of matches come from EM over the candidate pairs,
  computed on distinct comparison patterns (a few hundred) weighted by their
  counts, so an iteration costs the same for a thousand or ten million pairs.
* Term frequency: exact agreement on a value held by a share ``tf`` of the
  records weighs ``log2(m / (tf * c))`` instead, with ``c`` scaling the
  frequencies so that they average to the field's ``u``. A common surname
  agreeing is weaker evidence than a rare one.
* With labelled pairs, ``m`` is counted from the labelled matches instead,
  and EM (``m`` held fixed) gives only the share of matches.
* A model is plain data (``to_dict``/``from_dict``), so a later run can
  reuse it instead of estimating again; the term frequencies of common
  values travel with it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from reconcile.match._compare import AddressComparator, Comparator, _OneColumn
from reconcile.match._config import EstimationConfig

__all__ = [
    "FieldModel", "LinkageModel", "estimate", "random_pairs", "score_pairs", "score_patterns", "value_frequencies",
]

_EPS = 1e-300


#: Most values whose term frequency a model keeps (values held by one record are not kept).
MAX_STORED_FREQUENCIES = 20_000

MODEL_FORMAT = 1


@dataclass
class FieldModel:
    """The estimated parameters of one comparison.

    Attributes:
        name: The comparison's name.
        kind: Its kind (``string``, ``exact``...).
        columns: The columns it compares.
        levels: Level names, "else" first, exact agreement last.
        m: Share of matching pairs at each level.
        u: Share of non-matching pairs at each level.
        term_frequency: Whether exact agreement is weighed by value frequency.
        tf_scale: ``c`` in ``u_value = tf * c`` (1 without term frequencies).
        u_floor: The smallest ``u`` the data can support.
        term_frequencies: With term frequencies, the share of records holding
            each value seen at estimation (values held by at least two
            records, the most common first); a value not in it is weighed by
            its share in the data being matched.
    """

    name: str
    kind: str
    columns: list[str]
    levels: tuple[str, ...]
    m: np.ndarray
    u: np.ndarray
    term_frequency: bool = False
    tf_scale: float = 1.0
    u_floor: float = 0.0
    term_frequencies: dict[str, float] = field(default_factory=dict)

    @property
    def weights(self) -> np.ndarray:
        """``log2(m / u)`` per level."""
        return np.asarray(np.log2(np.maximum(self.m, _EPS) / np.maximum(self.u, _EPS)), dtype=np.float64)

    def tf_u(self, frequency: np.ndarray) -> np.ndarray:
        """``u`` of exact agreement on values held by the given shares of records."""
        return np.maximum(frequency * self.tf_scale, self.u_floor)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain data (JSON-ready); :meth:`from_dict` reads it back."""
        return {
            "name": self.name,
            "kind": self.kind,
            "columns": list(self.columns),
            "levels": list(self.levels),
            "m": [float(x) for x in self.m],
            "u": [float(x) for x in self.u],
            "weights": [float(x) for x in self.weights],
            "term_frequency": self.term_frequency,
            "tf_scale": float(self.tf_scale),
            "u_floor": float(self.u_floor),
            "term_frequencies": {str(k): float(v) for k, v in self.term_frequencies.items()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FieldModel:
        """A field model from :meth:`to_dict` output (``weights`` is derived, not read)."""
        return cls(
            name=str(data["name"]),
            kind=str(data["kind"]),
            columns=[str(c) for c in data["columns"]],
            levels=tuple(str(level) for level in data["levels"]),
            m=np.asarray(data["m"], dtype=np.float64),
            u=np.asarray(data["u"], dtype=np.float64),
            term_frequency=bool(data.get("term_frequency", False)),
            tf_scale=float(data.get("tf_scale", 1.0)),
            u_floor=float(data.get("u_floor", 0.0)),
            term_frequencies={str(k): float(v) for k, v in data.get("term_frequencies", {}).items()},
        )


@dataclass
class LinkageModel:
    """A Fellegi-Sunter model: the prior and the parameters of each comparison.

    Serialisable with :meth:`to_dict` (JSON-safe) and :meth:`from_dict`, so a
    later run can reuse it: ``resolve(identity, config, model=previous)``.

    Attributes:
        prior: Probability that two random records match.
        fields: Parameters per comparison, in configuration order.
        candidate_share: Estimated share of matches among the candidate pairs.
        iterations: EM iterations run.
        converged: Whether EM met its tolerance.
        method: ``em`` (estimated without labels) or ``labels`` (``m`` from
            labelled pairs).
        fingerprint: Hash of the settings the parameters depend on (the
            comparisons, ``link_within_source``, the estimation settings and
            the training pairs' path); a model is reused only for the same.
        estimated_at: When it was estimated (UTC).
        threshold: The match threshold of the settings it was estimated
            with (for the record: the current settings' threshold applies).
        extra: Other figures of the estimation.
    """

    prior: float
    fields: list[FieldModel]
    candidate_share: float = 0.0
    iterations: int = 0
    converged: bool = True
    method: str = "em"
    fingerprint: str = ""
    estimated_at: dt.datetime | None = None
    threshold: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        """The prior's log2-odds: the score of a pair with no evidence."""
        return float(np.log2(self.prior / (1.0 - self.prior)))

    def field(self, name: str) -> FieldModel:
        """The parameters of one comparison, by name."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no comparison {name!r} in the model; it has: {[f.name for f in self.fields]}")

    def to_dict(self) -> dict[str, Any]:
        """The model as plain data (JSON-safe); :meth:`from_dict` reads it back."""
        return {
            "format": MODEL_FORMAT,
            "prior": float(self.prior),
            "prior_weight": self.prior_weight,
            "candidate_share": float(self.candidate_share),
            "iterations": int(self.iterations),
            "converged": bool(self.converged),
            "method": self.method,
            "fingerprint": self.fingerprint,
            "estimated_at": self.estimated_at.isoformat() if self.estimated_at is not None else None,
            "threshold": self.threshold,
            "extra": {str(k): _plain(v) for k, v in self.extra.items()},
            "fields": [f.to_dict() for f in self.fields],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkageModel:
        """A model from :meth:`to_dict` output (as stored, e.g. after a JSON round trip).

        Raises:
            ValueError: the data is not a model, or of a newer format.
        """
        if not isinstance(data, dict) or "prior" not in data or "fields" not in data:
            raise ValueError("not a linkage model: expected the output of LinkageModel.to_dict()")
        version = int(data.get("format", MODEL_FORMAT))
        if version > MODEL_FORMAT:
            raise ValueError(f"linkage model format {version} is newer than this reconcile reads "
                             f"({MODEL_FORMAT}); upgrade reconcile or re-estimate the model")
        when = data.get("estimated_at")
        estimated_at = dt.datetime.fromisoformat(when) if when else None
        if estimated_at is not None and estimated_at.tzinfo is None:
            estimated_at = estimated_at.replace(tzinfo=dt.UTC)
        threshold = data.get("threshold")
        return cls(
            prior=float(data["prior"]),
            fields=[FieldModel.from_dict(f) for f in data["fields"]],
            candidate_share=float(data.get("candidate_share", 0.0)),
            iterations=int(data.get("iterations", 0)),
            converged=bool(data.get("converged", True)),
            method=str(data.get("method", "em")),
            fingerprint=str(data.get("fingerprint", "")),
            estimated_at=estimated_at,
            threshold=float(threshold) if threshold is not None else None,
            extra=dict(data.get("extra", {})),
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def random_pairs(
    n: int, size: int, seed: int, groups: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``size`` distinct-record pairs drawn uniformly; all pairs when there are fewer.

    With ``groups`` (a group number per record), only pairs of records in
    different groups are drawn.
    """
    empty = np.zeros(0, dtype=np.int64)
    total = n * (n - 1) // 2
    if groups is not None and n:
        per_group = np.bincount(groups)
        total = (n * n - int((per_group * per_group).sum())) // 2
    if total == 0:
        return empty, empty
    if total <= size:
        left, right = np.triu_indices(n, k=1)
        if groups is not None:
            keep = groups[left] != groups[right]
            left, right = left[keep], right[keep]
        return left.astype(np.int64), right.astype(np.int64)
    rng = np.random.default_rng(seed)
    lefts, rights, drawn = [], [], 0
    while drawn < size:
        a = rng.integers(0, n, size=size, dtype=np.int64)
        b = rng.integers(0, n - 1, size=size, dtype=np.int64)
        b = np.where(b >= a, b + 1, b)  # uniform over the other records
        if groups is not None:
            keep = groups[a] != groups[b]
            a, b = a[keep], b[keep]
        a, b = a[: size - drawn], b[: size - drawn]
        lefts.append(np.minimum(a, b))
        rights.append(np.maximum(a, b))
        drawn += len(a)
    return np.concatenate(lefts), np.concatenate(rights)


def _random_level_shares(
    comparator: Comparator, levels: np.ndarray, strength: float, groups: np.ndarray | None = None
) -> tuple[np.ndarray, float, float]:
    """P(level) over random pairs with both values present, and the support of the estimate.

    Returns ``(p, support_exact, support_other)``: exact agreement is counted
    over every pair of records (its support is that number of pairs), the
    other levels over the sample.
    """
    k = len(comparator.levels)
    present = levels[levels >= 0]
    counts = np.bincount(present, minlength=k).astype(np.float64)
    p_exact, exact_pairs = comparator.exact_agreement(groups)
    others = counts[:-1]
    prior_others = comparator.u_prior[:-1] / comparator.u_prior[:-1].sum()
    sample = float(others.sum())
    # A little prior keeps levels the sample never saw above zero.
    shares = (others + strength * prior_others) / (sample + strength) if sample + strength > 0 else prior_others
    exact = (
        (p_exact * exact_pairs + strength * comparator.u_prior[-1]) / (exact_pairs + strength)
        if exact_pairs + strength > 0 else float(comparator.u_prior[-1])
    )
    p = np.concatenate([shares * (1.0 - exact), [exact]])
    return p, exact_pairs + strength, sample + strength


#: Rows of the level matrix coded at a time when counting its patterns.
PATTERN_CHUNK = 1_000_000


def _pattern_table(
    levels: np.ndarray | Sequence[np.ndarray], sizes: list[int], weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the level matrix and how often each occurs (sorted by the rows' codes).

    ``levels`` is one matrix or several (pieces of one, in any order: the
    counts are whole numbers, so the order does not matter). Counted a chunk
    of rows at a time, so no code per pair is held at once. ``weights``
    (int64, one per row of a single matrix): each row counts that many times
    (distinct rows already counted elsewhere).
    """
    blocks = [levels] if isinstance(levels, np.ndarray) else list(levels)
    if sum(block.shape[0] for block in blocks) == 0:
        return np.zeros((0, len(sizes)), dtype=np.int64), np.zeros(0, dtype=np.float64)
    found: list[np.ndarray] = []
    tallies: list[np.ndarray] = []
    for block in blocks:
        for at in range(0, block.shape[0], PATTERN_CHUNK):
            rows = block[at:at + PATTERN_CHUNK]
            code = np.zeros(rows.shape[0], dtype=np.int64)
            for f, size in enumerate(sizes):
                code *= np.int64(size + 1)
                code += rows[:, f].astype(np.int64) + 1
            if weights is None:
                unique, counts = np.unique(code, return_counts=True)
            else:
                unique, inverse = np.unique(code, return_inverse=True)
                counts = np.zeros(len(unique), dtype=np.int64)
                np.add.at(counts, inverse.reshape(-1), weights[at:at + PATTERN_CHUNK])
            found.append(unique)
            tallies.append(counts)
    unique, inverse = np.unique(np.concatenate(found), return_inverse=True)
    total = np.zeros(len(unique), dtype=np.int64)
    np.add.at(total, inverse, np.concatenate(tallies))
    patterns = np.zeros((len(unique), len(sizes)), dtype=np.int64)
    rest = unique.copy()
    for f in range(len(sizes) - 1, -1, -1):
        base = np.int64(sizes[f] + 1)
        patterns[:, f] = rest % base - 1
        rest //= base
    return patterns, total.astype(np.float64)


def _log_table(p: np.ndarray) -> np.ndarray:
    """``log(p)`` per level with a leading 0 for "missing" (index level + 1)."""
    return np.concatenate([[0.0], np.log(np.maximum(p, _EPS))])


def _em(
    patterns: np.ndarray,
    weights: np.ndarray,
    comparators: list[Comparator],
    u_start: list[np.ndarray],
    share_start: float,
    config: EstimationConfig,
    fixed_m: list[np.ndarray] | None = None,
) -> tuple[list[np.ndarray], float, float, int, bool]:
    """EM for ``m``, the candidates' ``u`` and the share of matches, over weighted patterns.

    With ``fixed_m`` (``m`` known from labelled pairs) only the candidates'
    ``u`` and the share of matches move.
    """
    alpha = config.prior_strength
    m = [c.m_prior.astype(np.float64).copy() for c in comparators] if fixed_m is None else list(fixed_m)
    u_prior = [np.maximum(p, 1e-12) / np.maximum(p, 1e-12).sum() for p in u_start]
    u = [p.copy() for p in u_prior]
    share = share_start
    total = float(weights.sum())
    converged = False
    iterations = 0
    for iterations in range(1, config.max_iterations + 1):  # noqa: B007 - the count is reported
        log_ratio = np.full(len(weights), np.log(share) - np.log1p(-share))
        for f in range(len(comparators)):
            index = patterns[:, f] + 1
            log_ratio += _log_table(m[f])[index] - _log_table(u[f])[index]
        post = 1.0 / (1.0 + np.exp(-np.clip(log_ratio, -700, 700)))
        wm = weights * post
        wu = weights - wm
        change = 0.0
        for f, comparator in enumerate(comparators):
            k = len(comparator.levels)
            col = patterns[:, f]
            present = col >= 0
            cm = np.bincount(col[present], weights=wm[present], minlength=k)
            cu = np.bincount(col[present], weights=wu[present], minlength=k)
            new_m = (cm + alpha * comparator.m_prior) / (cm.sum() + alpha) if cm.sum() + alpha > 0 else m[f]
            new_u = (cu + alpha * u_prior[f]) / (cu.sum() + alpha) if cu.sum() + alpha > 0 else u[f]
            new_m = np.maximum(new_m, 1e-9)
            new_u = np.maximum(new_u, 1e-12)
            if fixed_m is not None:
                new_m = m[f]
            change = max(change, float(np.abs(new_m - m[f]).max()), float(np.abs(new_u - u[f]).max()))
            m[f], u[f] = new_m / new_m.sum(), new_u / new_u.sum()
        new_share = (float(wm.sum()) + 1.0) / (total + 2.0)
        new_share = min(max(new_share, 1e-9), 1 - 1e-9)
        change = max(change, abs(new_share - share))
        share = new_share
        if change < config.tolerance:
            converged = True
            break
    # The expected number of matches among the candidates, with the final parameters.
    log_ratio = np.full(len(weights), np.log(share) - np.log1p(-share))
    for f in range(len(comparators)):
        index = patterns[:, f] + 1
        log_ratio += _log_table(m[f])[index] - _log_table(u[f])[index]
    post = 1.0 / (1.0 + np.exp(-np.clip(log_ratio, -700, 700)))
    expected = float((weights * post).sum())
    return m, share, expected, iterations, converged


def estimate(
    comparators: list[Comparator],
    candidate_levels: np.ndarray | Sequence[np.ndarray],
    n_records: int,
    config: EstimationConfig,
    *,
    deterministic_share: float = 0.0,
    groups: np.ndarray | None = None,
    labelled_matches: np.ndarray | None = None,
    compare: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    pattern_counts: tuple[np.ndarray, np.ndarray] | None = None,
) -> LinkageModel:
    """Estimate the model from the candidates' comparison levels.

    Args:
        comparators: The prepared comparisons.
        candidate_levels: Levels of the candidate pairs (pairs x comparisons),
            as one matrix or as pieces of it.
        n_records: Number of records (for random pairs and the prior).
        config: Estimation settings.
        deterministic_share: Share of the candidates linked by deterministic
            rules, a starting point for the share of matches.
        groups: A group (source) number per record when only pairs across
            groups can link: random pairs and the prior then count those
            pairs only.
        labelled_matches: Levels of pairs known to match (pairs x
            comparisons): ``m`` is then counted from them (with
            ``prior_strength`` pseudo-pairs at the defaults) instead of
            estimated by EM; EM still gives the share of matches.
        compare: Levels (pairs x comparisons) of the random pairs; default:
            each comparator here. The Dask engine compares them on its workers.
        pattern_counts: The candidates' distinct level rows and their counts
            as ``_pattern_table`` gives them, when counted already
            (``candidate_levels`` is then not read).
    """
    alpha = config.prior_strength
    sample_left, sample_right = random_pairs(n_records, config.random_pairs, config.seed, groups)
    sample_levels = compare(sample_left, sample_right) if compare is not None else None
    p_random: list[np.ndarray] = []
    supports: list[tuple[float, float]] = []
    for f, comparator in enumerate(comparators):
        levels = sample_levels[:, f] if sample_levels is not None else comparator.compare(sample_left, sample_right)
        p, support_exact, support_other = _random_level_shares(comparator, levels, alpha, groups)
        p_random.append(p)
        supports.append((support_exact, support_other))

    sizes = [len(c.levels) for c in comparators]
    patterns, counts = pattern_counts if pattern_counts is not None else _pattern_table(candidate_levels, sizes)
    start = min(max(deterministic_share, 0.01), 0.9)
    fixed_m = None if labelled_matches is None else _m_from_labels(comparators, labelled_matches, alpha)
    if len(counts):
        m, share, expected, iterations, converged = _em(
            patterns, counts, comparators, p_random, start, config, fixed_m=fixed_m
        )
    elif fixed_m is not None:
        m, share, expected, iterations, converged = fixed_m, 0.0, 0.0, 0, True
    else:
        m = [c.m_prior.astype(np.float64).copy() for c in comparators]
        share, expected, iterations, converged = 0.0, 0.0, 0, True

    all_pairs = n_records * (n_records - 1) / 2
    if groups is not None and n_records:
        per_group = np.bincount(groups).astype(np.float64)
        all_pairs = (float(n_records) ** 2 - float((per_group * per_group).sum())) / 2
    if config.prior is not None:
        prior = config.prior
    elif all_pairs > 0:
        # One pseudo-match over n extra pairs: negligible for real inputs, and
        # keeps a handful of records (or no candidates at all) from a prior of 0.
        prior = min((expected + 1.0) / (all_pairs + n_records), 0.5)
    else:
        prior = 0.5

    fields = []
    for f, comparator in enumerate(comparators):
        support_exact, support_other = supports[f]
        # With no support at all (a column empty everywhere, no prior strength) the floor is 1/2 of one pair.
        floors = np.full(len(comparator.levels), 0.5 / max(support_other, 1.0))
        floors[-1] = 0.5 / max(support_exact, 1.0)
        u = (p_random[f] - prior * m[f]) / (1.0 - prior)
        u = np.maximum(u, floors)
        u = u / u.sum()
        tf_scale = 1.0
        stored: dict[str, float] = {}
        if comparator.term_frequency:
            tf_scale = _tf_scale(comparator, float(u[-1]))
            stored = _stored_frequencies(comparator)
        fields.append(
            FieldModel(
                name=comparator.name,
                kind=comparator.kind,
                columns=list(comparator.columns),
                levels=tuple(comparator.levels),
                m=m[f],
                u=u,
                term_frequency=comparator.term_frequency,
                tf_scale=tf_scale,
                u_floor=float(floors[-1]),
                term_frequencies=stored,
            )
        )
    return LinkageModel(
        prior=prior,
        fields=fields,
        candidate_share=share,
        iterations=iterations,
        converged=converged,
        method="em" if labelled_matches is None else "labels",
        extra={
            "expected_matches": expected,
            "random_pairs": len(sample_left),
            **({} if labelled_matches is None else {"labelled_matches": len(labelled_matches)}),
        },
    )


def _m_from_labels(comparators: list[Comparator], levels: np.ndarray, strength: float) -> list[np.ndarray]:
    """``m`` per comparison: the share of labelled matches at each level, missing values left out."""
    m = []
    for f, comparator in enumerate(comparators):
        column = levels[:, f]
        present = column[column >= 0].astype(np.int64)
        counts = np.bincount(present, minlength=len(comparator.levels)).astype(np.float64)
        total = counts.sum() + strength
        share = (counts + strength * comparator.m_prior) / total if total > 0 else comparator.m_prior.copy()
        share = np.maximum(share, 1e-9)
        m.append(share / share.sum())
    return m


def _stored_frequencies(comparator: Comparator) -> dict[str, float]:
    """The term frequencies a model keeps: values held by two records or more, the most common first."""
    counts = comparator.value_counts()
    total = float(counts.sum())
    if total <= 0:
        return {}
    shared = np.flatnonzero(counts >= 2)
    top = shared[np.argsort(-counts[shared], kind="stable")][:MAX_STORED_FREQUENCIES]
    keys = comparator.value_keys(top)  # the text of these values only (an address is joined from its parts)
    shares = (counts[top] / total).tolist()  # the same division per value, made on the array
    return {str(key): share for key, share in zip(keys.tolist(), shares, strict=True)}


def _stored_here(comparator: Comparator, stored: Mapping[str, float]) -> bool:
    """Whether ``stored`` is what :func:`_stored_frequencies` keeps of these values, each value's text its own.

    Then looking every value's text up in ``stored`` finds each kept value's
    own share (the same division) and nothing for the others: the shares
    are the values' own, with no text of every value made (an address's is
    joined from its parts: a million strings at a million customers). A
    model estimated on this data is so; a reused one seldom is.
    """
    if not _texts_distinct(comparator):
        return False
    return _stored_frequencies(comparator) == dict(stored)


def _texts_distinct(comparator: Comparator) -> bool:
    """Whether distinct values of the comparison have distinct texts (:meth:`Comparator.value_keys`)."""
    if isinstance(comparator, _OneColumn):
        return True  # its distinct texts
    if isinstance(comparator, AddressComparator):
        # Street, unit and postal code joined by "|": distinct when no part holds a "|".
        return not any("|" in "\n".join(column.uniques.tolist())
                       for column in (comparator.street, comparator.unit, comparator.postal))
    return False


def value_frequencies(comparator: Comparator, params: FieldModel) -> np.ndarray:
    """Share of records holding each distinct value of the data being matched.

    Values the model kept a term frequency for take the model's figure, so a
    reused model weighs a common value as it did when it was estimated.
    """
    counts = comparator.value_counts().astype(np.float64)
    frequency = counts / max(float(counts.sum()), 1.0)
    if params.term_frequencies and len(frequency) and not _stored_here(comparator, params.term_frequencies):
        stored = pd.Series(params.term_frequencies, dtype=np.float64)
        looked_up = pd.Series(comparator.value_keys(), dtype=object).map(stored).to_numpy(dtype=np.float64)
        frequency = np.where(np.isnan(looked_up), frequency, looked_up)
    return np.asarray(frequency, dtype=np.float64)


def _tf_scale(comparator: Comparator, u_exact: float) -> float:
    """``c`` such that the frequency-weighted ``u`` of exact agreement averages to ``u_exact``."""
    counts = comparator.value_counts().astype(np.float64)
    total = counts.sum()
    if total <= 0:
        return 1.0
    tf = counts / total
    squares = float((tf * tf).sum())
    return u_exact / squares if squares > 0 else 1.0


def score_pairs(
    model: LinkageModel,
    comparators: list[Comparator],
    levels: np.ndarray,
    left: np.ndarray,
    frequencies: list[np.ndarray | None] | None = None,
) -> np.ndarray:
    """Scores (log2-odds of a match) of pairs with the given levels.

    ``left`` (the first record of each pair) and ``frequencies`` (per
    comparison, the share of records holding each distinct value; see
    :func:`value_frequencies`) weigh exact agreement by term frequency.
    """
    scores = np.full(levels.shape[0], model.prior_weight, dtype=np.float64)
    for f, (comparator, params) in enumerate(zip(comparators, model.fields, strict=True)):
        table = np.concatenate([[0.0], params.weights])
        column = levels[:, f]
        scores += table[column.astype(np.int64) + 1]
        if params.term_frequency:
            _weigh_by_frequency(scores, np.flatnonzero(column == comparator.exact_level), comparator, params,
                                frequencies[f] if frequencies is not None else None, left)
    return scores


def _weigh_by_frequency(
    scores: np.ndarray,
    exact: np.ndarray,
    comparator: Comparator,
    params: FieldModel,
    by_value: np.ndarray | None,
    left: np.ndarray,
) -> None:
    """Replace the exact-agreement weight of the pairs at ``exact`` by their value's term-frequency weight."""
    if not len(exact):
        return
    if by_value is None:
        by_value = value_frequencies(comparator, params)
    frequency = by_value[comparator.value_codes(left[exact])]
    tf_weight = np.log2(max(params.m[-1], _EPS) / params.tf_u(frequency))
    scores[exact] += tf_weight - params.weights[-1]


def score_patterns(
    model: LinkageModel,
    comparators: list[Comparator],
    patterns: np.ndarray,
    numbers: np.ndarray,
    left: np.ndarray,
    frequencies: list[np.ndarray | None] | None = None,
) -> np.ndarray:
    """:func:`score_pairs` of pairs given as pattern numbers: ``score_pairs(..., patterns[numbers], left, ...)``.

    Each comparison's weight is looked up per pattern (a few hundred) and
    taken for the pairs by their numbers: no level of any pair is decoded.
    The same weights are added in the same order, so the scores are equal
    to the last bit.
    """
    index = np.asarray(numbers, dtype=np.intp)  # taking by small integers would convert them every time
    scores = np.full(len(index), model.prior_weight, dtype=np.float64)
    for f, (comparator, params) in enumerate(zip(comparators, model.fields, strict=True)):
        table = np.concatenate([[0.0], params.weights])
        column = patterns[:, f].astype(np.int64)
        scores += np.take(table[column + 1], index)
        if params.term_frequency:
            at_exact = column == comparator.exact_level
            exact = np.flatnonzero(np.take(at_exact, index)) if at_exact.any() else np.zeros(0, dtype=np.intp)
            _weigh_by_frequency(scores, exact, comparator, params,
                                frequencies[f] if frequencies is not None else None, left)
    return scores


def probability(scores: np.ndarray) -> np.ndarray:
    """Match probability from log2-odds."""
    return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(scores, -1000, 1000))), dtype=np.float64)
