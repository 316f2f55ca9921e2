"""The whole flow on the demo world: every kind found, nothing else, and the lifecycle."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.config import load_config
from reconcile.demo import generate, score, write_config
from reconcile.errors import RunError
from reconcile.findings import FindingStatus
from reconcile.pipeline import run
from reconcile.store import Store

KINDS = {
    "failed_autopay",
    "recall_missing_locally",
    "unresolved_low_survey",
    "name_mismatch",
    "duplicate_active_line",
    "payment_misapplied",
    "billed_not_provisioned",
    "provisioned_not_billed",
    "monitoring_gap",
}


@pytest.fixture(scope="module")
def demo_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo")
    world = generate(directory, size=400, seed=11)
    return write_config(directory, world)


def test_demo_finds_every_kind_exactly(demo_world: Path) -> None:
    result = run(demo_world)
    assert {f.kind for f in result.findings} == KINDS
    scored = score(result.findings, demo_world.parent / "truth")
    for kind in KINDS:
        assert scored.precision(kind) == 1.0, scored.table()
        assert scored.recall(kind) == 1.0, scored.table()
    for health in result.health:
        assert health.healthy, health
        assert health.rows_read == health.rows_used + health.rows_quarantined
    assert all(f.status == FindingStatus.new for f in result.findings) or result.run_id != 1
    assert set(result.reports) == {"json", "html"}
    assert all(Path(p).is_file() for p in result.reports.values())


def test_second_run_keeps_findings_open_with_first_seen(demo_world: Path) -> None:
    first = run(demo_world, write_reports=False)
    second = run(demo_world, write_reports=False)
    assert {f.fingerprint for f in first.findings} == {f.fingerprint for f in second.findings}
    assert all(f.status == FindingStatus.open for f in second.findings)
    firsts = {f.fingerprint: f.first_seen for f in first.findings}
    assert all(f.first_seen == firsts[f.fingerprint] for f in second.findings)
    assert second.resolved == []


def test_failed_source_changes_nothing(demo_world: Path, tmp_path: Path) -> None:
    config = load_config(demo_world)
    before = run(config, write_reports=False)
    store_url = str(config.store.url)
    # Take a source away: the run must fail and resolve nothing.
    broken = config.model_copy(deep=True)
    name = next(n for n, s in broken.sources.items() if s.kind == "csv")
    stream = next(iter(broken.sources[name].streams.values()))
    stream.path = str(tmp_path / "gone.csv")  # type: ignore[attr-defined]
    with pytest.raises(RunError) as err:
        run(broken, write_reports=False)
    assert name in str(err.value)
    store = Store(f"sqlite:///{config.resolve_path(store_url.removeprefix('sqlite:///'))}")
    still_open = {f.fingerprint for f in store.open_findings()}
    assert {f.fingerprint for f in before.findings} <= still_open
    assert store.runs()[-1].status == "failed"


def test_as_of_moves_ages(demo_world: Path) -> None:
    config = load_config(demo_world)
    assert config.as_of is not None
    early = run(config, as_of=config.as_of - dt.timedelta(days=400), persist=False, write_reports=False)
    on_time = run(config, persist=False, write_reports=False)
    assert len(early.findings) < len(on_time.findings)


def test_the_matching_model_is_kept_and_reused_by_the_next_run(tmp_path: Path) -> None:
    world = generate(tmp_path, size=200, seed=3)
    config = load_config(write_config(tmp_path, world))
    first = run(config, write_reports=False)
    store = Store(f"sqlite:///{config.resolve_path('reconcile.db')}")
    kept = store.artifact("match-model")
    assert kept is not None and kept["fingerprint"]
    second = run(config, write_reports=False)
    assert {f.fingerprint for f in second.findings} == {f.fingerprint for f in first.findings}
    assert store.artifact("match-model") == kept  # reused, not estimated again
    # A run that asks for a new estimate replaces it.
    fresh = config.model_copy(update={"matching": config.matching.model_copy(update={"reestimate": "always"})})
    fresh.built_rules = config.built_rules
    run(fresh, write_reports=False)
    assert store.artifact("match-model")["estimated_at"] != kept["estimated_at"]


def test_built_tables_release_the_extracts_and_share_no_state(demo_world: Path) -> None:
    from reconcile.pipeline import build_tables, extract_sources, match_entities, normalise_tables

    config = load_config(demo_world)
    kept = build_tables(extract_sources(config))
    extracted = extract_sources(config)
    health = [(r.source, r.health.rows_used if r.health else None) for r in extracted]
    released = build_tables(extracted, release=True)
    assert sorted(released) == sorted(kept)
    for record_type, frame in kept.items():
        pd.testing.assert_frame_equal(released[record_type], frame)
    # The extracts' rows are gone; their health stays.
    assert all(r.record_types == [] for r in extracted)
    assert [(r.source, r.health.rows_used if r.health else None) for r in extracted] == health
    # Normalising and matching add columns to new frames and leave their input as it was.
    before = {t: f.copy() for t, f in released.items()}
    normalised = normalise_tables(released, config)
    matched, _ = match_entities(normalised, config)
    for record_type, frame in before.items():
        pd.testing.assert_frame_equal(released[record_type], frame)
        assert "_entity" in matched[record_type].columns and "_entity" not in normalised[record_type].columns


def test_open_findings_are_read_only_when_a_rule_looks(
    demo_world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle
    from collections.abc import Iterator
    from typing import ClassVar, Literal

    from reconcile.findings import Finding
    from reconcile.pipeline import OpenFindings
    from reconcile.rules.base import Rule, RuleContext

    calls: list[int] = []
    stored = [object(), object()]

    def load() -> list[object]:
        calls.append(1)
        return stored

    lazy = OpenFindings(load)  # type: ignore[arg-type]
    assert not lazy.loaded and calls == [] and "not read" in repr(lazy)
    assert len(lazy) == 2 and list(lazy) == stored and lazy[0] is stored[0] and lazy[-1:] == stored[-1:]
    assert calls == [1]  # read once
    assert pickle.loads(pickle.dumps(OpenFindings(lambda: [1, 2]))) == [1, 2]  # type: ignore[list-item]

    from reconcile.store import Store

    config = load_config(demo_world)
    config = config.model_copy(update={"store": config.store.model_copy(update={"url": f"sqlite:///{tmp_path}/s.db"})})
    first = run(config, write_reports=False)
    opened: list[int] = []
    original = Store.open_findings

    def counting(self: Store, **kwargs: object) -> list[Finding]:
        opened.append(1)
        return original(self, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Store, "open_findings", counting)
    # A run whose rules never look does not read them; its findings are the same.
    second = run(config, write_reports=False)
    assert opened == []
    assert sorted(f.fingerprint for f in second.findings) == sorted(f.fingerprint for f in first.findings)

    class Looking(Rule):
        """Counts the open findings it is given."""

        kind: Literal["looking"] = "looking"
        seen: ClassVar[list[int]] = []

        def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
            self.seen.append(len(ctx.open_findings))
            return iter(())

    looking = config.model_copy(update={"built_rules": [*config.built_rules, Looking(id="looking", owner="x")]})
    run(looking, write_reports=False)
    # A rule that looks reads them once: every finding the last run left open.
    assert opened == [1]
    assert Looking.seen == [len([f for f in second.findings if f.status and f.status.value != "resolved"])] != [0]


def _stacked_as_before(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The identity frame as match_entities stacked it before stack_identity (the reference)."""
    from reconcile.model import PARTY_FIELDS, RECORD_TYPES

    stacked = []
    for record_type, frame in tables.items():
        if not RECORD_TYPES[record_type].identity:
            continue
        part = pd.DataFrame({"_rid": frame["_rid"], "_source": frame["_source"], "_type": record_type,
                             "_key": frame["_key"]})
        for column in PARTY_FIELDS:
            part[column] = frame.get(column)
        part["vin"] = frame.get("vin")
        for column in frame.columns:
            if column.startswith("_n_"):
                part[column] = frame[column]
        stacked.append(part)
    return pd.concat(stacked, ignore_index=True)


