"""The pytest plugin, as a user's suite sees it: fixtures, options, failure output, and no cost unused."""

from __future__ import annotations

import subprocess
import sys
from importlib import metadata

import pytest

pytest_plugins = ["pytester"]

RULES = '''
RULES = """
- id: account_without_contact
  kind: missing_in
  owner: crm-team
  present: {type: account}
  absent: {type: contact}
"""
'''

WORLD = '''
def world(reconcile_sources):
    reconcile_sources.records("billing", account=[
        {"account_id": "AC-1", "name": "LEE, ANN", "email": "ann@example.com"},
        {"account_id": "AC-2", "name": "STONE, BOB", "email": "bob@example.com"},
    ]).yaml("""
        crm:
          contact:
            - {contact_id: C-1, given_name: Ann, family_name: Lee, email: ann@example.com}
    """)
'''


@pytest.fixture(autouse=True, scope="module")
def _engine_loaded() -> None:
    """Load every module a run needs before pytester runs suites in this process.

    Pytester drops the modules an in-process run imported; numpy cannot be
    imported twice in one process, so they must be there before the first run.
    """
    from reconcile.testing import Sources, run_sources

    run_sources(Sources().records("billing", account=[{"account_id": "AC-1", "name": "Ann Lee"}]),
                rules=[{"id": "x", "kind": "missing_in", "owner": "o", "present": {"type": "account"},
                        "absent": {"type": "contact"}}])


def test_the_plugin_is_registered_through_the_pytest11_entry_point() -> None:
    (entry,) = [ep for ep in metadata.entry_points(group="pytest11") if ep.name == "reconcile"]
    assert entry.value == "reconcile.testing.plugin"


def test_fixtures_run_the_engine_at_the_fixed_time(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULES + WORLD + '''
import datetime as dt
from reconcile.testing import assert_findings, assert_no_findings

def test_missing_contact(reconcile_sources, reconcile_run, reconcile_as_of):
    world(reconcile_sources)
    result = reconcile_run(rules=RULES)
    assert result.as_of == reconcile_as_of == dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
    assert_findings(result, kind="missing_in", subject="AC-2", count=1)
    assert_no_findings(result, min_severity="high")

def test_lifecycle_in_the_store(reconcile_sources, reconcile_run, reconcile_store):
    world(reconcile_sources)
    assert_findings(reconcile_run(rules=RULES, store=reconcile_store), status="new", count=1)
    assert_findings(reconcile_run(rules=RULES, store=reconcile_store), status="open", count=1)
    assert len(reconcile_store.open_findings()) == 1
    assert reconcile_store.url.endswith("reconcile-store.db")
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_failing_assertion_prints_stories_and_evidence(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(RULES + WORLD + '''
from reconcile.testing import assert_findings

def test_expects_the_wrong_account(reconcile_sources, reconcile_run):
    world(reconcile_sources)
    assert_findings(reconcile_run(rules=RULES), kind="missing_in", subject="AC-1")
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        "E * AssertionError: expected at least 1 finding with kind='missing_in', subject='AC-1'; found 0.",
        "E * The run's 1 finding(s):",
        "E *   [[]medium[]] missing_in: rule 'account_without_contact', owner 'crm-team', subject billing:account:AC-2",
        "E *     story: billing account AC-2 has no contact for the same customer (there is none).",
        "E *     evidence:",
        "E *       billing:",
        "E *         account AC-2 (present): account_id='AC-2'",
    ])
    # The assertion's own frames are hidden: the traceback ends in the user's test.
    assert "def assert_findings" not in result.stdout.str()


@pytest.mark.parametrize(
    ("how", "args", "ini"),
    [
        ("marker", [], ""),
        ("option", ["--reconcile-store=memory"], ""),
        ("ini", [], "[pytest]\nreconcile_store = memory\n"),
    ],
)
def test_the_store_can_be_kept_in_memory(pytester: pytest.Pytester, how: str, args: list[str], ini: str) -> None:
    if ini:
        pytester.makeini(ini)
    marker = '@pytest.mark.reconcile_store("memory")' if how == "marker" else ""
    pytester.makepyfile(f'''
import pytest

{marker}
def test_memory(reconcile_store):
    assert reconcile_store.url == "sqlite://"
    assert reconcile_store.runs() == []

@pytest.mark.reconcile_store("file")
def test_file(reconcile_store):
    assert reconcile_store.url.endswith("reconcile-store.db")
''')
    pytester.runpytest("-p", "no:cacheprovider", *args).assert_outcomes(passed=2)


def test_an_unknown_store_kind_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import pytest

@pytest.mark.reconcile_store("postgres")
def test_it(reconcile_store):
    pass
''')
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*@pytest.mark.reconcile_store: 'postgres' is not one of file, memory*"])
    assert pytester.runpytest("--reconcile-store=disk").ret == pytest.ExitCode.USAGE_ERROR


def test_a_conftest_can_move_the_as_of_time(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('''
import datetime as dt
import pytest

@pytest.fixture
def reconcile_as_of():
    return dt.datetime(2027, 1, 1, tzinfo=dt.UTC)
''')
    pytester.makepyfile(WORLD + '''
def test_it(reconcile_sources, reconcile_run):
    world(reconcile_sources)
    assert reconcile_run().as_of.year == 2027
    assert reconcile_run(as_of="2026-05-01T00:00:00Z").as_of.month == 5
''')
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_help_lists_the_option_and_the_plugin_can_be_disabled(pytester: pytest.Pytester) -> None:
    pytester.runpytest("--help").stdout.fnmatch_lines(["*--reconcile-store=*"])
    pytester.makepyfile('''
def test_it(reconcile_store):
    pass
''')
    result = pytester.runpytest("-p", "no:reconcile", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*fixture 'reconcile_store' not found*"])


def test_a_suite_that_does_not_use_the_plugin_loads_nothing_of_reconcile(pytester: pytest.Pytester) -> None:
    pytester.makepyfile('''
import sys

def test_nothing_heavy_was_imported():
    heavy = [m for m in ("pandas", "numpy", "pydantic", "sqlalchemy", "yaml", "reconcile.pipeline",
                         "reconcile.model", "reconcile.testing.adapters", "reconcile.testing.rules")
             if m in sys.modules]
    assert heavy == []
    assert "reconcile.testing.plugin" in sys.modules
''')
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_importing_the_plugin_is_cheap() -> None:
    code = (
        "import sys, reconcile.testing.plugin\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pandas', 'numpy', 'pydantic', 'sqlalchemy', 'yaml', 'hypothesis') or m.startswith('reconcile.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['reconcile._version', 'reconcile.testing', 'reconcile.testing.builders', 'reconcile.testing.plugin']"
