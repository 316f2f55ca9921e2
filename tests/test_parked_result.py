"""run() keeps the match result's arrays of numbers in a temporary file while the rules run: what comes back is the same."""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from reconcile.config import Config, load_config
from reconcile.demo import generate, write_config
from reconcile.match import MatchResult
from reconcile.pipeline import (
    ParkedResult,
    build_tables,
    extract_sources,
    match_entities,
    normalise_tables,
)


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    directory = tmp_path_factory.mktemp("parked")
    return load_config(write_config(directory, generate(directory, size=150, seed=5)))


@pytest.fixture(scope="module")
def matched(config: Config) -> MatchResult:
    _, result = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    assert len(result.links)  # a result worth parking: records linked across systems
    return result


def _pairs(result: MatchResult) -> list[tuple[str, str]]:
    linked = list(zip(result.links["rid_l"], result.links["rid_r"], strict=True))[:20]
    rids = list(result.entity_of.index)
    return [*linked, (rids[0], rids[-1]), (rids[1], rids[2])]


def test_a_parked_result_comes_back_equal_and_its_file_goes(matched: MatchResult) -> None:
    with ParkedResult(matched) as parked:
        assert parked._file is not None and parked._held is None  # on disk, not here
        # The numbers went to the file; arrays of objects (text the tables hold too) stayed, uncopied.
        assert os.fstat(parked._file.fileno()).st_size > matched.confidence.to_numpy().nbytes
        assert parked._kept and all(
            isinstance(kept, np.ndarray) and kept.dtype == object for kept in parked._kept.values()
        )
        back = parked.take()
        assert not parked._kept
        assert back is not matched
        assert parked.take() is back  # read once
    assert parked._file is None
    assert np.shares_memory(back.entity_of.index.to_numpy(), matched.entity_of.index.to_numpy())  # kept, not copied
    assert back._link_arrays is not None and back._links is None  # the links' frame is made when read
    assert not np.shares_memory(back._link_arrays.left, matched._link_arrays.left)  # read back
    assert not np.shares_memory(back.confidence.to_numpy(), matched.confidence.to_numpy())  # read back
    pd.testing.assert_series_equal(back.entity_of, matched.entity_of)
    pd.testing.assert_series_equal(back.confidence, matched.confidence)
    pd.testing.assert_frame_equal(back.links, matched.links)
    assert back.stats == matched.stats
    assert back.explain_compact(_pairs(matched)) == matched.explain_compact(_pairs(matched))
    first, second = _pairs(matched)[0]
    assert back.path(first, second) == matched.path(first, second)


