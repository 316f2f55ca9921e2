"""The ``store:`` section of ``reconcile.yaml``."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["DEFAULT_LOCK_TIMEOUT", "StoreConfig"]

#: A run lock whose heartbeat is older than this was left by a killed run.
DEFAULT_LOCK_TIMEOUT = dt.timedelta(hours=2)


def _duration(value: Any) -> Any:
    # Imported here: the rules package is heavy and the store must not need it to load.
    from reconcile.rules.base import parse_duration

    return parse_duration(value)


class StoreConfig(BaseModel):
    """Where findings are remembered across runs.

    Attributes:
        url: SQLAlchemy URL of the store: ``sqlite:///reconcile.db`` (a path
            relative to the config file), ``postgresql+psycopg://user@host/db``
            (the ``postgres`` extra) or ``mysql+pymysql://user@host/db`` (the
            ``mysql`` extra, for MariaDB and MySQL).
        echo: Log every SQL statement (for debugging the store).
        lock_timeout: How long a run may go without a heartbeat before its
            run lock counts as left by a killed run and the next run takes it
            over (``"2 hours"``, ``"30 minutes"``; default 2 hours). A running
            run beats every quarter of this, at most every minute.
    """

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///reconcile.db"
    echo: bool = False
    lock_timeout: Annotated[dt.timedelta, BeforeValidator(_duration)] = DEFAULT_LOCK_TIMEOUT

    @field_validator("url")
    @classmethod
    def _parses(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "not a database URL; write e.g. sqlite:///reconcile.db, "
                "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db"
            ) from None
        return value

    @field_validator("lock_timeout")
    @classmethod
    def _positive(cls, value: dt.timedelta) -> dt.timedelta:
        if value <= dt.timedelta(0):
            raise ValueError("must be longer than zero, e.g. '2 hours'")
        return value
