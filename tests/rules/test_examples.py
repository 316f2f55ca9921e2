"""reconcile.rules.example: the small worlds behind the docs' example findings and RuleContract."""

from __future__ import annotations

import pandas as pd
import pytest
from pydantic import ValidationError

from reconcile.rules.base import META_COLUMNS, Rule
from reconcile.rules.example import DEFAULT_SOURCES, EXAMPLE_AS_OF, make_context, make_tables
from reconcile.rules.registry import rule_classes

SHIPPED = {k: c for k, c in rule_classes().items() if c.__module__.startswith("reconcile.")}


def test_rows_become_the_tables_a_rule_sees() -> None:
    tables = make_tables({
        "account": [{"account_id": "AC-1", "name": "LEE, ANN", "opened_at": "2026-01-02"},
                    {"account_id": "AC-2", "name": "CHEN, BO", "_entity": "E-2", "_confidence": 0.8,
                     "_source": "billing_eu"}],
        "invoice": [{"invoice_id": "I-1", "account_id": "AC-2", "amount": "12.5", "due_date": "2026-09-01"},
                    {"invoice_id": "I-2", "account_id": "AC-9", "amount": 1, "due_date": "2026-09-01"},
                    {"invoice_id": "I-3", "account_id": "AC-1", "amount": 1, "due_date": "2026-09-01",
                     "_entity": "E-9"}],
    })
    accounts, invoices = tables["account"], tables["invoice"]
    assert set(META_COLUMNS) <= set(accounts.columns) and "_n_family" in accounts.columns
    assert list(accounts["_rid"]) == ["billing:account:AC-1", "billing_eu:account:AC-2"]
    assert list(accounts["_entity"]) == ["E-1", "E-2"]
    assert accounts["opened_at"].iloc[0] == pd.Timestamp("2026-01-02").date()
    assert list(invoices["_source"]) == [DEFAULT_SOURCES["invoice"]] * 3
    # Attached as the pipeline does: same source first, then any source; unknown parents stay alone.
    assert list(invoices["_parent_rid"]) == ["billing_eu:account:AC-2", None, "billing:account:AC-1"]
    assert list(invoices["_entity"]) == ["E-2", None, "E-9"]  # a row may set its own
    assert list(invoices["_confidence"]) == [0.8, None, 1.0]
    assert invoices["amount"].iloc[0] == 12.5


def test_rows_are_checked_against_their_record_type() -> None:
    with pytest.raises(ValidationError, match="amount"):
        make_tables({"invoice": [{"invoice_id": "I-1", "account_id": "AC-1", "due_date": "2026-09-01"}]})
    with pytest.raises(KeyError, match="_colour"):
        make_tables({"account": [{"account_id": "AC-1", "_colour": "red"}]})
    with pytest.raises(KeyError, match="unknown record type 'acount'"):
        make_tables({"acount": []})


def test_a_context_has_the_examples_as_of_time() -> None:
    ctx = make_context({"account": [{"account_id": "AC-1"}]})
    assert ctx.as_of == EXAMPLE_AS_OF and list(ctx.table("payment").columns)[:2] == ["payment_id", "account_id"]


@pytest.mark.parametrize("kind", sorted(SHIPPED))
def test_every_shipped_kind_has_an_example_with_one_finding(kind: str) -> None:
    cls: type[Rule] = SHIPPED[kind]
    assert cls.example is not None, f"{cls.__name__} needs an example for its docs page"
    (finding,) = cls.example.findings(cls)
    assert finding.kind == kind and finding.rule_id == cls.example.config(kind)["id"]
