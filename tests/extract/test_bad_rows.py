"""Bad rows through every file and SQL adapter: nothing is lost, every reason says where and what.

Hypothesis writes the same rows (good ones, and rows with a wrong type, a
missing required value, an unknown code, an impossible date, an oversized
value, bytes that are not UTF-8, a repeated key, a cut-short last line) as
CSV, JSON Lines and a SQLite table, and checks each adapter against a plain
model of what must happen to each row: used, or quarantined with its line or
row number and the field at fault, in source order. The same rows extracted
row by row (``columnar = False``) give exactly the same result.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract.base import Adapter, ExtractResult
from reconcile.extract.files import CsvAdapter, CsvSourceConfig, JsonlAdapter, JsonlSourceConfig
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

COLUMNS = ["inv", "acct", "amt", "due", "st", "note"]
FIELDS = {
    "invoice_id": "inv",
    "account_id": "acct",
    "amount": "amt",
    "due_date": {"column": "due", "format": "%Y-%m-%d"},
    "status": {"column": "st", "map": {"O": "open", "P": "paid"}},
}
BIG = "x" * 140_000  # over the csv module's field limit of 131,072 characters
BAD_BYTES = "\udcff"  # written as the byte 0xff: not UTF-8

# kind -> (the field at fault, or None when the row is fine)
FAULTS = {
    "good": None,
    "wrong_type": "amount",
    "null_required": "account_id",
    "missing_amount": "amount",
    "bad_code": "status",
    "bad_date": "due_date",
    "oversized": None,  # fine, except in CSV (over the field limit)
    "bad_bytes": "acct",  # the source column holding them
}


@dataclass(frozen=True)
class Row:
    kind: str
    key: int
    text: str

    def values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "inv": f"I{self.key}", "acct": f"A-{self.text}", "amt": "12.50", "due": "2026-03-01",
            "st": "O" if self.key % 2 else "P", "note": self.text,
        }
        if self.kind == "wrong_type":
            values["amt"] = "twelve"
        elif self.kind == "null_required":
            values["acct"] = None if self.key % 2 else "  "
        elif self.kind == "missing_amount":
            values["amt"] = None
        elif self.kind == "bad_code":
            values["st"] = "Z"
        elif self.kind == "bad_date":
            values["due"] = "2026-02-30"
        elif self.kind == "oversized":
            values["note"] = BIG
        elif self.kind == "bad_bytes":
            values["acct"] = f"A-{self.text}{BAD_BYTES}"
        return values


rows_strategy = st.lists(
    st.builds(
        Row,
        kind=st.sampled_from(list(FAULTS)),
        key=st.integers(min_value=0, max_value=12),  # a small pool: repeated keys are common
        text=st.text(alphabet="abc ,;\"'é", max_size=6),
    ),
    max_size=25,
)


def expected(rows: list[Row], adapter: str, truncated: bool) -> tuple[list[str], list[tuple[int, str | None]]]:
    """Keys used and (row index, field) quarantined, in source order."""
    used: list[str] = []
    quarantined: list[tuple[int, str | None]] = []
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if truncated and i == len(rows) - 1:
            quarantined.append((i, None))
            continue
        field = FAULTS[row.kind]
        if row.kind == "oversized" and adapter == "csv":
            quarantined.append((i, None))
            continue
        if field is not None:
            quarantined.append((i, field))
            continue
        key = f"I{row.key}"
        if key in seen:
            quarantined.append((i, "invoice_id"))
            continue
        seen.add(key)
        used.append(key)
    return used, quarantined


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def write_csv(path: Path, rows: list[Row], truncated: bool) -> list[int]:
    """Write the rows; return the line each starts on."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    starts = []
    for row in rows:
        starts.append(buffer.getvalue().count("\n") + 1)
        writer.writerow([row.values()[c] for c in COLUMNS])
    text = buffer.getvalue()
    if truncated and rows:
        last = text.rstrip("\n").rsplit("\n", 1)[1]
        text = text[: len(text) - len(last) - 1] + "I99,A"  # the last line cut short
    path.write_bytes(_encode(text))
    return starts


