"""Clustering: connected components against networkx on random graphs, and constraints."""

from __future__ import annotations

import hashlib

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.match import connected_components
from reconcile.match._cluster import constrained_components, entity_ids


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 60) -> tuple[int, np.ndarray, np.ndarray]:
    n = draw(st.integers(min_value=0, max_value=max_nodes))
    if n < 2:
        return n, np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    edges = draw(
        st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=3 * n)
    )
    left = np.array([a for a, _ in edges], dtype=np.int64)
    right = np.array([b for _, b in edges], dtype=np.int64)
    return n, left, right


def _partition(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for node, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(node)
    return {frozenset(g) for g in groups.values()}


@given(graphs())
@settings(max_examples=200, deadline=None)
def test_components_equal_networkx(graph: tuple[int, np.ndarray, np.ndarray]) -> None:
    n, left, right = graph
    labels = connected_components(n, left, right)
    oracle = nx.Graph()
    oracle.add_nodes_from(range(n))
    oracle.add_edges_from(zip(left.tolist(), right.tolist(), strict=True))
    assert _partition(labels) == {frozenset(c) for c in nx.connected_components(oracle)}
    # Every node is labelled with the smallest node of its component.
    for component in nx.connected_components(oracle):
        assert {int(labels[v]) for v in component} == {min(component)}


@given(graphs())
@settings(max_examples=100, deadline=None)
def test_loose_constraints_change_nothing(graph: tuple[int, np.ndarray, np.ndarray]) -> None:
    n, left, right = graph
    members = [np.ones(n, dtype=bool)]
    labels, kept = constrained_components(n, left, right, members, [max(n, 1)])
    assert kept.all()
    assert _partition(labels) == _partition(connected_components(n, left, right))


@given(graphs(max_nodes=40), st.data())
@settings(max_examples=150, deadline=None)
def test_constraints_are_never_broken_and_kept_links_make_the_components(
    graph: tuple[int, np.ndarray, np.ndarray], data: st.DataObject
) -> None:
    n, left, right = graph
    colours = np.array(data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    limits = [1, 2]
    members = [colours == 0, colours == 1]
    labels, kept = constrained_components(n, left, right, members, limits)
    for component in _partition(labels):
        nodes = np.array(sorted(component))
        assert (colours[nodes] == 0).sum() <= 1
        assert (colours[nodes] == 1).sum() <= 2
    # The components are exactly those of the links kept.
    assert _partition(labels) == _partition(connected_components(n, left[kept], right[kept]))
    # A dropped link joins two components that together would break a limit.
    for k in np.flatnonzero(~kept):
        a, b = labels[left[k]], labels[right[k]]
        assert a != b
        joined = np.isin(labels, [a, b])
        assert (colours[joined] == 0).sum() > 1 or (colours[joined] == 1).sum() > 2


def test_links_are_applied_in_the_order_given() -> None:
    members = [np.array([False, True, True])]
    # Node 0 may join 1 or 2 (both counted, limit 1): the first link wins.
    labels, kept = constrained_components(3, np.array([0, 0]), np.array([2, 1]), members, [1])
    assert kept.tolist() == [True, False]
    assert labels.tolist() == [0, 1, 0]


def test_entity_ids_hash_the_smallest_rid() -> None:
    rids = np.array(["a:x:1", "a:x:2", "b:y:1"], dtype=object)
    ids = entity_ids(rids, np.array([0, 0, 2]))
    assert ids[0] == ids[1] == "E" + hashlib.sha1(b"a:x:1").hexdigest()[:12]
    assert ids[2] == "E" + hashlib.sha1(b"b:y:1").hexdigest()[:12]
    assert len(entity_ids(rids[:0], np.zeros(0, dtype=np.int64))) == 0
