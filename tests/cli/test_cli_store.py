"""The store's commands: suppress, unsuppress, suppressions, report --run, entity, db."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml
from click.testing import CliRunner

from reconcile.cli import ExitCode, cli
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.report import ReportDocument
from reconcile.results import SourceHealth
from reconcile.store import SCHEMA_REVISION, EntityStory, Store, _migrate
from reconcile.store._store import _create_engine

AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
HEALTH = [SourceHealth(source="billing"), SourceHealth(source="crm")]


def _finding(key: str, severity: str = "high", kind: str = "failed_autopay") -> Finding:
    return Finding(
        rule_id=kind.replace("_", "-"), kind=kind, severity=Severity(severity), owner="billing",
        entity_id="E-1",
        subject=RecordRef(source="billing", record_type="account", key=key, fields={"holder": "ROBERT SMITH"}),
        records=[RecordRef(source="crm", record_type="contact", key=f"C-{key}", fields={"name": "Robert Smith"})],
        story=f"Auto-pay on {key} failed three times.",
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A store with two nights: AC-1 and AC-2 on night 1, AC-1 on night 2 (AC-2 resolved)."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    with Store(url) as store:
        for night, keys in ((1, ["AC-1", "AC-2"]), (2, ["AC-1"])):
            run_id = store.begin_run(AS_OF + dt.timedelta(days=night - 1))
            store.finish_run(run_id, findings=[_finding(k) for k in keys], health=HEALTH)
    return url


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "250"}).invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_suppress_list_and_lift(url: str) -> None:
    fp = _finding("AC-1").fingerprint
    code, out, err = invoke("suppress", fp, "--reason", "the bank retries", "--until", "2099-12-31",
                            "--author", "ann", "--url", url)
    assert code == ExitCode.OK, err
    assert f"Suppressed {fp} until 2100-01-01 00:00 UTC (by ann): the bank retries" in " ".join(out.split())
    with Store(url) as store:
        assert store.finding(fp).suppression.author == "ann"  # type: ignore[union-attr]
    code, out, _ = invoke("suppressions", "--url", url, "--json")
    assert code == ExitCode.OK
    (row,) = json.loads(out)
    assert (row["fingerprint"], row["author"], row["active"], row["status"]) == (fp, "ann", True, "open")
    code, out, _ = invoke("suppressions", "--url", url)
    assert fp in out and "bank" in out and "lapsed" not in out
    code, out, _ = invoke("unsuppress", fp, "--url", url)
    assert code == ExitCode.OK and "Lifted" in out
    code, _, err = invoke("unsuppress", fp, "--url", url)
    assert code == ExitCode.OK and "was not suppressed" in err


def test_suppress_errors_say_what_to_do(url: str, tmp_path: Path) -> None:
    code, _, err = invoke("suppress", "nope", "--reason", "x", "--author", "ann", "--url", url)
    assert code == ExitCode.RUN_ERROR and "has no finding 'nope'" in " ".join(err.split())
    fp = _finding("AC-1").fingerprint
    code, _, err = invoke("suppress", fp, "--reason", "x", "--until", "someday", "--url", url)
    assert code == ExitCode.CONFIG_ERROR and "is not an ISO date or datetime" in err
    code, _, err = invoke("suppress", fp, "--reason", "x", "--until", "2001-01-01", "--author", "a", "--url", url)
    assert code == ExitCode.RUN_ERROR and "already past" in err
    code, _, err = invoke("suppressions", "--url", url, "-c", str(tmp_path / "reconcile.yaml"))
    assert code == ExitCode.CONFIG_ERROR and "not both" in err


def test_the_store_is_found_through_the_configuration(tmp_path: Path, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "reconcile.yaml"
    config.write_text(yaml.safe_dump({
        "sources": {"crm": {"kind": "csv", "streams": {"contact": {"path": "c.csv", "fields": {"contact_id": "id"}}}}},
        "store": {"url": "sqlite:///store.db", "lock_timeout": "30 minutes"},
        "reports": {"dir": "out", "formats": ["json", "csv"]},
    }), encoding="utf-8")
    code, out, err = invoke("report", "-c", str(config))
    assert code == ExitCode.OK, err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["run-2.csv", "run-2.json"]
    monkeypatch.chdir(tmp_path)  # ./reconcile.yaml is the default
    code, out, err = invoke("db", "status")
    assert code == ExitCode.OK, err
    assert f"schema revision {SCHEMA_REVISION}" in out and "Unresolved findings: 1 (0 suppressed, 0 unverified)" in out
    assert "Run lock: free" in out


def test_report_renders_a_past_run_again(url: str, tmp_path: Path) -> None:
    fp = _finding("AC-1").fingerprint
    with Store(url) as store:
        store.suppress(fp, "known", "ann")
    out_dir = tmp_path / "again"
    code, out, err = invoke("report", "--url", url, "--run", "1", "--format", "html,json,csv,junit",
                            "--dir", str(out_dir))
    assert code == ExitCode.OK, err
    assert "Run 1 (succeeded" in out and "2 finding(s), 0 resolved" in out
    assert sorted(p.name for p in out_dir.iterdir()) == ["run-1.csv", "run-1.html", "run-1.json", "run-1.junit.xml"]
    document = ReportDocument.model_validate_json((out_dir / "run-1.json").read_text(encoding="utf-8"))
    assert document.run.id == 1
    # As run 1 saw them: both new, and not suppressed (the suppression came later).
    assert {(f.subject.key, f.status) for f in document.findings} == {
        ("AC-1", FindingStatus.new), ("AC-2", FindingStatus.new),
    }
    assert all(f.suppression is None for f in document.findings)
    html = (out_dir / "run-1.html").read_text(encoding="utf-8")
    assert "Customer stories" in html and "Customer E-1" in html
    # The latest run by default, where AC-2 was resolved and AC-1 is suppressed.
    code, _, err = invoke("report", "--url", url, "--format", "json", "--dir", str(out_dir))
    assert code == ExitCode.OK, err
    latest = ReportDocument.model_validate_json((out_dir / "run-2.json").read_text(encoding="utf-8"))
    assert [f.subject.key for f in latest.resolved] == ["AC-2"]
    assert latest.findings[0].suppression is None  # run 2 ran before the suppression
    code, _, err = invoke("report", "--url", url, "--format", "pdf")
    assert code == ExitCode.CONFIG_ERROR and "unknown format 'pdf'" in err
    code, _, err = invoke("report", "--url", url, "--run", "9")
    assert code == ExitCode.RUN_ERROR and "there is no run 9" in err


def test_entity_shows_the_whole_story(url: str) -> None:
    code, out, err = invoke("entity", "E-1", "--url", url)
    assert code == ExitCode.OK, err
    text = " ".join(out.split())
    assert "Customer E-1: 2 finding(s) across billing, crm" in text
    for expected in ("first seen in run 1", "seen again in run 2", "not seen in run 2, whose sources were all healthy",
                     "holder=ROBERT SMITH", "name=Robert Smith"):
        assert expected in text, expected
    code, out, _ = invoke("entity", "billing:account:AC-1", "--url", url, "--json")
    assert code == ExitCode.OK
    story = EntityStory.model_validate_json(out)
    assert {f.subject.key for f in story.findings} == {"AC-1", "AC-2"}
    assert [(e.run_id, e.event) for e in story.timeline] == [(1, "new"), (1, "new"), (2, "open"), (2, "resolved")]
    code, out, _ = invoke("entity", "E-1", "--url", url, "--run", "1", "--json")
    assert [e.run_id for e in EntityStory.model_validate_json(out).timeline] == [1, 1]
    code, out, err = invoke("entity", "E-nobody", "--url", url)
    assert code == ExitCode.OK and "The store has no finding about E-nobody" in " ".join(err.split())


def test_db_upgrade_and_the_hint_to_run_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = _create_engine(sa.make_url(url), False)
    _migrate.upgrade(engine, "0002")
    engine.dispose()
    code, _, err = invoke("entity", "E-1", "--url", url)
    assert code == ExitCode.RUN_ERROR
    assert f"schema revision 0002; this reconcile needs {SCHEMA_REVISION}" in " ".join(err.split())
    assert "reconcile db upgrade" in err
    code, out, err = invoke("db", "upgrade", "--url", url)
    assert code == ExitCode.OK, err
    assert f"Upgraded the store {url} from schema revision 0002 to {SCHEMA_REVISION}." in " ".join(out.split())
    code, out, _ = invoke("db", "upgrade", "--url", url)
    assert f"is up to date (schema revision {SCHEMA_REVISION})" in " ".join(out.split())
    code, out, _ = invoke("db", "upgrade", "--url", f"sqlite:///{tmp_path / 'new.db'}")
    assert "Created the store's tables" in out


def test_db_unlock_releases_a_dead_runs_lock(url: str) -> None:
    code, out, _ = invoke("db", "unlock", "--url", url)
    assert code == ExitCode.OK and "The run lock is free." in out
    with Store(url) as store:
        run_id = store.begin_run(AS_OF)
        store._stop_heartbeat(run_id)
    code, out, err = invoke("db", "unlock", "--url", url)  # no --yes and no terminal: aborted
    assert code != ExitCode.OK
    code, out, err = invoke("db", "unlock", "--url", url, "--yes")
    assert code == ExitCode.OK, err
    assert f"Released the run lock held by run {run_id}" in out
    with Store(url) as store:
        assert store.lock_holder() is None and store.run(run_id).status == "failed"
