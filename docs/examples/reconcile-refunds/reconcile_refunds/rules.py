# file: reconcile_refunds/rules.py
"""Refunds owed on closed accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import pandas as pd
from pydantic import Field

from reconcile import Finding, RecordRef, Rule, RuleContext


def _refs(frame: pd.DataFrame, record_type: str, fields: tuple[str, ...], role: str) -> list[RecordRef]:
    return [
        RecordRef(source=row["_source"], record_type=record_type, key=row["_key"],
                  fields={name: row[name] for name in fields}, role=role)
        for row in frame.sort_values("_key").to_dict("records")
    ]


def _is_in(column: pd.Series, values: list[str]) -> pd.Series:
    wanted = {v.casefold() for v in values}
    return column.astype("string").str.casefold().isin(wanted).fillna(False).astype(bool)


class CreditOnClosedAccountRule(Rule):
    """A closed account holds money the customer paid beyond its invoices: a refund is owed.

    An account in one of ``account_statuses``, closed before the day of
    ``as_of - grace`` (or on an unknown day), whose successful payments exceed its invoices by
    more than ``min_credit``. An account closed with its balance settled is
    not a finding; neither is one closed within the grace period, whose last
    invoice may still be on its way.

    Attributes:
        min_credit: The smallest credit worth a refund.
        account_statuses: Account statuses of a closed account.
        succeeded_statuses: Payment statuses of a successful payment.
    """

    kind: Literal["credit_on_closed_account"] = "credit_on_closed_account"
    min_credit: float = Field(default=1.0, ge=0)
    account_statuses: list[str] = Field(default_factory=lambda: ["closed"])
    succeeded_statuses: list[str] = Field(default_factory=lambda: ["succeeded"])

    story: ClassVar[str] = (
        "Account {account} was closed on {closed} with {credit} paid beyond its invoices "
        "({paid} paid, {invoiced} invoiced): refund the customer."
    )
    facts: ClassVar[dict[str, str]] = {
        "account": "the account's id",
        "closed": "the day it was closed ('an unknown day' if none)",
        "paid": "its successful payments in total",
        "invoiced": "its invoices in total",
        "credit": "paid minus invoiced",
    }

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        accounts = ctx.table("account")
        closed_at = pd.to_datetime(accounts["closed_at"], utc=True, errors="coerce")
        # closed_at is a date: compare whole days, so the hour of the run does not matter.
        cutoff = pd.Timestamp(ctx.as_of - self.grace).normalize()
        settled = closed_at.isna() | (closed_at < cutoff)
        accounts = accounts[_is_in(accounts["status"], self.account_statuses) & settled]
        payments = ctx.table("payment")
        payments = payments[_is_in(payments["status"], self.succeeded_statuses)]
        invoices = ctx.table("invoice")
        paid = payments.groupby("_parent_rid")["amount"].sum()
        invoiced = invoices.groupby("_parent_rid")["amount"].sum()
        accounts = accounts.assign(
            _paid=accounts["_rid"].map(paid).fillna(0.0),
            _invoiced=accounts["_rid"].map(invoiced).fillna(0.0),
            _closed=closed_at,
        )
        owed = accounts[accounts["_paid"] - accounts["_invoiced"] > self.min_credit]
        for row in owed.to_dict("records"):
            yield self._finding(row, payments[payments["_parent_rid"] == row["_rid"]],
                                invoices[invoices["_parent_rid"] == row["_rid"]])

    def _finding(self, row: dict[str, Any], payments: pd.DataFrame, invoices: pd.DataFrame) -> Finding:
        subject = RecordRef(source=row["_source"], record_type="account", key=row["_key"],
                            fields={"status": row["status"]}, role="closed_account")
        records = [
            subject,
            *_refs(payments, "payment", ("amount", "status"), "payment"),
            *_refs(invoices, "invoice", ("amount", "status"), "invoice"),
        ]
        confidences = [row["_confidence"], *payments["_confidence"], *invoices["_confidence"]]
        closed = row["_closed"]
        return self.finding(
            subject=subject,
            records=records,
            entity_id=row["_entity"] if isinstance(row["_entity"], str) else None,
            confidence=min(1.0 if pd.isna(c) else float(c) for c in confidences),
            facts={
                "account": row["account_id"],
                "closed": "an unknown day" if pd.isna(closed) else closed.date().isoformat(),
                "paid": f"{row['_paid']:.2f}",
                "invoiced": f"{row['_invoiced']:.2f}",
                "credit": f"{row['_paid'] - row['_invoiced']:.2f}",
            },
        )
