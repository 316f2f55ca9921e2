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
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from reconcile.match._compare import Comparator
from reconcile.match._config import EstimationConfig

__all__ = ["FieldModel", "LinkageModel", "estimate", "random_pairs", "score_pairs"]

_EPS = 1e-300


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

    @property
    def weights(self) -> np.ndarray:
        """``log2(m / u)`` per level."""
        return np.asarray(np.log2(np.maximum(self.m, _EPS) / np.maximum(self.u, _EPS)), dtype=np.float64)

    def tf_u(self, frequency: np.ndarray) -> np.ndarray:
        """``u`` of exact agreement on values held by the given shares of records."""
        return np.maximum(frequency * self.tf_scale, self.u_floor)

    def to_dict(self) -> dict[str, Any]:
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
        }


@dataclass
class LinkageModel:
    """A Fellegi-Sunter model: the prior and the parameters of each comparison.

    Attributes:
        prior: Probability that two random records match.
        fields: Parameters per comparison, in configuration order.
        candidate_share: Estimated share of matches among the candidate pairs.
        iterations: EM iterations run.
        converged: Whether EM met its tolerance.
    """

    prior: float
    fields: list[FieldModel]
    candidate_share: float = 0.0
    iterations: int = 0
    converged: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def prior_weight(self) -> float:
        """The prior's log2-odds: the score of a pair with no evidence."""
        return float(np.log2(self.prior / (1.0 - self.prior)))

    def field(self, name: str) -> FieldModel:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain data (JSON-ready)."""
        return {
            "prior": float(self.prior),
            "prior_weight": self.prior_weight,
            "candidate_share": float(self.candidate_share),
            "iterations": self.iterations,
            "converged": self.converged,
            "fields": [f.to_dict() for f in self.fields],
        }


def random_pairs(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``size`` distinct-record pairs drawn uniformly; all pairs when there are fewer."""
    total = n * (n - 1) // 2
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    if total <= size:
        left, right = np.triu_indices(n, k=1)
        return left.astype(np.int64), right.astype(np.int64)
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=size, dtype=np.int64)
    b = rng.integers(0, n - 1, size=size, dtype=np.int64)
    b = np.where(b >= a, b + 1, b)  # uniform over the other records
    return np.minimum(a, b), np.maximum(a, b)


def _random_level_shares(
    comparator: Comparator, levels: np.ndarray, strength: float
) -> tuple[np.ndarray, float, float]:
    """P(level) over random pairs with both values present, and the support of the estimate.

    Returns ``(p, support_exact, support_other)``: exact agreement is counted
    over every pair of records (its support is that number of pairs), the
    other levels over the sample.
    """
    k = len(comparator.levels)
    present = levels[levels >= 0]
    counts = np.bincount(present, minlength=k).astype(np.float64)
    p_exact, exact_pairs = comparator.exact_agreement()
    others = counts[:-1]
    prior_others = comparator.u_prior[:-1] / comparator.u_prior[:-1].sum()
    sample = float(others.sum())
    # A little prior keeps levels the sample never saw above zero.
    shares = (others + strength * prior_others) / (sample + strength) if sample + strength > 0 else prior_others
    exact = (p_exact * exact_pairs + strength * comparator.u_prior[-1]) / (exact_pairs + strength)
    p = np.concatenate([shares * (1.0 - exact), [exact]])
    return p, exact_pairs + strength, sample + strength


def _pattern_table(levels: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of the level matrix and how often each occurs."""
    if levels.shape[0] == 0:
        return np.zeros((0, len(sizes)), dtype=np.int64), np.zeros(0, dtype=np.float64)
    code = np.zeros(levels.shape[0], dtype=np.int64)
    for f, size in enumerate(sizes):
        code = code * np.int64(size + 1) + (levels[:, f].astype(np.int64) + 1)
    unique, counts = np.unique(code, return_counts=True)
    patterns = np.zeros((len(unique), len(sizes)), dtype=np.int64)
    rest = unique.copy()
    for f in range(len(sizes) - 1, -1, -1):
        base = np.int64(sizes[f] + 1)
        patterns[:, f] = rest % base - 1
        rest //= base
    return patterns, counts.astype(np.float64)


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
) -> tuple[list[np.ndarray], float, float, int, bool]:
    """EM for ``m``, the candidates' ``u`` and the share of matches, over weighted patterns."""
    alpha = config.prior_strength
    m = [c.m_prior.astype(np.float64).copy() for c in comparators]
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
    candidate_levels: np.ndarray,
    n_records: int,
    config: EstimationConfig,
    *,
    deterministic_share: float = 0.0,
) -> LinkageModel:
    """Estimate the model from the candidates' comparison levels.

    Args:
        comparators: The prepared comparisons.
        candidate_levels: Levels of the candidate pairs (pairs x comparisons).
        n_records: Number of records (for random pairs and the prior).
        config: Estimation settings.
        deterministic_share: Share of the candidates linked by deterministic
            rules, a starting point for the share of matches.
    """
    alpha = config.prior_strength
    sample_left, sample_right = random_pairs(n_records, config.random_pairs, config.seed)
    p_random: list[np.ndarray] = []
    supports: list[tuple[float, float]] = []
    for comparator in comparators:
        levels = comparator.compare(sample_left, sample_right)
        p, support_exact, support_other = _random_level_shares(comparator, levels, alpha)
        p_random.append(p)
        supports.append((support_exact, support_other))

    sizes = [len(c.levels) for c in comparators]
    patterns, counts = _pattern_table(candidate_levels, sizes)
    start = min(max(deterministic_share, 0.01), 0.9)
    if len(counts):
        m, share, expected, iterations, converged = _em(patterns, counts, comparators, p_random, start, config)
    else:
        m = [c.m_prior.astype(np.float64).copy() for c in comparators]
        share, expected, iterations, converged = 0.0, 0.0, 0, True

    all_pairs = n_records * (n_records - 1) / 2
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
        floors = np.full(len(comparator.levels), 0.5 / support_other)
        floors[-1] = 0.5 / support_exact
        u = (p_random[f] - prior * m[f]) / (1.0 - prior)
        u = np.maximum(u, floors)
        u = u / u.sum()
        tf_scale = 1.0
        if comparator.term_frequency:
            tf_scale = _tf_scale(comparator, float(u[-1]))
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
            )
        )
    return LinkageModel(
        prior=prior,
        fields=fields,
        candidate_share=share,
        iterations=iterations,
        converged=converged,
        extra={"expected_matches": expected, "random_pairs": len(sample_left)},
    )


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
) -> np.ndarray:
    """Scores (log2-odds of a match) of pairs with the given levels; ``left`` for term frequencies."""
    scores = np.full(levels.shape[0], model.prior_weight, dtype=np.float64)
    for f, (comparator, params) in enumerate(zip(comparators, model.fields, strict=True)):
        table = np.concatenate([[0.0], params.weights])
        column = levels[:, f]
        scores += table[column.astype(np.int64) + 1]
        if params.term_frequency:
            exact = np.flatnonzero(column == comparator.exact_level)
            if len(exact):
                frequency = comparator.value_frequency(left[exact])
                tf_weight = np.log2(max(params.m[-1], _EPS) / params.tf_u(frequency))
                scores[exact] += tf_weight - params.weights[-1]
    return scores


def probability(scores: np.ndarray) -> np.ndarray:
    """Match probability from log2-odds."""
    return np.asarray(1.0 / (1.0 + np.exp2(-np.clip(scores, -1000, 1000))), dtype=np.float64)
