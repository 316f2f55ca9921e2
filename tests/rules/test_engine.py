"""evaluate_rules: order, rules that read findings, errors naming the rule, stories."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import ClassVar, Literal

import pytest
from conftest import AS_OF, at, context, days_ago
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.findings import Finding, RecordRef, fingerprint
from reconcile.rules import RuleContext, RuleEvaluationError, evaluate_rules
from reconcile.rules.base import Rule
from reconcile.rules.builtin import (
    BUILTIN_RULES,
    BilledNotProvisionedRule,
    UnresolvedLowSurveyRule,
)
from reconcile.rules.engine import GC_MIDDLE_THRESHOLD, GC_YOUNG_THRESHOLD, fewer_collections


class _Exploding(Rule):
    kind: Literal["exploding"] = "exploding"

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        raise ZeroDivisionError("division by zero")


class _Twice(Rule):
    kind: Literal["twice"] = "twice"
    story: ClassVar[str] = "{subject}"

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        subject = RecordRef(source="s", record_type="account", key="A")
        for _ in range(2):
            yield self.finding(subject=subject, records=[subject], entity_id=None, confidence=1, facts={})


def _world() -> RuleContext:
    return context(
        account=[{"account_id": "AC-1", "name": "LEE, ANN"}],
        subscription=[{"subscription_id": s, "account_id": "AC-1", "product": p, "start_date": days_ago(90)}
                      for s, p in (("S-2", "fiber_1g"), ("S-1", "monitoring"))],
        contact=[{"contact_id": "K1", "name": "Ann Lee"}],
        survey=[{"survey_id": "SR-1", "contact_id": "K1", "score": 1, "responded_at": at(days=3)}],
    )


def test_rules_reading_findings_run_last_and_see_the_others() -> None:
    survey = UnresolvedLowSurveyRule(id="survey", owner="cx")
    billed = BilledNotProvisionedRule(id="billed", owner="provisioning")
    findings = evaluate_rules([survey, billed], _world())
    assert [f.rule_id for f in findings] == ["survey", "billed", "billed"]
    assert [f.subject.key for f in findings if f.rule_id == "billed"] == ["S-1", "S-2"]  # by subject
    assert "2 unresolved findings" in findings[0].story
    # Without the other rule, the survey has nothing to be about.
    assert evaluate_rules([survey], _world()) == []


def test_disabled_rules_are_skipped() -> None:
    billed = BilledNotProvisionedRule(id="billed", owner="provisioning", enabled=False)
    assert evaluate_rules([billed], _world()) == []


def test_a_failing_rule_is_named() -> None:
    with pytest.raises(RuleEvaluationError) as err:
        evaluate_rules([_Exploding(id="boom", owner="x")], _world())
    assert err.value.rule_id == "boom"
    assert "rule 'boom' (kind exploding) failed: ZeroDivisionError" in str(err.value)
    assert isinstance(err.value.__cause__, ZeroDivisionError)


def test_two_findings_with_one_fingerprint_are_refused() -> None:
    with pytest.raises(RuleEvaluationError, match="same fingerprint"):
        evaluate_rules([_Twice(id="twice", owner="x")], _world())


@pytest.mark.parametrize("cls", BUILTIN_RULES, ids=lambda c: c.model_fields["kind"].default)
def test_every_builtin_documents_the_facts_its_story_uses(cls: type[Rule]) -> None:
    import string

    used = {f for _, f, _, _ in string.Formatter().parse(cls.story) if f}
    documented = set(cls.facts) | {"rule_id", "subject"}  # type: ignore[attr-defined]
    assert used <= documented, used - documented
    assert cls.__doc__ and "Attributes:" in cls.__doc__


def test_description_overrides_the_story_and_is_checked() -> None:
    rule = BilledNotProvisionedRule(
        id="billed", owner="p", description="{rule_id}: bill {account} stops for {subscription} ({product})"
    )
    stories = sorted(f.story for f in evaluate_rules([rule], _world()))
    assert stories == ["billed: bill AC-1 stops for S-1 (monitoring)", "billed: bill AC-1 stops for S-2 (fiber_1g)"]
    with pytest.raises(ValueError, match=r"\{acount\}.*did you mean \{account\}"):
        BilledNotProvisionedRule(id="billed", owner="p", description="{acount}")


class _Watching(Rule):
    """Records the collector's settings while it runs."""

    kind: Literal["watching"] = "watching"
    seen: ClassVar[list[tuple[int, int, int]]] = []

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        self.seen.append((gc.get_threshold()[0], gc.get_freeze_count(), gc.get_threshold()[1]))
        return iter(())


