"""A deliberately broken rule makes RuleContract fail, with a message that says what to change.

The rule is docs/custom-rules.md's refunds rule (shortened) with the commonest
mistakes a rule author makes: writing helper columns into the context's
tables, picking "the first payment" by row order, and a story fact that is
not documented. Each breaks one check of the contract.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

import pandas as pd
import pytest

from reconcile import Finding, RecordRef, Rule, RuleContext
from reconcile.testing import RuleContract, make_context

pytest_plugins = ["pytester"]

FACTS = {"account": "the account's id", "credit": "paid minus invoiced", "first_payment": "the first payment's id"}


class RefundRule(Rule):
    """A closed account holds money paid beyond its invoices (the correct rule)."""

    kind: Literal["refund_owed_test"] = "refund_owed_test"
    story: ClassVar[str] = "Account {account} is owed {credit} (first payment {first_payment})."
    facts: ClassVar[dict[str, str]] = FACTS

    def totals(self, ctx: RuleContext) -> pd.DataFrame:
        accounts = ctx.table("account")
        paid = ctx.table("payment").groupby("_parent_rid")["amount"].sum()
        invoiced = ctx.table("invoice").groupby("_parent_rid")["amount"].sum()
        return accounts.assign(
            _credit=accounts["_rid"].map(paid).fillna(0.0) - accounts["_rid"].map(invoiced).fillna(0.0)
        )

    def first_payment(self, ctx: RuleContext, rid: str) -> pd.Series:
        payments = ctx.table("payment")
        return payments[payments["_parent_rid"] == rid].sort_values(["attempted_at", "_key"]).iloc[0]

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        accounts = self.totals(ctx)
        owed = accounts[(accounts["status"] == "closed") & (accounts["_credit"] > 1.0)]
        for row in owed.sort_values("_key").to_dict("records"):
            payment = self.first_payment(ctx, row["_rid"])
            subject = RecordRef(source=row["_source"], record_type="account", key=row["_key"])
            yield self.finding(
                subject=subject,
                records=[subject, RecordRef(source=payment["_source"], record_type="payment", key=payment["_key"])],
                entity_id=row["_entity"],
                confidence=1.0,
                facts=self.facts_of(row, payment),
            )

    def facts_of(self, row: dict, payment: pd.Series) -> dict[str, str]:
        return {"account": row["account_id"], "credit": f"{row['_credit']:.2f}", "first_payment": payment["_key"]}


class WritesIntoTheContext(RefundRule):
    """Broken: adds its helper column to the context's account table."""

    kind: Literal["refund_in_place_test"] = "refund_in_place_test"

    def totals(self, ctx: RuleContext) -> pd.DataFrame:
        accounts = ctx.table("account")
        paid = ctx.table("payment").groupby("_parent_rid")["amount"].sum()
        invoiced = ctx.table("invoice").groupby("_parent_rid")["amount"].sum()
        accounts["_credit"] = accounts["_rid"].map(paid).fillna(0.0) - accounts["_rid"].map(invoiced).fillna(0.0)
        return accounts


class DependsOnRowOrder(RefundRule):
    """Broken: "the first payment" is whichever row comes first, and it goes into the subject."""

    kind: Literal["refund_row_order_test"] = "refund_row_order_test"

    def first_payment(self, ctx: RuleContext, rid: str) -> pd.Series:
        payments = ctx.table("payment")
        return payments[payments["_parent_rid"] == rid].iloc[0]

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        for finding in super().evaluate(ctx):
            yield finding.model_copy(update={"detail_key": finding.detail["first_payment"]})


class UndocumentedFact(RefundRule):
    """Broken: its findings carry a fact that ``facts`` does not document."""

    kind: Literal["refund_undocumented_test"] = "refund_undocumented_test"

    def facts_of(self, row: dict, payment: pd.Series) -> dict[str, str]:
        return {**super().facts_of(row, payment), "closed": "recently"}


def _payment(pid: str, day: int, amount: float) -> dict:
    return {"payment_id": pid, "account_id": "AC-1", "amount": amount,
            "attempted_at": f"2026-08-{day:02d}T09:00:00Z", "status": "succeeded"}


