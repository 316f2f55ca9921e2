"""Properties of resolve: row order does not matter, every record gets an entity,
entities are the connected components of the links."""

from __future__ import annotations

import hashlib

import networkx as nx
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from match_helpers import frame, identity_frames, population, record

from reconcile.match import MatchingConfig, resolve

_SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def people() -> pd.DataFrame:
    identity, _ = population(90, seed=21)
    return identity


@pytest.fixture(scope="module")
def reference(people: pd.DataFrame):
    return resolve(people)


@given(order=st.randoms(use_true_random=False), reverse_columns=st.booleans())
@_SETTINGS
def test_resolve_does_not_depend_on_row_or_column_order(people, reference, order, reverse_columns) -> None:
    rows = list(range(len(people)))
    order.shuffle(rows)
    shuffled = people.iloc[rows].reset_index(drop=True)
    if reverse_columns:
        shuffled = shuffled[list(reversed(shuffled.columns))]
    result = resolve(shuffled)
    pd.testing.assert_series_equal(result.entity_of, reference.entity_of)
    pd.testing.assert_series_equal(result.confidence, reference.confidence)
    pd.testing.assert_frame_equal(result.links, reference.links)


@given(identity_frames())
@settings(max_examples=60, deadline=None)
def test_every_record_gets_one_entity_and_entities_are_the_link_components(identity: pd.DataFrame) -> None:
    result = resolve(identity)
    rids = set(identity["_rid"])
    assert set(result.entity_of.index) == rids and result.entity_of.index.is_unique
    assert set(result.confidence.index) == rids
    assert ((result.confidence >= 0) & (result.confidence <= 1)).all()
    graph = nx.Graph()
    graph.add_nodes_from(rids)
    graph.add_edges_from(zip(result.links.rid_l, result.links.rid_r, strict=True))
    for component in nx.connected_components(graph):
        assert result.entity_of[sorted(component)].nunique() == 1
        smallest = min(component)
        assert result.entity_of[smallest] == "E" + hashlib.sha1(smallest.encode()).hexdigest()[:12]
    assert result.entity_of.nunique() == nx.number_connected_components(graph)
    assert ((result.links.probability >= 0.9) | result.links.method.str.startswith("deterministic:")).all()


@given(st.lists(st.sampled_from(["a@x.example", "b@x.example", "c@x.example", None]), max_size=30))
@settings(max_examples=60, deadline=None)
def test_a_deterministic_rule_alone_groups_records_by_its_key(emails: list) -> None:
    config = MatchingConfig(
        inherit_defaults=False, deterministic={"email": {"columns": ["_n_email"], "max_group_size": None}}
    )
    identity = frame([record("crm", f"K{i:02d}", _n_email=e) for i, e in enumerate(emails)])
    result = resolve(identity, config)
    groups = identity.groupby(identity["_n_email"].fillna(identity["_rid"]))["_rid"].apply(frozenset)
    by_entity = result.entity_of.groupby(result.entity_of).apply(lambda s: frozenset(s.index))
    assert set(by_entity) == set(groups)
    expected_links = sum(len(g) * (len(g) - 1) // 2 for g in groups)
    assert len(result.links) == expected_links
