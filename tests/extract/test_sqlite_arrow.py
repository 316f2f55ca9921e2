"""SQLite tables read through ADBC give exactly what sqlite3 gives.

A SQLite table whose selected columns all have TEXT, INTEGER or REAL affinity
is read as Arrow batches by ``adbc-driver-sqlite`` (see
``SqlAdapter._sqlite_arrow``). SQLite still lets a TEXT column hold a BLOB,
text that is not UTF-8, or (in a file whose schema was changed after the rows
were written) an integer or a real, and an INTEGER column text or a BLOB;
the read must give the same records, quarantine and counts as the row-by-row
reference through sqlite3 (``columnar = False``), whatever the batch size.
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

from reconcile.extract import _arrow
from reconcile.extract.base import RawRow, RowBatch
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig, _sqlite_affinity

pytest.importorskip("adbc_driver_sqlite")

COLUMNS = ["account_no", "holder", "status", "opened", "autopay", "method"]
FIELDS = ACCOUNT_FIELDS


TEXT = st.sampled_from([
    None, "", " ", "x", " padded ", "SMITH, ANN", "José ", "\u00a0nbsp", "tab\t", "A", "C", "Z",
    "2026-01-02", "2026-02-30", "Y", "N", "maybe", "CARD", "ach", "1", "nul\x00inside",
])
ODD = st.one_of(
    st.sampled_from([b"", b"A", b"K1", b"\xff", b"2026-01-02"]),  # blobs, decodable or not
    st.sampled_from([b"\xff", b"A\xfe", b"2026-01-02\x80"]).map(Undecodable),
)
NUMBER = st.sampled_from([0, 1, -3, 20260102, 2**62, 0.0, 1.0, 1.5, 2026.0])
KEYS = st.sampled_from(["K1", "K2", "K3", "K4", " K2 ", "", None])


NUMBERS = {
    "INTEGER": st.sampled_from([None, 0, 1, -3, 20260102, 2**62]),
    "REAL": st.sampled_from([None, 0.0, 1.0, 1.5, -2.0, 2026.0]),
}


@st.composite
def tables(draw: Any) -> tuple[list[tuple[Any, ...]], bool, list[str]]:
    """Rows of a table of TEXT, INTEGER and REAL columns, now and then holding a value of another class.

    A TEXT column can hold a BLOB or undecodable text, an INTEGER or REAL one
    text or a BLOB; any column any number when the schema was changed after
    the rows were written.
    """
    retyped = draw(st.booleans())
    declared = [draw(st.sampled_from(["TEXT", "TEXT", "VARCHAR(20)", "INTEGER", "REAL"])) for _ in COLUMNS]
    declared[2] = "TEXT"  # status: the where filter compares it with text
    odd = st.one_of(ODD, NUMBER, TEXT) if retyped else st.one_of(ODD, TEXT)
    pools = []
    for kind in declared:
        usual = NUMBERS.get(kind, TEXT)
        pools.append(st.one_of(usual, usual, usual, odd) if draw(st.booleans()) else usual)
    pools[0] = st.one_of(KEYS, KEYS, pools[0]) if declared[0] in NUMBERS else pools[0] | KEYS
    rows = draw(st.lists(st.tuples(*pools), max_size=30))
    return rows, retyped, declared


def _write(db: Path, rows: list[tuple[Any, ...]], retyped: bool = False, declared: list[str] | None = None) -> None:
    types = declared or ["TEXT"] * len(COLUMNS)
    with sqlite3.connect(db) as conn:
        # Untyped columns keep every value's class; the schema then gets its types,
        # as in a file whose column types were changed after the rows were written.
        columns = [c if retyped else f"{c} {t}" for c, t in zip(COLUMNS, types, strict=True)]
        conn.execute(f"CREATE TABLE accounts ({', '.join(columns)})")
        for row in rows:
            values = [v.raw if isinstance(v, Undecodable) else v for v in row]
            marks = ", ".join("CAST(? AS TEXT)" if isinstance(v, Undecodable) else "?" for v in row)
            conn.execute(f"INSERT INTO accounts VALUES ({marks})", values)
        if retyped:
            conn.execute("PRAGMA writable_schema = ON")
            conn.execute(
                "UPDATE sqlite_master SET sql = ? WHERE name = 'accounts'",
                (f"CREATE TABLE accounts ({', '.join(f'{c} {t}' for c, t in zip(COLUMNS, types, strict=True))})",),
            )
    conn.close()


def _adapter(db: Path, columnar: bool, chunk: int = 10_000, **stream: Any) -> SqlAdapter:
    config = SqlSourceConfig.model_validate({
        "kind": "sql", "url": f"sqlite:///{db}", "chunk_size": chunk, "max_quarantine_fraction": 1.0,
        "streams": {"account": {"table": "accounts", "fields": FIELDS, **stream}},
    })
    return type("Sql", (SqlAdapter,), {"columnar": columnar})("billing", config, db.parent)


def _batches(adapter: SqlAdapter) -> list[RowBatch | RawRow]:
    try:
        return list(adapter.read_batches("account", adapter.config.streams["account"]))
    finally:
        adapter.close()


def _same(db: Path, chunk: int, **stream: Any) -> Any:
    fast = _adapter(db, True, chunk, **stream).extract()
    slow = _adapter(db, False, chunk, **stream).extract()
    assert fast.health is not None and fast.health.healthy, fast.health
    assert slow.health is not None
    assert fast.health.model_dump(exclude={"duration_s"}) == slow.health.model_dump(exclude={"duration_s"})
    assert fast.health.rows_read == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    for record, reference in zip(fast.records.get("account", []), slow.records.get("account", []), strict=True):
        assert {k: type(v) for k, v in record.items()} == {k: type(v) for k, v in reference.items()}
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]
    return fast


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=tables(), chunk=st.sampled_from([1, 2, 3, 10_000]), filtered=st.booleans())
@example(  # a blob key, an undecodable name and a number after the first batch
    table=([("K1", None, "A", None, None, None), (b"K2", "B", "A", None, "Y", None),
            ("K3", Undecodable(b"\xff"), "C", None, None, None), ("K4", "D", 7, "2026-01-02", 1.0, None)], True,
           ["TEXT"] * 6),
    chunk=2, filtered=False,
)
@example(  # text and a real in an INTEGER column, a blob in a REAL one
    table=([("K1", None, "A", None, 1, 1.5), ("K2", "B", "A", None, "yes", b"\x01"), ("K3", "C", "C", None, 2.5, None)],
           False, ["TEXT", "TEXT", "TEXT", "TEXT", "INTEGER", "REAL"]),
    chunk=10_000, filtered=False,
)
def test_tables_read_through_adbc_as_through_sqlite3(
    table: tuple[list[tuple[Any, ...]], bool, list[str]], chunk: int, filtered: bool
) -> None:
    rows, retyped, declared = table
    stream = {"where": [{"column": "status", "op": "!=", "value": "Z"}]} if filtered else {}
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "billing.db"
        _write(db, rows, retyped, declared)
        result = _same(db, chunk, **stream)
        batches = _batches(_adapter(db, True, chunk, **stream))
        with sqlite3.connect(db) as conn:
            classes = conn.execute(f"SELECT {', '.join(f'typeof({c})' for c in COLUMNS)} FROM accounts").fetchall()
        conn.close()
    kept = [r for r in rows if r[2] != "Z"] if filtered else rows
    if not filtered:
        assert result.health.rows_read == len(rows)
    # Every row is there, in order; batches of plain text stay Arrow tables.
    assert sum(len(b.rows) if isinstance(b, RowBatch) else 1 for b in batches) == len(
        [r for r in kept if not filtered or r[2] is not None]
    )
    # Batches are Arrow tables but where a row holds a value of another class (or undecodable text).
    expected = {kind: {"null", c} for kind, c in (("TEXT", "text"), ("VARCHAR(20)", "text"), ("INTEGER", "integer"),
                                                   ("REAL", "real"))}
    usual = all(c in expected[t] for row in classes for c, t in zip(row, declared, strict=True))
    plain = [b for b in batches if isinstance(b, RowBatch) and isinstance(b.rows, _arrow.ArrowRows)]
    if usual and not any(isinstance(v, Undecodable) for r in rows for v in r):
        assert len(plain) == len(batches)


def test_the_path_taken(tmp_path: Path) -> None:
    rows = [("K1", "SMITH, ANN", "A", "2026-01-02", "Y", "CARD"), ("K2", None, None, None, None, None)]
    _write(tmp_path / "billing.db", rows)
    db = tmp_path / "billing.db"
    assert all(isinstance(b, RowBatch) and isinstance(b.rows, _arrow.ArrowRows) for b in _batches(_adapter(db, True)))
    # Read through sqlite3: row by row, with arrow: false, with a statement timeout (sqlite3's progress handler).
    for adapter in (
        _adapter(db, False),
        SqlAdapter("billing", SqlSourceConfig.model_validate({
            "kind": "sql", "url": f"sqlite:///{db}", "arrow": False,
            "streams": {"account": {"table": "accounts", "fields": FIELDS}}})),
        SqlAdapter("billing", SqlSourceConfig.model_validate({
            "kind": "sql", "url": f"sqlite:///{db}", "statement_timeout": 30,
            "streams": {"account": {"table": "accounts", "fields": FIELDS}}})),
    ):
        assert not any(isinstance(b, RowBatch) and isinstance(b.rows, _arrow.ArrowRows) for b in _batches(adapter))
    _same(db, 1)


@pytest.mark.parametrize(
    "schema",
    [
        "CREATE TABLE accounts (account_no TEXT, holder TEXT, status TEXT, opened TEXT, autopay, method TEXT)",
        "CREATE TABLE accounts (account_no TEXT, holder TEXT, status TEXT, opened DATE, autopay TEXT, method TEXT)",
        "CREATE TABLE accounts (account_no TEXT PRIMARY KEY, holder TEXT, status TEXT, opened TEXT, autopay TEXT, "
        "method TEXT) WITHOUT ROWID",
        "CREATE TABLE accounts (account_no TEXT, holder TEXT, status TEXT, opened TEXT, autopay TEXT, method TEXT, "
        "rowid TEXT, _rowid_ TEXT, oid TEXT)",
        "CREATE TABLE base (account_no TEXT, holder TEXT, status TEXT, opened TEXT, autopay TEXT, method TEXT); "
        "CREATE VIEW accounts AS SELECT * FROM base",
    ],
    ids=["untyped column", "numeric affinity", "without rowid", "rowid names taken", "view"],
)
def test_tables_adbc_cannot_read_exactly_go_through_sqlite3(tmp_path: Path, schema: str) -> None:
    db = tmp_path / "billing.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(schema)
        target = "base" if "VIEW" in schema else "accounts"
        conn.executemany(
            f"INSERT INTO {target} (account_no, holder, status, opened, autopay, method) VALUES (?, ?, ?, ?, ?, ?)",
            [("K1", "SMITH, ANN", "A", "2026-01-02", 1, "CARD"), ("K2", "LEE", "C", None, "N", None)],
        )
    conn.close()
    assert not any(isinstance(b, RowBatch) and isinstance(b.rows, _arrow.ArrowRows) for b in _batches(_adapter(db, True)))
    result = _same(db, 1)
    assert [r["account_id"] for r in result.records["account"]] == ["K1", "K2"]


def test_a_rowid_column_name_taken_uses_another(tmp_path: Path) -> None:
    db = tmp_path / "billing.db"
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE accounts ({', '.join(c + ' TEXT' for c in COLUMNS)}, rowid TEXT)")
        conn.execute("INSERT INTO accounts VALUES ('K1', 'A', 'A', NULL, 'Y', NULL, 'not a rowid')")
        conn.execute("INSERT INTO accounts VALUES ('K2', CAST(x'ff' AS BLOB), 'A', NULL, 'Y', NULL, '7')")
    conn.close()
    batches = _batches(_adapter(db, True, 1))
    assert isinstance(batches[0], RowBatch) and isinstance(batches[0].rows, _arrow.ArrowRows)
    # The BLOB's row is read again by _rowid_ (by the column named rowid it would not be found).
    result = _same(db, 1)
    assert result.health.rows_read == 2 == result.health.rows_used + result.health.rows_quarantined


def test_columns_of_nulls_before_text_and_an_odd_path(tmp_path: Path) -> None:
    """A column that is NULL in the whole first batch is still text; a path that needs quoting in a URI."""
    folder = tmp_path / "a dir #1 é"
    folder.mkdir()
    db = folder / "billing.db"
    rows = [(f"K{i}", None, None, None, None, None) for i in range(5)] + [("K9", "LEE, WEI", "A", "2026-01-02", "Y", "ach")]
    _write(db, rows)
    result = _same(db, 2)
    assert result.records["account"][-1]["name"] == "LEE, WEI"
    assert result.records["account"][-1]["autopay_method"] == "ach"


@pytest.mark.parametrize(
    ("declared", "affinity"),
    [("TEXT", "TEXT"), ("VARCHAR(40)", "TEXT"), ("nchar", "TEXT"), ("CLOB", "TEXT"), ("INTEGER", "INTEGER"),
     ("CHARINT", "INTEGER"), ("", "BLOB"), ("BLOB", "BLOB"), ("DOUBLE", "REAL"), ("FLOATING POINT", "INTEGER"),
     ("STRING", "NUMERIC"), ("DATE", "NUMERIC")],
)
def test_affinity_is_sqlites(tmp_path: Path, declared: str, affinity: str) -> None:
    assert _sqlite_affinity(declared) == affinity
    # The rule as SQLite applies it: a number written to the column is kept as text only with TEXT affinity.
    with sqlite3.connect(tmp_path / "a.db") as conn:
        conn.execute(f"CREATE TABLE t (c {declared})")
        conn.execute("INSERT INTO t VALUES (12)")
        stored = conn.execute("SELECT typeof(c) FROM t").fetchone()[0]
    conn.close()
    assert (stored == "text") == (affinity == "TEXT")
