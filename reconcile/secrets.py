"""Secrets in configuration: ``${ENV_VAR}`` expansion and redaction.

Any string in a configuration may refer to environment variables:
``${DB_PASSWORD}`` or, with a default, ``${DB_HOST:-localhost}``; ``$${`` is a
literal ``${``. They are expanded when the configuration is loaded
(:func:`expand`). Every value that came from the environment is remembered in
a process-wide registry, and :func:`redact` replaces each of them with
``***``: error messages, source health, quarantine reasons and the log lines
reconcile writes go through it, so a password never reaches a log, a report
or the store.

A default written in the configuration is not a secret (it is in the file
already). Values shorter than :data:`MIN_SECRET_LENGTH` characters are not
redacted: replacing every ``1`` or ``US`` in a message would make it
unreadable, and such a value is no secret anyway.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

__all__ = [
    "MIN_SECRET_LENGTH",
    "MissingVariable",
    "RedactingFilter",
    "expand",
    "expand_tree",
    "redact",
    "redact_value",
    "register",
    "secret_values",
]

MIN_SECRET_LENGTH = 4
MASK = "***"

# ${NAME} or ${NAME:-default}; $${ escapes a literal ${.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_UNCLOSED = re.compile(r"(?<!\$)\$\{(?![A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\})")

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def register(value: str | None) -> None:
    """Remember ``value`` as a secret, so :func:`redact` hides it from now on.

    Its URL-encoded forms are remembered too: a password expanded into a
    database URL is shown percent-encoded when the URL is rendered.
    """
    global _pattern
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    forms = {value, quote(value, safe=""), quote_plus(value, safe=""), quote(value)}
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        _pattern = None


def _compiled() -> re.Pattern[str] | None:
    global _pattern
    with _lock:
        if _pattern is None and _secrets:
            # Longest first, so a secret that contains another is hidden whole.
            ordered = sorted(_secrets, key=len, reverse=True)
            _pattern = re.compile("|".join(re.escape(s) for s in ordered))
        return _pattern


def redact(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    pattern = _compiled()
    if pattern is None or not text:
        return text
    return pattern.sub(MASK, text)


def redact_value(value: Any) -> Any:
    """Redact a string, or the strings inside lists and dicts (for stored rows)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value


def _forget_all() -> None:
    """Empty the registry (tests only)."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


class MissingVariable(LookupError):
    """A ``${NAME}`` reference to an environment variable that is not set."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(name)


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Expand ``${NAME}`` and ``${NAME:-default}`` in ``text``.

    Raises:
        MissingVariable: a variable without a default is not set (the
            exception names the variable, never a value).
        ValueError: a ``${`` that is not a valid reference.
    """
    if "${" not in text:
        return text
    env = os.environ if environ is None else environ
    if _UNCLOSED.search(text.replace("$${", "")):
        raise ValueError("'${' must be followed by NAME} or NAME:-default} (write '$${' for a literal '${')")

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, default = match.group(1), match.group(2)
        value = env.get(name)
        if value is None or (value == "" and default is not None):
            if default is None:
                raise MissingVariable(name)
            return default
        register(value)
        return value

    return _REFERENCE.sub(substitute, text)


def expand_tree(
    data: Any,
    on_error: Callable[[str, str], None],
    path: str = "",
    environ: Mapping[str, str] | None = None,
    skip: Callable[[str], object] | None = None,
) -> Any:
    """Expand references in every string of a YAML tree (mappings, lists).

    Args:
        data: The tree as read from YAML.
        on_error: Called with ``(field path, message)`` for each reference
            that cannot be expanded; the string is then left as it was.
        path: The path of ``data`` in the configuration (for messages).
        environ: Variables to use instead of ``os.environ``.
        skip: Paths whose values are data, not configuration (rows given
            from Python): left as they are, not even copied.
    """
    if skip is not None and path and skip(path):
        return data
    if isinstance(data, str):
        try:
            return expand(data, environ)
        except MissingVariable as exc:
            on_error(
                path or "(top level)",
                f"environment variable {exc.name} is not set "
                f"(set it, or give a default: ${{{exc.name}:-default}})",
            )
        except ValueError as exc:
            on_error(path or "(top level)", str(exc))
        return data
    if isinstance(data, Mapping):
        return {
            key: expand_tree(value, on_error, f"{path}.{key}" if path else str(key), environ, skip)
            for key, value in data.items()
        }
    if isinstance(data, list):
        return [expand_tree(item, on_error, f"{path}[{i}]", environ, skip) for i, item in enumerate(data)]
    return data


class RedactingFilter(logging.Filter):
    """A logging filter that redacts secrets from every record it sees.

    Install it on a handler (``handler.addFilter(RedactingFilter())``), so
    records from every logger that reach the handler are redacted.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if _secrets:
            message = record.getMessage()
            redacted = redact(message)
            if redacted != message:
                record.msg = redacted
                record.args = None
        return True


def secret_values() -> Iterable[str]:
    """The registered secrets (for tests that assert nothing leaked)."""
    with _lock:
        return frozenset(_secrets)
