# file: tests/test_rules.py
from __future__ import annotations

from reconcile.testing.rules import RuleContract, make_context
from reconcile_refunds.rules import CreditOnClosedAccountRule


def _payment(pid: str, account: str, amount: float) -> dict:
    return {"payment_id": pid, "account_id": account, "amount": amount,
            "attempted_at": "2026-08-01T09:00:00Z", "status": "succeeded"}


def _invoice(iid: str, account: str, amount: float) -> dict:
    return {"invoice_id": iid, "account_id": account, "amount": amount, "due_date": "2026-08-15"}


class TestCreditOnClosedAccount(RuleContract):
    expected = ["AC-1"]
    not_expected = ["AC-2", "AC-3"]  # closed with the balance settled; closed yesterday

    def make_rule(self) -> CreditOnClosedAccountRule:
        return CreditOnClosedAccountRule(id="refund_owed", owner="billing", severity="high")

    def make_context(self):
        return make_context({
            "account": [
                {"account_id": "AC-1", "name": "LEE, ANN", "status": "closed", "closed_at": "2026-09-30"},
                {"account_id": "AC-2", "name": "CHEN, BO", "status": "closed", "closed_at": "2026-09-30",
                 "_entity": "E-2"},
                {"account_id": "AC-3", "name": "RUIZ, EVA", "status": "closed", "closed_at": "2026-10-31",
                 "_entity": "E-3"},
            ],
            "payment": [_payment("P-1", "AC-1", 100.0), _payment("P-2", "AC-1", 40.0),
                        _payment("P-3", "AC-2", 70.0), _payment("P-4", "AC-3", 90.0)],
            "invoice": [_invoice("I-1", "AC-1", 100.0), _invoice("I-2", "AC-2", 70.0),
                        _invoice("I-3", "AC-3", 10.0)],
        })


def test_the_story_names_the_credit() -> None:
    (finding,) = TestCreditOnClosedAccount().findings()
    assert finding.story == (
        "Account AC-1 was closed on 2026-09-30 with 40.00 paid beyond its invoices "
        "(140.00 paid, 100.00 invoiced): refund the customer."
    )
    assert [r.key for r in finding.records] == ["AC-1", "P-1", "P-2", "I-1"]
