"""The demo configuration and the shipped demo specs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from reconcile.demo import DemoWorld, generate, write_config
from reconcile.extract import adapter_classes
from reconcile.model import RECORD_TYPES
from reconcile.packs import available, load_yaml_pack

SPECS = ["demo-alerts", "demo-billing", "demo-crm", "demo-dealer", "demo-inventory", "demo-recalls", "demo-telemetry"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return generate(tmp_path_factory.mktemp("world"), size=120, seed=1)


def _spec_files(source: dict, spec: dict) -> list[str]:
    streams = {**spec.get("streams", {})}
    for record_type, stream in (source.get("streams") or {}).items():
        streams[record_type] = {**streams.get(record_type, {}), **stream}
    return [stream["path"] for stream in streams.values() if "path" in stream]


@pytest.mark.parametrize("directory", ["same", "elsewhere"])
def test_config_references_only_existing_files_and_specs(world: DemoWorld, tmp_path: Path, directory: str) -> None:
    folder = world.directory if directory == "same" else tmp_path / "configs"
    path = write_config(folder, world)
    assert path == folder / "reconcile.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["version"] == 1
    assert data["as_of"] == world.as_of
    assert data["normalise"] == {"default_region": "US"}
    assert data["rule_packs"] == ["telecom", "payments", "automotive", "crm"]
    assert data["store"] == {"url": "sqlite:///reconcile.db"}
    assert data["reports"] == {"dir": "reports", "formats": ["json", "html"]}
    assert set(data["sources"]) == {"billing", "inventory", "recalls", "dealer", "crm", "telemetry", "alerts"}
    used = set()
    for name, source in data["sources"].items():
        assert source["spec"] in available("adapters"), name
        _, spec = load_yaml_pack("adapters", source["spec"])
        assert source["kind"] == spec["kind"]
        if source["kind"] == "sql":
            database = make_url(source["url"]).database
            assert (folder / database).resolve().is_file(), database
            used.add((folder / database).resolve())
        for file in _spec_files(source, spec):
            assert (folder / file).resolve().is_file(), file
            used.add((folder / file).resolve())
    assert used == {p.resolve() for p in world.files.values()}
    text = path.read_text(encoding="utf-8")
    assert text.count("\n#") > 20  # commented: it is the template for the user's systems


@pytest.mark.parametrize("name", SPECS)
def test_specs_are_declarative_and_map_canonical_fields(name: str) -> None:
    path, spec = load_yaml_pack("adapters", name)
    assert path.suffix == ".yaml"
    assert set(spec) <= {"kind", "description", "streams"}
    assert spec["description"]
    model = adapter_classes()[spec["kind"]].config_model
    data = {key: value for key, value in spec.items() if key != "description"}
    if spec["kind"] == "sql":
        data["url"] = "sqlite:///demo.db"
    config = model.model_validate(data)
    for record_type, stream in config.streams.items():
        fields = RECORD_TYPES[record_type].model_fields
        assert set(stream.fields) <= set(fields), record_type
        required = {n for n, f in fields.items() if f.is_required()}
        assert required <= set(stream.fields), (record_type, required - set(stream.fields))
        if spec["kind"] != "sql":
            assert "/" not in stream.path  # relative to the config folder


def test_products_map_onto_the_canonical_names() -> None:
    _, billing = load_yaml_pack("adapters", "demo-billing")
    _, inventory = load_yaml_pack("adapters", "demo-inventory")
    plans = billing["streams"]["subscription"]["fields"]["product"]["map"]
    codes = inventory["streams"]["service_line"]["fields"]["product"]["map"]
    canonical = {"fiber_1g", "fiber_300", "dsl_50", "monitoring"}
    assert set(plans.values()) == set(codes.values()) == canonical
    assert not set(plans) & set(codes)


def test_the_config_loads_when_the_loader_is_there(world: DemoWorld) -> None:
    try:
        from reconcile.config import load_config
        from reconcile.packs import available as shipped
    except ImportError as exc:  # the rest of the flow is written alongside the demo
        pytest.skip(f"config loader not importable yet: {exc}")
    if not {"telecom", "payments", "automotive", "crm"} <= set(shipped("rules")):
        pytest.skip("rule packs not shipped yet")
    config = load_config(write_config(world.directory, world))
    assert config.as_of == world.as_of
    assert set(config.sources) == {"billing", "inventory", "recalls", "dealer", "crm", "telemetry", "alerts"}
