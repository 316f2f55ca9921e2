"""The example packages under docs/examples/ are the docs' code, and each is a package of its own.

The adapter and rule packages are the complete examples of
docs/testing-adapters.md and docs/custom-rules.md: every ``# file:`` block
of the page is that file of the package, byte for byte, so what the docs
show is what .ci/examples.sh installs and tests. The packages' suites are run
by .ci/examples.sh (each in its own environment), not here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"

FROM_DOCS = {
    "reconcile-fixedwidth": "testing-adapters.md",
    "reconcile-refunds": "custom-rules.md",
}


def _blocks(page: str) -> dict[str, str]:
    text = (ROOT / "docs" / page).read_text(encoding="utf-8")
    return {name: f"# file: {name}\n{body}" for name, body in
            re.findall(r"```(?:python|toml)\n# file: (\S+)\n(.*?)```", text, re.S)}


@pytest.mark.parametrize("example", sorted(FROM_DOCS))
def test_the_example_package_is_the_doc_code(example: str) -> None:
    page = FROM_DOCS[example]
    blocks = _blocks(page)
    assert blocks, f"docs/{page} has no '# file:' blocks"
    stale = [name for name, body in blocks.items()
             if not (EXAMPLES / example / name).is_file()
             or (EXAMPLES / example / name).read_text(encoding="utf-8") != body]
    assert not stale, (
        f"docs/examples/{example}: {stale} differ from their '# file:' blocks in docs/{page}; "
        "the example package is the doc's code: copy the block into the file (or the file into the doc)"
    )


@pytest.mark.parametrize("example", sorted(p.parent.name for p in EXAMPLES.glob("*/pyproject.toml")))
def test_each_example_is_an_installable_package_with_tests(example: str) -> None:
    folder = EXAMPLES / example
    project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["build-system"]["build-backend"] == "hatchling.build"
    assert "reconcile-engine" in project["project"]["dependencies"]
    assert any("pytest" in d for d in project["project"]["optional-dependencies"]["test"])
    assert list((folder / "tests").glob("test_*.py")), f"{example} has no tests"
    for group, entries in project["project"].get("entry-points", {}).items():
        assert group in ("reconcile.adapters", "reconcile.rules"), group
        for kind, target in entries.items():
            module, _, name = target.partition(":")
            source = (folder / (module.replace(".", "/") + ".py")).read_text(encoding="utf-8")
            assert re.search(rf'kind: (ClassVar\[str\]|Literal\["{kind}"\]) = "{kind}"', source), (
                f"{example}: entry point {kind!r} must be the kind {name} declares"
            )


def test_the_ci_script_runs_every_example() -> None:
    script = (ROOT / ".ci" / "examples.sh").read_text(encoding="utf-8")
    assert "docs/examples/*/" in script and 'pip install' in script and "pytest" in script


def test_the_testing_guide_quotes_the_examples_as_they_are() -> None:
    """Every test function docs/testing.md shows is in an example package, word for word."""
    guide = (ROOT / "docs" / "testing.md").read_text(encoding="utf-8")
    sources = [p.read_text(encoding="utf-8") for p in EXAMPLES.glob("*/tests/*.py")]
    quoted = 0
    for block in re.findall(r"```python\n(.*?)```", guide, re.S):
        start = re.search(r"^(@|def test_)", block, re.M)
        if start is None or "def test_" not in block:
            continue
        excerpt = block[start.start():]
        assert any(excerpt in source for source in sources), f"docs/testing.md quotes code no example has:\n{excerpt}"
        quoted += 1
    assert quoted >= 3
