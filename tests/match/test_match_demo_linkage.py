"""Matching on the demo world: the entities against the world's ground truth.

The full path (extract, build, normalise, match) through reconcile.pipeline;
pairwise precision and recall of the entity clusters against
``truth/identities.csv``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from match_helpers import pairwise

from reconcile import pipeline
from reconcile.config import load_config
from reconcile.demo import generate, write_config

normalise = pytest.importorskip("reconcile.normalise")
if not hasattr(normalise, "normalise_table"):  # pragma: no cover - until normalise lands
    pytest.skip("reconcile.normalise has no normalise_table yet", allow_module_level=True)

IDENTITY_TYPES = ("account", "service_line", "contact", "recall_notice", "vehicle")


@pytest.fixture(scope="module")
def matched(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("demo")
    world = generate(directory, size=300, seed=5)
    config = load_config(write_config(directory, world))
    tables = pipeline.normalise_tables(pipeline.build_tables(pipeline.extract_sources(config)), config)
    tables, result = pipeline.match_entities(tables, config)
    truth = pd.read_csv(Path(world.truth_dir) / "identities.csv", dtype=str)
    truth.index = truth["source"] + ":" + truth["record_type"] + ":" + truth["key"]
    return tables, result, truth["customer_id"]


def test_every_identity_record_is_in_the_truth_and_has_an_entity(matched) -> None:
    tables, result, truth = matched
    rids = pd.concat([tables[t]["_rid"] for t in IDENTITY_TYPES if t in tables])
    assert set(rids) == set(truth.index) == set(result.entity_of.index)
    for record_type in IDENTITY_TYPES:
        assert tables[record_type]["_entity"].notna().all()


def test_entities_match_the_true_customers(matched) -> None:
    _, result, truth = matched
    precision, recall = pairwise(result.entity_of, truth)
    print(f"demo size=300 seed=5: pairwise precision {precision:.4f}, recall {recall:.4f}, "
          f"{result.stats['deterministic_links']} deterministic + {result.stats['probabilistic_links']} "
          f"probabilistic links, {result.stats['entities']} entities for {truth.nunique()} customers")
    assert precision >= 0.99
    assert recall >= 0.99


def test_vehicles_and_recall_notices_join_their_owner(matched) -> None:
    tables, result, truth = matched
    vehicles = tables["vehicle"]
    notices = tables["recall_notice"]
    owners = {}
    for frame in (tables["account"], tables["contact"]):
        for rid, entity in zip(frame["_rid"], frame["_entity"], strict=True):
            owners.setdefault(truth[rid], set()).add(entity)
    joined = 0
    for frame in (vehicles, notices):
        for rid, entity in zip(frame["_rid"], frame["_entity"], strict=True):
            if truth[rid] in owners:
                joined += entity in owners[truth[rid]]
    total = sum(truth[r] in owners for r in pd.concat([vehicles["_rid"], notices["_rid"]]))
    assert total > 0 and joined == total


def test_dealer_vins_mistyped_beyond_normalisation_still_link(matched) -> None:
    tables, result, truth = matched
    vehicles = tables["vehicle"].dropna(subset=["_n_vin"])
    notices = tables["recall_notice"].dropna(subset=["_n_vin"])
    pairs = vehicles.merge(notices, on=None, how="cross", suffixes=("_v", "_n"))
    same_owner = pairs[[truth[a] == truth[b] for a, b in zip(pairs["_rid_v"], pairs["_rid_n"], strict=True)]]
    off_by_one = same_owner[
        [sum(x != y for x, y in zip(a, b, strict=False)) == 1 and len(a) == len(b)
         for a, b in zip(same_owner["_n_vin_v"], same_owner["_n_vin_n"], strict=True)]
    ]
    assert len(off_by_one) > 0  # the world has such VINs
    for a, b in zip(off_by_one["_rid_v"], off_by_one["_rid_n"], strict=True):
        assert result.entity_of[a] == result.entity_of[b]
        assert result.explain(a, b).field("vin").level == "hamming<=1"
