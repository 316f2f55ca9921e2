"""resolve given a function that makes the identity frame: the same result, and the frame let go early."""

from __future__ import annotations

import itertools
import weakref
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from match_helpers import identity_frames

from reconcile.match import MatchingConfig, resolve
from reconcile.match._resolve import _Records
from reconcile.match._runner import LocalRunner

_CONFIGS = [
    MatchingConfig(),
    MatchingConfig(link_within_source=False),
    MatchingConfig.model_validate(
        {"clustering": {"constraints": [{"source": "billing", "max_records": 1}, {"record_type": "account",
                                                                                   "max_records": 2}]}}
    ),
]


def _same(result: Any, expected: Any, identity: pd.DataFrame) -> None:
    pd.testing.assert_series_equal(result.entity_of, expected.entity_of)
    pd.testing.assert_series_equal(result.confidence, expected.confidence, check_exact=True)
    pd.testing.assert_frame_equal(result.links, expected.links, check_exact=True)
    assert {k: v for k, v in result.stats.items() if k != "timings"} == {
        k: v for k, v in expected.stats.items() if k != "timings"
    }
    for a, b in itertools.combinations(sorted(identity["_rid"])[:10], 2):
        assert result.explain(a, b) == expected.explain(a, b)


class _Watching(LocalRunner):
    """A runner that notes whether the identity frame was still alive when candidates were asked for."""

    def __init__(self, frame: weakref.ref[pd.DataFrame]):
        super().__init__()
        self.frame = frame
        self.alive_at_candidates: bool | None = None

    def candidates(self, plan: Any) -> Any:
        self.alive_at_candidates = self.frame() is not None
        return super().candidates(plan)


@given(identity=identity_frames(), config=st.sampled_from(_CONFIGS))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_a_frame_made_by_resolve_gives_the_result_of_a_frame_given(identity: pd.DataFrame,
                                                                    config: MatchingConfig) -> None:
    now = pd.Timestamp("2026-11-01", tz="UTC").to_pydatetime()
    expected = resolve(identity, config, now=now)
    made: list[weakref.ref[pd.DataFrame]] = []

    def make() -> pd.DataFrame:
        frame = identity.copy()
        made.append(weakref.ref(frame))
        return frame

    runner = _Watching(lambda: made[0]() if made else None)  # type: ignore[arg-type]
    result = resolve(make, config, now=now, runner=runner)
    _same(result, expected, identity)
    assert len(made) == 1 and made[0]() is None
    if runner.alive_at_candidates is not None:  # asked only when there are records to pair
        assert runner.alive_at_candidates is False  # let go once prepared, before the pairs


def test_a_frame_given_is_kept_by_its_caller_and_left_alone() -> None:
    identity = pd.DataFrame({"_rid": ["a", "b"], "_source": ["s", "t"], "_type": ["account", "contact"]})
    for column in MatchingConfig().columns():
        identity[column] = None
    before = identity.copy()
    resolve(identity)
    pd.testing.assert_frame_equal(identity, before)


def test_released_records_read_only_the_columns_they_kept() -> None:
    frame = pd.DataFrame({"_rid": ["b", "a"], "_source": ["s2", "s1"], "x": [2, 1]})
    records = _Records(frame, np.array(["a", "b"], dtype=object), np.array([1, 0]))
    records.release({"_source"})
    assert records.identity is None
    assert records.values("_source").tolist() == ["s1", "s2"]  # in rid order, as before
    assert records.values("_rid").tolist() == ["a", "b"]
    with pytest.raises(RuntimeError, match="'x'"):
        records.values("x")
