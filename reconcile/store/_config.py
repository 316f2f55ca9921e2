"""The ``store:`` section of ``reconcile.yaml``."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

__all__ = ["StoreConfig"]


class StoreConfig(BaseModel):
    """Where findings are remembered across runs.

    Attributes:
        url: SQLAlchemy URL of the store: ``sqlite:///reconcile.db`` (a path
            relative to the config file), ``postgresql+psycopg://user@host/db``
            (the ``postgres`` extra) or ``mysql+pymysql://user@host/db`` (the
            ``mysql`` extra, for MariaDB and MySQL).
        echo: Log every SQL statement (for debugging the store).
    """

    model_config = ConfigDict(extra="forbid")

    url: str = "sqlite:///reconcile.db"
    echo: bool = False

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
