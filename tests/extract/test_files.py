"""The csv and jsonl adapters: every row used or quarantined with its line number."""

from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.extract.files import CsvAdapter, CsvSourceConfig, JsonlAdapter, JsonlSourceConfig

CONTACT_FIELDS = {"contact_id": "id", "name": "name", "email": "email"}


def _csv(tmp_path: Path, rows: list[list[str]], name: str = "contacts.csv") -> Path:
    path = tmp_path / name
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _csv_adapter(tmp_path: Path, path: str = "contacts.csv", fields: dict[str, Any] | None = None,
                 **stream: object) -> CsvAdapter:
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", "max_quarantine_fraction": 1.0,
         "streams": {"contact": {"path": path, "fields": fields or CONTACT_FIELDS, **stream}}}
    )
    return CsvAdapter("crm", config, tmp_path)


def _jsonl_adapter(tmp_path: Path, path: str = "crm.jsonl", **stream: object) -> JsonlAdapter:
    config = JsonlSourceConfig.model_validate(
        {"kind": "jsonl", "max_quarantine_fraction": 1.0,
         "streams": {"contact": {"path": path, "fields": {"contact_id": "id", "name": "name",
                                                          "email": "contact.email"}, **stream}}}
    )
    return JsonlAdapter("crm", config, tmp_path)


def _used(result: Any) -> list[str]:
    return [r["contact_id"] for r in result.records.get("contact", [])]


def _quarantined(result: Any) -> dict[str, tuple[str | None, str]]:
    return {q.row: (q.field, q.reason) for q in result.quarantine}


def _balanced(result: Any) -> None:
    health = result.health
    assert health is not None
    assert health.rows_read == health.rows_used + health.rows_quarantined, health
    assert health.rows_quarantined == len(result.quarantine)
    assert health.rows_used == len(result.records.get("contact", []))


# -- csv -------------------------------------------------------------------------------


def test_csv_rows_are_used_or_quarantined_with_reason(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "email"], ["1", "Ann", "a@x"], ["", "No Key", "n@x"],
                    ["3", "Short"], ["1", "Dup", "d@x"], ["5", "Eve", "e@x"], ["6", "Fay", "f@x", "extra"]])
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert result.health is not None and result.health.healthy
    assert _used(result) == ["1", "5"]
    assert result.health.rows_read == 6
    reasons = _quarantined(result)
    assert reasons["line 3"][0] == "contact_id"
    assert reasons["line 4"][1] == "expected 3 cells, found 2 (the line may be cut short)"
    assert reasons["line 5 (key '1')"] == ("contact_id", "duplicate key '1': already read at line 2")
    assert reasons["line 7"][1] == "expected 3 cells, found 4"
    extra = next(q for q in result.quarantine if q.row == "line 7")
    assert extra.raw == {"id": "6", "name": "Fay", "email": "f@x", "_extra_cells": ["extra"]}
    assert all(q.source == "crm" and q.stream == "contact" for q in result.quarantine)


def test_bom_crlf_and_quoted_newlines_keep_line_numbers(tmp_path: Path) -> None:
    data = (
        "\ufeffid,name,email\r\n"
        '1,"Ann\r\nLee",a@x\r\n'           # lines 2-3: one record with a quoted newline
        '2,"Bob ""B"" Ray",b@x\r\n'        # line 4: doubled quotes
        "3,Cy\r\n"                         # line 5: a cell short
        '4,"Di\nDo\nDu",d@x\r\n'           # lines 6-8
        "\r\n"                             # line 9: blank, not a row
        "5,Ed,e@x\r\n"                     # line 10
    )
    (tmp_path / "contacts.csv").write_bytes(data.encode("utf-8"))
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    names = {r["contact_id"]: r["name"] for r in result.records["contact"]}
    assert names == {"1": "Ann\r\nLee", "2": 'Bob "B" Ray', "4": "Di\nDo\nDu", "5": "Ed"}
    assert list(_quarantined(result)) == ["line 5"]
    adapter = _csv_adapter(tmp_path)
    positions = [r.position for r in adapter.read("contact", adapter.config.streams["contact"])]
    assert positions == ["line 2", "line 4", "line 5", "line 6", "line 10"]