def test_identity_records_are_stacked_as_before(demo_world: Path) -> None:
    import datetime as dt_

    from reconcile.pipeline import build_tables, extract_sources, normalise_tables, stack_identity

    config = load_config(demo_world)
    tables = normalise_tables(build_tables(extract_sources(config)), config)
    pd.testing.assert_frame_equal(stack_identity(tables), _stacked_as_before(tables))
    # Types lacking a column, a column of another dtype in one type, moments and None in an object column.
    varied = dict(tables)
    varied["contact"] = tables["contact"].drop(columns=["email", "_n_phone"])
    varied["vehicle"] = tables["vehicle"].assign(
        postal_code=range(len(tables["vehicle"])),
        company=[dt_.datetime(2026, 1, 1, tzinfo=dt_.UTC) if i % 2 else None for i in range(len(tables["vehicle"]))],
    )
    stacked, reference = stack_identity(varied), _stacked_as_before(varied)
    # One change: a type without a normalised column has None there, where concat put NaN.
    contacts = (stacked["_type"] == "contact").to_numpy()
    assert stacked.loc[contacts, "_n_phone"].map(lambda v: v is None).all()
    assert reference.loc[contacts, "_n_phone"].map(lambda v: v != v).all()
    reference["_n_phone"] = reference["_n_phone"].astype(object).where(~contacts, None)
    pd.testing.assert_frame_equal(stacked, reference)
    # Some columns only (as match_entities stacks what matching reads): those columns of the whole.
    for frames in (tables, varied):
        whole = stack_identity(frames)
        for wanted in ({"_rid", "_source", "_type", *config.matching.columns()}, {"_n_phone", "email", "nowhere"}):
            some = stack_identity(frames, wanted)
            assert list(some.columns) == [c for c in whole.columns if c in wanted]
            pd.testing.assert_frame_equal(some, whole[list(some.columns)])


