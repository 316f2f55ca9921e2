"""reconcile: find where a company's systems disagree about the same customer.

The public API is what this module exports; everything else is private and may
change. A run is one call::

    import reconcile

    result = reconcile.run("reconcile.yaml")
    for finding in result.findings:
        print(finding.severity, finding.owner, finding.story)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from reconcile._version import __version__

# Imported on first use, so `import reconcile` stays cheap and a CLI call or a
# test of one stage does not load every stage.
_EXPORTS = {
    "ExitCode": "reconcile.cli",
    "Config": "reconcile.config",
    "load_config": "reconcile.config",
    "parse_config": "reconcile.config",
    "ConfigError": "reconcile.errors",
    "PluginError": "reconcile.errors",
    "ReconcileError": "reconcile.errors",
    "RunError": "reconcile.errors",
    "SourceError": "reconcile.errors",
    "StoreError": "reconcile.errors",
    "Adapter": "reconcile.extract",
    "RawRow": "reconcile.extract",
    "SourceConfig": "reconcile.extract",
    "StreamConfig": "reconcile.extract",
    "MatchingConfig": "reconcile.match",
    "MatchResult": "reconcile.match",
    "resolve": "reconcile.match",
    "normalise_table": "reconcile.normalise",
    "write_reports": "reconcile.report",
    "Store": "reconcile.store",
    "StoreLockedError": "reconcile.store",
    "EntityStory": "reconcile.store",
    "Suppression": "reconcile.store",
    "TrackedFinding": "reconcile.store",
    "NotifyConfig": "reconcile.notify",
    "StoreConfig": "reconcile.store",
    "Finding": "reconcile.findings",
    "FindingStatus": "reconcile.findings",
    "RecordRef": "reconcile.findings",
    "Severity": "reconcile.findings",
    "run": "reconcile.pipeline",
    "QuarantinedRow": "reconcile.results",
    "RunResult": "reconcile.results",
    "SourceHealth": "reconcile.results",
    "Rule": "reconcile.rules.base",
    "RuleContext": "reconcile.rules.base",
}

if TYPE_CHECKING:  # pragma: no cover
    from reconcile.cli import ExitCode
    from reconcile.config import Config, load_config, parse_config
    from reconcile.errors import (
        ConfigError,
        PluginError,
        ReconcileError,
        RunError,
        SourceError,
        StoreError,
    )
    from reconcile.extract import Adapter, RawRow, SourceConfig, StreamConfig
    from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
    from reconcile.match import MatchingConfig, MatchResult, resolve
    from reconcile.normalise import normalise_table
    from reconcile.notify import NotifyConfig
    from reconcile.pipeline import run
    from reconcile.report import write_reports
    from reconcile.results import QuarantinedRow, RunResult, SourceHealth
    from reconcile.rules.base import Rule, RuleContext
    from reconcile.store import (
        EntityStory,
        Store,
        StoreConfig,
        StoreLockedError,
        Suppression,
        TrackedFinding,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'reconcile' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Adapter",
    "Config",
    "ConfigError",
    "EntityStory",
    "ExitCode",
    "Finding",
    "FindingStatus",
    "MatchResult",
    "MatchingConfig",
    "NotifyConfig",
    "PluginError",
    "QuarantinedRow",
    "RawRow",
    "ReconcileError",
    "RecordRef",
    "Rule",
    "RuleContext",
    "RunError",
    "RunResult",
    "Severity",
    "SourceConfig",
    "SourceError",
    "SourceHealth",
    "Store",
    "StoreConfig",
    "StoreError",
    "StoreLockedError",
    "StreamConfig",
    "Suppression",
    "TrackedFinding",
    "__version__",
    "load_config",
    "normalise_table",
    "parse_config",
    "resolve",
    "run",
    "write_reports",
]
