"""Billing kinds: ``failed_autopay`` and ``payment_misapplied`` (stories 1 and 4)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from reconcile.findings import Finding
from reconcile.rules._common import (
    BuiltinRule,
    confidence,
    cutoff_day,
    day,
    entity_key,
    entity_or_none,
    group_rows,
    is_in,
    min_confidence,
    parent_in,
    parent_rid,
    plural,
    records,
    rows,
    take,
    text,
    truthy,
    utc,
    with_columns,
)
from reconcile.rules.base import RuleContext
from reconcile.rules.example import RuleExample

__all__ = ["FailedAutopayRule", "PaymentMisappliedRule"]

ACCOUNT_FIELDS = ("account_id", "name", "company", "status", "autopay", "autopay_method", "opened_at")
PAYMENT_FIELDS = ("payment_id", "account_id", "attempted_at", "amount", "status", "return_code", "method")
INVOICE_FIELDS = ("invoice_id", "account_id", "amount", "issued_at", "due_date", "status")

_STATUS_DOCS = "compared case-insensitively"

#: failed_autopay makes the rows of this many reported accounts into dicts at a time.
_ACCOUNTS_PER_BATCH = 2_000


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _overdue_invoices(
    ctx: RuleContext, account_rids: pd.Index, statuses: list[str], cutoff: pd.Timestamp
) -> pd.DataFrame:
    """Open invoices of these accounts due before ``cutoff``, with ``_acct`` and ``_due``."""
    inv = ctx.table("invoice")
    if inv.empty or account_rids.empty:
        return with_columns(take(inv, INVOICE_FIELDS, np.zeros(len(inv), dtype=bool)),
            _acct=pd.Series(dtype=object), _due=pd.Series(dtype="datetime64[ns, UTC]")
        )
    # Whole columns are read, only the rows of these accounts are copied; due dates are
    # read for those rows alone (reading every invoice's took a second at a million customers).
    mine = np.flatnonzero(parent_in(inv, "invoice", account_rids))
    due = utc(inv["due_date"].iloc[mine])
    chosen = (is_in(inv["status"].iloc[mine], statuses) & (due < cutoff)).to_numpy()
    keep = mine[chosen]
    out = with_columns(take(inv, INVOICE_FIELDS, keep), _acct=parent_rid(inv, "invoice", keep), _due=due[chosen])
    return out.sort_values(["_acct", "_due", "_rid"], kind="stable")


class FailedAutopayRule(BuiltinRule):
    """Auto-pay is on, the last attempts all failed, invoices are overdue and nobody called.

    An active account with auto-pay whose last ``min_failures`` auto-pay
    attempts (payments with ``autopay`` true, ordered by ``attempted_at``) all
    failed, with at least one open invoice due before ``as_of - grace``, and no
    CRM case of the same entity opened on or after the first of those
    attempts (only cases whose topic is in ``case_topics``, if given). The
    story counts the whole run of failures since the last success.

    A failure followed by a success, or an account switched to manual pay
    (``autopay`` false), is not a finding. An account no entity holds is
    evaluated on its own (it can have no case then).

    Attributes:
        min_failures: How many of the latest auto-pay attempts must have failed.
        account_statuses: Account statuses that count as active.
        failed_statuses: Payment statuses of a failed attempt.
        succeeded_statuses: Payment statuses of a successful attempt.
        open_invoice_statuses: Invoice statuses of an unpaid invoice.
        case_topics: Case topics that count as telling the customer; ``None``: any case.
    """

    kind: Literal["failed_autopay"] = "failed_autopay"
    entity_local = True
    min_failures: int = Field(default=3, ge=1)
    account_statuses: list[str] = Field(default_factory=lambda: ["active"])
    failed_statuses: list[str] = Field(default_factory=lambda: ["failed"])
    succeeded_statuses: list[str] = Field(default_factory=lambda: ["succeeded"])
    open_invoice_statuses: list[str] = Field(default_factory=lambda: ["open"])
    case_topics: list[str] | None = None

    story: ClassVar[str] = (
        "Auto-pay on account {account} ({method}) has failed {failures} times since {since} "
        "({codes}); {overdue_text}, and no customer contact is recorded since: contact the "
        "customer and fix or cancel the mandate."
    )
    facts: ClassVar[dict[str, str]] = {
        "account": "the account's id",
        "method": "the auto-pay method on the mandate ('auto-pay method unknown' if none)",
        "failures": "failed auto-pay attempts since the last successful one",
        "since": "date of the first of those failures",
        "codes": "their return codes in order, such as 'R01, R01, CARD_DECLINED'",
        "last_success": "date of the last successful auto-pay attempt, or None",
        "overdue": "number of overdue open invoices",
        "overdue_amount": "their total amount",
        "oldest_due": "the earliest due date among them",
        "overdue_text": "'3 invoices overdue (129.00 in total)'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="billing",
        records={
            "account": [{"account_id": "AC-0001234", "name": "SMITH, ROBERT", "autopay": True,
                         "autopay_method": "ach"}],
            "payment": [
                {"payment_id": f"P-{n}", "account_id": "AC-0001234", "amount": 43.0, "autopay": True,
                 "attempted_at": f"2026-{month:02d}-02T09:00:00Z", "status": status, "return_code": code}
                for n, (month, status, code) in enumerate(
                    [(7, "succeeded", None), (8, "failed", "R01"), (9, "failed", "R01"), (10, "failed", "CARD_DECLINED")])
            ],
            "invoice": [{"invoice_id": f"INV-{month}", "account_id": "AC-0001234", "amount": 43.0,
                         "due_date": f"2026-{month:02d}-20"} for month in (8, 9, 10)],
            "contact": [{"contact_id": "K-1", "name": "Robert Smith"}],
            "case": [{"case_id": "C-1", "contact_id": "K-1", "opened_at": "2026-03-11T15:00:00Z", "topic": "billing"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        # The frames the reported rows are taken from are dropped before any finding is
        # made: held beside the findings, they were the rule's peak of memory.
        prepared = self._reported(ctx)
        if prepared is None:
            return
        chosen, payments, overdue, accounts = prepared
        # The rows of a batch of accounts at a time become dicts: every payment of every
        # account reported at once was this rule's largest use of memory at a million customers.
        for start in range(0, len(chosen), _ACCOUNTS_PER_BATCH):
            batch = chosen[start : start + _ACCOUNTS_PER_BATCH]
            yield from self._findings(
                batch,
                attempts=group_rows(payments[payments["_acct"].isin(batch)], "_acct",
                                    (*PAYMENT_FIELDS, "_t", "_failed", "_ok", "_conf")),
                invoices=group_rows(overdue[overdue["_acct"].isin(batch)], "_acct", (*INVOICE_FIELDS, "_due", "_conf")),
                mandates=group_rows(accounts[accounts["_rid"].isin(batch)], "_rid", (*ACCOUNT_FIELDS, "_ekey", "_conf")),
            )

    def _reported(
        self, ctx: RuleContext
    ) -> tuple[list[Any], pd.DataFrame, pd.DataFrame, pd.DataFrame] | None:
        """The reported accounts' rids, in order, and their payments, overdue invoices and account rows."""
        table = ctx.table("account")
        if table.empty:
            return None
        active = (is_in(table["status"], self.account_statuses) & truthy(table["autopay"])).to_numpy()
        every = ctx.table("payment")
        if not active.any() or every.empty:
            return None
        # The rows are chosen on whole columns and the payments' fields taken once, for
        # the suspects only: copying the fields of every auto-pay attempt first (twice,
        # as rows were filtered) was this rule's largest use of memory. The failed
        # attempts are read first, while nothing else is held (reading the statuses is
        # the largest temporary); then the accounts of the auto-pay attempts, then the
        # times of those of active accounts.
        failed_at = is_in(every["status"], self.failed_statuses).to_numpy()
        rows = np.flatnonzero(truthy(every["autopay"]).to_numpy())
        acct = parent_rid(every, "payment", rows)
        mine = acct.isin(table["_rid"][active]).to_numpy()
        rows, acct = rows[mine], acct[mine]
        t = utc(every["attempted_at"].iloc[rows])
        kept = t.notna().to_numpy()
        rows, acct, t = rows[kept], acct[kept], t[kept]
        failed = pd.Series(failed_at[rows], index=acct.index)
        del failed_at
        # An account with fewer failed attempts in all cannot have its latest N all failed.
        counts = acct[failed.to_numpy()].value_counts()
        suspects = acct.isin(counts.index[counts >= self.min_failures]).to_numpy()
        rows, acct, t, failed = rows[suspects], acct[suspects], t[suspects], failed[suspects]
        payments = with_columns(take(every, PAYMENT_FIELDS, rows), _acct=acct, _t=t)
        del every
        if payments.empty:
            return None
        payments = with_columns(payments,
            _failed=failed, _ok=is_in(payments["status"], self.succeeded_statuses),
        ).sort_values(["_acct", "_t", "_rid"], kind="stable")

        # The latest N attempts of each account, all failed.
        latest = payments.groupby("_acct", sort=False).tail(self.min_failures)
        tally = latest.groupby("_acct").agg(
            attempts=("_failed", "size"), failed=("_failed", "sum"), first=("_t", "min")
        )
        tally = tally[(tally["attempts"] == self.min_failures) & (tally["failed"] == self.min_failures)]
        if tally.empty:
            return None

        overdue = _overdue_invoices(
            ctx, tally.index, self.open_invoice_statuses, cutoff_day(ctx.as_of, self.grace)
        )
        tally = tally[tally.index.isin(overdue["_acct"])]
        if tally.empty:
            return None

        accounts = take(table, ACCOUNT_FIELDS, active & table["_rid"].isin(tally.index).to_numpy())
        accounts = with_columns(accounts, _ekey=entity_key(accounts), _conf=confidence(accounts))
        tally = with_columns(tally, _ekey=tally.index.map(accounts.set_index("_rid")["_ekey"]))

        # A case opened on or after the first of those failures: the customer was told.
        cases = ctx.table("case")
        if not cases.empty:
            cases = take(cases, ("opened_at", "topic"))
            cases = with_columns(cases, _ekey=entity_key(cases), _t=utc(cases["opened_at"]))
            if self.case_topics is not None:
                cases = cases[is_in(cases["topic"], self.case_topics)]
            told = tally.reset_index().merge(cases[["_ekey", "_t"]], on="_ekey")
            told = told[told["_t"] >= told["first"]]
            tally = tally[~tally.index.isin(told["_acct"])]
        if tally.empty:
            return None

        payments = with_columns(payments[payments["_acct"].isin(tally.index)], _conf=confidence(payments))
        overdue = with_columns(overdue, _conf=confidence(overdue))
        return sorted(tally.index), payments, overdue, accounts

    def _findings(
        self,
        batch: list[Any],
        *,
        attempts: dict[Any, list[dict[str, Any]]],
        invoices: dict[Any, list[dict[str, Any]]],
        mandates: dict[Any, list[dict[str, Any]]],
    ) -> Iterator[Finding]:
        """The findings of a batch of accounts, from their rows as dicts."""
        for acct_rid in batch:
            (account,) = mandates[acct_rid]
            mine = attempts[acct_rid]
            successes = [i for i, p in enumerate(mine) if p["_ok"]]
            after = mine[successes[-1] + 1:] if successes else mine
            streak = [p for p in after if p["_failed"]]
            last_success = [mine[successes[-1]]] if successes else []
            unpaid = invoices[acct_rid]
            amount = sum(_amount(i) for i in unpaid)
            facts = {
                "account": text(account.get("account_id"), str(account["_key"])),
                "method": text(account.get("autopay_method"), "auto-pay method unknown"),
                "failures": len(streak),
                "since": day(streak[0]["_t"]),
                "codes": ", ".join(text(p.get("return_code"), "no code") for p in streak),
                "last_success": day(last_success[0]["_t"]) if last_success else None,
                "overdue": len(unpaid),
                "overdue_amount": round(amount, 2),
                "oldest_due": day(unpaid[0]["_due"]),
                "overdue_text": f"{plural(len(unpaid), 'invoice')} overdue ({_money(amount)} in total)",
            }
            subject = records([account], "account", ACCOUNT_FIELDS, "mandate")[0]
            involved = [
                subject,
                *records(streak, "payment", PAYMENT_FIELDS, "failed_attempt"),
                *records(last_success, "payment", PAYMENT_FIELDS, "last_success"),
                *records(unpaid, "invoice", INVOICE_FIELDS, "overdue_invoice"),
            ]
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(account["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (account, *streak, *last_success, *unpaid)]),
                facts=facts,
            )


def _amount(row: dict[str, Any]) -> float:
    value = row.get("amount")
    if type(value) is float:  # the usual case, as the general path reads it
        return 0.0 if value != value else value
    value = pd.to_numeric(value, errors="coerce")
    return 0.0 if pd.isna(value) else float(value)


class PaymentMisappliedRule(BuiltinRule):
    """Payments booked against another account while the current one goes unpaid.

    An entity with two or more accounts: the current account (latest
    ``opened_at``) has an open invoice due before ``as_of - grace``, and
    another account of the same entity received successful payments on or
    after the day the current account was opened. Two accounts that each pay
    their own invoices are not a finding. Accounts no entity holds are alone
    in their own entity and never compared.

    Attributes:
        open_invoice_statuses: Invoice statuses of an unpaid invoice.
        succeeded_statuses: Payment statuses of a successful payment.
    """

    kind: Literal["payment_misapplied"] = "payment_misapplied"
    entity_local = True
    open_invoice_statuses: list[str] = Field(default_factory=lambda: ["open"])
    succeeded_statuses: list[str] = Field(default_factory=lambda: ["succeeded"])

    story: ClassVar[str] = (
        "Current account {account} (opened {opened}) has {overdue_text}, while {payments_text} "
        "since {first_payment} were booked against the customer's other account {other_accounts}: "
        "move the payments to {account} and point auto-pay at it."
    )
    facts: ClassVar[dict[str, str]] = {
        "account": "the current account's id (the most recently opened)",
        "opened": "the day it was opened",
        "overdue": "number of its overdue open invoices",
        "overdue_amount": "their total amount",
        "overdue_text": "'3 invoices overdue (129.00 in total)'",
        "other_accounts": "the other account(s) that received payments, comma-separated",
        "payments": "number of successful payments they received since the current account opened",
        "paid_amount": "their total amount",
        "payments_text": "'3 payments (129.00)'",
        "first_payment": "date of the first of those payments",
        "last_payment": "date of the latest of those payments",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="billing",
        records={
            "account": [
                {"account_id": "AC-0000430", "name": "BAKER, JO", "opened_at": "2023-05-02"},
                {"account_id": "AC-0000431", "name": "BAKER, JO", "opened_at": "2026-07-08"},
            ],
            "invoice": [{"invoice_id": f"INV-{month}", "account_id": "AC-0000431", "amount": 80.0,
                         "due_date": f"2026-{month:02d}-01"} for month in (8, 9, 10)],
            "payment": [{"payment_id": f"P-{month}", "account_id": "AC-0000430", "amount": 80.0,
                         "attempted_at": f"2026-{month:02d}-12T08:00:00Z", "status": "succeeded", "autopay": True}
                        for month in (7, 8, 9, 10)],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        # The rows of the findings are made first and the frames they came from dropped:
        # held while the findings were built, beside them, they were the rule's peak of memory.
        prepared = self._rows(ctx)
        if prepared is None:
            return
        current, received, invoices, holders = prepared
        for account in current:
            paid = received[account["_ekey"]]
            unpaid = invoices[account["_rid"]]
            receiving = [holders[rid][0] for rid in sorted({p["_acct"] for p in paid})]
            due_amount = sum(_amount(i) for i in unpaid)
            paid_amount = sum(_amount(p) for p in paid)
            other_ids = [text(a.get("account_id"), str(a["_key"])) for a in receiving]
            facts = {
                "account": text(account.get("account_id"), str(account["_key"])),
                "opened": day(account["_opened"]),
                "overdue": len(unpaid),
                "overdue_amount": round(due_amount, 2),
                "overdue_text": f"{plural(len(unpaid), 'invoice')} overdue ({_money(due_amount)} in total)",
                "other_accounts": ", ".join(other_ids),
                "payments": len(paid),
                "paid_amount": round(paid_amount, 2),
                "payments_text": f"{plural(len(paid), 'payment')} ({_money(paid_amount)})",
                "first_payment": day(paid[0]["_t"]),
                "last_payment": day(paid[-1]["_t"]),
            }
            subject = records([account], "account", ACCOUNT_FIELDS, "current_account")[0]
            involved = [
                subject,
                *records(unpaid, "invoice", INVOICE_FIELDS, "overdue_invoice"),
                *records(receiving, "account", ACCOUNT_FIELDS, "other_account"),
                *records(paid, "payment", PAYMENT_FIELDS, "misapplied_payment"),
            ]
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(account["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (account, *receiving, *unpaid, *paid)]),
                facts=facts,
            )

    def _rows(
        self, ctx: RuleContext
    ) -> tuple[list[dict[str, Any]], dict[Any, list[dict[str, Any]]], dict[Any, list[dict[str, Any]]],
               dict[Any, list[dict[str, Any]]]] | None:
        """The current accounts' rows, and per entity, account and rid the payments, invoices and accounts they show."""
        table = ctx.table("account")
        if table.empty:
            return None
        ekey = entity_key(table)
        # Entities holding two accounts or more.
        shared = (ekey.notna() & ekey.duplicated(keep=False)).to_numpy()
        if not shared.any():
            return None
        accounts = with_columns(take(table, ACCOUNT_FIELDS, shared),
            _ekey=ekey[shared], _opened=utc(table["opened_at"][shared]), _conf=confidence(table)[shared]
        )
        ordered = accounts.sort_values(["_ekey", "_opened", "_rid"], kind="stable", na_position="first")
        current = ordered.groupby("_ekey", sort=False).tail(1)
        del ordered  # a sorted copy of the accounts, held to the end otherwise
        current = current[current["_opened"].notna()].set_index("_rid", drop=False)
        if current.empty:
            return None

        overdue = _overdue_invoices(
            ctx, current.index, self.open_invoice_statuses, cutoff_day(ctx.as_of, self.grace)
        )
        current = current[current.index.isin(overdue["_acct"])]
        payments = ctx.table("payment")
        if current.empty or payments.empty:
            return None

        others = accounts[~accounts["_rid"].isin(current.index) & accounts["_ekey"].isin(current["_ekey"])]
        theirs = np.flatnonzero(parent_in(payments, "payment", others["_rid"]))
        keep = theirs[is_in(payments["status"].iloc[theirs], self.succeeded_statuses).to_numpy()]
        payments = with_columns(take(payments, PAYMENT_FIELDS, keep),
            _acct=parent_rid(payments, "payment", keep), _t=utc(payments["attempted_at"].iloc[keep])
        )
        owner = others.set_index("_rid")["_ekey"]
        payments = with_columns(payments, _ekey=payments["_acct"].map(owner))
        payments = payments.merge(
            current[["_ekey", "_opened"]].reset_index(drop=True), on="_ekey", how="inner"
        )
        payments = payments[payments["_t"] >= payments["_opened"]].sort_values(["_t", "_rid"], kind="stable")

        received = group_rows(with_columns(payments, _conf=confidence(payments)), "_ekey",
                              (*PAYMENT_FIELDS, "_t", "_acct", "_conf"))
        invoices = group_rows(with_columns(overdue, _conf=confidence(overdue)), "_acct", (*INVOICE_FIELDS, "_conf"))
        holders = group_rows(others, "_rid", (*ACCOUNT_FIELDS, "_conf"))
        current = current[current["_ekey"].isin(received)]  # the others have no finding
        return rows(current, (*ACCOUNT_FIELDS, "_ekey", "_opened", "_conf")), received, invoices, holders
