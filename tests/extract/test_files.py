from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract.files import CsvAdapter, CsvSourceConfig, JsonlAdapter, JsonlSourceConfig

CONTACT_FIELDS = {"contact_id": "id", "name": "name", "email": "email"}


def _csv(tmp_path: Path, rows: list[list[str]], name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _csv_adapter(tmp_path: Path, path: str = "contacts.csv", **stream: object) -> CsvAdapter:
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", "streams": {"contact": {"path": path, "fields": CONTACT_FIELDS, **stream}}}
    )
    return CsvAdapter("crm", config, tmp_path)


def test_csv_rows_are_used_or_quarantined_with_reason(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "email"], ["1", "Ann", "a@x"], ["", "No Key", "n@x"],
                    ["3", "Short"], ["1", "Dup", "d@x"], ["5", "Eve", "e@x"], ["6", "Fay", "f@x"]])
    result = _csv_adapter(tmp_path).extract()
    health = result.health
    assert health is not None and health.healthy
    assert [r["contact_id"] for r in result.records["contact"]] == ["1", "5", "6"]
    assert health.rows_read == 6
    assert health.rows_used + health.rows_quarantined == health.rows_read
    reasons = {q.row: (q.field, q.reason) for q in result.quarantine}
    assert reasons["line 3"][0] == "contact_id"
    assert "expected 3 columns" in reasons["line 4"][1]
    assert reasons["line 5 (key '1')"][0] == "contact_id"
    assert "duplicate key '1'" in reasons["line 5 (key '1')"][1]
    assert all(q.source == "crm" and q.stream == "contact" for q in result.quarantine)


def test_csv_delimiter_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows([["id", "name", "email"], ["1", "Ann; Lee", "a@x"]])
    result = _csv_adapter(tmp_path, path="c.csv.gz", delimiter=";").extract()
    assert result.records["contact"][0]["name"] == "Ann; Lee"


def test_missing_file_makes_the_source_unhealthy(tmp_path: Path) -> None:
    result = _csv_adapter(tmp_path, path="nope.csv").extract()
    assert result.health is not None
    assert not result.health.healthy
    assert "nope.csv" in (result.health.error or "")


def test_mostly_garbage_source_is_unhealthy(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "email"], ["", "a", "b"], ["", "c", "d"], ["3", "e", "f"]])
    result = _csv_adapter(tmp_path).extract()
    assert result.health is not None
    assert not result.health.healthy
    assert "max_quarantine_fraction" in (result.health.error or "")


def test_jsonl_bad_lines_and_nested_objects(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "1", "name": "Ann", "contact": {"email": "a@x"}}),
        "{not json",
        json.dumps([1, 2]),
        "",
        json.dumps({"id": "2", "name": "Bob", "contact": {"email": None}}),
    ]
    (tmp_path / "crm.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = JsonlSourceConfig.model_validate(
        {"kind": "jsonl", "streams": {"contact": {"path": "crm.jsonl",
                                                  "fields": {"contact_id": "id", "name": "name",
                                                             "email": "contact.email"}}}}
    )
    result = JsonlAdapter("crm", config, tmp_path).extract()
    assert [r["email"] for r in result.records["contact"]] == ["a@x", None]
    assert {q.row for q in result.quarantine} == {"line 2", "line 3"}
    assert result.health is not None and result.health.rows_read == 4


def test_bad_encoding_is_kept_not_crashed(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_bytes(b"id,name,email\n1,Ren\xe9e,r@x\n")
    result = _csv_adapter(tmp_path).extract()
    assert result.records["contact"][0]["name"] == "Ren\ufffde"


cell = st.one_of(st.text(max_size=20), st.just(""), st.integers().map(str))


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=5), max_size=30))
def test_counts_always_add_up(tmp_path: Path, rows: list[list[str]]) -> None:
    """Whatever the rows, every row read is either used or quarantined."""
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "name", "email"])
        writer.writerows(rows)
    result = _csv_adapter(tmp_path).extract()
    health = result.health
    assert health is not None
    assert health.rows_read == health.rows_used + health.rows_quarantined
    assert health.rows_used == len(result.records.get("contact", []))
    assert health.rows_quarantined == len(result.quarantine)
    keys = [r["contact_id"] for r in result.records.get("contact", [])]
    assert len(keys) == len(set(keys))
