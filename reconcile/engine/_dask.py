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

Every table is sent once: in row ranges during the normalise stage (the
tables that are not normalised by a thread while matching runs), kept on
the workers, and split there by entity for the rules; the client then sends
only the columns matching added and each record's partition (:class:`_Held`
tells which columns the workers hold unchanged).

Every task computes exactly what the local engine computes for its part, and
the client puts the parts back in the local engine's order, so the findings
are the same (``tests/engine`` proves it on several worker processes).
"""

from __future__ import annotations

import datetime as dt
import logging
import operator
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
    RuleFailure,
    SharedPairs,
    block_partitions,
    block_task,
    compare_task,
    entity_components,
    fresh_pairs,
    gc_paused,
    local_partitions,
    merge_findings,
    normalisable,
    normalise_rows,
    normalised_columns,
    owner_table,
    row_chunks,
    rules_on_pieces,
    split_rows,
)
from reconcile.engine._transport import arrow_available
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


def _column_token(frame: pd.DataFrame, position: int) -> tuple[tuple[Any, ...], Any] | None:
    """What identifies the data of a column (its array's address, shape, strides, dtype), and that array.

    A shallow copy of a frame (``copy(deep=False)``, new columns added) keeps
    its columns' tokens; a column replaced or a frame copied gets new ones.
    None when the column's data cannot be told this way.
    """
    try:
        values = frame._mgr.iget_values(position)
    except Exception:  # pandas internals: if they change, every column is sent again
        return None
    array = values if isinstance(values, np.ndarray) else getattr(values, "_ndarray", None)
    dtype = str(frame.dtypes.iloc[position])
    if isinstance(array, np.ndarray):
        return ("array", array.__array_interface__["data"][0], array.strides, array.shape, dtype), array
    return ("object", id(values), len(values), dtype), values


def _tokens(frame: pd.DataFrame) -> tuple[dict[Any, tuple[Any, ...]], list[Any]]:
    """The token of every column of ``frame`` (none if its column names repeat), and the arrays they name."""
    tokens: dict[Any, tuple[Any, ...]] = {}
    arrays: list[Any] = []
    if not frame.columns.is_unique:
        return tokens, arrays
    for position, name in enumerate(frame.columns):
        token = _column_token(frame, position)
        if token is not None:
            tokens[name], array = token
            arrays.append(array)
    return tokens, arrays


@dataclass
class _Held:
    """A table the workers already hold, as consecutive row ranges (for the rules stage).

    Attributes:
        rows: The table's rows.
        chunks: Each row range's future and its rows ``(start, stop)``, in order.
        tokens: Per column the workers hold: the token (:func:`_column_token`)
            of the client's column they hold a copy of.
        arrays: Those columns' arrays, kept so that no other array takes
            their address while the tokens are compared.
    """

    rows: int
    chunks: list[tuple[Future, int, int]]
    tokens: dict[Any, tuple[Any, ...]] = field(default_factory=dict)
    arrays: list[Any] = field(default_factory=list)

    def kept(self, frame: pd.DataFrame) -> list[Any]:
        """The columns of ``frame`` the workers hold as they are (the others are sent)."""
        if len(frame) != self.rows:
            return []
        tokens, _ = _tokens(frame)
        return [name for name, token in tokens.items() if self.tokens.get(name) == token]


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
        #: The tables the workers hold since the normalise stage, by record type (see :meth:`evaluate`).
        self._held: dict[str, _Held] = {}
        #: The thread sending the tables that are not normalised, while matching runs (see :meth:`_send_later`).
        self._sender: tuple[threading.Thread, dict[str, Any], dict[str, Any]] | None = None
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
        #: The workers' addresses: partition ``p`` lives on ``self.workers[p]`` when there are as many.
        self.workers: list[str] = sorted(self.client.scheduler_info(n_workers=-1)["workers"])
        workers = len(self.workers)
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
        self._release_held()
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()

    # ---------------------------------------------------------------- helpers

    def _scatter(self, value: Any, broadcast: bool = False) -> Future:
        """One future for ``value`` on the workers (sent straight there, not through the scheduler)."""
        return self.client.scatter([value], broadcast=broadcast, hash=False)[0]

    def _pinned(self) -> bool:
        """Whether partition ``p`` (and row range ``p`` of each table) is placed on worker ``p``."""
        return len(self.workers) == self.partitions

    def _scatter_ranges(self, tables: Mapping[str, pd.DataFrame], ranges: Sequence[tuple[str, int, int]]) -> list[Future]:
        """Futures for row ranges ``(record_type, start, stop)`` of the tables, the ``i``-th range of a
        table on worker ``i`` (when there are as many workers as partitions), so that a worker holds
        the same stretch of every table."""
        if not ranges:
            return []
        if not self._pinned():
            return self._scatter_all([tables[t].iloc[a:b] for t, a, b in ranges])
        position: dict[str, int] = {}
        by_worker: dict[int, list[int]] = {}
        for number, (record_type, _, _) in enumerate(ranges):
            index = position.get(record_type, 0)
            position[record_type] = index + 1
            by_worker.setdefault(index % len(self.workers), []).append(number)
        out: list[Future | None] = [None] * len(ranges)
        for worker, numbers in by_worker.items():
            values = [tables[ranges[n][0]].iloc[ranges[n][1]:ranges[n][2]] for n in numbers]
            for n, future in zip(numbers, self.client.scatter(values, workers=[self.workers[worker]], hash=False),
                                 strict=True):
                out[n] = future
        return [future for future in out if future is not None]

    def _scatter_all(self, values: Sequence[Any]) -> list[Future]:
        """Futures for ``values``, spread over the workers in one go (they unpack them at the same time)."""
        if not values:
            return []
        return list(self.client.scatter(list(values), hash=False))

    # ---------------------------------------------------------------- stages

    def _send_later(self, tables: Mapping[str, pd.DataFrame], ranges: list[tuple[str, int, int]]) -> None:
        """Send row ranges of tables to the workers from a thread, to be held for the rules stage.

        The tables that are not normalised are needed only by the rules: they
        are sent while the match stage runs, when the workers are mostly idle
        (the client's matching and this thread share one core; the workers
        unpack them on the other). :meth:`_wait_sent` waits for the thread.
        """
        if not ranges:
            return
        frames = {record_type: tables[record_type] for record_type, _, _ in ranges}
        tokens = {record_type: _tokens(frame) for record_type, frame in frames.items()}  # now, in this thread
        box: dict[str, Any] = {}

        def send() -> None:
            try:
                chunks: dict[str, list[tuple[Future, int, int]]] = {}
                for (record_type, a, b), future in zip(ranges, self._scatter_ranges(frames, ranges), strict=True):
                    chunks.setdefault(record_type, []).append((future, a, b))
                box["chunks"] = chunks
            except BaseException as exc:  # raised where the tables are needed (_wait_sent)
                box["error"] = exc

        thread = threading.Thread(target=send, name="reconcile-dask-send", daemon=True)
        thread.start()
        self._sender = (thread, {"frames": frames, "tokens": tokens}, box)

    def _wait_sent(self) -> None:
        """Wait for :meth:`_send_later`'s thread; what it sent is then held (its error raised here)."""
        if self._sender is None:
            return
        thread, sent, box = self._sender
        thread.join()
        self._sender = None
        if "error" in box:
            raise box["error"]
        for record_type, chunks in box["chunks"].items():
            tokens, arrays = sent["tokens"][record_type]
            self._held[record_type] = _Held(len(sent["frames"][record_type]), chunks, tokens, arrays)

    def _release_held(self) -> None:
        """Let the workers drop the tables they hold (and the client the arrays it kept for them)."""
        try:
            self._wait_sent()
        except Exception:  # the error is the run's only if its tables were needed
            log.debug("sending the tables failed", exc_info=True)
        for held in self._held.values():
            for future, _, _ in held.chunks:
                future.release()
        self._held = {}

    def normalise_tables(self, tables: Mapping[str, pd.DataFrame], config: Config) -> dict[str, pd.DataFrame]:
        """The ``_n_*`` columns of every identity table, computed on row ranges by the workers.

        Every table goes to the workers here, once, in row ranges, and stays
        there (with its ``_n_*`` columns) for the rules stage, which then
        sends only the columns matching added (:meth:`evaluate`). The
        identity tables go here; the others are sent by a thread while the
        match stage runs (:meth:`_send_later`).
        """
        phases = _Phases("normalise")
        self._release_held()
        region = config.normalise.default_region
        out = dict(tables)
        identity: list[tuple[str, int, int]] = []
        others: list[tuple[str, int, int]] = []
        for record_type, frame in tables.items():
            if frame.empty:
                if RECORD_TYPES[record_type].identity:
                    out[record_type] = normalise_table(frame, record_type, default_region=region)
                continue
            if RECORD_TYPES[record_type].identity and not normalisable(frame):
                log.info("normalising %s in the client: a text column holds values that are not text", record_type)
                out[record_type] = normalise_table(frame, record_type, default_region=region)
                continue  # not held: the rules stage sends it
            jobs = identity if RECORD_TYPES[record_type].identity else others
            jobs += [(record_type, a, b) for a, b in row_chunks(len(frame), self.partitions)]
        held: dict[str, list[tuple[Future, int, int]]] = {}
        pending: dict[str, list[Future]] = {}
        # A table at a time, the largest first: the workers normalise one while the next is packed and sent.
        for record_type in sorted({t for t, _, _ in identity}, key=lambda t: -len(tables[t])):
            ranges = [job for job in identity if job[0] == record_type]
            for (_, a, b), chunk in zip(ranges, self._scatter_ranges(tables, ranges), strict=True):
                rows = self.client.submit(normalise_rows, chunk, record_type, region, pure=False)
                held.setdefault(record_type, []).append((rows, a, b))
                pending.setdefault(record_type, []).append(
                    self.client.submit(normalised_columns, rows, self.arrow, pure=False)
                )
        phases("sent identity tables")
        for record_type, futures in pending.items():
            chunks = [packed.frame for packed in self.client.gather(futures)]
            phases("waited")
            frame = tables[record_type]
            normalised = frame.copy(deep=False)  # new columns only: the others are shared, not copied
            for name in NORMALISED_COLUMNS:
                values = np.concatenate([chunk[name].to_numpy(dtype=object) for chunk in chunks])
                normalised[name] = pd.Series(values, index=normalised.index, dtype=object)
            out[record_type] = normalised
            phases("assembled")
        for record_type, chunks in held.items():
            tokens, arrays = _tokens(out[record_type])
            self._held[record_type] = _Held(len(out[record_type]), chunks, tokens, arrays)
        self._send_later(tables, others)  # the other tables, kept there for the rules, while matching runs
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
            components = entity_components(tables)
            phases("components")
            if components is None:
                log.info("a table has no _rid column: every rule runs in the client")
                spread = []
            else:
                futures = self._submit_rules(spread, as_of, tables, components, phases)
        self._release_held()  # the rules' tasks hold what they need of it
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
            with gc_paused():  # unpickling the findings, and merging them
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


    def _submit_rules(
        self,
        rules: list[Rule],
        as_of: dt.datetime,
        tables: Mapping[str, pd.DataFrame],
        components: Mapping[str, np.ndarray],
        phases: _Phases,
    ) -> list[Future]:
        """Submit the entity-local rules on every partition; a future per non-empty partition.

        The workers split the row ranges they hold (:meth:`normalise_tables`)
        by partition, with the columns they lack (those matching added, or
        any the client's table holds in another array) sent along; a table
        they do not hold is sent whole, in row ranges. Each partition's task
        joins its pieces of every table in row order, which gives exactly
        :func:`split_tables`'s partition. With as many partitions as workers,
        partition ``p`` runs on worker ``p`` and each component goes to the
        worker holding most of its rows (:func:`local_partitions`), so few
        rows move between workers.
        """
        parts = self.partitions
        self._wait_sent()
        rules_future = self._scatter(rules, broadcast=True)
        chunks: dict[str, list[tuple[Future, int, int]]] = {}
        columns_sent: dict[str, list[Any]] = {}
        fresh: list[tuple[str, int, int]] = []
        for record_type, frame in tables.items():
            if frame.empty:
                continue
            held = self._held.get(record_type)
            kept = set(held.kept(frame)) if held is not None else set()
            if held is None or not kept:
                fresh += [(record_type, a, b) for a, b in row_chunks(len(frame), parts)]
                continue
            chunks[record_type] = held.chunks
            columns_sent[record_type] = [name for name in frame.columns if name not in kept]
        for (record_type, a, b), chunk in zip(fresh, self._scatter_ranges(tables, fresh), strict=True):
            chunks.setdefault(record_type, []).append((chunk, a, b))
            columns_sent[record_type] = []
        phases("sent tables")
        where = self.client.who_has([future for ranges in chunks.values() for future, _, _ in ranges])
        number = {address: index for index, address in enumerate(self.workers)}

        def home(future: Future) -> str | None:
            workers = where.get(future.key) or []
            return str(workers[0]) if workers else None

        if self._pinned():
            homes = {record_type: np.zeros(len(frame), dtype=np.int64) for record_type, frame in tables.items()}
            for record_type, ranges in chunks.items():
                for future, a, b in ranges:
                    homes[record_type][a:b] = number.get(home(future) or "", 0)
            partition = local_partitions(components, homes, parts)
        else:
            partition = {record_type: labels % parts for record_type, labels in components.items()}
        sizes = np.zeros(parts, dtype=np.int64)
        for labels in partition.values():
            sizes += np.bincount(labels, minlength=parts)
        phases("partitioned")
        # What each row range lacks, and its rows' partitions, sent to the worker that holds it.
        extras: dict[str | None, list[tuple[Any, Any]]] = {}
        for record_type, ranges in chunks.items():
            frame, labels, missing = tables[record_type], partition[record_type], columns_sent[record_type]
            for future, a, b in ranges:
                more = frame.iloc[a:b][missing] if missing else None
                extras.setdefault(home(future), []).append((future.key, (more, labels[a:b])))
        extra_futures: dict[Any, Future] = {}
        for worker, items in extras.items():
            sent = self.client.scatter([item for _, item in items], workers=None if worker is None else [worker],
                                       hash=False)
            for (key, _), future in zip(items, sent, strict=True):
                extra_futures[key] = future
        phases("sent columns")
        pieces: list[dict[str, list[Any]]] = [{} for _ in range(parts)]
        for record_type, frame in tables.items():
            if frame.empty:
                empty = frame.iloc[:0]
                for p in range(parts):
                    pieces[p][record_type] = [empty]
                continue
            columns = list(frame.columns)
            for future, _, _ in chunks[record_type]:
                split = self.client.submit(split_rows, future, extra_futures[future.key], columns, parts, pure=False)
                for p in range(parts):
                    pieces[p].setdefault(record_type, []).append(
                        self.client.submit(operator.getitem, split, p, pure=False)
                    )
        # Partition p where its rows are (another worker may still take it, if that one is lost).
        placed: dict[str, Any] = {"allow_other_workers": True} if self._pinned() else {}
        futures = [
            self.client.submit(rules_on_pieces, rules_future, as_of, pieces[p], pure=False,
                               **({"workers": [self.workers[p]], **placed} if placed else {}))
            for p in range(parts) if sizes[p]
        ]
        phases("submitted")
        return futures


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