def test_headerless_file_with_column_names_and_a_bom(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_bytes("\ufeff1\tAnn\ta@x\n2\tBob\tb@x\n".encode())
    result = _csv_adapter(tmp_path, path="c.txt", header=False, delimiter="\t",
                          column_names=["id", "name", "email"]).extract()
    _balanced(result)
    assert _used(result) == ["1", "2"]


def test_header_names_can_be_replaced(tmp_path: Path) -> None:
    _csv(tmp_path, [["ID ", "Full Name", "Mail"], ["1", "Ann", "a@x"]])
    result = _csv_adapter(tmp_path, column_names=["id", "name", "email"]).extract()
    assert _used(result) == ["1"]


def test_headerless_file_needs_column_names() -> None:
    with pytest.raises(ValueError, match="needs 'column_names'"):
        CsvSourceConfig.model_validate(
            {"kind": "csv", "streams": {"contact": {"path": "c.csv", "header": False, "fields": CONTACT_FIELDS}}}
        )


def test_quoting_none_reads_quotes_as_data(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text('id|name|email\n1|"Ann|a@x\n', encoding="utf-8")
    result = _csv_adapter(tmp_path, delimiter="|", quoting="none", quotechar=None).extract()
    assert [r["name"] for r in result.records["contact"]] == ['"Ann']


@pytest.mark.parametrize("content", ["", "id,name,email\n", "id,name,email\r\n\r\n"])
def test_empty_files_are_healthy_with_no_rows(tmp_path: Path, content: str) -> None:
    (tmp_path / "contacts.csv").write_text(content, encoding="utf-8")
    result = _csv_adapter(tmp_path).extract()
    assert result.health is not None and result.health.healthy and result.health.rows_read == 0


def test_truncated_last_line(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text("id,name,email\n1,Ann,a@x\n2,Bo", encoding="utf-8")
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert _quarantined(result) == {"line 3": (None, "expected 3 cells, found 2 (the line may be cut short)")}
    (tmp_path / "contacts.csv").write_text('id,name,email\n1,Ann,a@x\n2,"Bo', encoding="utf-8")
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert _used(result) == ["1"]
    assert _quarantined(result)["line 3"][1].startswith("malformed CSV: unexpected end of data")


def test_malformed_quoting_is_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text('id,name,email\n1,"Ann"x,a@x\n2,Bob,b@x\n', encoding="utf-8")
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert _used(result) == ["2"]
    assert _quarantined(result)["line 2"][1].startswith("malformed CSV")


def test_bad_bytes_quarantine_the_row_naming_the_column(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_bytes(b"id,name,email\n1,Ren\xe9e,r@x\n2,Bob,b@x\n")
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert _used(result) == ["2"]
    (row,) = result.quarantine
    assert row.row == "line 2 (key '1')" and row.field == "name"
    assert row.reason == "column 'name': bytes b'\\xe9' are not valid utf-8 (set the stream's encoding)"
    assert row.raw["name"] == "Ren\\xe9e"
    json.dumps(row.model_dump())  # storable

    kept = _csv_adapter(tmp_path, encoding_errors="replace").extract()
    assert [r["name"] for r in kept.records["contact"]] == ["Ren\ufffde", "Bob"]
    latin = _csv_adapter(tmp_path, encoding="latin-1").extract()
    assert [r["name"] for r in latin.records["contact"]] == ["Renée", "Bob"]


def test_oversized_cell_is_quarantined(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "email"], ["1", "x" * 200_000, "a@x"], ["2", "Bob", "b@x"]])
    result = _csv_adapter(tmp_path).extract()
    _balanced(result)
    assert _used(result) == ["2"]
    assert "field larger than field limit" in _quarantined(result)["line 2"][1]


def test_csv_delimiter_and_gzip(tmp_path: Path) -> None:
    path = tmp_path / "c.csv.gz"
    with gzip.open(path, "wt", encoding="utf-8", newline="") as fh:
        csv.writer(fh, delimiter=";").writerows([["id", "name", "email"], ["1", "Ann; Lee", "a@x"]])
    result = _csv_adapter(tmp_path, path="c.csv.gz", delimiter=";").extract()
    assert result.records["contact"][0]["name"] == "Ann; Lee"


def test_cut_short_gzip_makes_the_source_unhealthy(tmp_path: Path) -> None:
    rows = "id,name,email\n" + "".join(f"{i},N{i},e{i}@x\n" for i in range(5000))
    whole = gzip.compress(rows.encode())
    (tmp_path / "c.csv.gz").write_bytes(whole[: len(whole) // 2])
    result = _csv_adapter(tmp_path, path="c.csv.gz").extract()
    assert result.health is not None and not result.health.healthy
    assert "damaged or cut short" in (result.health.error or "")


def test_missing_file_makes_the_source_unhealthy(tmp_path: Path) -> None:
    result = _csv_adapter(tmp_path, path="nope.csv").extract()
    assert result.health is not None
    assert not result.health.healthy
    assert "nope.csv" in (result.health.error or "")


def test_a_mapped_column_missing_from_the_header_is_a_config_error(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "mail"], ["1", "Ann", "a@x"]])
    result = _csv_adapter(tmp_path).extract()
    health = result.health
    assert health is not None and not health.healthy
    assert "sources.crm.streams.contact.fields.email: contacts.csv has no column 'email'" in (health.error or "")


def test_repeated_header_names_are_numbered(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "name", "email"], ["1", "Ann", "Annie", "a@x"]])
    result = _csv_adapter(tmp_path, fields={"contact_id": "id", "name": "name", "given_name": "name.1"}).extract()
    assert result.records["contact"][0]["name"] == "Ann" and result.records["contact"][0]["given_name"] == "Annie"


