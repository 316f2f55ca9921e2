"""The run: extract, normalise, match, evaluate rules, persist, report.

Each stage is a typed function, so a test (or an app) can start at any stage:
:func:`extract_sources` -> :func:`build_tables` -> :func:`normalise_tables` ->
:func:`match_entities` -> :func:`evaluate` ; :func:`run` chains them with the
store and the reports.
"""

from __future__ import annotations

import datetime as dt
import logging
import pickle
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd
from sqlalchemy.engine import make_url

from reconcile._factorize import factorize_texts
from reconcile._memory import return_free_memory
from reconcile._pause import pause_point
from reconcile.config import Config, load_config
from reconcile.engine import open_engine
from reconcile.errors import RunError, StoreError
from reconcile.extract import ExtractResult, build_adapter
from reconcile.findings import Finding
from reconcile.incremental import (
    NORMALISED_OK,
    apply_snapshots,
    check_row_counts,
    normalised_tag,
    plan_cursors,
)
from reconcile.match import MatchResult, attach_match_evidence, resolve
from reconcile.match._dependents import _entity_columns, attach_dependents
from reconcile.model import PARTY_FIELDS, RECORD_TYPES
from reconcile.normalise import NORMALISED_COLUMNS, normalise_table
from reconcile.results import QuarantinedRow, RunResult, SourceHealth
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.engine import evaluate_rules, fewer_collections
from reconcile.store._snapshots import DERIVED_PREFIX

if TYPE_CHECKING:
    from reconcile.notify import NotifyConfig

__all__ = [
    "attach_dependents",
    "build_tables",
    "evaluate",
    "extract_sources",
    "match_entities",
    "normalise_tables",
    "run",
]

log = logging.getLogger("reconcile")

Progress = Callable[[str], None]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def extract_sources(
    config: Config,
    since: Mapping[str, Mapping[str, Any]] | None = None,
    scan_keys: Mapping[str, Collection[str]] | None = None,
    progress: Progress | None = None,
) -> list[ExtractResult]:
    """Read every configured source through its adapter.

    Args:
        config: The run's configuration.
        since: source -> record type -> cursor, for streams read incrementally.
        scan_keys: source -> record types whose keys are all read (hard deletes).
        progress: Told of each source as it is read (see :func:`run`).
    """
    results = []
    for number, (name, source) in enumerate(config.sources.items()):
        _step(progress, "extract", number, len(config.sources), name)
        log.info("extracting source %s (%s)", name, source.kind)
        adapter = build_adapter(name, source, config.base_dir)
        result = adapter.extract(
            since=(since or {}).get(name), scan_keys=(scan_keys or {}).get(name, ())
        )
        assert result.health is not None
        log.info(
            "source %s: %d read, %d used, %d quarantined%s",
            name,
            result.health.rows_read,
            result.health.rows_used,
            result.health.rows_quarantined,
            "" if result.health.healthy else f" - UNHEALTHY: {result.health.error}",
        )
        results.append(result)
    _step(progress, "extract", len(config.sources), len(config.sources))
    return results


def _step(progress: Progress | None, stage: str, done: int, total: int, what: str = "") -> None:
    """Tell a progress callback with a ``step`` method how far a stage has come."""
    step = getattr(progress, "step", None)
    if step is not None:
        step(stage, done, total, what)


