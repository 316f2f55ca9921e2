"""Bulk inserts (COPY, the driver's executemany) write exactly what SQLAlchemy's insert writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from reconcile.store import Store
from reconcile.store._json import encode_json
from reconcile.store._schema import LongText, UTCDateTime
from reconcile.store._store import _insert_many

_meta = sa.MetaData()
probe = sa.Table(
    "bulk_probe",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("way", sa.String(8), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("text", LongText),
    sa.Column("at", UTCDateTime),
    sa.Column("flag", sa.Boolean),
    sa.Column("number", sa.Double),
    sa.Column("doc", sa.JSON),
    sa.Column("maybe", sa.JSON(none_as_null=True)),
)

ZONE = dt.timezone(dt.timedelta(hours=-5))


def _rows(way: str, offset: int) -> list[dict[str, Any]]:
    return [
        {"id": offset + 1, "way": way, "name": "Zoë 'quoted' \\ tab\tnew\nline", "text": "x" * 70_000,
         "at": dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC), "flag": True, "number": 0.87,
         "doc": {"a": [1, 2.5, None], "b": "ü"}, "maybe": None},
        {"id": offset + 2, "way": way, "name": None, "text": None,
         "at": dt.datetime(2026, 11, 1, 1, 2, 3, 456789, tzinfo=ZONE), "flag": False, "number": -1e-7,
         "doc": encode_json({"encoded": "already", "n": 1}), "maybe": {"k": "v"}},
        {"id": offset + 3, "way": way, "name": "", "text": "", "at": dt.datetime(2026, 1, 2, 3, 4, 5),
         "flag": None, "number": None, "doc": [], "maybe": encode_json(["e"])},
    ]


def test_bulk_rows_are_the_rows_sqlalchemy_writes(db_url: str) -> None:
    with Store(db_url) as store:
        _meta.create_all(store.engine)
        try:
            with store.engine.begin() as conn:
                conn.execute(probe.insert(), _rows("sa", 0))
                _insert_many(conn, probe, _rows("bulk", 100))
            with store.engine.connect() as conn:
                # As the driver hands them back (text of times on SQLite, JSON text...), and as typed values.
                raw = conn.exec_driver_sql(
                    "SELECT * FROM bulk_probe ORDER BY id").all()
                typed = conn.execute(sa.select(probe).order_by(probe.c.id)).all()
        finally:
            _meta.drop_all(store.engine)
    by_way: dict[str, list[tuple[Any, ...]]] = {"sa": [], "bulk": []}
    for row in raw:
        by_way[row[1]].append(tuple(row[2:]))
    assert by_way["bulk"] == by_way["sa"]
    assert [tuple(r[2:]) for r in typed[:3]] == [tuple(r[2:]) for r in typed[3:]]
    assert typed[1].at == dt.datetime(2026, 11, 1, 6, 2, 3, 456789, tzinfo=dt.UTC)
    assert typed[1].doc == {"encoded": "already", "n": 1} and typed[0].maybe is None
