"""Notifications of new and reopened findings, sent after a run commits.

Configured in the ``notify:`` section of ``reconcile.yaml``::

    notify:
      webhook:
        url: ${RECONCILE_WEBHOOK_URL}
        min_severity: high

      email:
        host: smtp.example.com
        port: 587
        security: starttls            # starttls | ssl | none
        username: reconcile
        password: ${SMTP_PASSWORD}
        sender: reconcile@example.com
        recipients: [billing-team@example.com]
        min_severity: high

A webhook receives one JSON ``POST`` per run that has new or reopened
findings at or above ``min_severity`` (suppressed findings left out); an
email channel sends one plain-text message with the same findings. It is
retried on network errors, timeouts, 429 and 5xx answers, with a doubling
pause. A notification is never sent for a failed run, and one that cannot
be delivered is logged as an error: it never fails the run, whose findings
are already committed (the next run does not resend them: they are open by then).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import smtplib
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from reconcile._version import __version__
from reconcile.findings import Finding, FindingStatus, Severity
from reconcile.results import RunResult
from reconcile.store._json import utc_iso
from reconcile.store._tracked import is_suppressed

__all__ = [
    "PAYLOAD_VERSION",
    "EmailConfig",
    "NotifyConfig",
    "Outcome",
    "WebhookConfig",
    "build_payload",
    "build_email",
    "send_email",
    "send_notifications",
    "send_webhook",
]

log = logging.getLogger("reconcile.notify")

#: Version of the webhook's JSON body; fields are only ever added within a version.
PAYLOAD_VERSION = 1

#: Statuses that are news to a person.
NEWS = (FindingStatus.new, FindingStatus.reopened)


def _duration(value: Any) -> Any:
    from reconcile.rules.base import parse_duration

    return parse_duration(value)


Seconds = Annotated[dt.timedelta, BeforeValidator(_duration)]


class WebhookConfig(BaseModel):
    """A webhook that receives new and reopened findings as JSON.

    Attributes:
        url: Where to ``POST`` (http or https); put a secret in the
            environment and write ``${RECONCILE_WEBHOOK_URL}``.
        min_severity: Only findings at or above it (default ``high``).
        headers: Extra request headers, such as an ``Authorization`` token.
        timeout: How long one attempt may take (default 10 seconds).
        retries: How many times a failed attempt is retried (default 3).
        backoff: The pause before the first retry, doubled for each next
            one (default 2 seconds).
        max_findings: At most this many findings in one body (the counts
            are always complete; ``truncated`` says when some were left out).
    """

    model_config = ConfigDict(extra="forbid")

    url: str
    min_severity: Severity = Severity.high
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: Seconds = dt.timedelta(seconds=10)
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Seconds = dt.timedelta(seconds=2)
    max_findings: int = Field(default=200, ge=1)

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http:// or https:// URL, e.g. https://hooks.example.com/reconcile")
        return value


class EmailConfig(BaseModel):
    """An SMTP email channel for new and reopened findings.

    Attributes:
        host: The SMTP server.
        port: Its port (default 587, the submission port).
        security: ``starttls`` (default), ``ssl`` (implicit TLS, usually port
            465) or ``none`` (a relay on a trusted network).
        username / password: Login, if the server needs one; write the
            password as ``${SMTP_PASSWORD}`` so it stays in the environment.
        sender: The From address.
        recipients: The To addresses (at least one).
        subject_prefix: Put before the subject (default ``[reconcile]``).
        min_severity: Only findings at or above it (default ``high``).
        timeout / retries / backoff: As for the webhook.
        max_findings: At most this many findings listed in one message.
    """

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = Field(min_length=3, pattern=r"@")
    recipients: list[Annotated[str, Field(pattern=r"@")]] = Field(min_length=1)
    subject_prefix: str = "[reconcile]"
    min_severity: Severity = Severity.high
    timeout: Seconds = dt.timedelta(seconds=30)
    retries: int = Field(default=3, ge=0, le=10)
    backoff: Seconds = dt.timedelta(seconds=5)
    max_findings: int = Field(default=200, ge=1)


class NotifyConfig(BaseModel):
    """The ``notify:`` section: where new and reopened findings are announced.

    Attributes:
        webhook: A JSON webhook (none by default).
        email: An SMTP email channel (none by default).
    """

    model_config = ConfigDict(extra="forbid")

    webhook: WebhookConfig | None = None
    email: EmailConfig | None = None


class Outcome(BaseModel):
    """What became of one notification.

    Attributes:
        channel: ``webhook`` or ``email``.
        sent: Whether it was delivered.
        findings: How many findings it announced.
        attempts: How many attempts were made (0 when there was nothing to send).
        error: Why it was not delivered.
    """

    channel: str
    sent: bool
    findings: int = 0
    attempts: int = 0
    error: str | None = None


def _news(result: RunResult, floor: Severity) -> list[Finding]:
    return [
        f for f in result.findings
        if f.status in NEWS and f.severity >= floor and not is_suppressed(f)
    ]


def build_payload(result: RunResult, findings: list[Finding], floor: Severity, limit: int) -> dict[str, Any]:
    """The webhook's JSON body (``schema_version`` 1)."""
    ordered = sorted(findings, key=lambda f: (-f.severity.rank, f.status != FindingStatus.new, f.owner, f.kind,
                                               f.subject.rid))
    new = sum(1 for f in findings if f.status == FindingStatus.new)
    reopened = len(findings) - new
    where = f"run {result.run_id}" if result.run_id is not None else "a run"
    return {
        "schema_version": PAYLOAD_VERSION,
        "event": "reconcile.findings",
        "generator": f"reconcile {__version__}",
        "text": f"reconcile: {new} new and {reopened} reopened finding(s) at or above {floor.value} in {where}",
        "run": {
            "id": result.run_id,
            "status": result.status,
            "as_of": utc_iso(result.as_of),
            "reports": dict(result.reports),
        },
        "min_severity": floor.value,
        "counts": {"new": new, "reopened": reopened},
        "truncated": len(ordered) > limit,
        "findings": [
            {
                "fingerprint": f.fingerprint,
                "status": f.status.value if f.status else None,
                "severity": f.severity.value,
                "owner": f.owner,
                "kind": f.kind,
                "rule_id": f.rule_id,
                "entity_id": f.entity_id,
                "subject": f.subject.rid,
                "story": f.story,
                "confidence": f.confidence,
                "first_seen": utc_iso(f.first_seen) if f.first_seen else None,
            }
            for f in ordered[:limit]
        ],
    }


