"""The sql adapter against SQLite, PostgreSQL and MariaDB (real servers, see conftest.db_url)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.config import parse_config
from reconcile.errors import SourceError
from reconcile.extract.base import RowBatch
from reconcile.extract.sql import _ODD, SqlAdapter, SqlSourceConfig

FIELDS = {
    "account_id": "account_no",
    "name": "holder",
    "autopay": "autopay",
    "opened_at": "opened",
    "status": {"column": "status", "map": {"A": "active", "C": "closed", "S": "suspended"}},
}

ROWS = [
    {"account_no": "AC-1", "holder": "SMITH, ROBERT", "autopay": "Y", "opened": dt.date(2024, 1, 2), "status": "A",
     "updated_at": dt.datetime(2026, 1, 5, 10, 0)},
    {"account_no": "AC-2", "holder": "LEE, ANN", "autopay": "N", "opened": dt.date(2023, 5, 6), "status": "C",
     "updated_at": dt.datetime(2025, 12, 1, 9, 30)},
    {"account_no": "AC-3", "holder": "BAD, CODE", "autopay": "Y", "opened": None, "status": "X",
     "updated_at": dt.datetime(2026, 2, 1, 0, 0)},
    {"account_no": "AC-1", "holder": "DUPLICATE", "autopay": "Y", "opened": None, "status": "A",
     "updated_at": dt.datetime(2026, 1, 1, 0, 0)},
    {"account_no": "AC-5", "holder": "NG, WEI", "autopay": None, "opened": dt.date(2020, 2, 29), "status": "S",
     "updated_at": None},
]


def _table(meta: sa.MetaData) -> sa.Table:
    return sa.Table(
        "accounts",
        meta,
        sa.Column("account_no", sa.String(20)),
        sa.Column("holder", sa.String(100)),
        sa.Column("autopay", sa.String(1)),
        sa.Column("opened", sa.Date),
        sa.Column("status", sa.String(1)),
        sa.Column("updated_at", sa.DateTime),
    )


def _populate(url: str, rows: list[dict[str, Any]] = ROWS) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = _table(meta)
    meta.drop_all(engine)
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(table.insert(), rows)
    engine.dispose()


def _adapter(url: str, base_dir: Path, fields: dict[str, Any] | None = None, source: dict[str, Any] | None = None,
             **stream: object) -> SqlAdapter:
    stream = stream or {"table": "accounts"}
    config = SqlSourceConfig.model_validate(
        {"kind": "sql", "url": url, "chunk_size": 2, **(source or {}),
         "streams": {"account": {**stream, "fields": fields or FIELDS}}}
    )
    return SqlAdapter("billing", config, base_dir)


def _ids(result: Any) -> list[str]:
    return sorted(r["account_id"] for r in result.records["account"])


def test_table_is_read_mapped_and_bad_rows_quarantined(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path).extract()
    health = result.health
    assert health is not None and health.healthy, health
    records = sorted(result.records["account"], key=lambda r: r["account_id"])
    assert [(r["account_id"], r["status"], r["autopay"]) for r in records] == [
        ("AC-1", "active", True),
        ("AC-2", "closed", False),
        ("AC-5", "suspended", False),
    ]
    assert records[0]["opened_at"] == dt.date(2024, 1, 2)
    assert records[2]["opened_at"] == dt.date(2020, 2, 29)
    assert health.rows_read == 5
    assert health.rows_used + health.rows_quarantined == health.rows_read
    reasons = sorted((q.field, q.reason.split(":")[0]) for q in result.quarantine)
    assert reasons == [
        ("account_id", "duplicate key 'AC-1'"),
        ("status", "code 'X' is not in the code table (A, C, S)"),
    ]
    assert {q.row for q in result.quarantine} == {"row 3 (key 'AC-3')", "row 4 (key 'AC-1')"}


def test_chunked_streaming_gives_every_row(db_url: str, tmp_path: Path) -> None:
    rows = [
        {"account_no": f"AC-{i:04d}", "holder": f"P{i}", "autopay": "Y" if i % 2 else "N",
         "opened": dt.date(2020, 1, 1) + dt.timedelta(days=i), "status": "A", "updated_at": None}
        for i in range(1, 1001)
    ]
    _populate(db_url, rows)
    adapter = _adapter(db_url, tmp_path, source={"chunk_size": 64})
    stream = adapter.config.streams["account"]
    batches = [b for b in adapter.read_batches("account", stream) if isinstance(b, RowBatch)]
    adapter.close()
    assert [len(b.rows) for b in batches] == [64] * 15 + [40]
    assert [p for b in batches for p in b.positions] == list(range(1, 1001))
    result = _adapter(db_url, tmp_path, source={"chunk_size": 64}).extract()
    assert result.health is not None and result.health.rows_read == 1000 == result.health.rows_used
    assert _ids(result) == [f"AC-{i:04d}" for i in range(1, 1001)]
    assert result.frame("account")["autopay"].sum() == 500


def test_where_filters_with_in_and_dates(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(
        db_url, tmp_path, table="accounts",
        where=[{"column": "status", "op": "in", "value": ["A", "S"]},
               {"column": "updated_at", "op": ">=", "value": "2026-01-01"}],
    ).extract()
    # AC-1 twice (the second quarantined as a duplicate); AC-5 has no update time.
    assert _ids(result) == ["AC-1"]
    assert result.health is not None and result.health.rows_read == 2

    result = _adapter(db_url, tmp_path, table="accounts",
                      where=[{"column": "opened", "op": "<", "value": "2024-01-01"},
                             {"column": "autopay", "op": "is not null"}]).extract()
    assert _ids(result) == ["AC-2"]

    result = _adapter(db_url, tmp_path, table="accounts",
                      where=[{"column": "holder", "op": "like", "value": "%, A%"},
                             {"column": "status", "op": "not in", "value": ["S"]}]).extract()
    assert _ids(result) == ["AC-2"]


def test_a_filter_value_is_bound_not_spliced(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    hostile = "A' OR '1'='1"
    result = _adapter(db_url, tmp_path, table="accounts", where=[{"column": "status", "value": hostile}]).extract()
    assert result.health is not None and result.health.healthy, result.health
    assert result.health.rows_read == 0


def test_column_list_reads_only_those_columns(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    fields = {"account_id": "account_no", "name": "holder"}
    adapter = _adapter(db_url, tmp_path, fields=fields, table="accounts", columns=["account_no", "holder"])
    batches = list(adapter.read_batches("account", adapter.config.streams["account"]))
    adapter.close()
    assert all(isinstance(b, RowBatch) and list(b.columns or []) == ["account_no", "holder"] for b in batches)
    result = _adapter(db_url, tmp_path, fields=fields, table="accounts", columns=["account_no", "holder"]).extract()
    assert result.health is not None and result.health.rows_used == 4  # AC-1 twice


@pytest.mark.parametrize(
    ("stream", "where"),
    [
        ({"table": "accounts", "where": [{"column": "statuz", "value": "A"}]}, "where[0].column"),
        ({"table": "accounts", "columns": ["account_no", "holdr"]}, "columns[1]"),
        ({"table": "accounts", "columns": ["account_no", "holder"]}, "fields.autopay"),
        ({"table": "accounts", "where": [{"column": "opened", "op": ">", "value": "yesterday"}]}, "where[0].value"),
        ({"query": "SELECT account_no, holder FROM accounts"}, "fields.status"),
    ],
)
def test_unknown_columns_are_configuration_errors_naming_them(
    db_url: str, tmp_path: Path, stream: dict[str, Any], where: str
) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path, **stream).extract()
    health = result.health
    assert health is not None and not health.healthy
    assert f"sources.billing.streams.account.{where}" in (health.error or ""), health.error
    assert health.rows_read == 0


def test_read_only_query(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path, query="SELECT * FROM accounts WHERE status = 'C'").extract()
    assert _ids(result) == ["AC-2"]


def test_a_query_that_writes_fails_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    engine = sa.create_engine(db_url)
    if engine.dialect.name == "postgresql":
        # A SELECT that writes through a function: only the read-only transaction stops it.
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "CREATE FUNCTION bump() RETURNS text AS $$ "
                "UPDATE accounts SET holder = 'CHANGED'; SELECT 'AC-9'::text $$ LANGUAGE sql"
            )
        query = "SELECT bump() AS account_no, 'x' AS holder, 'A' AS status"
    elif engine.dialect.name == "sqlite":
        query = "UPDATE accounts SET holder = 'CHANGED' RETURNING account_no, holder, status"
    else:
        query = "DELETE FROM accounts"
    fields = {"account_id": "account_no"}
    result = _adapter(db_url, tmp_path, fields=fields, query=query).extract()
    health = result.health
    assert health is not None and not health.healthy
    assert "read" in (health.error or "").lower() and "only" in (health.error or "").lower(), health.error
    with engine.connect() as conn:
        holders = conn.execute(sa.text("SELECT holder FROM accounts")).scalars().all()
        count = len(holders)
    engine.dispose()
    assert "CHANGED" not in holders and count == len(ROWS)


def test_statement_timeout_stops_a_slow_query(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    backend = sa.engine.make_url(db_url).get_backend_name()
    slow = {
        "postgresql": "SELECT 'A' AS account_no FROM pg_sleep(5)",
        "mysql": "SELECT 'A' AS account_no, SLEEP(5) AS s",
        "sqlite": "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 500000000) "
                  "SELECT max(i) AS account_no FROM c",
    }[backend]
    result = _adapter(db_url, tmp_path, fields={"account_id": "account_no"},
                      source={"statement_timeout": 0.3}, query=slow).extract()
    health = result.health
    assert health is not None and not health.healthy
    assert health.duration_s < 4, health
    assert any(word in (health.error or "") for word in ("timeout", "interrupted")), health.error


def test_missing_table_is_a_source_error(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    result = _adapter(db_url, tmp_path, table="no_such_table").extract()
    assert result.health is not None and not result.health.healthy
    assert "no_such_table" in (result.health.error or "")


def test_relative_sqlite_path_and_missing_file(tmp_path: Path) -> None:
    _populate(f"sqlite:///{tmp_path / 'billing.db'}")
    result = _adapter("sqlite:///billing.db", tmp_path).extract()
    assert len(result.records["account"]) == 3
    missing = _adapter("sqlite:///nope.db", tmp_path).extract()
    assert missing.health is not None and not missing.health.healthy
    assert "does not exist" in (missing.health.error or "")
    assert not (tmp_path / "nope.db").exists(), "a read must never create a database"


@pytest.mark.parametrize("backend", ["postgresql+psycopg", "mysql+pymysql"])
def test_unreachable_server_names_the_source_never_the_password(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_DB_PASSWORD", "s3cret-Pw/with@chars")
    config = parse_config(
        {"sources": {"billing": {
            "kind": "sql", "url": f"{backend}://app:${{BILLING_DB_PASSWORD}}@127.0.0.1:9/billing",
            "connect_timeout": 2, "streams": {"account": {"table": "accounts", "fields": FIELDS}},
        }}},
        base_dir=tmp_path,
    )
    source = config.sources["billing"]
    result = SqlAdapter("billing", source, tmp_path).extract()
    health = result.health
    assert health is not None and not health.healthy
    error = health.error or ""
    assert error.startswith("source 'billing': cannot connect to"), error
    for shown in ("s3cret-Pw/with@chars", "s3cret-Pw%2Fwith%40chars", "s3cret"):
        assert shown not in error
        assert shown not in str(config) and shown not in repr(config)
        assert shown not in repr(source) and shown not in str(source)
    with pytest.raises(SourceError) as err:
        list(SqlAdapter("billing", source, tmp_path).read("account", source.streams["account"]))
    assert "s3cret" not in str(err.value) and err.value.source == "billing"


def test_incremental_reads_push_the_cursor_down(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    adapter = _adapter(db_url, tmp_path, table="accounts",
                       cursor={"column": "updated_at", "type": "timestamp"})
    since = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    result = adapter.extract(since={"account": since})
    health = result.health
    assert health is not None and health.healthy, health
    # AC-1 (Jan 5) and AC-3 (Feb 1, a bad code) are newer; AC-5 has no update
    # time and is read too. PostgreSQL and MariaDB leave the older rows out
    # themselves; SQLite stores times as text, so the base class skips them.
    assert _ids(result) == ["AC-1", "AC-5"]
    assert [q.field for q in result.quarantine] == ["status"]
    assert result.cursors["account"] == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert health.rows_read == 3
    # SQLite leaves out text times two days or more older (AC-2); AC-1's repeat, a day older, is skipped here.
    assert health.rows_skipped == (1 if db_url.startswith("sqlite") else 0)


@pytest.mark.parametrize("stream", [{}, {"table": "a", "query": "select 1"}])
def test_table_or_query_exactly_one(stream: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="exactly one of 'table' or 'query'"):
        SqlSourceConfig.model_validate(
            {"kind": "sql", "url": "sqlite://", "streams": {"account": {**stream, "fields": FIELDS}}}
        )


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"column": "status", "op": "in", "value": "A"}, "non-empty list"),
        ({"column": "status", "op": "is null", "value": "A"}, "takes no value"),
        ({"column": "status", "op": ">="}, "needs one value"),
        ({"column": "status", "op": "~", "value": "A"}, "Input should be"),
    ],
)
def test_filters_are_checked_when_the_config_is(condition: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SqlSourceConfig.model_validate(
            {"kind": "sql", "url": "sqlite://",
             "streams": {"account": {"table": "accounts", "where": [condition], "fields": FIELDS}}}
        )


def test_pool_and_timeout_options_reach_the_engine(tmp_path: Path) -> None:
    adapter = _adapter(
        "postgresql+psycopg://app@db.example/billing", tmp_path,
        source={"connect_timeout": 7.5, "pool": {"size": 3, "max_overflow": 1, "timeout": 4, "recycle": 600}},
    )
    engine = adapter.engine()
    try:
        pool = engine.pool
        assert isinstance(pool, sa.pool.QueuePool)
        assert pool.size() == 3 and pool._max_overflow == 1 and pool._timeout == 4 and pool._recycle == 600
        assert adapter._connect_args(engine.url) == {"connect_timeout": 8}
    finally:
        adapter.close()


# -- SQLite: a timestamp cursor pushed down as a safe text condition --------------------------

_MOMENTS = [dt.datetime(2025, 12, 30, 23, 0), dt.datetime(2026, 1, 1, 0, 0), dt.datetime(2026, 1, 2, 5, 0),
            dt.datetime(2026, 1, 2, 12, 0),
            dt.datetime(2026, 1, 3, 23, 59, 59), dt.datetime(2026, 3, 1)]


def _written(moment: dt.datetime, style: int) -> object:
    """One moment as systems write it into SQLite: ISO with T or a space, Z, offsets, epoch numbers."""
    aware = moment.replace(tzinfo=dt.UTC)
    return [
        moment.isoformat(), moment.isoformat(sep=" "), moment.isoformat() + "Z",
        aware.astimezone(dt.timezone(dt.timedelta(hours=14))).isoformat(),
        aware.astimezone(dt.timezone(dt.timedelta(hours=-12))).isoformat(sep=" "),
        int(aware.timestamp()), aware.timestamp() + 0.5, f" {moment.isoformat()} ",
    ][style]


_SINCES = [dt.datetime(2026, 1, 2, tzinfo=dt.UTC), dt.datetime(2026, 1, 4, 3, tzinfo=dt.UTC),
           dt.datetime(1970, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 1, 11, 0, tzinfo=dt.UTC)]
_EXTRAS = [None, "", "soon", "01/02/2026 10:00"]


@pytest.mark.parametrize("since", _SINCES)
def test_sqlite_pushdown_on_every_way_of_writing_each_moment(since: dt.datetime, tmp_path: Path) -> None:
    every = [_written(moment, style) for moment in _MOMENTS for style in range(8)] + _EXTRAS
    _check_sqlite_pushdown(every, since, tmp_path)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    values=st.lists(st.one_of(
        st.tuples(st.sampled_from(_MOMENTS), st.integers(0, 7)).map(lambda t: _written(*t)),
        st.sampled_from(_EXTRAS),
    ), min_size=1, max_size=12),
    since=st.sampled_from(_SINCES),
)
def test_sqlite_pushdown_keeps_every_row_the_cursor_keeps(
    values: list[object], since: dt.datetime, tmp_path: Path
) -> None:
    _check_sqlite_pushdown(values, since, tmp_path)


def _check_sqlite_pushdown(values: list[object], since: dt.datetime, tmp_path: Path) -> None:
    """The same rows, quarantine and cursor whether SQLite filters first or not."""
    path = tmp_path / f"push-{abs(hash((tuple(map(repr, values)), since)))}.db"
    path.unlink(missing_ok=True)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE accounts (account_no TEXT, holder TEXT, status TEXT, updated_at TEXT)")
        conn.exec_driver_sql(
            "INSERT INTO accounts VALUES (?, 'LEE, ANN', 'A', ?)",
            [(f"AC-{i}", v) for i, v in enumerate(values)],
        )
    engine.dispose()
    fields = {"account_id": "account_no", "name": "holder",
              "status": {"column": "status", "map": {"A": "active"}}}

    def extract(push: bool) -> Any:
        adapter = _adapter(f"sqlite:///{path}", tmp_path, fields=fields, source={"max_quarantine_fraction": 1.0},
                           table="accounts", cursor={"column": "updated_at", "type": "timestamp"})
        if not push:
            adapter._since = lambda statement, *args: statement  # type: ignore[method-assign]
        try:
            return adapter.extract(since={"account": since})
        finally:
            adapter.close()

    pushed, read_all = extract(True), extract(False)
    assert pushed.health.healthy and read_all.health.healthy, (pushed.health, read_all.health)
    assert [r["account_id"] for r in pushed.records["account"]] == [r["account_id"] for r in read_all.records["account"]]
    assert [(q.field, q.reason, q.raw) for q in pushed.quarantine] == [(q.field, q.reason, q.raw) for q in read_all.quarantine]
    assert pushed.cursors == read_all.cursors
    # Rows the database left out are rows the cursor would have skipped.
    assert pushed.health.rows_read == read_all.health.rows_read
    assert pushed.health.rows_skipped <= read_all.health.rows_skipped


def test_a_key_scan_reads_only_the_key_columns(db_url: str, tmp_path: Path) -> None:
    _populate(db_url)
    adapter = _adapter(db_url, tmp_path, table="accounts", cursor={"column": "updated_at", "type": "timestamp"},
                       deleted={"column": "status", "values": ["C"]})
    selected: list[list[str]] = []
    compiled = adapter._compiled

    def spy(statement: sa.Select[Any], dialect: sa.Dialect) -> tuple[str, Any]:
        selected.append([c.name for c in statement.selected_columns])
        return compiled(statement, dialect)

    adapter._compiled = spy  # type: ignore[method-assign]
    result = adapter.extract(since={"account": dt.datetime(2026, 1, 2, tzinfo=dt.UTC)}, scan_keys=["account"])
    adapter.close()
    # Every key not soft-deleted (AC-2 is closed: deleted), read with the key and delete columns only
    # (not the cursor's: the scan reads every row). SQLite through ADBC compiles a statement twice,
    # the second time with a column of its own.
    assert result.scanned_keys == {"account": {"AC-1", "AC-3", "AC-5"}}
    assert sorted({tuple(sorted(set(names) - {_ODD})) for names in selected}) == [
        ("account_no", "autopay", "holder", "opened", "status", "updated_at"),  # the stream itself
        ("account_no", "status"),  # its key scan
    ]
