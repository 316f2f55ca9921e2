"""Incremental streams read column by column give what reading them row by row gives.

A stream with a ``cursor`` or a soft-delete ``deleted`` column is read a batch
at a time (the cursor column read once per distinct value, older rows
skipped, deleted rows taken out, the rest mapped column by column). The
row-by-row reference (``columnar = False``) must give the same used rows in
the same order, the same quarantine entries in the same order, the same
counts (``rows_skipped`` too), the same highest cursor, the same deleted keys
and, for a key scan, the same keys.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract import files
from reconcile.extract.base import Adapter, ExtractResult
from reconcile.extract.files import CsvAdapter, CsvSourceConfig, JsonlAdapter, JsonlSourceConfig
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

FIELDS = {
    "account_id": "id",
    "name": "name",
    "status": {"column": "st", "map": {"A": "active", "C": "closed"}},  # Z: not in the table
    "opened_at": {"column": "day", "format": "%Y-%m-%d"},
}
UTC = dt.UTC
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

# Cursor texts per cursor type: the epoch, 0, equal moments written
# differently, blanks, text that is no cursor at all.
CURSOR_TEXT = {
    "timestamp": [
        "1970-01-01T00:00:00Z", "1970-01-01T00:00:00+00:00", "1969-12-31T23:59:59Z", "0", "",
        "  ", "2026-01-01T00:00:00Z", "2026-01-01 00:00:00", "2026-01-01T01:00:00+01:00",
        "2026-06-01T12:00:00", "2026-13-01T00:00:00", "soon", " 2026-06-01T12:00:00 ",
        # UTC to the second, the shape read in Arrow, and near misses of it.
        "2026-06-01T12:00:00Z", "2026-06-01T11:59:59Z", "2026-06-01T12:00:01Z", "2026-02-30T00:00:00Z",
        "2026-06-01T12:00:60Z", "2026-06-01T24:00:00Z", "0999-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "1899-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z", "2026-6-01T12:00:00Z", "2026-06-01T12:00:00z", "2026-06-01T12:00:00.5Z",
        "2026-04-31T23:59:59Z", "2026-06-01T12:60:00Z", "2024-02-29T12:00:00Z", "2026-06-01T12:00:00Z ",
    ],
    "integer": ["0", "00", "1", " 5 ", "5", "-1", "", "x", "1.0", "99999999999999999999"],
    "string": ["", "a", "m", "m ", "z", "0", " "],
}
SINCE: dict[str, list[Any]] = {
    "timestamp": [
        None, EPOCH, dt.datetime(2026, 1, 1, tzinfo=UTC), dt.datetime(2026, 6, 1, 12, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 11, 59, 59, 500_000, tzinfo=UTC),
        dt.datetime(2026, 6, 1, 13, tzinfo=dt.timezone(dt.timedelta(hours=1))),
    ],
    "integer": [None, 0, 1, 5],
    "string": [None, "", "m"],
}
# JSON values beside the texts: numbers (a timestamp cursor reads them as
# seconds since the epoch: 0 is the epoch), booleans, null.
CURSOR_JSON = [None, 0, 0.0, 1, 5, 1.5, True, False, 1767225600, -1.0]
DELETED_TEXT = ["", "Y", "N", "deleted", " TRUE ", "0", "1", "no"]
DELETED_JSON = [None, True, False, 0, 1, 1.0]
KEYS = ["K1", "K2", "K3", " K2 ", "", "K4"]


@st.composite
def streams(draw: Any, json_values: bool) -> tuple[list[dict[str, Any]], dict[str, Any], Any]:
    """Rows (column -> value), the stream's incremental settings and the stored cursor."""
    kind = draw(st.sampled_from(["timestamp", "integer", "string"]))
    with_cursor = draw(st.booleans())
    with_deleted = draw(st.booleans()) or not with_cursor
    cursor_values = st.sampled_from(CURSOR_TEXT[kind])
    deleted_values = st.sampled_from(DELETED_TEXT)
    if json_values:
        cursor_values = cursor_values | st.sampled_from(CURSOR_JSON)
        deleted_values = deleted_values | st.sampled_from(DELETED_JSON)
    rows = draw(st.lists(
        st.fixed_dictionaries({
            "id": st.sampled_from(KEYS),
            "name": st.sampled_from(["SMITH, ANN", " LEE ", ""]),
            "st": st.sampled_from(["A", "C", "Z", ""]),
            "day": st.sampled_from(["2024-01-02", "2024-02-30", ""]),
            "upd": cursor_values,
            "del": deleted_values,
        }),
        max_size=40,
    ))
    incremental: dict[str, Any] = {}
    if with_cursor:
        incremental["cursor"] = {"column": "upd", "type": kind}
    if with_deleted:
        incremental["deleted"] = {"column": "del", "values": ["y", "true", "deleted", "1"]}
    since = draw(st.sampled_from(SINCE[kind])) if with_cursor else None
    return rows, incremental, since


