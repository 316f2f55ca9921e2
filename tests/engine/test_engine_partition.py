"""How the Dask engine splits the work: each piece gives exactly its share of the local result.

These tests need no cluster: they run the workers' tasks in this process.
"""

from __future__ import annotations

import datetime as dt
import pickle

import numpy as np
import pandas as pd
import pytest
from engine_helpers import demo_config, generic_rules, raw_tables, scrambled, with_orphans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.config import Config
from reconcile.engine._partition import (
    NORMALISE_INPUTS,
    block_partitions,
    entity_components,
    entity_partitions,
    joined_rows,
    local_partitions,
    merge_findings,
    normalisable,
    normalise_chunk,
    owner_table,
    row_chunks,
    rules_task,
    split_rows,
    split_tables,
)
from reconcile.engine._transport import PackedFrame
from reconcile.findings import RecordRef
from reconcile.match._blocking import block_pairs
from reconcile.match._runner import BlockPart
from reconcile.model import RECORD_TYPES
from reconcile.normalise import normalise_table
from reconcile.normalise._table import NORMALISED_COLUMNS
from reconcile.pipeline import match_entities, normalise_tables
from reconcile.rules._common import entity_key, parent_rid
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.engine import RuleEvaluationError, evaluate_rules

_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# ---------------------------------------------------------------- matching: blocking-key partitions


def _pairs(left: np.ndarray, right: np.ndarray) -> set[tuple[int, int]]:
    return set(zip(left.tolist(), right.tolist(), strict=True))


@given(
    codes=st.lists(st.integers(min_value=-1, max_value=9), max_size=60),
    max_size=st.one_of(st.none(), st.integers(min_value=2, max_value=6)),
    parts=st.integers(min_value=1, max_value=7),
)
@_SETTINGS
def test_a_key_value_lands_in_one_partition_and_the_partitions_give_the_parts_pairs(
    codes: list[int], max_size: int | None, parts: int
) -> None:
    array = np.array(codes, dtype=np.int64)
    part = BlockPart("p", "pass", array, max_size)
    skipped, members = block_partitions(part, parts)
    where: dict[int, int] = {}
    for p, chunk in enumerate(members):
        assert list(chunk) == sorted(chunk)
        for record in chunk.tolist():
            assert record not in where, "a record is in two partitions"
            where[record] = p
    by_code: dict[int, set[int]] = {}
    for record, p in where.items():
        by_code.setdefault(codes[record], set()).add(p)
    assert all(len(ps) == 1 for ps in by_code.values()), "a key value is split over partitions"
    left, right, expected_skipped = block_pairs(array, max_size)
    found: set[tuple[int, int]] = set()
    for chunk in members:
        sub_left, sub_right, _ = block_pairs(array[chunk], None)
        found |= _pairs(chunk[sub_left], chunk[sub_right])
    assert found == _pairs(left, right)
    assert skipped == expected_skipped


def test_the_owner_table_holds_each_parts_code_where_the_part_pairs_the_record() -> None:
    a = BlockPart("a", "rule", np.array([0, 0, 1, -1, 1, 1]), 2)  # code 1 is held by 3 > 2 records
    b = BlockPart("b", "pass", np.array([-1, 3, 3, 3, 0, 1]), None)
    owner = owner_table([a, b], 6)
    assert owner.tolist() == [[0, -1], [0, 3], [-1, 3], [-1, 3], [-1, 0], [-1, 1]]


def test_row_chunks_cover_the_rows_once() -> None:
    for rows in (0, 1, 5, 17):
        for parts in (1, 3, 8):
            chunks = row_chunks(rows, parts)
            assert [i for a, b in chunks for i in range(a, b)] == list(range(rows))
            assert all(b > a for a, b in chunks)


# ---------------------------------------------------------------- rules: entity partitions

_ENTITY = st.sampled_from(["E1", "E2", "E3", None])
_ACCOUNT = st.sampled_from(["A1", "A2", "A3", "A9", None])  # A9: no such account


