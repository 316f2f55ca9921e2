"""reconcile.testing exports exactly what it lists, each on first use."""

from __future__ import annotations

import pytest

import reconcile.testing

EXPECTED = {
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
}


def test_exported_members() -> None:
    assert set(reconcile.testing.__all__) == EXPECTED
    assert set(dir(reconcile.testing)) >= EXPECTED


def test_every_export_resolves() -> None:
    for name in reconcile.testing.__all__:
        assert getattr(reconcile.testing, name) is not None, name


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'assert_finding'"):
        reconcile.testing.assert_finding  # noqa: B018
