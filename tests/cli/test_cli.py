from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from reconcile.cli import ExitCode, cli


def test_validate_reports_misspelt_key_and_unknown_rule_kind(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "sources": {
                    "crm": {
                        "kind": "csv",
                        "streams": {"contact": {"path": "c.csv", "delimter": ";",
                                                "fields": {"contact_id": "id"}}},
                    }
                },
                "rules": [{"id": "gap", "kind": "monitoring_gapp", "owner": "service"}],
            }
        ),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == ExitCode.CONFIG_ERROR
    assert "reconcile.yaml: sources.crm.streams.contact.delimter" in result.output
    assert "reconcile.yaml: rules[0]" in result.output
    assert "monitoring_gapp" in result.output


def test_validate_ok(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text(
        yaml.safe_dump({"sources": {"crm": {"kind": "csv", "streams": {"contact": {
            "path": "c.csv", "fields": {"contact_id": "id"}}}}}}),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == ExitCode.OK, result.output
    assert "1 source(s)" in result.output


def test_exit_codes_are_documented_and_distinct() -> None:
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]
    assert all(c.__doc__ or ExitCode.__doc__ for c in ExitCode)
    assert all(name in (ExitCode.__doc__ or "") for name in ExitCode.__members__)


def test_validate_reports_a_top_level_typo_together_with_rule_errors(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text(
        yaml.safe_dump({
            "sources": {"crm": {"kind": "csv", "streams": {"contact": {
                "path": "c.csv", "fields": {"contact_id": "id"}}}}},
            "storee": {"url": "sqlite:///x.db"},
            "rule_packs": ["crm"],
            "rules": [{"id": "name_mismatch", "severty": "high"},
                      {"id": "new_one", "kind": "no_such_kind", "owner": "ops"}],
        }),
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["validate", "-c", str(path)])
    assert result.exit_code == ExitCode.CONFIG_ERROR
    lines = result.output.splitlines()
    assert any("reconcile.yaml: storee" in line and "unknown field" in line for line in lines), result.output
    assert any("rules[0]" in line and "severty" in line for line in lines), result.output
    assert any("rules[1]" in line and "no_such_kind" in line for line in lines), result.output
