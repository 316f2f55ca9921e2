"""The lifecycle against a plain-Python oracle, over random sequences of nights."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from store_factories import finding, healthy, night, unhealthy

from reconcile.findings import FindingStatus as S
from reconcile.store import Store

KEYS = [f"AC-{i}" for i in range(6)]

# One night: which findings the rules produced, and how it went.
nights = st.lists(
    st.tuples(st.sets(st.sampled_from(KEYS)), st.sampled_from(["healthy", "unhealthy", "failed"])),
    min_size=1,
    max_size=7,
)


def _oracle(state: dict[str, S], seen: set[str], all_healthy: bool) -> tuple[dict[str, S], set[str]]:
    after = dict(state)
    for key in seen:
        before = state.get(key)
        after[key] = S.new if before is None else S.reopened if before == S.resolved else S.open
    resolved = set()
    if all_healthy:
        for key, status in state.items():
            if key not in seen and status != S.resolved:
                after[key] = S.resolved
                resolved.add(key)
    return after, resolved


@settings(max_examples=60, deadline=None)
@given(nights)
def test_lifecycle_matches_the_oracle(sequence: list[tuple[set[str], str]]) -> None:
    state: dict[str, S] = {}
    changes = {key: 0 for key in KEYS}
    with Store("sqlite://") as store:
        for n, (keys, outcome) in enumerate(sequence, start=1):
            run_id = store.begin_run(night(n))
            if outcome == "failed":
                store.fail_run(run_id, "a stage failed")
                continue
            health = healthy() if outcome == "healthy" else unhealthy("crm")
            seen, resolved = store.finish_run(
                run_id, findings=[finding(k) for k in sorted(keys)], health=health
            )
            expected, expected_resolved = _oracle(state, keys, outcome == "healthy")
            for key, status in expected.items():
                changes[key] += status != state.get(key)
            state = expected
            assert {f.subject.key: f.status for f in seen} == {k: state[k] for k in keys}
            assert {f.subject.key for f in resolved} == expected_resolved
            assert all(f.status == S.resolved for f in resolved)
        open_now = {f.subject.key: f.status for f in store.open_findings()}
        assert open_now == {k: s for k, s in state.items() if s != S.resolved}
        for key in KEYS:
            history = store.finding_history(finding(key).fingerprint)
            assert len(history) == changes[key]
            # History is a chain: each change starts where the previous one ended.
            assert all(a.to_status == b.from_status for a, b in zip(history, history[1:], strict=False))
        assert [r.status for r in store.runs()] == [
            "failed" if outcome == "failed" else "succeeded" for _, outcome in sequence
        ]
