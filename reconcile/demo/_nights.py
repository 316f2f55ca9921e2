"""Nights on the demo world: change tracking and a night's worth of changes.

A company's systems change a little every day. To rehearse incremental runs
on the demo world:

1. :func:`track_changes` gives every demo table and file an ``updated_at``
   column (a distinct time in the 30 days before the world's as-of, fixed
   by the row's position), as a system with change tracking would have;
   ``write_config(..., incremental=True)`` then reads every stream
   incrementally from that cursor, with a key scan each run for hard deletes.
2. :func:`change` plays one night: a share of the rows of every table and file
   get a new value in one of their ordinary columns (a value another row
   has, so it stays plausible), a smaller share are deleted and as many new
   rows are added (copies of existing rows under new keys); every changed or
   new row gets an ``updated_at`` at the night's time.

The changes are random but fixed by the seed. They disturb the ground truth
in truth/, so after a night a run is compared with a full run on the same
data (as the incremental tests and ``benchmarks/incremental_night.py`` do),
not with the truth.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconcile.demo._generate import FILES

__all__ = ["CURSOR_COLUMN", "NightChanges", "change", "track_changes"]

#: The change-tracking column every demo table and file gets.
CURSOR_COLUMN = "updated_at"


@dataclass(frozen=True)
class _Table:
    """A demo table or file: its export, table (SQLite) or None, key column, changeable columns."""

    export: str
    table: str | None
    key: str
    columns: tuple[str, ...]


# Ordinary columns a night may change: names, contact details, statuses,
# amounts, dates. Keys and references to other tables stay as they are.
_TABLES: tuple[_Table, ...] = (
    _Table("billing", "accounts", "account_no",
           ("holder_name", "email_addr", "phone_no", "addr_line1", "status", "autopay_flag")),
    _Table("billing", "subscriptions", "sub_id", ("plan_code", "status", "mrc")),
    _Table("billing", "invoices", "invoice_no", ("amount_due", "status", "paid_date")),
    _Table("billing", "payments", "payment_ref", ("result", "return_code", "channel")),
    _Table("inventory", "service_lines", "line_id",
           ("subscriber", "contact_phone", "install_street", "product_code", "line_status")),
    _Table("dealer", "vehicles", "veh_id", ("owner_last", "owner_phone", "owner_email", "owner_street")),
    _Table("dealer", "vehicle_campaigns", "vc_id", ("campaign_status",)),
    _Table("dealer", "repair_orders", "ro_number", ("ro_status",)),
    _Table("recalls", None, "NOTICE_ID", ("OWNER_NAME", "OWNER_ADDRESS", "REMEDY_STATUS")),
    _Table("crm_contacts", None, "Id", ("LastName", "Email", "Phone")),
    _Table("crm_cases", None, "CaseNumber", ("Status",)),
    _Table("crm_surveys", None, "ResponseId", ("Score",)),
    _Table("telemetry", None, "device_id", ("state", "last_seen_utc", "firmware")),
    _Table("alerts", None, "alert_id", ("alert_type", "channel")),
)

# The spread of the initial updated_at values before the world's as-of.
_SPREAD_SECONDS = 30 * 24 * 3600


@dataclass
class NightChanges:
    """What :func:`change` did: rows changed, deleted and added per table or file."""

    at: dt.datetime
    changed: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.changed.values()) + sum(self.deleted.values()) + sum(self.added.values())


def _stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _initial(as_of: dt.datetime, position: int) -> str:
    """A row's first updated_at: spread over the 30 days before as_of by its position."""
    offset = (position * 2654435761) % _SPREAD_SECONDS  # Knuth's multiplicative hash: spread, fixed
    return _stamp(as_of - dt.timedelta(seconds=offset + 60))


def _name(table: _Table) -> str:
    return f"{table.export}.{table.table}" if table.table else FILES[table.export]


def track_changes(directory: str | Path, as_of: dt.datetime) -> None:
    """Give every demo table and file an ``updated_at`` column (idempotent).

    Args:
        directory: The demo world's folder.
        as_of: The world's as-of time; every first value lies in the 30 days before it.
    """
    directory = Path(directory)
    for table in _TABLES:
        path = directory / FILES[table.export]
        if table.table is not None:
            with sqlite3.connect(path) as conn:
                columns = [r[1] for r in conn.execute(f"PRAGMA table_info({table.table})")]
                if CURSOR_COLUMN in columns:
                    continue
                conn.create_function("first_stamp", 1, lambda rowid: _initial(as_of, rowid), deterministic=True)
                conn.execute(f"ALTER TABLE {table.table} ADD COLUMN {CURSOR_COLUMN} TEXT")
                conn.execute(f"UPDATE {table.table} SET {CURSOR_COLUMN} = first_stamp(rowid)")
        elif path.suffix == ".csv":
            header, rows = _read_csv(path)
            if CURSOR_COLUMN in header:
                continue
            _write_csv(path, [*header, CURSOR_COLUMN],
                       ([*row, _initial(as_of, n + 1)] for n, row in enumerate(rows)))
        else:
            objects = _read_jsonl(path)
            if objects and CURSOR_COLUMN in objects[0]:
                continue
            for n, obj in enumerate(objects):
                obj[CURSOR_COLUMN] = _initial(as_of, n + 1)
            _write_jsonl(path, objects)


