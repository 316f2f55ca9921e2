"""Helpers for testing code that extends or uses reconcile.

- :class:`AdapterContract`: the contract tests an adapter author subclasses.
"""

from __future__ import annotations

from reconcile.testing.adapters import AdapterContract

__all__ = ["AdapterContract"]
