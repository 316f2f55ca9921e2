"""Dependents find their parents on integer codes as they did through a pandas MultiIndex.

The reference is ``attach_dependents`` as it was: the parents' ``(_source,
reference)`` pairs de-duplicated, set as a MultiIndex and reindexed by each
dependent's, then by the reference alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from hypothesis import example, given, settings
from hypothesis import strategies as st

from reconcile.match._dependents import parent_positions
from reconcile.model import RECORD_TYPES
from reconcile.pipeline import attach_dependents


def _reference_attach(tables: Mapping[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = dict(tables)
    for record_type, frame in tables.items():
        parent = RECORD_TYPES[record_type].parent
        if parent is None:
            continue
        frame = frame.copy(deep=False)
        parents = tables.get(parent.parent_type)
        frame["_parent_rid"] = None
        frame["_entity"] = None
        frame["_confidence"] = None
        if parents is not None and not parents.empty and not frame.empty:
            lookup = parents[["_source", parent.parent_field, "_rid", "_entity", "_confidence"]]
            lookup = lookup[lookup[parent.parent_field].notna()]
            lookup = lookup.assign(_ref=lookup[parent.parent_field].astype(str))
            refs = frame[parent.field].astype(str)
            same = lookup.drop_duplicates(["_source", "_ref"]).set_index(["_source", "_ref"])
            index = pd.MultiIndex.from_arrays([frame["_source"], refs])
            found = same.reindex(index)
            anywhere = lookup.drop_duplicates("_ref").set_index("_ref").reindex(refs)
            for column in ("_rid", "_entity", "_confidence"):
                values = found[column].to_numpy(dtype=object)
                fallback = anywhere[column].to_numpy(dtype=object)
                missing = pd.isna(values)
                values[missing] = fallback[missing]
                values[pd.isna(values)] = None
                target = "_parent_rid" if column == "_rid" else column
                frame[target] = pd.Series(values, index=frame.index, dtype=object, copy=False).infer_objects()
        out[record_type] = frame
    return out


_SOURCES = st.sampled_from(["billing", "crm", "legacy"])
# References as the tables hold them: text, numbers, missing (astype(str) makes "None", "nan", "3.0"...).
# Half of them one of two references, so that parents share them across sources.
_REFS = st.sampled_from(["A1", "A2"]) | (
    st.sampled_from(["A3", "a1", "None", "nan", "", " A1"]) | st.none() | st.integers(1, 3)
    | st.just(float("nan")) | st.just(3.0)
)


@st.composite
def _tables(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    accounts = draw(st.lists(st.tuples(_SOURCES, _REFS, st.sampled_from(["E1", "E2", None]),
                                       st.sampled_from([1.0, 0.93, float("nan")])), max_size=12))
    account = pd.DataFrame({
        "_source": np.array([a[0] for a in accounts], dtype=object),
        "account_id": np.array([a[1] for a in accounts], dtype=object),
        "_rid": np.array([f"{a[0]}:account:{i}" for i, a in enumerate(accounts)], dtype=object),
        "_entity": np.array([a[2] for a in accounts], dtype=object),
        "_confidence": np.array([a[3] for a in accounts], dtype=np.float64),
    }, index=pd.RangeIndex(len(accounts)) * 3 + 7)  # an index of its own: values follow positions
    # Parents' columns of other types than a run gives them (attach_dependents is public): each typed as before.
    retype = draw(st.sampled_from(["as run", "objects", "unknown", "numbered entities"]))
    if retype == "objects":
        account["_confidence"] = account["_confidence"].astype(object).where(account["_confidence"].notna(), None)
    elif retype == "unknown":
        account["_confidence"] = np.full(len(account), np.nan)
    elif retype == "numbered entities":
        account["_entity"] = pd.Series([k if k % 3 else None for k in range(len(account))], dtype=object,
                                       index=account.index)
    tables = {"account": account}
    for kind in draw(st.lists(st.sampled_from(["invoice", "payment", "case"]), unique=True, max_size=3)):
        rows = draw(st.lists(st.tuples(_SOURCES, _REFS), max_size=15))
        field = "contact_id" if kind == "case" else "account_id"
        tables[kind] = pd.DataFrame({
            "_source": pd.Series([r[0] for r in rows], dtype=object),
            field: pd.Series([r[1] for r in rows], dtype=object),
            "_rid": pd.Series([f"{r[0]}:{kind}:{i}" for i, r in enumerate(rows)], dtype=object),
        })
    if draw(st.booleans()):
        tables["contact"] = pd.DataFrame({
            "_source": pd.Series(["crm", "crm"], dtype=object), "contact_id": pd.Series(["A1", None], dtype=object),
            "_rid": pd.Series(["crm:contact:1", "crm:contact:2"], dtype=object),
            "_entity": pd.Series(["E9", "E8"], dtype=object), "_confidence": pd.Series([1.0, 0.95]),
        })
    return tables


@given(tables=_tables())
@settings(max_examples=300, deadline=None)
def test_dependents_get_the_parents_the_multiindex_gave(tables) -> None:
    got = attach_dependents(tables)
    expected = _reference_attach(tables)
    assert got.keys() == expected.keys()
    for name in expected:
        pd.testing.assert_frame_equal(got[name], expected[name], check_exact=True)
        for column in ("_parent_rid", "_entity", "_confidence"):
            if column in expected[name]:
                assert got[name][column].dtype == expected[name][column].dtype
                # None stays None, NaN stays NaN, position by position.
                assert [type(v) for v in got[name][column]] == [type(v) for v in expected[name][column]]


@given(
    # References that differ after a NUL character are different references.
    parents=st.lists(st.tuples(_SOURCES, st.sampled_from(["r1", "r2", "r3", "r1\x00", ""])), max_size=10),
    dependents=st.lists(st.tuples(_SOURCES | st.just("other"),
                                  st.sampled_from(["r1", "r2", "r3", "r4", "r1\x00", "\x00", ""])), max_size=10),
)
@example(parents=[("billing", "r1\x00"), ("billing", "r1")], dependents=[("billing", "r1")])
@settings(max_examples=300, deadline=None)
def test_parent_positions_are_the_first_parent_in_the_source_then_anywhere(parents, dependents) -> None:
    same, anywhere = parent_positions(
        np.array([p[0] for p in parents], dtype=object), np.array([p[1] for p in parents], dtype=object),
        np.array([d[0] for d in dependents], dtype=object), np.array([d[1] for d in dependents], dtype=object),
    )
    for k, (source, ref) in enumerate(dependents):
        in_source = [i for i, p in enumerate(parents) if p == (source, ref)]
        with_ref = [i for i, p in enumerate(parents) if p[1] == ref]
        assert same[k] == (in_source[0] if in_source else -1)
        assert anywhere[k] == (with_ref[0] if with_ref else -1)


@given(keys=st.lists(st.integers(0, 6), max_size=40), extra=st.integers(0, 3))
@settings(max_examples=300, deadline=None)
def test_first_rows_are_the_first_occurrences_np_unique_gives(keys, extra) -> None:  # type: ignore[no-untyped-def]
    from reconcile.match._dependents import _first_rows

    size = max(keys, default=-1) + 1 + extra
    unique, first = np.unique(np.asarray(keys, dtype=np.int64), return_index=True)
    expected = np.full(size, -1, dtype=np.int64)
    expected[unique] = first
    np.testing.assert_array_equal(_first_rows(np.asarray(keys, dtype=np.int64), size), expected)


@given(values=st.lists(st.sampled_from(["a", " b", "", "None", "nan"]) | st.none() | st.integers(0, 2)
                       | st.just(float("nan")) | st.just(2.0), max_size=12))
@settings(max_examples=200, deadline=None)
def test_text_is_astype_str(values) -> None:  # type: ignore[no-untyped-def]
    from reconcile.match._dependents import _text

    array = np.array(values, dtype=object) if values else np.zeros(0, dtype=object)
    got = _text(array)
    expected = pd.Series(array, dtype=object).astype(str).to_numpy(dtype=object)
    assert got.dtype == object
    assert got.tolist() == expected.tolist()
    assert [type(v) for v in got] == [type(v) for v in expected]


@given(
    parents=st.lists(st.tuples(_SOURCES | st.none(), st.sampled_from(["r1", "r2", "r3"])), max_size=10),
    dependents=st.lists(st.tuples(_SOURCES | st.just("other") | st.none(), st.sampled_from(["r1", "r2", "r4"])),
                        max_size=10),
)
@settings(max_examples=300, deadline=None)
def test_one_parents_index_serves_every_dependent_type(parents, dependents) -> None:  # type: ignore[no-untyped-def]
    """_Parents indexes the parents once; each lookup is parent_positions' (missing sources match missing ones)."""
    from reconcile.match._dependents import _codes, _Parents

    parent_sources = np.array([p[0] for p in parents], dtype=object)
    parent_refs = np.array([p[1] for p in parents], dtype=object)
    index = _Parents(parent_sources, parent_refs)
    variants = (dependents, dependents[::-1], dependents[:3], sorted(dependents, key=lambda d: d[1]))
    # Numbered with the parents in one pass (as attach_dependents numbers them): the same positions.
    numbered = _Parents(parent_sources, parent_refs, [np.array([d[1] for d in rows], dtype=object) for rows in variants])
    for k, rows in enumerate(variants):
        sources = np.array([d[0] for d in rows], dtype=object)
        refs = np.array([d[1] for d in rows], dtype=object)
        same, anywhere = index.positions(sources, refs)
        for got, want in zip(numbered.positions(sources, refs, k), (same, anywhere), strict=True):
            np.testing.assert_array_equal(got, want)
        # The reference: both columns numbered together (missing sources a value like any other), first rows by np.unique.
        ref_codes, their_refs, _ = _codes(parent_refs, refs)
        source_codes, their_sources, _ = _codes(parent_sources, sources)
        for k in range(len(rows)):
            in_source = [i for i in range(len(parents))
                         if ref_codes[i] == their_refs[k] >= 0 and source_codes[i] == their_sources[k] >= 0]
            with_ref = [i for i in range(len(parents)) if ref_codes[i] == their_refs[k] >= 0]
            assert same[k] == (in_source[0] if in_source else -1)
            assert anywhere[k] == (with_ref[0] if with_ref else -1)


