"""Labelled pairs: m counted from the labels instead of EM (matching.training_pairs)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from match_helpers import pairwise, population

from reconcile.match import MatchingConfig, resolve

NO_RULES = {name: {"enabled": False} for name in MatchingConfig().deterministic}


@pytest.fixture(scope="module")
def people() -> tuple[pd.DataFrame, pd.Series]:
    return population(400, seed=8)


def _labels(identity: pd.DataFrame, truth: pd.Series, matches: int, seed: int = 0) -> pd.DataFrame:
    """Labelled pairs: some true matches, and as many look-alikes (same family name, other person)."""
    rng = np.random.default_rng(seed)
    same = [pair for _, rids in truth.groupby(truth).groups.items()
            for pair in itertools.combinations(sorted(rids), 2)]
    chosen = [same[i] for i in rng.choice(len(same), size=min(matches, len(same)), replace=False)]
    family = identity.set_index("_rid")["_n_family"]
    others = []
    for _, rids in family.groupby(family).groups.items():
        for a, b in itertools.combinations(sorted(rids), 2):
            if truth[a] != truth[b]:
                others.append((a, b))
    rows = [(a, b, "1") for a, b in chosen] + [(a, b, "0") for a, b in others[:matches]]
    return pd.DataFrame(rows, columns=["rid_l", "rid_r", "is_match"])


def test_m_is_counted_from_the_labelled_matches(people) -> None:
    identity, truth = people
    labels = _labels(identity, truth, matches=150)
    config = MatchingConfig(deterministic=NO_RULES, estimation={"prior_strength": 0})
    result = resolve(identity, config, labels=labels)
    model = result.model
    assert model is not None and model.method == "labels"
    assert model.extra["labelled_matches"] == 150
    # m of the phone comparison is the share of labelled matches, with a phone on both sides, at each level.
    rid = identity.set_index("_rid")
    matches = labels[labels.is_match == "1"]
    a = rid.loc[matches.rid_l, "_n_phone"].to_numpy()
    b = rid.loc[matches.rid_r, "_n_phone"].to_numpy()
    both = pd.notna(a) & pd.notna(b)
    exact_share = float((a[both] == b[both]).mean())
    assert model.field("phone").m[-1] == pytest.approx(max(exact_share, 1e-9), abs=1e-6)
    assert result.stats["training"] == {"pairs": 300, "matches": 150, "non_matches": 150, "unused": 0,
                                        "agreement": pytest.approx(result.stats["training"]["agreement"])}
    assert result.stats["training"]["agreement"] >= 0.95
    precision, recall = pairwise(result.entity_of, truth)
    assert precision >= 0.98 and recall >= 0.98


def test_training_pairs_from_the_configuration(people, tmp_path: Path) -> None:
    identity, truth = people
    path = tmp_path / "labels.csv"
    labels = _labels(identity, truth, matches=80, seed=3)
    labels["is_match"] = labels["is_match"].map({"1": "true", "0": "false"})
    extra = pd.DataFrame([["nobody:account:1", labels.rid_l[0], "true"]], columns=labels.columns)
    pd.concat([labels, extra]).to_csv(path, index=False)
    result = resolve(identity, MatchingConfig(training_pairs=path))
    assert result.model.method == "labels" and result.stats["model"]["method"] == "labels"
    assert result.stats["training"]["unused"] == 1  # a record of another frame is left out, with a warning
    precision, recall = pairwise(result.entity_of, truth)
    assert precision >= 0.98 and recall >= 0.98


def test_without_labels_the_model_is_estimated_by_em(people) -> None:
    result = resolve(people[0], MatchingConfig())
    assert result.model.method == "em" and "training" not in result.stats


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (pd.DataFrame({"left": ["a"], "right": ["b"], "is_match": ["1"]}), "lack the column"),
        (pd.DataFrame({"rid_l": ["a"], "rid_r": ["b"], "is_match": ["maybe"]}), "is_match must be 1/0"),
        (pd.DataFrame({"rid_l": ["a"], "rid_r": ["b"], "is_match": ["0"]}), "no labelled match"),
    ],
)
def test_unusable_training_pairs_say_what_to_fix(people, table: pd.DataFrame, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve(people[0], MatchingConfig(), labels=table)


def test_a_missing_training_pairs_file_is_an_error(people, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training_pairs.*is not a file"):
        resolve(people[0], MatchingConfig(training_pairs=tmp_path / "absent.csv"))
