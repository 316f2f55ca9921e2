"""Plugin registries: adapters and rules are found through entry points.

The built-ins are registered through the same entry-point groups as third-party
plugins (``reconcile.adapters`` and ``reconcile.rules``), so there is one door.
A plugin that fails to load is an error naming it, never a silent skip.
"""

from __future__ import annotations

import importlib
from functools import cache
from importlib.metadata import entry_points
from typing import Any

from reconcile.errors import PluginError

__all__ = ["ADAPTER_GROUP", "RULE_GROUP", "load_group", "load_object"]

ADAPTER_GROUP = "reconcile.adapters"
RULE_GROUP = "reconcile.rules"


def load_object(path: str) -> Any:
    """Import ``package.module:Name`` (or ``package.module.Name``)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise PluginError(f"{path!r} is not an import path; write it as 'package.module:Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {module_name!r} for {path!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise PluginError(f"module {module_name!r} has no attribute {attr!r} (from {path!r})") from None


@cache
def load_group(group: str) -> dict[str, Any]:
    """Load every entry point of ``group``; the name is the kind it registers.

    Raises:
        PluginError: naming the entry point that failed to load, or a kind
            registered twice.
    """
    found: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for ep in entry_points(group=group):
        try:
            obj = ep.load()
        except Exception as exc:  # a broken plugin must name itself
            raise PluginError(
                f"plugin {ep.name!r} ({ep.value}) in entry-point group {group!r} failed to load: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if ep.name in found and origin[ep.name] != ep.value:
            raise PluginError(
                f"kind {ep.name!r} is registered twice in {group!r}: "
                f"{origin[ep.name]} and {ep.value}"
            )
        found[ep.name] = obj
        origin[ep.name] = ep.value
    return found
