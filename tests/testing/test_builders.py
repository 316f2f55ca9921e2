"""reconcile.testing.Sources and run_sources: test worlds from inline rows, frames and YAML."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any, ClassVar, Literal

import pandas as pd
import pytest

import reconcile
from reconcile import ConfigError, RunError
from reconcile.rules.example import EXAMPLE_AS_OF
from reconcile.store import Store
from reconcile.testing import FIXED_AS_OF, Sources, assert_findings, run_sources

MISSING_CONTACT = [{
    "id": "account_without_contact", "kind": "missing_in", "owner": "crm-team",
    "present": {"type": "account"}, "absent": {"type": "contact"},
}]


def _billing_and_crm() -> Sources:
    return Sources().records(
        "billing",
        account=[
            {"account_id": "AC-1", "name": "LEE, ANN", "email": "ann@example.com"},
            {"account_id": "AC-2", "name": "STONE, BOB", "email": "bob@example.com"},
        ],
    ).records("crm", contact=[{"contact_id": "C-1", "given_name": "Ann", "family_name": "Lee",
                               "email": "ANN@example.com"}])


def test_fixed_as_of_is_the_rule_examples_as_of() -> None:
    assert FIXED_AS_OF == EXAMPLE_AS_OF


def test_canonical_rows_map_their_own_fields_and_the_required_ones() -> None:
    sources = Sources().records("billing", invoice=[{"invoice_id": "I-1", "amount": 10}])
    stream = sources.config()["billing"]["streams"]["invoice"]
    assert stream["fields"] == {
        "invoice_id": "invoice_id", "amount": "amount", "account_id": "account_id", "due_date": "due_date",
    }


def test_a_misspelt_column_is_an_error_with_a_suggestion() -> None:
    with pytest.raises(ValueError) as err:
        Sources().records("billing", account=[{"account_id": "AC-1", "nmae": "Ann"}])
    text = str(err.value)
    assert "source 'billing': the account rows have columns that are not fields of account: " in text
    assert "'nmae' (did you mean 'name'?)" in text
    assert "fields={'account': " in text


def test_a_source_name_is_used_once_and_streams_are_lists() -> None:
    sources = Sources().records("billing", account=[])
    with pytest.raises(ValueError, match="source 'billing' is already defined"):
        sources.records("billing", invoice=[])
    with pytest.raises(ValueError, match="source 'crm' has no streams"):
        sources.records("crm")
    with pytest.raises(ValueError, match="account must be a list of rows"):
        Sources().records("x", account={"account_id": "AC-1"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"fields are given for \['contact'\], which have no rows"):
        Sources().records("x", account=[], fields={"contact": {"contact_id": "id"}})
    with pytest.raises(KeyError, match="unknown record type 'acount'"):
        Sources().records("x", acount=[])


def test_rows_in_the_source_shape_with_a_mapping_and_options() -> None:
    sources = Sources().records(
        "billing",
        account=[{"acct": "AC-1", "holder": "LEE, ANN", "flag": "Y"}],
        fields={"account": {"account_id": "acct", "name": "holder",
                            "autopay": {"column": "flag", "transform": "bool"}}},
        options={"max_quarantine_fraction": 0.9},
    )
    source = sources.config()["billing"]
    assert source["max_quarantine_fraction"] == 0.9
    result = run_sources(sources)
    (health,) = result.health
    assert health.rows_used == 1 and result.findings == []


def test_frames_and_yaml_snippets(tmp_path: Path) -> None:
    (tmp_path / "contacts.csv").write_text("id,name,email\nC-1,Ann Lee,ann@example.com\n")
    frame = pd.DataFrame({"account_id": ["AC-1", "AC-2"], "name": ["LEE, ANN", "STONE, BOB"],
                          "email": ["ann@example.com", None]})
    sources = Sources().frame("billing", account=frame).yaml("""
        crm:
          kind: csv
          streams:
            contact: {path: contacts.csv, fields: {contact_id: id, name: name, email: email}}
        telemetry:
          device_status:
            - {device_id: HUB-1, status: offline}
    """)
    assert sources.names == ["billing", "crm", "telemetry"] and "crm" in sources and len(sources) == 3
    assert repr(sources) == "Sources(billing (dataframe: account); crm (csv: contact); telemetry (records: device_status))"
    result = run_sources(sources, rules=MISSING_CONTACT, base_dir=tmp_path)
    (finding,) = assert_findings(result, kind="missing_in", count=1)
    assert finding.subject.rid == "billing:account:AC-2"


def test_yaml_inline_sources_take_fields_and_options() -> None:
    sources = Sources().yaml("""
        billing:
          fields: {account: {account_id: acct, name: holder}}
          options: {description: the old billing system}
          account:
            - {acct: AC-1, holder: "LEE, ANN"}
    """)
    source = sources.config()["billing"]
    assert source["description"] == "the old billing system"
    assert source["streams"]["account"]["fields"] == {"account_id": "acct", "name": "holder"}
    with pytest.raises(ValueError, match="must be a mapping of source names"):
        Sources().yaml("- just a list")


def test_rules_as_yaml_text_and_the_run_is_at_the_fixed_time() -> None:
    result = run_sources(_billing_and_crm(), rules="""
        rules:
          - id: account_without_contact
            kind: missing_in
            owner: crm-team
            present: {type: account}
            absent: {type: contact}
    """)
    assert result.as_of == FIXED_AS_OF
    assert result.run_id is None
    assert_findings(result, subject="AC-2", count=1, owner="crm-team", status=None)


def test_as_of_as_text_or_naive_is_utc() -> None:
    result = run_sources(_billing_and_crm(), as_of="2026-01-02T03:04:05")
    assert result.as_of == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class LateInvoiceRule(reconcile.Rule):
    """Open invoices past due (a small unregistered kind for this test)."""

    kind: Literal["late_invoice"] = "late_invoice"
    story: ClassVar[str] = "Invoice {invoice} is past due."
    facts: ClassVar[dict[str, str]] = {"invoice": "the invoice id"}

    def evaluate(self, ctx: reconcile.RuleContext) -> Any:
        from reconcile.rules.base import ref

        invoices = ctx.table("invoice")
        late = invoices[(invoices["status"] == "open")
                        & (pd.to_datetime(invoices["due_date"]) < pd.Timestamp(ctx.as_of_date))]
        for row in late.sort_values("_key").to_dict("records"):
            subject = ref(row, "invoice", ("due_date",), role="late")
            yield self.finding(subject=subject, records=[subject], entity_id=row["_entity"],
                               confidence=1.0, facts={"invoice": row["invoice_id"]})


def test_a_rule_object_of_an_unregistered_class_runs_by_import_path() -> None:
    sources = Sources().records(
        "billing",
        account=[{"account_id": "AC-1", "name": "LEE, ANN"}],
        invoice=[{"invoice_id": "I-1", "account_id": "AC-1", "amount": 10, "due_date": "2026-10-01"},
                 {"invoice_id": "I-2", "account_id": "AC-1", "amount": 10, "due_date": "2026-12-01"}],
    )
    result = run_sources(sources, rules=[LateInvoiceRule(id="late", owner="billing")])
    (finding,) = assert_findings(result, kind="late_invoice", count=1)
    assert finding.story == "Invoice I-1 is past due."


def test_a_rule_class_inside_a_function_is_refused_with_the_reason() -> None:
    class Local(LateInvoiceRule):
        pass

    with pytest.raises(ValueError, match="defined inside a function"):
        run_sources(_billing_and_crm(), rules=[Local(id="late", owner="billing")])


def test_an_invalid_rule_is_a_config_error_naming_the_origin() -> None:
    with pytest.raises(ConfigError, match="reconcile_run: rules"):
        run_sources(_billing_and_crm(), rules=[{"id": "x", "kind": "missing_inn", "owner": "a"}])


def test_an_unhealthy_source_fails_the_run() -> None:
    sources = Sources().records("billing", account=[{"account_id": None, "name": "no key"}])
    with pytest.raises(RunError, match="billing"):
        run_sources(sources)


def test_a_store_follows_findings_across_runs(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        first = run_sources(_billing_and_crm(), rules=MISSING_CONTACT, store=store)
        assert_findings(first, status="new", count=1)
        second = run_sources(_billing_and_crm(), rules=MISSING_CONTACT, store=store)
        assert_findings(second, status="open", count=1)
        assert sorted(run.id for run in store.runs()) == [first.run_id, second.run_id]


def test_an_in_memory_store_cannot_be_shared_with_a_run() -> None:
    with Store("sqlite://") as store, pytest.raises(ValueError, match="cannot use an in-memory store"):
        run_sources(_billing_and_crm(), store=store)


def test_reports_are_written_under_base_dir(tmp_path: Path) -> None:
    result = run_sources(_billing_and_crm(), rules=MISSING_CONTACT, reports=["json"], base_dir=tmp_path)
    assert Path(result.reports["json"]).parent == tmp_path / "reports"
