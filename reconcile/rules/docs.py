"""Reference pages for rule kinds, written from the rule classes themselves.

Every rule kind's page in ``docs/rules/`` is rendered from its class: the
docstring (what it reports and what it does not), its parameters with their
types and defaults, the facts its story template may use, its default story,
an example finding (its ``example`` world evaluated by the rule itself, so
the finding shown is what the code produces), and the rules of the shipped
packs that use it. A test renders the pages again and compares them with the
files, so the docs cannot drift from the code. Third-party rule authors can
render pages for their own kinds the same way::

    python -m reconcile.rules.docs docs/rules
"""

from __future__ import annotations

import inspect
import json
import re
import sys
import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from reconcile.model import RECORD_TYPES
from reconcile.packs import available, load_yaml_pack
from reconcile.rules.base import Rule

__all__ = ["render_index", "render_rule_page", "write_pages"]

_COMMON = ("id", "kind", "severity", "owner", "description", "enabled", "grace")
_HEADER = "<!-- Written by `python -m reconcile.rules.docs docs/rules`; edit the rule's docstring instead. -->\n"


def _split_doc(cls: type[Rule]) -> tuple[str, str, dict[str, str]]:
    """(summary, body, {attribute: description}) of a class docstring."""
    doc = inspect.getdoc(cls) or cls.__name__
    summary, _, rest = doc.partition("\n")
    body, _, attributes = rest.partition("\nAttributes:\n")
    described: dict[str, str] = {}
    current = None
    for line in attributes.splitlines():
        match = re.match(r"^    (\w+): (.*)$", line)
        if match:
            current = match.group(1)
            described[current] = match.group(2).strip()
        elif current and line.startswith("        "):
            described[current] += " " + line.strip()
    return summary.strip(), body.strip(), described


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _type_name(args[0])
    if origin is typing.Literal:
        if set(args) == set(RECORD_TYPES):
            return "record type"
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_type_name(a) for a in args)}]"
    if annotation is type(None):
        return "None"
    if getattr(annotation, "__name__", "") == "timedelta":
        return "duration"
    return str(getattr(annotation, "__name__", annotation))


def _default(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if hasattr(value, "total_seconds"):
        seconds = int(value.total_seconds())
        if seconds % 86400 == 0:
            days = seconds // 86400
            return f"`{days} day{'s' if days != 1 else ''}`"
        return f"`{seconds // 3600} hours`" if seconds % 3600 == 0 else f"`{seconds} seconds`"
    if hasattr(value, "value"):
        value = value.value
    return f"`{yaml.safe_dump(value, default_flow_style=True).strip().removesuffix('...').strip()}`"


def _pack_rules(kind: str) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for pack in available("rules"):
        _, data = load_yaml_pack("rules", pack)
        for rule in (data or {}).get("rules", []):
            if rule.get("kind") == kind:
                found.append((pack, rule))
    return found


def render_rule_page(kind: str, cls: type[Rule]) -> str:
    """The Markdown reference page of one rule kind."""
    summary, body, described = _split_doc(cls)
    base_described = _split_doc(Rule)[2]
    lines = [_HEADER, f"# `{kind}`", "", f"**{summary}**", "", body, ""]
    lines += ["## Parameters", "", "| Parameter | Type | Default | Meaning |", "|---|---|---|---|"]
    for name, field in cls.model_fields.items():
        if name == "kind":
            continue
        meaning = described.get(name) or base_described.get(name, "")
        meaning = meaning.replace("|", "\\|")
        lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
    lines += [
        "",
        "`grace` is a duration: `36 hours`, `2 days`, `P1D` or a number of seconds.",
        "",
        "## Story",
        "",
        "The finding's one-sentence story, unless the rule sets `description`:",
        "",
        "```text",
        cls.story,
        "```",
        "",
    ]
    facts: dict[str, str] = getattr(cls, "facts", {})
    if facts:
        lines += [
            "Facts a `description` template may use (as `{name}`), besides `rule_id` and `subject`;",
            "they are also kept in the finding's `detail`:",
            "",
        ]
        lines += [f"- `{name}`: {text}" for name, text in facts.items()]
        lines.append("")
    lines += _selection_section(cls)
    lines += _example_section(kind, cls)
    packs = _pack_rules(kind)
    lines += ["## In the shipped packs", ""]
    if packs:
        for pack, rule in packs:
            lines += [f"Pack `{pack}`:", "", "```yaml", yaml.safe_dump([rule], sort_keys=False).rstrip(), "```", ""]
        lines += [
            "## Changing it",
            "",
            "Override any parameter, the severity or the owner by the rule's id, or switch it off:",
            "",
            "```yaml",
            "rules:",
            f"  - id: {packs[0][1]['id']}",
            "    severity: critical",
            "    owner: my-team",
            "  # or, to switch it off:",
            f"  # - id: {packs[0][1]['id']}",
            "  #   enabled: false",
            "```",
            "",
        ]
    else:
        lines += [
            "No shipped pack uses this kind: add rules of it under `rules:` in the configuration, "
            "each with its own `id`" + (", as in the example above." if cls.example else "."),
            "",
        ]
    return "\n".join(lines)


def _nested_models(cls: type[Rule]) -> list[type[BaseModel]]:
    """The configuration models a kind's parameters are made of (a selection, a filter...)."""
    found: list[type[BaseModel]] = []

    def walk(annotation: Any) -> None:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and annotation not in found:
            found.append(annotation)
            for field in annotation.model_fields.values():
                walk(field.annotation)
        for arg in typing.get_args(annotation):
            walk(arg)

    for name, field in cls.model_fields.items():
        if name not in _COMMON:
            walk(field.annotation)
    return found


def _selection_section(cls: type[Rule]) -> list[str]:
    """What the parameters made of configuration models (``present: {type: ...}``) accept."""
    models = _nested_models(cls)
    if not models:
        return []
    lines = ["## Writing the parameters", ""]
    for model in models:
        summary, body, described = _split_doc(model)  # type: ignore[arg-type]
        lines += [f"### `{model.__name__}`", "", summary, ""]
        if body:
            lines += [body, ""]
        lines += ["| Key | Type | Default | Meaning |", "|---|---|---|---|"]
        for name, field in model.model_fields.items():
            meaning = described.get(name, "").replace("|", "\\|")
            lines.append(f"| `{name}` | {_type_name(field.annotation)} | {_default(field)} | {meaning} |")
        lines.append("")
    return lines


def _fields_text(fields: dict[str, Any]) -> str:
    shown = [f"`{k}: {v}`" for k, v in fields.items() if v is not None]
    return ", ".join(shown).replace("|", "\\|")


def _rule_yaml(config: dict[str, Any]) -> str:
    """``rules:`` with one rule, a key per line, nested values in flow style where short."""
    lines = ["rules:"]
    for position, (key, value) in enumerate(config.items()):
        flow = None if isinstance(value, dict | list) else False
        dumped = yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=flow, width=100).rstrip()
        for number, line in enumerate(dumped.splitlines()):
            lead = "  - " if position == 0 and number == 0 else "    "
            lines.append(lead + line)
    return "\n".join(lines)