def build_tables(
    results: Iterable[ExtractResult],
    snapshots: Mapping[tuple[str, str], pd.DataFrame] | None = None,
    *,
    release: bool = False,
) -> dict[str, pd.DataFrame]:
    """One DataFrame per record type, across sources, with the meta columns.

    Args:
        results: The sources' extracts.
        snapshots: The merged records of streams read incrementally, by
            (source, record type) (``StateChanges.frames``); they stand for
            the extract's rows of those streams.
        release: Drop each record type's rows from its extract once its frame
            is built (the results are spent afterwards; their health,
            quarantine, cursors and deletions stay). At a million customers
            this keeps gigabytes of rows from being held twice.
    """
    snapshots = snapshots or {}
    parts: dict[str, list[pd.DataFrame]] = {}
    for result in results:
        record_types = list(result.record_types)
        record_types += [t for (source, t) in snapshots if source == result.source and t not in record_types]
        for record_type in record_types:
            model = RECORD_TYPES[record_type]
            merged = snapshots.get((result.source, record_type))
            # Built from the extract's columns (no dict per row), or the stream's kept frame.
            frame = result.frame(record_type) if merged is None else merged
            if release and record_type in result.record_types:
                del result.records[record_type]
            # A kept frame's values are shared in it, not in a copy of it: the frame's
            # unshared values would stay alive beside the table's until it is encoded.
            share_repeated_values(frame)
            if merged is not None:
                frame = merged.copy(deep=False)  # the meta columns are not added to the kept snapshot
            frame["_source"] = result.source
            frame["_key"] = frame[model.key_field].astype(str)
            # What `prefix + frame["_key"]` gives, a text at a time (without pandas' operator machinery).
            prefix = f"{result.source}:{record_type}:"
            frame["_rid"] = pd.Series([prefix + key for key in frame["_key"].tolist()], index=frame.index, dtype=object)
            parts.setdefault(record_type, []).append(frame)
    tables = {}
    for record_type, frames in parts.items():
        non_empty = [f for f in frames if not f.empty]
        if len(non_empty) == 1 and non_empty[0].index.equals(pd.RangeIndex(len(non_empty[0]))):
            tables[record_type] = non_empty[0]  # one source: nothing to stack, nothing to copy
        else:
            tables[record_type] = (
                pd.concat(non_empty, ignore_index=True) if non_empty else frames[0].iloc[0:0].copy()
            )
        parts[record_type] = []
    return tables


#: Columns this long or longer are checked for repeated values (see share_repeated_values).
_SHARE_MIN_ROWS = 1000
#: Rows drawn to estimate how often a column's values repeat.
_SHARE_SAMPLE = 4000


