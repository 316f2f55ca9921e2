"""`reconcile run` under cron: exit codes, --fail-on and suppressions, JSON logs, no progress
bar off a terminal, the Prometheus metrics file, and unverified findings when a source is down."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from reconcile.cli import ExitCode, _progress, cli
from reconcile.demo import generate, write_config
from reconcile.findings import Severity
from reconcile.logs import JsonFormatter, configure_logging
from reconcile.metrics import MetricsContext, render_metrics
from reconcile.store import Store

# name{labels} value, as the Prometheus text format has it.
SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? -?[0-9.e+-]+$')


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("small")
    return write_config(directory, generate(directory, size=60, seed=3)).parent


@pytest.fixture
def world(small_world: Path, tmp_path: Path) -> Path:
    target = tmp_path / "world"
    shutil.copytree(small_world, target)
    return target


def reconcile(*args: str) -> tuple[int, str, str]:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def metrics(path: Path) -> dict[str, float]:
    """Every sample of a metrics file by its name and labels, after checking each line's syntax."""
    samples: dict[str, float] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            continue
        assert SAMPLE.match(line), line
        name, value = line.rsplit(" ", 1)
        samples[name] = float(value)
    return samples


def test_fail_on_ignores_suppressed_findings(world: Path) -> None:
    config = str(world / "reconcile.yaml")
    code, _, err = reconcile("run", "-c", config, "-q", "--fail-on", "critical")
    assert code == ExitCode.FINDINGS, err
    with Store(f"sqlite:///{world / 'reconcile.db'}") as store:
        critical = store.open_findings(min_severity=Severity.critical)
        assert critical
        for finding in critical:
            store.suppress(finding.fingerprint, "the migration fixes these", "ops")
    code, out, err = reconcile("run", "-c", config, "--fail-on", "critical")
    assert code == ExitCode.OK, err
    assert f"{len(critical)} suppressed" in " ".join(out.split())
    code, _, _ = reconcile("run", "-c", config, "-q", "--fail-on", "high")
    assert code == ExitCode.FINDINGS  # the unsuppressed high ones still count
    report = json.loads((world / "reports" / "run-3.json").read_text(encoding="utf-8"))
    flagged = [f for f in report["findings"] if f["suppression"] is not None]
    assert len(flagged) == len(critical) == report["summary"]["suppressed"]
    assert {f["suppression"]["author"] for f in flagged} == {"ops"}


def test_the_metrics_file_of_a_good_run(world: Path) -> None:
    path = world / "metrics" / "reconcile.prom"
    code, _, err = reconcile("run", "-c", str(world / "reconcile.yaml"), "-q", "--metrics-file", str(path))
    assert code == ExitCode.FINDINGS, err
    found = metrics(path)
    assert found["reconcile_run_success"] == 1 and found["reconcile_run_exit_code"] == 1
    assert found['reconcile_run_outcome{outcome="findings"}'] == 1
    assert found['reconcile_run_outcome{outcome="failed"}'] == 0
    assert found["reconcile_run_id"] == 1
    assert found["reconcile_run_duration_seconds"] > 0
    assert found['reconcile_run_stage_duration_seconds{stage="match"}'] >= 0
    with Store(f"sqlite:///{world / 'reconcile.db'}") as store:
        result = store.run_result(1)
        open_count = len(store.open_findings())
    for severity in Severity:
        expected = sum(1 for f in result.findings if f.severity == severity)
        assert found[f'reconcile_findings{{severity="{severity.value}",status="new"}}'] == expected
        assert found[f'reconcile_findings{{severity="{severity.value}",status="open"}}'] == 0
    assert sum(v for k, v in found.items() if k.startswith("reconcile_findings{")) == len(result.findings)
    for health in result.health:
        assert found[f'reconcile_source_healthy{{source="{health.source}"}}'] == 1
        assert found[f'reconcile_source_rows_read{{source="{health.source}"}}'] == health.rows_read
    assert found["reconcile_store_open_findings"] == open_count
    assert found["reconcile_store_unverified_findings"] == 0
    assert found["reconcile_run_last_success_timestamp_seconds"] <= found["reconcile_run_timestamp_seconds"]
    assert [p.name for p in path.parent.iterdir()] == ["reconcile.prom"]  # no temporary file left


