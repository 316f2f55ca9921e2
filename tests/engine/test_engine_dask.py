"""The Dask engine gives exactly the local engine's results, on a LocalCluster of worker processes.

Skipped only when dask.distributed is not installed (CI installs the dev
extra, which has it).
"""

from __future__ import annotations

import datetime as dt
import socket
import sys
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pytest
from engine_helpers import demo_config, dumped, generic_rules, raw_tables, scrambled, with_orphans
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

distributed = pytest.importorskip("distributed", reason="the Dask engine needs dask.distributed (the dask extra)")
cloudpickle = pytest.importorskip("cloudpickle")

from reconcile import run  # noqa: E402
from reconcile.config import Config  # noqa: E402
from reconcile.engine import EngineConfig, EngineError, LocalEngine, open_engine  # noqa: E402
from reconcile.engine._dask import DaskEngine, DaskPairRunner  # noqa: E402
from reconcile.findings import Finding  # noqa: E402
from reconcile.match import MatchingConfig, attach_match_evidence, resolve  # noqa: E402
from reconcile.match._runner import LocalRunner  # noqa: E402
from reconcile.rules.base import Rule, RuleContext  # noqa: E402
from reconcile.rules.engine import RuleEvaluationError  # noqa: E402

# The rule classes below live in this module, which the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

WORKERS = 3


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A LocalCluster of worker processes for the module (the engine connects to it by address)."""
    with distributed.LocalCluster(
        n_workers=WORKERS, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as local:
        yield local


@pytest.fixture(scope="module")
def engine(cluster: Any) -> Iterator[DaskEngine]:
    # More partitions than workers: several partitions per worker process.
    dask = DaskEngine(EngineConfig(kind="dask", address=cluster.scheduler_address, partitions=5))
    yield dask
    dask.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, dict[str, pd.DataFrame]]:
    config = demo_config(tmp_path_factory.mktemp("world"), 250)
    return config, raw_tables(config)


@pytest.fixture(scope="module")
def rules(world) -> list[Rule]:
    """The demo's rules (entity-local or not, one reading other findings) and every generic kind."""
    config, _ = world
    return [*config.built_rules, *generic_rules()]


@pytest.fixture(scope="module")
def local(world, rules) -> dict[str, Any]:
    """The local engine's stages on the world with records no entity holds."""
    config, raw = world
    return _stages(LocalEngine(), with_orphans(raw), config, rules)


def _stages(engine: Any, tables: dict[str, pd.DataFrame], config: Config, rules: list[Rule]) -> dict[str, Any]:
    normalised = engine.normalise_tables(tables, config)
    matched, result = engine.match_entities(normalised, config)
    findings = engine.evaluate(matched, rules, config.as_of)
    attach_match_evidence(findings, matched, result)
    return {"normalised": normalised, "matched": matched, "result": result, "findings": findings}


def _assert_same(local: dict[str, Any], dask: dict[str, Any]) -> None:
    for stage in ("normalised", "matched"):
        assert list(local[stage]) == list(dask[stage])
        for record_type, frame in local[stage].items():
            pd.testing.assert_frame_equal(dask[stage][record_type], frame, check_exact=True)
    a, b = local["result"], dask["result"]
    pd.testing.assert_series_equal(b.entity_of, a.entity_of)
    pd.testing.assert_series_equal(b.confidence, a.confidence, check_exact=True)
    pd.testing.assert_frame_equal(b.links, a.links, check_exact=True)
    stats_a = {k: v for k, v in a.stats.items() if k != "timings"}
    stats_b = {k: v for k, v in b.stats.items() if k != "timings"}
    assert stats_b == stats_a
    model_a, model_b = a.model.to_dict(), b.model.to_dict()
    model_a.pop("estimated_at"), model_b.pop("estimated_at")
    assert model_b == model_a
    assert dumped(dask["findings"]) == dumped(local["findings"])


def test_a_run_with_engine_dask_finds_what_the_local_engine_finds(world) -> None:
    """The whole run, with the engine starting a LocalCluster of its own (engine: {kind: dask, workers: 2})."""
    config, _ = world
    local = run(config, persist=False, write_reports=False)
    on_dask = config.model_copy(update={"engine": EngineConfig(kind="dask", workers=2)})
    dask = run(on_dask, persist=False, write_reports=False)
    assert len(local.findings) > 30
    kinds = {f.kind for f in local.findings}
    assert {"failed_autopay", "monitoring_gap", "name_mismatch"} <= kinds  # entity-local and not
    assert dumped(dask.findings) == dumped(local.findings)
    assert any(f.detail.get("match") for f in dask.findings)  # match evidence, compared above
    assert (dask.entities, dask.links) == (local.entities, local.links)


