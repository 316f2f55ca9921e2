"""The Dask engine: normalise, match and rules on a ``dask.distributed`` cluster.

The client (the process running :func:`reconcile.run`) keeps the tables and
everything that needs a whole view: the identity frame's numbering and
factorised columns, the Fellegi-Sunter model (EM over comparison patterns),
term frequencies, clustering, the rules that compare entities, and the
rules that read other findings. The workers get the work that grows with the
data, split so that every piece is complete on its own (see
:mod:`reconcile.engine._partition`):

- normalising: row ranges of each identity table;
- matching: for every deterministic rule and blocking pass, the records
  partitioned by key value: each worker generates its partition's pairs,
  keeps those no earlier rule or pass generates and compares them; the
  random pairs that estimate ``u`` are compared there too;
- rules: ``entity_local`` rules on the records partitioned by entity.

Every task computes exactly what the local engine computes for its part, and
the client puts the parts back in the local engine's order, so the findings
are the same (``tests/engine`` proves it on several worker processes).
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reconcile.engine import EngineConfig, EngineError

try:
    from distributed import Client, Future, LocalCluster
except ImportError as exc:  # the dask extra is not installed
    raise EngineError(
        "engine kind 'dask' needs dask.distributed, which is not installed: "
        "pip install 'reconcile-engine[dask]' (or set engine: {kind: local})"
    ) from exc

from reconcile._version import __version__
from reconcile.engine._partition import (
    NORMALISE_INPUTS,
    RuleFailure,
    SharedPairs,
    block_partitions,
    block_task,
    compare_task,
    entity_partitions,
    fresh_pairs,
    merge_findings,
    normalisable,
    normalise_chunk,
    owner_table,
    row_chunks,
    rules_task,
    split_tables,
)
from reconcile.engine._transport import PackedFrame, arrow_available
from reconcile.match._blocking import sorted_neighbourhood_pairs
from reconcile.match._compare import Comparator
from reconcile.match._runner import (
    BlockPart,
    CandidatePlan,
    Candidates,
    across,
    compare_pairs,
    log_skipped,
    using_runner,
)
from reconcile.model import RECORD_TYPES
from reconcile.normalise import normalise_table
from reconcile.normalise._table import NORMALISED_COLUMNS
from reconcile.rules.base import RuleContext
from reconcile.rules.engine import RuleEvaluationError, evaluate_rules

if TYPE_CHECKING:
    from reconcile.config import Config
    from reconcile.findings import Finding
    from reconcile.match import MatchResult
    from reconcile.rules.base import Rule

__all__ = ["DaskEngine", "DaskPairRunner"]

log = logging.getLogger("reconcile.engine")




class _Phases:
    """Seconds spent in each phase of a stage, logged at the end (``reconcile.engine`` logger, debug)."""

    def __init__(self, stage: str):
        self.stage = stage
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def __call__(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now

    def log(self) -> None:
        log.debug("dask %s: %s", self.stage, ", ".join(f"{k} {v:.2f} s" for k, v in self.seconds.items()))


class DaskEngine:
    """The stages on a Dask cluster: an existing one (``address``) or a LocalCluster for the run."""

    name = "dask"

    def __init__(self, config: EngineConfig):
        self.config = config
        self.cluster: LocalCluster | None = None
        self.arrow = arrow_available()  # a LocalCluster's workers share this environment
        if config.address:
            try:
                self.client = Client(config.address, timeout=config.timeout)
            except (OSError, TimeoutError) as exc:
                raise EngineError(
                    f"cannot reach the Dask scheduler at {config.address!r} within {config.timeout:g} s "
                    f"({type(exc).__name__}: {exc}); start it (dask scheduler) or fix engine.address"
                ) from exc
            try:
                self._check_workers()
            except BaseException:
                self.client.close()
                raise
        else:
            try:
                self.cluster = LocalCluster(
                    n_workers=config.workers,
                    threads_per_worker=config.threads_per_worker,
                    processes=True,
                    dashboard_address=":0",  # a free port: never clashes with another cluster
                    preload=["reconcile.engine._partition"],  # imported while the workers start
                )
            except Exception as exc:
                raise EngineError(
                    f"could not start a Dask LocalCluster of {config.workers} worker process(es) "
                    f"({type(exc).__name__}: {exc}); a script that runs reconcile with engine kind dask "
                    "must start it under `if __name__ == \"__main__\":` (workers import the script again)"
                ) from exc
            try:
                self.client = Client(self.cluster)
            except BaseException:
                self.cluster.close()
                raise
        workers = len(self.client.scheduler_info(n_workers=-1)["workers"])
        # One per worker by default: a partition costs fixed work (every rule
        # filters every table of it), so more only pay on uneven workers.
        self.partitions = config.partitions or max(workers, 1)
        log.info("dask engine: %s, %d worker(s), %d partitions",
                 config.address or "LocalCluster", workers, self.partitions)

    def _check_workers(self) -> None:
        """Fail clearly unless the cluster has workers running this reconcile version."""
        try:
            self.client.wait_for_workers(1, timeout=self.config.timeout)
        except (OSError, TimeoutError) as exc:
            raise EngineError(
                f"the Dask scheduler at {self.config.address!r} has no workers "
                f"(waited {self.config.timeout:g} s); start some (dask worker {self.config.address})"
            ) from exc
        def worker_version() -> tuple[str, bool]:
            # A nested function travels by value: a worker with another reconcile still answers.
            import importlib
            import importlib.util

            import reconcile

            version = str(reconcile.__version__)
            if version == __version__:  # import the tasks' modules now, not during the first stage
                importlib.import_module("reconcile.engine._partition")
            return version, importlib.util.find_spec("pyarrow") is not None

        try:
            answers = self.client.run(worker_version)
        except Exception as exc:  # a worker cannot import reconcile
            raise EngineError(
                f"the workers of the Dask cluster at {self.config.address!r} cannot import reconcile "
                f"({type(exc).__name__}: {exc}); install reconcile-engine {__version__} on every worker"
            ) from exc
        versions = {worker: version for worker, (version, _) in answers.items()}
        # Text columns travel as Arrow arrays only if every worker can read them.
        self.arrow = self.arrow and all(arrow for _, arrow in answers.values())
        other = {worker: version for worker, version in versions.items() if version != __version__}
        if other:
            listed = ", ".join(f"{worker} has {version}" for worker, version in sorted(other.items()))
            raise EngineError(
                f"the workers of the Dask cluster at {self.config.address!r} must run reconcile "
                f"{__version__}, as this process does: {listed}"
            )

    def close(self) -> None:
        """Disconnect; close the LocalCluster if this engine started it."""
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    # ---------------------------------------------------------------- helpers

    def _scatter(self, value: Any, broadcast: bool = False) -> Future:
        """One future for ``value`` on the workers (sent straight there, not through the scheduler)."""
        return self.client.scatter([value], broadcast=broadcast, hash=False)[0]

    def _scatter_all(self, values: Sequence[Any]) -> list[Future]:
        """Futures for ``values``, spread over the workers in one go (they unpack them at the same time)."""
        if not values:
            return []
        return list(self.client.scatter(list(values), hash=False))

    # ---------------------------------------------------------------- stages

    def normalise_tables(self, tables: Mapping[str, pd.DataFrame], config: Config) -> dict[str, pd.DataFrame]:
        """The ``_n_*`` columns of every identity table, computed on row ranges by the workers."""
        phases = _Phases("normalise")
        region = config.normalise.default_region
        out = dict(tables)
        jobs: list[tuple[str, PackedFrame]] = []
        for record_type, frame in tables.items():
            if not RECORD_TYPES[record_type].identity:
                continue
            if frame.empty or not normalisable(frame):
                if not frame.empty:
                    log.info("normalising %s in the client: a text column holds values that are not text",
                             record_type)
                out[record_type] = normalise_table(frame, record_type, default_region=region)
                continue
            inputs = frame[[c for c in NORMALISE_INPUTS if c in frame.columns]]
            jobs += [(record_type, PackedFrame(inputs.iloc[a:b], self.arrow))
                     for a, b in row_chunks(len(frame), self.partitions)]
        pending: dict[str, list[Future]] = {}
        for (record_type, _), chunk in zip(jobs, self._scatter_all([job for _, job in jobs]), strict=True):
            pending.setdefault(record_type, []).append(
                self.client.submit(normalise_chunk, chunk, record_type, region, pure=False)
            )
        phases("sent")
        for record_type, futures in pending.items():
            chunks = [packed.frame for packed in self.client.gather(futures)]
            phases("waited")
            frame = tables[record_type]
            normalised = frame.copy()
            for name in NORMALISED_COLUMNS:
                values = np.concatenate([chunk[name].to_numpy(dtype=object) for chunk in chunks])
                normalised[name] = pd.Series(values, index=normalised.index, dtype=object)
            out[record_type] = normalised
            phases("assembled")
        phases.log()
        return out

    def match_entities(
        self, tables: Mapping[str, pd.DataFrame], config: Config, model: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, pd.DataFrame], MatchResult]:
        """The pipeline's ``match_entities``, with pairs found and compared on the workers."""
        from reconcile.pipeline import match_entities

        runner = DaskPairRunner(self)
        try:
            with using_runner(runner):
                return match_entities(tables, config, model)
        finally:
            runner.release()

    def evaluate(
        self,
        tables: Mapping[str, pd.DataFrame],
        rules: list[Rule],
        as_of: dt.datetime,
        open_findings: Sequence[Finding] | None = None,
    ) -> list[Finding]:
        """The rules' findings: entity-local rules on entity partitions, the others here.

        The same as :func:`reconcile.rules.engine.evaluate_rules`: rules in
        order, each rule's findings by subject, ``needs_findings`` rules last
        seeing the others' findings, and the first rule (in that order) that
        fails is the error.
        """
        phases = _Phases("rules")
        enabled = [r for r in rules if r.enabled]
        first = [r for r in enabled if not type(r).needs_findings]
        later = [r for r in enabled if type(r).needs_findings]
        spread = [r for r in first if type(r).entity_local]
        ctx = RuleContext(as_of=as_of, tables=tables, open_findings=open_findings if open_findings is not None else [])
        futures: list[Future] = []
        if spread:
            partition = entity_partitions(tables, self.partitions)
            phases("partitioned")
            if partition is None:
                log.info("a table has no _rid column: every rule runs in the client")
                spread = []
            else:
                rules_future = self._scatter(spread, broadcast=True)
                parts = [
                    {record_type: PackedFrame(frame, self.arrow) for record_type, frame in part.items()}
                    for part in split_tables(tables, partition, self.partitions)
                    if any(not frame.empty for frame in part.values())
                ]
                phases("split")
                futures = [
                    self.client.submit(rules_task, rules_future, as_of, part, pure=False)
                    for part in self._scatter_all(parts)
                ]
                del parts
                phases("sent")
        by_rule: dict[int, list[Finding]] = {}
        failed: dict[int, RuleEvaluationError] = {}
        on_workers = {id(rule) for rule in spread}
        for rule in first:
            if id(rule) in on_workers:
                continue
            try:
                by_rule[id(rule)] = evaluate_rules([rule], ctx)
            except RuleEvaluationError as exc:
                failed[id(rule)] = exc
                break  # the local engine stops here too; a rule before it may still have failed on a worker
        phases("client rules")
        if spread:
            results = self.client.gather(futures)
            phases("waited")
            for position, rule in enumerate(spread):
                outcomes = [result[position] for result in results]
                failure = next((o for o in outcomes if isinstance(o, RuleFailure)), None)
                if failure is not None:
                    error = RuleEvaluationError(rule, failure.message)
                    error.__cause__ = RemoteRuleError(failure.trace)
                    failed[id(rule)] = error
                    continue
                try:
                    by_rule[id(rule)] = merge_findings(rule, outcomes)
                except RuleEvaluationError as exc:
                    failed[id(rule)] = exc
        for rule in first:
            if id(rule) in failed:
                raise failed[id(rule)]
        if later:
            earlier = [f for rule in first for f in by_rule[id(rule)]]
            with_findings = RuleContext(
                as_of=ctx.as_of, tables=ctx.tables, findings=[*ctx.findings, *earlier],
                open_findings=ctx.open_findings,
            )
            for rule in later:
                by_rule[id(rule)] = evaluate_rules([rule], with_findings)
        phases("merged")
        phases.log()
        return [f for rule in enabled for f in by_rule[id(rule)]]


