"""The sql adapter against SQLite, PostgreSQL and MariaDB (real servers)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

FIELDS = {
    "account_id": "account_no",
    "name": "holder",
    "autopay": "autopay",
    "opened_at": "opened",
    "status": {"column": "status", "map": {"A": "active", "C": "closed"}},
}


def _populate(url: str) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "accounts",
        meta,
        sa.Column("account_no", sa.String(20)),
        sa.Column("holder", sa.String(100)),
        sa.Column("autopay", sa.String(1)),
        sa.Column("opened", sa.Date),
        sa.Column("status", sa.String(1)),
    )
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {"account_no": "AC-1", "holder": "SMITH, ROBERT", "autopay": "Y",
                 "opened": dt.date(2024, 1, 2), "status": "A"},
                {"account_no": "AC-2", "holder": "LEE, ANN", "autopay": "N",
                 "opened": dt.date(2023, 5, 6), "status": "C"},
                {"account_no": "AC-3", "holder": "BAD, CODE", "autopay": "Y",
                 "opened": None, "status": "X"},
                {"account_no": "AC-1", "holder": "DUPLICATE", "autopay": "Y",
                 "opened": None, "status": "A"},
            ],
        )
    engine.dispose()


def _adapter(url: str, base_dir: Path, **stream: object) -> SqlAdapter:
    stream = stream or {"table": "accounts"}
    config = SqlSourceConfig.model_validate(
        {"kind": "sql", "url": url, "chunk_size": 2, "streams": {"account": {**stream, "fields": FIELDS}}}
    )
    return SqlAdapter("billing", config, base_dir)


def test_table_is_read_mapped_and_bad_rows_quarantined(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path).extract()
    health = result.health
    assert health is not None and health.healthy, health
    records = sorted(result.records["account"], key=lambda r: r["account_id"])
    assert [(r["account_id"], r["status"], r["autopay"]) for r in records] == [
        ("AC-1", "active", True),
        ("AC-2", "closed", False),
    ]
    assert records[0]["opened_at"] == dt.date(2024, 1, 2)
    assert health.rows_read == 4
    assert health.rows_used + health.rows_quarantined == health.rows_read
    reasons = sorted((q.field, q.reason.split(":")[0]) for q in result.quarantine)
    assert reasons == [("account_id", "duplicate key 'AC-1'"), ("status", "code 'X' is not in the code table (a, c)")]


def test_read_only_query(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path, query="SELECT * FROM accounts WHERE status = 'C'").extract()
    assert [r["account_id"] for r in result.records["account"]] == ["AC-2"]


def test_missing_table_is_a_source_error(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path, table="no_such_table").extract()
    assert result.health is not None and not result.health.healthy
    assert "no_such_table" in (result.health.error or "")


def test_relative_sqlite_path_and_missing_file(tmp_path: Path) -> None:
    _populate(f"sqlite:///{tmp_path / 'billing.db'}")
    result = _adapter("sqlite:///billing.db", tmp_path).extract()
    assert len(result.records["account"]) == 2
    missing = _adapter("sqlite:///nope.db", tmp_path).extract()
    assert missing.health is not None and not missing.health.healthy
    assert "does not exist" in (missing.health.error or "")
    assert not (tmp_path / "nope.db").exists(), "a read must never create a database"


def test_password_never_appears_in_errors(tmp_path: Path) -> None:
    url = "postgresql+psycopg://user:s3cret-pw@127.0.0.1:1/db"
    result = _adapter(url, tmp_path).extract()
    assert result.health is not None and not result.health.healthy
    assert "s3cret-pw" not in (result.health.error or "")


@pytest.mark.parametrize("stream", [{}, {"table": "a", "query": "select 1"}])
def test_table_or_query_exactly_one(stream: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of 'table' or 'query'"):
        SqlSourceConfig.model_validate(
            {"kind": "sql", "url": "sqlite://", "streams": {"account": {**stream, "fields": FIELDS}}}
        )