def _shown(url: str) -> str:
    """A webhook URL without its path and query, which often hold the secret."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{':' + str(parts.port) if parts.port else ''}/..."


def send_webhook(
    config: WebhookConfig,
    payload: dict[str, Any],
    *,
    idempotency_key: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """POST ``payload`` to the webhook, retrying transient failures; never raises."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", "User-Agent": f"reconcile/{__version__}", **config.headers}
    if idempotency_key:
        headers.setdefault("Idempotency-Key", idempotency_key)
    count = len(payload.get("findings", []))
    error = "not attempted"
    attempts = 0
    for attempt in range(config.retries + 1):
        if attempt:
            sleep(config.backoff.total_seconds() * 2 ** (attempt - 1))
        attempts += 1
        request = urllib.request.Request(config.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=config.timeout.total_seconds()) as response:  # noqa: S310
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            error = f"HTTP {exc.code} {exc.reason}"
            if status != 429 and status < 500:  # the request itself is wrong: retrying will not help
                break
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            error = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
        else:
            if 200 <= status < 300:
                log.info("webhook %s: announced %d finding(s) (attempt %d)", _shown(config.url), count, attempts)
                return Outcome(channel="webhook", sent=True, findings=count, attempts=attempts)
            error = f"HTTP {status}"
        log.warning("webhook %s: attempt %d of %d failed: %s", _shown(config.url), attempts,
                    config.retries + 1, error)
    log.error("webhook %s: gave up after %d attempt(s): %s; the run's findings are committed all the same",
              _shown(config.url), attempts, error)
    return Outcome(channel="webhook", sent=False, findings=count, attempts=attempts, error=error)