def test_a_result_that_cannot_be_pickled_stays_in_memory(matched: MatchResult, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(matched, "_explainer", lambda a, b: None)  # a lambda cannot be pickled
    with ParkedResult(matched) as parked:
        assert parked._file is None
        assert parked.take() is matched


def test_without_a_temporary_directory_the_result_stays_in_memory(
    matched: MatchResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with ParkedResult(matched) as parked:
        assert parked.take() is matched


def test_a_closed_parking_that_was_never_read_says_so(matched: MatchResult) -> None:
    parked = ParkedResult(matched)
    parked.close()
    with pytest.raises(RuntimeError, match="closed before it was read"):
        parked.take()


def test_the_file_is_in_the_temporary_directory(matched: MatchResult, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with ParkedResult(matched) as parked:
        # An unnamed temporary file: nothing is left in the directory, whatever happens to the run.
        assert parked._file is not None and list(tmp_path.iterdir()) == []
        assert parked.take().links.shape == matched.links.shape


def test_match_entities_leaves_no_hash_table_over_the_rids(config: Config) -> None:
    # The lookups that gave every identity record its entity built one; the rules never read it.
    tables, result = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    assert "_engine" not in result.entity_of.index._cache
    assert result.confidence.index is result.entity_of.index
    account = tables["account"]
    assert (account["_entity"].to_numpy() == result.entity_of.loc[account["_rid"]].to_numpy()).all()


def test_forgetting_lookups_keeps_the_result_and_shares_its_arrays(matched: MatchResult) -> None:
    entity_of, confidence = matched.entity_of, matched.confidence
    rid = str(entity_of.index[len(entity_of) // 2])
    expected = entity_of.loc[rid]  # a lookup: pandas builds (or uses) the index's table
    matched.forget_lookups()
    assert matched.entity_of.index is not entity_of.index and "_engine" not in matched.entity_of.index._cache
    assert matched.confidence.index is matched.entity_of.index  # still one index for both
    pd.testing.assert_series_equal(matched.entity_of, entity_of, check_index_type=True)
    pd.testing.assert_series_equal(matched.confidence, confidence, check_exact=True)
    for new, old in ((matched.entity_of.index, entity_of.index), (matched.entity_of, entity_of),
                     (matched.confidence, confidence)):
        assert np.shares_memory(new.to_numpy(), old.to_numpy())  # no copy of millions of values
    assert matched.entity_of.loc[rid] == expected
    assert matched.explain_compact(_pairs(matched)) == MatchResult.explain_compact(matched, _pairs(matched))


def test_the_explainer_keeps_the_links_method_column_and_sorts_what_is_not_sorted(matched: MatchResult) -> None:
    explainer = matched._explainer
    assert matched._link_arrays is not None
    assert explainer.link_methods is matched._link_arrays.method  # the links' own numbers, not a copy
    assert explainer.link_methods.dtype.kind == "i"  # numbers, not a pointer per link
    pairs = _pairs(matched)
    expected = matched.explain_compact(pairs)
    # The same links given in reverse order: found by key all the same.
    reordered = type(explainer)(
        rids=explainer.rids, comparators=explainer.comparators, model=explainer.model,
        frequencies=explainer.frequencies, config=explainer.config, rules=explainer.rules,
        rule_keys=explainer.rule_keys, by_name=explainer.by_name, candidacy=explainer.candidacy,
        link_keys=explainer.link_keys[::-1].copy(), link_methods=explainer.link_methods[::-1].copy(),
        method_names=explainer.method_names, entities=explainer.entities, classifier=explainer.classifier,
    )
    assert list(reordered.compact_many(pairs)) == expected
    assert any(isinstance(e, dict) and e.get("method") for e in expected) or len(matched.links) == 0


def test_links_kept_as_arrays_give_the_frame_and_paths_of_links_given_as_a_frame(matched: MatchResult) -> None:
    arrays = matched._link_arrays
    assert arrays is not None
    frame = matched.links
    assert matched.link_count == len(frame) == len(arrays)
    rids = matched.entity_of.index.to_numpy()
    assert (frame["rid_l"].to_numpy() == rids[arrays.left]).all() and (frame["rid_r"].to_numpy() == rids[arrays.right]).all()
    assert (frame["rid_l"].to_numpy() < frame["rid_r"].to_numpy()).all()
    assert set(frame["method"]) <= {*(f"deterministic:{r}" for r in matched.config.active_rules()), "probabilistic"}
    given = pickle.loads(pickle.dumps(matched))
    assert given._links is None  # the frame is not pickled when the arrays are
    given.links = frame.copy()  # a frame given: paths found by looking the rids up
    assert given._link_arrays is None
    pd.testing.assert_frame_equal(given.links, frame)
    members = frame["rid_l"].tolist()[:15] + frame["rid_r"].tolist()[-15:]
    for a in members:
        for b in members[::3]:
            assert matched.path(a, b) == given.path(a, b)
    # A path's neighbours are linked pairs.
    linked = set(zip(frame["rid_l"], frame["rid_r"], strict=True))
    biggest = matched.entity_of.value_counts().index[0]
    crowd = matched.members(biggest)
    chains = [c for a in crowd for b in crowd if len(c := matched.path(a, b)) > 1]
    assert chains == [c for a in crowd for b in crowd if len(c := given.path(a, b)) > 1]
    assert chains  # records of one customer, joined by links
    for chain in chains:
        assert all((min(x, y), max(x, y)) in linked for x, y in itertools.pairwise(chain))
