"""Schema migrations (Alembic): which revision a store is at, and upgrading it.

The migrations live in ``reconcile/store/migrations`` (inside the package, so
they ship in the wheel). A new store is created from the current tables and
stamped with the head revision; an existing store is checked on open and,
when it is behind, refused with the command that upgrades it.

Stores written before the migrations existed have no ``alembic_version``
table; their revision is read from the tables they have (``0002`` when they
hold cursors, else ``0001``), and ``reconcile db upgrade`` stamps it first.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

__all__ = ["HEAD", "REVISIONS", "alembic_config", "current_revision", "downgrade", "stamp_head", "upgrade"]

#: Every revision, oldest first; the last is what this release writes.
REVISIONS = ("0001", "0002", "0003", "0004", "0005", "0006", "0007")
HEAD = REVISIONS[-1]

_SCRIPTS = "reconcile.store:migrations"


def alembic_config(connection: sa.Connection | None = None) -> Any:
    """An Alembic configuration for the store's migrations, using ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", _SCRIPTS)
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def current_revision(conn: sa.Connection) -> str | None:
    """The store's revision; None for an empty database (no store yet)."""
    inspector = sa.inspect(conn)
    if inspector.has_table("alembic_version"):
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    if inspector.has_table("runs"):  # created before the migrations existed
        return "0002" if inspector.has_table("cursors") else "0001"
    return None


def stamp_head(conn: sa.Connection) -> None:
    """Record that the store's tables are at the head revision."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    context = MigrationContext.configure(conn)
    context.stamp(ScriptDirectory.from_config(alembic_config()), HEAD)


def upgrade(engine: sa.Engine, target: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the store behind ``engine`` to ``target``; return (before, after) revisions."""
    return _migrate(engine, "upgrade", target)


def downgrade(engine: sa.Engine, target: str) -> tuple[str | None, str | None]:
    """Take the store behind ``engine`` back to revision ``target`` (for tests and emergencies)."""
    return _migrate(engine, "downgrade", target)


def _migrate(engine: sa.Engine, direction: str, target: str) -> tuple[str | None, str | None]:
    from alembic import command

    with engine.connect() as conn:
        before = current_revision(conn)
        has_version_table = sa.inspect(conn).has_table("alembic_version")
        conn.rollback()
        config = alembic_config(conn)
        if before is not None and not has_version_table:
            command.stamp(config, before)
            conn.commit()
        # SQLite changes a table by copying it; a table other tables point to
        # can only be dropped with foreign keys off (outside any transaction),
        # so they are checked as a whole before the migration commits.
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            _sqlite_foreign_keys(conn, on=False)
        try:
            getattr(command, direction)(config, target)
            if sqlite:
                broken = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
                if broken:
                    conn.rollback()
                    raise RuntimeError(f"the migration would break foreign keys: {broken[:5]}")
            conn.commit()
        finally:
            if sqlite:
                conn.rollback()
                _sqlite_foreign_keys(conn, on=True)
        after = current_revision(conn)
        conn.rollback()
    return before, after


def _sqlite_foreign_keys(conn: sa.Connection, *, on: bool) -> None:
    """Turn SQLite's foreign keys on or off on the connection (outside a transaction: on the driver's)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
