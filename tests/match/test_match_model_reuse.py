"""Model reuse: to_dict/from_dict round trips, and when resolve re-estimates."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from match_helpers import pairwise, population
from pydantic import ValidationError

from reconcile.match import LinkageModel, MatchingConfig, resolve

NIGHT = dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def people() -> tuple[pd.DataFrame, pd.Series]:
    return population(300, seed=21)


@pytest.fixture(scope="module")
def first(people: tuple[pd.DataFrame, pd.Series]):
    return resolve(people[0], MatchingConfig(), now=NIGHT)


def _stored(model: LinkageModel) -> dict:
    """The model as a store would keep it: through JSON text."""
    return json.loads(json.dumps(model.to_dict()))


def test_a_fresh_model_says_how_and_when_it_was_estimated(first) -> None:
    model = first.model
    assert model is not None
    assert model.method == "em" and model.estimated_at == NIGHT and model.threshold == 0.9
    assert model.fingerprint == MatchingConfig().model_fingerprint()
    assert first.stats["model"] == {"reused": False, "reason": "no earlier model given", "method": "em",
                                    "fingerprint": model.fingerprint}
    # Term frequencies are kept for shared values, with the share of records holding them.
    family = model.field("family_name")
    assert family.term_frequencies and all(0 < v < 1 for v in family.term_frequencies.values())
    assert model.field("address").term_frequencies  # whole addresses as "street|unit|postal"
    assert all(key.count("|") == 2 for key in model.field("address").term_frequencies)


def test_the_model_round_trips_through_json(first) -> None:
    data = first.model.to_dict()
    text = json.dumps(data)  # JSON-safe: no numpy scalars or arrays
    again = LinkageModel.from_dict(json.loads(text))
    assert again.to_dict() == data
    for a, b in zip(again.fields, first.model.fields, strict=True):
        np.testing.assert_array_equal(a.m, b.m)
        np.testing.assert_array_equal(a.u, b.u)
        assert a.levels == b.levels and a.tf_scale == b.tf_scale and a.u_floor == b.u_floor


def test_a_reused_model_gives_the_results_of_the_fresh_one(people, first) -> None:
    identity, _ = people
    later = NIGHT + dt.timedelta(days=1)
    again = resolve(identity, MatchingConfig(), model=LinkageModel.from_dict(_stored(first.model)), now=later)
    assert again.stats["model"]["reused"] is True
    assert again.model.estimated_at == NIGHT  # the model used is the one given
    pd.testing.assert_series_equal(again.entity_of, first.entity_of)
    pd.testing.assert_series_equal(again.confidence, first.confidence)
    pd.testing.assert_frame_equal(again.links, first.links)
    a, b = first.links.iloc[0][["rid_l", "rid_r"]]
    assert again.explain(a, b) == first.explain(a, b)
    # A plain dict (as loaded from a store) is accepted too.
    from_dict = resolve(identity, MatchingConfig(), model=_stored(first.model), now=later)
    pd.testing.assert_frame_equal(from_dict.links, first.links)


def test_a_reused_model_keeps_its_term_frequencies_on_new_data(people, first) -> None:
    identity, truth = people
    family = first.model.field("family_name")
    common, share = max(family.term_frequencies.items(), key=lambda kv: kv[1])
    # Tonight's data is a part of last night's: the surname is rarer in it, but the model's figure holds.
    part = identity[identity["_n_family"].eq(common) | (np.arange(len(identity)) % 3 == 0)]
    again = resolve(part, MatchingConfig(), model=first.model, now=NIGHT + dt.timedelta(hours=20))
    assert again.stats["model"]["reused"]
    holders = part.loc[part["_n_family"] == common, "_rid"].sort_values().tolist()
    assert len(holders) >= 2
    why = again.explain(holders[0], holders[1]).field("family_name")
    assert why.level == "exact" and why.value_frequency == pytest.approx(share)
    precision, recall = pairwise(again.entity_of, truth)
    assert precision >= 0.98 and recall >= 0.98


@pytest.mark.parametrize(
    ("change", "reused"),
    [
        ({}, True),
        ({"threshold": 0.8}, True),  # the threshold applies to scores; the model stays
        ({"blocking": {"company": {"enabled": False}}}, True),
        ({"comparisons": {"given_name": {"thresholds": [0.95, 0.85]}}}, False),
        ({"comparisons": {"vin": {"enabled": False}}}, False),
        ({"estimation": {"prior_strength": 10}}, False),
        ({"link_within_source": False}, False),
    ],
)
def test_reestimation_follows_the_settings_the_model_depends_on(people, first, change, reused) -> None:
    config = MatchingConfig.model_validate(change)
    result = resolve(people[0], config, model=first.model, now=NIGHT + dt.timedelta(days=1))
    assert result.stats["model"]["reused"] is reused
    if not reused:
        assert "settings changed" in result.stats["model"]["reason"]
        assert result.model.fingerprint == config.model_fingerprint() != first.model.fingerprint
        assert result.model.estimated_at == NIGHT + dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("settings", "age_days", "reused", "reason"),
    [
        ({}, 6.9, True, "within 7 days"),
        ({}, 7.0, False, "7.0 days old"),
        ({"reestimate_every_days": 30}, 20, True, "within 30 days"),
        ({"reestimate_every_days": None}, 400, True, "same settings"),
        ({"reestimate": "always"}, 0, False, "reestimate: always"),
        ({"reestimate": "never"}, 400, True, "reestimate: never"),
    ],
)
def test_reestimation_on_a_schedule_or_on_demand(people, first, settings, age_days, reused, reason) -> None:
    config = MatchingConfig.model_validate(settings)
    result = resolve(people[0], config, model=first.model, now=NIGHT + dt.timedelta(days=age_days))
    assert result.stats["model"]["reused"] is reused
    assert reason in result.stats["model"]["reason"]


def test_never_reestimate_refuses_a_model_of_other_settings(people, first) -> None:
    config = MatchingConfig.model_validate({"reestimate": "never", "comparisons": {"vin": {"enabled": False}}})
    with pytest.raises(ValueError, match="reestimate is 'never'.*matching.reestimate: auto"):
        resolve(people[0], config, model=first.model)


def test_a_model_whose_comparisons_do_not_fit_is_refused(people, first) -> None:
    data = _stored(first.model)
    data["fields"] = data["fields"][:-1]  # as if edited by hand, fingerprint kept
    with pytest.raises(ValueError, match="do not fit"):
        resolve(people[0], MatchingConfig(), model=data, now=NIGHT)


def test_from_dict_rejects_what_is_not_a_model() -> None:
    with pytest.raises(ValueError, match="not a linkage model"):
        LinkageModel.from_dict({"m": [0.9]})
    with pytest.raises(ValueError, match="newer than this reconcile reads"):
        LinkageModel.from_dict({"format": 99, "prior": 0.1, "fields": []})


def test_a_naive_estimation_time_is_read_as_utc() -> None:
    model = LinkageModel.from_dict({"prior": 0.01, "fields": [], "estimated_at": "2026-11-01T02:00:00"})
    assert model.estimated_at == NIGHT


def test_the_fingerprint_is_stable_and_ignores_what_does_not_change_the_model() -> None:
    base = MatchingConfig().model_fingerprint()
    assert base == MatchingConfig().model_fingerprint()
    assert len(base) == 16
    same = MatchingConfig.model_validate({"threshold": 0.99, "veto": ["given_name"], "reestimate": "always",
                                          "deterministic": {"vin": {"enabled": False}}})
    assert same.model_fingerprint() == base
    assert MatchingConfig(training_pairs="labels.csv").model_fingerprint() != base


def test_reestimate_settings_are_checked() -> None:
    with pytest.raises(ValidationError, match="reestimate"):
        MatchingConfig.model_validate({"reestimate": "sometimes"})
    with pytest.raises(ValidationError, match="reestimate_every_days"):
        MatchingConfig.model_validate({"reestimate_every_days": 0})