def write_jsonl(path: Path, rows: list[Row], truncated: bool) -> list[int]:
    lines = [json.dumps(row.values(), ensure_ascii=False) for row in rows]
    if truncated and lines:
        lines[-1] = lines[-1][: len(lines[-1]) // 2]
    path.write_bytes(_encode("\n".join(lines) + ("" if truncated else "\n")))
    return list(range(1, len(rows) + 1))


def write_sqlite(path: Path, rows: list[Row]) -> list[int]:
    con = sqlite3.connect(path)
    con.execute(f"CREATE TABLE invoices ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
    for row in rows:
        values = row.values()
        # Text that is not UTF-8 can only get into a TEXT column by a cast from bytes.
        params = [_encode(values[c]) if isinstance(values[c], str) else None for c in COLUMNS]
        con.execute(f"INSERT INTO invoices VALUES ({', '.join('CAST(? AS TEXT)' for _ in COLUMNS)})", params)
    con.commit()
    con.close()
    return list(range(1, len(rows) + 1))


def build(kind: str, directory: Path, rows: list[Row], truncated: bool, columnar: bool = True) -> tuple[Adapter, list[int]]:
    common = {"max_quarantine_fraction": 1.0}
    if kind == "csv":
        starts = write_csv(directory / "invoices.csv", rows, truncated)
        adapter: Adapter = type("Csv", (CsvAdapter,), {"columnar": columnar})(
            "billing", CsvSourceConfig.model_validate({"kind": "csv", **common, "streams": {
                "invoice": {"path": "invoices.csv", "fields": FIELDS}}}), directory)
    elif kind == "jsonl":
        starts = write_jsonl(directory / "invoices.jsonl", rows, truncated)
        adapter = type("Jsonl", (JsonlAdapter,), {"columnar": columnar})(
            "billing", JsonlSourceConfig.model_validate({"kind": "jsonl", **common, "streams": {
                "invoice": {"path": "invoices.jsonl", "fields": FIELDS}}}), directory)
    else:
        path = directory / "billing.db"
        if not path.exists():
            write_sqlite(path, rows)
        starts = list(range(1, len(rows) + 1))
        adapter = type("Sql", (SqlAdapter,), {"columnar": columnar})(
            "billing", SqlSourceConfig.model_validate({"kind": "sql", "url": "sqlite:///billing.db", **common,
                                                       "chunk_size": 4, "streams": {
                "invoice": {"table": "invoices", "fields": FIELDS}}}), directory)
    return adapter, starts


def check(result: ExtractResult, rows: list[Row], starts: list[int], kind: str, truncated: bool) -> None:
    health = result.health
    assert health is not None and health.healthy, health
    assert health.rows_read == len(rows)
    assert health.rows_read == health.rows_used + health.rows_quarantined
    assert health.rows_quarantined == len(result.quarantine)
    used, quarantined = expected(rows, kind, truncated)
    records = result.records.get("invoice", [])
    assert [r["invoice_id"] for r in records] == used
    assert len(result.frame("invoice")) == len(used)
    unit = "row" if kind == "sqlite" else "line"
    got = [(q.row.split(" (key")[0], q.field) for q in result.quarantine]
    want = [(f"{unit} {starts[i]}", field) for i, field in quarantined]
    assert got == want, result.quarantine
    for q in result.quarantine:
        assert q.source == "billing" and q.stream == "invoice"
        assert q.reason
        if q.field is not None and q.field != "acct":
            assert "(key 'I" in q.row, q  # rows that could be read name their key too
        json.dumps(q.model_dump(mode="json"))  # every quarantined row can be stored


@pytest.mark.parametrize("kind", ["csv", "jsonl", "sqlite"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=rows_strategy, truncated=st.booleans())
def test_every_row_is_used_or_quarantined_with_where_and_what(kind: str, rows: list[Row], truncated: bool) -> None:
    truncated = truncated and kind != "sqlite" and bool(rows)
    with tempfile.TemporaryDirectory() as tmp:
        adapter, starts = build(kind, Path(tmp), rows, truncated)
        result = adapter.extract()
        check(result, rows, starts, kind, truncated)
        # The row-by-row reference gives the very same result.
        reference, _ = build(kind, Path(tmp), rows, truncated, columnar=False)
        slow = reference.extract()
        assert slow.records == result.records
        assert [q.model_dump() for q in slow.quarantine] == [q.model_dump() for q in result.quarantine]


def test_reasons_name_the_row_and_the_field(tmp_path: Path) -> None:
    rows = [Row("good", 1, "a"), Row("wrong_type", 2, "b"), Row("bad_bytes", 3, "c"), Row("good", 1, "d"),
            Row("bad_date", 4, "e"), Row("null_required", 5, "f"), Row("bad_code", 6, "g")]
    adapter, _ = build("sqlite", tmp_path, rows, truncated=False)
    result = adapter.extract()
    reasons = [(q.row, q.field, q.reason) for q in result.quarantine]
    assert reasons == [
        ("row 2 (key 'I2')", "amount", "cannot read 'twelve' as float: could not convert string to float: 'twelve'"),
        ("row 3 (key 'I3')", "acct", "column 'acct': bytes b'\\xff' are not valid UTF-8 (set the stream's encoding)"),
        ("row 4 (key 'I1')", "invoice_id", "duplicate key 'I1': already read at row 1"),
        ("row 5 (key 'I4')", "due_date", "cannot read '2026-02-30' as date with format '%Y-%m-%d': "
                                         "day is out of range for month"),
        ("row 6 (key 'I5')", "account_id", "Field required"),
        ("row 7 (key 'I6')", "status", "code 'Z' is not in the code table (O, P)"),
    ]
    assert result.quarantine[1].raw["acct"] == "A-c\\xff"


@pytest.mark.parametrize(
    ("limits", "error"),
    [
        ({"max_quarantined": 2}, "source 'billing': 3 of 5 rows quarantined (60.0%), more than max_quarantined=2"),
        ({"max_quarantine_fraction": 0.5},
         "source 'billing': 3 of 5 rows quarantined (60.0%), more than max_quarantine_fraction=0.5"),
        ({"max_quarantined": 3, "max_quarantine_fraction": 0.6}, None),
    ],
)
def test_quarantine_limits_by_count_and_by_share(tmp_path: Path, limits: dict[str, Any], error: str | None) -> None:
    rows = [Row("good", 1, ""), Row("wrong_type", 2, ""), Row("bad_code", 3, ""), Row("good", 4, ""),
            Row("good", 1, "")]
    write_csv(tmp_path / "invoices.csv", rows, truncated=False)
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", **limits, "streams": {"invoice": {"path": "invoices.csv", "fields": FIELDS}}}
    )
    result = CsvAdapter("billing", config, tmp_path).extract()
    assert result.health is not None
    assert result.health.error == error
    assert result.health.healthy is (error is None)
    # Rows are kept either way: the run fails on them, it does not lose them.
    assert result.health.rows_quarantined == 3 and len(result.quarantine) == 3
