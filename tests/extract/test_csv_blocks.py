"""The csv adapter's pyarrow blocks give exactly what the csv module gives.

The csv adapter parses a file with pyarrow, a block of whole lines at a
time, and leaves to the csv module every block it cannot vouch for (quotes
inside unquoted cells, text after a closing quote, line breaks in quotes,
lone carriage returns, blank lines, ragged rows, bytes that are not UTF-8,
oversized cells) and, from a quoted value that runs past a block's end, the
rest of the file. Hypothesis writes files full of such cases, cut into
small blocks, and checks the records and the quarantine against the
row-by-row reference, which reads with the csv module alone.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract import files
from reconcile.extract.base import ExtractResult, RowBatch
from reconcile.extract.files import CsvAdapter, CsvSourceConfig

pytest.importorskip("pyarrow")

FIELDS = {
    "account_id": "id",
    "name": "name",
    "status": {"column": "st", "map": {"A": "active", "C": "closed"}},
    "opened_at": {"column": "day", "format": "%Y-%m-%d"},
    "autopay": {"column": "pay", "transform": "bool"},
}

# Cells chosen to hit every case the blocks must leave to the csv module.
CELL = st.sampled_from([
    "", "x", " padded ", "SMITH, ANN", '"quoted"', '"with ""quote"""', '"a,b"', '"two\nlines"', 'mid"quote',
    '"closed"after', "\r", "é", "\u00a0nbsp", "\t", "\x1c", "A", "C", "Z", "2026-01-02", "2026-02-30", "Y", "N", "maybe",
])


def _line(cells: list[str], key: int) -> str:
    return ",".join([f"K{key}", *cells])


@st.composite
def csv_files(draw: Any) -> bytes:
    lines = ["id,name,st,day,pay"]
    for _ in range(draw(st.integers(0, 30))):
        kind = draw(st.sampled_from(["row", "row", "row", "blank", "short", "long", "crlf"]))
        key = draw(st.integers(0, 15))
        cells = [draw(CELL) for _ in range(4)]
        if kind == "blank":
            lines.append("")
        elif kind == "short":
            lines.append(_line(cells[:2], key))
        elif kind == "long":
            lines.append(_line([*cells, "extra"], key))
        elif kind == "crlf":
            lines.append(_line(cells, key) + "\r")
        else:
            lines.append(_line(cells, key))
    text = "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))
    data = text.encode("utf-8")
    if draw(st.booleans()) and len(data) > 40:
        at = draw(st.integers(20, len(data) - 1))
        data = data[:at] + b"\xff" + data[at:]  # a byte that is not UTF-8
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    return data


def extract(path: Path, columnar: bool, block: int, monkeypatch: pytest.MonkeyPatch) -> ExtractResult:
    monkeypatch.setattr(files, "_BLOCK", block)
    config = CsvSourceConfig.model_validate({
        "kind": "csv", "max_quarantine_fraction": 1.0,
        "streams": {"account": {"path": path.name, "fields": FIELDS}},
    })
    adapter = type("Csv", (CsvAdapter,), {"columnar": columnar})("crm", config, path.parent)
    return adapter.extract()


def same(fast: ExtractResult, slow: ExtractResult) -> None:
    assert fast.health is not None and slow.health is not None
    assert (fast.health.healthy, fast.health.error) == (slow.health.healthy, slow.health.error)
    assert fast.health.rows_read == slow.health.rows_read
    assert fast.health.rows_read == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(data=csv_files(), block=st.sampled_from([16, 64, 256, 1 << 20]))
def test_blocks_read_as_the_csv_module_does(data: bytes, block: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "accounts.csv"
        path.write_bytes(data)
        fast = extract(path, True, block, monkeypatch)
        slow = extract(path, False, block, monkeypatch)
        same(fast, slow)


def test_plain_blocks_are_parsed_by_pyarrow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A well-formed file is read as Arrow tables (the fast path is taken, not only correct)."""
    rows = "\n".join(f'K{i},"SMITH, ANN {i}",A,2026-01-02,Y' for i in range(200))
    path = tmp_path / "accounts.csv"
    path.write_text("id,name,st,day,pay\n" + rows + "\n", encoding="utf-8")
    monkeypatch.setattr(files, "_BLOCK", 1024)
    config = CsvSourceConfig.model_validate({"kind": "csv", "streams": {"account": {"path": path.name, "fields": FIELDS}}})
    adapter = CsvAdapter("crm", config, tmp_path)
    stream = config.streams["account"]
    batches = list(adapter.read_batches("account", stream))
    assert len(batches) > 1
    assert all(isinstance(b, RowBatch) and b.rows.__class__.__name__ == "ArrowRows" for b in batches)
    assert [b.positions[0] for b in batches if isinstance(b, RowBatch)][0] == 2
    result = adapter.extract()
    assert result.count("account") == 200
    assert result.records["account"][5]["name"] == "SMITH, ANN 5"
    assert result.frame("account")["autopay"].dtype == bool


def test_a_quoted_line_break_across_blocks_keeps_line_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [f"K{i},plain,A,2026-01-02,Y" for i in range(40)]
    lines[20] = 'K20,"first\nsecond",A,2026-01-02,Y'
    lines[30] = "K30,late,Z,2026-01-02,Y"  # an unknown code, after the quoted line break
    path = tmp_path / "accounts.csv"
    path.write_text("id,name,st,day,pay\n" + "\n".join(lines) + "\n", encoding="utf-8")
    result = extract(path, True, 64, monkeypatch)
    assert result.count("account") == 39
    assert result.records["account"][20]["name"] == "first\nsecond"
    assert [(q.row, q.field) for q in result.quarantine] == [("line 33 (key 'K30')", "status")]
