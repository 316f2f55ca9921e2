"""Where the normalise, match and rules stages run: this process, or a Dask cluster.

The run's ``engine`` section picks one. Both engines offer the same three
stage methods with the signatures of :mod:`reconcile.pipeline`'s stage
functions, and must give exactly the same findings:

- ``local`` (default): pandas in the running process;
- ``dask``: the same stages spread over a ``dask.distributed`` cluster
  (``pip install 'reconcile-engine[dask]'``), partitioned by blocking keys
  for matching and by entities for rules; ``address`` points it at an
  existing scheduler, or a ``LocalCluster`` of ``workers`` processes is
  started for the run. See ``docs/engine.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from reconcile.errors import ReconcileError

if TYPE_CHECKING:
    import pandas as pd

    from reconcile.config import Config
    from reconcile.findings import Finding
    from reconcile.match import MatchResult
    from reconcile.rules.base import Rule

__all__ = ["Engine", "EngineConfig", "EngineError", "LocalEngine", "open_engine"]


class EngineConfig(BaseModel):
    """The ``engine`` section: where the normalise, match and rules stages run.

    Attributes:
        kind: ``local`` (this process) or ``dask`` (a dask.distributed cluster).
        address: Dask only: the scheduler of an existing cluster, such as
            ``tcp://scheduler:8786``; without it a LocalCluster is started
            for the run and closed after it.
        workers: Dask only: worker processes of the LocalCluster.
        threads_per_worker: Dask only: threads per LocalCluster worker.
        partitions: Dask only: how many partitions the records are split
            into (default: one per worker; each partition costs some fixed
            work, so more only pay when workers are uneven).
        timeout: Dask only: seconds to wait for the scheduler at ``address``
            (and for its workers) before the run fails.
    """

    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "dask"] = "local"
    address: str | None = None
    workers: int = Field(default=2, ge=1)
    threads_per_worker: int = Field(default=1, ge=1)
    partitions: int | None = Field(default=None, ge=1)
    timeout: float = Field(default=30.0, gt=0)


class EngineError(ReconcileError):
    """The engine could not start: dask is not installed, the scheduler is unreachable,
    or its workers run another reconcile."""


class Engine(Protocol):
    """The stages an engine runs (the signatures of :mod:`reconcile.pipeline`'s functions)."""

    name: str

    def normalise_tables(
        self, tables: Mapping[str, pd.DataFrame], config: Config
    ) -> dict[str, pd.DataFrame]: ...

    def match_entities(
        self, tables: Mapping[str, pd.DataFrame], config: Config, model: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, pd.DataFrame], MatchResult]: ...

    def evaluate(
        self,
        tables: Mapping[str, pd.DataFrame],
        rules: list[Rule],
        as_of: dt.datetime,
        open_findings: Sequence[Finding] | None = None,
    ) -> list[Finding]: ...


class LocalEngine:
    """The stages in this process (pandas)."""

    name = "local"

    def normalise_tables(self, tables: Mapping[str, pd.DataFrame], config: Config) -> dict[str, pd.DataFrame]:
        from reconcile.pipeline import normalise_tables

        return normalise_tables(tables, config)

    def match_entities(
        self, tables: Mapping[str, pd.DataFrame], config: Config, model: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, pd.DataFrame], MatchResult]:
        from reconcile.pipeline import match_entities

        return match_entities(tables, config, model)

    def evaluate(
        self,
        tables: Mapping[str, pd.DataFrame],
        rules: list[Rule],
        as_of: dt.datetime,
        open_findings: Sequence[Finding] | None = None,
    ) -> list[Finding]:
        from reconcile.pipeline import evaluate

        return evaluate(tables, rules, as_of, open_findings)


@contextmanager
def open_engine(config: EngineConfig) -> Iterator[Engine]:
    """The configured engine, open for one run (a started LocalCluster is closed after it)."""
    if config.kind == "local":
        yield LocalEngine()
        return
    from reconcile.engine._dask import DaskEngine  # needs the dask extra

    engine = DaskEngine(config)
    try:
        yield engine
    finally:
        engine.close()
