"""Sources for tests from inline records, DataFrames or YAML, and a run over them at a fixed time.

::

    from reconcile.testing import Sources, run_sources, assert_findings

    sources = (
        Sources()
        .records("billing", account=[{"account_id": "AC-1", "name": "LEE, ANN"}])
        .records("crm", contact=[{"contact_id": "C-1", "name": "Ann Lee"}])
    )
    result = run_sources(sources, rules=[...])

Rows written with the canonical field names need no mapping: each stream
maps the canonical fields its rows use (and the type's required ones) onto
columns of the same name. Rows in a source's own shape take a ``fields``
mapping per record type, exactly as in ``reconcile.yaml``, so a test can
exercise the mapping it ships. The pytest plugin (``reconcile_sources``,
``reconcile_run``) wraps these for tests; they work without pytest too.

Only the standard library is imported here at module level: the pytest
plugin imports this module in every test session.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from reconcile.results import RunResult
    from reconcile.rules.base import Rule
    from reconcile.store import Store

__all__ = ["FIXED_AS_OF", "Sources", "run_sources"]

#: The as-of time of test runs unless a test gives another: the same as
#: :func:`reconcile.testing.rules.make_context` and the rule docs' examples.
FIXED_AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)

# Keys of an inline source in Sources.yaml() that are not record types.
_INLINE_KEYS = ("fields", "options")


def _canonical_fields(record_type: str) -> dict[str, Any]:
    from reconcile.model import record_model

    return dict(record_model(record_type).model_fields)


def _identity_fields(
    source: str, record_type: str, columns: Iterable[str]
) -> dict[str, str]:
    """Map each canonical field the rows use, and every required one, onto itself."""
    known = _canonical_fields(record_type)
    seen = list(dict.fromkeys(str(c) for c in columns))
    unknown = [c for c in seen if c not in known]
    if unknown:
        hints = []
        for column in unknown:
            close = difflib.get_close_matches(column, list(known), n=1)
            hints.append(f"{column!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(
            f"source {source!r}: the {record_type} rows have columns that are not fields of "
            f"{record_type}: {', '.join(hints)}; allowed: {', '.join(known)}. Rows in a "
            f"source's own shape need a mapping: fields={{{record_type!r}: {{'{record_type}_field': "
            "'column', ...}}"
        )
    required = [name for name, info in known.items() if info.is_required()]
    return {name: name for name in [*seen, *(r for r in required if r not in seen)]}


def _row_columns(rows: Sequence[Any]) -> Iterator[str]:
    for row in rows:
        if isinstance(row, Mapping):
            yield from (str(k) for k in row)


class Sources:
    """The sources of a test run, built one call at a time; each call returns the builder.

    Example::

        sources = Sources().records(
            "billing",
            account=[{"account_id": "AC-1", "name": "LEE, ANN", "autopay": True}],
            payment=[{"payment_id": "P-1", "account_id": "AC-1", "amount": 50,
                      "attempted_at": "2026-10-02T09:00:00Z", "status": "failed"}],
        ).yaml('''
            crm:
              contact:
                - {contact_id: C-1, given_name: Ann, family_name: Lee}
        ''')

    ``sources.config()`` is the ``sources:`` mapping of a configuration, for
    :func:`reconcile.parse_config`.
    """

    def __init__(self) -> None:
        self._sources: dict[str, dict[str, Any]] = {}

    # --- adding sources --------------------------------------------------------------

    def records(
        self,
        name: str,
        /,
        *,
        fields: Mapping[str, Mapping[str, Any]] | None = None,
        options: Mapping[str, Any] | None = None,
        **streams: Iterable[Mapping[str, Any]],
    ) -> Sources:
        """Add a ``records`` source: record type -> rows, one dict each.

        Args:
            name: The source's name (it appears in findings, health and quarantine).
            fields: Record type -> field mapping, for rows in the source's own
                shape; a type not listed maps its canonical fields onto
                columns of the same name.
            options: Other keys of the source, such as ``max_quarantine_fraction``.
            **streams: Record type -> rows, such as ``account=[{...}]``.

        Raises:
            ValueError: the name is taken, no stream is given, or rows of a
                type without a mapping have a column that is not a canonical field.
            KeyError: an unknown record type.
        """
        built = {}
        for record_type, given in streams.items():
            if isinstance(given, str | bytes | Mapping):
                raise ValueError(
                    f"source {name!r}: {record_type} must be a list of rows (dicts), "
                    f"not {type(given).__name__}"
                )
            rows = list(given)
            mapping = (fields or {}).get(record_type)
            if mapping is None:
                mapping = _identity_fields(name, record_type, _row_columns(rows))
            built[record_type] = {"records": rows, "fields": dict(mapping)}
        return self._add(name, "records", built, fields, options)

    def frame(
        self,
        name: str,
        /,
        *,
        fields: Mapping[str, Mapping[str, Any]] | None = None,
        options: Mapping[str, Any] | None = None,
        **streams: pd.DataFrame,
    ) -> Sources:
        """Add a ``dataframe`` source: record type -> pandas DataFrame.

        Columns named as canonical fields need no mapping; see :meth:`records`
        for ``fields`` and ``options``.
        """
        built = {}
        for record_type, frame in streams.items():
            mapping = (fields or {}).get(record_type)
            if mapping is None:
                mapping = _identity_fields(name, record_type, (str(c) for c in frame.columns))
            built[record_type] = {"frame": frame, "fields": dict(mapping)}
        return self._add(name, "dataframe", built, fields, options)

    def yaml(self, text: str) -> Sources:
        """Add the sources written in a YAML snippet.

        Each top-level key is a source. Its value is either record type ->
        rows (inline records, optionally with ``fields`` and ``options`` as
        in :meth:`records`), or a whole source configuration with a ``kind``,
        as under ``sources:`` in ``reconcile.yaml`` (relative paths are
        relative to the run's ``base_dir``)::

            billing:
              account:
                - {account_id: AC-1, name: "LEE, ANN", email: ann@example.com}
            crm:
              kind: csv
              streams:
                contact: {path: contacts.csv, fields: {contact_id: id, name: name}}

        The snippet may be indented as a whole (a triple-quoted string in a test).
        """
        import textwrap

        import yaml

        data = yaml.safe_load(textwrap.dedent(text))
        if not isinstance(data, Mapping) or not data:
            raise ValueError(
                "the YAML snippet must be a mapping of source names to sources, such as\n"
                "billing:\n  account:\n    - {account_id: AC-1, name: Ann Lee}"
            )
        for name, value in data.items():
            if not isinstance(value, Mapping):
                raise ValueError(
                    f"source {name!r}: expected record type -> rows, or a source with a kind; "
                    f"got {type(value).__name__}"
                )
            if "kind" in value:
                self.source(str(name), value)
                continue
            streams = {k: v for k, v in value.items() if k not in _INLINE_KEYS}
            self.records(str(name), fields=value.get("fields"), options=value.get("options"), **streams)
        return self

    def source(self, name: str, config: Mapping[str, Any]) -> Sources:
        """Add a source as it is written under ``sources:`` (any adapter kind)."""
        if name in self._sources:
            raise ValueError(self._taken(name))
        self._sources[name] = dict(config)
        return self

    # --- reading them back -----------------------------------------------------------

    def config(self) -> dict[str, dict[str, Any]]:
        """The ``sources:`` mapping of a configuration (copies of the source mappings)."""
        return {name: dict(source) for name, source in self._sources.items()}

    @property
    def names(self) -> list[str]:
        return list(self._sources)

    def __contains__(self, name: object) -> bool:
        return name in self._sources

    def __len__(self) -> int:
        return len(self._sources)

    def __iter__(self) -> Iterator[str]:
        return iter(self._sources)

    def __repr__(self) -> str:
        parts = []
        for name, source in self._sources.items():
            streams = ", ".join(source.get("streams", {}))
            parts.append(f"{name} ({source.get('kind')}: {streams})")
        return f"Sources({'; '.join(parts)})"

    # --- helpers ---------------------------------------------------------------------

    @staticmethod
    def _taken(name: str) -> str:
        return (
            f"source {name!r} is already defined; give each source its own name, "
            "or give all its record types in one call"
        )

    def _add(
        self,
        name: str,
        kind: str,
        streams: dict[str, Any],
        fields: Mapping[str, Any] | None,
        options: Mapping[str, Any] | None,
    ) -> Sources:
        if not streams:
            raise ValueError(
                f"source {name!r} has no streams; give rows per record type, such as "
                f"account=[{{'account_id': 'AC-1'}}]"
            )
        unused = sorted(set(fields or {}) - set(streams))
        if unused:
            raise ValueError(
                f"source {name!r}: fields are given for {unused}, which have no rows; "
                f"the source's record types are {sorted(streams)}"
            )
        options = dict(options or {})
        clash = sorted({"kind", "streams"} & set(options))
        if clash:
            raise ValueError(f"source {name!r}: options cannot set {clash}")
        return self.source(name, {"kind": kind, **options, "streams": streams})


def _rule_config(rule: Mapping[str, Any] | Rule) -> dict[str, Any]:
    """A rule as a configuration entry; a Rule object of an unregistered class by import path."""
    if isinstance(rule, Mapping):
        return dict(rule)
    from reconcile.rules.base import Rule
    from reconcile.rules.registry import rule_classes

    if not isinstance(rule, Rule):
        raise TypeError(
            f"a rule is a mapping (as written in reconcile.yaml) or a reconcile.Rule, "
            f"not {type(rule).__name__}"
        )
    data = rule.model_dump(mode="json")
    cls = type(rule)
    if rule_classes().get(rule.kind) is not cls:
        if "<locals>" in cls.__qualname__:
            raise ValueError(
                f"{cls.__qualname__} is defined inside a function, so a configuration cannot "
                "name it; define the rule class at module level, or register it in the "
                "reconcile.rules entry-point group"
            )
        data["kind"] = f"{cls.__module__}:{cls.__qualname__}"
    return data


def _rules_config(
    rules: str | Sequence[Mapping[str, Any] | Rule] | None,
) -> list[dict[str, Any]]:
    if rules is None:
        return []
    if isinstance(rules, str):
        import textwrap

        import yaml

        loaded = yaml.safe_load(textwrap.dedent(rules))
        if isinstance(loaded, Mapping) and set(loaded) == {"rules"}:
            loaded = loaded["rules"]
        if not isinstance(loaded, list):
            raise ValueError(
                "rules written as YAML must be a list of rules (or a mapping with 'rules:'), "
                "such as\n- {id: account_without_contact, kind: missing_in, owner: crm, ...}"
            )
        return [dict(r) if isinstance(r, Mapping) else r for r in loaded]
    return [_rule_config(rule) for rule in rules]


def _store_url(store: Store | str) -> str:
    if isinstance(store, str):
        return store
    url = store.engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        raise ValueError(
            "a run cannot use an in-memory store: it opens its own connection, which would see "
            "another, empty database. Use a store in a file (the reconcile_store fixture's "
            "default) to follow findings across runs"
        )
    return url.render_as_string(hide_password=False)


def run_sources(
    sources: Sources | Mapping[str, Mapping[str, Any]],
    *,
    rules: str | Sequence[Mapping[str, Any] | Rule] | None = None,
    packs: Sequence[str] = (),
    as_of: dt.datetime | str | None = FIXED_AS_OF,
    matching: Mapping[str, Any] | None = None,
    store: Store | str | None = None,
    reports: Sequence[str] = (),
    base_dir: str | Path | None = None,
    config: Mapping[str, Any] | None = None,
) -> RunResult:
    """Run the whole engine over ``sources`` at a fixed as-of time.

    Args:
        sources: A :class:`Sources` builder, or the ``sources:`` mapping of a configuration.
        rules: Rules as in ``reconcile.yaml`` (a list of mappings, or YAML
            text), or :class:`reconcile.Rule` objects (one whose class is not
            registered is named by its import path).
        packs: Shipped rule packs to include (``telecom``, ``payments``...).
        as_of: The run's reference time (default :data:`FIXED_AS_OF`; None: now).
        matching: The ``matching:`` section (default: the shipped defaults).
        store: A :class:`reconcile.Store` in a file or on a server, or its URL,
            to remember findings across runs (statuses new, open, resolved,
            reopened); None runs without a store (statuses are None).
        reports: Report formats to write (``json``, ``html``, ``csv``,
            ``junit``), into ``base_dir/reports``; ``result.reports`` has the paths.
        base_dir: Where relative paths resolve (files of sources, reports);
            default: the working directory.
        config: Other top-level keys of the configuration, such as
            ``{"normalise": {"default_region": "GB"}}``.

    Returns:
        The run's result, as :func:`reconcile.run` returns it.

    Raises:
        reconcile.ConfigError: the configuration is invalid (every problem listed).
        reconcile.RunError: a source is unhealthy or a stage failed.
    """
    from reconcile.config import parse_config
    from reconcile.pipeline import run

    if isinstance(as_of, str):
        as_of = dt.datetime.fromisoformat(as_of)
    if as_of is not None and as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    data: dict[str, Any] = dict(config or {})
    data["sources"] = sources.config() if isinstance(sources, Sources) else dict(sources)
    data["rule_packs"] = list(packs)
    data["rules"] = _rules_config(rules)
    if matching is not None:
        data["matching"] = dict(matching)
    if store is not None:
        data["store"] = {**dict(data.get("store", {})), "url": _store_url(store)}
    if reports:
        data["reports"] = {**dict(data.get("reports", {})), "formats": list(reports)}
    parsed = parse_config(
        data, origin="reconcile_run", base_dir=Path(base_dir) if base_dir is not None else None
    )
    return run(
        parsed,
        as_of=as_of,
        persist=store is not None,
        write_reports=bool(reports),
    )