def _example_section(kind: str, cls: type[Rule]) -> list[str]:
    """The kind's example world, the rule, and the finding the rule gives on it."""
    example = getattr(cls, "example", None)
    if example is None:
        return []
    findings = example.findings(cls)
    if not findings:
        raise ValueError(f"the example of {kind} ({cls.__name__}.example) gives no finding")
    finding = findings[0]
    config = _rule_yaml(example.config(kind))
    records = yaml.safe_dump(
        {t: [dict(r) for r in rows] for t, rows in example.records.items()},
        sort_keys=False, default_flow_style=None, width=100,
    ).rstrip()
    moment = example.as_of.strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Example",
        "",
        "This rule:",
        "",
        "```yaml",
        config,
        "```",
        "",
    ]
    if example.before:
        names = ", ".join(f"`{c['id']}`" for c in example.before)
        lines += [f"evaluated together with {names} (whose findings it reads),", ""]
    lines += [
        f"on these records of one customer, as of {moment}:",
        "",
        "```yaml",
        records,
        "```",
        "",
        f"finds{' (first of ' + str(len(findings)) + ')' if len(findings) > 1 else ''}:",
        "",
        f"> {finding.story}",
        "",
        "| Role | System | Record | Fields |",
        "|---|---|---|---|",
    ]
    for record in finding.records:
        shown = f"{record.record_type.replace('_', ' ')} {record.key}"
        lines.append(f"| {record.role or ''} | {record.source} | {shown} | {_fields_text(record.fields)} |")
    lines += [
        "",
        "with these facts in its `detail`:",
        "",
        "```json",
        json.dumps(finding.detail, indent=2, ensure_ascii=False),
        "```",
        "",
    ]
    return lines


def render_index(classes: dict[str, type[Rule]]) -> str:
    """The index page: every kind with its one-line summary."""
    lines = [
        _HEADER,
        "# Rule kinds",
        "",
        "A rule is configured in YAML with an `id`, a `kind`, a `severity` (info, low,",
        "medium, high, critical), an `owner` (the team that should act), an optional",
        "`description` (the story template), `enabled`, a `grace` window for timing",
        "differences between systems' extracts, and the kind's parameters. See",
        "[configuration](../configuration.md) for packs and overrides.",
        "",
    ]
    from reconcile.rules.generic import GENERIC_RULES

    generic = {k: c for k, c in classes.items() if c in GENERIC_RULES}
    stories = {k: c for k, c in classes.items() if c not in GENERIC_RULES}
    if generic:
        lines += [
            "## Generic kinds",
            "",
            "Checks you write in YAML without code: select records (a type, sources, filters such as",
            "`{field: status, op: in, value: [active]}`, a time field) and say how they must agree",
            "within one customer.",
            "",
            "| Kind | Reports |",
            "|---|---|",
        ]
        lines += [f"| [`{kind}`]({kind}.md) | {_split_doc(cls)[0]} |" for kind, cls in sorted(generic.items())]
        lines += ["", "## Story kinds", "", "One per customer story; several are generic kinds with fixed settings.", ""]
    lines += ["| Kind | Reports |", "|---|---|"]
    lines += [f"| [`{kind}`]({kind}.md) | {_split_doc(cls)[0]} |" for kind, cls in sorted(stories.items())]
    lines.append("")
    if generic:
        lines += ["To write a kind of your own in Python, see [custom rules](../custom-rules.md).", ""]
    return "\n".join(lines)


def _builtin_classes() -> dict[str, type[Rule]]:
    from reconcile.rules.registry import rule_classes

    return {k: c for k, c in rule_classes().items() if c.__module__.startswith("reconcile.")}


def write_pages(directory: str | Path, classes: dict[str, type[Rule]] | None = None) -> list[Path]:
    """Write ``index.md`` and one page per kind into ``directory``; return the paths."""
    classes = classes if classes is not None else _builtin_classes()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / "index.md"]
    written[0].write_text(render_index(classes), encoding="utf-8")
    for kind, cls in sorted(classes.items()):
        path = directory / f"{kind}.md"
        path.write_text(render_rule_page(kind, cls), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover - exercised through the docs test
    for page in write_pages(sys.argv[1] if len(sys.argv) > 1 else "docs/rules"):
        print(page)
