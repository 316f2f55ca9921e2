"""${ENV_VAR} in configuration, and secrets kept out of messages, logs, reports and the store."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from reconcile import secrets
from reconcile.config import load_config, parse_config
from reconcile.errors import ConfigError, RunError, SourceError
from reconcile.extract.files import CsvAdapter

PASSWORD = "Tr0ub4dor&3/p@ss"


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    secrets._forget_all()
    yield
    secrets._forget_all()


def _source(url: str, **extra: object) -> dict[str, object]:
    return {"kind": "sql", "url": url, "connect_timeout": 2,
            "streams": {"account": {"table": "accounts", "fields": {"account_id": "account_no"}}}, **extra}


@pytest.mark.parametrize(
    ("text", "env", "expanded"),
    [
        ("${HOST}", {"HOST": "db.example"}, "db.example"),
        ("postgresql://app:${PW}@${HOST:-localhost}/billing", {"PW": "x"}, "postgresql://app:x@localhost/billing"),
        ("${PORT:-5432}", {"PORT": ""}, "5432"),
        ("${EMPTY}", {"EMPTY": ""}, ""),
        ("price: $5, literal $${HOME}", {}, "price: $5, literal ${HOME}"),
        ("${A}${B}", {"A": "1", "B": "2"}, "12"),
        ("${DEF:-a:b}", {}, "a:b"),
        ("no references", {}, "no references"),
    ],
)
def test_expand(text: str, env: dict[str, str], expanded: str) -> None:
    assert secrets.expand(text, env) == expanded


def test_a_missing_variable_names_the_variable() -> None:
    with pytest.raises(secrets.MissingVariable) as err:
        secrets.expand("x${NOPE}y", {})
    assert err.value.name == "NOPE"
    with pytest.raises(ValueError, match="NAME}"):
        secrets.expand("${not closed", {})


def test_config_strings_are_expanded_when_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BILLING_CSV", "billing.csv")
    (tmp_path / "reconcile.yaml").write_text(
        "sources:\n"
        "  crm:\n"
        "    kind: csv\n"
        "    description: ${DESCRIPTION:-the CRM export}\n"
        "    streams:\n"
        "      contact:\n"
        "        path: ${BILLING_CSV}\n"
        "        fields: {contact_id: id, country: {const: '${COUNTRY:-US}'}}\n",
        encoding="utf-8",
    )
    config = load_config(tmp_path / "reconcile.yaml")
    source = config.sources["crm"]
    assert source.description == "the CRM export"
    assert source.streams["contact"].path == "billing.csv"  # type: ignore[attr-defined]
    assert source.streams["contact"].fields["country"].const == "US"  # type: ignore[union-attr]


def test_missing_variables_are_config_errors_with_the_field_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            {"sources": {"billing": _source("postgresql://app:${NO_SUCH_PASSWORD}@db/billing"),
                         "crm": {"kind": "csv", "streams": {"contact": {
                             "path": "${NO_SUCH_DIR}/c.csv", "fields": {"contact_id": "id"}}}}}},
            origin="reconcile.yaml",
        )
    locations = dict(err.value.problems)
    assert locations["reconcile.yaml: sources.billing.url"] == (
        "environment variable NO_SUCH_PASSWORD is not set (set it, or give a default: ${NO_SUCH_PASSWORD:-default})"
    )
    assert "NO_SUCH_DIR" in locations["reconcile.yaml: sources.crm.streams.contact.path"]


def test_a_password_from_the_environment_never_shows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    config = parse_config(
        {"sources": {"billing": _source("postgresql+psycopg://app:${DB_PASSWORD}@127.0.0.1:9/billing")}},
        base_dir=tmp_path,
    )
    assert config.sources["billing"].url.endswith(f"app:{PASSWORD}@127.0.0.1:9/billing")  # type: ignore[attr-defined]
    shown = [str(config), repr(config), str(config.sources["billing"]), repr(config.sources["billing"])]
    for text in shown:
        assert "***" in text
        assert PASSWORD not in text and "Tr0ub4dor" not in text

    from reconcile.extract import build_adapter

    result = build_adapter("billing", config.sources["billing"], tmp_path).extract()
    assert result.health is not None and not result.health.healthy
    error = result.health.error or ""
    assert "billing" in error and "Tr0ub4dor" not in error
    assert quote(PASSWORD, safe="") not in error


def test_a_literal_url_password_is_hidden_too(tmp_path: Path) -> None:
    config = parse_config({"sources": {"billing": _source("mysql+pymysql://app:literal-Secret@127.0.0.1:9/x")}})
    assert "literal-Secret" not in repr(config)
    assert secrets.redact("connect as literal-Secret") == "connect as ***"


def test_redaction() -> None:
    secrets.register("hunter22")
    secrets.register("hunter2222")
    secrets.register("abc")  # too short to be worth hiding
    secrets.register("p@ss word/x")
    assert secrets.redact("a hunter2222 b hunter22 c abc") == "a *** b *** c abc"
    assert secrets.redact("user:p%40ss%20word%2Fx@host") == "user:***@host"
    assert secrets.redact("user:p%40ss+word%2Fx@host") == "user:***@host"
    assert secrets.redact_value({"a": ["x hunter22"], "b": 1}) == {"a": ["x ***"], "b": 1}


def test_errors_are_redacted() -> None:
    secrets.register("s3cr3t-value")
    assert "s3cr3t" not in str(SourceError("billing", "login s3cr3t-value refused"))
    problem = ConfigError([("reconcile.yaml: sources.x.url", "bad url http://u:s3cr3t-value@h")])
    assert "s3cr3t" not in str(problem) and "s3cr3t" not in repr(problem.problems)


def test_logging_filter_redacts_records(caplog: pytest.LogCaptureFixture) -> None:
    secrets.register("s3cr3t-value")
    handler_filter = secrets.RedactingFilter()
    caplog.handler.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("reconcile.test").info("connecting with %s", "s3cr3t-value")
    finally:
        caplog.handler.removeFilter(handler_filter)
    assert "s3cr3t" not in caplog.text and "connecting with ***" in caplog.text


def test_quarantined_rows_do_not_carry_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_TOKEN", "tok-0123456789")
    (tmp_path / "c.csv").write_text("id,name\n,tok-0123456789\n1,Ann\n", encoding="utf-8")
    config = parse_config(
        {"sources": {"crm": {"kind": "csv", "description": "token ${API_TOKEN}", "max_quarantine_fraction": 1,
                             "streams": {"contact": {"path": "c.csv", "fields": {"contact_id": "id", "name": "name"}}}}}},
        base_dir=tmp_path,
    )
    result = CsvAdapter("crm", config.sources["crm"], tmp_path).extract()
    (row,) = result.quarantine
    assert "tok-0123456789" not in json.dumps(row.model_dump())
    assert row.raw["name"] == "***"


def test_a_failed_run_keeps_the_password_out_of_the_error_and_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reconcile.pipeline import run
    from reconcile.store import Store

    monkeypatch.setenv("DB_PASSWORD", PASSWORD)
    config = parse_config(
        {"sources": {"billing": _source("postgresql+psycopg://app:${DB_PASSWORD}@127.0.0.1:9/billing")},
         "store": {"url": "sqlite:///store.db"}, "reports": {"formats": ["json"]}},
        base_dir=tmp_path,
    )
    with pytest.raises(RunError) as err:
        run(config)
    assert "Tr0ub4dor" not in str(err.value)
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        for record in store.runs():
            assert "Tr0ub4dor" not in json.dumps(record.model_dump(mode="json"), default=str)
    finally:
        store.close()
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert b"Tr0ub4dor" not in path.read_bytes(), path


def test_rows_given_from_python_are_data_not_configuration(tmp_path: Path) -> None:
    rows = [{"id": "1", "name": "${NOT_A_VARIABLE}"}]
    config = parse_config(
        {"sources": {"app": {"kind": "records", "streams": {"contact": {
            "records": rows, "fields": {"contact_id": "id", "name": "name"}}}}}},
        base_dir=tmp_path,
    )
    assert config.sources["app"].streams["contact"].records is rows  # type: ignore[attr-defined]
    assert rows[0]["name"] == "${NOT_A_VARIABLE}"


def test_log_lines_of_the_cli_handler_never_show_a_secret() -> None:
    import io
    import logging

    from reconcile.logs import configure_logging
    from reconcile.secrets import register

    register("hunter2-very-secret")
    for fmt in ("text", "json"):
        stream = io.StringIO()
        configure_logging(1, fmt, stream)
        logging.getLogger("reconcile.test").info("connecting with %s", "hunter2-very-secret")
        assert "hunter2-very-secret" not in stream.getvalue()
        assert "***" in stream.getvalue()
    configure_logging(0, "text")
