"""Service kinds: billed vs provisioned, duplicate lines, monitoring (stories 4 and 5)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field

from reconcile.findings import Finding
from reconcile.rules._common import (
    BuiltinRule,
    column_values,
    confidence,
    day,
    entity_key,
    entity_or_none,
    group_rows,
    is_in,
    min_confidence,
    normalised,
    parent_rid,
    records,
    rows,
    take,
    text,
    utc,
    with_columns,
)
from reconcile.rules._generic import MissingInRule
from reconcile.rules._select import FieldPair, Filter, Records
from reconcile.rules.base import Duration, RuleContext
from reconcile.rules.example import RuleExample

__all__ = [
    "BilledNotProvisionedRule",
    "DuplicateActiveLineRule",
    "MonitoringGapRule",
    "ProvisionedNotBilledRule",
]

SUBSCRIPTION_FIELDS = ("subscription_id", "account_id", "product", "status", "start_date", "end_date",
                       "monthly_amount")
LINE_FIELDS = ("line_id", "product", "status", "activated_at", "deactivated_at", "device_id", "street",
               "unit", "city", "postal_code")
ACCOUNT_FIELDS = ("account_id", "name", "company", "status", "street", "unit", "city", "postal_code",
                  "opened_at")
CONTACT_FIELDS = ("contact_id", "name", "company", "street", "unit", "city", "postal_code")
DEVICE_FIELDS = ("device_id", "status", "last_heartbeat")
ALERT_FIELDS = ("alert_id", "device_id", "sent_at", "kind", "channel")

_ADDRESS_COLUMNS = ("_n_street", "_n_unit", "_n_postal")


def _address_text(row: Any) -> str:
    """An address as the system wrote it, for a story."""
    parts = [text(row.get("street")), text(row.get("unit")), text(row.get("city")),
             text(row.get("postal_code"))]
    shown = ", ".join(p for p in parts if p)
    return shown or "an unknown address"


class BilledNotProvisionedRule(BuiltinRule):
    """A subscription is billed but the customer has no line for it.

    An active subscription whose ``start_date`` is before the day of
    ``as_of - grace`` (or unknown), with no active service line of the same
    product in its entity. ``product_map`` names, for a billed product, the
    line products that provide it (default: the same name). A subscription
    whose account no entity holds is evaluated with that account alone, so it
    is reported (no line can be linked to it). Statuses and products are
    compared case-insensitively.

    This is the generic ``missing_in`` kind with present: subscriptions of
    ``subscription_statuses`` (and ``products``), time field ``start_date``;
    absent: service lines of ``line_statuses``; matched on ``product``
    through ``product_map``. It adds the account and the billed amount to
    the story.

    Attributes:
        subscription_statuses: Subscription statuses that are billed.
        line_statuses: Line statuses that count as provisioned.
        products: Only check these billed products; ``None``: all.
        product_map: Billed product -> line products that provide it.
    """

    kind: Literal["billed_not_provisioned"] = "billed_not_provisioned"
    entity_local = True
    subscription_statuses: list[str] = Field(default_factory=lambda: ["active"])
    line_statuses: list[str] = Field(default_factory=lambda: ["active"])
    products: list[str] | None = None
    product_map: dict[str, list[str]] = Field(default_factory=dict)

    story: ClassVar[str] = (
        "Subscription {subscription} ({product}) on account {account} has been billed since "
        "{since} ({amount_text}), but the customer has no active {product} line "
        "({line_state}): provision the service or stop billing it."
    )
    facts: ClassVar[dict[str, str]] = {
        "subscription": "the subscription's id",
        "account": "the billing account it is on",
        "product": "the billed product",
        "since": "its start date ('an unknown date' if none)",
        "monthly_amount": "its monthly amount, or None",
        "amount_text": "'59.99 a month' or 'amount unknown'",
        "line_state": "'no line was ever provisioned' or the inactive lines found, such as "
        "'line SL1 is pending'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="provisioning",
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [
                {"subscription_id": "S-1", "account_id": "AC-1", "product": "fiber_1g", "start_date": "2026-03-01",
                 "monthly_amount": 59.99},
                {"subscription_id": "S-2", "account_id": "AC-1", "product": "monitoring", "start_date": "2026-09-12",
                 "monthly_amount": 19.99},
            ],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "status": "pending"},
            ],
        },
    )

    def as_missing_in(self) -> MissingInRule:
        """This rule as the generic ``missing_in`` it is: subscriptions without a line."""
        where = [Filter(field="status", op="in", value=self.subscription_statuses)]
        if self.products is not None:
            where.append(Filter(field="product", op="in", value=self.products))
        return MissingInRule(
            id=self.id, owner=self.owner, grace=self.grace,
            present=Records(type="subscription", where=where, time_field="start_date"),
            absent=Records(type="service_line", where=[Filter(field="status", op="in", value=self.line_statuses)]),
            match=[FieldPair(left="product", right="product", map=self.product_map)],
        )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        missing, near = self.as_missing_in().unmatched(ctx, SUBSCRIPTION_FIELDS, LINE_FIELDS)
        if missing.empty:
            return
        missing = missing.rename(columns={"_t": "_start"})
        # Context for the receiver: the account, and lines of the product that are not active.
        inactive = group_rows(
            near.sort_values(["_for", "_rid"]), "_for", (*LINE_FIELDS, "_conf"),
        )
        missing = with_columns(missing, _acct=parent_rid(missing, "subscription"))
        accounts = ctx.table("account")
        accounts = take(accounts, ACCOUNT_FIELDS, accounts["_rid"].isin(missing["_acct"]).to_numpy())
        accounts = group_rows(with_columns(accounts, _conf=confidence(accounts)), "_rid", (*ACCOUNT_FIELDS, "_conf"))
        fields = (*SUBSCRIPTION_FIELDS, "_ekey", "_start", "_conf", "_acct")
        for sub in rows(missing.sort_values("_rid"), fields):
            sub_ref = records([sub], "subscription", SUBSCRIPTION_FIELDS, "subscription")[0]
            account = accounts.get(sub["_acct"], [])
            others = inactive.get(sub["_rid"], [])
            involved = [
                sub_ref,
                *records(account, "account", ACCOUNT_FIELDS, "account"),
                *records(others, "service_line", LINE_FIELDS, "inactive_line"),
            ]
            line_state = "; ".join(
                f"line {text(r.get('line_id'), r['_key'])} is {text(r.get('status'), 'of unknown status')}"
                for r in others
            ) or "no line was ever provisioned"
            amount = _number(sub.get("monthly_amount"))
            facts = {
                "subscription": text(sub.get("subscription_id"), str(sub["_key"])),
                "account": text(sub.get("account_id"), "unknown"),
                "product": text(sub.get("product")),
                "since": day(sub["_start"]) or "an unknown date",
                "monthly_amount": amount,
                "amount_text": "amount unknown" if amount is None else f"{amount:,.2f} a month",
                "line_state": line_state,
            }
            yield self.finding(
                subject=sub_ref,
                records=involved,
                entity_id=entity_or_none(sub["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (sub, *account, *others)]),
                facts=facts,
            )


def _number(value: Any) -> float | None:
    number = pd.to_numeric(value, errors="coerce")
    return None if pd.isna(number) else float(number)


class ProvisionedNotBilledRule(BuiltinRule):
    """A line is in service but nobody is billed for it (revenue leakage).

    An active service line activated before the day of ``as_of - grace`` (or
    on an unknown day), with no active subscription of the same product in
    its entity. ``product_map`` names, for a line product, the subscription
    products that bill it (default: the same name). A line no entity holds is
    alone in its entity and so reported: no billing record is linked to it.
    Statuses and products are compared case-insensitively.

    This is the generic ``missing_in`` kind with present: service lines of
    ``line_statuses`` (and ``products``), time field ``activated_at``;
    absent: subscriptions of ``subscription_statuses``; matched on
    ``product`` through ``product_map``. It adds the install address and the
    customer's accounts to the story.

    Attributes:
        line_statuses: Line statuses that count as in service.
        subscription_statuses: Subscription statuses that are billed.
        products: Only check lines of these products; ``None``: all.
        product_map: Line product -> subscription products that bill it.
    """

    kind: Literal["provisioned_not_billed"] = "provisioned_not_billed"
    entity_local = True
    line_statuses: list[str] = Field(default_factory=lambda: ["active"])
    subscription_statuses: list[str] = Field(default_factory=lambda: ["active"])
    products: list[str] | None = None
    product_map: dict[str, list[str]] = Field(default_factory=dict)

    story: ClassVar[str] = (
        "Line {line} ({product}) at {address} has been in service since {since}, but no active "
        "{product} subscription bills it ({billing_state}): start billing it or disconnect the line."
    )
    facts: ClassVar[dict[str, str]] = {
        "line": "the service line's id",
        "product": "its product",
        "since": "its activation date ('an unknown date' if none)",
        "address": "its install address as inventory writes it",
        "device": "its device id, or None",
        "accounts": "the customer's billing accounts, comma-separated ('none found' if none)",
        "billing_state": "'never billed' or the inactive subscriptions found, such as "
        "'subscription SUB-1 is closed since 2026-05-01'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="billing",
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [
                {"subscription_id": "S-1", "account_id": "AC-1", "product": "fiber_1g"},
                {"subscription_id": "S-2", "account_id": "AC-1", "product": "monitoring", "status": "closed",
                 "end_date": "2026-08-16"},
            ],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "activated_at": "2026-01-01",
                 "street": "12 Oak St", "city": "Seattle", "postal_code": "98101"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "activated_at": "2026-04-02",
                 "street": "12 Oak St", "city": "Seattle", "postal_code": "98101", "device_id": "HUB-7"},
            ],
        },
    )

    def as_missing_in(self) -> MissingInRule:
        """This rule as the generic ``missing_in`` it is: lines without a subscription."""
        where = [Filter(field="status", op="in", value=self.line_statuses)]
        if self.products is not None:
            where.append(Filter(field="product", op="in", value=self.products))
        return MissingInRule(
            id=self.id, owner=self.owner, grace=self.grace,
            present=Records(type="service_line", where=where, time_field="activated_at"),
            absent=Records(type="subscription",
                           where=[Filter(field="status", op="in", value=self.subscription_statuses)]),
            match=[FieldPair(left="product", right="product", map=self.product_map)],
        )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        missing, near = self.as_missing_in().unmatched(ctx, LINE_FIELDS, SUBSCRIPTION_FIELDS)
        if missing.empty:
            return
        missing = missing.rename(columns={"_t": "_since"})
        ended = group_rows(
            near.sort_values(["_for", "_rid"]), "_for", (*SUBSCRIPTION_FIELDS, "_conf"),
        )
        accounts = ctx.table("account")
        ekey = entity_key(accounts)
        held = ekey.isin(missing["_ekey"]).to_numpy()
        accounts = with_columns(take(accounts, ACCOUNT_FIELDS, held), _ekey=ekey[held]).sort_values("_rid")
        accounts = group_rows(with_columns(accounts, _conf=confidence(accounts)), "_ekey", (*ACCOUNT_FIELDS, "_conf"))
        fields = (*LINE_FIELDS, "_ekey", "_since", "_conf")
        for line in rows(missing.sort_values("_rid"), fields):
            line_ref = records([line], "service_line", LINE_FIELDS, "line")[0]
            inactive = ended.get(line["_rid"], [])
            held = accounts.get(line["_ekey"], [])
            involved = [
                line_ref,
                *records(inactive, "subscription", SUBSCRIPTION_FIELDS, "inactive_subscription"),
                *records(held, "account", ACCOUNT_FIELDS, "account"),
            ]
            billing_state = "; ".join(
                f"subscription {text(r.get('subscription_id'), r['_key'])} is "
                f"{text(r.get('status'), 'of unknown status')}"
                + (f" since {day(r.get('end_date'))}" if day(r.get("end_date")) else "")
                for r in inactive
            ) or "never billed"
            facts = {
                "line": text(line.get("line_id"), str(line["_key"])),
                "product": text(line.get("product")),
                "since": day(line["_since"]) or "an unknown date",
                "address": _address_text(line),
                "device": text(line.get("device_id")) or None,
                "accounts": ", ".join(text(a.get("account_id"), str(a["_key"])) for a in held) or "none found",
                "billing_state": billing_state,
            }
            yield self.finding(
                subject=line_ref,
                records=involved,
                entity_id=entity_or_none(line["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (line, *inactive, *held)]),
                facts=facts,
            )


def _wanted(table: pd.DataFrame, fields: tuple[str, ...]) -> Any:
    """The columns to take: ``fields`` and the normalised address, or every column if that is missing.

    Without the normalised columns, :func:`normalised` computes them from the party fields.
    """
    if all(c in table.columns for c in _ADDRESS_COLUMNS):
        return (*fields, *_ADDRESS_COLUMNS)
    return table.columns


def _address_key(row: Any) -> tuple[str, str | None, str] | None:
    """(street, unit, postal) from the normalised columns; None if street or postal is unknown."""
    street, unit, postal = (text(row.get(c)) for c in _ADDRESS_COLUMNS)
    if not street or not postal:
        return None
    return street, unit or None, postal


def _same_address(a: tuple[str, str | None, str] | None, b: tuple[str, str | None, str] | None) -> bool:
    """Same street and postal code; a unit only one side writes down does not tell them apart."""
    if a is None or b is None:
        return False
    return a[0] == b[0] and a[2] == b[2] and (a[1] is None or b[1] is None or a[1] == b[1])


class DuplicateActiveLineRule(BuiltinRule):
    """After a move, the old line of the same product is still active.

    Two or more active service lines of one entity with the same product at
    different normalised install addresses (street, unit, postal code; a unit
    written on one side only is ignored). Each line older than the newest one
    (by ``activated_at``) is reported when its address is neither the newest
    line's nor the customer's current address: the address of a CRM contact of
    the entity, or if there is none, that of the most recently opened account.
    Lines of different products at two addresses (a second home) are not a
    finding; neither are lines no entity holds.

    Attributes:
        line_statuses: Line statuses that count as active.
        products: Only check these products; ``None``: all.
    """

    kind: Literal["duplicate_active_line"] = "duplicate_active_line"
    entity_local = True
    line_statuses: list[str] = Field(default_factory=lambda: ["active"])
    products: list[str] | None = None

    story: ClassVar[str] = (
        "The customer has two active {product} lines: {line} at the old address {old_address} "
        "(since {old_since}) and {new_line} at {new_address} (since {new_since}), and {current_text}: "
        "disconnect the old line, or confirm the customer wants both."
    )
    facts: ClassVar[dict[str, str]] = {
        "line": "the older line's id (the subject)",
        "product": "the product both lines provide",
        "old_address": "the older line's install address",
        "old_since": "its activation date ('an unknown date' if none)",
        "new_line": "the newest line's id",
        "new_address": "its install address",
        "new_since": "its activation date",
        "current_address": "the customer's current address, or None if unknown",
        "current_from": "where it comes from, such as 'CRM contact 0035e...' or None",
        "current_text": "'the CRM contact 0035e... gives the new address' or similar",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="provisioning",
        records={
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "street": "12 Oak St",
                 "city": "Seattle", "postal_code": "98101", "activated_at": "2024-02-01"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "fiber_1g", "street": "9 Elm Ave",
                 "city": "Seattle", "postal_code": "98102", "activated_at": "2026-08-01"},
            ],
            "contact": [{"contact_id": "K-1", "name": "Ann Lee", "street": "9 Elm Avenue", "city": "Seattle",
                         "postal_code": "98102"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        lines = self._shared(ctx.table("service_line"))
        if lines.empty:
            return
        lines = normalised(lines, "service_line", _ADDRESS_COLUMNS)
        lines = with_columns(lines, _since=utc(lines["activated_at"]), _conf=confidence(lines))
        entities = set(lines["_ekey"])
        contacts = self._holders(ctx, "contact", entities)
        accounts = self._holders(ctx, "account", entities)

        ordered = lines.sort_values(["_ekey", "product", "_since", "_key", "_rid"], kind="stable",
                                    na_position="first")  # by key before rid: never by the source's name
        groups: dict[tuple[Any, Any], list[dict[str, Any]]] = defaultdict(list)
        for row in rows(ordered, (*LINE_FIELDS, "_ekey", "_since", "_conf", *_ADDRESS_COLUMNS)):
            groups[(row["_ekey"], row["product"])].append(row)
        for (ekey, product), members in sorted(groups.items(), key=lambda item: (str(item[0][0]), str(item[0][1]))):
            keys = [_address_key(r) for r in members]
            newest, newest_key = members[-1], keys[-1]
            current, current_row, current_from = self._current(ekey, contacts, accounts)
            for row, key in zip(members[:-1], keys[:-1], strict=True):
                if key is None or newest_key is None or _same_address(key, newest_key):
                    continue
                if current is not None and _same_address(key, current):
                    continue
                yield self._finding(ekey, str(product), row, newest, current, current_row, current_from)

    def _shared(self, table: pd.DataFrame) -> pd.DataFrame:
        """The active lines whose entity has another active line of their product, with ``_ekey``.

        Lines are chosen on their entity and product; the fields shown are taken
        for the chosen lines only (every active line's were taken first).
        """
        if table.empty:
            return table
        keep = is_in(table["status"], self.line_statuses) & table["product"].notna()
        if self.products is not None:
            keep &= table["product"].isin(self.products)
        positions = np.flatnonzero(keep.to_numpy())
        ekey = entity_key(take(table, (), positions))
        pairs = pd.DataFrame({"_ekey": ekey.to_numpy(), "product": column_values(table["product"]).take(positions)})
        # Two lines or more of one product in one entity (as a group size of 2 or more).
        shared = ekey.notna().to_numpy() & pairs.duplicated(keep=False).to_numpy()
        return with_columns(take(table, _wanted(table, LINE_FIELDS), positions[shared]), _ekey=ekey[shared])

    @staticmethod
    def _holders(ctx: RuleContext, record_type: str, entities: set[Any]) -> dict[Any, list[dict[str, Any]]]:
        """Per entity, its contacts (by key) or accounts (latest opened first), as row dicts.

        Ties are broken by key, then rid: never by the source's name first (the
        rid starts with it), so renaming a source never changes the current address.
        """
        table = ctx.table(record_type)
        if table.empty:
            return {}
        fields = CONTACT_FIELDS if record_type == "contact" else ACCOUNT_FIELDS
        ekey = entity_key(table)
        theirs = ekey.isin(entities).to_numpy()
        frame = with_columns(take(table, _wanted(table, fields), theirs), _ekey=ekey[theirs])
        frame = normalised(frame, record_type, _ADDRESS_COLUMNS)
        frame = with_columns(frame, _opened=utc(frame["opened_at"]) if record_type == "account" else pd.NaT,
                             _conf=confidence(frame))
        frame = frame.sort_values(["_opened", "_key", "_rid"], kind="stable", ascending=False, na_position="last")
        if record_type == "contact":
            frame = frame.sort_values(["_key", "_rid"], kind="stable")
        out: dict[Any, list[dict[str, Any]]] = defaultdict(list)
        for row in rows(frame, (*fields, "_ekey", "_conf", *_ADDRESS_COLUMNS)):
            out[row["_ekey"]].append(row)
        return out

    @staticmethod
    def _current(
        ekey: Any, contacts: dict[Any, list[dict[str, Any]]], accounts: dict[Any, list[dict[str, Any]]]
    ) -> tuple[tuple[str, str | None, str] | None, dict[str, Any] | None, str | None]:
        """The customer's current address: a CRM contact's, else the latest account's."""
        for row in contacts.get(ekey, ()):
            key = _address_key(row)
            if key is not None:
                return key, row, "contact"
        for row in accounts.get(ekey, ()):
            key = _address_key(row)
            if key is not None:
                return key, row, "account"
        return None, None, None

    def _finding(
        self,
        ekey: Any,
        product: str,
        old: dict[str, Any],
        new: dict[str, Any],
        current: tuple[str, str | None, str] | None,
        current_row: dict[str, Any] | None,
        current_from: str | None,
    ) -> Finding:
        subject = records([old], "service_line", LINE_FIELDS, "old_line")[0]
        involved = [subject, *records([new], "service_line", LINE_FIELDS, "new_line")]
        confidences = [old["_conf"], new["_conf"]]
        current_address = where = None
        if current_row is not None and current_from is not None:
            fields = CONTACT_FIELDS if current_from == "contact" else ACCOUNT_FIELDS
            involved += records([current_row], current_from, fields, "current_address")
            confidences.append(current_row["_conf"])
            current_address = _address_text(current_row)
            label = "CRM contact" if current_from == "contact" else "latest billing account"
            where = f"{label} {current_row['_key']}"
        if current is None:
            current_text = "no current address of the customer is known"
        elif _same_address(current, _address_key(new)):
            current_text = f"the {where} gives the new address"
        else:
            current_text = f"the {where} gives yet another address, {current_address}"
        facts = {
            "line": text(old.get("line_id"), str(old["_key"])),
            "product": product,
            "old_address": _address_text(old),
            "old_since": day(old.get("_since")) or "an unknown date",
            "new_line": text(new.get("line_id"), str(new["_key"])),
            "new_address": _address_text(new),
            "new_since": day(new.get("_since")) or "an unknown date",
            "current_address": current_address,
            "current_from": where,
            "current_text": current_text,
        }
        return self.finding(
            subject=subject,
            records=involved,
            entity_id=entity_or_none(ekey),
            confidence=min_confidence(confidences),
            facts=facts,
        )


