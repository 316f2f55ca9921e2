# file: tests/test_adapter.py
from __future__ import annotations

from pathlib import Path

from reconcile.testing import AdapterContract
from reconcile_fixedwidth.adapter import FixedWidthAdapter, FixedWidthSourceConfig

LAYOUT = [
    {"name": "id", "start": 1, "width": 6},
    {"name": "name", "start": 7, "width": 20},
    {"name": "email", "start": 27, "width": 24},
    {"name": "birth_date", "start": 51, "width": 10},
]


class TestFixedWidthAdapter(AdapterContract):
    adapter_class = FixedWidthAdapter

    def _adapter(self, tmp_path: Path, path: str) -> FixedWidthAdapter:
        config = FixedWidthSourceConfig.model_validate({
            "kind": "fixed_width",
            "streams": {self.record_type: {"path": path, "layout": LAYOUT, "fields": self.fields}},
        })
        return FixedWidthAdapter(self.source_name, config, tmp_path)

    def make_adapter(self, rows: list[dict], tmp_path: Path) -> FixedWidthAdapter:
        lines = ["".join((row[c["name"]] or "").ljust(c["width"]) for c in LAYOUT) for row in rows]
        (tmp_path / "contacts.txt").write_text("".join(f"{line}\n" for line in lines))
        return self._adapter(tmp_path, "contacts.txt")

    def make_failing_adapter(self, tmp_path: Path) -> FixedWidthAdapter:
        return self._adapter(tmp_path, "missing.txt")


def test_a_truncated_line_is_quarantined(tmp_path: Path) -> None:
    (tmp_path / "contacts.txt").write_text("C1    Ann Lee\n")
    result = TestFixedWidthAdapter()._adapter(tmp_path, "contacts.txt").extract()
    (row,) = result.quarantine
    assert row.row == "line 1" and "truncated line" in row.reason
