"""State a run carries to the next one: cursors, snapshots and artifacts.

A run that reads a source incrementally reads only the rows changed since the
stream's cursor, merges them into the stream's snapshot (its canonical records
as of the last committed run), and hands the store a :class:`StateChanges`:
the new cursors, the upserted and deleted records, and any artifact (such as
the matching model) to keep. :meth:`Store.finish_run` writes them in the same
transaction as the findings, so a run that fails moves no cursor and changes
no snapshot.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from reconcile.store._snapshots import EncodedSnapshot, SnapshotDelta, Spill

__all__ = ["StateChanges", "StreamKey", "decode_cursor", "encode_cursor", "key_hash"]

#: (source name, record type).
StreamKey = tuple[str, str]


def key_hash(key: str) -> str:
    """The snapshot row id of a record key (keys of any length fit in an index)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:40]


def encode_cursor(value: Any) -> dict[str, Any]:
    """A cursor value as JSON with its type, so it comes back as the same type.

    Raises:
        TypeError: a value that cannot order rows (a bool, a dict...).
    """
    if isinstance(value, bool):
        raise TypeError("a cursor cannot be a boolean")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return {"type": "datetime", "value": value.astimezone(dt.UTC).isoformat()}
    if isinstance(value, dt.date):
        return {"type": "date", "value": value.isoformat()}
    if isinstance(value, int):
        return {"type": "int", "value": value}
    if isinstance(value, float | Decimal):
        return {"type": "float", "value": float(value)}
    if isinstance(value, str):
        return {"type": "str", "value": value}
    raise TypeError(f"a cursor must be a datetime, date, number or string, not {type(value).__name__}")


def decode_cursor(data: dict[str, Any] | None) -> Any:
    """The value :func:`encode_cursor` stored (None for no cursor)."""
    if data is None:
        return None
    kind: Any = data.get("type")
    value: Any = data.get("value")
    if kind == "datetime":
        return dt.datetime.fromisoformat(value)
    if kind == "date":
        return dt.date.fromisoformat(value)
    if kind == "int":
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "str":
        return str(value)
    raise ValueError(f"unknown cursor type {kind!r}")


@dataclass
class StateChanges:
    """What a committing run changes in the store's carried-over state.

    Attributes:
        cursors: New cursor per (source, record type); absent streams keep theirs.
        frames: Whole snapshots (canonical columns, one row per record) of
            streams read incrementally, each replacing what was kept.
        artifacts: Named JSON documents to keep for later runs.
        deltas: How each of ``frames`` differs from the snapshot it was
            merged into: the store keeps just that (a delta part) while the
            snapshot's deltas stay few and small.
        derived_tag: How the derived (normalised ``_n_*``) columns of
            ``frames`` were computed; they are kept with the snapshot under
            this tag (None: only the canonical columns are kept).
        encoded: Snapshots of ``frames`` already encoded, waiting in
            ``spill`` (:meth:`Store.encode_snapshots`): their frames are gone.
        spill: The temporary file holding the encoded snapshots' parts
            (:meth:`close` deletes it).
    """

    cursors: dict[StreamKey, Any] = field(default_factory=dict)
    frames: dict[StreamKey, pd.DataFrame] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict)
    derived_tag: str | None = None
    deltas: dict[StreamKey, SnapshotDelta] = field(default_factory=dict)
    encoded: dict[StreamKey, EncodedSnapshot] = field(default_factory=dict)
    spill: Spill | None = None

    def __bool__(self) -> bool:
        return bool(self.cursors or self.frames or self.encoded or self.artifacts)

    def close(self) -> None:
        """Delete the spill of encoded snapshots (after the commit, or when the run failed)."""
        if self.spill is not None:
            self.spill.close()
            self.spill = None
