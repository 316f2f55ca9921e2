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

import datetime as dt
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconcile.model import record_model
from reconcile.store._state import StateChanges

if TYPE_CHECKING:
    from reconcile.config import Config
    from reconcile.extract.base import ExtractResult
    from reconcile.store import Store

__all__ = [
    "CursorConfig",
    "DeletedConfig",
    "apply_snapshots",
    "check_row_counts",
    "coerce_cursor",
    "plan_cursors",
]

log = logging.getLogger("reconcile")

CursorType = Literal["timestamp", "integer", "string"]


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


def apply_snapshots(
    results: list[ExtractResult],
    config: Config,
    store: Store | None,
    plan: Mapping[str, Mapping[str, Any]],
) -> StateChanges:
    """Merge incremental reads into their snapshots; return what the store must keep.

    ``results`` are changed in place: each incremental stream's records become
    the merged snapshot, and the source's ``health.streams`` count records
    after the merge.
    """
    changes = StateChanges()
    for result in results:
        source = config.sources.get(result.source)
        if source is None or result.health is None or not result.health.healthy:
            continue
        for record_type, stream in source.streams.items():
            if getattr(stream, "cursor", None) is None:
                continue
            key = (result.source, record_type)
            model = record_model(record_type)
            changed = {str(r[model.key_field]): r for r in result.records.get(record_type, [])}
            deleted = set(result.deleted.get(record_type, ()))
            since = plan.get(result.source, {}).get(record_type)
            if since is None or store is None:
                merged = {k: v for k, v in changed.items() if k not in deleted}
                changes.replace.add(key)
                changes.upserts[key] = merged
            else:
                merged = {
                    k: model.model_validate(data).model_dump() for k, data in store.snapshot(*key).items()
                }
                merged.update(changed)
                scanned = result.scanned_keys.get(record_type)
                gone = set(deleted)
                if scanned is not None:
                    gone |= set(merged) - set(scanned)
                gone &= set(merged) | deleted
                for k in gone:
                    merged.pop(k, None)
                if changed:
                    changes.upserts[key] = {k: v for k, v in changed.items() if k not in gone}
                if gone:
                    changes.deletes[key] = gone
                log.info(
                    "source %s %s: %d changed, %d deleted since %s; %d records in all",
                    result.source, record_type, len(changed), len(gone), since, len(merged),
                )
            new_cursor = result.cursors.get(record_type)
            if new_cursor is not None and (since is None or new_cursor > since):
                changes.cursors[key] = new_cursor
            result.records[record_type] = list(merged.values())
            result.health.streams[record_type] = len(merged)
    return changes


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
