"""The demo world's records before they are written, and how each system formats them.

A customer (:class:`Party`) is planned once; each system then writes it in its
own way: billing in upper case with "LAST, FIRST", the CRM as the customer
typed it, the inventory with full street words, and so on.
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from dataclasses import dataclass, field

from reconcile.demo import _data as D

__all__ = [
    "Acct",
    "Addr",
    "Line",
    "Party",
    "Sub",
    "Telecom",
    "add_months",
    "ascii_fold",
    "company_billing",
    "company_crm",
    "iso_z",
    "misspell",
    "sql_time",
    "street_words",
    "typo",
    "unit_billing",
    "us_date",
]


@dataclass(slots=True)
class Addr:
    """A postal address, kept in parts so each system can write it its own way."""

    number: int
    direction: int  # index into D.DIRECTIONS, -1 for none
    street: str
    stype: int  # index into D.STREET_TYPES
    unit: str  # "" for none
    suite: bool  # a business suite rather than an apartment
    city: str
    state: str
    zip: str
    plus4: str


@dataclass(slots=True)
class Party:
    """A customer: a person, or a business with its authorised contact person."""

    cid: str
    business: bool
    given: str  # as the customer spells it (accents kept)
    family: str
    middle: str  # billing's middle initial or name, "" for none
    company: list[str] | None  # words, "&" included
    company_suffix: str  # key of D.LEGAL_SUFFIXES
    phone: tuple[str, str, str]
    email: str | None
    birth: dt.date | None
    home: Addr
    # Customers carrying an injected story keep every identifier in every
    # system, so the story does not hinge on a record matching can barely link.
    clean: bool = False


@dataclass(slots=True)
class Sub:
    """A billed subscription (billing's plan code and status codes)."""

    sub_id: str
    product: str
    plan: str
    status: str  # ACT, CAN, PND
    start: dt.date
    end: dt.date | None
    amount: float

    def billed_on(self, day: dt.date) -> bool:
        if self.status == "PND" or self.start > day:
            return False
        return self.end is None or self.end > day


@dataclass(slots=True)
class Acct:
    """A billing account; ``mode`` says how its invoices get paid (see the generator's ``_bill``)."""

    no: str
    opened: dt.date
    address: Addr
    autopay: bool
    method: str  # ACH or CARD
    mode: str  # how its invoices get paid, see _Generator._bill
    subs: list[Sub] = field(default_factory=list)
    status: str = "A"
    closed: dt.date | None = None
    codes: list[str] = field(default_factory=list)  # return codes of the failing charges


@dataclass(slots=True)
class Line:
    """A provisioned service line with its device, and what telemetry and alerting say about it."""

    line_id: str
    product: str
    status: str  # IS, PEND, DISC
    address: Addr
    activated: dt.date | None
    deactivated: dt.date | None
    device: str
    offline_for: dt.timedelta | None = None  # telemetry: offline since as_of - this
    alerts: list[dt.datetime] = field(default_factory=list)


@dataclass(slots=True)
class Telecom:
    """A customer's accounts and lines, and what the CRM must (not) hold about them."""

    accounts: list[Acct] = field(default_factory=list)
    lines: list[Line] = field(default_factory=list)
    crm_address: Addr | None = None
    cases_before: dt.datetime | None = None  # no CRM case on/after this time
    extra_cases: list[tuple[dt.datetime, str, str]] = field(default_factory=list)


def ascii_fold(text: str) -> str:
    """Drop accents: how the upper-case ASCII systems write "García"."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def misspell(word: str, rng: random.Random) -> str:
    """Swap two adjacent different letters: a typo that survives every normalisation."""
    positions = [i for i in range(len(word) - 1) if word[i].lower() != word[i + 1].lower()]
    i = rng.choice(positions)
    swapped = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    # Keep the word's capitalisation pattern.
    return swapped.capitalize() if word[:1].isupper() and not word.isupper() else swapped


def typo(word: str, rng: random.Random) -> str:
    """A keying error: a letter dropped, doubled or swapped (inventory and dealer names)."""
    if len(word) < 4:
        return word
    kind = rng.random()
    i = rng.randint(1, len(word) - 2)
    if kind < 0.35:
        return word[:i] + word[i + 1 :]
    if kind < 0.6:
        return word[:i] + word[i] + word[i:]
    return misspell(word, rng)


def us_date(day: dt.date) -> str:
    """The inventory's dates: MM/DD/YYYY."""
    return f"{day.month:02d}/{day.day:02d}/{day.year}"


def iso_z(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second (the CRM and telemetry)."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def sql_time(moment: dt.datetime) -> str:
    """Billing's timestamps: "YYYY-MM-DD HH:MM:SS" in UTC."""
    return moment.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ", timespec="seconds")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (earlier if negative), capped at the 28th."""
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, min(day.day, 28))


def street_words(a: Addr, abbreviate: bool, dotted: bool = False) -> str:
    """The street line: "123 North Maple Street", "123 N Maple St" or "123 N. Maple St."."""
    parts = [str(a.number)]
    if a.direction >= 0:
        full, short = D.DIRECTIONS[a.direction]
        parts.append(short + ("." if dotted else "") if abbreviate else full)
    parts.append(a.street)
    full, short = D.STREET_TYPES[a.stype]
    parts.append(short + ("." if dotted else "") if abbreviate else full)
    return " ".join(parts)


def unit_billing(a: Addr) -> str | None:
    """The unit as billing (and the recall notices) write it: "APT 4B", "STE 200"."""
    if not a.unit:
        return None
    return f"STE {a.unit}" if a.suite else f"APT {a.unit}"


def company_billing(p: Party, misspelt: bool, rng: random.Random) -> str:
    """Billing's company name: upper case, "AND", bare suffix; misspelt for name_mismatch."""
    assert p.company is not None
    words = list(p.company)
    if misspelt:
        candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w != "&"]
        i = rng.choice(candidates) if candidates else max(range(len(words)), key=lambda j: len(words[j]))
        words[i] = misspell(words[i], rng)
    text = " ".join("AND" if w == "&" else w.upper() for w in words)
    return f"{text} {p.company_suffix}" if p.company_suffix else text


def company_crm(p: Party, rng: random.Random) -> str:
    """The company as the customer gave it: "&" or "and", any spelling of the legal suffix."""
    assert p.company is not None
    words = [("and" if rng.random() < 0.4 else "&") if w == "&" else w for w in p.company]
    text = " ".join(words)
    suffix = rng.choice(D.LEGAL_SUFFIXES[p.company_suffix])
    if not suffix:
        return text
    return text + suffix if suffix.startswith(",") else f"{text} {suffix}"


