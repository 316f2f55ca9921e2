"""Snapshot parts: reading some records, reading only the changes since a full write."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Collection
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.store import _snapshots
from reconcile.store._snapshots import encode_parts, frame_from_values, records_of

KEYS = [f"V{i}" for i in range(10)]


@st.composite
def vehicles(draw: Any) -> pd.DataFrame:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True, max_size=9))
    n = len(keys)

    def column(values: Any) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    years = column(st.none() | st.integers(1950, 2030)) if draw(st.booleans()) else column(st.integers(1950, 2030))
    frame = frame_from_values("vehicle", {
        "vehicle_id": keys,
        "vin": column(st.sampled_from(["1HGCM82633A004352", "JH4KA4650JC000403"])),
        "name": column(st.none() | st.text(max_size=3)),
        "year": years,
        "birth_date": column(st.none() | st.dates(dt.date(1940, 1, 1), dt.date(2000, 1, 1))),
    })
    if draw(st.booleans()):  # integers and None in an object column: Arrow integers with nulls
        frame["year"] = pd.Series(years, index=frame.index, dtype=object)
    return frame


@settings(max_examples=200, deadline=None)
@given(vehicles(), st.sets(st.sampled_from(KEYS)), st.integers(1, 4))
def test_records_of_some_keys_are_those_of_the_whole_snapshot(frame: pd.DataFrame, keys: set[str], rows: int) -> None:
    """Filtered in Arrow before pandas: the same records, values of the same types (a year stays 2020 or 2020.0)."""
    with mock.patch.object(_snapshots, "PART_ROWS", rows):
        parts = encode_parts(frame)
    whole = _snapshots.snapshot_frame("vehicle", parts)
    expected = records_of(whole[whole["vehicle_id"].astype(str).isin(keys)], "vehicle_id")
    tables = _snapshots._tables(parts, columns=list(whole.columns))
    some = _snapshots._frame_of("vehicle", _snapshots._rows_of_keys(tables, "vehicle_id", keys))
    got = records_of(some[some["vehicle_id"].astype(str).isin(keys)], "vehicle_id")
    assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


PAY_KEYS = [f"P{i}" for i in range(14)]


@st.composite
def payment_frames(draw: Any, keys: list[str]) -> pd.DataFrame:
    """The frame an extract of payments with these keys gives (dtypes inferred from the values)."""
    n = len(keys)

    def column(values: Any) -> list[Any]:
        return draw(st.lists(values, min_size=n, max_size=n))

    return frame_from_values("payment", {
        "payment_id": keys,
        "account_id": column(st.sampled_from(["A1", "A2"])),
        "amount": column(st.none() | st.floats(-5, 5, allow_nan=False)),
        "attempted_at": column(st.none() | st.sampled_from([dt.datetime(2026, 1, d, tzinfo=dt.UTC) for d in (1, 2)])),
        "status": column(st.sampled_from(["ok", "failed"])),
        "autopay": column(st.booleans() | st.none()) if draw(st.booleans()) else column(st.booleans()),
    })


@settings(max_examples=100, deadline=None)
@given(st.data(), st.booleans(), st.integers(2, 5))
def test_a_snapshot_kept_as_deltas_reads_as_the_same_snapshot_kept_whole(
    data: st.DataObject, derived: bool, part_rows: int
) -> None:
    """Nights merged as the pipeline merges them, each kept as a delta: read back, the frame written whole."""
    from reconcile.incremental import NORMALISED_OK, _delta, _merge

    tag = "tag-1"
    keys = data.draw(st.lists(st.sampled_from(PAY_KEYS), unique=True, min_size=1, max_size=10))
    kept = data.draw(payment_frames(keys))
    if derived:
        kept["_n_x"] = data.draw(st.lists(st.none() | st.sampled_from(["a", "b"]), min_size=len(keys), max_size=len(keys)))
    with mock.patch.object(_snapshots, "PART_ROWS", part_rows):
        parts = encode_parts(kept, tag)
        for night in range(data.draw(st.integers(1, 3))):
            snapshot, layout = _snapshots._assemble("payment", parts, tag)
            if derived:
                snapshot[NORMALISED_OK] = True
            changed = data.draw(payment_frames(data.draw(st.lists(st.sampled_from(PAY_KEYS), unique=True, max_size=6))))
            gone = set(data.draw(st.lists(st.sampled_from(PAY_KEYS), max_size=3)))
            snap_keys, changed_keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
            merged = _merge("payment", snapshot, snap_keys, changed, changed_keys, gone)
            kept = merged.drop(columns=[NORMALISED_OK], errors="ignore")
            if derived:  # the pipeline normalises the changed records
                ok = merged[NORMALISED_OK] if NORMALISED_OK in merged.columns else pd.Series(False, index=merged.index)
                fresh = ~ok.eq(True).to_numpy()
                kept["_n_x"] = kept["_n_x"].where(~fresh, "n") if "_n_x" in kept.columns else "n"
            if set(kept.columns) != set(layout.columns):
                parts = encode_parts(kept, tag)  # not the columns it was kept with: written whole
                continue
            delta = _delta(kept["payment_id"], snap_keys, changed_keys, gone, layout)
            assert delta is not None
            assert kept["payment_id"].iloc[delta.positions].tolist() == [k for k in changed_keys if k not in gone]
            parts = parts + encode_parts(
                kept.iloc[delta.positions], tag, {"run": night, "gone": sorted(delta.gone)}
            )
            read, after = _snapshots._assemble("payment", parts, tag)
            whole = _snapshots.snapshot_frame("payment", encode_parts(kept, tag), tag)
            pd.testing.assert_frame_equal(read, whole)
            assert after.deltas == layout.deltas + 1


# ---------------------------------------------------------------- deltas in the store

STREAM = ("billing", "payment")


def _payments(*keys: str, status: str = "ok") -> pd.DataFrame:
    return frame_from_values("payment", {"payment_id": list(keys), "account_id": ["A1"] * len(keys),
                                         "amount": [1.0] * len(keys), "status": [status] * len(keys)})


def _night(store: Any, n: int, changed: pd.DataFrame, gone: Collection[str] = (), **kwargs: Any) -> pd.DataFrame:
    """A night as apply_snapshots plays it: the snapshot read, the changes merged, the delta handed over."""
    from store_factories import record_night

    from reconcile.incremental import _delta, _merge
    from reconcile.store import StateChanges

    snapshot, layout = store.read_snapshot(*STREAM)
    snap_keys, changed_keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
    merged = _merge("payment", snapshot, snap_keys, changed, changed_keys, set(gone))
    delta = _delta(merged["payment_id"], snap_keys, changed_keys, set(gone), layout)
    state = StateChanges(frames={STREAM: merged}, deltas={STREAM: delta} if delta is not None else {})
    record_night(store, n, [], state=state, **kwargs)
    return merged


def _parts(store: Any) -> list[tuple[int, int]]:
    import sqlalchemy as sa

    from reconcile.store import _schema as s

    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(s.snapshot_parts.c.part, s.snapshot_parts.c.run_id).order_by(s.snapshot_parts.c.part))]


def test_small_changes_are_appended_as_deltas_and_read_back_merged(store: Any) -> None:
    from store_factories import record_night

    from reconcile.store import StateChanges

    keys = [f"P{i}" for i in range(100)]
    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*keys)}))
    merged = _night(store, 2, _payments("P3", "P200", status="failed"), gone={"P7"})
    assert _parts(store) == [(0, 1), (1, 2)]  # the whole snapshot, then the night's delta
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)
    _night(store, 3, _payments())  # nothing changed: nothing written
    assert _parts(store) == [(0, 1), (1, 2)]
    merged = _night(store, 4, _payments("P200", "P4", status="late"))
    expected = [(0, 1), (1, 2), (2, 4)] if _snapshots.MAX_DELTAS > 1 else [(0, 4)]
    assert _parts(store) == expected
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)
    assert store.snapshot(*STREAM)["P200"]["status"] == "late" and "P7" not in store.snapshot(*STREAM)


def test_a_snapshot_is_written_whole_again_when_its_deltas_grow(store: Any) -> None:
    from store_factories import record_night

    from reconcile.store import StateChanges

    keys = [f"P{i}" for i in range(100)]
    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*keys)}))
    for n in range(2, 2 + _snapshots.MAX_DELTAS):
        _night(store, n, _payments(f"P{n}", status="failed"))
    assert len(_parts(store)) == 1 + _snapshots.MAX_DELTAS
    merged = _night(store, 20, _payments("P90", status="failed"))
    assert _parts(store) == [(0, 2 + _snapshots.MAX_DELTAS)]  # compacted: one whole part, written by this run
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)
    # Changes larger than DELTA_SHARE of the whole parts: written whole too.
    merged = _night(store, 21, _payments(*keys[: int(_snapshots.DELTA_SHARE * 100) + 1], status="late"))
    assert _parts(store) == [(0, 3 + _snapshots.MAX_DELTAS)]
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)


def test_deltas_merged_in_arrow_read_as_merged_in_pandas(store: Any) -> None:
    """The store's deltas read back merged in Arrow, as the pandas merge reads them; such a snapshot keeps several."""
    from store_factories import record_night

    from reconcile.store import StateChanges

    keys = [f"P{i}" for i in range(100)]
    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*keys)}))
    for n, (changed, gone) in enumerate([(("P3", "P200"), {"P7"}), (("P200", "P4", "P201"), {"P3"}), (("P7",), set())], 2):
        merged = _night(store, n, _payments(*changed, status=f"s{n}"), gone=gone)
    assert _parts(store) == [(0, 1), (1, 2), (2, 3), (3, 4)]
    frame, layout = store.read_snapshot(*STREAM)
    assert layout.in_arrow and layout.deltas == 3
    pd.testing.assert_frame_equal(frame, merged)
    with mock.patch.object(_snapshots, "_merged_in_arrow", lambda *args: None):
        pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)
    assert frame["payment_id"].tolist()[-3:] == ["P200", "P201", "P7"]


