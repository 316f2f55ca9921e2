"""A key scan of a query stream selects the key's columns from the query, or reads the query as it is.

The scan's statement is ``SELECT k."key" FROM (query) AS k`` when the
database takes it (tried first with no row to read); a query the database
will not take as a subquery (a name it gives twice, on PostgreSQL and
MariaDB) is read as it is. Either way the keys are those a scan of the
query as it is finds.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from reconcile.extract.sql import SqlAdapter, SqlSourceConfig
from tests.extract.test_sql import _populate

FIELDS = {"account_id": "account_no", "name": "holder"}
SINCE = {"account": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}
QUERY = "SELECT account_no, holder, status, updated_at FROM accounts WHERE status <> 'S'"


def _scan(url: str, base: Path, query: str, deleted: dict[str, Any] | None = None) -> tuple[set[str], list[str]]:
    """The keys a scan of ``query`` finds, and the statements it ran."""
    stream: dict[str, Any] = {"query": query, "fields": FIELDS, "cursor": {"column": "updated_at"}}
    if deleted is not None:
        stream["deleted"] = deleted
    config = SqlSourceConfig.model_validate({"kind": "sql", "url": url, "streams": {"account": stream}})
    adapter = SqlAdapter("billing", config, base)
    ran: list[str] = []
    read_batches = adapter.read_batches

    def spy(record_type: str, stream: Any) -> Any:
        ran.append(stream.query)
        return read_batches(record_type, stream)

    adapter.read_batches = spy  # type: ignore[method-assign]
    result = adapter.extract(since=SINCE, scan_keys=["account"])
    assert result.health is not None and result.health.healthy, result.health
    return set(result.scanned_keys["account"]), ran


ENDINGS = ["", ";", " ;\n", "\n-- the end", "\n-- the end;", " -- the end"]


@pytest.mark.parametrize("ending", [*ENDINGS, "; -- the end"])
def test_a_query_is_read_whatever_it_ends_with(db_url: str, tmp_path: Path, ending: str) -> None:
    """On PostgreSQL through ADBC (COPY (query) TO STDOUT) too: a query ends with what its author likes."""
    _populate(db_url)
    stream = {"query": QUERY + ending, "fields": FIELDS}
    config = SqlSourceConfig.model_validate({"kind": "sql", "url": db_url, "streams": {"account": stream}})
    result = SqlAdapter("billing", config, tmp_path).extract()
    assert result.health is not None and result.health.healthy, result.health
    assert sorted(result.frame("account")["account_id"]) == ["AC-1", "AC-2", "AC-3"]


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_query_scan_selects_the_key_from_the_query(db_url: str, tmp_path: Path, ending: str) -> None:
    _populate(db_url)
    keys, ran = _scan(db_url, tmp_path, QUERY + ending)
    assert keys == {"AC-1", "AC-2", "AC-3"}  # AC-5 is suspended: not in the query's rows
    assert ran[0] == QUERY + ending  # the stream itself
    assert ran[1].startswith('SELECT reconcile_key_scan.') and "account_no" in ran[1]
    assert "holder" not in ran[1].split("FROM")[0]  # only the key's column is selected from the query


def test_a_query_scan_keeps_the_soft_delete_column(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    keys, ran = _scan(db_url, tmp_path, QUERY, deleted={"column": "status", "values": ["C"]})
    assert keys == {"AC-1", "AC-3"}  # AC-2 is closed: deleted
    assert "status" in ran[1].split("FROM")[0]


def test_a_query_giving_a_name_twice_is_scanned_as_the_query_reads(db_url: str, tmp_path: Path) -> None:
    """PostgreSQL and MariaDB refuse the subquery (the query is read as it is); SQLite takes the first column."""
    _populate(db_url)
    query = "SELECT account_no, holder AS account_no, holder, updated_at FROM accounts"
    keys, ran = _scan(db_url, tmp_path, query)
    assert keys == {"AC-1", "AC-2", "AC-3", "AC-5"}  # the first account_no: the mapping's too
    if not db_url.startswith("sqlite"):
        assert ran == [query, query]


def test_a_query_that_cannot_be_a_subquery_is_read_as_it_is(tmp_path: Path) -> None:
    """SQLite: a PRAGMA cannot be selected from; its scan reads it as it is."""
    url = f"sqlite:///{tmp_path / 'test.db'}"
    _populate(url)
    query = "PRAGMA table_info(accounts)"
    config = SqlSourceConfig.model_validate({"kind": "sql", "url": url, "streams": {"account": {
        "query": query, "fields": {"account_id": "name", "name": "type"}}}})
    adapter = SqlAdapter("billing", config, tmp_path)
    scan = adapter.key_scan_stream("account", config.streams["account"])
    adapter.close()
    assert scan is config.streams["account"]