def share_repeated_values(frame: pd.DataFrame) -> None:
    """Make equal text (or date) values of a column one object, in place.

    Drivers make a new Python object for every cell: a status, a city or a
    date repeated a million times is a million objects. Columns that repeat
    their values (on average twice or more, by the estimate below) and hold
    only text or only dates (and missing values) are rebuilt from their
    distinct values, so each is kept once. Values and types do not change
    (equal ``str`` or ``date`` objects are interchangeable); about a quarter
    less memory for the demo world's tables' values.

    The distinct values are estimated from a random sample of rows: ``n``
    values drawn from ``d`` equally frequent ones give about ``n(n-1)/2d``
    equal pairs. A foreign key (an invoice's account) repeats a few times
    per value, which a sample shows only as a few equal pairs among
    thousands, never as a sample of mostly equal values.
    """
    for name in frame.columns:
        column = frame[name]
        if column.dtype != object or len(column) < _SHARE_MIN_ROWS:
            continue
        values = column.to_numpy()
        rows = np.random.default_rng(0).choice(len(values), min(_SHARE_SAMPLE, len(values)), replace=False)
        sample = [v for v in values[rows].tolist() if v is not None and v == v]
        try:
            counts = Counter(sample)
        except TypeError:
            continue  # unhashable values
        drawn = sum(counts.values())
        pairs = sum(k * (k - 1) // 2 for k in counts.values())
        if not pairs or drawn * (drawn - 1) / (2 * pairs) * 2 > len(values):
            continue  # mostly distinct (keys, names): little to share
        if len({id(v) for v in sample}) == len(counts):
            continue  # equal values drawn are one object already (the extract shared them)
        if pd.api.types.infer_dtype(values, skipna=True) not in ("string", "date"):
            continue  # mixed types: equal values of different types must stay apart
        # Not pd.factorize alone: it would make '' and '\x00' one value (text as C strings).
        codes, uniques = factorize_texts(values)
        missing = codes < 0
        if missing.all():
            continue
        shared = np.asarray(uniques, dtype=object).take(np.where(missing, 0, codes))
        if missing.any():
            shared[missing] = values[missing]  # None stays None
        frame[name] = pd.Series(shared, index=frame.index, dtype=object, name=name)


def normalise_tables(tables: Mapping[str, pd.DataFrame], config: Config) -> dict[str, pd.DataFrame]:
    """Add the normalised ``_n_*`` columns to every identity table."""
    out = dict(tables)
    for record_type, frame in tables.items():
        if RECORD_TYPES[record_type].identity:
            out[record_type] = normalise_table(
                frame, record_type, default_region=config.normalise.default_region
            )
    return out


#: The store artifact holding the matching model, reused by the next run.
MODEL_ARTIFACT = "match-model"


def stack_identity(tables: Mapping[str, pd.DataFrame], columns: Collection[str] | None = None) -> pd.DataFrame:
    """The identity records of every type in one frame, as matching reads them.

    Columns: ``_rid``, ``_source``, ``_type``, ``_key``, the party fields,
    ``vin`` and the normalised ``_n_*`` columns; a type without a column has
    None there. Built column by column: a column every type has with one
    dtype keeps it, any other is an object column.

    Args:
        tables: The normalised tables.
        columns: Only these of those columns (in that order), when given:
            :func:`match_entities` stacks the ones matching reads (a column
            is an array of millions of references at a million customers).
    """
    frames = [(t, f) for t, f in tables.items() if RECORD_TYPES[t].identity]
    names = ["_rid", "_source", "_type", "_key", *PARTY_FIELDS, "vin"]
    for _, frame in frames:
        names += [c for c in frame.columns if c.startswith("_n_") and c not in names]
    if columns is not None:
        names = [c for c in names if c in columns]
    if not frames:
        return pd.DataFrame(columns=names)
    sizes = [len(frame) for _, frame in frames]
    data: dict[str, Any] = {}
    for name in names:
        if name == "_type":
            data[name] = pd.Series(np.repeat(np.array([t for t, _ in frames], dtype=object), sizes), dtype=object)
            continue
        parts = [frame[name] if name in frame.columns else None for _, frame in frames]
        dtypes = {p.dtype for p in parts if p is not None}
        if all(p is not None for p in parts) and len(dtypes) == 1 and not pd.api.types.is_object_dtype(next(iter(dtypes))):
            data[name] = pd.concat(parts, ignore_index=True)  # type: ignore[arg-type]
            continue
        column = np.empty(sum(sizes), dtype=object)
        at = 0
        for part, size in zip(parts, sizes, strict=True):
            if part is not None:
                column[at : at + size] = part.to_numpy(dtype=object)
            at += size
        # A Series of dtype object: the frame constructor would infer moments in a bare array.
        data[name] = pd.Series(column, dtype=object, copy=False)
    return pd.DataFrame(data, columns=names, copy=False)


def match_entities(
    tables: Mapping[str, pd.DataFrame],
    config: Config,
    model: Mapping[str, Any] | None = None,
) -> tuple[dict[str, pd.DataFrame], MatchResult]:
    """Link identity records across systems into entities, then attach dependents.

    Args:
        tables: Normalised canonical tables.
        config: The run's configuration (its ``matching`` section).
        model: A matching model from an earlier run (``MatchResult.model.to_dict()``),
            reused unless ``matching.reestimate`` says otherwise.
    """
    matching = config.matching
    if matching.training_pairs is not None:
        # A relative path is relative to the configuration file, like every other.
        matching = matching.model_copy(
            update={"training_pairs": config.resolve_path(matching.training_pairs)}
        )
    # The columns resolve reads: the records' ids, sources and types, and what its settings name.
    # Made inside resolve, which lets the frame go once it has read it (about 0.5 GB at a
    # million customers, the match stage's peak was at its end).
    wanted = {"_rid", "_source", "_type", *matching.columns()}
    result = resolve(lambda: stack_identity(tables, wanted), matching, model)
    return_free_memory()  # resolve's temporaries, before the dependents' columns are made
    out = dict(tables)
    for record_type, frame in tables.items():
        if RECORD_TYPES[record_type].identity:
            frame = frame.copy(deep=False)  # new columns only: the others are shared, not copied
            entity, confidence = _entity_columns(frame["_rid"], result)
            frame["_entity"] = entity
            frame["_confidence"] = confidence
            frame["_parent_rid"] = None
            out[record_type] = frame
    result.forget_lookups()  # the rids' hash table the lookups above built: about 160 MiB at a million customers
    return attach_dependents(out), result


class OpenFindings(Sequence[Finding]):
    """The store's unresolved findings, read the first time a rule looks at them.

    ``RuleContext.open_findings`` of a run: custom rules may read the findings
    earlier runs left open, but no built-in rule does, and at a million
    customers reading them all costs half a minute. The run holds the store's
    lock, so what is read later is what would have been read at the start.
    Pickling (to Dask workers) reads them and sends a list.
    """

    def __init__(self, load: Callable[[], Sequence[Finding]]):
        self._load: Callable[[], Sequence[Finding]] | None = load
        self._items: list[Finding] = []

    @property
    def loaded(self) -> bool:
        """Whether the findings were read."""
        return self._load is None

    def _all(self) -> list[Finding]:
        if self._load is not None:
            self._items = list(self._load())
            self._load = None
        return self._items

    @overload
    def __getitem__(self, index: int) -> Finding: ...

    @overload
    def __getitem__(self, index: slice) -> list[Finding]: ...

    def __getitem__(self, index: int | slice) -> Finding | list[Finding]:
        return self._all()[index]

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._all())

    def __reduce__(self) -> tuple[Any, ...]:
        return (list, (self._all(),))

    def __repr__(self) -> str:
        return f"OpenFindings({len(self._items)} read)" if self.loaded else "OpenFindings(not read yet)"


