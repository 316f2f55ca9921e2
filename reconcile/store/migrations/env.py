"""Alembic environment of the store's migrations.

``reconcile db upgrade`` (:func:`reconcile.store.upgrade_schema`) runs these
with its own connection, handed over in ``config.attributes["connection"]``;
the ``alembic`` command works too, with ``sqlalchemy.url`` set in its ini file.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from reconcile.store._schema import metadata

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # pragma: no cover - the plain alembic command line
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url") or "", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        _run(conn)