def test_mostly_garbage_source_is_unhealthy(tmp_path: Path) -> None:
    _csv(tmp_path, [["id", "name", "email"], ["", "a", "b"], ["", "c", "d"], ["3", "e", "f"]])
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", "streams": {"contact": {"path": "contacts.csv", "fields": CONTACT_FIELDS}}}
    )
    result = CsvAdapter("crm", config, tmp_path).extract()
    assert result.health is not None
    assert not result.health.healthy
    assert result.health.error == (
        "source 'crm': 2 of 3 rows quarantined (66.7%), more than max_quarantine_fraction=0.5"
    )


# -- jsonl ------------------------------------------------------------------------------


def test_jsonl_bad_lines_and_nested_objects(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "1", "name": "Ann", "contact": {"email": "a@x"}}),
        "{not json",
        json.dumps([1, 2]),
        "",
        json.dumps({"id": "2", "name": "Bob", "contact": {"email": None}, "extra": [1]}),
        json.dumps({"id": "3"}),  # missing keys are empty fields
    ]
    (tmp_path / "crm.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = _jsonl_adapter(tmp_path).extract()
    _balanced(result)
    assert [(r["contact_id"], r["email"]) for r in result.records["contact"]] == [
        ("1", "a@x"), ("2", None), ("3", None)
    ]
    reasons = _quarantined(result)
    assert set(reasons) == {"line 2", "line 3"}
    assert reasons["line 3"][1] == "expected a JSON object, found list"
    assert result.health is not None and result.health.rows_read == 5


def test_jsonl_bom_crlf_bad_bytes_and_a_cut_short_last_line(tmp_path: Path) -> None:
    data = (
        b"\xef\xbb\xbf" + json.dumps({"id": "1", "name": "Ann"}).encode() + b"\r\n"
        + b'{"id": "2", "name": "Ren\xe9e"}\r\n'
        + json.dumps({"id": "3", "name": "Cy"}).encode() + b"\r\n"
        + b'{"id": "4", "na'
    )
    (tmp_path / "crm.jsonl").write_bytes(data)
    result = _jsonl_adapter(tmp_path).extract()
    _balanced(result)
    assert _used(result) == ["1", "3"]
    reasons = _quarantined(result)
    assert reasons["line 2 (key '2')"] == (
        "name", "column 'name': bytes b'\\xe9' at byte 25 are not valid utf-8 (set the stream's encoding)"
    )
    assert reasons["line 4"][1].endswith("(the last line may be cut short)")


def test_jsonl_long_lines_and_empty_files(tmp_path: Path) -> None:
    (tmp_path / "crm.jsonl").write_text(json.dumps({"id": "1", "name": "x" * 500}) + "\n", encoding="utf-8")
    result = _jsonl_adapter(tmp_path, max_line_bytes=100).extract()
    assert "longer than max_line_bytes=100" in result.quarantine[0].reason
    (tmp_path / "crm.jsonl").write_bytes(b"")
    empty = _jsonl_adapter(tmp_path).extract()
    assert empty.health is not None and empty.health.healthy and empty.health.rows_read == 0


# -- properties -------------------------------------------------------------------------

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
    _balanced(result)
    assert result.health is not None and result.health.rows_read == sum(1 for r in rows if r)
    keys = _used(result)
    assert len(keys) == len(set(keys))


def _flatten_reference(value: dict[Any, Any], prefix: str = "") -> dict[str, Any]:
    """flatten() as first written: one call per nested object."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flatten_reference(item, f"{name}."))
        else:
            out[name] = item
    return out


_KEYS = st.one_of(st.sampled_from(["a", "b", "a.b", "c", "", "é"]), st.integers(0, 2))
_NESTED = st.recursive(
    st.one_of(st.none(), st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2)),
    lambda inner: st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_KEYS, _NESTED, max_size=5))
def test_flatten_gives_what_the_recursive_reference_gives(value: dict[Any, Any]) -> None:
    from reconcile.extract.base import flatten

    flat = flatten(value)
    reference = _flatten_reference(value)
    assert flat == reference
    assert list(flat) == list(reference)  # the same column order
