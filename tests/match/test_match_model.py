"""The Fellegi-Sunter model: EM recovers known parameters; random pairs; probabilities."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from match_helpers import population

from reconcile.match import EstimationConfig, MatchingConfig, resolve
from reconcile.match._model import _em, _pattern_table, probability, random_pairs


@dataclass
class _Field:
    levels: tuple[str, ...]
    m_prior: np.ndarray


M = [np.array([0.05, 0.15, 0.80]), np.array([0.10, 0.10, 0.80]), np.array([0.02, 0.08, 0.90])]
U = [np.array([0.90, 0.07, 0.03]), np.array([0.80, 0.15, 0.05]), np.array([0.95, 0.04, 0.01])]


def _simulate(n: int, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    is_match = rng.random(n) < share
    levels = np.zeros((n, 3), dtype=np.int8)
    for f in range(3):
        levels[is_match, f] = rng.choice(3, size=is_match.sum(), p=M[f])
        levels[~is_match, f] = rng.choice(3, size=(~is_match).sum(), p=U[f])
    levels[rng.random((n, 3)) < 0.1] = -1  # a tenth of the values are missing
    return levels


def test_em_recovers_the_parameters_that_generated_the_pairs() -> None:
    levels = _simulate(40_000, 0.2, seed=1)
    patterns, counts = _pattern_table(levels, [3, 3, 3])
    assert counts.sum() == 40_000 and len(patterns) <= 4**3
    fields = [_Field(("else", "fuzzy", "exact"), np.array([0.1, 0.2, 0.7])) for _ in range(3)]
    crude_u = [np.array([0.6, 0.2, 0.2])] * 3
    config = EstimationConfig(prior_strength=0.0, tolerance=1e-8, max_iterations=500)
    m, share, expected, iterations, converged = _em(patterns, counts, fields, crude_u, 0.5, config)
    assert converged and iterations < 500
    assert share == pytest.approx(0.2, abs=0.01)
    assert expected == pytest.approx(0.2 * 40_000, rel=0.05)
    for f in range(3):
        np.testing.assert_allclose(m[f], M[f], atol=0.02)


def test_pattern_table_round_trips_rows() -> None:
    levels = np.array([[0, -1, 2], [0, -1, 2], [1, 1, -1]], dtype=np.int8)
    patterns, counts = _pattern_table(levels, [2, 2, 3])
    assert {tuple(p): c for p, c in zip(patterns.tolist(), counts.tolist(), strict=True)} == {
        (0, -1, 2): 2.0,
        (1, 1, -1): 1.0,
    }


def test_random_pairs_are_all_pairs_when_few_and_uniform_otherwise() -> None:
    left, right = random_pairs(5, 1000, seed=0)
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [
        (i, j) for i in range(5) for j in range(i + 1, 5)
    ]
    left, right = random_pairs(300, 20_000, seed=1)
    assert len(left) == 20_000 and (left < right).all() and right.max() < 300
    # Every record appears about as often (2 * 20000 / 300 ~ 133 times).
    appearances = np.bincount(np.concatenate([left, right]), minlength=300)
    assert appearances.min() > 80 and appearances.max() < 200
    again = random_pairs(300, 20_000, seed=1)
    assert (again[0] == left).all() and (again[1] == right).all()
    assert len(random_pairs(1, 10, seed=0)[0]) == 0


def test_probability_of_log2_odds() -> None:
    assert probability(np.array([0.0]))[0] == 0.5
    assert probability(np.array([np.log2(9)]))[0] == pytest.approx(0.9)
    p = probability(np.array([-2000.0, -5.0, 3.0, 2000.0]))
    assert p[0] < 1e-300 and p[-1] == 1.0 and (np.diff(p) > 0).all()


def test_the_estimated_model_separates_matches_on_a_population() -> None:
    people, truth = population(400, seed=5)
    config = MatchingConfig(deterministic={name: {"enabled": False} for name in MatchingConfig().deterministic})
    result = resolve(people, config)
    model = result.model
    assert model is not None and model.converged
    # Identifiers: agreement is strong evidence, disagreement strong evidence against.
    phone = model.field("phone")
    assert phone.weights[-1] > 10 and phone.weights[0] < -3
    assert phone.m[-1] > 0.9
    # About one pair in (records / duplicates) matches: the prior is of that order.
    true_pairs = sum(k * (k - 1) // 2 for k in truth.value_counts())
    all_pairs = len(people) * (len(people) - 1) / 2
    assert model.prior == pytest.approx(true_pairs / all_pairs, rel=0.25)
    with pytest.raises(KeyError):
        model.field("shoe_size")


def test_random_pairs_across_groups_pair_records_of_different_groups_only() -> None:
    groups = np.array([0, 0, 1, 1, 1, 2], dtype=np.int64)
    left, right = random_pairs(6, 1000, seed=0, groups=groups)  # few: every pair across
    assert sorted(zip(left.tolist(), right.tolist(), strict=True)) == [
        (i, j) for i in range(6) for j in range(i + 1, 6) if groups[i] != groups[j]
    ]
    many = np.repeat([0, 1], 200)
    left, right = random_pairs(400, 5000, seed=2, groups=many)
    assert len(left) == 5000 and (many[left] != many[right]).all() and (left < right).all()
    assert len(random_pairs(3, 10, seed=0, groups=np.zeros(3, dtype=np.int64))[0]) == 0