def test_rules_run_with_fewer_collections_and_the_collector_is_restored() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    _Watching.seen.clear()
    with fewer_collections():  # nested: the collector changes once
        evaluate_rules([_Watching(id="w", owner="x")], _world())
        assert gc.get_threshold()[0] == max(before[0], GC_YOUNG_THRESHOLD)
    assert _Watching.seen[0][0] == max(before[0], GC_YOUNG_THRESHOLD)
    assert _Watching.seen[0][1] > frozen  # what existed before is frozen while rules run
    assert _Watching.seen[0][2] == max(before[1], GC_MIDDLE_THRESHOLD)
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen
    with pytest.raises(RuleEvaluationError):
        evaluate_rules([_Exploding(id="boom", owner="x")], _world())
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == frozen


def test_objects_the_application_froze_stay_frozen() -> None:
    gc.freeze()  # as a pre-forking server does
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        _Watching.seen.clear()
        evaluate_rules([_Watching(id="w", owner="x")], _world())
        assert _Watching.seen[0][0] >= GC_YOUNG_THRESHOLD  # the threshold still changes
        # The application's frozen objects stay frozen (a few may be freed meanwhile), none are added.
        assert 0 < gc.get_freeze_count() <= frozen
    finally:
        gc.unfreeze()


class _Yielding(Rule):
    """Yields one finding per (source, record type, key, detail_key) it is given, in that order."""

    kind: Literal["yielding"] = "yielding"
    story: ClassVar[str] = "{subject}"
    given: list[tuple[str, str, str, str]] = []

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        for source, record_type, key, detail_key in self.given:
            subject = RecordRef(source=source, record_type=record_type, key=key)
            yield self.finding(subject=subject, records=[subject], entity_id=None, confidence=1, facts={},
                               detail_key=detail_key)


_PART = st.sampled_from(["a", "b", "a:b", "", '"', ","])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_PART, st.sampled_from(["account", "invoice"]), _PART, _PART), max_size=6))
def test_findings_are_refused_exactly_when_two_share_a_fingerprint(given: list[tuple[str, str, str, str]]) -> None:
    """The engine tells findings apart by subject and detail key: what their fingerprints tell apart."""
    rule = _Yielding(id="y", owner="x", given=given)
    prints = [fingerprint("y", RecordRef(source=s, record_type=t, key=k), d) for s, t, k, d in given]
    if len(set(prints)) < len(prints):
        with pytest.raises(RuleEvaluationError, match="same fingerprint"):
            evaluate_rules([rule], RuleContext(as_of=AS_OF, tables={}))
    else:
        findings = evaluate_rules([rule], RuleContext(as_of=AS_OF, tables={}))
        assert sorted(f.fingerprint for f in findings) == sorted(prints)


def test_freed_memory_goes_back_to_the_system_after_each_rule(monkeypatch: pytest.MonkeyPatch) -> None:
    """After every enabled rule, those reading findings too: its temporaries do not pile up beside the findings."""
    import reconcile.rules.engine as engine

    order: list[str] = []
    real_run = engine._run

    def run(rule: Rule, ctx: RuleContext) -> list[Finding]:
        order.append(rule.id)
        return real_run(rule, ctx)

    monkeypatch.setattr(engine, "_run", run)
    monkeypatch.setattr(engine, "return_free_memory", lambda: order.append("trim"))
    survey = UnresolvedLowSurveyRule(id="survey", owner="cx")
    billed = BilledNotProvisionedRule(id="billed", owner="provisioning")
    off = BilledNotProvisionedRule(id="off", owner="provisioning", enabled=False)
    evaluate_rules([survey, off, billed], _world())
    assert order == ["billed", "trim", "survey", "trim"]
