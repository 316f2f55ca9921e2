"""reconcile.testing.AdapterContract applied to every built-in adapter."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import sqlalchemy as sa

from reconcile.extract.base import Adapter
from reconcile.extract.files import CsvAdapter, CsvSourceConfig, JsonlAdapter, JsonlSourceConfig
from reconcile.extract.http import HttpAdapter, HttpSourceConfig
from reconcile.extract.memory import (
    DataFrameAdapter,
    DataFrameSourceConfig,
    RecordsAdapter,
    RecordsSourceConfig,
)
from reconcile.extract.parquet import ParquetAdapter, ParquetSourceConfig
from reconcile.extract.sql import SqlAdapter, SqlSourceConfig
from reconcile.testing import AdapterContract

Row = dict[str, Any]


class TestCsvContract(AdapterContract):
    adapter_class = CsvAdapter

    def _adapter(self, tmp_path: Path, path: str) -> Adapter:
        config = CsvSourceConfig.model_validate(
            {"kind": "csv", "streams": {self.record_type: {"path": path, "fields": self.fields}}}
        )
        return CsvAdapter(self.source_name, config, tmp_path)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        with (tmp_path / "contacts.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(self.columns)
            writer.writerows([["" if r[c] is None else r[c] for c in self.columns] for r in rows])
        return self._adapter(tmp_path, "contacts.csv")

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        return self._adapter(tmp_path, "missing.csv")


class TestJsonlContract(AdapterContract):
    adapter_class = JsonlAdapter

    def _adapter(self, tmp_path: Path, path: str) -> Adapter:
        config = JsonlSourceConfig.model_validate(
            {"kind": "jsonl", "streams": {self.record_type: {"path": path, "fields": self.fields}}}
        )
        return JsonlAdapter(self.source_name, config, tmp_path)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        text = "".join(json.dumps(row) + "\n" for row in rows)
        (tmp_path / "contacts.jsonl").write_text(text, encoding="utf-8")
        return self._adapter(tmp_path, "contacts.jsonl")

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        return self._adapter(tmp_path, "missing.jsonl")


class TestSqlContract(AdapterContract):
    adapter_class = SqlAdapter

    def _adapter(self, tmp_path: Path, url: str) -> Adapter:
        config = SqlSourceConfig.model_validate(
            {"kind": "sql", "url": url, "chunk_size": 2,
             "streams": {self.record_type: {"table": "contacts", "fields": self.fields}}}
        )
        return SqlAdapter(self.source_name, config, tmp_path)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
        meta = sa.MetaData()
        # An explicit row number keeps the insertion order for the reader.
        table = sa.Table("contacts", meta, sa.Column("n", sa.Integer, primary_key=True),
                         *(sa.Column(c, sa.Text) for c in self.columns))
        meta.drop_all(engine)
        meta.create_all(engine)
        with engine.begin() as conn:
            if rows:
                conn.execute(table.insert(), [{"n": i, **row} for i, row in enumerate(rows)])
        engine.dispose()
        return self._adapter(tmp_path, "sqlite:///crm.db")

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        return self._adapter(tmp_path, "sqlite:///missing.db")


class TestParquetContract(AdapterContract):
    adapter_class = ParquetAdapter

    def _adapter(self, tmp_path: Path, path: str) -> Adapter:
        config = ParquetSourceConfig.model_validate(
            {"kind": "parquet", "batch_size": 2,
             "streams": {self.record_type: {"path": path, "fields": self.fields}}}
        )
        return ParquetAdapter(self.source_name, config, tmp_path)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        table = pa.table({c: pa.array([r[c] for r in rows], pa.string()) for c in self.columns})
        pq.write_table(table, tmp_path / "contacts.parquet")
        return self._adapter(tmp_path, "contacts.parquet")

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        return self._adapter(tmp_path, "missing.parquet")


class TestDataFrameContract(AdapterContract):
    adapter_class = DataFrameAdapter

    def _adapter(self, frame: pd.DataFrame) -> Adapter:
        config = DataFrameSourceConfig.model_validate(
            {"kind": "dataframe", "streams": {self.record_type: {"frame": frame, "fields": self.fields}}}
        )
        return DataFrameAdapter(self.source_name, config)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        return self._adapter(pd.DataFrame(rows, columns=self.columns))

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        # Two columns named "id": one would be lost, so the frame cannot be read.
        return self._adapter(pd.DataFrame([["C1", "C2", "Ann"]], columns=["id", "id", "name"]))


class TestRecordsContract(AdapterContract):
    adapter_class = RecordsAdapter

    def _adapter(self, records: Any) -> Adapter:
        config = RecordsSourceConfig.model_validate(
            {"kind": "records", "streams": {self.record_type: {"records": records, "fields": self.fields}}}
        )
        return RecordsAdapter(self.source_name, config)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        return self._adapter([dict(r) for r in rows])

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        def broken() -> Iterator[Row]:
            yield dict(self.good_rows[0])
            raise ConnectionError("the app's upstream went away")

        return self._adapter(broken())


class TestHttpContract(AdapterContract):
    adapter_class = HttpAdapter

    def _adapter(self, handler: Any) -> Adapter:
        config = HttpSourceConfig.model_validate(
            {"kind": "http", "base_url": "https://api.example.test",
             "retries": {"max_attempts": 2},
             "streams": {self.record_type: {
                 "url": "/contacts", "records_path": "data", "fields": self.fields,
                 "pagination": {"kind": "offset", "limit": 2},
             }}}
        )
        return HttpAdapter(self.source_name, config, transport=httpx.MockTransport(handler),
                           sleep=lambda _s: None)

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        def handler(request: httpx.Request) -> httpx.Response:
            offset = int(request.url.params["offset"])
            limit = int(request.url.params["limit"])
            return httpx.Response(200, json={"data": rows[offset : offset + limit]})

        return self._adapter(handler)

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        def handler(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)

        return self._adapter(handler)


# --- the third-party example in docs/testing-adapters.md, run as its author would --------

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing-adapters.md"


def test_the_documented_third_party_adapter_passes_its_contract(tmp_path: Path) -> None:
    """Write out the doc's package, register it as an installed distribution, run its tests."""
    import os
    import re
    import subprocess
    import sys
    import tomllib

    text = DOC.read_text(encoding="utf-8")
    files = dict(re.findall(r"```(?:python|toml)\n# file: (\S+)\n(.*?)```", text, re.S))
    assert set(files) == {"reconcile_fixedwidth/adapter.py", "pyproject.toml", "tests/test_adapter.py"}
    project = tmp_path / "reconcile-fixedwidth"
    for name, body in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(body, encoding="utf-8")
    (project / "reconcile_fixedwidth" / "__init__.py").write_text("", encoding="utf-8")
    # What `pip install -e .` would leave: the package importable and its metadata found.
    meta = tomllib.loads(files["pyproject.toml"])["project"]
    info = project / "reconcile_fixedwidth-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items())
            for group, eps in meta["entry-points"].items()
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(project)}

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, *args], cwd=project, env=env, input=stdin,
                              capture_output=True, text=True, timeout=300, check=False)

    tests = run("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_adapter.py")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "9 passed" in tests.stdout, tests.stdout

    plugins = run("-m", "reconcile.cli", "plugins")
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert ["fixed_width", "reconcile-fixedwidth", "reconcile_fixedwidth.adapter:FixedWidthAdapter"] in [
        line.split() for line in plugins.stdout.splitlines()
    ]

    yaml_block = re.findall(r"```yaml\n(.*?)```", text, re.S)[-1]
    parsed = run("-c", "import sys, yaml; from reconcile.config import parse_config; "
                 "print(parse_config(yaml.safe_load(sys.stdin.read())).sources['mainframe'].kind)",
                 stdin=yaml_block)
    assert parsed.returncode == 0, parsed.stderr
    assert parsed.stdout.strip() == "fixed_width"