def test_every_stage_gives_the_local_engines_output(world, rules, local, engine: DaskEngine) -> None:
    """Records no entity holds, inconsistent tables, generic rules, a rule reading other findings."""
    config, raw = world
    assert any(type(r).needs_findings for r in rules) and any(not type(r).entity_local for r in rules)
    dask = _stages(engine, with_orphans(raw), config, rules)
    _assert_same(local, dask)
    assert any(f.entity_id is None for f in local["findings"]), "expected findings on records no entity holds"
    # Tables as a hand-built test may hold them: entities missing or disagreeing with the parent's.
    matched = scrambled(local["matched"])
    expected = LocalEngine().evaluate(matched, rules, config.as_of)
    assert dumped(engine.evaluate(matched, rules, config.as_of)) == dumped(expected)


@pytest.mark.parametrize("partitions", [None, 5], ids=["a partition per worker", "more partitions"])
def test_the_rules_read_columns_changed_after_matching(world, rules, cluster: Any, partitions: int | None) -> None:
    """The workers keep the tables from normalising; a column the client's table holds anew is sent again."""
    config, raw = world
    with open_engine(EngineConfig(kind="dask", address=cluster.scheduler_address, partitions=partitions)) as dask:
        assert isinstance(dask, DaskEngine)
        assert dask._pinned() is (partitions is None)  # partition p on worker p, rows kept where they are
        normalised = dask.normalise_tables(raw, config)
        matched, _ = dask.match_entities(normalised, config)
        dask._wait_sent()  # the tables that are not normalised go while matching runs
        assert {"account", "payment"} <= set(dask._held)
        changed = dict(matched)
        payments = matched["payment"].copy(deep=False)
        payments["status"] = payments["status"].to_numpy()[::-1].copy()  # a new array: failed payments move
        changed["payment"] = payments
        changed["account"] = matched["account"].iloc[::-1].reset_index(drop=True)  # every column anew
        expected = LocalEngine().evaluate(changed, rules, config.as_of)
        assert dumped(expected) != dumped(LocalEngine().evaluate(matched, rules, config.as_of))
        assert dumped(dask.evaluate(changed, rules, config.as_of)) == dumped(expected)
        assert not dask._held  # let go after the rules


def test_matching_with_other_settings_is_the_same(world, local, engine: DaskEngine) -> None:
    """Across sources only, a sorted neighbourhood pass, tiny blocks skipped, clustering constraints."""
    config, _ = world
    matching = MatchingConfig.model_validate({
        "link_within_source": False,
        "blocking": {
            "names": {"kind": "sorted_neighbourhood", "on": ["_n_family", "_n_given"], "window": 5},
            "postal": {"kind": "block", "on": ["_n_postal"], "max_block_size": 3},
        },
        "deterministic": {"email": {"max_group_size": 2}},
        "clustering": {"constraints": [{"source": "billing", "max_records": 1}]},
    })
    tuned = config.model_copy(update={"matching": matching})
    normalised = local["normalised"]
    _, a = LocalEngine().match_entities(normalised, tuned)
    _, b = engine.match_entities(normalised, tuned)
    assert a.stats["pairs_by_pass"]["names"] > 0
    pd.testing.assert_series_equal(b.entity_of, a.entity_of)
    pd.testing.assert_frame_equal(b.links, a.links, check_exact=True)
    assert {k: v for k, v in b.stats.items() if k != "timings"} == {k: v for k, v in a.stats.items() if k != "timings"}


_FIELD = {
    "_n_given": st.sampled_from(["ann", "anne", "bob", None]),
    "_n_family": st.sampled_from(["lee", "li", "smith", None]),
    "_n_email": st.sampled_from(["a@x.example", "b@x.example", None]),
    "_n_phone": st.sampled_from(["+12125550100", "+12125550101", None]),
    "_n_postal": st.sampled_from(["10001", "10002", None]),
}


