"""A discriminative classifier for labelled pairs (``matching.classifier: logistic``).

Logistic regression on the one-hot encoded comparison levels of the labelled
pairs: one feature per comparison and level, a missing value (level -1) being
no feature at all (weight 0, like Fellegi-Sunter). Its predicted probability
replaces the Fellegi-Sunter one for the candidate pairs.

Coefficients are natural-log odds; they are kept here in bits (divided by
ln 2) so that a pair's score reads like a Fellegi-Sunter score: intercept plus
the weights of its levels, in log2-odds, and its probability
``1 / (1 + 2^-score)`` is exactly the regression's.

The classifier is fitted anew on every run from the labels (it is not part of
the stored :class:`~reconcile.match.LinkageModel`); fitting takes
milliseconds for thousands of labelled pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from reconcile.match._compare import Comparator

__all__ = ["LogisticClassifier", "fit_logistic"]

_LN2 = float(np.log(2.0))


@dataclass
class LogisticClassifier:
    """A fitted logistic regression over comparison levels.

    Attributes:
        names: The comparisons, in configuration order.
        level_names: Per comparison, the names of its levels (index = level).
        intercept: The score of a pair with every value missing, in bits.
        weights: Per comparison, the weight of each level in bits.
    """

    names: list[str]
    level_names: list[list[str]]
    intercept: float
    weights: list[np.ndarray]

    def scores(self, levels: np.ndarray) -> np.ndarray:
        """Log2-odds of a match for pairs x comparisons levels (-1 = missing)."""
        total = np.full(len(levels), self.intercept, dtype=np.float64)
        for f, weights in enumerate(self.weights):
            level = levels[:, f].astype(np.int64)
            present = level >= 0
            total[present] += weights[level[present]]
        return total

    def weight(self, field: int, level: int) -> float:
        """The weight in bits of one comparison's level (0 when missing)."""
        return float(self.weights[field][level]) if level >= 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        """The coefficients as plain data (for stats and logs)."""
        return {
            "kind": "logistic",
            "intercept": float(self.intercept),
            "weights": {
                name: {level: float(w) for level, w in zip(levels, weights, strict=True)}
                for name, levels, weights in zip(self.names, self.level_names, self.weights, strict=True)
            },
        }


def _one_hot(levels: np.ndarray, sizes: list[int]) -> np.ndarray:
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    features = np.zeros((len(levels), int(offsets[-1])), dtype=np.float64)
    rows = np.arange(len(levels))
    for f in range(len(sizes)):
        level = levels[:, f].astype(np.int64)
        present = level >= 0
        features[rows[present], offsets[f] + level[present]] = 1.0
    return features


def fit_logistic(
    comparators: list[Comparator], levels: np.ndarray, is_match: np.ndarray, *, seed: int = 0
) -> LogisticClassifier:
    """Fit the classifier on labelled pairs' levels (pairs x comparisons) and labels.

    Balanced class weights (labelled non-matches are chosen hard cases, in
    any proportion), the lbfgs solver and a fixed random state: the same
    labels give the same coefficients.

    Raises:
        ValueError: the labels hold only one class.
    """
    from sklearn.linear_model import LogisticRegression

    is_match = np.asarray(is_match, dtype=bool)
    if is_match.all() or not is_match.any():
        raise ValueError(
            "matching.classifier: logistic needs labelled matches and labelled non-matches "
            f"(got {int(is_match.sum())} match(es), {int((~is_match).sum())} non-match(es)); "
            "add pairs with is_match 0, or use classifier: fellegi_sunter"
        )
    sizes = [len(c.levels) for c in comparators]
    features = _one_hot(levels, sizes)
    model = LogisticRegression(class_weight="balanced", solver="lbfgs", random_state=seed, max_iter=1000)
    model.fit(features, is_match.astype(np.int64))
    coefficients = model.coef_[0] / _LN2
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    weights = [coefficients[offsets[f]:offsets[f + 1]].copy() for f in range(len(sizes))]
    return LogisticClassifier(
        names=[c.name for c in comparators],
        level_names=[list(c.levels) for c in comparators],
        intercept=float(model.intercept_[0]) / _LN2,
        weights=weights,
    )
