"""Stage 5: the findings store, so tomorrow's run knows what today's found.

A :class:`Store` keeps runs, per-source health, quarantined rows, findings
(keyed by fingerprint) and every status change of each finding, in SQLite,
PostgreSQL or MariaDB/MySQL. A run is recorded with :meth:`Store.begin_run`,
then either :meth:`Store.finish_run` (the lifecycle, in one transaction) or
:meth:`Store.fail_run` (nothing but the run's status changes).

See ``docs/store.md`` for the tables and the lifecycle.
"""

from __future__ import annotations

from reconcile.store._config import StoreConfig
from reconcile.store._json import json_safe
from reconcile.store._schema import SCHEMA_VERSION
from reconcile.store._state import StateChanges, decode_cursor, encode_cursor
from reconcile.store._store import ACTIVE, HistoryEntry, RunRecord, RunStatus, Store

__all__ = [
    "ACTIVE",
    "SCHEMA_VERSION",
    "HistoryEntry",
    "RunRecord",
    "RunStatus",
    "StateChanges",
    "Store",
    "StoreConfig",
    "decode_cursor",
    "encode_cursor",
    "json_safe",
]
