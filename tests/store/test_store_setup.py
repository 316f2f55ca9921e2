"""Opening a store: configuration, URLs, drivers and errors that say what to do."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import math
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from store_factories import finding, record_night

from reconcile.errors import StoreError
from reconcile.findings import FindingStatus, RecordRef
from reconcile.store import Store, StoreConfig, json_safe


def test_store_config_defaults_and_typos() -> None:
    assert StoreConfig().url == "sqlite:///reconcile.db"
    assert StoreConfig().echo is False
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        StoreConfig.model_validate({"url": "sqlite://", "ecno": True})
    with pytest.raises(ValidationError, match="not a database URL; write e.g. sqlite:///reconcile.db"):
        StoreConfig(url="reconcile.db")


def test_from_config_opens_the_configured_store(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store.from_config(StoreConfig(url=url)) as store:
        record_night(store, 1, [finding("AC-1")])
    assert (tmp_path / "store.db").is_file()
    with Store(url) as again:
        assert [f.subject.key for f in again.open_findings()] == ["AC-1"]


def test_in_memory_sqlite_keeps_its_data_between_calls() -> None:
    with Store("sqlite://") as store:
        record_night(store, 1, [finding("AC-1")])
        _, (seen,), _ = record_night(store, 2, [finding("AC-1")])
        assert seen.status == FindingStatus.open
        assert len(store.runs()) == 2


def test_bad_urls_and_missing_drivers_say_what_to_do() -> None:
    with pytest.raises(StoreError, match="'reconcile.db' is not a database URL"):
        Store("reconcile.db")
    with pytest.raises(StoreError, match="no database driver for 'postgresql\\+nosuchdriver'"):
        Store("postgresql+nosuchdriver://u@localhost/db")


def test_an_unreachable_server_is_a_store_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StoreError) as err:
        Store("postgresql+psycopg://user:s3cret-pw@127.0.0.1:1/db")
    message = str(err.value)
    assert "reading the schema revision failed in the store postgresql+psycopg://user:***@127.0.0.1:1/db" in message
    assert "s3cret-pw" not in message


def test_repr_and_url_hide_the_password() -> None:
    store = Store.__new__(Store)
    store._url = sa.make_url("mysql+pymysql://root:pw@db/reconcile")
    assert store.url == "mysql+pymysql://root:***@db/reconcile"
    assert repr(store) == "Store('mysql+pymysql://root:***@db/reconcile')"


class _Colour(enum.Enum):
    red = "r"


def test_json_safe_makes_plain_json() -> None:
    value = {
        1: [dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=-5)))],
        "naive": dt.datetime(2026, 1, 1, 12),
        "time": dt.time(7, 30),
        "gap": dt.timedelta(hours=1),
        "inf": float("-inf"),
        "dec_nan": decimal.Decimal("NaN"),
        "np_float": np.float64(0.5),
        "np_nan": np.float64("nan"),
        "array": np.array([1, 2]),
        "na": pd.NA,
        "bytes": b"\x00\xff",
        "uuid": uuid.UUID(int=1),
        "path": Path("/tmp/x"),
        "enum": _Colour.red,
        "status": FindingStatus.open,
        "model": RecordRef(source="s", record_type="t", key="k"),
        "frozen": frozenset({3, 1}),
        "other": object.__new__(_Opaque),
    }
    assert json_safe(value) == {
        "1": ["2026-01-01T17:00:00+00:00"],
        "naive": "2026-01-01T12:00:00",
        "time": "07:30:00",
        "gap": 3600.0,
        "inf": None,
        "dec_nan": None,
        "np_float": 0.5,
        "np_nan": None,
        "array": [1, 2],
        "na": None,
        "bytes": "AP8=",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "path": "/tmp/x",
        "enum": "r",
        "status": "open",
        "model": {"source": "s", "record_type": "t", "key": "k", "fields": {}, "role": None},
        "frozen": [1, 3],
        "other": "opaque",
    }
    assert type(json_safe(FindingStatus.open)) is str
    assert json_safe(True) is True and json_safe(None) is None
    assert json_safe([float("nan"), math.pi]) == [None, math.pi]


class _Opaque:
    def __str__(self) -> str:
        return "opaque"
