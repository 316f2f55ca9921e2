"""Stage 4: rules that find where systems disagree about one customer.

A rule is a pydantic model (:class:`Rule`) with a pure ``evaluate``; the nine
kinds of the customer stories live in :mod:`reconcile.rules.builtin`, the
generic kinds users configure without code (``missing_in``, ``field_mismatch``,
``status_mismatch``, ``duplicate``, ``balance``, ``stale``) in
:mod:`reconcile.rules.generic`. Configured rules are merged with the shipped
packs and validated by :func:`build_rules`, and :func:`evaluate_rules` runs
them over a :class:`RuleContext`.
"""

from __future__ import annotations

from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.engine import RuleEvaluationError, evaluate_rules
from reconcile.rules.packs import build_rules, resolve_rule_dicts, validate_rule
from reconcile.rules.registry import rule_classes, rule_union_adapter

__all__ = [
    "Rule",
    "RuleContext",
    "RuleEvaluationError",
    "build_rules",
    "evaluate_rules",
    "resolve_rule_dicts",
    "rule_classes",
    "rule_union_adapter",
    "validate_rule",
]