def evaluate(
    tables: Mapping[str, pd.DataFrame],
    rules: list[Rule],
    as_of: dt.datetime,
    open_findings: Sequence[Finding] | None = None,
) -> list[Finding]:
    """Evaluate the rules over matched tables."""
    ctx = RuleContext(as_of=as_of, tables=tables, open_findings=open_findings if open_findings is not None else [])
    return evaluate_rules(rules, ctx)


def _key_scans_due(
    config: Config, store: Any, plan: Mapping[str, Mapping[str, Any]]
) -> dict[str, set[str]]:
    """Incremental streams whose keys this run scans for hard deletes."""
    due: dict[str, set[str]] = {}
    if store is None or not plan:
        return due
    done = sum(1 for r in store.runs() if r.status == "succeeded")
    for name, streams in plan.items():
        every = config.sources[name].key_scan_every
        if every and (done + 1) % every == 0:
            due[name] = set(streams)
    return due


def _store_url(config: Config) -> str:
    url = make_url(config.store.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = config.resolve_path(url.database)
        path.parent.mkdir(parents=True, exist_ok=True)
        return str(url.set(database=str(path)))
    return config.store.url


@contextmanager
def _timed(timings: dict[str, float], stage: str, progress: Progress | None) -> Iterator[None]:
    return_free_memory()
    if progress:
        progress(stage)
    started = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - started, 3)


def _normalise(engine: Any, tables: Mapping[str, pd.DataFrame], config: Config) -> dict[str, pd.DataFrame]:
    """Normalise the identity tables, reusing the ``_n_*`` columns snapshots kept for unchanged rows.

    Rows whose ``_n_ok`` is True (records of an incremental stream unchanged
    since the last run, whose snapshot kept their normalised columns under
    this release's and configuration's tag) keep them; the engine
    normalises the rest. Normalising is row by row, so the result is the
    table a full normalise would give.
    """
    todo: dict[str, pd.DataFrame] = {}
    cached: dict[str, tuple[pd.DataFrame, np.ndarray]] = {}
    for record_type, frame in tables.items():
        if NORMALISED_OK in frame.columns:
            ok = frame[NORMALISED_OK].eq(True).to_numpy()
            frame = _without(frame, [NORMALISED_OK])
            if RECORD_TYPES[record_type].identity and ok.any():
                cached[record_type] = (frame, ok)
                frame = frame[~ok].drop(columns=list(NORMALISED_COLUMNS), errors="ignore").reset_index(drop=True)
            else:
                frame = _without(frame, NORMALISED_COLUMNS)
        todo[record_type] = frame
    done = engine.normalise_tables(todo, config)
    for record_type, (frame, ok) in cached.items():
        fresh = done[record_type]
        out = frame.copy(deep=False)  # its normalised columns are replaced below, the rest only read
        for column in NORMALISED_COLUMNS:
            values = out[column].to_numpy(dtype=object, copy=True)
            values[~ok] = fresh[column].to_numpy(dtype=object)
            out[column] = pd.Series(values, index=out.index, dtype=object)
        done[record_type] = out
    return done


