"""Incremental extraction: read what changed, reconcile the full picture.

A stream with a ``cursor`` is read incrementally: only rows whose cursor
column is at or after the stored cursor are read (at, not after: rows that
share the boundary value but arrived after the last read are not missed;
reading a row twice is harmless, it is upserted by key). The changed records
are merged into the stream's **snapshot** (its canonical records as of the
last committed run, kept in the store), so rules always see every record:

- a changed or new record replaces the snapshot's record with its key;
- a row whose soft-delete column says deleted removes its key;
- a periodic **key scan** (every ``key_scan_every`` runs, or each run when
  1) reads only the keys of the whole stream and removes the snapshot's
  records whose key is gone (hard deletes).

The new cursors and the snapshot changes go to the store in the run's own
transaction (:class:`~reconcile.store.StateChanges`): a run that fails moves
no cursor. Without a store, or with ``full_refresh``, every stream is read
in full and its snapshot replaced.

The same module checks a source's size against its last good run
(``min_rows_fraction``): a source that suddenly returns far fewer records is
unhealthy, so the run fails instead of resolving findings for lack of data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Collection, Iterable, Iterator, Mapping, Set
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from reconcile.model import record_model
from reconcile.store._snapshots import DERIVED_PREFIX, SnapshotDelta, frame_from_values
from reconcile.store._state import StateChanges

if TYPE_CHECKING:
    import pyarrow as pa

    from reconcile.config import Config
    from reconcile.extract.base import ExtractResult
    from reconcile.store import Store

__all__ = [
    "NORMALISED_OK",
    "CursorConfig",
    "DeletedConfig",
    "ScannedKeys",
    "apply_snapshots",
    "check_row_counts",
    "coerce_cursor",
    "plan_cursors",
]

log = logging.getLogger("reconcile")

CursorType = Literal["timestamp", "integer", "string"]

#: Column of a merged snapshot frame: True where the row's normalised
#: ``_n_*`` columns came from the snapshot (missing or NaN: normalise it).
NORMALISED_OK = "_n_ok"


class CursorConfig(BaseModel):
    """Where a stream's cursor is: a source column that grows when a row changes.

    Attributes:
        column: The source column (an update timestamp or an increasing id).
        type: How its values compare: ``timestamp`` (a datetime, or text in
            ISO 8601 or ``format``; a time without a zone is UTC), ``integer``
            or ``string``.
        format: ``strptime`` format of a timestamp given as text.
    """

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    type: CursorType = "timestamp"
    format: str | None = None


class DeletedConfig(BaseModel):
    """A soft-delete column: a row whose value is one of ``values`` is deleted.

    Attributes:
        column: The source column.
        values: Values that mean deleted (compared as lowercase text; a
            boolean true is ``"true"``).
    """

    model_config = ConfigDict(extra="forbid")

    column: str = Field(min_length=1)
    values: list[str] = Field(default_factory=lambda: ["true", "1", "y", "yes", "deleted"], min_length=1)

    def is_deleted(self, value: Any) -> bool:
        if value is None:
            return False
        text = str(value).strip().lower()
        return text in {v.strip().lower() for v in self.values}


def coerce_cursor(value: Any, cursor: CursorConfig) -> Any:
    """A raw cursor column value as a comparable value of the cursor's type.

    Returns None for a missing value.

    Raises:
        ValueError: the value cannot be read as the cursor's type.
    """
    if type(value) is str and cursor.type == "timestamp" and cursor.format is None:
        # The usual case (ISO 8601 text, read from a file for every row),
        # without the checks below: what they give for such a value.
        text = value.strip()
        if not text:
            return None
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if cursor.type == "integer":
        if isinstance(value, bool):
            raise ValueError(f"{value!r} is not an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return int(str(value).strip())
    if cursor.type == "string":
        return str(value)
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        moment = dt.datetime.fromtimestamp(value, dt.UTC)
    else:
        text = str(value).strip()
        if cursor.format:
            moment = dt.datetime.strptime(text, cursor.format)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


def plan_cursors(config: Config, store: Store | None, full_refresh: bool) -> dict[str, dict[str, Any]]:
    """The cursor each incremental stream is read from: source -> record type -> value.

    A stream is absent (read in full) when it has no cursor, there is no
    store, ``full_refresh`` is set, or it was never read before.
    """
    plan: dict[str, dict[str, Any]] = {}
    if store is None or full_refresh:
        return plan
    stored = store.cursors()
    for name, source in config.sources.items():
        for record_type, stream in source.streams.items():
            if getattr(stream, "cursor", None) is None:
                continue
            value = stored.get((name, record_type))
            if value is not None:
                plan.setdefault(name, {})[record_type] = value
    return plan


def _key_scan_due(every: int | None, runs_done: int) -> bool:
    return every is not None and every >= 1 and (runs_done + 1) % every == 0


def normalised_tag(config: Config) -> str:
    """What a record's normalised ``_n_*`` columns depend on besides the record, as a short hash.

    The normaliser code and data shipped with this release and the
    ``normalise`` settings: a snapshot keeps its records' normalised columns
    under this tag, and a later run reuses them only under the same tag.
    """
    return hashlib.sha256(
        (_normaliser_digest() + json.dumps(config.normalise.model_dump(mode="json"), sort_keys=True)).encode()
    ).hexdigest()[:16]


@functools.cache
def _normaliser_digest() -> str:
    import reconcile.normalise

    digest = hashlib.sha256()
    root = Path(reconcile.normalise.__file__).parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.suffix not in (".pyc",):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def apply_snapshots(
    results: list[ExtractResult],
    config: Config,
    store: Store | None,
    plan: Mapping[str, Mapping[str, Any]],
    derived_tag: str | None = None,
) -> StateChanges:
    """Merge incremental reads into their snapshots; return what the store must keep.

    Column by column: the stored snapshot (a frame) loses the deleted keys,
    changed records replace theirs in place and new ones are appended, as an
    extract of the whole stream would order them. The merged frame of each
    incremental stream is ``changes.frames[(source, record type)]``: it is
    both the stream's records for this run (:func:`~reconcile.pipeline.build_tables`
    takes it) and the snapshot the store keeps if the run commits. The
    source's ``health.streams`` count records after the merge.

    With ``derived_tag``, snapshot records keep the normalised ``_n_*``
    columns stored under that tag, and the merged frame says in ``_n_ok``
    which rows have them (the unchanged ones), so only the others are
    normalised again.
    """
    changes = StateChanges(derived_tag=derived_tag)
    for result in results:
        source = config.sources.get(result.source)
        if source is None or result.health is None or not result.health.healthy:
            continue
        for record_type, stream in source.streams.items():
            if getattr(stream, "cursor", None) is None:
                continue
            key = (result.source, record_type)
            key_field = record_model(record_type).key_field
            changed = result.frame(record_type)
            if record_type in result.record_types:
                del result.records[record_type]
            changed_keys = changed[key_field].astype(str)
            deleted = set(result.deleted.get(record_type, ()))
            since = plan.get(result.source, {}).get(record_type)
            if since is None or store is None:
                merged = changed[~changed_keys.isin(deleted)].reset_index(drop=True) if deleted else changed
            else:
                snapshot, layout = store.read_snapshot(*key, derived_tag=derived_tag)
                # The snapshot's text and dates that are one object per value: the changed
                # records' equal values become those objects too (memory, nothing else), so
                # build_tables finds them shared; let go of them after the merge.
                values, layout = layout.values, dataclasses.replace(layout, values={})
                if any(str(c).startswith(DERIVED_PREFIX) for c in snapshot.columns):
                    snapshot[NORMALISED_OK] = True
                snap_keys = _text(snapshot[key_field])
                gone = set(deleted)
                # Which snapshot records go (the keys in ``gone``), found once for the merge and the delta.
                snap_gone = _in(snap_keys, deleted) if deleted else None
                scanned = result.scanned_keys.get(record_type)
                if scanned is not None:
                    missing = ~_in(snap_keys, scanned)
                    gone.update(snap_keys[missing])
                    gone.update(changed_keys[~_in(changed_keys, scanned)])
                    # A changed key the scan did not find is not among the snapshot's found ones either.
                    snap_gone = missing if snap_gone is None else snap_gone | missing
                placed: list[np.ndarray] = []
                merged = _merge(
                    record_type, snapshot, snap_keys, changed, changed_keys, gone, values, placed, snap_gone
                )
                del values
                delta = _delta(
                    merged[key_field], snap_keys, changed_keys, gone, layout, placed[0] if placed else None, snap_gone
                )
                if delta is not None:
                    changes.deltas[key] = delta
                log.info(
                    "source %s %s: %d changed, %d deleted since %s; %d records in all",
                    result.source, record_type, int((~changed_keys.isin(gone)).sum()),
                    # The snapshot's records deleted (no set of every key for a log line).
                    len(delta.gone) if delta is not None else int(snap_gone.sum()) if snap_gone is not None else 0,
                    since, len(merged),
                )
            changes.frames[key] = merged
            new_cursor = result.cursors.get(record_type)
            if new_cursor is not None and (since is None or new_cursor > since):
                changes.cursors[key] = new_cursor
            result.health.streams[record_type] = len(merged)
    return changes


def _delta(
    merged_keys: pd.Series,
    snap_keys: pd.Series,
    changed_keys: pd.Series,
    gone: set[str],
    layout: Any,
    placed: np.ndarray | None = None,
    snap_gone: np.ndarray | None = None,
) -> SnapshotDelta | None:
    """Where the changed records are in the merged frame, and which snapshot keys went (None: not known).

    ``placed``: where :func:`_merge` put them (the rows found here by key,
    without a lookup of every merged key). ``snap_gone``: which snapshot
    keys are in ``gone``, when known.
    """
    fresh = changed_keys[~_in(changed_keys, gone)] if gone else changed_keys
    if not fresh.is_unique:
        return None
    if placed is not None and len(placed) == len(fresh):
        positions = placed
    else:
        hit = pd.Index(fresh.to_numpy(dtype=object)).get_indexer(merged_keys.astype(str).to_numpy(dtype=object))
        rows = np.flatnonzero(hit >= 0)
        if len(rows) != len(fresh):
            return None
        positions = np.empty(len(fresh), dtype=np.int64)
        positions[hit[rows]] = rows
    if snap_gone is None:
        snap_gone = _in(snap_keys, gone) if gone else np.zeros(len(snap_keys), dtype=bool)
    removed = snap_keys[snap_gone]
    return SnapshotDelta(positions=positions, gone=tuple(removed.tolist()), layout=layout)


def merge_changes(record_type: str, snapshot: pd.DataFrame, changed: pd.DataFrame, gone: set[str]) -> pd.DataFrame:
    """``changed`` merged into ``snapshot`` as a run merges its changes: ``gone`` deleted, changed records in place.

    How a stored delta is read back (see :mod:`reconcile.store._snapshots`).
    """
    key_field = record_model(record_type).key_field
    return _merge(record_type, snapshot, snapshot[key_field].astype(str), changed, changed[key_field].astype(str), gone)


class ScannedKeys(Set[str]):
    """The keys a key scan found in a stream: a set of text, kept as Arrow text.

    A key scan reads every key of a stream, millions of them at a million
    customers: as Python strings in a set, about 90 bytes a key (an object
    and a slot; an estimated 1.3 GB for the demo world's 16 million keys at
    that size), as Arrow text about a sixth of that (its bytes and an
    offset; at 100,000 customers a key-scan night's peak fell by about 120
    MiB). Keys are added a batch at a time (a Python string lives only
    until its batch is added); :meth:`isin` looks up a column of keys in Arrow. It is a
    :class:`collections.abc.Set` (``in``, ``len``, iteration, ``==`` with a
    set), whose Python set is made only when one of those asks for it.
    """

    #: Keys added one at a time are kept as Python strings until this many.
    PENDING = 65_536

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._chunks: list[pa.Array] = []
        self._pending: list[str] = []
        self._odd: set[str] = set()  # keys Arrow cannot hold as text (a lone surrogate)
        self._set: frozenset[str] | None = None
        self.update(keys)

    def update(self, keys: Iterable[str]) -> None:
        """Add text keys (each a ``str``, none empty)."""
        batch = keys if isinstance(keys, list) else list(keys)
        if batch:
            self._set = None
            self._chunks.append(self._arrow(batch))

    def update_arrow(self, array: pa.Array) -> None:
        """Add the keys of an Arrow text array (none null, none empty): kept as they are, no Python string made."""
        import pyarrow as pa

        if len(array):
            self._set = None
            self._chunks.append(array if array.type == pa.string() else array.cast(pa.string()))

    def _arrow(self, batch: list[str]) -> pa.Array:
        import pyarrow as pa  # here: importing the extract modules does not import pyarrow

        try:
            return pa.array(batch, type=pa.string())
        except (pa.ArrowException, UnicodeError):  # a key with a lone surrogate: kept as Python text
            odd = {key for key in batch if not _utf8(key)}
            self._odd.update(odd)
            return pa.array([key for key in batch if key not in odd], type=pa.string())

    def add(self, key: str) -> None:
        """Add one text key."""
        self._pending.append(key)
        self._set = None
        if len(self._pending) >= self.PENDING:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._chunks.append(self._arrow(self._pending))
            self._pending = []

    def values(self) -> pa.Array:
        """Every key added (repeats included), as one Arrow text array."""
        import pyarrow as pa

        self._flush()
        if not self._chunks:
            return pa.array([], type=pa.string())
        if len(self._chunks) > 1:
            self._chunks = [pa.concat_arrays(self._chunks)]
        return self._chunks[0]

    def isin(self, keys: pd.Series) -> np.ndarray:
        """Which of ``keys`` (text) were found, as a boolean array (``keys.isin(self)``).

        Looked up in Arrow: the keys among the scanned ones (hashed), or,
        for keys far fewer than those (a night's changed records), the
        scanned ones among the keys, so that only the few are hashed.
        """
        import pyarrow as pa
        import pyarrow.compute as pc

        if not len(keys):
            return np.zeros(0, dtype=bool)
        try:
            column = pa.array(keys.to_numpy(dtype=object), type=pa.string(), from_pandas=True)
        except (pa.ArrowException, UnicodeError):  # a key Arrow cannot hold: looked up in Python
            return keys.isin(self._python()).to_numpy(dtype=bool)
        scanned = self.values()
        if len(column) * 8 < len(scanned):
            # Hashing every scanned key costs several times probing it: the few keys are hashed instead.
            scanned = scanned.filter(pc.is_in(scanned, value_set=column))
        found = pc.is_in(column, value_set=scanned)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

    def _python(self) -> frozenset[str]:
        if self._set is None:
            self._set = frozenset(self.values().to_pylist()) | self._odd
        return self._set

    def __contains__(self, key: object) -> bool:
        return key in self._python()

    def __iter__(self) -> Iterator[str]:
        return iter(self._python())

    def __len__(self) -> int:
        return len(self._python())

    def __repr__(self) -> str:
        return f"ScannedKeys({len(self.values())} keys read)"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text(keys: pd.Series) -> pd.Series:
    """``keys.astype(str)``, without a copy when every key is text already (a snapshot's keys)."""
    if keys.dtype == object and pd.api.types.infer_dtype(keys.to_numpy(), skipna=False) == "string":
        return keys
    return keys.astype(str)


def _in(keys: pd.Series, among: Collection[str]) -> np.ndarray:
    """Which of ``keys`` (text) are in the set ``among``: ``keys.isin(among)`` as a boolean array.

    A key scan gives every key of a stream, millions of them: pandas' isin
    would hash them all into a table of its own first, where the set's own
    lookups (text hashes are cached in the strings) take a fraction of that.
    """
    if isinstance(among, ScannedKeys):
        return among.isin(keys)
    if isinstance(among, set | frozenset) and len(among) > 10_000:
        return np.fromiter(map(among.__contains__, keys.to_numpy(dtype=object)), dtype=bool, count=len(keys))
    return keys.isin(among).to_numpy()


def _merge(
    record_type: str,
    snapshot: pd.DataFrame,
    snap_keys: pd.Series,
    changed: pd.DataFrame,
    changed_keys: pd.Series,
    gone: set[str],
    shared: Mapping[str, Mapping[Any, Any]] | None = None,
    placed: list[np.ndarray] | None = None,
    snap_gone: np.ndarray | None = None,
) -> pd.DataFrame:
    """The snapshot without ``gone``, changed records in their old place, new ones at the end.

    What :func:`_merge_frames` gives (the reference: frames concatenated,
    then put in order), built column by column: each column of the result
    is one ``take`` from the snapshot's and the changed records' values, with
    no copy of the whole snapshot before. Columns only the snapshot has (the
    normalised ``_n_*`` ones and ``_n_ok``) are object columns whose changed
    rows are NaN, as concatenating frames makes them; columns whose dtypes
    differ are inferred again over all values, as there. Anything else
    (changed keys repeated, columns the snapshot lacks) goes through the
    reference.

    ``shared`` gives, for a column of the snapshot whose equal values are
    one object, those objects by value: a changed record's value equal to
    one of them (and of its type) is replaced by it, so the merged column's
    equal values are one object too (the values do not change). ``placed``
    gets, when the merge is built column by column, the merged row of each
    changed record not deleted, in their order (what :func:`_delta` would
    find by key). ``snap_gone``: which snapshot keys are in ``gone``, when
    known (else looked up).
    """
    if snap_gone is not None:
        keep = ~snap_gone
    else:
        keep = ~_in(snap_keys, gone) if gone else np.ones(len(snap_keys), dtype=bool)
    fresh = ~_in(changed_keys, gone) if gone else np.ones(len(changed_keys), dtype=bool)
    if not fresh.any() or not keep.any() or not changed_keys[fresh].is_unique or not _simple(snapshot, changed):
        return _merge_frames(record_type, snapshot, snap_keys, changed, changed_keys, gone)
    if not fresh.all():
        changed, changed_keys = changed[fresh], changed_keys[fresh]
    kept = np.flatnonzero(keep)
    # Where each kept snapshot record's key is among the changed records (-1: it is not).
    hit = pd.Index(changed_keys.to_numpy(dtype=object)).get_indexer(snap_keys.to_numpy(dtype=object)[kept])
    replaced = hit >= 0
    # The place of each changed record among the kept snapshot's: its record's, or after them all.
    at = np.full(len(changed_keys), np.nan)
    at[hit[replaced]] = np.flatnonzero(replaced)
    new = np.isnan(at)
    at[new] = len(kept) + np.arange(int(new.sum()))
    order = np.concatenate([np.flatnonzero(~replaced).astype(float), at])
    rows = np.concatenate([kept[~replaced], len(snapshot) + np.arange(len(changed))])[
        np.argsort(order, kind="stable")
    ]
    if placed is not None:
        taken = np.flatnonzero(rows >= len(snapshot))
        where = np.empty(len(changed), dtype=np.int64)
        where[rows[taken] - len(snapshot)] = taken
        placed.append(where)
    columns: dict[Any, Any] = {}
    mixed = []
    for name in snapshot.columns:
        if name in changed.columns:
            objects = shared.get(name) if shared else None
            if objects is not None and snapshot[name].dtype == object and changed[name].dtype == object:
                both = np.concatenate([snapshot[name].to_numpy(), _share(changed[name].to_numpy(), objects)])
                columns[name] = both.take(rows)
                continue
            both = pd.concat([snapshot[name], changed[name]], ignore_index=True)
            columns[name] = _values(both).take(rows)
            if snapshot[name].dtype != changed[name].dtype:
                mixed.append(name)
        else:
            values = np.empty(len(snapshot) + len(changed), dtype=object)
            values[: len(snapshot)] = snapshot[name].to_numpy(dtype=object)
            values[len(snapshot) :] = np.nan
            columns[name] = values.take(rows)
    # copy=False: each column keeps the array just taken (no second copy into one block per dtype).
    merged = pd.DataFrame(columns, index=pd.RangeIndex(len(rows)), columns=snapshot.columns, copy=False)
    if mixed:
        # Columns whose parts were inferred differently: infer them again over
        # all values, as an extract of the whole stream would.
        again = frame_from_values(record_type, {name: _python_values(merged[name]) for name in mixed})
        for name in mixed:
            merged[name] = again[name]
    return merged


def _share(values: np.ndarray, objects: Mapping[Any, Any]) -> np.ndarray:
    """``values`` (objects) with each one equal to one of ``objects`` (and of its type) replaced by it."""
    out = values.copy()
    for i, value in enumerate(values.tolist()):
        if type(value) is str or type(value) is dt.date:
            same = objects.get(value)
            if same is not None and type(same) is type(value):
                out[i] = same
    return out


def _values(column: pd.Series) -> Any:
    """A column's values without a copy: its numpy array, or its extension array (dates with a zone)."""
    return np.asarray(column) if isinstance(column.dtype, np.dtype) else column.array


def _python_values(column: pd.Series) -> list[Any]:
    """A column's values as Python objects, missing ones (NaN, NaT) as None."""
    return [None if v is None or v is pd.NaT or (isinstance(v, float) and v != v) else v for v in column.tolist()]


def _simple(snapshot: pd.DataFrame, changed: pd.DataFrame) -> bool:
    """Whether :func:`_merge` can build the merge column by column (else: the reference)."""
    if not snapshot.columns.is_unique or not changed.columns.is_unique:
        return False
    if not all(name in snapshot.columns for name in changed.columns):
        return False
    return all(snapshot[name].dtype in (object, bool) for name in snapshot.columns if name not in changed.columns)


def _merge_frames(
    record_type: str,
    snapshot: pd.DataFrame,
    snap_keys: pd.Series,
    changed: pd.DataFrame,
    changed_keys: pd.Series,
    gone: set[str],
) -> pd.DataFrame:
    """:func:`_merge` by concatenating frames and putting the rows in order (the reference)."""
    keep = ~snap_keys.isin(gone).to_numpy()
    snapshot, snap_keys = snapshot[keep], snap_keys[keep]
    fresh = ~changed_keys.isin(gone).to_numpy()
    changed, changed_keys = changed[fresh], changed_keys[fresh]
    if changed.empty:
        return snapshot.reset_index(drop=True)
    if snapshot.empty:
        return changed.reset_index(drop=True)
    position = pd.Series(np.arange(len(snap_keys)), index=snap_keys.to_numpy())
    at = changed_keys.map(position).to_numpy(dtype=float)
    new = np.isnan(at)
    at[new] = len(snap_keys) + np.arange(int(new.sum()))
    replaced = snap_keys.isin(changed_keys).to_numpy()
    merged = pd.concat([snapshot[~replaced], changed], ignore_index=True)
    order = np.concatenate([np.flatnonzero(~replaced).astype(float), at])
    merged = merged.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    mixed = [name for name in changed.columns if snapshot[name].dtype != changed[name].dtype]
    if mixed:
        # Columns whose parts were inferred differently: infer them again over
        # all values, as an extract of the whole stream would.
        again = frame_from_values(record_type, {name: _python_values(merged[name]) for name in mixed})
        for name in mixed:
            merged[name] = again[name]
    return merged


def check_row_counts(results: list[ExtractResult], config: Config, store: Store | None) -> None:
    """Mark unhealthy a source that returns far fewer records than in its last good run."""
    if store is None:
        return
    for result in results:
        source = config.sources.get(result.source)
        health = result.health
        if source is None or health is None or not health.healthy:
            continue
        fraction = getattr(source, "min_rows_fraction", None)
        if not fraction:
            continue
        last = store.last_good_health(result.source)
        if last is None:
            continue
        before = sum(last.streams.values())
        now = sum(health.streams.values())
        if before and now < fraction * before:
            health.healthy = False
            health.error = (
                f"source {result.source!r} returned {now:,} records, fewer than "
                f"min_rows_fraction={fraction} of the {before:,} of its last good run: "
                "an extract that lost data would resolve findings for lack of evidence"
            )
