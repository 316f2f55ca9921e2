"""Webhook notifications of new and reopened findings, against a local HTTP server."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from reconcile.config import Config, load_config
from reconcile.demo import generate, write_config
from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.notify import NotifyConfig, WebhookConfig, send_notifications
from reconcile.pipeline import run
from reconcile.results import RunResult
from reconcile.store import Suppression, TrackedFinding

AT = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)


class Hook:
    """A local webhook: records every request and answers with the statuses it is told, then 200."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    with Hook() as running:
        yield running


def _webhook(url: str, **extra: Any) -> NotifyConfig:
    return NotifyConfig(webhook=WebhookConfig.model_validate({"url": url, "backoff": "0 seconds", **extra}))


def _finding(key: str, severity: str, status: FindingStatus, **extra: Any) -> TrackedFinding:
    return TrackedFinding(
        rule_id="failed-autopay", kind="failed_autopay", severity=Severity(severity), owner="billing",
        entity_id=f"E-{key}", subject=RecordRef(source="billing", record_type="account", key=key),
        story=f"Auto-pay on {key} failed.", status=status, first_seen=AT, last_seen=AT, **extra,
    )


def _result(findings: list[Finding], status: str = "succeeded") -> RunResult:
    return RunResult(run_id=5, as_of=AT, started_at=AT, status=status, findings=findings)


@pytest.fixture(scope="module")
def small_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("small")
    return write_config(directory, generate(directory, size=60, seed=3))


def test_a_run_announces_its_new_findings_once(hook: Hook, small_world: Path, tmp_path: Path) -> None:
    shutil.copytree(small_world.parent, tmp_path / "w")
    config = tmp_path / "w" / small_world.name
    notify = _webhook(hook.url, min_severity="high", headers={"Authorization": "Bearer s3cret"})
    first = run(config, write_reports=False, notify_config=notify)
    (request,) = hook.requests
    assert request["path"] == "/hooks/T0KEN"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Authorization"] == "Bearer s3cret"
    assert request["headers"]["Idempotency-Key"] == f"reconcile-run-{first.run_id}"
    body = request["body"]
    expected = [f for f in first.findings if f.severity >= Severity.high]
    assert body["schema_version"] == 1 and body["event"] == "reconcile.findings"
    assert body["run"]["id"] == first.run_id and body["run"]["status"] == "succeeded"
    assert body["counts"] == {"new": len(expected), "reopened": 0} and body["truncated"] is False
    assert {f["fingerprint"] for f in body["findings"]} == {f.fingerprint for f in expected}
    assert all(Severity(f["severity"]) >= Severity.high and f["status"] == "new" for f in body["findings"])
    assert body["text"].startswith(f"reconcile: {len(expected)} new and 0 reopened finding(s) at or above high")
    run(config, write_reports=False, notify_config=notify)  # everything is open now: nothing to say
    assert len(hook.requests) == 1


def test_transient_failures_are_retried(hook: Hook) -> None:
    hook.statuses = [503, 429]
    (outcome,) = send_notifications(_result([_finding("A", "high", FindingStatus.new)]), _webhook(hook.url, retries=3))
    assert outcome.sent and outcome.attempts == 3 and outcome.findings == 1
    assert len(hook.requests) == 3
    assert all(r["body"] == hook.requests[0]["body"] for r in hook.requests)  # the same message each time


def test_a_refused_request_is_not_retried_and_never_raises(hook: Hook, caplog: pytest.LogCaptureFixture) -> None:
    hook.statuses = [400]
    (outcome,) = send_notifications(_result([_finding("A", "high", FindingStatus.new)]), _webhook(hook.url))
    assert not outcome.sent and outcome.attempts == 1 and outcome.error == "HTTP 400 Bad Request"
    assert "gave up after 1 attempt(s): HTTP 400" in caplog.text
    assert "T0KEN" not in caplog.text  # the URL's secret path is never logged


def test_an_unreachable_hook_gives_up_without_failing_the_run(small_world: Path, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with Hook() as gone:
        url = gone.url
    shutil.copytree(small_world.parent, tmp_path / "w")
    result = run(tmp_path / "w" / small_world.name, write_reports=False,
                 notify_config=_webhook(url, retries=2, timeout="2 seconds"))
    assert result.status == "succeeded" and result.findings
    assert caplog.text.count("attempt") >= 3 and "gave up after 3 attempt(s)" in caplog.text


def test_only_news_at_or_above_the_severity_unsuppressed_of_a_good_run(hook: Hook) -> None:
    suppression = Suppression(fingerprint="x", reason="known", author="ann", created_at=AT)
    findings = [
        _finding("NEW", "critical", FindingStatus.new),
        _finding("BACK", "high", FindingStatus.reopened),
        _finding("OLD", "critical", FindingStatus.open),
        _finding("LOW", "medium", FindingStatus.new),
        _finding("HUSH", "critical", FindingStatus.new, suppression=suppression),
    ]
    (outcome,) = send_notifications(_result(findings), _webhook(hook.url))
    assert outcome.sent and outcome.findings == 2
    body = hook.requests[0]["body"]
    assert [f["subject"] for f in body["findings"]] == ["billing:account:NEW", "billing:account:BACK"]
    assert body["counts"] == {"new": 1, "reopened": 1}
    assert send_notifications(_result(findings, status="failed"), _webhook(hook.url)) == []
    (nothing,) = send_notifications(_result(findings[2:4]), _webhook(hook.url))
    assert not nothing.sent and nothing.attempts == 0
    hook.requests.clear()
    many = [_finding(f"K{i}", "high", FindingStatus.new) for i in range(5)]
    send_notifications(_result(many), _webhook(hook.url, max_findings=2))
    body = hook.requests[0]["body"]
    assert len(body["findings"]) == 2 and body["truncated"] is True and body["counts"]["new"] == 5
    assert len(hook.requests) == 1


def test_webhook_configuration_errors() -> None:
    with pytest.raises(ValidationError, match="must be an http:// or https:// URL"):
        WebhookConfig(url="ftp://example.com/x")
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        NotifyConfig.model_validate({"webhook": {"url": "https://example.com", "min_severty": "high"}})
    config = WebhookConfig.model_validate({"url": "https://example.com", "timeout": "30 seconds"})
    assert config.timeout == dt.timedelta(seconds=30) and config.min_severity == Severity.high
    assert config.retries == 3


@pytest.mark.skipif(
    "notify" not in Config.model_fields,
    reason="reconcile/config.py has no `notify: NotifyConfig` field yet (the lead adds "
    "`notify: NotifyConfig = Field(default_factory=NotifyConfig)` to Config)",
)
def test_the_notify_section_of_reconcile_yaml(hook: Hook, small_world: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(small_world.parent, tmp_path / "w")
    path = tmp_path / "w" / small_world.name
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["notify"] = {"webhook": {"url": "${RECONCILE_TEST_HOOK}", "min_severity": "critical", "backoff": "0 s"}}
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    monkeypatch.setenv("RECONCILE_TEST_HOOK", hook.url)
    config = load_config(path)
    assert config.notify.webhook.min_severity == Severity.critical  # type: ignore[attr-defined]
    result = run(config, write_reports=False)
    (request,) = hook.requests
    assert {f["severity"] for f in request["body"]["findings"]} == {"critical"}
    assert len(request["body"]["findings"]) == sum(1 for f in result.findings if f.severity == Severity.critical)
