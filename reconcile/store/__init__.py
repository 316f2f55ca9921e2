"""Stage 5: the findings store, so tomorrow's run knows what today's found.

A :class:`Store` keeps runs, per-source health, quarantined rows, findings
(keyed by fingerprint), every status change of each finding, suppressions,
and the state incremental runs carry over, in SQLite, PostgreSQL or
MariaDB/MySQL. A run is recorded with :meth:`Store.begin_run` (which takes
the store's run lock), then either :meth:`Store.finish_run` (the lifecycle,
in one transaction) or :meth:`Store.fail_run` (the run's status, and
unverified flags on findings of unhealthy sources).

See ``docs/store.md`` for the tables and the lifecycle.
"""

from __future__ import annotations

from reconcile.store._config import DEFAULT_LOCK_TIMEOUT, StoreConfig
from reconcile.store._json import json_safe
from reconcile.store._lock import LockInfo, StoreLockedError
from reconcile.store._migrate import HEAD as SCHEMA_REVISION
from reconcile.store._schema import SCHEMA_VERSION
from reconcile.store._state import StateChanges, decode_cursor, encode_cursor
from reconcile.store._store import (
    ACTIVE,
    HistoryEntry,
    RunRecord,
    RunStatus,
    Store,
    StoreOverview,
    upgrade_schema,
)
from reconcile.store._story import EntityStory, StoryEvent, StoryRecord
from reconcile.store._tracked import Suppression, TrackedFinding, Unverified, is_suppressed

__all__ = [
    "ACTIVE",
    "DEFAULT_LOCK_TIMEOUT",
    "SCHEMA_REVISION",
    "SCHEMA_VERSION",
    "EntityStory",
    "HistoryEntry",
    "LockInfo",
    "RunRecord",
    "RunStatus",
    "StateChanges",
    "Store",
    "StoreConfig",
    "StoreLockedError",
    "StoreOverview",
    "StoryEvent",
    "StoryRecord",
    "Suppression",
    "TrackedFinding",
    "Unverified",
    "decode_cursor",
    "encode_cursor",
    "is_suppressed",
    "json_safe",
    "upgrade_schema",
]