def _extract(adapter_class: type[Adapter], config: Any, base: Path, columnar: bool, since: Any) -> ExtractResult:
    adapter = type("Reference" if not columnar else "Columnar", (adapter_class,), {"columnar": columnar})(
        "src", config, base
    )
    since_map = {"account": since} if since is not None else {}
    return adapter.extract(since=since_map, scan_keys=["account"])


def same(fast: ExtractResult, slow: ExtractResult) -> None:
    assert fast.health is not None and slow.health is not None
    assert fast.health.model_dump(exclude={"duration_s"}) == slow.health.model_dump(exclude={"duration_s"})
    assert fast.health.rows_read == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]
    assert fast.cursors == slow.cursors
    assert {k: type(v) for k, v in fast.cursors.items()} == {k: type(v) for k, v in slow.cursors.items()}
    assert fast.deleted == slow.deleted
    assert fast.scanned_keys == slow.scanned_keys


SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(stream=streams(json_values=False), block=st.sampled_from([32, 128, 1 << 20]))
def test_csv_incremental_streams_read_column_by_column_as_row_by_row(
    stream: tuple[list[dict[str, Any]], dict[str, Any], Any], block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows, incremental, since = stream
    monkeypatch.setattr(files, "_BLOCK", block)  # several Arrow blocks, and csv-module ones
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.csv"
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["id", "name", "st", "day", "upd", "del"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(text.getvalue(), encoding="utf-8")
        config = CsvSourceConfig.model_validate({
            "kind": "csv", "max_quarantine_fraction": 1.0,
            "streams": {"account": {"path": path.name, "fields": FIELDS, **incremental}},
        })
        fast = _extract(CsvAdapter, config, path.parent, True, since)
        slow = _extract(CsvAdapter, config, path.parent, False, since)
    assert fast.health is not None and fast.health.healthy, fast.health
    assert fast.health.rows_read + fast.health.rows_skipped == len(rows)
    same(fast, slow)


@SETTINGS
@given(stream=streams(json_values=True))
def test_jsonl_incremental_streams_read_column_by_column_as_row_by_row(
    stream: tuple[list[dict[str, Any]], dict[str, Any], Any],
) -> None:
    rows, incremental, since = stream
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        config = JsonlSourceConfig.model_validate({
            "kind": "jsonl", "max_quarantine_fraction": 1.0,
            "streams": {"account": {"path": path.name, "fields": FIELDS, **incremental}},
        })
        fast = _extract(JsonlAdapter, config, path.parent, True, since)
        slow = _extract(JsonlAdapter, config, path.parent, False, since)
    assert fast.health is not None
    if fast.health.healthy:
        assert fast.health.rows_read + fast.health.rows_skipped == len(rows)
    same(fast, slow)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(stream=streams(json_values=True), chunk=st.sampled_from([3, 1000]))
def test_sqlite_incremental_streams_read_column_by_column_as_row_by_row(
    stream: tuple[list[dict[str, Any]], dict[str, Any], Any], chunk: int
) -> None:
    rows, incremental, since = stream
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "billing.db"
        with sqlite3.connect(db) as conn:
            # No declared types: every value keeps its own (text, integer, real, null).
            conn.execute("CREATE TABLE accounts (id, name, st, day, upd, del)")
            conn.executemany(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, ?)",
                [tuple(row[c] for c in ("id", "name", "st", "day", "upd", "del")) for row in rows],
            )
        conn.close()
        config = SqlSourceConfig.model_validate({
            "kind": "sql", "url": f"sqlite:///{db}", "chunk_size": chunk, "max_quarantine_fraction": 1.0,
            "streams": {"account": {"table": "accounts", "fields": FIELDS, **incremental}},
        })
        fast = _extract(SqlAdapter, config, db.parent, True, since)
        slow = _extract(SqlAdapter, config, db.parent, False, since)
    same(fast, slow)


def test_cursor_edge_cases_in_one_file(tmp_path: Path) -> None:
    """The epoch, 0, a blank, equal moments written differently: what each row comes to."""
    path = tmp_path / "accounts.csv"
    path.write_text(
        "id,name,st,day,upd\n"
        "K1,A,A,2024-01-02,1970-01-01T00:00:00Z\n"        # the epoch: at the cursor, read
        "K2,B,A,2024-01-02,1969-12-31T23:59:59Z\n"        # before it: skipped
        "K3,C,A,2024-01-02,0\n"                           # no timestamp: quarantined
        "K4,D,A,2024-01-02,\n"                            # no cursor: read, never skipped
        "K5,E,A,2024-01-02,2026-01-01T01:00:00+01:00\n"   # = 2026-01-01T00:00Z
        "K6,F,A,2024-01-02,2026-01-01 00:00:00\n"         # the same moment, the highest
        "K1,G,A,2024-01-02,2026-01-01T00:00:00Z\n",       # a repeated key: quarantined
        encoding="utf-8",
    )
    config = CsvSourceConfig.model_validate({
        "kind": "csv", "max_quarantine_fraction": 1.0,
        "streams": {"account": {"path": path.name, "fields": FIELDS, "cursor": {"column": "upd"}}},
    })
    fast = _extract(CsvAdapter, config, tmp_path, True, EPOCH)
    slow = _extract(CsvAdapter, config, tmp_path, False, EPOCH)
    same(fast, slow)
    assert [r["account_id"] for r in fast.records["account"]] == ["K1", "K4", "K5", "K6"]
    assert [(q.row, q.field, q.reason.split(":")[0]) for q in fast.quarantine] == [
        ("line 4", "upd", "cursor column unreadable"),
        ("line 8 (key 'K1')", "account_id", "duplicate key 'K1'"),
    ]
    assert fast.health is not None
    assert (fast.health.rows_read, fast.health.rows_skipped, fast.health.rows_quarantined) == (6, 1, 2)
    assert fast.cursors == {"account": dt.datetime(2026, 1, 1, tzinfo=UTC)}
    assert fast.scanned_keys == {"account": {"K1", "K2", "K3", "K4", "K5", "K6"}}


def test_incremental_rows_are_not_read_one_by_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A clean incremental file goes column by column: no row is handed to the row-by-row path."""
    from reconcile.extract import base

    path = tmp_path / "accounts.csv"
    lines = [f"K{i},N{i},A,2024-01-02,2026-01-{1 + i % 28:02d}T00:00:00Z,{'Y' if i % 10 == 0 else 'N'}"
             for i in range(3000)]
    path.write_text("id,name,st,day,upd,del\n" + "\n".join(lines) + "\n", encoding="utf-8")
    config = CsvSourceConfig.model_validate({
        "kind": "csv",
        "streams": {"account": {"path": path.name, "fields": FIELDS, "cursor": {"column": "upd"},
                                "deleted": {"column": "del"}}},
    })

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a row was read row by row")

    monkeypatch.setattr(base._StreamExtraction, "one", refuse)
    result = CsvAdapter("src", config, tmp_path).extract(since={"account": dt.datetime(2026, 1, 15, tzinfo=UTC)})
    assert result.health is not None and result.health.healthy, result.health
    expected = [i for i in range(3000) if 1 + i % 28 >= 15]
    assert result.health.rows_skipped == 3000 - len(expected)
    assert [r["account_id"] for r in result.records["account"]] == [f"K{i}" for i in expected if i % 10]
    assert result.deleted == {"account": {f"K{i}" for i in expected if i % 10 == 0}}
    assert result.cursors == {"account": dt.datetime(2026, 1, 28, tzinfo=UTC)}


#: The cursor texts of CURSOR_TEXT["timestamp"] written UTC to the second: settled in Arrow, never one by one.
CANONICAL_UTC_TEXT = {"2026-01-01T00:00:00Z", "2026-06-01T12:00:00Z", "2026-06-01T11:59:59Z", "2026-06-01T12:00:01Z",
                      "1970-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z", "2024-02-29T12:00:00Z"}


@pytest.mark.parametrize("since", SINCE["timestamp"])
def test_utc_timestamps_read_in_arrow_as_row_by_row(tmp_path: Path, since: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cursor texts UTC to the second are read in Arrow; the rest (near misses too) one by one, as the reference reads them."""
    from reconcile.extract import base

    texts = CURSOR_TEXT["timestamp"] * 3  # blocks of several values
    path = tmp_path / "accounts.csv"
    path.write_text(
        "id,name,st,day,upd\n" + "".join(f"K{i},N,A,2024-01-02,{text}\n" for i, text in enumerate(texts)),
        encoding="utf-8",
    )
    config = CsvSourceConfig.model_validate({
        "kind": "csv", "max_quarantine_fraction": 1.0,
        "streams": {"account": {"path": path.name, "fields": FIELDS, "cursor": {"column": "upd"}}},
    })
    slow = _extract(CsvAdapter, config, tmp_path, False, since)
    one_by_one: list[Any] = []
    read = base._CursorValues.read
    monkeypatch.setattr(base._CursorValues, "read", lambda self, value: one_by_one.append(value) or read(self, value))
    fast = _extract(CsvAdapter, config, tmp_path, True, since)
    same(fast, slow)
    canonical = CANONICAL_UTC_TEXT
    assert canonical.isdisjoint(one_by_one)
    assert set(one_by_one) <= {text for text in texts if text not in canonical}


@pytest.mark.parametrize("adapter_class", [CsvAdapter, JsonlAdapter])
def test_a_key_scan_of_a_file_reads_it_once(tmp_path: Path, adapter_class: type[Adapter], monkeypatch: pytest.MonkeyPatch) -> None:
    """A file is read whole anyway: the key scan collects its keys in the same read, as a read of its own finds them."""
    rows = [{"id": f"K{i}", "name": "N", "st": "A", "day": "2024-01-02",
             "upd": f"2026-01-{1 + i % 28:02d}T00:00:00Z", "del": "Y" if i % 7 == 0 else ""} for i in range(300)]
    rows += [{"id": "", "name": "N", "st": "A", "day": "x", "upd": "2026-01-20T00:00:00Z", "del": ""}]
    if adapter_class is CsvAdapter:
        path = tmp_path / "accounts.csv"
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        path.write_text(text.getvalue(), encoding="utf-8")
        config_class: Any = CsvSourceConfig
    else:
        path = tmp_path / "accounts.jsonl"
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        config_class = JsonlSourceConfig
    config = config_class.model_validate({
        "kind": adapter_class.kind, "max_quarantine_fraction": 1.0,
        "streams": {"account": {"path": path.name, "fields": FIELDS, "cursor": {"column": "upd"},
                                "deleted": {"column": "del"}}},
    })
    since = dt.datetime(2026, 1, 15, tzinfo=UTC)
    slow = _extract(adapter_class, config, tmp_path, False, since)
    reads: list[str] = []
    read_batches = adapter_class.read_batches
    monkeypatch.setattr(adapter_class, "read_batches",
                        lambda self, record_type, stream: reads.append(record_type) or read_batches(self, record_type, stream))
    fast = _extract(adapter_class, config, tmp_path, True, since)
    same(fast, slow)
    assert reads == ["account"]
    assert fast.scanned_keys == {"account": {f"K{i}" for i in range(300) if i % 7}}


@pytest.mark.parametrize("since", SINCE["timestamp"])
def test_utc_timestamps_of_rows_read_as_python_values_read_in_arrow_as_row_by_row(
    tmp_path: Path, since: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query's rows come as tuples of Python values: their cursor text is settled in Arrow all the same."""
    from reconcile.extract import base

    texts = CURSOR_TEXT["timestamp"] * 3
    db = tmp_path / "billing.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE accounts (id TEXT, name TEXT, st TEXT, day TEXT, upd)")
        conn.executemany("INSERT INTO accounts VALUES (?, 'N', 'A', '2024-01-02', ?)",
                         [(f"K{i}", text) for i, text in enumerate(texts)] + [("K-none", None), ("K-int", 5)])
    conn.close()
    config = SqlSourceConfig.model_validate({
        "kind": "sql", "url": f"sqlite:///{db}", "chunk_size": 16, "max_quarantine_fraction": 1.0,
        "streams": {"account": {"query": "SELECT * FROM accounts ORDER BY rowid", "fields": FIELDS,
                                "cursor": {"column": "upd"}}},
    })
    slow = _extract(SqlAdapter, config, tmp_path, False, since)
    one_by_one: list[Any] = []
    read = base._CursorValues.read
    monkeypatch.setattr(base._CursorValues, "read", lambda self, value: one_by_one.append(value) or read(self, value))
    fast = _extract(SqlAdapter, config, tmp_path, True, since)
    same(fast, slow)
    canonical = CANONICAL_UTC_TEXT
    # The last batch (16 rows), holding an integer, goes one by one; the others only where Arrow cannot tell.
    last = set(texts[len(texts) + 2 - 16 :])
    assert canonical & set(map(str, one_by_one)) <= last
    assert 5 in one_by_one and len(one_by_one) < len(texts)