def test_a_snapshot_whose_deltas_are_merged_in_pandas_keeps_one(store: Any) -> None:
    """Deltas the parts do not let Arrow merge cost a merge of every column each: the second night writes it whole."""
    from store_factories import record_night

    from reconcile.store import StateChanges

    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*[f"P{i}" for i in range(100)])}))
    with mock.patch.object(_snapshots, "_merged_in_arrow", lambda *args: None):
        _night(store, 2, _payments("P3", status="failed"))
        assert _parts(store) == [(0, 1), (1, 2)]
        merged = _night(store, 3, _payments("P4", status="failed"))
        assert _parts(store) == [(0, 3)]
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)


def test_a_run_that_fails_to_commit_appends_no_delta(store: Any) -> None:
    import pytest
    from store_factories import finding, healthy, record_night

    from reconcile.errors import StoreError
    from reconcile.store import StateChanges

    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments("P1", "P2")}))
    before = store.snapshot_frame(*STREAM)
    with pytest.raises(StoreError):  # two findings with one fingerprint: the commit fails
        from reconcile.incremental import _delta, _merge

        snapshot, layout = store.read_snapshot(*STREAM)
        changed = _payments("P1", status="failed")
        merged = _merge("payment", snapshot, snapshot["payment_id"], changed, changed["payment_id"], set())
        delta = _delta(merged["payment_id"], snapshot["payment_id"], changed["payment_id"], set(), layout)
        assert delta is not None
        run_id = store.begin_run(dt.datetime(2026, 11, 2, tzinfo=dt.UTC), config_digest="cfg")
        store.finish_run(run_id, findings=[finding("C1"), finding("C1")], health=healthy(),
                         state=StateChanges(frames={STREAM: merged}, deltas={STREAM: delta}))
    assert _parts(store) == [(0, 1)]
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), before)