def change(
    directory: str | Path,
    at: dt.datetime,
    fraction: float = 0.01,
    delete_fraction: float = 0.001,
    seed: int = 1,
) -> NightChanges:
    """Play one night on a change-tracked demo world.

    Args:
        directory: The demo world's folder (after :func:`track_changes`).
        at: The night's time: every changed or new row's ``updated_at``. Must
            be later than every earlier value.
        fraction: Share of each table's rows given a new value (at least one row).
        delete_fraction: Share of each table's rows deleted (at least one row
            unless 0); as many are added.
        seed: Seed of the changes.

    Returns:
        Counts of rows changed, deleted and added per table or file.
    """
    directory = Path(directory)
    rng = random.Random(seed)
    stamp = _stamp(at)
    night = NightChanges(at=at)
    for table in _TABLES:
        path = directory / FILES[table.export]
        name = _name(table)
        if table.table is not None:
            _change_sqlite(path, table, rng, stamp, fraction, delete_fraction, night, name)
            continue
        if path.suffix == ".csv":
            header, rows = _read_csv(path)
            records = [dict(zip(header, row, strict=True)) for row in rows]
        else:
            records = _read_jsonl(path)
            header = list(records[0]) if records else []
        if CURSOR_COLUMN not in header:
            raise ValueError(f"{path}: no {CURSOR_COLUMN} column; call track_changes() first")
        records = _change_records(records, table, rng, stamp, fraction, delete_fraction, night, name)
        if path.suffix == ".csv":
            _write_csv(path, header, ([r[c] for c in header] for r in records))
        else:
            _write_jsonl(path, records)
    return night


def _picks(count: int, share: float) -> int:
    """Rows to pick: the share, at least one of a non-empty table when the share is not 0."""
    if not count or share <= 0:
        return 0
    return min(count, max(1, round(count * share)))


def _new_key(key: Any, tag: str) -> str:
    """A new row's key: an existing row's key tagged with the night (unique across nights)."""
    return f"{key}-N{tag}"


def _change_records(
    records: list[dict[str, Any]],
    table: _Table,
    rng: random.Random,
    stamp: str,
    fraction: float,
    delete_fraction: float,
    night: NightChanges,
    name: str,
) -> list[dict[str, Any]]:
    count = len(records)
    changed = rng.sample(range(count), _picks(count, fraction))
    for i in changed:
        column = rng.choice(table.columns)
        records[i][column] = records[rng.randrange(count)][column]
        records[i][CURSOR_COLUMN] = stamp
    doomed = set(rng.sample(range(count), _picks(count, delete_fraction)))
    tag = stamp.translate({ord(c): None for c in "-:TZ"})
    added = []
    for i in sorted(doomed):
        copy = dict(records[rng.randrange(count)])
        copy[table.key] = _new_key(records[i][table.key], tag)
        copy[CURSOR_COLUMN] = stamp
        added.append(copy)
    night.changed[name] = len(changed)
    night.deleted[name] = len(doomed)
    night.added[name] = len(added)
    return [r for i, r in enumerate(records) if i not in doomed] + added


def _change_sqlite(
    path: Path,
    table: _Table,
    rng: random.Random,
    stamp: str,
    fraction: float,
    delete_fraction: float,
    night: NightChanges,
    name: str,
) -> None:
    with sqlite3.connect(path) as conn:
        t = table.table
        columns = [r[1] for r in conn.execute(f"PRAGMA table_info({t})")]
        if CURSOR_COLUMN not in columns:
            raise ValueError(f"{path}: table {t} has no {CURSOR_COLUMN} column; call track_changes() first")
        rowids = [r[0] for r in conn.execute(f"SELECT rowid FROM {t} ORDER BY rowid")]  # noqa: S608
        count = len(rowids)
        changed = rng.sample(rowids, _picks(count, fraction))
        for rowid in changed:
            column = rng.choice(table.columns)
            donor = rowids[rng.randrange(count)]
            conn.execute(
                f"UPDATE {t} SET {column} = (SELECT {column} FROM {t} WHERE rowid = ?), "  # noqa: S608
                f"{CURSOR_COLUMN} = ? WHERE rowid = ?",
                (donor, stamp, rowid),
            )
        doomed = rng.sample(rowids, _picks(count, delete_fraction))
        tag = stamp.translate({ord(c): None for c in "-:TZ"})
        marks = ", ".join(columns)
        for rowid in doomed:
            donor = rowids[rng.randrange(count)]
            (key,) = conn.execute(f"SELECT {table.key} FROM {t} WHERE rowid = ?", (rowid,)).fetchone()  # noqa: S608
            row = dict(zip(columns, conn.execute(f"SELECT {marks} FROM {t} WHERE rowid = ?",  # noqa: S608
                                                 (donor,)).fetchone(), strict=True))
            row[table.key] = _new_key(key, tag)
            row[CURSOR_COLUMN] = stamp
            conn.execute(f"INSERT INTO {t} ({marks}) VALUES ({', '.join('?' * len(columns))})",  # noqa: S608
                         [row[c] for c in columns])
        conn.executemany(f"DELETE FROM {t} WHERE rowid = ?", [(r,) for r in doomed])  # noqa: S608
    night.changed[name] = len(changed)
    night.deleted[name] = len(doomed)
    night.added[name] = len(doomed)


def _read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        return header, list(reader)


def _write_csv(path: Path, header: list[str], rows: Any) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    tmp.replace(path)


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _write_jsonl(path: Path, objects: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
    with tmp.open("w", encoding="utf-8", newline="\n") as fh:
        for obj in objects:
            fh.write(encode(obj))
            fh.write("\n")
    tmp.replace(path)
