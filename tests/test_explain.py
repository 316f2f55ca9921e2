"""Why records are one customer: the findings' match evidence and ``reconcile explain``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from reconcile.cli import ExitCode, cli
from reconcile.config import load_config
from reconcile.demo import generate, write_config
from reconcile.match._evidence import MAX_EVIDENCE_LINKS
from reconcile.model import RECORD_TYPES
from reconcile.pipeline import (
    build_tables,
    evaluate,
    extract_sources,
    match_entities,
    normalise_tables,
    run,
)
from reconcile.store import Store


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("explain")
    return write_config(directory, generate(directory, size=150, seed=3))


@pytest.fixture(scope="module")
def ran(world: Path):  # type: ignore[no-untyped-def]
    return run(world, persist=False, write_reports=False)


def _identity_rids(finding, tables) -> list[str]:  # type: ignore[no-untyped-def]
    """The identity records a finding names, dependents followed to their parents (by hand)."""
    parent_of = {}
    for record_type, frame in tables.items():
        if not RECORD_TYPES[record_type].identity and "_parent_rid" in frame.columns:
            parent_of.update(dict(zip(frame["_rid"], frame["_parent_rid"], strict=True)))
    out: list[str] = []
    for ref in [finding.subject, *finding.records]:
        rid = ref.rid
        if not RECORD_TYPES[ref.record_type].identity:
            rid = parent_of.get(rid)
        if rid is not None and rid not in out:
            out.append(rid)
    return out


def test_every_finding_spanning_identity_records_has_its_evidence(world: Path, ran) -> None:  # type: ignore[no-untyped-def]
    config = load_config(world)
    tables, matched = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    with_evidence = 0
    for finding in ran.findings:
        anchors = _identity_rids(finding, tables)
        if len(anchors) < 2:
            assert "match" not in finding.detail, finding
            continue
        with_evidence += 1
        evidence = finding.detail["match"]
        assert evidence["records"] == anchors
        assert json.loads(json.dumps(evidence)) == evidence  # JSON-safe
        assert len(evidence["links"]) <= MAX_EVIDENCE_LINKS
        assert len(json.dumps(evidence)) < 12_000
        linked = {(link["rid_l"], link["rid_r"]) for link in evidence["links"]}
        for link in evidence["links"]:
            assert link["linked"] and link["same_entity"], link
            assert link["method"] in {"deterministic", "probabilistic"}
            if link["method"] == "probabilistic":
                assert link["probability"] >= link["threshold"]
            else:
                assert link["rule"] in config.matching.active_rules()
            for field in link["fields"]:
                assert set(field) == {"comparison", "value_l", "value_r", "level", "weight"}
        if not evidence["omitted"]:
            # The links shown join every record of the finding to its subject's record.
            reached, grown = {anchors[0]}, True
            while grown:
                grown = False
                for left, right in linked:
                    if (left in reached) != (right in reached):
                        reached |= {left, right}
                        grown = True
            assert set(anchors) <= reached
    assert with_evidence >= 10


def test_evidence_leaves_fingerprints_alone(world: Path, ran) -> None:  # type: ignore[no-untyped-def]
    config = load_config(world)
    tables, _ = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    bare = evaluate(tables, config.built_rules, ran.as_of)
    assert all("match" not in f.detail for f in bare)
    assert sorted(f.fingerprint for f in bare) == sorted(f.fingerprint for f in ran.findings)


def test_reports_carry_the_evidence(world: Path, tmp_path: Path) -> None:
    result = run(world, persist=False, write_reports=True)
    document = json.loads(Path(result.reports["json"]).read_text())
    assert any("match" in f["detail"] for f in document["findings"])
    html = Path(result.reports["html"]).read_text()
    assert "Why these records are the same customer" in html


def _invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, ["explain", *args])


def _a_linked_pair(ran) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    link = next(f.detail["match"]["links"][0] for f in ran.findings if "match" in f.detail)
    return link["rid_l"], link["rid_r"]


def test_explain_prints_the_evidence_without_touching_the_store(world: Path, ran) -> None:  # type: ignore[no-untyped-def]
    left, right = _a_linked_pair(ran)
    result = _invoke("-c", str(world), left, right)
    assert result.exit_code == ExitCode.OK, result.output
    assert "linked" in result.output and "given_name" in result.output
    assert "threshold" in result.output and "entity" in result.output
    assert not (world.parent / "reconcile.db").exists()  # nothing created


def test_explain_json(world: Path, ran) -> None:  # type: ignore[no-untyped-def]
    left, right = _a_linked_pair(ran)
    result = _invoke("-c", str(world), "--json", right, left)
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.output)
    assert {data["rid_l"], data["rid_r"]} == {left, right}
    assert data["linked"] is True and data["same_entity"] is True
    assert data["entities"][left] == data["entities"][right]
    assert data["path"] in ([left, right], [right, left])
    assert {f["comparison"] for f in data["fields"]} >= {"given_name", "family_name", "phone", "address"}
    for field in data["fields"]:
        assert {"value_l", "value_r", "level", "weight", "m", "u"} <= set(field)
    assert 0.0 <= data["probability"] <= 1.0 and data["threshold"] > 0


def test_explain_unlinked_and_dependent_records(world: Path, ran) -> None:  # type: ignore[no-untyped-def]
    finding = next(f for f in ran.findings if "match" in f.detail and f.subject.record_type != "account"
                   and f.subject.rid not in f.detail["match"]["records"])
    dependent, its_parent = finding.subject.rid, finding.detail["match"]["records"][0]
    other = next(f for f in ran.findings if "match" in f.detail and f.entity_id != finding.entity_id)
    stranger = other.detail["match"]["records"][0]
    result = _invoke("-c", str(world), "--json", dependent, stranger)
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.output)
    assert data["stands_for"] == {dependent: its_parent}
    assert data["linked"] is False and data["same_entity"] is False and data["path"] == []
    assert data["entities"][its_parent] != data["entities"][stranger]
    text = _invoke("-c", str(world), dependent, stranger)
    assert text.exit_code == ExitCode.OK
    assert "not linked" in text.output and "belongs to" in text.output


@pytest.mark.parametrize("bad", ["billing:account:NO-SUCH", "nowhere:contact:1", "not-a-rid"])
def test_explain_names_a_missing_record(world: Path, ran, bad: str) -> None:  # type: ignore[no-untyped-def]
    left, _ = _a_linked_pair(ran)
    result = _invoke("-c", str(world), left, bad)
    assert result.exit_code == ExitCode.CONFIG_ERROR
    assert bad in result.output


def test_explain_reuses_the_stored_model_read_only(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, generate(tmp_path, size=150, seed=4))
    first = run(config_path, write_reports=False)
    store_url = f"sqlite:///{tmp_path / 'reconcile.db'}"
    with Store(store_url) as store:
        runs_before = len(store.runs())
        model_before = store.artifact("match-model")
    assert model_before is not None
    link = next(f.detail["match"]["links"][0] for f in first.findings if "match" in f.detail)
    result = _invoke("-c", str(config_path), link["rid_l"], link["rid_r"])
    assert result.exit_code == ExitCode.OK, result.output
    assert "the store's model" in result.output
    with Store(store_url) as store:
        assert len(store.runs()) == runs_before
        assert store.artifact("match-model") == model_before