@given(
    rids=st.lists(st.sampled_from(["a", "b", "c", "d", "x", None]), max_size=12),
    known=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4),
    confidences=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=4, max_size=4),
    shared=st.booleans(),
)
@settings(max_examples=200, deadline=None)
def test_entity_columns_are_the_maps_they_replace(rids, known, confidences, shared) -> None:  # type: ignore[no-untyped-def]
    from reconcile.match import MatchingConfig, MatchResult
    from reconcile.pipeline import _entity_columns

    index = pd.Index(known, dtype=object, name="_rid")
    entity_of = pd.Series([f"E{k}" for k in known], index=index, name="entity", dtype=object)
    other = index if shared else pd.Index(list(reversed(known)), dtype=object, name="_rid")
    confidence = pd.Series(confidences[: len(known)], index=other, name="confidence", dtype=float)
    result = MatchResult(entity_of=entity_of, confidence=confidence, links=pd.DataFrame(), model=None, stats={},
                         config=MatchingConfig(), explainer=lambda a, b: None)  # type: ignore[arg-type,return-value]
    frame_rids = pd.Series(rids, dtype=object, name="_rid", index=pd.RangeIndex(3, 3 + len(rids)))
    entity, conf = _entity_columns(frame_rids, result)
    pd.testing.assert_series_equal(entity, frame_rids.map(entity_of))
    pd.testing.assert_series_equal(conf, frame_rids.map(confidence).fillna(1.0))


def test_the_evidence_of_a_run_is_what_the_whole_tables_give(demo_world: Path) -> None:
    """run() lets the tables go but for their rids and parents before the evidence: the evidence is the same."""
    from reconcile.pipeline import (
        EVIDENCE_COLUMNS,
        attach_match_evidence,
        build_tables,
        evaluate,
        extract_sources,
        match_entities,
        normalise_tables,
    )

    config = load_config(demo_world)
    tables, matched = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    whole = evaluate(tables, config.built_rules, config.as_of)
    attach_match_evidence(whole, tables, matched)
    assert any(f.detail.get("match") for f in whole)
    ran = run(demo_world, persist=False, write_reports=False)
    assert {f.fingerprint: f.detail for f in ran.findings} == {f.fingerprint: f.detail for f in whole}
    # The narrow tables alone give it too (what attach_match_evidence reads is what run() keeps).
    narrow_findings = evaluate(tables, config.built_rules, config.as_of)
    narrow = {t: f[[c for c in EVIDENCE_COLUMNS if c in f.columns]] for t, f in tables.items()}
    attach_match_evidence(narrow_findings, narrow, matched)
    assert [f.detail for f in narrow_findings] == [f.detail for f in whole]