class Contract(RuleContract):
    """Not collected (no Test prefix): each broken rule gets a subclass, its checks are called below."""

    rule_class: ClassVar[type[RefundRule]] = RefundRule
    expected = ["AC-1"]
    not_expected = ["AC-2"]

    def make_rule(self) -> Rule:
        return self.rule_class(id="refund_owed", owner="billing")

    def make_context(self) -> RuleContext:
        return make_context({
            "account": [
                {"account_id": "AC-1", "name": "LEE, ANN", "status": "closed"},
                {"account_id": "AC-2", "name": "CHEN, BO", "status": "closed", "_entity": "E-2"},
            ],
            "payment": [_payment("P-1", 1, 60.0), _payment("P-2", 2, 80.0), _payment("P-3", 3, 70.0)
                        | {"account_id": "AC-2"}],
            "invoice": [{"invoice_id": "I-1", "account_id": "AC-1", "amount": 100.0, "due_date": "2026-08-15"},
                        {"invoice_id": "I-2", "account_id": "AC-2", "amount": 70.0, "due_date": "2026-08-15"}],
        })


def _contract(rule_class: type[RefundRule]) -> Contract:
    return type(f"Contract{rule_class.__name__}", (Contract,), {"rule_class": rule_class})()


CHECKS = [name for name in dir(RuleContract) if name.startswith("test_")]


@pytest.mark.parametrize("check", CHECKS)
def test_the_correct_rule_passes_every_check(check: str) -> None:
    getattr(_contract(RefundRule), check)()


@pytest.mark.parametrize(
    ("rule_class", "failing", "message"),
    [
        (WritesIntoTheContext, "test_evaluate_is_pure",
         "WritesIntoTheContext.evaluate changed the 'account' table of the context; work on copies "
         "(frame.assign(...), frame[mask]), never in place"),
        (DependsOnRowOrder, "test_findings_and_fingerprints_survive_row_shuffles",
         "fingerprints change when the rows are shuffled (seed "),
        (UndocumentedFact, "test_story_renders_the_documented_facts",
         "finding on billing:account:AC-1: facts given ['account', 'closed', 'credit', 'first_payment'], "
         "documented ['account', 'credit', 'first_payment']; missing [], undocumented ['closed']"),
    ],
)
def test_each_broken_rule_fails_its_check_with_a_message_saying_what_to_change(
    rule_class: type[RefundRule], failing: str, message: str
) -> None:
    contract = _contract(rule_class)
    with pytest.raises(AssertionError) as err:
        getattr(contract, failing)()
    assert message in str(err.value)
    # Only that check fails: the message points at the one thing to change.
    for check in CHECKS:
        if check != failing:
            getattr(contract, check)()


def test_what_the_rule_author_sees_in_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_refunds='''
from typing import ClassVar, Literal

import pandas as pd

from reconcile import RecordRef, Rule
from reconcile.testing import RuleContract, make_context


class CreditOnClosedAccountRule(Rule):
    """A closed account holds money paid beyond its invoices."""

    kind: Literal["credit_on_closed_account"] = "credit_on_closed_account"
    story: ClassVar[str] = "Account {account} is owed {credit}."
    facts: ClassVar[dict[str, str]] = {"account": "the account id", "credit": "paid minus invoiced"}

    def evaluate(self, ctx):
        accounts = ctx.table("account")
        paid = ctx.table("payment").groupby("_parent_rid")["amount"].sum()
        accounts["_credit"] = accounts["_rid"].map(paid).fillna(0.0)   # the mistake: in place
        for row in accounts[accounts["_credit"] > 0].sort_values("_key").to_dict("records"):
            subject = RecordRef(source=row["_source"], record_type="account", key=row["_key"])
            yield self.finding(subject=subject, records=[subject], entity_id=row["_entity"], confidence=1.0,
                               facts={"account": row["account_id"], "credit": f"{row['_credit']:.2f}"})


class TestCreditOnClosedAccount(RuleContract):
    expected = ["AC-1"]
    not_expected = ["AC-2"]

    def make_rule(self):
        return CreditOnClosedAccountRule(id="refund_owed", owner="billing")

    def make_context(self):
        return make_context({
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"},
                        {"account_id": "AC-2", "name": "CHEN, BO", "_entity": "E-2"}],
            "payment": [{"payment_id": "P-1", "account_id": "AC-1", "amount": 40.0,
                         "attempted_at": "2026-08-01T09:00:00Z", "status": "succeeded"}],
        })
''')
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines([
        "E * AssertionError: CreditOnClosedAccountRule.evaluate changed the 'account' table of the context; "
        "work on copies (frame.assign(...), frame[[]mask[]]), never in place:",
        "FAILED test_refunds.py::TestCreditOnClosedAccount::test_evaluate_is_pure*",
    ])
