"""matching.classifier: logistic — a logistic regression fitted on labelled pairs scores the candidates."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from match_helpers import pairwise, population
from test_match_supervised import NO_RULES, _labels

from reconcile.match import MatchingConfig, resolve


@pytest.fixture(scope="module")
def people() -> tuple[pd.DataFrame, pd.Series]:
    return population(400, seed=8)


@pytest.fixture(scope="module")
def labels(people) -> pd.DataFrame:
    identity, truth = people
    return _labels(identity, truth, matches=150)


def _f1(entity_of: pd.Series, truth: pd.Series) -> float:
    precision, recall = pairwise(entity_of, truth)
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _config(classifier: str, **kwargs) -> MatchingConfig:
    return MatchingConfig(deterministic=NO_RULES, classifier=classifier, **kwargs)


def test_logistic_recovers_the_true_links(people, labels) -> None:
    identity, truth = people
    logistic = resolve(identity, _config("logistic"), labels=labels)
    fellegi_sunter = resolve(identity, _config("fellegi_sunter"), labels=labels)
    precision, recall = pairwise(logistic.entity_of, truth)
    assert precision >= 0.98 and recall >= 0.98
    assert _f1(logistic.entity_of, truth) >= _f1(fellegi_sunter.entity_of, truth) - 0.01
    assert logistic.stats["classifier"]["kind"] == "logistic"
    assert "classifier" not in fellegi_sunter.stats
    assert logistic.stats["training"]["agreement"] >= 0.95
    # Every link's probability is the logistic one, from the threshold on.
    probabilistic = logistic.links[logistic.links.method == "probabilistic"]
    assert len(probabilistic) and (probabilistic.probability >= 0.9).all()


def test_logistic_weights_explain_the_probability(people, labels) -> None:
    identity, truth = people
    result = resolve(identity, _config("logistic"), labels=labels)
    coefficients = result.stats["classifier"]
    assert coefficients["kind"] == "logistic"
    link = result.links[result.links.method == "probabilistic"].iloc[0]
    explanation = result.explain(link.rid_l, link.rid_r)
    assert explanation.linked and explanation.method == "probabilistic"
    assert explanation.prior_weight == pytest.approx(coefficients["intercept"])
    for evidence in explanation.fields:
        expected = 0.0 if evidence.level_index < 0 else coefficients["weights"][evidence.comparison][evidence.level]
        assert evidence.weight == pytest.approx(expected)
        assert evidence.m is None and evidence.u is None
    assert explanation.score == pytest.approx(explanation.prior_weight + sum(f.weight for f in explanation.fields))
    assert explanation.score == pytest.approx(link.score)
    assert explanation.probability == pytest.approx(link.probability)
    # Agreeing exactly on a phone is evidence for a match; a clearly other phone, against.
    phone = coefficients["weights"]["phone"]
    assert phone["exact"] > 0 > phone["else"]


def test_logistic_without_labels_is_an_error(people) -> None:
    with pytest.raises(ValueError, match="logistic needs labelled pairs"):
        resolve(people[0], _config("logistic"))


def test_logistic_needs_labelled_non_matches(people, labels) -> None:
    with pytest.raises(ValueError, match="labelled non-matches"):
        resolve(people[0], _config("logistic"), labels=labels[labels.is_match == "1"])


def test_an_unknown_classifier_is_a_config_error() -> None:
    with pytest.raises(ValueError, match="classifier"):
        MatchingConfig(classifier="forest")


def test_logistic_from_training_pairs_in_the_configuration(people, labels, tmp_path: Path) -> None:
    identity, truth = people
    path = tmp_path / "labels.csv"
    labels.to_csv(path, index=False)
    result = resolve(identity, _config("logistic", training_pairs=path))
    precision, recall = pairwise(result.entity_of, truth)
    assert precision >= 0.98 and recall >= 0.98


def test_logistic_is_deterministic(people, labels) -> None:
    identity, _ = people
    first = resolve(identity, _config("logistic"), labels=labels)
    second = resolve(identity, _config("logistic"), labels=labels)
    pd.testing.assert_series_equal(first.entity_of, second.entity_of)
    pd.testing.assert_frame_equal(first.links, second.links)
    assert first.stats["classifier"] == second.stats["classifier"]


def test_logistic_does_not_depend_on_row_order(people, labels) -> None:
    identity, _ = people
    first = resolve(identity, _config("logistic"), labels=labels)
    shuffled = identity.sample(frac=1.0, random_state=np.random.default_rng(5).integers(1 << 31))
    second = resolve(shuffled.reset_index(drop=True), _config("logistic"), labels=labels)
    pd.testing.assert_series_equal(first.entity_of.sort_index(), second.entity_of.sort_index())
    pd.testing.assert_frame_equal(first.links.reset_index(drop=True), second.links.reset_index(drop=True))


def test_a_reused_model_refits_the_logistic_classifier(people, labels) -> None:
    identity, _ = people
    first = resolve(identity, _config("logistic"), labels=labels)
    again = resolve(identity, _config("logistic"), model=first.model.to_dict(), labels=labels)
    assert again.stats["model"]["reused"]
    assert again.stats["classifier"] == first.stats["classifier"]
    pd.testing.assert_series_equal(first.entity_of, again.entity_of)
