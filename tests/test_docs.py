"""The docs stay true: generated rule pages match the code, links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reconcile.rules.docs import _builtin_classes, render_index, render_rule_page

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_rule_kind_has_its_page_as_the_code_renders_it() -> None:
    classes = _builtin_classes()
    assert len(classes) >= 9
    stale = []
    for kind, cls in classes.items():
        page = DOCS / "rules" / f"{kind}.md"
        if not page.is_file() or page.read_text(encoding="utf-8") != render_rule_page(kind, cls):
            stale.append(kind)
    index = DOCS / "rules" / "index.md"
    if index.read_text(encoding="utf-8") != render_index(classes):
        stale.append("index")
    assert not stale, f"run `python -m reconcile.rules.docs docs/rules`; stale pages: {stale}"


def test_every_parameter_of_every_rule_kind_is_documented() -> None:
    for kind, cls in _builtin_classes().items():
        page = render_rule_page(kind, cls)
        undocumented = [
            name for name in cls.model_fields
            if name != "kind" and not re.search(rf"\| `{name}` \|[^\n]*\| [^|\s][^|]* \|\n", page)
        ]
        assert not undocumented, f"{kind}: parameters without a meaning in the docstring: {undocumented}"


@pytest.mark.parametrize("page", sorted(DOCS.rglob("*.md")), ids=lambda p: str(p.relative_to(DOCS)))
def test_relative_links_point_at_files_that_exist(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target or target.startswith("mailto:"):
            continue
        if not (page.parent / target).exists():
            broken.append(target)
    assert not broken, f"{page.name}: broken links {broken}"
