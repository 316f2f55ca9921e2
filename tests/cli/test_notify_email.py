"""Email notifications of new and reopened findings, against a local SMTP server."""

from __future__ import annotations

import datetime as dt
import email
import socketserver
import threading
from collections.abc import Iterator
from email.message import Message
from typing import Any

import pytest
from pydantic import ValidationError

from reconcile.findings import Finding, FindingStatus, RecordRef, Severity
from reconcile.notify import EmailConfig, NotifyConfig, send_notifications
from reconcile.results import RunResult

AT = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)


class Mailbox:
    """A minimal SMTP server (RFC 5321 subset) that keeps what it receives.

    ``refuse`` answers the first N ``MAIL`` commands with a transient 451
    error, or every ``RCPT`` with 550 when ``reject_recipients`` is set.
    """

    def __init__(self, refuse: int = 0, reject_recipients: bool = False) -> None:
        self.messages: list[tuple[str, list[str], Message]] = []
        self.refuse = refuse
        self.reject_recipients = reject_recipients
        box = self

        class Handler(socketserver.StreamRequestHandler):
            def reply(self, line: str) -> None:
                self.wfile.write((line + "\r\n").encode())

            def handle(self) -> None:
                self.reply("220 localhost test SMTP")
                sender, recipients = "", []
                while True:
                    raw = self.rfile.readline()
                    if not raw:
                        return
                    command = raw.decode().strip()
                    verb = command.split(" ", 1)[0].upper()
                    if verb in ("EHLO", "HELO"):
                        self.reply("250 localhost")
                    elif verb == "MAIL":
                        if box.refuse > 0:
                            box.refuse -= 1
                            self.reply("451 try again later")
                            continue
                        sender, recipients = command.split(":", 1)[1].strip(" <>"), []
                        self.reply("250 OK")
                    elif verb == "RCPT":
                        if box.reject_recipients:
                            self.reply("550 no such user")
                            continue
                        recipients.append(command.split(":", 1)[1].strip(" <>"))
                        self.reply("250 OK")
                    elif verb == "DATA":
                        self.reply("354 end with .")
                        lines = []
                        while (line := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                            lines.append(line[1:] if line.startswith(b"..") else line)
                        box.messages.append((sender, recipients, email.message_from_bytes(b"".join(lines))))
                        self.reply("250 queued")
                    elif verb == "RSET":
                        self.reply("250 OK")
                    elif verb == "QUIT":
                        self.reply("221 bye")
                        return
                    else:
                        self.reply("502 not implemented")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Mailbox:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


def _email(port_number: int, **extra: Any) -> NotifyConfig:
    port = port_number
    return NotifyConfig(email=EmailConfig.model_validate({
        "host": "127.0.0.1", "security": "none", "port": port, "sender": "reconcile@example.com",
        "recipients": ["billing@example.com", "ops@example.com"], "backoff": "0 seconds", **extra,
    }))


def _finding(key: str, severity: str, status: FindingStatus) -> Finding:
    return Finding(
        rule_id="failed_autopay", kind="failed_autopay", severity=Severity(severity), owner="billing",
        entity_id=f"E-{key}", subject=RecordRef(source="billing", record_type="account", key=key),
        story=f"Auto-pay on {key} failed 3 times.", status=status, first_seen=AT, last_seen=AT,
    )


def _result(findings: list[Finding], status: str = "succeeded") -> RunResult:
    return RunResult(run_id=9, as_of=AT, started_at=AT, status=status, findings=findings,
                     reports={"html": "reports/run-9.html"})


def test_new_and_reopened_findings_at_or_above_the_severity_are_mailed(mailbox: Mailbox) -> None:
    result = _result([
        _finding("AC-1", "critical", FindingStatus.new),
        _finding("AC-2", "high", FindingStatus.reopened),
        _finding("AC-3", "high", FindingStatus.open),  # not news
        _finding("AC-4", "medium", FindingStatus.new),  # below the floor
    ])
    [outcome] = send_notifications(result, _email(mailbox.port))
    assert (outcome.channel, outcome.sent, outcome.findings, outcome.attempts) == ("email", True, 2, 1)
    [(sender, recipients, message)] = mailbox.messages
    assert sender == "reconcile@example.com"
    assert recipients == ["billing@example.com", "ops@example.com"]
    assert message["Subject"] == "[reconcile] 1 new and 1 reopened finding(s) at or above high in run 9"
    body = message.get_payload()
    assert "Auto-pay on AC-1 failed 3 times." in body and "Auto-pay on AC-2" in body
    assert "AC-3" not in body and "AC-4" not in body
    assert body.index("AC-1") < body.index("AC-2")  # the most severe first
    assert "Report (html): reports/run-9.html" in body


def test_transient_refusals_are_retried(tmp_path: Any) -> None:
    with Mailbox(refuse=2) as box:
        [outcome] = send_notifications(_result([_finding("AC-1", "high", FindingStatus.new)]),
                                       _email(box.port, retries=3))
    assert outcome.sent and outcome.attempts == 3
    assert len(box.messages) == 1


def test_a_refused_recipient_is_not_retried_and_never_raises() -> None:
    with Mailbox(reject_recipients=True) as box:
        [outcome] = send_notifications(_result([_finding("AC-1", "high", FindingStatus.new)]),
                                       _email(box.port, retries=3))
    assert not outcome.sent and outcome.attempts == 1
    assert "SMTPRecipientsRefused" in (outcome.error or "")
    assert box.messages == []


def test_nothing_is_sent_for_a_failed_run_or_without_news(mailbox: Mailbox) -> None:
    news = [_finding("AC-1", "critical", FindingStatus.new)]
    assert send_notifications(_result(news, status="failed"), _email(mailbox.port)) == []
    [quiet] = send_notifications(_result([_finding("AC-1", "critical", FindingStatus.open)]), _email(mailbox.port))
    assert not quiet.sent and quiet.attempts == 0
    assert mailbox.messages == []


def test_an_unreachable_server_gives_up_without_raising() -> None:
    with Mailbox() as box:
        port = box.port
    [outcome] = send_notifications(_result([_finding("AC-1", "high", FindingStatus.new)]),
                                   _email(port, retries=1))
    assert not outcome.sent and outcome.attempts == 2


@pytest.mark.parametrize(
    "bad",
    [{"recipients": []}, {"sender": "nobody"}, {"security": "tls1.0"}, {"port": 0}, {"smtp": "x"}],
    ids=str,
)
def test_email_configuration_errors(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        _email(25, **bad)


def test_the_password_is_not_in_the_configs_repr() -> None:
    config = _email(25, username="reconcile", password="s3cret-value")
    assert "s3cret-value" not in repr(config)