def test_a_source_down_fails_the_run_and_leaves_its_findings_unverified(world: Path) -> None:
    config = str(world / "reconcile.yaml")
    path = world / "reconcile.prom"
    code, _, err = reconcile("run", "-c", config, "-q")
    assert code == ExitCode.FINDINGS, err
    (world / "telemetry.csv").unlink()
    code, _, err = reconcile("run", "-c", config, "-q", "--metrics-file", str(path))
    assert code == ExitCode.RUN_ERROR
    assert "run failed" in err and "telemetry" in err
    found = metrics(path)
    assert found["reconcile_run_success"] == 0 and found["reconcile_run_exit_code"] == 3
    assert found['reconcile_run_outcome{outcome="failed"}'] == 1
    assert found['reconcile_source_healthy{source="telemetry"}'] == 0
    assert found['reconcile_source_healthy{source="billing"}'] == 1
    with Store(f"sqlite:///{world / 'reconcile.db'}") as store:
        unverified = [f for f in store.open_findings() if f.unverified is not None]
        others = [f for f in store.open_findings() if f.unverified is None]
        assert unverified and others
        for finding in unverified:
            assert "telemetry" in {r.source for r in (finding.subject, *finding.records)}
            assert finding.unverified.run_id == 2 and "source 'telemetry' was unhealthy in run 2" in finding.unverified.reason  # type: ignore[union-attr]
        assert all("telemetry" not in {r.source for r in (f.subject, *f.records)} for f in others)
        assert {f.status.value for f in store.open_findings()} == {"new"}  # statuses unchanged
    assert found["reconcile_store_unverified_findings"] == len(unverified)
    assert found["reconcile_run_last_success_timestamp_seconds"] > 0  # run 1 still counts


def test_a_failed_run_then_a_good_one_clears_the_flags(world: Path) -> None:
    config = str(world / "reconcile.yaml")
    reconcile("run", "-c", config, "-q")
    (world / "telemetry.csv").rename(world / "telemetry.csv.away")
    assert reconcile("run", "-c", config, "-q")[0] == ExitCode.RUN_ERROR
    (world / "telemetry.csv.away").rename(world / "telemetry.csv")
    code, _, err = reconcile("run", "-c", config, "-q")
    assert code == ExitCode.FINDINGS, err
    with Store(f"sqlite:///{world / 'reconcile.db'}") as store:
        assert store.overview().unverified == 0
        assert {f.status.value for f in store.open_findings()} == {"open"}
        assert store.run_result(3).resolved == []


def test_metrics_of_a_locked_run_and_of_a_configuration_error(world: Path) -> None:
    path = world / "reconcile.prom"
    with Store(f"sqlite:///{world / 'reconcile.db'}") as store:
        run_id = store.begin_run(dt.datetime(2026, 11, 1, tzinfo=dt.UTC))
        code, _, err = reconcile("run", "-c", str(world / "reconcile.yaml"), "-q", "--metrics-file", str(path))
        assert code == ExitCode.LOCKED
        assert f"another run holds the lock of the store sqlite:///{world / 'reconcile.db'}: run {run_id}" in " ".join(err.split())
        found = metrics(path)
        assert found["reconcile_run_exit_code"] == 4 and found['reconcile_run_outcome{outcome="locked"}'] == 1
        assert "reconcile_run_id" not in found
        store.fail_run(run_id, "test over")
    (world / "broken.yaml").write_text("sources: {crm: {kind: csv, streems: {}}}\n", encoding="utf-8")
    code, _, _ = reconcile("run", "-c", str(world / "broken.yaml"), "-q", "--metrics-file", str(path))
    assert code == ExitCode.CONFIG_ERROR
    found = metrics(path)
    assert found["reconcile_run_exit_code"] == 2 and found['reconcile_run_outcome{outcome="config_error"}'] == 1


