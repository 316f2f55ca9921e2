"""Rule packs and configured rules: merge them, then validate into Rule objects.

A pack is a YAML file shipped in ``rules/`` (``rules/telecom.yaml``)::

    description: Telecom: billing vs provisioning, moves, monitoring.
    rules:
      - id: monitoring_gap
        kind: monitoring_gap
        severity: critical
        owner: service
        offline_hours: 72

A configuration selects packs by name (``rule_packs: [telecom]``) and lists
``rules``. A configured rule whose ``id`` is a selected pack rule's is merged
over it key by key (a key given replaces the pack's value, lists and mappings
included); a rule with a new id must name its ``kind``. A rule with
``enabled: false`` is validated, then dropped.

Every problem is collected and raised at once as a
:class:`~reconcile.errors.ConfigError`, each with the location of the value
at fault: ``reconcile.yaml: rules[1].offline_hours`` for a value the
configuration wrote, ``rule 'monitoring_gap' (pack telecom).offline_hours``
for one that came from a pack.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from reconcile.errors import ConfigError, PluginError
from reconcile.packs import available, load_yaml_pack
from reconcile.rules.base import Rule
from reconcile.rules.registry import (
    is_import_path,
    rule_class_from_path,
    rule_classes,
    rule_union_adapter,
)

__all__ = ["build_rules", "resolve_rule_dicts", "validate_rule"]

Problems = list[tuple[str, str]]


@dataclass
class _Entry:
    """One rule being resolved: its merged keys and where each key was written."""

    rule_id: str
    data: dict[str, Any]
    origin: str  # where the rule as a whole comes from (a location prefix)
    described: str  # the origin for people: "rule 'x' (pack telecom), changed by reconcile.yaml: rules[0]"
    key_origins: dict[str, str] = field(default_factory=dict)

    def location(self, key: Any) -> str:
        return self.key_origins.get(key, self.origin) if isinstance(key, str) else self.origin


def _config_loc(origin: str | None, path: str) -> str:
    return f"{origin}: {path}" if origin else path


def _pack_entries(packs: Sequence[str], origin: str | None, problems: Problems) -> list[_Entry]:
    entries: list[_Entry] = []
    seen_packs: set[str] = set()
    where: dict[str, str] = {}
    for index, name in enumerate(packs):
        loc = _config_loc(origin, f"rule_packs[{index}]")
        if name in seen_packs:
            problems.append((loc, f"rules pack {name!r} is listed twice"))
            continue
        seen_packs.add(name)
        try:
            path, data = load_yaml_pack("rules", str(name))
        except KeyError:
            shipped = ", ".join(available("rules")) or "none"
            close = difflib.get_close_matches(str(name), available("rules"), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append((loc, f"unknown rules pack {name!r}{hint}; available: {shipped}"))
            continue
        pack_loc = f"rules pack '{name}' ({path.name})"
        if not isinstance(data, Mapping) or not isinstance(data.get("rules"), list):
            problems.append((pack_loc, "a rules pack must be a mapping with a 'rules' list"))
            continue
        for key in data:
            if key not in ("description", "rules"):
                problems.append((f"{pack_loc}.{key}", "unknown key; a pack has 'description' and 'rules'"))
        for position, raw in enumerate(data["rules"]):
            rule_loc = f"{pack_loc}.rules[{position}]"
            if not isinstance(raw, Mapping):
                problems.append((rule_loc, "each rule must be a mapping"))
                continue
            rule_id = raw.get("id")
            if not isinstance(rule_id, str) or not rule_id:
                problems.append((f"{rule_loc}.id", "every rule needs an id"))
                continue
            if rule_id in where:
                problems.append((rule_loc, f"rule id {rule_id!r} is also defined in {where[rule_id]}"))
                continue
            where[rule_id] = f"pack {name}"
            origin_text = f"rule '{rule_id}' (pack {name})"
            entries.append(_Entry(rule_id, dict(raw), origin_text, origin_text))
    return entries


def _unknown_id_hint(rule_id: str, selected: Sequence[str], packs: Sequence[str]) -> str:
    """Why a rule without a kind is not a pack rule: a misspelt id, or a pack not selected."""
    close = difflib.get_close_matches(rule_id, selected, n=1)
    if close:
        return f" (did you mean the pack rule {close[0]!r}?)"
    for name in available("rules"):
        if name in packs:
            continue
        try:
            _, data = load_yaml_pack("rules", name)
        except KeyError:  # pragma: no cover - listed a moment ago
            continue
        ids = [r.get("id") for r in (data or {}).get("rules", []) if isinstance(r, Mapping)]
        if rule_id in ids:
            return f" (it is a rule of pack {name!r}, which rule_packs does not include)"
    return ""


def _resolve(
    packs: Sequence[str], rules: Sequence[Any], origin: str | None, problems: Problems
) -> list[_Entry]:
    entries = _pack_entries(packs, origin, problems)
    by_id = {e.rule_id: e for e in entries}
    pack_ids = list(by_id)
    user_ids: dict[str, str] = {}
    for index, raw in enumerate(rules):
        loc = _config_loc(origin, f"rules[{index}]")
        if not isinstance(raw, Mapping):
            problems.append((loc, "each rule must be a mapping with at least an 'id'"))
            continue
        rule_id = raw.get("id")
        if not isinstance(rule_id, str) or not rule_id:
            problems.append((f"{loc}.id", "required: every rule needs an id"))
            continue
        if rule_id in user_ids:
            problems.append((f"{loc}.id", f"rule id {rule_id!r} is also used by {user_ids[rule_id]}"))
            continue
        user_ids[rule_id] = loc
        base = by_id.get(rule_id)
        if base is None:
            if "kind" not in raw:
                problems.append(
                    (
                        f"{loc}.kind",
                        f"a new rule needs a kind: no selected pack has a rule {rule_id!r}"
                        + _unknown_id_hint(rule_id, pack_ids, packs),
                    )
                )
                continue
            entry = _Entry(rule_id, dict(raw), loc, loc)
            by_id[rule_id] = entry
            entries.append(entry)
            continue
        if "kind" in raw and raw["kind"] != base.data.get("kind"):
            problems.append(
                (
                    f"{loc}.kind",
                    f"{base.origin} is of kind {base.data.get('kind')!r}; a rule of another kind "
                    "needs a new id",
                )
            )
            continue
        for key in raw:
            base.key_origins[key] = loc
        base.data = {**base.data, **raw}
        base.described = f"{base.origin}, changed by {loc}"
    return entries


def resolve_rule_dicts(
    packs: Sequence[str], rules: Sequence[Mapping[str, Any]], origin: str | None = None
) -> list[tuple[str, dict[str, Any]]]:
    """Merge the configured rules over the selected packs' rules.

    Args:
        packs: Names of shipped rule packs (``telecom``), in order.
        rules: Configured rules; each merged over the pack rule with its id, or new.
        origin: Name of the configuration file, prefixed to locations.

    Returns:
        ``(origin, rule dict)`` per rule, pack rules first in pack order, then
        new rules in configuration order; the origin reads like
        ``"rule 'monitoring_gap' (pack telecom), changed by reconcile.yaml: rules[0]"``.

    Raises:
        ConfigError: an unknown pack, a rule without an id, a new rule without
            a kind, a duplicate id; every problem at once.
    """
    problems: Problems = []
    entries = _resolve(packs, rules, origin, problems)
    if problems:
        raise ConfigError(problems)
    return [(e.described, e.data) for e in entries]


def _loc(parts: Sequence[Any]) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


def _allowed_kinds() -> str:
    return ", ".join(rule_classes())


def _explain(error: Mapping[str, Any], cls: type[Rule] | None) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        name = str(error["loc"][-1]) if error["loc"] else ""
        if cls is None:
            return "unknown key (misspelt?)"
        allowed = [k for k in cls.model_fields if k != "kind"]
        close = difflib.get_close_matches(name, allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"unknown key for kind {cls.model_fields['kind'].default!r}{hint} (allowed: {', '.join(allowed)})"
    if kind == "missing":
        return "required field missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str | int | float | bool) or value is None:
        message += f"; got {value!r}"
    return message


def validate_rule(data: Mapping[str, Any]) -> Rule:
    """Validate one rule configuration into its kind's Rule object.

    ``kind`` is a registered kind, or an import path ``package.module:Class``
    of a Rule subclass (validated with that class's own kind).

    Raises:
        pydantic.ValidationError: the configuration does not fit the kind.
        PluginError: the import path cannot be loaded or is not a Rule.
        KeyError: the kind is neither registered nor an import path.
    """
    kind = data.get("kind")
    if is_import_path(kind):
        cls = rule_class_from_path(str(kind))
        return cls.model_validate({**data, "kind": cls.model_fields["kind"].default})
    if kind not in rule_classes():
        raise KeyError(kind)
    return rule_union_adapter().validate_python(dict(data))


def _validate(entry: _Entry, problems: Problems) -> Rule | None:
    kind = entry.data.get("kind")
    kind_loc = f"{entry.location('kind')}.kind"
    cls: type[Rule] | None = None
    if is_import_path(kind):
        try:
            cls = rule_class_from_path(str(kind))
        except PluginError as exc:
            problems.append((kind_loc, str(exc)))
            return None
    elif not isinstance(kind, str) or kind not in rule_classes():
        shown = "missing" if kind is None else f"unknown kind {kind!r}"
        close = difflib.get_close_matches(str(kind), list(rule_classes()), n=1) if kind else []
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(
            (kind_loc, f"{shown}{hint}; allowed: {_allowed_kinds()}, or a class as 'package.module:Class'")
        )
        return None
    else:
        cls = rule_classes()[kind]
    try:
        return validate_rule(entry.data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = list(error["loc"])
            if loc and not is_import_path(kind) and loc[0] == kind:
                loc = loc[1:]  # the discriminated union puts the tag first
            where = entry.location(loc[0] if loc else None)
            path = _loc(loc)
            problems.append((f"{where}.{path}" if path else where, _explain(error, cls)))
    return None


def build_rules(
    packs: Sequence[str], rules: Sequence[Mapping[str, Any]], origin: str | None = None
) -> list[Rule]:
    """Merge packs and configured rules, validate them, and drop disabled ones.

    Args:
        packs: Names of shipped rule packs, in order.
        rules: Configured rules (see :func:`resolve_rule_dicts`).
        origin: Name of the configuration file, prefixed to locations.

    Returns:
        The enabled rules, pack rules first in pack order, then new rules.

    Raises:
        ConfigError: every problem at once, each as ``(location, message)``.
    """
    problems: Problems = []
    entries = _resolve(packs, rules, origin, problems)
    built: list[Rule] = []
    for entry in entries:
        rule = _validate(entry, problems)
        if rule is not None and rule.enabled:
            built.append(rule)
    if problems:
        raise ConfigError(problems)
    return built
