"""`reconcile plugins`: every adapter and rule kind with its distribution; broken plugins named."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from reconcile import registry
from reconcile.cli import ExitCode, cli

BUILTIN_ADAPTERS = {
    "csv": "reconcile.extract.files:CsvAdapter",
    "jsonl": "reconcile.extract.files:JsonlAdapter",
    "sql": "reconcile.extract.sql:SqlAdapter",
    "parquet": "reconcile.extract.parquet:ParquetAdapter",
    "dataframe": "reconcile.extract.memory:DataFrameAdapter",
    "records": "reconcile.extract.memory:RecordsAdapter",
    "http": "reconcile.extract.http:HttpAdapter",
}


def _third_party(tmp_path: Path, entry_points: str) -> metadata.Distribution:
    """An installed-looking distribution (a .dist-info folder) with the given entry points."""
    info = tmp_path / "thirdparty_plugins-1.2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: thirdparty-plugins\nVersion: 1.2.0\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(entry_points, encoding="utf-8")
    return metadata.Distribution.at(info)


def _with(monkeypatch: pytest.MonkeyPatch, dist: metadata.Distribution) -> None:
    """Make the registry see the installed entry points plus ``dist``'s."""
    real = registry.entry_points

    def entry_points(**params: Any) -> list[metadata.EntryPoint]:
        return list(real(**params)) + list(dist.entry_points.select(**params))

    monkeypatch.setattr(registry, "entry_points", entry_points)


def test_lists_every_builtin_adapter_and_rule_kind_with_its_distribution() -> None:
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == ExitCode.OK, result.output
    lines = result.output.splitlines()
    assert lines[0] == "Adapter kinds (entry-point group reconcile.adapters):"
    for kind, path in BUILTIN_ADAPTERS.items():
        assert any(line.split() == [kind, "reconcile-engine", path] for line in lines), (kind, result.output)
    rules_at = lines.index("Rule kinds (entry-point group reconcile.rules):")
    rule_lines = [line.split() for line in lines[rules_at + 1 :]]
    assert ["monitoring_gap", "reconcile-engine", "reconcile.rules.builtin:MonitoringGapRule"] in rule_lines
    assert len(rule_lines) >= 9


def test_json_output() -> None:
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == ExitCode.OK, result.output
    listed = json.loads(result.output)
    adapters = {row["kind"]: row for row in listed["adapters"]}
    assert set(BUILTIN_ADAPTERS) <= set(adapters)
    assert adapters["http"] == {"kind": "http", "distribution": "reconcile-engine",
                                "version": adapters["http"]["version"],
                                "object": "reconcile.extract.http:HttpAdapter", "error": None}
    assert all(row["error"] is None for row in listed["rules"])


def test_a_working_third_party_plugin_is_listed_under_its_distribution(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "thirdparty_shim.py").write_text(
        "from reconcile.extract.memory import RecordsAdapter\n\n"
        "class ShimAdapter(RecordsAdapter):\n    kind = 'shim'\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _with(monkeypatch, _third_party(tmp_path, "[reconcile.adapters]\nshim = thirdparty_shim:ShimAdapter\n"))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == ExitCode.OK, result.output
    assert ["shim", "thirdparty-plugins", "thirdparty_shim:ShimAdapter"] in [
        line.split() for line in result.output.splitlines()
    ]


def test_a_plugin_that_fails_to_import_is_an_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = _third_party(tmp_path, "[reconcile.adapters]\nmainframe = no_such_module_xyz.adapters:Mainframe\n")
    _with(monkeypatch, dist)
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == ExitCode.CONFIG_ERROR
    row = next(line for line in result.stdout.splitlines() if line.split()[:1] == ["mainframe"])
    assert "thirdparty-plugins" in row and "no_such_module_xyz.adapters:Mainframe" in row
    assert "ERROR: failed to load: ModuleNotFoundError" in row
    assert (
        "error: adapter plugin 'mainframe' (no_such_module_xyz.adapters:Mainframe, from thirdparty-plugins): "
        "failed to load: ModuleNotFoundError: No module named 'no_such_module_xyz'"
    ) in result.stderr
    # The built-ins are still listed beside the broken one.
    assert "reconcile.extract.http:HttpAdapter" in result.stdout


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("[reconcile.adapters]\nnot_adapter = json:dumps\n", "is not a subclass of reconcile.Adapter"),
        ("[reconcile.adapters]\ncsv2 = reconcile.extract.files:CsvAdapter\n", "its kind is 'csv'"),
        ("[reconcile.rules]\nnot_rule = reconcile.extract.files:CsvAdapter\n", "is not a subclass of reconcile.Rule"),
        ("[reconcile.adapters]\ncsv = reconcile.extract.files:JsonlAdapter\n", "kind 'csv' is registered twice"),
    ],
)
def test_plugins_that_load_but_break_the_contract_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, problem: str
) -> None:
    _with(monkeypatch, _third_party(tmp_path, entry))
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == ExitCode.CONFIG_ERROR, result.output
    assert problem in result.stdout
    assert "from thirdparty-plugins" in result.stderr


def test_json_output_carries_the_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _with(monkeypatch, _third_party(tmp_path, "[reconcile.rules]\nbroken_rule = no_such_mod:Rule\n"))
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == ExitCode.CONFIG_ERROR
    (row,) = [r for r in json.loads(result.stdout)["rules"] if r["kind"] == "broken_rule"]
    assert row["distribution"] == "thirdparty-plugins" and row["version"] == "1.2.0"
    assert row["error"].startswith("failed to load: ModuleNotFoundError")



def test_parquet_and_http_are_listed_without_their_extras_installed() -> None:
    """The modules import pyarrow and httpx only when a source is read."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('pyarrow', 'pyarrow.parquet', 'httpx'):\n"
        "    sys.modules[name] = None  # as if not installed\n"
        "sys.argv = ['reconcile', 'plugins']\n"
        "from reconcile.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    kinds = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ")}
    assert {"parquet", "http"} <= kinds


@pytest.fixture
def fresh_registry() -> Any:
    """Plugins are loaded once per process; load them again, before and after."""
    from reconcile.rules import registry as rule_registry

    caches = [registry.load_group, rule_registry.rule_classes, rule_registry.rule_union_adapter]
    for cached in caches:
        cached.cache_clear()
    yield
    for cached in caches:
        cached.cache_clear()


@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_broken_plugin_stops_validate_and_run_with_its_name_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, fresh_registry: Any
) -> None:
    _with(monkeypatch, _third_party(tmp_path, "[reconcile.adapters]\nmainframe = no_such_module_xyz:M\n"))
    config = tmp_path / "reconcile.yaml"
    config.write_text(
        "sources:\n  crm:\n    kind: csv\n    streams:\n      contact:\n        path: c.csv\n"
        "        fields: {contact_id: id}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, [command, "-c", str(config)])
    assert result.exit_code == ExitCode.CONFIG_ERROR, result.output
    assert "plugin error" in result.stderr and "mainframe" in result.stderr
    assert "Traceback" not in result.output
