"""Property tests of the rule on random accounts, payments and invoices (reconcile.testing.strategies).

The rule is checked against an oracle: the sums it should have made.
"""

from __future__ import annotations

import datetime as dt

import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, assume, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from reconcile.testing import strategies as rst  # noqa: E402
from reconcile.testing.rules import AS_OF, make_context  # noqa: E402
from reconcile_refunds.rules import CreditOnClosedAccountRule  # noqa: E402

RULE = CreditOnClosedAccountRule(id="refund_owed", owner="billing")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

accounts = rst.accounts(account_id="AC-1")
payments = st.lists(rst.payments(account_id="AC-1"), max_size=5, unique_by=lambda p: p["payment_id"])
invoices = st.lists(rst.invoices(account_id="AC-1"), max_size=5, unique_by=lambda i: i["invoice_id"])


def findings(account: dict, paid: list[dict], billed: list[dict]) -> list:
    return list(RULE.evaluate(make_context({"account": [account], "payment": paid, "invoice": billed})))


@SETTINGS
@given(accounts, payments, invoices)
def test_a_refund_is_owed_exactly_when_the_sums_say_so(account: dict, paid: list[dict], billed: list[dict]) -> None:
    credit = sum(p["amount"] for p in paid if p["status"] == "succeeded") - sum(i["amount"] for i in billed)
    assume(abs(credit - RULE.min_credit) > 0.005)  # the boundary itself is a matter of float rounding
    closed = account["status"] == "closed" and account["closed_at"] < (AS_OF - RULE.grace).date()
    found = findings(account, paid, billed)
    assert len(found) == (1 if closed and credit > RULE.min_credit else 0), (account, credit, found)
    for finding in found:
        assert finding.detail["credit"] == f"{credit:.2f}"


@SETTINGS
@given(rst.accounts(account_id="AC-1", status="active"), payments, invoices)
def test_an_open_account_never_owes_a_refund(account: dict, paid: list[dict], billed: list[dict]) -> None:
    assert findings(account, paid, billed) == []


@SETTINGS
@given(rst.accounts(account_id="AC-1", status="closed", closed_at=rst.days(30, 0)), payments)
def test_paying_the_invoices_exactly_owes_nothing(account: dict, paid: list[dict]) -> None:
    billed = [{"invoice_id": f"I-{n}", "account_id": "AC-1", "amount": p["amount"], "due_date": dt.date(2026, 9, 1)}
              for n, p in enumerate(paid) if p["status"] == "succeeded"]
    assert findings(account, paid, billed) == []
