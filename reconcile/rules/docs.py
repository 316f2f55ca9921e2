"""Reference pages for rule kinds, written from the rule classes themselves.

Every rule kind's page in ``docs/rules/`` is rendered from its class: the
docstring (what it reports and what it does not), its parameters with their
types and defaults, the facts its story template may use, its default story,
and the rules of the shipped packs that use it. A test renders the pages again
and compares them with the files, so the docs cannot drift from the code.
Third-party rule authors can render pages for their own kinds the same way::

    python -m reconcile.rules.docs docs/rules
"""

from __future__ import annotations

import inspect
import re
import sys
from pathlib import Path
from typing import Any

import yaml

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
    text = getattr(annotation, "__name__", None) if not hasattr(annotation, "__args__") else None
    text = text or str(annotation)
    text = re.sub(r"typing\.|<class '([^']+)'>", lambda m: m.group(1) or "", text)
    text = re.sub(r"\btimedelta\b", "duration", text.replace("datetime.", ""))
    return text.replace("NoneType", "None").replace("|", "or")


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
    packs = _pack_rules(kind)
    lines += ["## In the shipped packs", ""]
    if packs:
        for pack, rule in packs:
            lines += [f"Pack `{pack}`:", "", "```yaml", yaml.safe_dump([rule], sort_keys=False).rstrip(), "```", ""]
    else:
        lines += ["No shipped pack uses this kind; add a rule of it under `rules:`.", ""]
    lines += [
        "## Changing it",
        "",
        "Override any parameter, the severity or the owner by the rule's id, or switch it off:",
        "",
        "```yaml",
        "rules:",
        f"  - id: {packs[0][1]['id'] if packs else kind}",
        "    severity: critical",
        "    owner: my-team",
        "  # or, to switch it off:",
        f"  # - id: {packs[0][1]['id'] if packs else kind}",
        "  #   enabled: false",
        "```",
        "",
    ]
    return "\n".join(lines)


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
        "| Kind | Reports |",
        "|---|---|",
    ]
    for kind, cls in sorted(classes.items()):
        lines.append(f"| [`{kind}`]({kind}.md) | {_split_doc(cls)[0]} |")
    lines.append("")
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
