"""The parquet adapter: record batches, column lists, folders, and the errors people meet."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconcile.config import parse_config
from reconcile.errors import SourceError
from reconcile.extract.parquet import ParquetAdapter, ParquetSourceConfig

FIELDS = {"account_id": "account_no", "name": "holder", "autopay": "autopay", "opened_at": "opened"}


def _write(path: Path, columns: dict[str, Any], **kwargs: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path, **kwargs)
    return path


def _adapter(base: Path, path: str = "accounts.parquet", fields: dict[str, Any] | None = None,
             batch_size: int = 10_000, **stream: Any) -> ParquetAdapter:
    config = ParquetSourceConfig.model_validate({
        "kind": "parquet", "batch_size": batch_size,
        "streams": {"account": {"path": path, "fields": fields or FIELDS, **stream}},
    })
    return ParquetAdapter("warehouse", config, base)


def test_typed_columns_are_mapped_and_bad_rows_quarantined_by_row(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.parquet", {
        "account_no": pa.array([101, 102, None, 101, 105], pa.int64()),
        "holder": ["SMITH, ROBERT", "LEE, ANN", "NO KEY", "DUPLICATE", "MOSS, EVE"],
        "autopay": pa.array([True, False, True, True, None], pa.bool_()),
        "opened": pa.array([dt.date(2024, 1, 2), None, None, None, dt.date(2020, 5, 6)], pa.date32()),
        "balance": pa.array([1.5, None, 0.0, 2.0, 3.0], pa.float64()),
    })
    result = _adapter(tmp_path).extract()
    health = result.health
    assert health is not None and health.healthy, health
    records = result.records["account"]
    assert [(r["account_id"], r["autopay"], r["opened_at"]) for r in records] == [
        ("101", True, dt.date(2024, 1, 2)),
        ("102", False, None),
        ("105", False, dt.date(2020, 5, 6)),
    ]
    assert health.rows_read == 5 == health.rows_used + health.rows_quarantined
    assert [(q.row, q.field) for q in result.quarantine] == [
        ("row 3", "account_id"),
        ("row 4 (key '101')", "account_id"),
    ]
    assert result.quarantine[1].raw["balance"] == 2.0  # the whole row is kept


def test_batches_are_streamed_and_every_row_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "accounts.parquet", {"account_no": [str(i) for i in range(25)],
                                           "holder": [f"H{i}" for i in range(25)]},
           row_group_size=10)
    sizes: list[int] = []
    original = pq.ParquetFile.iter_batches

    def spy(self: pq.ParquetFile, *args: Any, **kwargs: Any) -> Any:
        for batch in original(self, *args, **kwargs):
            sizes.append(batch.num_rows)
            yield batch

    monkeypatch.setattr(pq.ParquetFile, "iter_batches", spy)
    result = _adapter(tmp_path, fields={"account_id": "account_no", "name": "holder"}, batch_size=4).extract()
    assert [r["account_id"] for r in result.records["account"]] == [str(i) for i in range(25)]
    assert max(sizes) == 4 and sum(sizes) == 25


def test_column_list_reads_only_those_columns_and_nested_paths(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.parquet", {
        "account_no": ["A1"],
        "holder": ["Ann"],
        "address": [{"city": "Reno", "zip": "89501"}],
        "notes": ["not wanted"],
    })
    fields = {"account_id": "account_no", "name": "holder", "city": "address.city"}
    result = _adapter(tmp_path, fields=fields, columns=["account_no", "holder", "address.city"]).extract()
    assert result.records["account"][0]["city"] == "Reno"
    adapter = _adapter(tmp_path, fields=fields, columns=["account_no", "holder", "address.city"])
    (raw,) = adapter.read("account", adapter.config.streams["account"])
    assert raw.data == {"account_no": "A1", "holder": "Ann", "address.city": "Reno"}


def test_a_column_that_is_not_in_the_file_is_a_source_error(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.parquet", {"account_no": ["A1"], "holder": ["Ann"]})
    adapter = _adapter(tmp_path, columns=["account_no", "holdr"])
    with pytest.raises(SourceError) as err:
        list(adapter.read("account", adapter.config.streams["account"]))
    assert "['holdr']" in str(err.value) and "account_no, holder" in str(err.value)
    assert err.value.source == "warehouse"


def test_a_folder_of_files_is_read_in_name_order_with_file_positions(tmp_path: Path) -> None:
    _write(tmp_path / "export" / "year=2024" / "part-1.parquet", {"account_no": ["B", ""], "holder": ["b", "x"]})
    _write(tmp_path / "export" / "year=2023" / "part-0.parquet", {"account_no": ["A"], "holder": ["a"]})
    (tmp_path / "export" / "_SUCCESS").write_text("")
    (tmp_path / "export" / "year=2024" / "notes.txt").write_text("not parquet")
    result = _adapter(tmp_path, path="export", fields={"account_id": "account_no", "name": "holder"}).extract()
    assert [r["account_id"] for r in result.records["account"]] == ["A", "B"]
    assert [q.row for q in result.quarantine] == ["year=2024/part-1.parquet row 2"]


def test_missing_path_empty_folder_and_corrupt_file_fail_the_source(tmp_path: Path) -> None:
    missing = _adapter(tmp_path, path="nope.parquet").extract().health
    assert missing is not None and not missing.healthy and "nope.parquet does not exist" in (missing.error or "")
    (tmp_path / "empty").mkdir()
    empty = _adapter(tmp_path, path="empty").extract().health
    assert empty is not None and not empty.healthy and "no Parquet files" in (empty.error or "")
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    bad = _adapter(tmp_path, path="bad.parquet").extract().health
    assert bad is not None and not bad.healthy and "not a readable Parquet file" in (bad.error or "")
    assert all("'warehouse'" in (h.error or "") for h in (missing, empty, bad))


def test_empty_file_is_healthy(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.parquet", {"account_no": pa.array([], pa.string()),
                                           "holder": pa.array([], pa.string())})
    health = _adapter(tmp_path).extract().health
    assert health is not None and health.healthy and health.rows_read == 0


def test_without_pyarrow_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "accounts.parquet", {"account_no": ["A1"], "holder": ["Ann"]})
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    health = _adapter(tmp_path).extract().health
    assert health is not None and not health.healthy
    assert "pip install 'reconcile-engine[parquet]'" in (health.error or "")


def test_config_through_parse_config(tmp_path: Path) -> None:
    _write(tmp_path / "accounts.parquet", {"account_no": ["A1"], "holder": ["Ann"]})
    source = {"kind": "parquet", "streams": {"account": {"path": "accounts.parquet", "colums": ["a"],
                                                         "fields": {"account_id": "account_no"}}}}
    from reconcile.errors import ConfigError

    with pytest.raises(ConfigError, match=r"sources\.wh\.streams\.account\.colums"):
        parse_config({"sources": {"wh": source}}, origin="reconcile.yaml")
    del source["streams"]["account"]["colums"]
    config = parse_config({"sources": {"wh": source}}, base_dir=tmp_path)
    from reconcile.pipeline import extract_sources

    (result,) = extract_sources(config)
    assert result.records["account"] == [{**result.records["account"][0], "account_id": "A1"}]
