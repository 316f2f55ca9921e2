"""The HTML report in a real browser: a hostile customer name must not execute.

Headless Chromium from the system packages (``/usr/bin/chromium``; Debian:
``apt-get install chromium``) loads the report and dumps the DOM after its
scripts, if any, had time to run. The payload sets ``document.title`` if it
ever executes. A control page with the same payload unescaped proves that the
harness does see scripts run. Without Chromium the test is skipped with the
reason, unless ``RECONCILE_REQUIRE_BROWSER=1`` (CI), where it fails.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from report_factories import AS_OF, make_finding, make_result

from reconcile.findings import RecordRef
from reconcile.report import render_html
from reconcile.results import QuarantinedRow, SourceHealth
from reconcile.store import HistoryEntry, Suppression, TrackedFinding
from reconcile.store._story import build_story

CHROMIUM = Path(os.environ.get("RECONCILE_CHROMIUM", "/usr/bin/chromium"))
PAYLOAD = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        reason = f"headless Chromium is not installed at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("RECONCILE_REQUIRE_BROWSER", "").strip() not in ("", "0", "false", "no"):
            pytest.fail(f"{reason}; RECONCILE_REQUIRE_BROWSER=1 requires it", pytrace=False)
        pytest.skip(reason)
    return CHROMIUM


def dump_dom(chromium: Path, page: Path, profile: Path) -> str:
    """The page's DOM after it loaded and had three seconds (virtual time) to run anything."""
    args = [str(chromium), "--headless", "--disable-gpu", "--no-first-run", "--disable-extensions",
            f"--user-data-dir={profile}", "--virtual-time-budget=3000", "--dump-dom", page.as_uri()]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "<html" in done.stdout, done.stderr[-2000:]
    return done.stdout


def title(dom: str) -> str:
    found = re.search(r"<title>(.*?)</title>", dom, re.DOTALL)
    assert found, dom[:500]
    return found.group(1)


def hostile_page() -> str:
    """A report where every value a source or a person can set carries the payload."""
    records = [
        RecordRef(source="billing", record_type="account", key=f"AC-1{PAYLOAD}",
                  fields={"holder": PAYLOAD, "autopay": True}, role=PAYLOAD),
        RecordRef(source="crm", record_type="contact", key="C-1", fields={"name": PAYLOAD, PAYLOAD: "x"}),
    ]
    base = make_finding("AC-1", name=PAYLOAD, records=records, entity_id=f"E-{PAYLOAD}",
                        story=f"Auto-pay failed; nobody told {PAYLOAD}.", detail_key=PAYLOAD,
                        detail={"note": PAYLOAD})
    suppressed = TrackedFinding.model_validate({
        **base.model_dump(exclude={"fingerprint"}),
        "owner": PAYLOAD, "kind": PAYLOAD,
        "suppression": Suppression(fingerprint="f", reason=PAYLOAD, author=PAYLOAD, created_at=AS_OF),
    })
    second = TrackedFinding.model_validate(
        make_finding("AC-2", name=PAYLOAD, entity_id=f"E-{PAYLOAD}").model_dump(exclude={"fingerprint"})
    )
    history = [
        HistoryEntry(fingerprint=suppressed.fingerprint, run_id=42, from_status=None, to_status="new",
                     reason=PAYLOAD, at=AS_OF),
        HistoryEntry(fingerprint=second.fingerprint, run_id=42, from_status=None, to_status="new",
                     reason="first seen in run 42", at=AS_OF),
    ]
    story = build_story(f"E-{PAYLOAD}", [suppressed, second], history,
                        {records[1].rid: {"contact_id": "C-1", "name": PAYLOAD}})
    result = make_result(
        findings=[suppressed, second],
        resolved=[make_finding("AC-0", name=PAYLOAD, story=PAYLOAD)],
        health=[SourceHealth(source=PAYLOAD, healthy=False, error=PAYLOAD)],
        quarantine=[QuarantinedRow(source=PAYLOAD, stream="account", row=PAYLOAD, field=PAYLOAD,
                                   reason=PAYLOAD, raw={"x": PAYLOAD})],
    )
    return render_html(result, stories=[story])


def test_a_hostile_customer_name_does_not_execute(chromium: Path, tmp_path: Path) -> None:
    page = tmp_path / "run-42.html"
    html = hostile_page()
    page.write_text(html, encoding="utf-8")
    dom = dump_dom(chromium, page, tmp_path / "profile")
    assert title(dom) == "Reconciliation run 42, as of 2026-11-01 06:00 UTC"
    assert "pwned" not in title(dom)
    lowered = dom.lower()
    assert "<script" not in lowered and "<img" not in lowered  # the payload made no element
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom  # it is shown, as text
    assert dom.count("&lt;img src=x onerror=") >= 10  # in names, story, owner, keys, reasons, the story section


def test_escaping_alone_protects_without_the_content_security_policy(chromium: Path, tmp_path: Path) -> None:
    page = tmp_path / "no-csp.html"
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", hostile_page())
    assert "Content-Security-Policy" not in html
    page.write_text(html, encoding="utf-8")
    dom = dump_dom(chromium, page, tmp_path / "profile")
    assert "pwned" not in title(dom)


def test_the_harness_sees_a_script_that_runs(chromium: Path, tmp_path: Path) -> None:
    """The control: the same payload, unescaped and without a policy, does execute."""
    for name, body in (("script", "<script>document.title='pwned'</script>"),
                       ("img", "<img src=x onerror=\"document.title='pwned'\">")):
        page = tmp_path / f"control-{name}.html"
        page.write_text(f"<!DOCTYPE html><html><head><title>safe</title></head><body>{body}</body></html>",
                        encoding="utf-8")
        assert title(dump_dom(chromium, page, tmp_path / f"profile-{name}")) == "pwned"
