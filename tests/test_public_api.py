"""The public API is exactly what reconcile/__init__.py lists; changing it is deliberate."""

from __future__ import annotations

import reconcile

EXPECTED = {
    "Adapter",
    "EntityStory",
    "NotifyConfig",
    "StoreLockedError",
    "Suppression",
    "TrackedFinding",
    "Config",
    "ConfigError",
    "ExitCode",
    "Finding",
    "FindingStatus",
    "MatchResult",
    "MatchingConfig",
    "PluginError",
    "QuarantinedRow",
    "RawRow",
    "RecordRef",
    "ReconcileError",
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
    "StreamConfig",
    "__version__",
    "load_config",
    "normalise_table",
    "parse_config",
    "resolve",
    "run",
    "write_reports",
}


def test_exported_members() -> None:
    assert set(reconcile.__all__) == EXPECTED


def test_every_export_resolves() -> None:
    for name in reconcile.__all__:
        assert getattr(reconcile, name) is not None, name
    assert callable(reconcile.run)


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        reconcile.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
