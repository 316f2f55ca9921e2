from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from reconcile.config import config_json_schema, load_config, parse_config
from reconcile.errors import ConfigError

CONTACTS = {
    "kind": "csv",
    "streams": {"contact": {"path": "contacts.csv", "fields": {"contact_id": "id", "name": "name"}}},
}


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "reconcile.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_minimal_config_gets_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, {"sources": {"crm": CONTACTS}}))
    assert config.base_dir == tmp_path.resolve()
    assert config.origin == "reconcile.yaml"
    assert config.normalise.default_region == "US"
    assert config.built_rules == []
    assert list(config.sources) == ["crm"]


def test_every_problem_is_reported_with_file_and_path(tmp_path: Path) -> None:
    bad = {
        "sources": {
            "crm": {
                "kind": "csv",
                "streams": {
                    "contact": {"path": "c.csv", "fields": {"contact_id": "id", "nmae": "name"}},
                    "custmer": {"path": "c.csv", "fields": {"x": "y"}},
                },
            },
            "billing": {"kind": "oracle", "streams": {}},
        },
        "rules": [{"id": "r1", "kind": "no_such_kind", "owner": "billing"}],
        "storee": {"url": "sqlite://"},
    }
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, bad))
    locations = [loc for loc, _ in err.value.problems]
    assert "reconcile.yaml: sources.crm.streams.contact.fields.nmae" in locations
    assert "reconcile.yaml: sources.crm.streams.custmer" in locations
    assert "reconcile.yaml: sources.billing.kind" in locations
    assert "reconcile.yaml: storee" in locations
    assert any(loc.startswith("reconcile.yaml: rules[0]") for loc in locations), locations
    messages = dict(err.value.problems)
    assert "allowed:" in messages["reconcile.yaml: sources.billing.kind"]
    assert "sql" in messages["reconcile.yaml: sources.billing.kind"]


def test_required_canonical_field_must_be_mapped() -> None:
    data = {"sources": {"crm": {"kind": "csv", "streams": {"contact": {"path": "c.csv", "fields": {"name": "n"}}}}}}
    with pytest.raises(ConfigError) as err:
        parse_config(data, origin="x.yaml")
    assert ("x.yaml: sources.crm.streams.contact.fields", "contact needs 'contact_id' mapped") in err.value.problems


def test_spec_is_merged_under_the_source(tmp_path: Path) -> None:
    from reconcile.packs import available

    specs = available("adapters")
    if "demo-crm" not in specs:
        pytest.skip("demo specs not shipped yet")
    config = parse_config({"sources": {"crm": {"spec": "demo-crm"}}}, base_dir=tmp_path)
    assert config.sources["crm"].kind == "jsonl"
    assert "contact" in config.sources["crm"].streams


def test_unknown_spec_lists_available() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"sources": {"crm": {"spec": "nope", "kind": "csv"}}}, origin="r.yaml")
    (location, message), = err.value.problems
    assert location == "r.yaml: sources.crm.spec"
    assert "available" in message


def test_invalid_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "reconcile.yaml"
    path.write_text("sources:\n  crm: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert err.value.problems[0][0].startswith("reconcile.yaml:")
    assert "invalid YAML" in err.value.problems[0][1]


def test_json_schema_lists_adapter_and_rule_kinds() -> None:
    schema = config_json_schema()
    text = str(schema)
    for kind in ("sql", "csv", "jsonl", "failed_autopay", "monitoring_gap"):
        assert f"'{kind}'" in text, kind
    assert schema["additionalProperties"] is False