def test_json_log_lines(world: Path) -> None:
    code, out, err = reconcile("--log-format", "json", "-v", "run", "-c", str(world / "reconcile.yaml"), "-q")
    assert code == ExitCode.FINDINGS
    assert out == ""  # --quiet: nothing on stdout
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    assert all(line["time"].endswith("Z") for line in lines)
    started = [line for line in lines if line["message"].startswith("run 1 started")]
    assert started and started[0]["run_id"] == 1 and started[0]["logger"] == "reconcile.store"
    finished = [line for line in lines if line["message"].startswith("run 1 finished")]
    assert finished and finished[0]["counts"]["findings"] > 0
    # --log-format after 'run' works too, and text is the default.
    code, _, err = reconcile("-v", "run", "-c", str(world / "reconcile.yaml"), "-q", "--log-format", "json")
    assert json.loads(err.splitlines()[0])["level"] == "info"
    code, _, err = reconcile("-v", "run", "-c", str(world / "reconcile.yaml"), "-q")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO reconcile", err.splitlines()[0])


def test_no_progress_bar_off_a_terminal(world: Path) -> None:
    code, out, err = reconcile("run", "-c", str(world / "reconcile.yaml"))
    assert code == ExitCode.FINDINGS
    assert "\x1b" not in out + err and "extract" not in err


def test_the_progress_bar_is_only_for_a_terminal() -> None:
    out = io.StringIO()
    terminal = Console(file=out, force_terminal=True, width=100)
    with _progress(True, console=terminal) as step:
        assert step is not None
        step("extract")
        step.step("extract", 1, 3, "inventory")
        task = step.bar.tasks[0]
        assert task.completed == pytest.approx(1 / 3) and task.description == "extract inventory"
        for stage in ("normalise", "match", "rules", "persist", "report"):
            step(stage)
        assert step.bar.tasks[0].completed == 5
    assert "\x1b" in out.getvalue()  # drawn on the terminal
    with _progress(True, console=Console(file=io.StringIO())) as step:
        assert step is None  # cron: no terminal
    with _progress(False, console=terminal) as step:
        assert step is None  # --quiet


def test_metrics_text_escapes_labels_and_is_stable() -> None:
    from reconcile.results import RunResult, SourceHealth

    at = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)
    result = RunResult(run_id=7, as_of=at, started_at=at, finished_at=at + dt.timedelta(seconds=90),
                       health=[SourceHealth(source='odd "name"\\x\n', rows_read=5, rows_used=5)])
    text = render_metrics(result, MetricsContext(exit_code=0, outcome="succeeded", finished_at=at))
    assert 'reconcile_source_rows_read{source="odd \\"name\\"\\\\x\\n"} 5' in text
    assert "reconcile_run_duration_seconds 90\n" in text
    assert all(SAMPLE.match(line) for line in text.splitlines() if not line.startswith("#"))


def test_configure_logging_json_formatter_keeps_extras() -> None:
    import logging

    stream = io.StringIO()
    configure_logging(1, "json", stream=stream)
    try:
        logging.getLogger("reconcile.test").info("hello %s", "world", extra={"run_id": 3, "when": dt.date(2026, 1, 2)})
        entry = json.loads(stream.getvalue())
        assert entry["message"] == "hello world" and entry["run_id"] == 3 and entry["when"] == "2026-01-02"
        with pytest.raises(ValueError, match="unknown log format 'xml'"):
            configure_logging(0, "xml")
        assert isinstance(JsonFormatter(), logging.Formatter)
    finally:
        configure_logging(0, "text")