def _without(frame: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    """``frame.drop(columns=...)`` (absent ones ignored) without a copy of the columns kept: a shallow copy less those."""
    out = frame.copy(deep=False)
    for column in columns:
        if column in out.columns:
            del out[column]
    return out


def _keep_normalised(tables: Mapping[str, pd.DataFrame], frames: dict[tuple[str, str], pd.DataFrame]) -> None:
    """Put each incremental stream's normalised columns beside its snapshot, for the next run.

    A stream whose rows the tables do not hold one for one (same keys, same
    order) keeps its canonical columns only: the normalised columns its
    merged frame took from the snapshot are dropped with ``_n_ok``, never
    kept under the tag with the changed rows' columns missing, which the
    next run would take as normalised.
    """
    for (source, record_type), frame in frames.items():
        derived = [c for c in frame.columns if str(c).startswith(DERIVED_PREFIX)]
        table = tables.get(record_type)
        if table is None or not RECORD_TYPES[record_type].identity or "_n_given" not in table.columns:
            if derived:
                frames[(source, record_type)] = _without(frame, derived)
            continue
        # The source's rows of the table (all of them, usually: no copy of the table then).
        mask = (table["_source"] == source).to_numpy()
        every = bool(mask.all())
        keys = frame[RECORD_TYPES[record_type].key_field].astype(str).to_numpy()
        here = table["_key"].to_numpy()
        if int(mask.sum()) != len(frame) or not ((here if every else here[mask]) == keys).all():
            # Not the rows of this snapshot: keep only the canonical columns.
            if derived:
                frames[(source, record_type)] = _without(frame, derived)
            continue
        kept = _without(frame, derived)
        for column in NORMALISED_COLUMNS:
            values = table[column].to_numpy(dtype=object)
            kept[column] = values.copy() if every else values[mask]
        frames[(source, record_type)] = kept


def _reconcile(
    engine: Any,
    extracted: list[ExtractResult],
    config: Config,
    store: Any,
    state: Any,
    as_of: dt.datetime,
    timings: dict[str, float],
    progress: Progress | None,
    run_id: int | None = None,
) -> tuple[MatchResult, list[Finding]]:
    """Normalise, match and evaluate the rules on the given engine; the match result and the findings."""
    with _timed(timings, "normalise", progress):
        # The extracts' rows are dropped as their frames are built (run() needs
        # only their health and quarantine, taken before).
        tables = _normalise(engine, build_tables(extracted, state.frames, release=True), config)
        _keep_normalised(tables, state.frames)
        if store is not None and run_id is not None:
            # The snapshots to keep are final: encoded now (to a temporary file) and
            # their frames let go, so only the tables hold the records from here on.
            store.encode_snapshots(run_id, state)
    with _timed(timings, "match", progress):
        previous = store.artifact(MODEL_ARTIFACT) if store is not None else None
        tables, matched = engine.match_entities(tables, config, previous)
        if matched.model is not None and not matched.stats.get("model", {}).get("reused"):
            state.artifacts[MODEL_ARTIFACT] = matched.model.to_dict()
        # Only the evidence, after the rules, reads the match result: its arrays of
        # numbers (most of its 0.9 GB at a million customers) wait on disk while the rules run.
        parked = ParkedResult(matched)
        del matched
    with parked, _timed(timings, "rules", progress):
        # Read from the store only if a rule looks at them (no built-in rule does).
        open_findings = OpenFindings(store.open_findings) if store is not None else []
        findings = engine.evaluate(tables, config.built_rules, as_of, open_findings)
        # The evidence reads each record's rid and parent: the rest of the tables
        # (gigabytes at a million customers) is let go before its many small
        # objects are made, where a run's memory peaked.
        _keep_only(tables, EVIDENCE_COLUMNS)
        return_free_memory()  # the rules' temporaries and the tables' columns
        matched = parked.take()
        # Why each finding's records are one customer: finding.detail["match"].
        attach_match_evidence(findings, tables, matched)
    return matched, findings


class ParkedResult:
    """A match result's arrays of numbers kept in a temporary file (``TMPDIR``) until :meth:`take`.

    The comparators' codes, the blocking keys, the link keys, the scores and
    confidences (most of a result's memory) go to an unnamed temporary file;
    arrays of objects (rids, entity ids: text the tables hold too) stay here,
    as do the parts too small to matter. What :meth:`take` gives back is an
    equal result. Where no temporary file can be written (or a part cannot
    be pickled), the result simply stays in memory: parking only saves
    memory. Closing (the ``with`` block's end) deletes the file, read or not.
    """

    def __init__(self, matched: MatchResult):
        self._held: MatchResult | None = None
        self._file: IO[bytes] | None = None
        self._kept: dict[int, Any] = {}
        try:
            # Closed by close(), at the end of the with block it is used in.
            self._file = tempfile.TemporaryFile(prefix="reconcile-match-")  # noqa: SIM115
            _Parker(self._file, self._kept).dump(matched)
        except Exception as exc:  # no room, no temporary directory, a part that cannot be pickled
            log.debug("match result kept in memory (not parked: %s)", exc)
            self.close()
            self._held = matched

    def take(self) -> MatchResult:
        """The match result (read back from the file, once)."""
        if self._held is None:
            if self._file is None:
                raise RuntimeError("the parked match result was closed before it was read")
            self._file.seek(0)
            self._held = _Unparker(self._file, self._kept).load()
            self.close()
        assert self._held is not None
        return self._held

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._kept = {}

    def __enter__(self) -> ParkedResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Parker(pickle.Pickler):
    """Pickles all but arrays of objects, which it keeps by reference (no copy, no memo of their items)."""

    def __init__(self, file: IO[bytes], kept: dict[int, Any]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.kept = kept

    def persistent_id(self, obj: Any) -> int | None:
        if type(obj) is np.ndarray and obj.dtype == object:
            self.kept[id(obj)] = obj
            return id(obj)
        return None


class _Unparker(pickle.Unpickler):
    def __init__(self, file: IO[bytes], kept: dict[int, Any]):
        super().__init__(file)
        self.kept = kept

    def persistent_load(self, pid: Any) -> Any:
        return self.kept[pid]


#: The columns of the tables :func:`attach_match_evidence` reads.
EVIDENCE_COLUMNS = ("_rid", "_parent_rid")


def _keep_only(tables: dict[str, pd.DataFrame], columns: Sequence[str]) -> None:
    """Replace each table by one of only these of its columns, in place, one table at a time.

    Each table's other columns are freed as soon as its narrow copy is made
    (unless something else holds them, as an incremental stream's snapshot
    does), so at no moment are two whole tables held.
    """
    for record_type in list(tables):
        frame = tables[record_type]
        tables[record_type] = frame[[c for c in columns if c in frame.columns]]
        del frame


def run(
    config: Config | str | Path,
    *,
    as_of: dt.datetime | None = None,
    persist: bool = True,
    write_reports: bool = True,
    full_refresh: bool = False,
    progress: Progress | None = None,
    notify_config: NotifyConfig | None = None,
) -> RunResult:
    """Run the whole flow once.

    Args:
        config: A :class:`Config` or the path of a YAML configuration.
        as_of: The reference time (default: the config's ``as_of``, else now).
        persist: Remember findings in the configured store (lifecycle statuses).
        write_reports: Write the configured reports.
        full_refresh: Read every stream in full, ignoring the stored cursors,
            and replace the snapshots of incremental streams.
        progress: Called with each stage's name as it starts. If it also has
            a ``step(stage, done, total, what)`` method, that is called as a
            stage's steps finish (each source read), for a finer progress bar.
        notify_config: Where to send notifications of new and reopened
            findings (default: the configuration's ``notify`` section).

    Returns:
        The run's result: findings with their status, health, quarantine, timings.

    Raises:
        RunError: a source failed or was unhealthy, or a stage failed; the
            store is left as it was (the run is recorded as failed, open
            findings from an unhealthy source are marked unverified). The
            partial result is on ``exc.result``.
        StoreLockedError: another run holds the store's run lock.
    """
    if not isinstance(config, Config):
        config = load_config(config)
    as_of = as_of or config.as_of or _now()
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    result = RunResult(as_of=as_of, started_at=_now())
    timings = result.timings
    store = None
    if persist:
        from reconcile.store import Store

        store = Store(_store_url(config), echo=config.store.echo, lock_timeout=config.store.lock_timeout)
        # Raises StoreLockedError (exit code 4) while another run holds the store.
        try:
            result.run_id = store.begin_run(as_of, config_digest=config.digest())
        except BaseException:
            store.close()
            raise
        pause_point("run:begun")
    state = None
    try:
        with _timed(timings, "extract", progress):
            plan = plan_cursors(config, store, full_refresh)
            extracted = extract_sources(config, plan, _key_scans_due(config, store, plan), progress)
            state = apply_snapshots(extracted, config, store, plan, normalised_tag(config))
            check_row_counts(extracted, config, store)
        pause_point("run:extracted")
        health: list[SourceHealth] = [r.health for r in extracted if r.health is not None]
        quarantine: list[QuarantinedRow] = [q for r in extracted for q in r.quarantine]
        result.health = health
        result.quarantine = quarantine
        unhealthy = [h for h in health if not h.healthy]
        if unhealthy:
            raise RunError(
                "; ".join(h.error or f"source {h.source!r} unhealthy" for h in unhealthy)
                + " - nothing was changed in the store"
            )
        with open_engine(config.engine) as engine:
            matched, findings = _reconcile(
                engine, extracted, config, store, state, as_of, timings, progress, result.run_id
            )
        result.links = matched.link_count
        result.entities = int(matched.entity_of.nunique()) if len(matched.entity_of) else 0
        # Nothing after this reads the match result (hundreds of MB at a million
        # customers; the tables went before the evidence): persisting and
        # reporting reuse its memory.
        del matched
        pause_point("run:evaluated")
        # The heap holds millions of objects still (the findings and their records):
        # a full collection would walk them all (seconds at a million customers)
        # for the few cycles persisting makes.
        with _timed(timings, "persist", progress), fewer_collections():
            if store is not None and result.run_id is not None:
                findings, resolved = store.finish_run(
                    result.run_id,
                    findings=findings,
                    health=health,
                    quarantine=quarantine,
                    started_at=result.started_at,
                    timings=dict(timings),
                    entities=result.entities,
                    links=result.links,
                    rule_ids=[rule.id for rule in config.built_rules],
                    state=state,
                )
                result.resolved = resolved
        result.findings = findings
        result.finished_at = _now()
    except Exception as exc:
        result.status = "failed"
        result.finished_at = _now()
        if store is not None and result.run_id is not None:
            # Open findings from an unhealthy source are marked unverified, never resolved.
            try:
                store.fail_run(result.run_id, str(exc), health=result.health)
            except StoreError as store_exc:  # e.g. its lock was taken over: keep the first error
                log.error("run %d could not be marked failed: %s", result.run_id, store_exc)
        if store is not None:
            store.close()
        if isinstance(exc, RunError):
            exc.result = result  # type: ignore[attr-defined]
            raise
        error = RunError(f"run failed in a stage: {type(exc).__name__}: {exc}")
        error.result = result  # type: ignore[attr-defined]
        raise error from exc
    finally:
        if state is not None:
            state.close()  # the snapshots encoded for the commit: written, or never to be
    pause_point("run:committed")
    # The run is committed; a report that cannot be written fails loudly but
    # leaves the stored run as it is (reports can be rendered again later).
    try:
        if write_reports:
            with _timed(timings, "report", progress), fewer_collections():
                from reconcile.report import write_reports as _write_reports

                directory = config.resolve_path(config.reports.dir)
                written = _write_reports(
                    result,
                    directory,
                    formats=tuple(config.reports.formats),
                    junit_min_severity=config.reports.junit_min_severity,
                    html_findings_per_group=config.reports.html_findings_per_group,
                    stories=store.stories_for(result) if store is not None and "html" in config.reports.formats else (),
                )
                result.reports = {fmt: str(path) for fmt, path in written.items()}
    finally:
        if store is not None:
            store.close()  # its connections; the run is committed
    # Only a committed run notifies, and a notification that cannot be sent
    # is logged, never a failure of the run.
    notify = notify_config if notify_config is not None else getattr(config, "notify", None)
    if notify is not None:
        from reconcile.notify import send_notifications

        send_notifications(result, notify)
    return result