@given(
    rows=st.lists(st.fixed_dictionaries({"_source": st.sampled_from(["a", "b", "c"]), **_FIELD}), max_size=25),
    within=st.booleans(),
    block_size=st.one_of(st.none(), st.integers(min_value=2, max_value=4)),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_resolve_on_the_workers_is_resolve_here(engine: DaskEngine, rows, within, block_size) -> None:
    identity = pd.DataFrame(rows, columns=["_source", *_FIELD])
    identity.insert(0, "_rid", [f"{r['_source']}:account:{i}" for i, r in enumerate(rows)])
    identity["_type"] = "account"
    matching = MatchingConfig.model_validate({
        "inherit_defaults": False, "link_within_source": within,
        "deterministic": {"email": {"columns": ["_n_email"], "max_group_size": block_size}},
        "comparisons": {"given": {"kind": "string", "column": "_n_given", "term_frequency": True},
                        "family": {"kind": "string", "column": "_n_family"},
                        "phone": {"kind": "edit_distance", "column": "_n_phone"}},
        "blocking": {"phone": {"kind": "block", "on": ["_n_phone"], "max_block_size": block_size},
                     "family_postal": {"kind": "block", "on": [{"column": "_n_family", "transform": "soundex"},
                                                               "_n_postal"]},
                     "given": {"kind": "sorted_neighbourhood", "on": ["_n_given"], "window": 3}},
        "estimation": {"random_pairs": 1000},
    })
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    a = resolve(identity, matching, now=now, runner=LocalRunner())
    b = resolve(identity, matching, now=now, runner=DaskPairRunner(engine))
    pd.testing.assert_series_equal(b.entity_of, a.entity_of)
    pd.testing.assert_frame_equal(b.links, a.links, check_exact=True)
    assert (b.model.to_dict() if b.model else None) == (a.model.to_dict() if a.model else None)
    assert {k: v for k, v in b.stats.items() if k != "timings"} == {k: v for k, v in a.stats.items() if k != "timings"}


_CODES = st.lists(st.integers(min_value=-1, max_value=5), min_size=12, max_size=12)


@given(
    parts=st.lists(st.tuples(st.sampled_from(["rule", "pass", "neighbourhood"]), _CODES,
                             st.one_of(st.none(), st.integers(min_value=2, max_value=4))), max_size=5),
    groups=st.one_of(st.none(), st.lists(st.integers(min_value=0, max_value=2), min_size=12, max_size=12)),
)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_workers_candidate_pairs_and_levels_are_the_local_engines(engine: DaskEngine, parts, groups) -> None:
    """Every rule's and pass's pairs, generated per key partition, de-duplicated and sorted as locally."""
    from reconcile.match._compare import Column, ExactComparator
    from reconcile.match._runner import BlockPart, CandidatePlan, NeighbourhoodPart

    values = pd.DataFrame({"v": ["a", "b", "a", None, "c", "b", "a", "d", "c", None, "a", "b"]})
    comparators = [ExactComparator("v", Column.of(values, "v"), term_frequency=False)]
    plan_parts: list[BlockPart | NeighbourhoodPart] = []
    for n, (kind, codes, limit) in enumerate(parts):
        if kind == "neighbourhood":
            keys = np.array([None if c < 0 else f"k{c}" for c in codes], dtype=object)
            plan_parts.append(NeighbourhoodPart(f"p{n}", keys, 3))
        else:
            plan_parts.append(BlockPart(f"p{n}", kind, np.array(codes, dtype=np.int64), limit))
    plan = CandidatePlan(n=12, parts=plan_parts, comparators=comparators,
                         groups=None if groups is None else np.array(groups, dtype=np.int64))
    here = LocalRunner().candidates(plan)
    runner = DaskPairRunner(engine)
    try:
        there = runner.candidates(plan)
    finally:
        runner.release()
    assert there.left.tolist() == here.left.tolist() and there.right.tolist() == here.right.tolist()
    assert there.levels.tolist() == here.levels.tolist()
    assert there.pairs == here.pairs


def test_a_rule_failing_on_a_worker_fails_as_it_does_here(world, local, engine: DaskEngine) -> None:
    config, _ = world
    matched = local["matched"]
    rules = [*config.built_rules, _Broken(id="broken", owner="qa")]
    with pytest.raises(RuleEvaluationError) as here:
        LocalEngine().evaluate(matched, rules, config.as_of)
    with pytest.raises(RuleEvaluationError) as there:
        engine.evaluate(matched, rules, config.as_of)
    assert str(there.value) == str(here.value)
    assert "ZeroDivisionError" in str(there.value) and there.value.rule_id == "broken"
    assert "ZeroDivisionError" in str(there.value.__cause__)  # the worker's traceback


class _Broken(Rule):
    """An entity-local rule that fails on every partition holding accounts."""

    kind: Literal["broken"] = "broken"
    entity_local: ClassVar[bool] = True

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        accounts = ctx.table("account")
        if not accounts.empty:
            yield from []
            _ = len(accounts) / 0


def test_an_unreachable_scheduler_is_named() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    with pytest.raises(EngineError, match=rf"Dask scheduler at '{address}'"), \
            open_engine(EngineConfig(kind="dask", address=address, timeout=1)):
        pass


def test_workers_with_another_reconcile_version_are_refused(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("reconcile.engine._dask.__version__", "0.0.0-other")
    with pytest.raises(EngineError, match=r"must run reconcile 0\.0\.0-other.*has "):
        DaskEngine(EngineConfig(kind="dask", address=cluster.scheduler_address))


def test_without_dask_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now raises ImportError
    monkeypatch.delitem(sys.modules, "reconcile.engine._dask")
    with pytest.raises(EngineError, match=r"pip install 'reconcile-engine\[dask\]'"), \
            open_engine(EngineConfig(kind="dask")):
        pass

