"""The pytest plugin: fixtures to build sources, run the engine at a fixed time and keep a store.

Installed with reconcile (entry point ``reconcile`` in the ``pytest11``
group), so every test suite in the environment has the fixtures:

- ``reconcile_sources``: a fresh :class:`~reconcile.testing.Sources` builder
  (``.records(...)``, ``.frame(...)``, ``.yaml(...)``);
- ``reconcile_run``: ``reconcile_run(sources=None, rules=..., packs=...,
  matching=..., store=...)`` runs the engine at ``reconcile_as_of`` with
  relative paths under the test's ``tmp_path`` and returns the
  :class:`reconcile.RunResult` (sources default to the test's ``reconcile_sources``);
- ``reconcile_as_of``: the fixed as-of time (2026-11-01 06:00 UTC); override
  the fixture in a ``conftest.py`` to change it for a suite;
- ``reconcile_store``: a :class:`reconcile.Store` in a temporary SQLite file,
  or in memory with ``@pytest.mark.reconcile_store("memory")``, the ini
  option ``reconcile_store = memory`` or ``--reconcile-store=memory``.

Assertions are plain functions: ``from reconcile.testing import
assert_findings, assert_no_findings``.

This module is imported by pytest in every session of every suite in the
environment, used or not, so it imports only pytest and the standard library
at module level; reconcile's stages load when a fixture is first used.
Disable it with ``-p no:reconcile``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from reconcile.testing.builders import FIXED_AS_OF, Sources

if TYPE_CHECKING:
    from reconcile.results import RunResult
    from reconcile.store import Store

__all__ = [
    "reconcile_as_of",
    "reconcile_run",
    "reconcile_sources",
    "reconcile_store",
]

_STORE_KINDS = ("file", "memory")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("reconcile", "reconcile test fixtures")
    group.addoption(
        "--reconcile-store",
        choices=_STORE_KINDS,
        default=None,
        help="where the reconcile_store fixture keeps its store: file (a temporary "
        "SQLite file, the default) or memory (SQLite in memory)",
    )
    parser.addini(
        "reconcile_store",
        help="default of --reconcile-store: file or memory",
        default="file",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "reconcile_store(kind): 'file' or 'memory': where this test's reconcile_store is kept",
    )


def _store_kind(request: pytest.FixtureRequest) -> str:
    marker = request.node.get_closest_marker("reconcile_store")
    if marker is not None:
        kind = marker.args[0] if marker.args else marker.kwargs.get("kind", "file")
        where = "@pytest.mark.reconcile_store"
    elif request.config.getoption("reconcile_store", None):
        kind = request.config.getoption("reconcile_store")
        where = "--reconcile-store"
    else:
        kind = request.config.getini("reconcile_store") or "file"
        where = "the ini option reconcile_store"
    if kind not in _STORE_KINDS:
        raise pytest.UsageError(f"{where}: {kind!r} is not one of {', '.join(_STORE_KINDS)}")
    return str(kind)


@pytest.fixture
def reconcile_as_of() -> dt.datetime:
    """The as-of time of ``reconcile_run``: 2026-11-01 06:00 UTC unless a conftest overrides it."""
    return FIXED_AS_OF


@pytest.fixture
def reconcile_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """A reconcile Store of this test only: a temporary SQLite file, or SQLite in memory.

    Pass it to ``reconcile_run(..., store=reconcile_store)`` to follow
    findings across runs (a run needs the file store: it opens its own
    connection); use the store's own methods (``open_findings()``,
    ``finding_history()``, ``runs()``) to look at what was kept.
    """
    from reconcile.store import Store

    if _store_kind(request) == "memory":
        url = "sqlite://"
    else:
        url = f"sqlite:///{tmp_path / 'reconcile-store.db'}"
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def reconcile_sources() -> Sources:
    """A fresh builder of the test's sources (``.records``, ``.frame``, ``.yaml``)."""
    return Sources()


@pytest.fixture
def reconcile_run(
    reconcile_sources: Sources, reconcile_as_of: dt.datetime, tmp_path: Path
) -> Callable[..., RunResult]:
    """Run the engine at ``reconcile_as_of`` and return the RunResult.

    ``reconcile_run(sources=None, *, rules=None, packs=(), matching=None,
    store=None, reports=(), config=None, as_of=...)``: ``sources`` defaults to
    the test's ``reconcile_sources``; relative paths (CSV files of a source
    written in YAML, reports) are relative to the test's ``tmp_path``. See
    :func:`reconcile.testing.run_sources` for every argument.
    """

    def run(sources: Any = None, /, **kwargs: Any) -> RunResult:
        __tracebackhide__ = True
        from reconcile.testing.builders import run_sources

        kwargs.setdefault("as_of", reconcile_as_of)
        kwargs.setdefault("base_dir", tmp_path)
        return run_sources(reconcile_sources if sources is None else sources, **kwargs)

    return run