def test_the_downgrade_writes_snapshots_with_deltas_whole(store: Any) -> None:
    from store_factories import record_night

    from reconcile.store import StateChanges, _migrate

    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*[f"P{i}" for i in range(50)])}))
    merged = _night(store, 2, _payments("P3", "P77", status="failed"), gone={"P9"})
    assert len(_parts(store)) == 2
    _migrate.downgrade(store.engine, "0006")
    assert _parts(store) == [(0, 2)]
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)
    _migrate.upgrade(store.engine)
    pd.testing.assert_frame_equal(store.snapshot_frame(*STREAM), merged)


# ---------------------------------------------------------------- encoded before the commit

TWIN = ("crm", "payment")


def _stored(store: Any, stream: tuple[str, str]) -> list[tuple[Any, ...]]:
    import sqlalchemy as sa

    from reconcile.store import _schema as s

    t = s.snapshot_parts
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.c.part, t.c.run_id, t.c.records, t.c.data)
            .where((t.c.source == stream[0]) & (t.c.record_type == stream[1])).order_by(t.c.part))]


def _merged_night(store: Any, stream: tuple[str, str], changed: pd.DataFrame, gone: Collection[str]) -> tuple[Any, Any]:
    from reconcile.incremental import _delta, _merge

    snapshot, layout = store.read_snapshot(*stream)
    snap_keys, changed_keys = snapshot["payment_id"].astype(str), changed["payment_id"].astype(str)
    merged = _merge("payment", snapshot, snap_keys, changed, changed_keys, set(gone))
    return merged, _delta(merged["payment_id"], snap_keys, changed_keys, set(gone), layout)


