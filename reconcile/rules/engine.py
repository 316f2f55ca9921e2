"""Evaluate configured rules over one run's tables."""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from reconcile._memory import return_free_memory
from reconcile.errors import ReconcileError
from reconcile.findings import Finding
from reconcile.rules.base import Rule, RuleContext

__all__ = ["RuleEvaluationError", "evaluate_rules"]

log = logging.getLogger("reconcile.rules")


class RuleEvaluationError(ReconcileError):
    """A rule failed while evaluating; names the rule and keeps the cause.

    Attributes:
        rule_id: The configured rule that failed.
        kind: Its kind.
    """

    def __init__(self, rule: Rule, message: str):
        self.rule_id = rule.id
        self.kind = rule.kind
        super().__init__(f"rule {rule.id!r} (kind {rule.kind}) failed: {message}")


def _order(finding: Finding) -> tuple[str, str, str, str]:
    subject = finding.subject
    return (subject.source, subject.record_type, subject.key, finding.detail_key)


def _run(rule: Rule, ctx: RuleContext) -> list[Finding]:
    try:
        findings = list(rule.evaluate(ctx))
    except ReconcileError as exc:
        raise RuleEvaluationError(rule, str(exc)) from exc
    except Exception as exc:  # a rule's bug must name the rule
        raise RuleEvaluationError(rule, f"{type(exc).__name__}: {exc}") from exc
    seen: set[tuple[str, str, str, str]] = set()
    for finding in findings:
        if not isinstance(finding, Finding):
            raise RuleEvaluationError(rule, f"yielded {type(finding).__name__}, not a Finding")
        if finding.rule_id != rule.id:
            raise RuleEvaluationError(
                rule, f"yielded a finding of rule {finding.rule_id!r}; build findings with rule.finding()"
            )
        # The fingerprint hashes the rule id (the same for all here) and these four
        # texts, written as a JSON list: two findings share it exactly when they
        # share these. Compared as they are, not hashed (a hash per finding).
        identity = _order(finding)
        if identity in seen:
            raise RuleEvaluationError(
                rule,
                f"yielded two findings with the same fingerprint (subject {finding.subject.rid}, "
                f"detail_key {finding.detail_key!r}); give each a distinct detail_key",
            )
        seen.add(identity)
    return sorted(findings, key=_order)


_GC_LOCK = threading.Lock()
_gc_depth = 0
#: Allocations between collections of the youngest generation while rules run (default 700).
GC_YOUNG_THRESHOLD = 50_000
#: Young collections between collections of the middle generation while rules run (default 10).
GC_MIDDLE_THRESHOLD = 100


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Collect garbage less often while rules run; the collector is restored afterwards.

    Rules build many small objects that live on (findings, their records, the
    rows they are made from). With the default thresholds the collector walks
    them, and everything older, again and again: about a quarter of the
    stage's time on the 100,000-customer demo world. Here the objects that
    existed before are frozen (left out of collections, ``gc.freeze``) and the
    youngest generation is collected every :data:`GC_YOUNG_THRESHOLD`
    allocations and the middle one after :data:`GC_MIDDLE_THRESHOLD` of
    those: a middle collection walks every object that survived a young one,
    most of them rows and frames the rules drop soon after (at 300,000
    customers two middle collections cost as much as 25 young ones; with
    100 between them, the rules and the collection that follows them together
    spend about a third less time collecting). Nested or concurrent uses
    change the collector once. If the application has frozen objects of its
    own (a pre-forking server does), nothing is frozen or unfrozen here: only
    the thresholds change.
    """
    global _gc_depth
    with _GC_LOCK:
        _gc_depth += 1
        outermost = _gc_depth == 1
        if outermost:
            threshold = gc.get_threshold()
            freeze = gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            gc.set_threshold(
                max(threshold[0], GC_YOUNG_THRESHOLD), max(threshold[1], GC_MIDDLE_THRESHOLD), *threshold[2:]
            )
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_depth -= 1
            if outermost:
                gc.set_threshold(*threshold)
                if freeze:
                    gc.unfreeze()


def evaluate_rules(rules: Sequence[Rule], ctx: RuleContext) -> list[Finding]:
    """Evaluate every enabled rule; return their findings in rule order.

    Rules that read other findings (``needs_findings``) run after all the
    others, each seeing the findings of those others (not of one another, so
    their order does not change what they find). Within one rule, findings are
    ordered by subject, so a run's output does not depend on row order.

    Raises:
        RuleEvaluationError: naming the rule that failed, with the cause chained.
    """
    with fewer_collections():
        return _evaluate(rules, ctx)


def _evaluate(rules: Sequence[Rule], ctx: RuleContext) -> list[Finding]:
    enabled = [r for r in rules if r.enabled]
    first = [r for r in enabled if not type(r).needs_findings]
    later = [r for r in enabled if type(r).needs_findings]
    by_rule: dict[int, list[Finding]] = {}
    for rule in first:
        by_rule[id(rule)] = _run(rule, ctx)
        log.debug("rule %s: %d finding(s)", rule.id, len(by_rule[id(rule)]))
        # Each rule's temporaries go back to the system before the next rule's, which
        # would otherwise pile up beside the findings kept (about 0.7 GB at a million customers).
        return_free_memory()
    if later:
        earlier = [f for rule in first for f in by_rule[id(rule)]]
        with_findings = dataclasses.replace(ctx, findings=[*ctx.findings, *earlier])
        for rule in later:
            by_rule[id(rule)] = _run(rule, with_findings)
            log.debug("rule %s: %d finding(s)", rule.id, len(by_rule[id(rule)]))
            return_free_memory()
    return [f for rule in enabled for f in by_rule[id(rule)]]
