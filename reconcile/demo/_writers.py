"""Streaming writers for the demo systems: SQLite tables, CSV and JSON Lines files.

Rows are buffered per table and written in batches, so memory stays flat
however many customers the world has. Each SQLite database is written in one
transaction with the journal off: a demo file is either complete or rewritten.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["CsvSink", "JsonlSink", "SqliteSink"]


class SqliteSink:
    """One SQLite database written table by table in batches.

    Args:
        path: The database file; an existing one is replaced.
        schema: Table name -> column definitions (``"name TEXT PRIMARY KEY"``).
        batch: Rows buffered per table before an ``executemany``.
    """

    def __init__(self, path: Path, schema: dict[str, Sequence[str]], batch: int = 10_000):
        path.unlink(missing_ok=True)
        self.path = path
        self.batch = batch
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute("BEGIN")
        self._buffers: dict[str, list[tuple[Any, ...]]] = {}
        self._insert: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        for table, columns in schema.items():
            self.conn.execute(f"CREATE TABLE {table} ({', '.join(columns)})")
            marks = ", ".join("?" * len(columns))
            self._insert[table] = f"INSERT INTO {table} VALUES ({marks})"
            self._buffers[table] = []
            self.counts[table] = 0

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        buffer = self._buffers[table]
        buffer.append(row)
        if len(buffer) >= self.batch:
            self._flush(table)

    def flush(self) -> None:
        """Write every buffered row (still inside the transaction)."""
        for table in self._buffers:
            self._flush(table)

    def _flush(self, table: str) -> None:
        buffer = self._buffers[table]
        if buffer:
            self.conn.executemany(self._insert[table], buffer)
            self.counts[table] += len(buffer)
            buffer.clear()

    def close(self, indexes: Sequence[str] = ()) -> None:
        """Write what is buffered, build ``indexes`` (``CREATE INDEX`` statements) and commit."""
        self.flush()
        for statement in indexes:
            self.conn.execute(statement)
        self.conn.execute("COMMIT")
        self.conn.close()


class CsvSink:
    """A CSV file with a header row, written line by line."""

    def __init__(self, path: Path, header: Sequence[str]):
        self.path = path
        self._fh: TextIO = path.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._fh, lineterminator="\n")
        self._writer.writerow(header)
        self.count = 0

    def add(self, row: Sequence[Any]) -> None:
        self._writer.writerow(row)
        self.count += 1

    def close(self) -> None:
        self._fh.close()


class JsonlSink:
    """A JSON Lines file: one object per line, keys in the order given."""

    def __init__(self, path: Path):
        self.path = path
        self._fh: TextIO = path.open("w", encoding="utf-8", newline="\n")
        self._encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode
        self.count = 0

    def add(self, obj: dict[str, Any]) -> None:
        self._fh.write(self._encode(obj))
        self._fh.write("\n")
        self.count += 1

    def close(self) -> None:
        self._fh.close()