@st.composite
def _tables(draw: st.DrawFn) -> dict[str, pd.DataFrame]:
    accounts = []
    for key in ("A1", "A2", "A3"):
        if draw(st.booleans()):
            accounts.append({"_source": "billing", "_key": key, "_rid": f"billing:account:{key}",
                             "_entity": draw(_ENTITY), "_parent_rid": None, "account_id": key})
    payments = []
    for n in range(draw(st.integers(min_value=0, max_value=8))):
        account = draw(_ACCOUNT)
        payments.append({
            "_source": draw(st.sampled_from(["billing", "other"])), "_key": f"P{n}",
            "_rid": f"billing:payment:P{n}", "_entity": draw(_ENTITY), "account_id": account,
            "_parent_rid": draw(st.sampled_from([None, f"billing:account:{account}"])),
        })
    columns = ["_source", "_key", "_rid", "_entity", "_parent_rid", "account_id"]
    return {
        "account": pd.DataFrame(accounts, columns=columns),
        "payment": pd.DataFrame(payments, columns=columns),
    }


@given(tables=_tables(), parts=st.integers(min_value=1, max_value=5))
@_SETTINGS
def test_records_of_one_entity_key_and_their_parents_share_a_partition(
    tables: dict[str, pd.DataFrame], parts: int
) -> None:
    partition = entity_partitions(tables, parts)
    assert partition is not None
    where: dict[str, int] = {}
    by_key: dict[str, set[int]] = {}
    for record_type, frame in tables.items():
        assert len(partition[record_type]) == len(frame)
        assert ((partition[record_type] >= 0) & (partition[record_type] < parts)).all()
        keys = entity_key(frame).tolist() if not frame.empty else []
        for rid, key, p in zip(frame["_rid"], keys, partition[record_type].tolist(), strict=True):
            where[rid] = p
            by_key.setdefault(key, set()).add(p)
    assert all(len(ps) == 1 for ps in by_key.values()), "an entity key is split"
    payments = tables["payment"]
    if not payments.empty:
        for rid, parent in zip(payments["_rid"], parent_rid(payments, "payment"), strict=True):
            if parent in where:
                assert where[rid] == where[parent], "a payment is apart from its account"
    split = split_tables(tables, partition, parts)
    for record_type, frame in tables.items():
        for p in range(parts):
            expected = frame[partition[record_type] == p].reset_index(drop=True)
            pd.testing.assert_frame_equal(split[p][record_type], expected)


@given(tables=_tables(), parts=st.integers(min_value=1, max_value=4), data=st.data())
@_SETTINGS
def test_partitions_chosen_by_where_rows_are_keep_components_whole(
    tables: dict[str, pd.DataFrame], parts: int, data: st.DataObject
) -> None:
    components = entity_components(tables)
    assert components is not None
    homes = {t: np.array(data.draw(st.lists(st.integers(0, parts - 1), min_size=len(f), max_size=len(f))),
                         dtype=np.int64) for t, f in tables.items()}
    partition = local_partitions(components, homes, parts, slack=float(parts))  # never falls back
    chosen: dict[int, int] = {}
    weights: dict[int, np.ndarray] = {}
    for record_type in tables:
        for component, p, home in zip(components[record_type].tolist(), partition[record_type].tolist(),
                                      homes[record_type].tolist(), strict=True):
            assert chosen.setdefault(component, p) == p, "a component is split"
            weights.setdefault(component, np.zeros(parts, dtype=np.int64))[home] += 1
    for component, p in chosen.items():  # the partition holding most of its rows (the first of equals)
        assert p == int(weights[component].argmax())


def test_partitions_by_where_rows_are_fall_back_to_spreading_when_one_would_take_too_much() -> None:
    components = {"account": np.array([0, 1, 2, 3]), "payment": np.array([0, 0, 1, 2, 3, 3])}
    everything_home_0 = {"account": np.zeros(4, dtype=np.int64), "payment": np.zeros(6, dtype=np.int64)}
    partition = local_partitions(components, everything_home_0, 2)
    assert partition["account"].tolist() == [0, 1, 0, 1]  # component % parts: balanced
    assert partition["payment"].tolist() == [0, 0, 1, 0, 1, 1]
    split_homes = {"account": np.array([1, 1, 0, 0]), "payment": np.array([1, 1, 1, 0, 0, 0])}
    assert local_partitions(components, split_homes, 2)["account"].tolist() == [1, 1, 0, 0]


