"""Errors raised by reconcile; each says what went wrong and how to fix it."""

from __future__ import annotations

from reconcile.secrets import redact

__all__ = [
    "ConfigError",
    "PluginError",
    "ReconcileError",
    "RunError",
    "SourceError",
    "StoreError",
]


class ReconcileError(Exception):
    """Base class of every error reconcile raises on purpose."""


class PluginError(ReconcileError):
    """An adapter or rule plugin could not be loaded."""


class ConfigError(ReconcileError):
    """The configuration is invalid.

    Attributes:
        problems: One ``(location, message)`` pair per problem, where location
            names the file and the field path (``reconcile.yaml: rules[2].kind``).
    """

    def __init__(self, problems: list[tuple[str, str]]):
        # A secret expanded from the environment never shows in a message.
        problems = [(redact(loc), redact(msg)) for loc, msg in problems]
        self.problems = problems
        lines = [f"{loc}: {msg}" for loc, msg in problems]
        super().__init__(
            f"{len(problems)} configuration error(s):\n  " + "\n  ".join(lines)
        )


class SourceError(ReconcileError):
    """A source could not be read (unreachable, missing file, bad query).

    The message names the source; secrets (passwords expanded from the
    environment, the password of a database URL) are replaced by ``***``.
    """

    def __init__(self, source: str, message: str):
        self.source = source
        self.message = redact(message)
        super().__init__(f"source {source!r}: {self.message}")


class StoreError(ReconcileError):
    """The findings store could not be read or written."""


class RunError(ReconcileError):
    """A run failed; the store was left unchanged."""
