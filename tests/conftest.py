"""Shared fixtures: ``db_url``, one database per test on SQLite, PostgreSQL and MariaDB.

A test that takes ``db_url`` runs three times: on a fresh SQLite file, and on
a fresh PostgreSQL schema and MariaDB/MySQL database that nothing else sees
and that are dropped afterwards. The servers are found at

- ``RECONCILE_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
- ``RECONCILE_TEST_MYSQL_URL`` (default ``mysql+pymysql://root@127.0.0.1:3306/test``)

and need a user allowed to create schemas (PostgreSQL) or databases (MySQL).
A server that does not answer skips its tests with the reason, unless
``RECONCILE_REQUIRE_SERVERS=1`` (as in CI, ``.ci/run``), where it fails them.
Select or leave out a backend with ``-m postgres`` / ``-m "not mysql"``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REQUIRE_ENV = "RECONCILE_REQUIRE_SERVERS"


@dataclass(frozen=True)
class Server:
    name: str
    env: str
    default: str
    driver_extra: str

    @property
    def url(self) -> sa.URL:
        return make_url(os.environ.get(self.env) or self.default)

    @property
    def shown(self) -> str:
        return self.url.render_as_string(hide_password=True)


SERVERS = {
    "postgresql": Server(
        "PostgreSQL", "RECONCILE_TEST_POSTGRES_URL",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test", "postgres",
    ),
    "mysql": Server(
        "MariaDB/MySQL", "RECONCILE_TEST_MYSQL_URL",
        "mysql+pymysql://root@127.0.0.1:3306/test", "mysql",
    ),
}


def servers_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0", "false", "no")


def _probe(server: Server) -> str | None:
    """None if the server answers, else why not."""
    url = server.url
    connect_args = {"connect_timeout": 3}
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except ModuleNotFoundError as exc:
        return f"its driver is not installed ({exc.name}); pip install -e '.[{server.driver_extra}]'"
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # any failure to connect means: not usable here
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        return f"{type(exc).__name__}: {first[0] if first else exc!r}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def _server_status() -> dict[str, str | None]:
    """Each server probed once per session: None if reachable, else the reason."""
    return {}


def _require(backend: str, status: dict[str, str | None]) -> Server:
    server = SERVERS[backend]
    if backend not in status:
        status[backend] = _probe(server)
    problem = status[backend]
    if problem is not None:
        message = (
            f"{server.name} at {server.shown} is unreachable ({problem}); "
            f"start it or point {server.env} at one"
        )
        if servers_required():
            pytest.fail(f"{message}. {REQUIRE_ENV}=1 requires it.", pytrace=False)
        pytest.skip(message)
    return server


def _admin_engine(server: Server) -> sa.Engine:
    return sa.create_engine(server.url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def _postgres_url(server: Server) -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    # Every connection of the test lands in its own schema; the application
    # name lets the teardown end connections a test left open.
    url = server.url.update_query_dict(
        {"options": f"-csearch_path={schema}", "application_name": schema}
    )
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": schema},
            )
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _mysql_url(server: Server) -> Iterator[str]:
    database = f"t_{uuid.uuid4().hex[:16]}"
    admin = _admin_engine(server)
    with admin.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4"))
    try:
        yield server.url.set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            leftover = conn.execute(
                sa.text(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE db = :db AND id <> CONNECTION_ID()"
                ),
                {"db": database},
            ).scalars()
            for connection_id in list(leftover):
                try:
                    conn.execute(sa.text(f"KILL {int(connection_id)}"))
                except sa.exc.OperationalError as exc:
                    # 1094 Unknown thread id: it closed between the listing and the KILL.
                    if getattr(exc.orig, "args", (None,))[0] != 1094:
                        raise
            conn.execute(sa.text(f"DROP DATABASE `{database}`"))
        admin.dispose()


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
        pytest.param("mysql", id="mysql", marks=pytest.mark.mysql),
    ]
)
def db_url(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _server_status: dict[str, str | None],
) -> Iterator[str]:
    """A SQLAlchemy URL of an empty database that only this test uses."""
    backend = request.param
    if backend == "sqlite":
        directory = tmp_path_factory.mktemp("db")
        yield f"sqlite:///{directory / 'test.db'}"
        return
    server = _require(backend, _server_status)
    if backend == "postgresql":
        yield from _postgres_url(server)
    else:
        yield from _mysql_url(server)