@given(tables=_tables(), parts=st.integers(min_value=1, max_value=4), cuts=st.integers(1, 4), data=st.data())
@_SETTINGS
def test_row_ranges_split_on_the_workers_and_joined_give_split_tables_partitions(
    tables: dict[str, pd.DataFrame], parts: int, cuts: int, data: st.DataObject
) -> None:
    """What the workers hold (row ranges, some columns sent later) split and joined is split_tables' partition."""
    partition = entity_partitions(tables, parts)
    assert partition is not None
    expected = split_tables(tables, partition, parts)
    for record_type, frame in tables.items():
        frame = frame.assign(amount=np.arange(len(frame), dtype=float), when=pd.Timestamp("2026-01-01", tz="UTC"))
        late = data.draw(st.sampled_from([[], ["_entity"], ["_entity", "amount"]]))
        pieces: list[list[pd.DataFrame]] = [[] for _ in range(parts)]
        for a, b in row_chunks(len(frame), cuts) or [(0, 0)]:
            held = frame.iloc[a:b].drop(columns=late)
            more = frame.iloc[a:b][late] if late else None
            for p, piece in enumerate(split_rows(held, (more, partition[record_type][a:b]), list(frame.columns), parts)):
                pieces[p].append(piece)
        for p in range(parts):
            joined = joined_rows(pieces[p])
            want = expected[p][record_type].assign(
                amount=frame["amount"][partition[record_type] == p].to_numpy(),
                when=pd.Timestamp("2026-01-01", tz="UTC"),
            )
            pd.testing.assert_frame_equal(joined, want, check_exact=True)
            assert list(joined.dtypes) == list(frame.dtypes)
            assert isinstance(joined.index, pd.RangeIndex)


def test_a_table_without_rids_is_not_partitioned() -> None:
    assert entity_partitions({"account": pd.DataFrame({"account_id": ["A1"]})}, 2) is None


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, pd.DataFrame]]:
    config = demo_config(tmp_path_factory.mktemp("world"), 300)
    return config, raw_tables(config)


def _partitioned(rules: list[Rule], tables: dict[str, pd.DataFrame], as_of: dt.datetime, parts: int) -> list:
    partition = entity_partitions(tables, parts)
    assert partition is not None
    split = split_tables(tables, partition, parts)
    results = [rules_task(rules, as_of, {t: PackedFrame(f) for t, f in part.items()}) for part in split]
    return [f for position, rule in enumerate(rules) for f in merge_findings(rule, [r[position] for r in results])]


@pytest.mark.parametrize("variant", ["as matched", "with orphans", "scrambled"])
def test_entity_local_rules_find_on_partitions_what_they_find_on_whole_tables(world, variant: str) -> None:
    config, raw = world
    tables = with_orphans(raw) if variant == "with orphans" else raw
    matched, _ = match_entities(normalise_tables(tables, config), config)
    if variant == "scrambled":
        matched = scrambled(matched)
    rules = [r for r in [*config.built_rules, *generic_rules()] if type(r).entity_local]
    assert len(rules) >= 12
    whole = evaluate_rules(rules, RuleContext(as_of=config.as_of, tables=matched))
    assert len(whole) > 50
    for parts in (2, 7):
        partitioned = _partitioned(rules, matched, config.as_of, parts)
        assert [f.model_dump() for f in partitioned] == [f.model_dump() for f in whole]


def test_merge_orders_by_subject_and_rejects_a_fingerprint_found_twice(world) -> None:
    config, _ = world
    rule = next(r for r in config.built_rules if r.kind == "billed_not_provisioned")

    def finding(key: str):
        ref = RecordRef(source="billing", record_type="subscription", key=key)
        return rule.finding(subject=ref, records=[ref], entity_id=None, confidence=1.0,
                            facts={"subscription": key, "account": "A", "product": "p", "since": "x",
                                   "monthly_amount": None, "amount_text": "", "line_state": ""})

    merged = merge_findings(rule, [[finding("S3")], [finding("S1"), finding("S2")]])
    assert [f.subject.key for f in merged] == ["S1", "S2", "S3"]
    with pytest.raises(RuleEvaluationError, match="same fingerprint"):
        merge_findings(rule, [[finding("S1")], [finding("S1")]])


# ---------------------------------------------------------------- normalising: row ranges


def test_normalise_reads_no_column_besides_its_inputs(world) -> None:
    config, raw = world
    for record_type, frame in raw.items():
        if not RECORD_TYPES[record_type].identity:
            continue
        inputs = frame[[c for c in NORMALISE_INPUTS if c in frame.columns]]
        whole = normalise_table(frame, record_type)[list(NORMALISED_COLUMNS)]
        pd.testing.assert_frame_equal(normalise_chunk(PackedFrame(inputs), record_type, "US").frame, whole)


