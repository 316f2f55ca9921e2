"""The shipped nhtsa-recalls spec against a small synthetic file in NHTSA's FLAT_RCL.txt layout."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from reconcile.config import parse_config
from reconcile.errors import ConfigError
from reconcile.extract import build_adapter
from reconcile.extract.files import CsvAdapter, CsvSourceConfig
from reconcile.extract.mapping import MappingError, RowMapper
from reconcile.model import RecallNotice
from reconcile.packs import load_yaml_pack

# NHTSA's RCL.txt field list, in file order.
COLUMNS = [
    "RECORD_ID", "CAMPNO", "MAKETXT", "MODELTXT", "YEARTXT", "MFGCAMPNO", "COMPNAME", "MFGNAME", "BGMAN",
    "ENDMAN", "RCLTYPECD", "POTAFF", "ODATE", "INFLUENCED_BY", "MFGTXT", "RCDATE", "DATEA", "RPNO", "FMVSS",
    "DESC_DEFECT", "CONEQUENCE_DEFECT", "CORRECTIVE_ACTION", "NOTES", "RCL_CMPT_ID", "MFR_COMP_NAME",
    "MFR_COMP_DESC", "MFR_COMP_PTNO", "DO_NOT_DRIVE", "PARK_OUTSIDE",
]


def _row(record_id: str, campaign: str, make: str, model: str, year: str, odate: str, **extra: str) -> list[str]:
    values = {c: "" for c in COLUMNS}
    values.update({
        "RECORD_ID": record_id, "CAMPNO": campaign, "MAKETXT": make, "MODELTXT": model, "YEARTXT": year,
        "MFGCAMPNO": "RC-9", "COMPNAME": "SUSPENSION:FRONT", "MFGNAME": f"{make} Motor Co.", "BGMAN": "20190102",
        "ENDMAN": "20200630", "RCLTYPECD": "V", "POTAFF": "1520", "ODATE": odate, "INFLUENCED_BY": "MFR",
        "MFGTXT": f"{make} Motor Co.", "RCDATE": "20230110", "DATEA": "20230112", "RPNO": "573",
        "DESC_DEFECT": 'The 17" wheel nuts may loosen; "torque" café spec.', "CORRECTIVE_ACTION": "Dealers will fix.",
        "DO_NOT_DRIVE": "No", "PARK_OUTSIDE": "No",
    })
    values.update(extra)
    return [values[c] for c in COLUMNS]


ROWS = [
    _row("100001", "23V047000", "ACME", "ROADSTER", "2019", "20230301"),
    _row("100002", "23V047000", "ACME", "ROADSTER", "2020", "20230301"),
    _row("100003", "23v048000", "CITROËN", "C5", "9999", "", DO_NOT_DRIVE="Yes"),
    _row("100004", "23V049000", "ACME", "VAN", "2021", "20231345"),  # an impossible notice date
]


def _write(path: Path, rows: list[list[str]], extra_line: str | None = None) -> None:
    lines = ["\t".join(r) for r in rows]
    if extra_line is not None:
        lines.insert(2, extra_line)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))


def _spec() -> dict[str, Any]:
    _, spec = load_yaml_pack("adapters", "nhtsa-recalls")
    return dict(spec)


def test_the_spec_declares_the_flat_file_layout() -> None:
    stream = _spec()["streams"]["recall_notice"]
    assert stream["column_names"] == COLUMNS
    assert (stream["delimiter"], stream["header"], stream["quoting"], stream["encoding"]) == ("\t", False, "none", "cp1252")


def test_the_flat_file_is_read_row_by_row_with_its_line_numbers(tmp_path: Path) -> None:
    # A tab inside a text field (it happens) shifts the cells: that row is quarantined.
    broken = "\t".join(_row("100009", "23V050000", "ACME", "VAN", "2021", "20230301"))
    broken = broken.replace("Dealers will fix.", "Dealers\twill fix.")
    _write(tmp_path / "FLAT_RCL.txt", ROWS, extra_line=broken)
    spec = _spec()
    stream = {k: v for k, v in spec["streams"]["recall_notice"].items() if k != "fields"}
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", "streams": {"recall_notice": {**stream, "fields": {"notice_id": "RECORD_ID"}}}}
    )
    adapter = CsvAdapter("nhtsa", config, tmp_path)
    raw = list(adapter.read("recall_notice", config.streams["recall_notice"]))
    assert [r.position for r in raw] == ["line 1", "line 2", "line 3", "line 4", "line 5"]
    assert raw[2].error == "expected 29 cells, found 30"
    good = [r.data for r in raw if r.error is None]
    assert good[0] is not None and good[0]["DESC_DEFECT"] == 'The 17" wheel nuts may loosen; "torque" café spec.'
    assert good[2] is not None and good[2]["MAKETXT"] == "CITROËN" and good[2]["YEARTXT"] == "9999"


def test_the_spec_maps_what_fits_a_recall_notice(tmp_path: Path) -> None:
    fields = _spec()["streams"]["recall_notice"]["fields"]
    mapper = RowMapper(RecallNotice, fields)
    mapped = [mapper.map(dict(zip(COLUMNS, row, strict=True))) for row in ROWS[:3]]
    assert mapped == [
        {"notice_id": "100001", "campaign": "23V047000", "notice_date": dt.date(2023, 3, 1)},
        {"notice_id": "100002", "campaign": "23V047000", "notice_date": dt.date(2023, 3, 1)},
        {"notice_id": "100003", "campaign": "23V048000"},
    ]
    with pytest.raises(MappingError) as err:
        mapper.map(dict(zip(COLUMNS, ROWS[3], strict=True)))
    assert err.value.field == "notice_date" and "'%Y%m%d'" in err.value.reason


def test_used_as_it_is_the_spec_says_a_vin_is_needed(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"nhtsa": {"spec": "nhtsa-recalls"}}}, origin="reconcile.yaml", base_dir=tmp_path)
    assert ("reconcile.yaml: sources.nhtsa.streams.recall_notice.fields", "recall_notice needs 'vin' mapped") in (
        err.value.problems
    )


def test_with_a_vin_joined_in_the_spec_extracts_recall_notices(tmp_path: Path) -> None:
    """The same layout with each fleet vehicle's VIN appended: the spec does the rest."""
    vins = ["1ACME0RDSTR000001", "1ACME0RDSTR000002", "VF7CITROEN0000003", "1ACME0VAN00000004"]
    rows = [row + [vin] for row, vin in zip(ROWS, vins, strict=True)]
    _write(tmp_path / "fleet_recalls.txt", rows)
    config = parse_config(
        {"sources": {"nhtsa": {
            "spec": "nhtsa-recalls",
            "max_quarantine_fraction": 0.5,
            "streams": {"recall_notice": {
                "path": "fleet_recalls.txt",
                "column_names": [*COLUMNS, "VIN"],
                "fields": {"vin": {"column": "VIN", "transform": "upper"}},
            }},
        }}},
        base_dir=tmp_path,
    )
    result = build_adapter("nhtsa", config.sources["nhtsa"], tmp_path).extract()
    health = result.health
    assert health is not None and health.healthy, health
    assert health.rows_read == 4 and health.rows_used == 3
    notices = result.records["recall_notice"]
    assert [(n["notice_id"], n["campaign"], n["vin"], n["notice_date"]) for n in notices] == [
        ("100001", "23V047000", "1ACME0RDSTR000001", dt.date(2023, 3, 1)),
        ("100002", "23V047000", "1ACME0RDSTR000002", dt.date(2023, 3, 1)),
        ("100003", "23V048000", "VF7CITROEN0000003", None),
    ]
    assert all(n["remedy_status"] == "open" for n in notices)
    (bad,) = result.quarantine
    assert (bad.row, bad.field) == ("line 4 (key '100004')", "notice_date")