def _result(known: list[str], confidences: list[float], shared: bool):  # type: ignore[no-untyped-def]
    from reconcile.match import MatchingConfig, MatchResult

    index = pd.Index(known, dtype=object, name="_rid")
    entity_of = pd.Series([f"E{k}" for k in known], index=index, name="entity", dtype=object)
    other = index if shared else pd.Index(list(reversed(known)), dtype=object, name="_rid")
    confidence = pd.Series(confidences[: len(known)], index=other, name="confidence", dtype=float)
    return entity_of, confidence, MatchResult(
        entity_of=entity_of, confidence=confidence, links=pd.DataFrame(), model=None, stats={},
        config=MatchingConfig(), explainer=lambda a, b: None,  # type: ignore[arg-type,return-value]
    )


@given(
    known=st.lists(st.sampled_from(["a", "b", "c", "d", "e", "f"]), unique=True, max_size=6),
    run=st.tuples(st.integers(0, 6), st.integers(0, 7)),
    change=st.sampled_from(["none", "reverse", "swap", "repeat", "missing", "outside", "number"]),
    confidences=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=6, max_size=6),
    ordered=st.booleans(),
    shared=st.booleans(),
)
@settings(max_examples=400, deadline=None)
def test_entity_columns_of_runs_of_sorted_rids_are_the_maps(  # type: ignore[no-untyped-def]
    known, run, change, confidences, ordered, shared
) -> None:
    """The slice taken when a table's rids are a run of the result's sorted rids is what the maps give."""
    from reconcile.match._dependents import _entity_columns

    known = sorted(known) if ordered else known
    entity_of, confidence, result = _result(known, confidences, shared)
    rids = list(known[run[0]:run[0] + run[1]])
    if change == "reverse":
        rids = rids[::-1]
    elif change == "swap" and len(rids) >= 2:
        rids[0], rids[-1] = rids[-1], rids[0]
    elif change == "repeat" and rids:
        rids = [*rids, rids[-1]]
    elif change == "missing":
        rids = [None, *rids]
    elif change == "outside":
        rids = [*rids, "zz"]
    elif change == "number":
        rids = [*rids, 3]
    frame_rids = pd.Series(rids, dtype=object, name="_rid", index=pd.RangeIndex(5, 5 + len(rids)))
    entity, conf = _entity_columns(frame_rids, result)
    pd.testing.assert_series_equal(entity, frame_rids.map(entity_of))
    pd.testing.assert_series_equal(conf, frame_rids.map(confidence).fillna(1.0))


@given(values=st.lists(st.sampled_from(["a", "b", "c", "d"]), max_size=30))
@settings(max_examples=200, deadline=None)
def test_first_appearances_of_factorized_codes_are_their_first_rows(values) -> None:  # type: ignore[no-untyped-def]
    from reconcile.match._dependents import _first_appearances, _first_rows

    codes, uniques = pd.factorize(np.asarray(values, dtype=object))
    codes = codes.astype(np.int64)
    np.testing.assert_array_equal(_first_appearances(codes), _first_rows(codes, len(uniques)))
