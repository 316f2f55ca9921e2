"""JSON Lines read in blocks by pyarrow give exactly what the json module gives, line by line.

The jsonl adapter parses blocks of whole lines with ``pyarrow.json`` where
that gives the json module's values (see ``reconcile.extract.files._ArrowJson``)
and reads any other block line by line. Hypothesis writes files of objects
with nested objects, lists, absent keys and nulls, text pyarrow would take
for timestamps, numbers with fractions and beyond 64 bits, keys given twice,
escapes, blank lines and broken lines, in blocks of a few lines, and checks
that the records, the quarantine and the counts are those of the row-by-row
reference (``columnar = False``).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconcile.extract import _arrow, files
from reconcile.extract.base import RowBatch
from reconcile.extract.files import JsonlAdapter, JsonlSourceConfig

pytest.importorskip("pyarrow.json")

FIELDS = {
    "contact_id": "Id",
    "name": {"columns": ["FirstName", "LastName"], "join": " "},
    "company": "Account.Name",
    "email": "Email",
    "phone": "Phone",
    "street": "MailingAddress.street",
    "city": "MailingAddress.city",
    "postal_code": "MailingAddress.postalCode",
    "birth_date": {"column": "Birthdate", "format": "%Y-%m-%d"},
}

TEXT = st.sampled_from(["Keith", "Vaughn", " padded ", "", "José", "2024-09-27", "2024-09-27T17:11:00Z",
                        "1980-05-06", "x\u00a0y", "tab\t", "quote\"d", "back\\slash", "\u0000nul"])
SCALAR = st.one_of(
    TEXT, TEXT, st.none(), st.integers(-3, 3), st.sampled_from([2**62, 2**64, -(2**63)]), st.booleans(),
    st.sampled_from([1.5, 2026.0, 0.1, 1e300]),
)
VALUE = st.one_of(SCALAR, st.lists(st.one_of(TEXT, st.integers(0, 3), st.none()), max_size=2),
                  st.lists(st.dictionaries(st.sampled_from(["a", "b"]), TEXT, max_size=2), max_size=1))
ADDRESS = st.dictionaries(st.sampled_from(["street", "city", "postalCode", "updated"]), SCALAR, max_size=4)
KEYS = st.sampled_from(["C1", "C2", "C3", "C4", " C2 ", ""])


@st.composite
def objects(draw: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {}
    for name, value in (
        ("Id", st.one_of(KEYS, KEYS, KEYS, SCALAR)),
        ("FirstName", st.one_of(TEXT, st.none())),
        ("LastName", VALUE),
        ("Account", st.one_of(st.fixed_dictionaries({"Name": st.one_of(TEXT, st.none())}), st.none(),
                              st.just({}))),
        ("Email", VALUE),
        ("Phone", SCALAR),
        ("MailingAddress", st.one_of(ADDRESS, ADDRESS, SCALAR)),
        ("Birthdate", st.one_of(st.sampled_from(["1980-05-06", "1980-02-30", "06/05/1980"]), st.none())),
    ):
        if draw(st.integers(0, 5)):  # now and then the key is absent
            obj[name] = draw(value)
    return obj


def _line(draw_kind: str, obj: dict[str, Any]) -> str:
    text = json.dumps(obj, ensure_ascii=draw_kind == "ascii")
    if draw_kind == "twice" and obj:
        key = next(iter(obj))
        text = text[:-1] + f', "{key}": "again"}}'
    return text


LINE = st.one_of(
    st.tuples(st.sampled_from(["plain", "plain", "plain", "ascii", "twice"]), objects()).map(lambda t: _line(*t)),
    st.sampled_from(["", "   ", "\t", " \t ", "{\"Id\": \"C9\"", "[1, 2]", "{\"Id\": NaN}", "{\"Id\": \"\\ud800\"}",
                     "{\"Id\": \"C7\"} {\"Id\": \"C8\"}", "\"text\""]),
)


def _extract(path: Path, columnar: bool) -> Any:
    config = JsonlSourceConfig.model_validate({
        "kind": "jsonl", "max_quarantine_fraction": 1.0,
        "streams": {"contact": {"path": str(path), "fields": FIELDS}},
    })
    return type("Jsonl", (JsonlAdapter,), {"columnar": columnar})("crm", config, path.parent).extract()


def _same(path: Path) -> Any:
    fast = _extract(path, True)
    slow = _extract(path, False)
    assert fast.health is not None and slow.health is not None
    assert fast.health.model_dump(exclude={"duration_s"}) == slow.health.model_dump(exclude={"duration_s"})
    assert fast.health.rows_read == fast.health.rows_used + fast.health.rows_quarantined
    assert fast.records == slow.records
    for record, reference in zip(fast.records.get("contact", []), slow.records.get("contact", []), strict=True):
        assert {k: type(v) for k, v in record.items()} == {k: type(v) for k, v in reference.items()}
    assert [q.model_dump() for q in fast.quarantine] == [q.model_dump() for q in slow.quarantine]
    return fast


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(lines=st.lists(LINE, max_size=25), block=st.sampled_from([64, 256, 1 << 20]), bom=st.booleans(),
       end=st.sampled_from(["\n", "\r\n"]), last=st.booleans())
@example(lines=['{"Id": "C1", "Birthdate": "1980-05-06", "MailingAddress": {"updated": "2024-09-27T17:11:00Z"}}',
                '{"Id": "C2", "Phone": 7}', '{"Id": "C3", "Phone": 1.5}'], block=1 << 20, bom=False, end="\n", last=True)
@example(lines=["{}", "{}", '{"MailingAddress": {}}'], block=64, bom=False, end="\n", last=False)  # no columns left
def test_jsonl_blocks_read_as_line_by_line(
    lines: list[str], block: int, bom: bool, end: str, last: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "_BLOCK", block)
    text = end.join(lines) + (end if last and lines else "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "contacts.jsonl"
        path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass"))
        result = _same(path)
    assert result.health.rows_read == sum(1 for line in lines if line.strip())


def test_plain_blocks_come_from_pyarrow_and_quarantine_shows_the_line_as_written(tmp_path: Path) -> None:
    path = tmp_path / "contacts.jsonl"
    rows = [
        {"Id": "C1", "FirstName": "Keith", "LastName": "Vaughn", "Account": {"Name": "Lambert, Inc."},
         "MailingAddress": {"street": "1 Elm St", "city": "Boulder", "postalCode": "80301"},
         "CreatedDate": "2024-09-27T17:11:00Z"},
        {"Id": "C2", "FirstName": "Susan", "Birthdate": "1980-02-30"},  # an impossible date: quarantined
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    config = JsonlSourceConfig.model_validate({"kind": "jsonl", "streams": {"contact": {"path": str(path),
                                                                                       "fields": FIELDS}}})
    adapter = JsonlAdapter("crm", config, tmp_path)
    batches = list(adapter.read_batches("contact", config.streams["contact"]))
    assert len(batches) == 1 and isinstance(batches[0], RowBatch)
    assert isinstance(batches[0].rows, _arrow.ArrowRows)
    assert batches[0].data(1) == {"Id": "C2", "FirstName": "Susan", "Birthdate": "1980-02-30"}  # no absent keys
    result = _same(path)
    assert [r["city"] for r in result.records["contact"]] == ["Boulder"]
    assert [(q.row, q.field) for q in result.quarantine] == [("line 2 (key 'C2')", "birth_date")]
    assert result.quarantine[0].raw == {"Id": "C2", "FirstName": "Susan", "Birthdate": "1980-02-30"}


def test_blank_lines_of_spaces_tabs_and_carriage_returns_leave_the_block_to_pyarrow() -> None:
    block = b'{"Id": "C1"}\n\t\n \t \r\n{"Id": "C2"}\r\n\n   \n{"Id": "C3"}\n'
    batch = files._ArrowJson(1 << 20)(block, 1)
    assert batch is not None  # not left to the json module
    assert list(batch.positions) == [1, 4, 7]
    assert [row[0] for row in batch.rows] == ["C1", "C2", "C3"]
