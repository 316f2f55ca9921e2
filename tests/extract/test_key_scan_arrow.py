"""A key scan of Arrow batches keeps plain-text keys as Arrow text, with the keys the row-by-row reference finds.

A key scan reads every key of a stream (a SQL table's key columns, or a
file's keys in the night's read of it). When the key is plain text read as
Arrow text, the keys are filtered in Arrow (nulls, empty texts, soft-deleted
rows left out) and kept as they are: only a text that may need stripping
becomes a Python string. The row-by-row reference (``columnar = False``)
must find the same keys.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract.base import Adapter, ExtractResult
from reconcile.extract.files import CsvAdapter, CsvSourceConfig
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig
from reconcile.incremental import ScannedKeys

UTC = dt.UTC
SINCE = dt.datetime(2026, 1, 15, tzinfo=UTC)
FIELDS = {"account_id": "id", "name": "name"}
KEYS = st.sampled_from(["K1", "K2", "K3", " K2 ", "K4 ", "\u00a0K5", "", " ", None, "straße", "a\x00b"])
DELETED = st.sampled_from([None, "", "Y", "N", " TRUE ", "deleted", "0", "1"])


def _extract(adapter_class: type[Adapter], config: Any, base: Path, columnar: bool) -> ExtractResult:
    adapter = type("Columnar" if columnar else "Reference", (adapter_class,), {"columnar": columnar})(
        "src", config, base
    )
    return adapter.extract(since={"account": SINCE}, scan_keys=["account"])


def _sqlite(path: Path, rows: list[tuple[Any, ...]], deleted_type: str) -> None:
    with sqlite3.connect(path) as conn:
        # Declared types: a table of TEXT columns is read through ADBC, as Arrow batches.
        conn.execute(f"CREATE TABLE accounts (id TEXT, name TEXT, upd TEXT, del {deleted_type})")
        conn.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?)", rows)
    conn.close()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.tuples(KEYS, st.sampled_from(["N", ""]), st.sampled_from(["2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"]), DELETED), max_size=40),
    chunk=st.sampled_from([3, 1000]),
    with_deleted=st.booleans(),
    integer_flags=st.booleans(),
)
def test_sqlite_key_scans_keep_arrow_keys_as_the_reference_finds_them(
    rows: list[tuple[Any, ...]], chunk: int, with_deleted: bool, integer_flags: bool
) -> None:
    if integer_flags:  # a soft-delete column of integers (0 and 1), read by distinct value from Arrow
        rows = [(key, name, upd, None if flag is None else int(flag in ("Y", "1"))) for key, name, upd, flag in rows]
    stream: dict[str, Any] = {"table": "accounts", "fields": FIELDS, "cursor": {"column": "upd"}}
    if with_deleted:
        stream["deleted"] = {"column": "del", "values": ["y", "true", "deleted", "1"]}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "billing.db"
        _sqlite(db, rows, "INTEGER" if integer_flags else "TEXT")
        config = SqlSourceConfig.model_validate({
            "kind": "sql", "url": f"sqlite:///{db}", "chunk_size": chunk, "max_quarantine_fraction": 1.0,
            "streams": {"account": stream},
        })
        fast = _extract(SqlAdapter, config, db.parent, True)
        slow = _extract(SqlAdapter, config, db.parent, False)
    assert fast.health is not None and slow.health is not None
    assert fast.health.healthy == slow.health.healthy
    assert fast.scanned_keys == slow.scanned_keys
    # The keys themselves: every stripped, non-blank key of a row not deleted.
    gone = {"y", "true", "deleted", "1"} if with_deleted else set()
    expected = {
        key.strip() for key, _, _, flag in rows
        if key is not None and key.strip() and (flag is None or str(flag).strip().lower() not in gone)
    }
    if fast.health.healthy:
        assert fast.scanned_keys == {"account": expected}


@pytest.mark.parametrize("where", ["sqlite", "csv"])
def test_only_keys_that_may_need_stripping_become_python_strings(
    tmp_path: Path, where: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3,000 keys, 3 of them padded: the scan hands 3 Python strings to ScannedKeys, the rest stay Arrow text."""
    keys = [f"K{i}" for i in range(3000)]
    for i in (5, 1201, 2999):
        keys[i] = f" K{i} "
    deleted = ["Y" if i % 10 == 0 else "N" for i in range(3000)]
    if where == "sqlite":
        path = tmp_path / "billing.db"
        _sqlite(path, [(k, "N", "2026-01-01T00:00:00Z", d) for k, d in zip(keys, deleted, strict=True)], "TEXT")
        config: Any = SqlSourceConfig.model_validate({
            "kind": "sql", "url": f"sqlite:///{path}", "chunk_size": 500,
            "streams": {"account": {"table": "accounts", "fields": FIELDS, "cursor": {"column": "upd"},
                                    "deleted": {"column": "del"}}},
        })
        adapter_class: type[Adapter] = SqlAdapter
    else:
        path = tmp_path / "accounts.csv"
        path.write_text("id,name,upd,del\n" + "".join(
            f"{k},N,2026-01-01T00:00:00Z,{d}\n" for k, d in zip(keys, deleted, strict=True)
        ), encoding="utf-8")
        config = CsvSourceConfig.model_validate({
            "kind": "csv",
            "streams": {"account": {"path": path.name, "fields": FIELDS, "cursor": {"column": "upd"},
                                    "deleted": {"column": "del"}}},
        })
        adapter_class = CsvAdapter
    slow = _extract(adapter_class, config, tmp_path, False)
    as_python: list[str] = []
    update = ScannedKeys.update

    def spy(self: ScannedKeys, batch: Any) -> None:
        batch = list(batch)
        as_python.extend(batch)
        update(self, batch)

    monkeypatch.setattr(ScannedKeys, "update", spy)
    fast = _extract(adapter_class, config, tmp_path, True)
    assert fast.scanned_keys == slow.scanned_keys
    assert fast.scanned_keys == {"account": {k.strip() for i, k in enumerate(keys) if i % 10}}
    assert sorted(as_python) == ["K1201", "K2999", "K5"]
