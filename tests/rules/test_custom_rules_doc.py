"""The third-party rule package in docs/custom-rules.md, written out and run as its author would."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "custom-rules.md"


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The doc's files, importable, with the metadata ``pip install -e .`` would leave."""
    text = DOC.read_text(encoding="utf-8")
    files = dict(re.findall(r"```(?:python|toml)\n# file: (\S+)\n(.*?)```", text, re.S))
    assert set(files) == {"reconcile_refunds/rules.py", "pyproject.toml", "tests/test_rules.py"}
    project = tmp_path_factory.mktemp("reconcile-refunds")
    for name, body in files.items():
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(body, encoding="utf-8")
    (project / "reconcile_refunds" / "__init__.py").write_text("", encoding="utf-8")
    meta = tomllib.loads(files["pyproject.toml"])["project"]
    info = project / "reconcile_refunds-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {meta['name']}\nVersion: {meta['version']}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(
        "".join(
            f"[{group}]\n" + "".join(f"{name} = {value}\n" for name, value in eps.items())
            for group, eps in meta["entry-points"].items()
        ),
        encoding="utf-8",
    )
    return project


def _run(project: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run([sys.executable, *args], cwd=project, env=env, input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_documented_rule_passes_its_contract_and_its_own_test(package: Path) -> None:
    tests = _run(package, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_rules.py")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "8 passed" in tests.stdout, tests.stdout


def test_the_documented_rule_is_listed_as_a_plugin(package: Path) -> None:
    plugins = _run(package, "-m", "reconcile.cli", "plugins")
    assert plugins.returncode == 0, plugins.stdout + plugins.stderr
    assert ["credit_on_closed_account", "reconcile-refunds", "reconcile_refunds.rules:CreditOnClosedAccountRule"] in [
        line.split() for line in plugins.stdout.splitlines()
    ]


def test_the_documented_configuration_uses_it_by_kind_and_by_import_path(package: Path) -> None:
    text = DOC.read_text(encoding="utf-8")
    (config,) = [block for block in re.findall(r"```yaml\n(.*?)```", text, re.S) if "refund_owed" in block]
    script = (
        "import sys, yaml; from reconcile.rules import build_rules; "
        "rules = build_rules([], yaml.safe_load(sys.stdin.read())['rules'], origin='reconcile.yaml'); "
        "print([(r.id, r.kind, type(r).__name__, r.min_credit) for r in rules])"
    )
    built = _run(package, "-c", script, stdin=config)
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip() == (
        "[('refund_owed', 'credit_on_closed_account', 'CreditOnClosedAccountRule', 5.0), "
        "('large_refund_owed', 'credit_on_closed_account', 'CreditOnClosedAccountRule', 500.0)]"
    )
    typo = _run(package, "-c", script, stdin=config.replace("min_credit: 5\n", "min_credt: 5\n"))
    assert typo.returncode != 0
    assert "reconcile.yaml: rules[0].min_credt: unknown key for kind 'credit_on_closed_account'; " \
           "did you mean 'min_credit'?" in typo.stderr


def test_the_documented_class_renders_a_docs_page(package: Path, tmp_path: Path) -> None:
    script = (
        "import sys; from reconcile.rules.docs import write_pages; "
        "from reconcile_refunds.rules import CreditOnClosedAccountRule as C; "
        "write_pages(sys.argv[1], {'credit_on_closed_account': C})"
    )
    rendered = _run(package, "-c", script, str(tmp_path))
    assert rendered.returncode == 0, rendered.stderr
    page = (tmp_path / "credit_on_closed_account.md").read_text(encoding="utf-8")
    assert "| `min_credit` | float | `1.0` | The smallest credit worth a refund. |" in page
