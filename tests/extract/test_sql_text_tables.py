"""Tables of text columns: on PostgreSQL and SQLite read through ADBC as Arrow batches, with the same result.

When every column a PostgreSQL read gives is text, or every column of a
SQLite table has TEXT affinity, the sql adapter reads it through the ADBC
driver (Arrow batches, decoded in C/C++) and maps the columns without a
Python list per value. The row-by-row reference (``columnar = False``) reads
through psycopg or sqlite3; both must give the same records and the same
quarantine, on every backend (SQLite's own cases: test_sqlite_arrow.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract import _arrow
from reconcile.extract.base import RowBatch
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

COLUMNS = ["account_no", "holder", "business", "status", "opened", "autopay", "method"]
FIELDS = {
    "account_id": "account_no",
    "name": "holder",
    "company": "business",
    "status": {"column": "status", "map": {"A": "active", "C": "closed"}},
    "opened_at": {"column": "opened", "format": "%Y-%m-%d"},
    "autopay": {"column": "autopay", "transform": "bool"},
    "autopay_method": {"column": "method", "transform": "lower", "default": "none"},
}
TEXT = st.sampled_from([
    None, "", " ", "x", " padded ", "SMITH, ANN", "José ", "\u00a0nbsp", "tab\t", "A", "C", "Z",
    "2026-01-02", "2026-02-30", "Y", "N", "maybe", "CARD", "ach",
])
ROWS = st.lists(
    st.tuples(st.sampled_from(["K1", "K2", "K3", "K4", " K5 ", "", None]), *[TEXT] * (len(COLUMNS) - 1)),
    max_size=30,
)


def _write(url: str, rows: list[tuple[Any, ...]]) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table("accounts", meta, *[sa.Column(c, sa.String(40)) for c in COLUMNS])
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        if rows:
            conn.execute(table.insert(), [dict(zip(COLUMNS, row, strict=True)) for row in rows])
    engine.dispose()


def _adapter(url: str, base_dir: Path, columnar: bool) -> SqlAdapter:
    config = SqlSourceConfig.model_validate({
        "kind": "sql", "url": url, "chunk_size": 7, "max_quarantine_fraction": 1.0,
        "streams": {"account": {"table": "accounts", "fields": FIELDS}},
    })
    return type("Sql", (SqlAdapter,), {"columnar": columnar})("billing", config, base_dir)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(rows=ROWS)
def test_text_tables_map_as_the_row_by_row_reference(db_url: str, tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    _write(db_url, rows)
    fast = _adapter(db_url, tmp_path, columnar=True).extract()
    slow = _adapter(db_url, tmp_path, columnar=False).extract()
    assert fast.health is not None and fast.health.healthy, fast.health
    assert fast.health.rows_read == len(rows) == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]
    frame = fast.frame("account")
    assert list(frame["account_id"]) == [r["account_id"] for r in slow.records.get("account", [])]


def test_text_tables_come_as_arrow_batches(db_url: str, tmp_path: Path) -> None:
    if not db_url.startswith(("postgresql", "sqlite")):
        pytest.skip("ADBC is used on PostgreSQL and SQLite only")
    pytest.importorskip("adbc_driver_postgresql" if db_url.startswith("postgresql") else "adbc_driver_sqlite")
    _write(db_url, [("K1", "SMITH, ANN", None, "A", "2026-01-02", "Y", "CARD"),
                    ("K2", " LEE, WEI ", "", "Z", "2026-01-02", "N", None)])
    adapter = _adapter(db_url, tmp_path, columnar=True)
    batches = list(adapter.read_batches("account", adapter.config.streams["account"]))
    adapter.close()
    assert batches and all(isinstance(b, RowBatch) and isinstance(b.rows, _arrow.ArrowRows) for b in batches)
    result = _adapter(db_url, tmp_path, columnar=True).extract()
    assert [r["name"] for r in result.records["account"]] == ["SMITH, ANN"]
    assert [(q.row, q.field) for q in result.quarantine] == [("row 2 (key 'K2')", "status")]
    assert result.quarantine[0].raw == {"account_no": "K2", "holder": " LEE, WEI ", "business": "", "status": "Z",
                                        "opened": "2026-01-02", "autopay": "N", "method": None}


def test_whitespace_table_matches_python() -> None:
    """The bytes that may start or end whitespace are those of every character str.strip removes."""
    assert [c for c in range(0x110000) if chr(c).isspace()] == list(_arrow.WHITESPACE)
