"""Helpers for testing code that extends or uses reconcile.

- :class:`AdapterContract` and :class:`RuleContract`: the contract tests an
  adapter or rule author subclasses (``reconcile.testing.adapters``,
  ``reconcile.testing.rules``).
- :class:`Sources` and :func:`run_sources`: sources from inline records,
  DataFrames or YAML, and a whole run over them at :data:`FIXED_AS_OF`.
- :func:`assert_findings` and :func:`assert_no_findings`: assertions whose
  failure messages print the findings' stories and evidence.
- ``reconcile.testing.plugin``: the pytest fixtures (``reconcile_sources``,
  ``reconcile_run``, ``reconcile_store``, ``reconcile_as_of``), loaded by
  pytest through the ``pytest11`` entry point.
- ``reconcile.testing.strategies``: Hypothesis strategies for canonical
  records and noisy variants of one identity (needs ``hypothesis``).

See ``docs/testing.md``. Names are imported on first use: pytest imports
the plugin, and so this package, in every session.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "AdapterContract": "reconcile.testing.adapters",
    "RuleContract": "reconcile.testing.rules",
    "make_context": "reconcile.testing.rules",
    "make_tables": "reconcile.testing.rules",
    "FIXED_AS_OF": "reconcile.testing.builders",
    "Sources": "reconcile.testing.builders",
    "run_sources": "reconcile.testing.builders",
    "assert_findings": "reconcile.testing.assertions",
    "assert_no_findings": "reconcile.testing.assertions",
    "format_findings": "reconcile.testing.assertions",
}

if TYPE_CHECKING:  # pragma: no cover
    from reconcile.testing.adapters import AdapterContract
    from reconcile.testing.assertions import assert_findings, assert_no_findings, format_findings
    from reconcile.testing.builders import FIXED_AS_OF, Sources, run_sources
    from reconcile.testing.rules import RuleContract, make_context, make_tables


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconcile.testing' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "FIXED_AS_OF",
    "AdapterContract",
    "RuleContract",
    "Sources",
    "assert_findings",
    "assert_no_findings",
    "format_findings",
    "make_context",
    "make_tables",
    "run_sources",
]