def _hours_text(hours: float) -> str:
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    return f"{hours:.0f} hours"


class MonitoringGapRule(BuiltinRule):
    """A monitored device went silent and nobody was alerted.

    A device whose ``last_heartbeat`` is more than ``offline_hours`` (plus
    ``grace``) before ``as_of``, installed (by ``device_id``) on an active
    service line of a monitoring product, in an entity with an active
    subscription of a monitoring product (``products``), with no alert for
    the device sent at or after the last heartbeat (only alerts whose kind is
    in ``alert_kinds``, if given). A device that never reported a heartbeat
    is not judged. ``grace`` defaults to 0 here: ``offline_hours`` is already
    the tolerance; raise ``grace`` if the telemetry extract lags the run.

    Attributes:
        offline_hours: Hours without a heartbeat after which a device is offline.
        products: Monitoring products (of the line and of the subscription).
        line_statuses: Line statuses that count as in service.
        subscription_statuses: Subscription statuses that are billed.
        alert_kinds: Alert kinds that count; ``None``: any alert.
    """

    kind: Literal["monitoring_gap"] = "monitoring_gap"
    grace: Duration = dt.timedelta(0)
    offline_hours: float = Field(default=72, gt=0)
    products: list[str] = Field(default_factory=lambda: ["monitoring"], min_length=1)
    line_statuses: list[str] = Field(default_factory=lambda: ["active"])
    subscription_statuses: list[str] = Field(default_factory=lambda: ["active"])
    alert_kinds: list[str] | None = None

    story: ClassVar[str] = (
        "Monitoring device {device} on line {line} at {address} has sent nothing for {offline_for} "
        "(last heartbeat {last_heartbeat}) and no alert was sent, although subscription "
        "{subscription} on account {account} pays for monitoring: alert the customer and send service."
    )
    facts: ClassVar[dict[str, str]] = {
        "device": "the device id",
        "status": "the device's reported status",
        "line": "the service line it is installed on",
        "address": "the line's install address",
        "last_heartbeat": "the last heartbeat, as 'YYYY-MM-DD HH:MM UTC'",
        "offline_hours": "hours since the last heartbeat (whole hours)",
        "offline_for": "the same as '5 days' or '30 hours'",
        "subscription": "the active monitoring subscription",
        "account": "the account it is billed on",
        "last_alert": "when the last alert about the device was sent (before the outage), or None",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="service",
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [{"subscription_id": "S-1", "account_id": "AC-1", "product": "monitoring"}],
            "service_line": [{"line_id": "L-1", "name": "Ann Lee", "product": "monitoring", "device_id": "HUB-1",
                              "street": "12 Oak St", "city": "Seattle", "postal_code": "98101"}],
            "device_status": [{"device_id": "HUB-1", "status": "offline", "last_heartbeat": "2026-10-23T16:05:00Z"}],
            "alert": [{"alert_id": "A-1", "device_id": "HUB-1", "sent_at": "2026-09-02T10:00:00Z", "kind": "offline"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        devices = ctx.table("device_status")
        if devices.empty:
            return
        heartbeat = utc(devices["last_heartbeat"])
        limit = pd.Timestamp(ctx.as_of) - pd.Timedelta(hours=self.offline_hours) - pd.Timedelta(self.grace)
        silent = (heartbeat.notna() & (heartbeat < limit) & devices["device_id"].notna()).to_numpy()
        devices = take(devices, DEVICE_FIELDS, silent)
        devices = with_columns(devices, _hb=heartbeat[silent], _conf=confidence(devices))
        if devices.empty:
            return
        devices = with_columns(devices, _device=devices["device_id"].astype(str))

        lines = ctx.table("service_line")
        in_service = lines["product"].isin(self.products) & lines["device_id"].notna()
        in_service &= is_in(lines["status"], self.line_statuses)
        lines = take(lines, LINE_FIELDS, in_service.to_numpy())
        lines = with_columns(lines,
            _device=lines["device_id"].astype(str), _ekey=entity_key(lines), _conf=confidence(lines)
        )
        subs = ctx.table("subscription")
        paying = subs["product"].isin(self.products) & is_in(subs["status"], self.subscription_statuses)
        subs = take(subs, SUBSCRIPTION_FIELDS, paying.to_numpy())
        subs = with_columns(subs,
            _ekey=entity_key(subs), _conf=confidence(subs), _acct=parent_rid(subs, "subscription")
        )

        on_line = devices.merge(
            lines[["_device", "_rid", "_key", "_ekey"]].rename(
                columns={"_rid": "_line", "_key": "_line_key"}
            ),
            on="_device",
        )
        on_line = on_line[on_line["_ekey"].isin(subs["_ekey"])]
        if on_line.empty:
            return

        alerts = ctx.table("alert")
        alerts = take(alerts, ALERT_FIELDS, alerts["device_id"].notna().to_numpy())
        if self.alert_kinds is not None:
            alerts = alerts[is_in(alerts["kind"], self.alert_kinds)]
        alerts = with_columns(alerts, _device=alerts["device_id"].astype(str), _t=utc(alerts["sent_at"]))
        sent = on_line[["_rid", "_device", "_hb"]].merge(alerts[["_device", "_t"]], on="_device")
        alerted = sent.loc[sent["_t"] >= sent["_hb"], "_rid"]
        on_line = on_line[~on_line["_rid"].isin(alerted)]

        # One finding per device: the first (by key, then rid) active line and
        # subscription carry the story, so the choice never depends on source names.
        on_line = on_line.sort_values(["_rid", "_line_key", "_line"]).drop_duplicates("_rid")
        line_rows = group_rows(lines[lines["_rid"].isin(on_line["_line"])], "_rid", (*LINE_FIELDS, "_conf"))
        # The first subscription of each entity by key (never by the source's name), then
        # rid: sorted once filtered (a rid is unique, so the order is the whole table's).
        subs = subs[subs["_ekey"].isin(on_line["_ekey"])].sort_values(["_ekey", "_key", "_rid"])
        subs = subs.drop_duplicates("_ekey")
        sub_rows = group_rows(subs, "_ekey", (*SUBSCRIPTION_FIELDS, "_conf", "_acct"))
        accounts = ctx.table("account")
        accounts = take(accounts, ("account_id", "name", "status"), accounts["_rid"].isin(subs["_acct"]).to_numpy())
        accounts = group_rows(with_columns(accounts, _conf=confidence(accounts)), "_rid",
                              ("account_id", "name", "status", "_conf"))
        earlier = alerts[alerts["_device"].isin(on_line["_device"])].sort_values(["_t", "_key", "_rid"])
        earlier = earlier.drop_duplicates("_device", keep="last")
        earlier = group_rows(with_columns(earlier, _conf=confidence(earlier)), "_device", (*ALERT_FIELDS, "_t", "_conf"))
        fields = (*DEVICE_FIELDS, "_hb", "_conf", "_line", "_ekey", "_device")
        as_of = pd.Timestamp(ctx.as_of)
        for device in rows(on_line, fields):
            (line,) = line_rows[device["_line"]]
            (sub,) = sub_rows[device["_ekey"]]
            alert = earlier.get(device["_device"], [])
            account = accounts.get(sub["_acct"], [])
            subject = records([device], "device_status", DEVICE_FIELDS, "device")[0]
            involved = [
                subject,
                *records([line], "service_line", LINE_FIELDS, "line"),
                *records([sub], "subscription", SUBSCRIPTION_FIELDS, "subscription"),
                *records(account, "account", ("account_id", "name", "status"), "account"),
                *records(alert, "alert", ALERT_FIELDS, "earlier_alert"),
            ]
            confidences = [r["_conf"] for r in (device, line, sub, *account, *alert)]
            last_alert = day(alert[0]["_t"]) if alert else None
            hours = (as_of - device["_hb"]).total_seconds() / 3600
            facts = {
                "device": text(device.get("device_id")),
                "status": text(device.get("status"), "unknown"),
                "line": text(line.get("line_id"), str(line["_key"])),
                "address": _address_text(line),
                "last_heartbeat": device["_hb"].strftime("%Y-%m-%d %H:%M UTC"),
                "offline_hours": int(hours),
                "offline_for": _hours_text(hours),
                "subscription": text(sub.get("subscription_id"), str(sub["_key"])),
                "account": text(sub.get("account_id"), "unknown"),
                "last_alert": last_alert,
            }
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(device["_ekey"]),
                confidence=min_confidence(confidences),
                facts=facts,
            )