_TEXT = st.one_of(st.none(), st.sampled_from([
    "Ann Lee", "LEE, ANN", "Dr. Robert Smith Jr", "ACME Corp.", "acme corporation", "", "  ",
    "+1 (212) 555-0100", "212.555.0100", "Ann.Lee@Example.COM", "12 Oak St Apt 4", "98101", "US", "CA",
    "1HGCM82633A004352", "Núñez", "O'Brien",
]))


@given(rows=st.lists(st.fixed_dictionaries({c: _TEXT for c in NORMALISE_INPUTS}), max_size=30),
       cuts=st.lists(st.integers(min_value=0, max_value=30), max_size=4))
@_SETTINGS
def test_normalising_row_ranges_gives_the_whole_tables_columns(rows: list[dict], cuts: list[int]) -> None:
    frame = pd.DataFrame(rows, columns=list(NORMALISE_INPUTS), dtype=object)
    assert normalisable(frame)
    whole = normalise_table(frame, "account")[list(NORMALISED_COLUMNS)]
    edges = sorted({0, len(frame), *(min(c, len(frame)) for c in cuts)})
    pieces = [
        normalise_chunk(PackedFrame(frame.iloc[a:b]), "account", "US").frame
        for a, b in zip(edges, edges[1:], strict=False)
    ]
    together = pd.concat(pieces) if pieces else whole
    pd.testing.assert_frame_equal(together, whole)


def test_a_text_column_holding_numbers_is_normalised_whole() -> None:
    assert not normalisable(pd.DataFrame({"postal_code": ["98101", 98101]}, dtype=object))
    assert normalisable(pd.DataFrame({"postal_code": [98101, 98102]}))  # a numeric column is fine
    assert normalisable(pd.DataFrame({"postal_code": [None, None]}, dtype=object))


# ---------------------------------------------------------------- transport


_CELL = st.one_of(
    st.none(), st.just(float("nan")), st.text(max_size=6), st.sampled_from(["\x1f", "a\x1eb", "\x00", ""]),
    st.dates(), st.integers(), st.booleans(),
    st.datetimes(timezones=st.just(dt.UTC)),
)


@st.composite
def _frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=12))
    columns: dict[str, pd.Series] = {}
    for n in range(draw(st.integers(min_value=0, max_value=5))):
        kind = draw(st.sampled_from(["mixed", "text", "dates", "int", "float", "moment"]))
        if kind == "mixed":
            values = draw(st.lists(_CELL, min_size=rows, max_size=rows))
        elif kind == "text":
            values = draw(st.lists(st.one_of(st.none(), st.text(max_size=8)), min_size=rows, max_size=rows))
        elif kind == "dates":
            values = draw(st.lists(st.one_of(st.none(), st.dates()), min_size=rows, max_size=rows))
        elif kind == "int":
            columns[f"c{n}"] = pd.Series(draw(st.lists(st.integers(-9, 9), min_size=rows, max_size=rows)),
                                         dtype="int64")
            continue
        elif kind == "float":
            columns[f"c{n}"] = pd.Series(draw(st.lists(st.floats(allow_nan=True), min_size=rows, max_size=rows)),
                                         dtype="float64")
            continue
        else:
            columns[f"c{n}"] = pd.Series(pd.to_datetime(
                draw(st.lists(st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1)),
                              min_size=rows, max_size=rows)), utc=True))
            continue
        columns[f"c{n}"] = pd.Series(values, dtype=object)
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows)) if columns else pd.DataFrame(index=pd.RangeIndex(rows))
    if draw(st.booleans()) and rows:
        frame = frame.take(draw(st.permutations(range(rows))))
    return frame


@given(frame=_frames(), arrow=st.booleans())
@_SETTINGS
def test_a_packed_frame_comes_back_with_the_same_cells_of_the_same_types(frame: pd.DataFrame, arrow: bool) -> None:
    if arrow:
        pytest.importorskip("pyarrow")
    back = pickle.loads(pickle.dumps(PackedFrame(frame, arrow), protocol=5)).frame
    pd.testing.assert_frame_equal(back, frame, check_exact=True, check_column_type=True, check_index_type=True)
    for name in frame.columns:
        for a, b in zip(frame[name].tolist(), back[name].tolist(), strict=True):
            assert type(a) is type(b)
            assert a is b or a == b or (a != a and b != b)

