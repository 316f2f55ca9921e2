"""The canonical model: the record types every source is mapped onto.

A source system's rows are mapped (by configuration) onto one of these record
types. Each type declares:

* ``record_type``: its name, used in configuration (``streams: {account: ...}``);
* ``key_field``: the field that identifies a record within its source;
* ``identity``: whether the record describes a person or company (it carries
  the party fields) and so takes part in matching across systems;
* ``parent``: for records that hang off another record (an invoice off an
  account, an alert off a device), the field holding the reference, the parent
  record type and the parent's field it refers to. References are resolved in
  the same source first, then in any source that holds the parent type.

Canonical vocabularies (statuses, products) are plain strings; mappings turn a
source's codes into them (``FTTH-1000 -> fiber_1g``), and rules compare them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "PARTY_FIELDS",
    "RECORD_TYPES",
    "Account",
    "Alert",
    "Case",
    "CanonicalRecord",
    "Contact",
    "DealerRecall",
    "DeviceStatus",
    "Invoice",
    "ParentRef",
    "Payment",
    "RecallCampaign",
    "RecallNotice",
    "RepairOrder",
    "ServiceLine",
    "Subscription",
    "Survey",
    "Vehicle",
    "record_model",
]


class ParentRef(BaseModel):
    """Where a dependent record points: ``field`` holds the parent's ``parent_field``."""

    model_config = ConfigDict(frozen=True)

    field: str
    parent_type: str
    parent_field: str


class CanonicalRecord(BaseModel):
    """Base of every canonical record type."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    record_type: ClassVar[str]
    key_field: ClassVar[str]
    identity: ClassVar[bool] = False
    parent: ClassVar[ParentRef | None] = None

    def key(self) -> str:
        return str(getattr(self, self.key_field))


class Party(CanonicalRecord):
    """Fields that describe a person or a company, as one system writes them.

    Either ``name`` (the whole name as the system holds it, such as
    ``"SMITH, ROBERT J"``) or ``given_name``/``family_name`` may be mapped;
    ``company`` holds an organisation's name. The address is the one the
    system holds for this record (for a service line: where it is installed).
    """

    identity: ClassVar[bool] = True

    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    company: str | None = None
    email: str | None = None
    phone: str | None = None
    street: str | None = None
    unit: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    birth_date: dt.date | None = None


PARTY_FIELDS: tuple[str, ...] = tuple(Party.model_fields)


class Account(Party):
    """A billing account, with its auto-pay mandate."""

    record_type: ClassVar[str] = "account"
    key_field: ClassVar[str] = "account_id"

    account_id: str = Field(min_length=1)
    status: str = "active"
    autopay: bool = False
    autopay_method: str | None = None
    opened_at: dt.date | None = None
    closed_at: dt.date | None = None


class Subscription(CanonicalRecord):
    """A billed product on an account."""

    record_type: ClassVar[str] = "subscription"
    key_field: ClassVar[str] = "subscription_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="account_id", parent_type="account", parent_field="account_id"
    )

    subscription_id: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    product: str = Field(min_length=1)
    status: str = "active"
    start_date: dt.date | None = None
    end_date: dt.date | None = None
    monthly_amount: float | None = None


class Invoice(CanonicalRecord):
    """An invoice on an account."""

    record_type: ClassVar[str] = "invoice"
    key_field: ClassVar[str] = "invoice_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="account_id", parent_type="account", parent_field="account_id"
    )

    invoice_id: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    amount: float
    issued_at: dt.date | None = None
    due_date: dt.date
    status: str = "open"
    paid_at: dt.date | None = None


class Payment(CanonicalRecord):
    """One payment attempt against an account, with its result."""

    record_type: ClassVar[str] = "payment"
    key_field: ClassVar[str] = "payment_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="account_id", parent_type="account", parent_field="account_id"
    )

    payment_id: str = Field(min_length=1)
    account_id: str = Field(min_length=1)
    amount: float
    attempted_at: dt.datetime
    status: str
    return_code: str | None = None
    method: str | None = None
    autopay: bool = False


class ServiceLine(Party):
    """A provisioned service line (inventory), at its install address."""

    record_type: ClassVar[str] = "service_line"
    key_field: ClassVar[str] = "line_id"

    line_id: str = Field(min_length=1)
    product: str = Field(min_length=1)
    status: str = "active"
    activated_at: dt.date | None = None
    deactivated_at: dt.date | None = None
    device_id: str | None = None


class Contact(Party):
    """A CRM contact: what the customer told the company about themselves."""

    record_type: ClassVar[str] = "contact"
    key_field: ClassVar[str] = "contact_id"

    contact_id: str = Field(min_length=1)


class Case(CanonicalRecord):
    """A CRM case or logged contact with the customer."""

    record_type: ClassVar[str] = "case"
    key_field: ClassVar[str] = "case_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="contact_id", parent_type="contact", parent_field="contact_id"
    )

    case_id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1)
    opened_at: dt.datetime
    closed_at: dt.datetime | None = None
    status: str = "open"
    topic: str | None = None
    channel: str | None = None


class Survey(CanonicalRecord):
    """A customer satisfaction survey response."""

    record_type: ClassVar[str] = "survey"
    key_field: ClassVar[str] = "survey_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="contact_id", parent_type="contact", parent_field="contact_id"
    )

    survey_id: str = Field(min_length=1)
    contact_id: str = Field(min_length=1)
    score: float
    scale_max: float = 10
    responded_at: dt.datetime | None = None
    topic: str | None = None


class RecallNotice(Party):
    """A head-office recall notice sent to a vehicle's owner."""

    record_type: ClassVar[str] = "recall_notice"
    key_field: ClassVar[str] = "notice_id"

    notice_id: str = Field(min_length=1)
    campaign: str = Field(min_length=1)
    vin: str = Field(min_length=1)
    notice_date: dt.date | None = None
    remedy_status: str = "open"