def test_snapshots_encoded_before_the_commit_are_written_as_their_frames_would_be(store: Any) -> None:
    """Every way a snapshot is kept (whole, delta, nothing, compaction): the same parts, byte for byte, either way."""
    from store_factories import night

    from reconcile.store import StateChanges

    keys = [f"P{i}" for i in range(120)]
    nights: list[tuple[tuple[str, ...], set[str]]] = [
        (tuple(keys), set()), (("P3", "P200"), {"P7"}), ((), set()), (("P200", "P4", "P201"), {"P3"}),
        (tuple(keys[:40]), set()),  # more than DELTA_SHARE: written whole again
    ] + [((f"P{n}",), set()) for n in range(50, 50 + _snapshots.MAX_DELTAS + 1)]  # the last one compacts
    for n, (changed_keys, gone) in enumerate(nights, 1):
        run_id = store.begin_run(night(n), config_digest="cfg")
        state = StateChanges()
        for stream in (STREAM, TWIN):
            changed = _payments(*changed_keys, status=f"s{n}")
            if n == 1:
                state.frames[stream] = changed
                continue
            merged, delta = _merged_night(store, stream, changed, gone)
            state.frames[stream] = merged
            if delta is not None:
                state.deltas[stream] = delta
        frames = dict(state.frames)
        twin = state.frames.pop(TWIN)
        store.encode_snapshots(run_id, state)  # STREAM: encoded now, its frame let go
        assert not state.frames and set(state.encoded) == {STREAM} and state.spill is not None
        state.frames[TWIN] = twin  # TWIN: written from its frame at the commit
        store.finish_run(run_id, findings=[], health=[], state=state)
        state.close()
        assert state.spill is None
        assert _stored(store, STREAM) == _stored(store, TWIN)
        for stream in (STREAM, TWIN):
            pd.testing.assert_frame_equal(store.snapshot_frame(*stream), frames[stream])
    parts = [(part, run) for part, run, _, _ in _stored(store, STREAM)]
    assert parts == [(0, len(nights))], parts  # compacted by the last night
    assert len(_stored(store, STREAM)) < len(nights)


def test_an_encoded_delta_whose_snapshot_changed_meanwhile_fails_the_commit(store: Any) -> None:
    """A delta goes after the parts it was encoded against; if another run wrote the snapshot since, nothing commits."""
    import pytest
    from store_factories import finding, healthy, night, record_night

    from reconcile.errors import StoreError
    from reconcile.store import StateChanges

    record_night(store, 1, [], state=StateChanges(frames={STREAM: _payments(*[f"P{i}" for i in range(100)])}))
    run_id = store.begin_run(night(2), config_digest="cfg")
    merged, delta = _merged_night(store, STREAM, _payments("P3", status="failed"), set())
    state = StateChanges(frames={STREAM: merged}, deltas={STREAM: delta})
    store.encode_snapshots(run_id, state)
    assert state.encoded[STREAM].first_part == 1 and not state.encoded[STREAM].whole
    # Meanwhile the snapshot gets a delta from elsewhere (a run that took the lock over, say).
    other, other_delta = _merged_night(store, STREAM, _payments("P4"), set())
    with store.engine.begin() as conn:
        _snapshots.write_frame(conn, run_id, *STREAM, other, delta=other_delta)
    before = _stored(store, STREAM)
    assert len(before) == 2
    with pytest.raises(StoreError, match="changed while this run worked on it"):
        store.finish_run(run_id, findings=[finding("C1")], health=healthy(), state=state)
    state.close()
    assert _stored(store, STREAM) == before
    assert store.open_findings() == []