def build_email(result: RunResult, findings: list[Finding], config: EmailConfig) -> EmailMessage:
    """The plain-text message announcing ``findings`` (same order and limit as the webhook)."""
    payload = build_payload(result, findings, config.min_severity, config.max_findings)
    counts = payload["counts"]
    where = f"run {result.run_id}" if result.run_id is not None else "a run"
    lines = [
        f"{counts['new']} new and {counts['reopened']} reopened finding(s) at or above "
        f"{config.min_severity.value} in {where}, as of {payload['run']['as_of']}.",
        "",
    ]
    for item in payload["findings"]:
        lines.append(f"{item['severity'].upper()} {item['status']} - {item['owner']} - {item['kind']}")
        lines.append(f"  {item['story']}")
        lines.append(f"  record {item['subject']}, fingerprint {item['fingerprint']}")
        lines.append("")
    if payload["truncated"]:
        lines.append(f"... and {len(findings) - config.max_findings} more; see the run's report.")
    for fmt, path in sorted(payload["run"]["reports"].items()):
        lines.append(f"Report ({fmt}): {path}")
    message = EmailMessage()
    message["Subject"] = f"{config.subject_prefix} {payload['text'].removeprefix('reconcile: ')}".strip()
    message["From"] = config.sender
    message["To"] = ", ".join(config.recipients)
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain=config.sender.rsplit("@", 1)[-1])
    if result.run_id is not None:
        message["X-Reconcile-Run"] = str(result.run_id)
    message.set_content("\n".join(lines))
    return message


def _permanent(exc: BaseException) -> bool:
    """Whether an SMTP error is final: a 5xx answer, or no STARTTLS/AUTH support."""
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return True
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    code = getattr(exc, "smtp_code", None)
    return isinstance(code, int) and code >= 500


def send_email(
    config: EmailConfig,
    message: EmailMessage,
    *,
    findings: int = 0,
    sleep: Callable[[float], None] = time.sleep,
) -> Outcome:
    """Send ``message`` through the configured SMTP server, retrying transient failures; never raises.

    ``findings`` is how many findings the message announces (for the outcome and the log).
    """
    count = findings
    error = "not attempted"
    attempts = 0
    where = f"{config.host}:{config.port}"
    for attempt in range(config.retries + 1):
        if attempt:
            sleep(config.backoff.total_seconds() * 2 ** (attempt - 1))
        attempts += 1
        try:
            timeout = config.timeout.total_seconds()
            client: smtplib.SMTP
            if config.security == "ssl":
                client = smtplib.SMTP_SSL(config.host, config.port, timeout=timeout,
                                          context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(config.host, config.port, timeout=timeout)
            with client:
                if config.security == "starttls":
                    client.starttls(context=ssl.create_default_context())
                if config.username:
                    client.login(config.username, config.password or "")
                client.send_message(message)
        except (smtplib.SMTPException, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
            if _permanent(exc):
                break  # the server refuses for good (5xx): retrying will not help
        else:
            log.info("email via %s: announced %d finding(s) (attempt %d)", where, count, attempts)
            return Outcome(channel="email", sent=True, findings=count, attempts=attempts)
        log.warning("email via %s: attempt %d of %d failed: %s", where, attempts, config.retries + 1, error)
    log.error("email via %s: gave up after %d attempt(s): %s; the run's findings are committed all the same",
              where, attempts, error)
    return Outcome(channel="email", sent=False, findings=count, attempts=attempts, error=error)


def send_notifications(
    result: RunResult, config: NotifyConfig, *, sleep: Callable[[float], None] = time.sleep
) -> list[Outcome]:
    """Announce a committed run's new and reopened findings; never raises.

    Nothing is sent for a failed run, nor when no finding qualifies.
    """
    if result.status != "succeeded":
        return []

    def webhook(hook: WebhookConfig, findings: list[Finding]) -> Outcome:
        payload = build_payload(result, findings, hook.min_severity, hook.max_findings)
        key = f"reconcile-run-{result.run_id}" if result.run_id is not None else None
        return send_webhook(hook, payload, idempotency_key=key, sleep=sleep)

    def email(mail: EmailConfig, findings: list[Finding]) -> Outcome:
        message = build_email(result, findings, mail)
        return send_email(mail, message, findings=min(len(findings), mail.max_findings), sleep=sleep)

    channels: list[tuple[str, str, WebhookConfig | EmailConfig, Callable[[Any, list[Finding]], Outcome]]] = []
    if config.webhook is not None:
        channels.append(("webhook", f"webhook {_shown(config.webhook.url)}", config.webhook, webhook))
    if config.email is not None:
        channels.append(("email", f"email via {config.email.host}", config.email, email))
    outcomes: list[Outcome] = []
    for channel, where, settings, send in channels:
        try:
            findings = _news(result, settings.min_severity)
            outcomes.append(send(settings, findings) if findings else Outcome(channel=channel, sent=False))
        except Exception as exc:  # a notification must never fail a committed run
            log.error("%s: not sent: %s: %s", where, type(exc).__name__, exc)
            outcomes.append(Outcome(channel=channel, sent=False, error=f"{type(exc).__name__}: {exc}"))
    return outcomes
