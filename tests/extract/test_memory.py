"""The in-memory adapters (dataframe, records), alone and through parse_config and run()."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

import reconcile
from reconcile.config import parse_config
from reconcile.errors import ConfigError
from reconcile.extract import memory
from reconcile.extract.memory import (
    DataFrameAdapter,
    DataFrameSourceConfig,
    RecordsAdapter,
    RecordsSourceConfig,
)

ACCOUNT_FIELDS = {"account_id": "id", "name": "holder", "autopay": "ap", "opened_at": "opened"}


def _frame_adapter(frame: pd.DataFrame, fields: dict[str, Any] = ACCOUNT_FIELDS) -> DataFrameAdapter:
    config = DataFrameSourceConfig.model_validate(
        {"kind": "dataframe", "streams": {"account": {"frame": frame, "fields": fields}}}
    )
    return DataFrameAdapter("app", config)


def _records_adapter(records: Any, **source: Any) -> RecordsAdapter:
    config = RecordsSourceConfig.model_validate(
        {"kind": "records", "streams": {"account": {"records": records, "fields": ACCOUNT_FIELDS}},
         **source}
    )
    return RecordsAdapter("app", config)


def test_dataframe_missing_values_become_none_and_types_are_native() -> None:
    frame = pd.DataFrame({
        "id": [1, 2, 3],
        "holder": ["Ann", None, "Cy"],
        "ap": [True, False, True],
        "opened": pd.to_datetime(["2024-01-02", None, "2023-03-04"]),
        "score": [1.5, np.nan, 2.0],
    })
    adapter = _frame_adapter(frame)
    raw = list(adapter.read("account", adapter.config.streams["account"]))
    assert [r.position for r in raw] == ["row 1", "row 2", "row 3"]
    assert raw[1].data == {"id": 2, "holder": None, "ap": False, "opened": None, "score": None}
    result = _frame_adapter(frame).extract()
    assert [(r["account_id"], r["name"], r["opened_at"]) for r in result.records["account"]] == [
        ("1", "Ann", dt.date(2024, 1, 2)),
        ("2", None, None),
        ("3", "Cy", dt.date(2023, 3, 4)),
    ]
    assert result.health is not None and result.health.healthy


def test_dataframe_bad_rows_are_quarantined_with_row_numbers_across_slices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "_SLICE", 2)
    frame = pd.DataFrame({"id": ["A", "B", None, "A", "E"], "holder": list("abcde"),
                          "ap": ["Y", "N", "Y", "Y", "maybe"], "opened": [None] * 5})
    result = _frame_adapter(frame).extract()
    health = result.health
    assert health is not None
    assert [r["account_id"] for r in result.records["account"]] == ["A", "B"]
    assert health.rows_read == 5 == health.rows_used + health.rows_quarantined
    assert [(q.row, q.field) for q in result.quarantine] == [
        ("row 3", "account_id"),
        ("row 4 (key 'A')", "account_id"),
        ("row 5 (key 'E')", "autopay"),
    ]
    assert result.quarantine[2].raw == {"id": "E", "holder": "e", "ap": "maybe", "opened": None}


def test_dataframe_with_duplicate_column_names_fails_the_source() -> None:
    frame = pd.DataFrame([["A", "B"]], columns=["id", "id"])
    health = _frame_adapter(frame, {"account_id": "id"}).extract().health
    assert health is not None and not health.healthy
    assert "duplicate column names ['id']" in (health.error or "")
    assert "'app'" in (health.error or "")


def test_dataframe_config_needs_a_dataframe() -> None:
    with pytest.raises(ValidationError) as err:
        DataFrameSourceConfig.model_validate(
            {"kind": "dataframe", "streams": {"account": {"frame": [{"id": 1}], "fields": {"account_id": "id"}}}}
        )
    assert err.value.errors()[0]["loc"] == ("streams", "account", "frame")


def test_records_from_a_list_a_generator_and_items_that_are_not_mappings() -> None:
    rows = [{"id": "A", "holder": "Ann"}, ("not", "a", "dict"), {"id": "C", "holder": "Cy", "ap": "Y"}]
    result = _records_adapter(rows, max_quarantine_fraction=1.0).extract()
    assert [r["account_id"] for r in result.records["account"]] == ["A", "C"]
    (bad,) = result.quarantine
    assert bad.row == "row 2" and "expected a mapping (dict) per row, found tuple" in bad.reason

    def generate() -> Iterator[dict[str, Any]]:
        for i in range(3):
            yield {"id": f"G{i}", "holder": "x"}

    assert [r["account_id"] for r in _records_adapter(generate()).extract().records["account"]] == [
        "G0", "G1", "G2"]


def test_records_iterable_that_raises_fails_the_source_naming_it() -> None:
    def broken() -> Iterator[dict[str, Any]]:
        yield {"id": "A"}
        raise TimeoutError("upstream timed out")

    health = _records_adapter(broken()).extract().health
    assert health is not None and not health.healthy
    assert health.error == (
        "source 'app': reading the account records failed after row 1: TimeoutError: upstream timed out"
    )


@pytest.mark.parametrize("value", ["id,holder\nA,Ann", {"id": "A"}, 42])
def test_records_config_needs_an_iterable_of_rows(value: Any) -> None:
    with pytest.raises(ValidationError, match="must be a list"):
        _records_adapter(value)


def _config(frame: pd.DataFrame, records: Any) -> reconcile.Config:
    return parse_config({
        "sources": {
            "crm": {"kind": "dataframe", "streams": {"contact": {
                "frame": frame, "fields": {"contact_id": "id", "name": "name", "email": "email"}}}},
            "billing": {"kind": "records", "streams": {"account": {
                "records": records, "fields": {"account_id": "acct", "name": "holder", "email": "mail"}}}},
        },
    })


def test_parse_config_accepts_in_memory_sources_and_digest_leaves_the_data_out() -> None:
    frame = pd.DataFrame({"id": ["C1", "C2"], "name": ["Ann Lee", "Bob Stone"],
                          "email": ["ann@example.com", "bob@example.com"]})
    records = [{"acct": "A1", "holder": "LEE, ANN", "mail": "ann@example.com"}]
    config = _config(frame, records)
    assert config.sources["crm"].streams["contact"].frame is frame  # type: ignore[attr-defined]
    dumped = json.dumps(config.model_dump(mode="json"))
    assert "ann@example.com" not in dumped
    assert config.model_dump(mode="json")["sources"]["crm"]["streams"]["contact"]["frame"] == {
        "type": "DataFrame", "rows": 2, "columns": ["id", "name", "email"]}
    # Stable for the same shape of data, whatever the object; different when the shape changes.
    assert config.digest() == _config(frame.copy(), list(records)).digest()
    assert config.digest() != _config(frame.iloc[:1], records).digest()


def test_digest_does_not_use_up_a_generator() -> None:
    frame = pd.DataFrame({"id": ["C1"], "name": ["Ann"], "email": [None]})
    config = _config(frame, ({"acct": f"A{i}", "holder": "x"} for i in range(3)))
    assert config.model_dump(mode="json")["sources"]["billing"]["streams"]["account"]["records"] == {
        "type": "generator"}
    config.digest()
    from reconcile.pipeline import extract_sources

    results = {r.source: r for r in extract_sources(config)}
    assert len(results["billing"].records["account"]) == 3


def test_parse_config_reports_a_typo_in_an_in_memory_stream() -> None:
    frame = pd.DataFrame({"id": ["C1"]})
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"crm": {"kind": "dataframe", "streams": {"contact": {
            "fram": frame, "fields": {"contact_id": "id"}}}}}}, origin="app")
    text = str(err.value)
    assert "app: sources.crm.streams.contact.fram: unknown field" in text
    assert "app: sources.crm.streams.contact.frame: required field missing" in text


def test_reconcile_run_over_in_memory_sources() -> None:
    frame = pd.DataFrame({"id": ["C1", "C2"], "name": ["Ann Lee", "Bob Stone"],
                          "email": ["ann@example.com", "bob@example.com"]})
    records = [{"acct": "A1", "holder": "LEE, ANN", "mail": "ann@example.com"},
               {"acct": "", "holder": "no key"}]
    config = _config(frame, records)
    result = reconcile.run(config, persist=False, write_reports=False)
    health = {h.source: h for h in result.health}
    assert health["crm"].rows_used == 2 and health["billing"].rows_used == 1
    assert health["billing"].rows_quarantined == 1
    assert [q.row for q in result.quarantine] == ["row 2"]
    assert result.entities >= 2


def test_a_generator_read_twice_fails_instead_of_looking_empty() -> None:
    config = RecordsSourceConfig.model_validate({"kind": "records", "streams": {"account": {
        "records": ({"id": f"A{i}"} for i in range(2)), "fields": {"account_id": "id"}}}})
    first = RecordsAdapter("app", config).extract()
    assert first.health is not None and first.health.rows_used == 2
    second = RecordsAdapter("app", config).extract().health
    assert second is not None and not second.healthy
    assert "already read" in (second.error or "")
    # A list can be read any number of times.
    listed = _records_adapter([{"id": "A"}])
    assert listed.extract().records == listed.extract().records == {"account": [
        {**listed.extract().records["account"][0], "account_id": "A"}]}


def test_the_json_schema_lists_both_kinds() -> None:
    from reconcile.config import config_json_schema

    mapping = config_json_schema()["properties"]["sources"]["additionalProperties"]["discriminator"]["mapping"]
    assert {"dataframe", "records"} <= set(mapping)
    assert DataFrameSourceConfig.model_json_schema()["title"] == "DataFrameSourceConfig"