def test_the_spill_gives_back_what_was_put() -> None:
    spill = _snapshots.Spill()
    places = [spill.put(data) for data in (b"abc", b"", b"\x00" * 100_000, b"z")]
    assert [spill.get(*place) for place in reversed(places)] == [b"z", b"\x00" * 100_000, b"", b"abc"]
    spill.close()
    spill.close()  # closing twice is harmless


# ---------------------------------------------------------------- into pandas column by column


def _read(parts: list[bytes], key_field: str | None) -> list[tuple[Any, set[str], str | None]]:
    """The parts read as _assemble reads them (text but the key as dictionaries), or plain (None)."""
    plain = None if key_field is None else (key_field,)
    return [(table, as_json, tag) for table, as_json, tag, _ in (_snapshots._read_part(p, plain=plain) for p in parts)]


@settings(max_examples=200, deadline=None)
@given(vehicles(), st.integers(1, 4), st.booleans())
def test_parts_read_column_by_column_are_the_parts_read_into_pandas_one_by_one(
    frame: pd.DataFrame, rows: int, derived: bool
) -> None:
    """_frame_of (text from Parquet's dictionaries, one object per value) gives the reference's frame."""
    if derived:
        frame["_n_x"] = [None if i % 3 == 0 else "ab"[i % 2] for i in range(len(frame))]
    with mock.patch.object(_snapshots, "PART_ROWS", rows):
        parts = encode_parts(frame, "tag-1")
    expected = _snapshots._frame_by_parts("vehicle", _read(parts, None), "tag-1")
    values: dict[str, Any] = {}
    got = _snapshots._frame_of("vehicle", _read(parts, "vehicle_id"), "tag-1", values)
    pd.testing.assert_frame_equal(got, expected)
    for name, objects in values.items():  # the objects given are the column's, one per value
        present = [v for v in got[name] if v is not None]
        assert all(objects[v] is v for v in present) and len(objects) == len(set(present))


@settings(max_examples=100, deadline=None)
@given(vehicles(), st.integers(1, 4), st.data())
def test_rows_taken_column_by_column_are_the_rows_taken_in_arrow(frame: pd.DataFrame, rows: int, data: st.DataObject) -> None:
    """_frame_of with rows to take: what the parts' rows taken in Arrow read into pandas as (integers stay integers)."""
    import pyarrow as pa

    with mock.patch.object(_snapshots, "PART_ROWS", rows):
        parts = encode_parts(frame)
    take = np.array(data.draw(st.lists(st.integers(0, max(len(frame) - 1, 0)), max_size=len(frame)) if len(frame) else st.just([])), dtype=np.int64)
    read = _read(parts, "vehicle_id")
    tables = [t for t, _, _ in read]
    if any(not t.schema.equals(tables[0].schema) for t in tables):
        return  # parts of other schemas are not taken from (_merged_in_arrow casts them first, or says no)
    taken = pa.concat_tables([t for t, _, _ in _read(parts, None)]).take(pa.array(take, type=pa.int64()))
    expected = _snapshots._frame_by_parts("vehicle", [(taken, set(), None)])
    got = _snapshots._frame_of("vehicle", [(t, set(), None) for t in tables], None, None, take)
    pd.testing.assert_frame_equal(got, expected)


def test_text_repeated_across_parts_is_read_as_one_object_per_value() -> None:
    """pandas of each part would make each part's own objects: the whole snapshot shares them (build_tables need not)."""
    keys = [f"P{i}" for i in range(40)]
    frame = frame_from_values("payment", {
        "payment_id": keys, "account_id": [f"A{i % 3}" for i in range(40)], "status": ["ok", "failed"] * 20,
        "attempted_at": [dt.datetime(2026, 1, 1 + i % 2, tzinfo=dt.UTC) for i in range(40)],
    })
    with mock.patch.object(_snapshots, "PART_ROWS", 7):
        parts = encode_parts(frame)
    read, layout = _snapshots._assemble("payment", parts)
    pd.testing.assert_frame_equal(read, frame)
    assert len({id(v) for v in read["status"]}) == 2 and len({id(v) for v in read["account_id"]}) == 3
    assert set(layout.values) >= {"status", "account_id"} and layout.values["status"]["ok"] is read["status"][0]
    assert "payment_id" not in layout.values  # keys do not repeat: made one by one
