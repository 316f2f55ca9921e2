"""SQLite values of every storage class map column by column as they do row by row.

SQLite keeps each value's own type whatever the column is declared as: text,
integers, reals, blobs and NULL can share a column, and a TEXT value can hold
bytes that are not UTF-8 (its row alone is quarantined). The sql adapter reads
SQLite in batches of at most ``_SQLITE_BATCH`` rows and maps them column by
column; the row-by-row reference (``columnar = False``) must give the same
records, the same quarantine entries in the same order and the same counts.
"""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlite_helpers import ACCOUNT_FIELDS, Undecodable

from reconcile.extract import sql
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

COLUMNS = ["account_no", "holder", "status", "opened", "autopay", "method", "born"]
FIELDS = {**ACCOUNT_FIELDS, "birth_date": "born"}

VALUE = st.one_of(
    st.sampled_from([
        None, "", " ", "x", " padded ", "SMITH, ANN", "José ", "\u00a0nbsp", "tab\t", "A", "C", "Z", " a ",
        "2026-01-02", "2026-02-30", "20260102", "2026-01-02T10:00:00", "Y", "N", "maybe", "CARD", "ach", "1", "0",
    ]),
    st.integers(-3, 3) | st.sampled_from([20260102, 2**62]),
    st.sampled_from([0.0, 1.0, 1.5, -2.0, 2026.0]),
    st.sampled_from([b"", b"A", b"\xff"]),  # blobs
    st.sampled_from([b"\xff", b"A\xfe", b"2026-01-02\x80"]).map(Undecodable),
)
KEY = st.sampled_from(["K1", "K2", "K3", "K4", " K2 ", "", None, 1, 1.0, 2.5, b"K1"]) | st.sampled_from([b"\xff"]).map(Undecodable)
# Mostly values each field takes (so a row is not always quarantined for its
# first bad field, which would hide the others), any value now and then.
USUAL = {
    "holder": st.sampled_from(["SMITH, ANN", " LEE ", "José ", None, 7, 2026.0]),
    "status": st.sampled_from(["A", "C", " a ", None, ""]),
    "opened": st.sampled_from(["2026-01-02", "2024-02-29", None, ""]),
    "autopay": st.sampled_from(["Y", "N", " yes ", 1, 0, 1.0, 0.0, None]),
    "method": st.sampled_from(["CARD", " ach ", None, "", 3, 1.5]),
    "born": st.sampled_from(["1980-05-06", "1980-05-06T10:00:00", None]),
}
POOLS = {
    "ints": st.integers(-3, 3) | st.sampled_from([20260102, 2**62, None]),
    "reals": st.sampled_from([0.0, 1.0, 1.5, -2.0, 2026.0, None]),
    "any": VALUE,
}


@st.composite
def tables(draw: Any) -> list[tuple[Any, ...]]:
    """Rows whose columns each hold, for the whole table, the usual values (now and then anything), numbers or anything."""
    pools = [KEY]
    for column in COLUMNS[1:]:
        kind = draw(st.sampled_from(["usual", "usual", "usual", "mixed", "ints", "reals", "any"]))
        pools.append(
            USUAL[column] if kind == "usual" else st.one_of(USUAL[column], VALUE) if kind == "mixed" else POOLS[kind]
        )
    return draw(st.lists(st.tuples(*pools), max_size=40))


def _write(db: Path, rows: list[tuple[Any, ...]]) -> None:
    with sqlite3.connect(db) as conn:
        # Declared TEXT (a number is kept as text) or untyped (every value keeps its class).
        conn.execute("CREATE TABLE accounts (account_no, holder TEXT, status, opened TEXT, autopay, method, born)")
        for row in rows:
            values = [v.raw if isinstance(v, Undecodable) else v for v in row]
            marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, Undecodable) else "?" for v in row)
            conn.execute(f"INSERT INTO accounts VALUES ({marks})", values)
    conn.close()


def _extract(db: Path, columnar: bool, chunk: int) -> Any:
    config = SqlSourceConfig.model_validate({
        "kind": "sql", "url": f"sqlite:///{db}", "chunk_size": chunk, "max_quarantine_fraction": 1.0,
        "streams": {"account": {"table": "accounts", "fields": FIELDS}},
    })
    return type("Sql", (SqlAdapter,), {"columnar": columnar})("billing", config, db.parent).extract()


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=tables(), batch=st.sampled_from([1, 3, 2_000]), chunk=st.sampled_from([2, 10_000]))
@example(  # a number that is no yes/no value, alone in its batch's column of numbers
    rows=[("K1", "SMITH, ANN", "A", "2026-01-02", 2, "CARD", "1980-05-06"),
          ("K2", "LEE, WEI", "C", None, 1, 1.5, None),
          ("K3", 2026.0, None, "2026-01-02", 0.0, None, 19800506)],
    batch=1, chunk=2,
)
@example(  # the same key as text, integer and real; a blob key; an undecodable value mid-batch
    rows=[("1", "A", "A", None, "Y", None, None), (1, "B", "A", None, "N", None, None),
          (1.0, "C", "A", None, "N", None, None), (b"K1", "D", "A", None, None, None, None),
          ("K9", Undecodable(b"\xff"), "A", None, None, None, None), ("K8", "E", "C", None, None, None, None)],
    batch=3, chunk=10_000,
)
def test_sqlite_values_map_as_the_row_by_row_reference(
    rows: list[tuple[Any, ...]], batch: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sql, "_SQLITE_BATCH", batch)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "billing.db"
        _write(db, rows)
        fast = _extract(db, True, chunk)
        slow = _extract(db, False, chunk)
    assert fast.health is not None and fast.health.healthy, fast.health
    assert slow.health is not None
    assert fast.health.model_dump(exclude={"duration_s"}) == slow.health.model_dump(exclude={"duration_s"})
    assert fast.health.rows_read == len(rows) == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    for record, reference in zip(fast.records.get("account", []), slow.records.get("account", []), strict=True):
        assert {k: type(v) for k, v in record.items()} == {k: type(v) for k, v in reference.items()}
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]
    undecodable = [i for i, row in enumerate(rows) if any(isinstance(v, Undecodable) for v in row)]
    assert {f"row {i + 1}" for i in undecodable} <= {q.row.split(" (")[0] for q in fast.quarantine}