# --- the contract catches what it should -----------------------------------------------


class _DroppingAdapter(RecordsAdapter):
    """Silently skips rows without an id: they are neither used nor quarantined."""

    def read(self, record_type: str, stream: Any) -> Iterator[Any]:
        return (raw for raw in super().read(record_type, stream) if raw.data and raw.data.get("id"))


class _LaxConfig(RecordsSourceConfig):
    model_config = {**RecordsSourceConfig.model_config, "extra": "allow"}


class _LaxAdapter(RecordsAdapter):
    config_model = _LaxConfig


class _SilentAdapter(RecordsAdapter):
    """Turns a failing source into an empty one."""

    def read(self, record_type: str, stream: Any) -> Iterator[Any]:
        try:
            yield from super().read(record_type, stream)
        except Exception:
            return


def _contract(adapter_class: type[RecordsAdapter]) -> TestRecordsContract:
    class Contract(TestRecordsContract):
        def _adapter(self, records: Any) -> Adapter:
            config = adapter_class.config_model.model_validate(
                {"kind": "records", "streams": {self.record_type: {"records": records, "fields": self.fields}}}
            )
            return adapter_class(self.source_name, config)

    Contract.adapter_class = adapter_class
    return Contract()


def test_the_contract_catches_rows_that_vanish(tmp_path: Path) -> None:
    contract = _contract(_DroppingAdapter)
    contract.test_good_rows_are_all_used(tmp_path)
    try:
        contract.test_bad_rows_are_quarantined_with_source_position_and_field(tmp_path)
    except AssertionError:
        return
    raise AssertionError("a dropped row went unnoticed")


def test_the_contract_catches_a_config_that_accepts_unknown_keys(tmp_path: Path) -> None:
    try:
        _contract(_LaxAdapter).test_config_model_forbids_unknown_keys(tmp_path)
    except AssertionError as exc:
        assert 'extra="forbid"' in str(exc)
        return
    raise AssertionError("an unknown key went unnoticed")


def test_the_contract_catches_a_kind_that_is_not_the_registered_class() -> None:
    try:
        _contract(_LaxAdapter).test_kind_matches_the_registered_entry_point()
    except AssertionError as exc:
        assert "reconcile.extract.memory:RecordsAdapter" in str(exc)
        return
    raise AssertionError("a class that is not the registered one went unnoticed")


def test_the_contract_catches_a_failure_swallowed_as_an_empty_source(tmp_path: Path) -> None:
    try:
        _contract(_SilentAdapter).test_failing_source_raises_source_error_naming_it(tmp_path)
    except AssertionError as exc:
        assert "must raise SourceError" in str(exc)
        return
    raise AssertionError("a swallowed failure went unnoticed")