class RemoteRuleError(Exception):
    """A rule's exception on a Dask worker, with the worker's traceback as its message."""


class DaskPairRunner:
    """Candidate pairs found and compared on the workers, partitioned by blocking key.

    Returns exactly what :class:`~reconcile.match._runner.LocalRunner`
    returns: each rule's and pass's pairs are generated per key partition
    (a key value's records are all in one), each pair only by the first rule
    or pass that generates it, and the union is sorted by ``(left, right)``.
    """

    def __init__(self, engine: DaskEngine):
        self.engine = engine
        self.client = engine.client
        self.parts = engine.partitions
        self._shared: Future | None = None
        self._shared_for: Sequence[Comparator] | None = None

    def release(self) -> None:
        """Drop what was sent to the workers."""
        if self._shared is not None:
            self._shared.release()
        self._shared = self._shared_for = None

    def _share(self, plan: CandidatePlan, owner: np.ndarray) -> Future:
        shared = SharedPairs(owner=owner, groups=plan.groups, comparators=plan.comparators)
        self.release()
        self._shared = self.engine._scatter(shared, broadcast=True)
        self._shared_for = plan.comparators
        return self._shared

    def candidates(self, plan: CandidatePlan) -> Candidates:
        started = time.perf_counter()
        phases = _Phases("candidate pairs")
        owner = owner_table([p for p in plan.parts if isinstance(p, BlockPart)], plan.n)
        shared = self._share(plan, owner)
        phases("comparators sent")
        tasks: list[tuple[int, Future]] = []
        counts = [0] * len(plan.parts)
        local: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        neighbourhood: list[tuple[np.ndarray, np.ndarray]] = []
        column = 0
        jobs: list[tuple[int, int, str, np.ndarray]] = []
        for index, part in enumerate(plan.parts):
            if isinstance(part, BlockPart):
                skipped, members = block_partitions(part, self.parts)
                log_skipped(part, skipped)
                jobs += [(index, column, part.kind, chunk) for chunk in members]
                column += 1
                continue
            # A sorted neighbourhood pass is one window over all keys: its pairs are found here.
            left, right = sorted_neighbourhood_pairs(part.keys, part.window)
            if plan.groups is not None:
                left, right = across(plan.groups, left, right)
            counts[index] = len(left)
            neighbourhood.append(fresh_pairs(owner, left, right))
        chunks = self.engine._scatter_all([chunk for *_, chunk in jobs])
        for (index, position, kind, _), chunk in zip(jobs, chunks, strict=True):
            tasks.append((index, self.client.submit(block_task, shared, position, kind, chunk, pure=False)))
        if neighbourhood:
            packed = np.concatenate([a * np.int64(plan.n) + b for a, b in neighbourhood])
            packed = pd.unique(packed)
            left, right = packed // plan.n, packed % plan.n
            local.append((left, right, self.compare(plan.comparators, left, right)))
        phases("tasks sent")
        results = self.client.gather([future for _, future in tasks])
        phases("waited")
        for (index, _), (left, right, levels, counted) in zip(tasks, results, strict=True):
            counts[index] += counted
            local.append((left, right, levels))
        width = len(plan.comparators)
        if local:
            left = np.concatenate([part[0] for part in local]).astype(np.int64)
            right = np.concatenate([part[1] for part in local]).astype(np.int64)
            levels = np.concatenate([part[2] for part in local]) if width else np.zeros((len(left), 0), np.int8)
        else:
            left = right = np.zeros(0, dtype=np.int64)
            levels = np.zeros((0, width), dtype=np.int8)
        # Every pair came from one task only: sorting them gives the local engine's union.
        order = np.argsort(left * np.int64(max(plan.n, 1)) + right, kind="stable")
        seconds = {"candidates": time.perf_counter() - started, "compare": 0.0}
        phases("sorted")
        phases.log()
        return Candidates(left=left[order], right=right[order], levels=levels[order], pairs=counts, seconds=seconds)

    def compare(self, comparators: Sequence[Comparator], left: np.ndarray, right: np.ndarray) -> np.ndarray:
        if self._shared is None or self._shared_for is not comparators or len(left) == 0:
            return compare_pairs(comparators, left, right)
        phases = _Phases("comparisons")
        chunks = row_chunks(len(left), self.parts)
        futures = [
            self.client.submit(compare_task, self._shared, pairs, pure=False)
            for pairs in self.engine._scatter_all([(left[a:b], right[a:b]) for a, b in chunks])
        ]
        phases("sent")
        levels = np.concatenate(self.client.gather(futures))
        phases("waited")
        phases.log()
        return levels
