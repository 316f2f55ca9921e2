"""The shipped nhtsa-recalls spec against a small synthetic file in NHTSA's FLAT_RCL.txt layout.

The sample rows are written here in the published layout (29 tab-separated
fields, no header, Windows-1252, CRLF line ends, dates YYYYMMDD, model year
9999 when unknown, quotes as data); nothing is downloaded.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from reconcile.config import parse_config
from reconcile.extract import build_adapter
from reconcile.extract.base import ExtractResult
from reconcile.extract.files import CsvAdapter, CsvSourceConfig
from reconcile.model import RecallCampaign
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
    _row("100003", "23v048000", "CITROËN", "C5", "9999", "", DO_NOT_DRIVE="Yes", RCLTYPECD="E", POTAFF=""),
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


def _extract(tmp_path: Path, columnar: bool = True, **source: Any) -> ExtractResult:
    config = parse_config(
        {"sources": {"nhtsa": {"spec": "nhtsa-recalls", "max_quarantine_fraction": 1.0, **source}}},
        base_dir=tmp_path,
    )
    adapter = build_adapter("nhtsa", config.sources["nhtsa"], tmp_path)
    adapter.columnar = columnar
    return adapter.extract()


def test_the_spec_declares_the_flat_file_layout() -> None:
    stream = _spec()["streams"]["recall_campaign"]
    assert stream["column_names"] == COLUMNS
    assert (stream["delimiter"], stream["header"], stream["quoting"], stream["encoding"]) == ("\t", False, "none", "cp1252")
    assert set(stream["fields"]) <= set(RecallCampaign.model_fields)


def test_the_flat_file_is_read_row_by_row_with_its_line_numbers(tmp_path: Path) -> None:
    # A tab inside a text field (it happens) shifts the cells: that row is quarantined.
    broken = "\t".join(_row("100009", "23V050000", "ACME", "VAN", "2021", "20230301"))
    broken = broken.replace("Dealers will fix.", "Dealers\twill fix.")
    _write(tmp_path / "FLAT_RCL.txt", ROWS, extra_line=broken)
    spec = _spec()
    stream = {k: v for k, v in spec["streams"]["recall_campaign"].items() if k != "fields"}
    config = CsvSourceConfig.model_validate(
        {"kind": "csv", "streams": {"recall_campaign": {**stream, "fields": {"record_id": "RECORD_ID"}}}}
    )
    adapter = CsvAdapter("nhtsa", config, tmp_path)
    raw = list(adapter.read("recall_campaign", config.streams["recall_campaign"]))
    assert [r.position for r in raw] == ["line 1", "line 2", "line 3", "line 4", "line 5"]
    assert raw[2].error == "expected 29 cells, found 30"
    good = [r.data for r in raw if r.error is None]
    assert good[0] is not None and good[0]["DESC_DEFECT"] == 'The 17" wheel nuts may loosen; "torque" café spec.'
    assert good[2] is not None and good[2]["MAKETXT"] == "CITROËN" and good[2]["YEARTXT"] == "9999"


def test_the_published_file_is_read_as_it_is_into_recall_campaigns(tmp_path: Path) -> None:
    """The spec used as it is: every row a campaign record or quarantined with its line and field."""
    broken = "\t".join(_row("100009", "23V050000", "ACME", "VAN", "2021", "20230301")).replace(
        "Dealers will fix.", "Dealers\twill fix."
    )
    rows = [
        *ROWS,
        _row("100005", "23V051000", "", "VAN", "2021", "20230301"),  # no make
        _row("100002", "23V052000", "ACME", "VAN", "2022", "20230301"),  # a RECORD_ID read before
        _row("100006", "23V053000", "ACME", "VAN", "2022", "20230301", RCLTYPECD="X"),  # an unknown type
        _row("100007", "24V001000", "TORVA", "CITY", "2024", "", POTAFF="12,400", PARK_OUTSIDE="Yes"),
    ]
    _write(tmp_path / "FLAT_RCL.txt", rows, extra_line=broken)
    result = _extract(tmp_path)
    health = result.health
    assert health is not None and health.healthy, health
    assert health.rows_read == 9 == health.rows_used + health.rows_quarantined
    assert (health.rows_used, health.rows_quarantined) == (4, 5)
    campaigns = result.records["recall_campaign"]
    first = campaigns[0]
    assert {k: first[k] for k in ("record_id", "campaign", "make", "model", "model_year", "component", "recall_type",
                                  "built_from", "built_to", "units_affected", "reported_at", "owners_notified_at",
                                  "do_not_drive", "park_outside", "initiated_by", "manufacturer_campaign")} == {
        "record_id": "100001", "campaign": "23V047000", "make": "ACME", "model": "ROADSTER", "model_year": 2019,
        "component": "SUSPENSION:FRONT", "recall_type": "vehicle", "built_from": dt.date(2019, 1, 2),
        "built_to": dt.date(2020, 6, 30), "units_affected": 1520, "reported_at": dt.date(2023, 1, 10),
        "owners_notified_at": dt.date(2023, 3, 1), "do_not_drive": False, "park_outside": False,
        "initiated_by": "MFR", "manufacturer_campaign": "RC-9",
    }
    assert first["defect"] == 'The 17" wheel nuts may loosen; "torque" café spec.'
    assert first["remedy"] == "Dealers will fix." and first["consequence"] is None
    citroen = campaigns[2]
    assert (citroen["make"], citroen["campaign"], citroen["model_year"], citroen["owners_notified_at"]) == (
        "CITROËN", "23V048000", None, None)
    assert (citroen["do_not_drive"], citroen["recall_type"], citroen["units_affected"]) == (True, "equipment", None)
    torva = campaigns[3]
    assert (torva["record_id"], torva["units_affected"], torva["park_outside"]) == ("100007", 12400, True)
    assert [(q.row, q.field) for q in result.quarantine] == [
        ("line 3", None),  # the tab in a text field: 30 cells
        ("line 5 (key '100004')", "owners_notified_at"),
        ("line 6 (key '100005')", "make"),
        ("line 7 (key '100002')", "record_id"),
        ("line 8 (key '100006')", "recall_type"),
    ]
    reasons = [q.reason for q in result.quarantine]
    assert reasons[0] == "expected 29 cells, found 30"
    assert "'%Y%m%d'" in reasons[1] and reasons[3] == "duplicate key '100002': already read at line 2"
    assert "code 'X' is not in the code table" in reasons[4]
    frame = result.frame("recall_campaign")
    assert list(frame["record_id"]) == ["100001", "100002", "100003", "100007"]
    # The row-by-row reference gives the very same result.
    reference = _extract(tmp_path, columnar=False)
    assert reference.records == result.records
    assert [q.model_dump() for q in reference.quarantine] == [q.model_dump() for q in result.quarantine]


def test_a_fleet_file_with_vins_gives_recall_notices(tmp_path: Path) -> None:
    """The same layout with each fleet vehicle's VIN appended, read as recall notices next to the campaigns."""
    vins = ["1ACME0RDSTR000001", "1ACME0RDSTR000002", "VF7CITROEN0000003", "1ACME0VAN00000004"]
    rows = [row + [vin] for row, vin in zip(ROWS, vins, strict=True)]
    _write(tmp_path / "fleet_recalls.txt", rows)
    _write(tmp_path / "FLAT_RCL.txt", ROWS)
    layout = {k: v for k, v in _spec()["streams"]["recall_campaign"].items() if k not in ("fields", "column_names")}
    result = _extract(tmp_path, streams={"recall_notice": {
        **layout,
        "path": "fleet_recalls.txt",
        "column_names": [*COLUMNS, "VIN"],
        "fields": {
            "notice_id": "RECORD_ID",
            "campaign": {"column": "CAMPNO", "transform": "upper"},
            "notice_date": {"column": "ODATE", "transform": "date", "format": "%Y%m%d"},
            "vin": {"column": "VIN", "transform": "upper"},
        },
    }})
    health = result.health
    assert health is not None and health.healthy, health
    assert health.streams == {"recall_campaign": 3, "recall_notice": 3}
    notices = result.records["recall_notice"]
    assert [(n["notice_id"], n["campaign"], n["vin"], n["notice_date"]) for n in notices] == [
        ("100001", "23V047000", "1ACME0RDSTR000001", dt.date(2023, 3, 1)),
        ("100002", "23V047000", "1ACME0RDSTR000002", dt.date(2023, 3, 1)),
        ("100003", "23V048000", "VF7CITROEN0000003", None),
    ]
    assert all(n["remedy_status"] == "open" for n in notices)
    assert [(q.stream, q.row, q.field) for q in result.quarantine] == [
        ("recall_campaign", "line 4 (key '100004')", "owners_notified_at"),
        ("recall_notice", "line 4 (key '100004')", "notice_date"),
    ]