class RecallCampaign(CanonicalRecord):
    """A safety recall campaign for one make, model and model year, as a regulator publishes it.

    Reference data, such as a row of NHTSA's recall flat file (one row per
    campaign, make, model, model year and component): neither a party (it
    takes no part in matching) nor a dependent of one. It names no vehicle;
    rules relate it to vehicles by make, model and year, and to notices and
    dealer recalls by ``campaign``.
    """

    record_type: ClassVar[str] = "recall_campaign"
    key_field: ClassVar[str] = "record_id"

    record_id: str = Field(min_length=1)
    campaign: str = Field(min_length=1)
    make: str = Field(min_length=1)
    model: str = Field(min_length=1)
    model_year: int | None = None
    component: str | None = None
    manufacturer: str | None = None
    manufacturer_campaign: str | None = None
    recall_type: str | None = None
    initiated_by: str | None = None
    built_from: dt.date | None = None
    built_to: dt.date | None = None
    units_affected: int | None = None
    reported_at: dt.date | None = None
    owners_notified_at: dt.date | None = None
    do_not_drive: bool = False
    park_outside: bool = False
    defect: str | None = None
    consequence: str | None = None
    remedy: str | None = None
    notes: str | None = None


class Vehicle(Party):
    """A vehicle as a dealer's service system knows it, with its owner."""

    record_type: ClassVar[str] = "vehicle"
    key_field: ClassVar[str] = "vehicle_id"

    vehicle_id: str = Field(min_length=1)
    vin: str = Field(min_length=1)
    make: str | None = None
    model: str | None = None
    year: int | None = None


class DealerRecall(CanonicalRecord):
    """A recall campaign open (or closed) on a vehicle in the dealer's system."""

    record_type: ClassVar[str] = "dealer_recall"
    key_field: ClassVar[str] = "dealer_recall_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="vehicle_id", parent_type="vehicle", parent_field="vehicle_id"
    )

    dealer_recall_id: str = Field(min_length=1)
    vehicle_id: str = Field(min_length=1)
    campaign: str = Field(min_length=1)
    status: str = "open"
    opened_at: dt.date | None = None


class RepairOrder(CanonicalRecord):
    """A dealer repair order on a vehicle."""

    record_type: ClassVar[str] = "repair_order"
    key_field: ClassVar[str] = "repair_order_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="vehicle_id", parent_type="vehicle", parent_field="vehicle_id"
    )

    repair_order_id: str = Field(min_length=1)
    vehicle_id: str = Field(min_length=1)
    opened_at: dt.date | None = None
    campaign: str | None = None
    status: str = "open"
    description: str | None = None


class DeviceStatus(CanonicalRecord):
    """Telemetry for a monitored device: its status and last heartbeat."""

    record_type: ClassVar[str] = "device_status"
    key_field: ClassVar[str] = "device_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="device_id", parent_type="service_line", parent_field="device_id"
    )

    device_id: str = Field(min_length=1)
    status: str
    last_heartbeat: dt.datetime | None = None


class Alert(CanonicalRecord):
    """An alert sent about a device (to the customer or a monitoring centre)."""

    record_type: ClassVar[str] = "alert"
    key_field: ClassVar[str] = "alert_id"
    parent: ClassVar[ParentRef | None] = ParentRef(
        field="device_id", parent_type="service_line", parent_field="device_id"
    )

    alert_id: str = Field(min_length=1)
    device_id: str = Field(min_length=1)
    sent_at: dt.datetime
    kind: str | None = None
    channel: str | None = None


RECORD_TYPES: dict[str, type[CanonicalRecord]] = {
    cls.record_type: cls
    for cls in (
        Account,
        Subscription,
        Invoice,
        Payment,
        ServiceLine,
        Contact,
        Case,
        Survey,
        RecallNotice,
        RecallCampaign,
        Vehicle,
        DealerRecall,
        RepairOrder,
        DeviceStatus,
        Alert,
    )
}


def record_model(record_type: str) -> type[CanonicalRecord]:
    """Return the canonical model for ``record_type``, or raise a helpful error."""
    try:
        return RECORD_TYPES[record_type]
    except KeyError:
        allowed = ", ".join(sorted(RECORD_TYPES))
        raise KeyError(f"unknown record type {record_type!r}; allowed: {allowed}") from None


def canonical_fields(record_type: str) -> dict[str, Any]:
    """The canonical fields of a record type and their pydantic field info."""
    return dict(record_model(record_type).model_fields)
