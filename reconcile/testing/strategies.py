"""Hypothesis strategies: canonical records, valid VINs, and one identity as each system writes it.

::

    from hypothesis import given
    from reconcile.testing import strategies as rst

    @given(rst.accounts(status="closed"), rst.invoices(account_id="AC-1"))
    def test_my_rule(account, invoice): ...

    @given(rst.identity_variants(systems=["billing", "crm"], noise=rst.FORMAT_NOISE))
    def test_my_mapping_keeps_customers_together(variants): ...

Every record strategy draws a dict of canonical fields (dates as
``datetime.date``, times as UTC ``datetime``) that validates against its
record type in :mod:`reconcile.model`; any field can be fixed, by value or
by strategy: ``invoices(account_id="AC-1", status=st.sampled_from(["open"]))``.
Such dicts are what :class:`reconcile.testing.Sources` and
:func:`reconcile.testing.rules.make_context` take.

:func:`identity_variants` draws one person as several systems would write
them: billing's ``"LEE, ANN M"`` in capitals with ZIP+4, the CRM's nickname
and mixed-case e-mail, the inventory's unit written into the street line, a
dealer's VIN with the letter O for a zero. Each :class:`Variant` says which
noise it carries and which normalised keys that noise may have changed
(:attr:`Variant.lost`), so a property test can require every other key to
agree (:func:`normalised_keys`).

Needs the ``hypothesis`` package (``pip install hypothesis``).
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "reconcile.testing.strategies needs Hypothesis: pip install hypothesis"
    ) from exc

from reconcile.normalise import VIN_ALPHABET, nicknames, person_name, vin_check_digit
from reconcile.testing.builders import FIXED_AS_OF

__all__ = [
    "ALL_NOISE",
    "FORMAT_NOISE",
    "KEYS",
    "LOSSY_NOISE",
    "SYSTEMS",
    "Identity",
    "Variant",
    "accounts",
    "alerts",
    "campaigns",
    "cases",
    "contacts",
    "days",
    "dealer_recalls",
    "device_statuses",
    "identities",
    "identity_variant",
    "identity_variants",
    "ids",
    "invoices",
    "moments",
    "money",
    "normalised_keys",
    "payments",
    "recall_campaigns",
    "recall_notices",
    "records",
    "repair_orders",
    "service_lines",
    "subscriptions",
    "surveys",
    "vehicles",
    "vins",
]

T = TypeVar("T")

# --------------------------------------------------------------------------- word lists

GIVEN_NAMES: tuple[str, ...] = (
    "Robert", "William", "James", "Michael", "Thomas", "Richard", "Joseph", "Daniel",
    "Benjamin", "Nicholas", "Andrew", "Edward", "Henry", "Lawrence", "Samuel", "Noah",
    "Lucas", "Mateo", "Ethan", "Oliver", "Elizabeth", "Jennifer", "Katherine", "Margaret",
    "Susan", "Patricia", "Rebecca", "Victoria", "Abigail", "Jacqueline", "Anna", "Grace",
    "Emma", "Hannah", "Olivia", "Chloe", "Isabel",
    # Written with accents by the customer, without them by upper-case ASCII systems.
    "José", "María", "Renée", "Zoë", "Andrés", "Inés", "Joaquín", "Lucía",
)
FAMILY_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Miller", "Wilson", "Anderson", "Taylor",
    "Martin", "Thompson", "Walker", "Young", "Wright", "Baker", "Nelson", "Carter",
    "Mitchell", "Campbell", "Parker", "Collins", "Stewart", "Morgan", "Cooper", "Nguyen",
    "Tran", "Kim", "Chen", "Patel", "Singh", "Cohen", "Larsen", "Schmidt", "Kowalski",
    "Rossi", "Silva", "Okafor", "Haddad", "Yamamoto", "Fischer", "Murphy",
    "García", "Núñez", "Peña", "Muñoz", "Hernández", "Álvarez",
    "O'Brien", "McDonald", "Smith-Jones", "de la Cruz", "Van Dyke",
)
EMAIL_DOMAINS: tuple[str, ...] = ("example.com", "example.net", "example.org", "mail.example.com")
STREETS: tuple[str, ...] = (
    "Main", "Oak", "Maple", "Cedar", "Pine", "Elm", "Washington", "Lake", "Hill",
    "Sunset", "Lincoln", "Walnut", "Willow", "Birch", "Meadow", "River", "Ridge",
    "Forest", "Spring", "Church", "Mill", "Market", "Union", "Harbor", "Summit",
)
# Street type: the full word and its postal abbreviation.
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("Street", "St"), ("Avenue", "Ave"), ("Road", "Rd"), ("Drive", "Dr"),
    ("Lane", "Ln"), ("Boulevard", "Blvd"), ("Court", "Ct"), ("Place", "Pl"),
    ("Terrace", "Ter"), ("Parkway", "Pkwy"),
)
DIRECTIONS: tuple[tuple[str, str], ...] = (("North", "N"), ("South", "S"), ("East", "E"), ("West", "W"))
# City, state, lowest and highest ZIP code, area codes.
CITIES: tuple[tuple[str, str, int, int, tuple[str, ...]], ...] = (
    ("Seattle", "WA", 98101, 98199, ("206",)),
    ("Portland", "OR", 97201, 97239, ("503", "971")),
    ("Denver", "CO", 80202, 80239, ("303", "720")),
    ("Austin", "TX", 78701, 78759, ("512",)),
    ("Chicago", "IL", 60601, 60661, ("312", "773")),
    ("Atlanta", "GA", 30303, 30350, ("404", "678")),
    ("Boston", "MA", 2108, 2136, ("617",)),
    ("Newark", "NJ", 7102, 7114, ("973",)),
    ("Miami", "FL", 33125, 33186, ("305", "786")),
    ("Phoenix", "AZ", 85003, 85054, ("602", "480")),
)
# World manufacturer identifier, make, models.
MAKES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1HG", "Honda", ("Accord", "Civic")),
    ("1FT", "Ford", ("F-150", "Ranger")),
    ("4T1", "Toyota", ("Camry", "Corolla")),
    ("5YJ", "Tesla", ("Model 3", "Model Y")),
    ("1G1", "Chevrolet", ("Malibu", "Equinox")),
    ("3VW", "Volkswagen", ("Jetta", "Tiguan")),
    ("KMH", "Hyundai", ("Elantra", "Tucson")),
    ("WBA", "BMW", ("330i", "X3")),
)
# Model year -> the VIN's tenth character (49 CFR 565.15).
MODEL_YEARS: dict[int, str] = {
    2010: "A", 2011: "B", 2012: "C", 2013: "D", 2014: "E", 2015: "F", 2016: "G", 2017: "H",
    2018: "J", 2019: "K", 2020: "L", 2021: "M", 2022: "N", 2023: "P", 2024: "R", 2025: "S",
    2026: "T",
}
PRODUCTS: tuple[str, ...] = ("fiber_1g", "fiber_300", "dsl_50", "monitoring")
DEVICE_PREFIXES: dict[str, str] = {"fiber_1g": "ONT", "fiber_300": "ONT", "dsl_50": "MDM", "monitoring": "HUB"}
RETURN_CODES: tuple[str, ...] = ("R01", "R02", "R03", "R08", "card_declined", "card_expired")
CASE_TOPICS: tuple[str, ...] = ("billing question", "technical support", "outage", "plan change", "recall")
CHANNELS: tuple[str, ...] = ("phone", "email", "web", "chat")

# --------------------------------------------------------------------------- identities

#: The normalised keys a variant's noise may change (see :attr:`Variant.lost`).
KEYS: tuple[str, ...] = ("given", "family", "email", "phone", "address", "vin", "birth_date")

#: Noise that only changes how a value is written: normalising undoes it.
FORMAT_NOISE: frozenset[str] = frozenset({
    "case",            # UPPER, lower or as typed
    "accents",         # accents dropped (upper-case ASCII systems)
    "last_first",      # "LEE, ANN M" in one name field
    "full_name",       # "Ann M. Lee" in one name field
    "nickname",        # Bob for Robert (a nickname the shipped table knows)
    "middle",          # a middle name or initial added
    "title",           # "Dr.", "Mr.", "Ms." before the name
    "suffix",          # "Jr." after the name
    "phone_format",    # (206) 384-0143, 206.384.0143, 2063840143, +1 206 384 0143
    "street_format",   # Street/St/St., North/N/N.
    "unit_format",     # APT 4B, Apartment 4B, #4B, Unit 4B, or written into the street line
    "zip4",            # 98101-1234
    "email_case",      # Ann.Lee@Example.COM
    "vin_format",      # lower case, dashes or spaces, O for 0 and I for 1
})
#: Noise that loses information: a key it touches may no longer agree.
LOSSY_NOISE: frozenset[str] = frozenset({
    "typo",            # a keying error in the given or family name
    "missing",         # e-mail, phone, address or birth date left empty
    "vin_typo",        # one wrong character in the VIN's serial number
})
ALL_NOISE: frozenset[str] = FORMAT_NOISE | LOSSY_NOISE

#: System -> the record type it writes a customer as.
SYSTEMS: dict[str, str] = {
    "billing": "account",
    "crm": "contact",
    "inventory": "service_line",
    "dealer": "vehicle",
    "recalls": "recall_notice",
}
_DEFAULT_CAMPAIGN = "26V-112"
_KEY_PREFIX = {"account": "AC", "contact": "C", "service_line": "L", "vehicle": "V", "recall_notice": "RN"}


@dataclass(frozen=True)
class Identity:
    """One real customer, before any system writes them down.

    The VIN, make, model and year are the customer's car (for the dealer's
    and the recall notices' records); every other field is the party.
    """

    given: str
    family: str
    middle: str
    email: str
    phone: str  # ten digits, US
    number: int
    direction: int  # index into DIRECTIONS, -1 for none
    street: str
    street_type: int  # index into STREET_TYPES
    unit: str  # "" for none
    city: str
    region: str
    postal_code: str  # five digits
    plus4: str
    birth_date: dt.date
    vin: str
    make: str
    model: str
    year: int

    def clean(self, record_type: str = "contact") -> dict[str, Any]:
        """The party fields written plainly: the reference a variant is compared with."""
        street = " ".join(
            [str(self.number)]
            + ([DIRECTIONS[self.direction][0]] if self.direction >= 0 else [])
            + [self.street, STREET_TYPES[self.street_type][0]]
        )
        party: dict[str, Any] = {
            "given_name": self.given,
            "family_name": self.family,
            "email": self.email,
            "phone": f"({self.phone[:3]}) {self.phone[3:6]}-{self.phone[6:]}",
            "street": street,
            "unit": f"Apt {self.unit}" if self.unit else None,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": "US",
            "birth_date": self.birth_date,
        }
        if record_type in ("vehicle", "recall_notice"):
            party["vin"] = self.vin
        return party


@dataclass(frozen=True)
class Variant:
    """One identity as one system wrote it.

    Attributes:
        identity: Who it is.
        system: The system that wrote it (a key of :data:`SYSTEMS`).
        record_type: The canonical record type.
        record: A record of ``record_type`` that validates: the party fields
            as that system wrote them, the record's key, a VIN for vehicles
            and recall notices, and plain values for the type's other
            required fields (product ``fiber_1g``, campaign ``26V-112``).
        noise: The noise applied (names from :data:`ALL_NOISE`).
        lost: The keys of :data:`KEYS` the noise may have changed or removed;
            every other key normalises as the identity's clean writing does.
    """

    identity: Identity
    system: str
    record_type: str
    record: dict[str, Any]
    noise: frozenset[str]
    lost: frozenset[str] = field(default_factory=frozenset)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _email_local(text: str) -> str:
    return "".join(c for c in _fold(text).lower() if c.isalnum())


def vins(make: str | None = None, year: int | None = None) -> st.SearchStrategy[str]:
    """Valid 17-character VINs: a real manufacturer prefix, model year code and check digit."""
    wmis = [m for m in MAKES if make is None or m[1] == make]
    if not wmis:
        raise ValueError(f"unknown make {make!r}; known: {', '.join(m[1] for m in MAKES)}")
    if year is not None and year not in MODEL_YEARS:
        raise ValueError(f"model year {year} has no VIN code here; known: {min(MODEL_YEARS)}-{max(MODEL_YEARS)}")
    alphabet = st.sampled_from(VIN_ALPHABET)

    @st.composite
    def draw_vin(draw: st.DrawFn) -> str:
        wmi = draw(st.sampled_from(wmis))[0]
        descriptor = "".join(draw(st.lists(alphabet, min_size=5, max_size=5)))
        year_code = MODEL_YEARS[year] if year is not None else draw(st.sampled_from(sorted(MODEL_YEARS.values())))
        plant = draw(alphabet)
        serial = draw(st.integers(0, 999_999))
        body = f"{wmi}{descriptor}0{year_code}{plant}{serial:06d}"
        return body[:8] + vin_check_digit(body) + body[9:]

    return draw_vin()


@st.composite
def identities(draw: st.DrawFn) -> Identity:
    """One customer: a person with an e-mail, a US phone and address, a birth date and a car."""
    given = draw(st.sampled_from(GIVEN_NAMES))
    family = draw(st.sampled_from(FAMILY_NAMES))
    middle = draw(st.sampled_from(("", "J", "Marie", "Lee", "A", "Paul")))
    city, region, low, high, areas = draw(st.sampled_from(CITIES))
    area = draw(st.sampled_from(areas))
    exchange = draw(st.integers(200, 999).filter(lambda n: n % 100 != 11 and n != 555))
    line = draw(st.integers(0, 9999))
    domain = draw(st.sampled_from(EMAIL_DOMAINS))
    separator = draw(st.sampled_from((".", "_", "")))
    email = f"{_email_local(given)}{separator}{_email_local(family)}@{domain}"
    make_row = draw(st.sampled_from(MAKES))
    year = draw(st.sampled_from(sorted(MODEL_YEARS)))
    return Identity(
        given=given,
        family=family,
        middle=middle,
        email=email,
        phone=f"{area}{exchange:03d}{line:04d}",
        number=draw(st.integers(1, 9999)),
        direction=draw(st.integers(-1, len(DIRECTIONS) - 1)),
        street=draw(st.sampled_from(STREETS)),
        street_type=draw(st.integers(0, len(STREET_TYPES) - 1)),
        unit=draw(st.sampled_from(("", "", "4B", "12", "301", "C"))),
        city=city,
        region=region,
        postal_code=f"{draw(st.integers(low, high)):05d}",
        plus4=f"{draw(st.integers(0, 9999)):04d}",
        birth_date=draw(st.dates(dt.date(1940, 1, 1), dt.date(2005, 12, 31))),
        vin=draw(vins(make=make_row[1], year=year)),
        make=make_row[1],
        model=draw(st.sampled_from(make_row[2])),
        year=year,
    )


def _typo(word: str, draw: st.DrawFn) -> str:
    """A keying error: two adjacent letters swapped, one dropped or one doubled."""
    letters = [i for i, c in enumerate(word) if c.isalpha()]
    if len(letters) < 3:
        return word + word[-1]
    i = draw(st.sampled_from(letters[:-1]))
    kind = draw(st.sampled_from(("swap", "drop", "double")))
    if kind == "swap" and word[i + 1].isalpha() and word[i].lower() != word[i + 1].lower():
        return word[:i] + word[i + 1] + word[i] + word[i + 2 :]
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _cased(text: str, how: str) -> str:
    return {"upper": text.upper(), "lower": text.lower()}.get(how, text)


def _write_name(
    identity: Identity, allowed: set[str], used: set[str], lost: set[str], system: str, draw: st.DrawFn
) -> dict[str, Any]:
    given, family, middle = identity.given, identity.family, identity.middle
    if "nickname" in allowed:
        formal = person_name(given=given)[0]
        options = sorted(n for n, f in nicknames().items() if f == formal)
        if len(options) > 0 and draw(st.booleans()):
            given = draw(st.sampled_from(options)).capitalize()
            used.add("nickname")
    if "typo" in allowed and draw(st.integers(0, 3)) == 0:
        if draw(st.booleans()):
            family = _typo(family, draw)
            lost.add("family")
        else:
            given = _typo(given, draw)
            lost.add("given")
        used.add("typo")
    if "accents" in allowed and (system == "billing" or draw(st.booleans())):
        if _fold(given + family) != given + family:
            used.add("accents")
        given, family, middle = _fold(given), _fold(family), _fold(middle)
    if "middle" in allowed and middle and draw(st.booleans()):
        used.add("middle")
    else:
        middle = ""
    shapes = ["parts"]
    if "last_first" in allowed:
        shapes.append("last_first")
    if "full_name" in allowed:
        shapes.append("full_name")
    shape = "last_first" if system == "billing" and "last_first" in allowed else draw(st.sampled_from(shapes))
    casing = "as_typed"
    if "case" in allowed:
        casing = "upper" if system in ("billing", "recalls") else draw(st.sampled_from(("as_typed", "upper", "lower")))
        if casing != "as_typed":
            used.add("case")
    if shape == "parts":
        out = {"given_name": _cased(given, casing), "family_name": _cased(family, casing)}
        return out
    used.add(shape)
    if shape == "last_first":
        name = f"{family}, {given}" + (f" {middle}" if middle else "")
    else:
        title = ""
        if "title" in allowed and draw(st.integers(0, 3)) == 0:
            title = draw(st.sampled_from(("Dr. ", "Mr. ", "Ms. ", "Mrs. ")))
            used.add("title")
        suffix = ""
        if "suffix" in allowed and draw(st.integers(0, 4)) == 0:
            suffix = draw(st.sampled_from((" Jr.", " Sr.", " III")))
            used.add("suffix")
        initial = f" {middle[0]}." if middle and len(middle) > 1 and draw(st.booleans()) else (f" {middle}" if middle else "")
        name = f"{title}{given}{initial} {family}{suffix}"
    return {"name": _cased(name, casing)}


def _write_phone(identity: Identity, noise: set[str], used: set[str], system: str, draw: st.DrawFn) -> str:
    p = identity.phone
    formats = {
        "billing": f"{p[:3]}-{p[3:6]}-{p[6:]}",
        "crm": f"({p[:3]}) {p[3:6]}-{p[6:]}",
        "inventory": p,
        "dealer": f"{p[:3]}.{p[3:6]}.{p[6:]}",
        "recalls": f"({p[:3]}) {p[3:6]}-{p[6:]}",
    }
    if "phone_format" not in noise:
        return f"({p[:3]}) {p[3:6]}-{p[6:]}"
    written = draw(st.sampled_from([formats[system], f"+1 {p[:3]} {p[3:6]} {p[6:]}", f"1-{p[:3]}-{p[3:6]}-{p[6:]}"]))
    if written != f"({p[:3]}) {p[3:6]}-{p[6:]}":
        used.add("phone_format")
    return written


def _write_address(
    identity: Identity, noise: set[str], used: set[str], system: str, draw: st.DrawFn
) -> dict[str, Any]:
    style = "full"
    if "street_format" in noise:
        style = draw(st.sampled_from(("full", "abbreviated", "dotted")))
        if style != "full":
            used.add("street_format")
    words = [str(identity.number)]
    if identity.direction >= 0:
        full, short = DIRECTIONS[identity.direction]
        words.append(full if style == "full" else short + ("." if style == "dotted" else ""))
    words.append(identity.street)
    full, short = STREET_TYPES[identity.street_type]
    words.append(full if style == "full" else short + ("." if style == "dotted" else ""))
    street = " ".join(words)
    unit: str | None = f"Apt {identity.unit}" if identity.unit else None
    if identity.unit and "unit_format" in noise:
        written = draw(st.sampled_from(("APT {}", "Apartment {}", "#{}", "Unit {}", "Apt {}")))
        where = draw(st.sampled_from(("field", "street")))
        used.add("unit_format")
        if where == "street":
            street, unit = f"{street} {written.format(identity.unit)}", None
        else:
            unit = written.format(identity.unit)
    postal = identity.postal_code
    if "zip4" in noise and (system == "billing" or draw(st.booleans())):
        postal = f"{postal}-{identity.plus4}"
        used.add("zip4")
    out = {
        "street": street,
        "unit": unit,
        "city": identity.city,
        "region": identity.region,
        "postal_code": postal,
        "country": "US",
    }
    if "case" in noise and system in ("billing", "recalls"):
        out = {k: v.upper() if isinstance(v, str) else v for k, v in out.items()}
    return out


def _write_vin(identity: Identity, noise: set[str], used: set[str], lost: set[str], draw: st.DrawFn) -> str:
    vin = identity.vin
    if "vin_typo" in noise and draw(st.integers(0, 2)) == 0:
        i = draw(st.integers(11, 16))
        wrong = draw(st.sampled_from([c for c in "0123456789" if c != vin[i]]))
        vin = vin[:i] + wrong + vin[i + 1 :]
        lost.add("vin")
        used.add("vin_typo")
    if "vin_format" in noise and draw(st.booleans()):
        how = draw(st.sampled_from(("letters", "lower", "spaced")))
        if how == "letters":
            vin = "".join("O" if c == "0" and i != 8 else c for i, c in enumerate(vin))
        elif how == "lower":
            vin = vin.lower()
        else:
            vin = f"{vin[:3]}-{vin[3:9]}-{vin[9:]}"
        used.add("vin_format")
    return vin


def _as_strategy(value: T | st.SearchStrategy[T]) -> st.SearchStrategy[T]:
    return value if isinstance(value, st.SearchStrategy) else st.just(value)


def identity_variant(
    identity: Identity | st.SearchStrategy[Identity] | None = None,
    system: str = "crm",
    *,
    noise: Collection[str] = ALL_NOISE,
    key: str | None = None,
) -> st.SearchStrategy[Variant]:
    """One identity written as ``system`` writes a customer (see :data:`SYSTEMS`).

    Args:
        identity: The customer, or a strategy of them (default :func:`identities`).
        system: ``billing`` (account), ``crm`` (contact), ``inventory``
            (service line), ``dealer`` (vehicle) or ``recalls`` (recall notice).
        noise: The noise the variant may carry (:data:`FORMAT_NOISE`,
            :data:`LOSSY_NOISE`, or any names of :data:`ALL_NOISE`).
        key: The record's key (default: drawn, such as ``AC-00042``).
    """
    if system not in SYSTEMS:
        raise ValueError(f"unknown system {system!r}; allowed: {', '.join(SYSTEMS)}")
    unknown = sorted(set(noise) - ALL_NOISE)
    if unknown:
        raise ValueError(f"unknown noise {unknown}; allowed: {', '.join(sorted(ALL_NOISE))}")
    allowed = set(noise)
    record_type = SYSTEMS[system]
    identity_strategy = identities() if identity is None else _as_strategy(identity)

    @st.composite
    def draw_variant(draw: st.DrawFn) -> Variant:
        person = draw(identity_strategy)
        used: set[str] = set()
        lost: set[str] = set()
        record: dict[str, Any] = {}
        prefix = _KEY_PREFIX[record_type]
        record[_key_field(record_type)] = key if key is not None else f"{prefix}-{draw(st.integers(1, 99999)):05d}"
        record.update(_write_name(person, allowed, used, lost, system, draw))
        email: str | None = person.email
        if "email_case" in allowed and draw(st.booleans()):
            local, _, domain = person.email.partition("@")
            email = f"{local.title()}@{domain.title()}"
            used.add("email_case")
        record["email"] = email
        record["phone"] = _write_phone(person, allowed, used, system, draw)
        record.update(_write_address(person, allowed, used, system, draw))
        record["birth_date"] = person.birth_date
        if record_type in ("vehicle", "recall_notice"):
            record["vin"] = _write_vin(person, allowed, used, lost, draw)
        # The type's other required fields, so the record validates as it is.
        if record_type == "vehicle":
            record.update(make=person.make, model=person.model, year=person.year)
        elif record_type == "recall_notice":
            record["campaign"] = _DEFAULT_CAMPAIGN
        elif record_type == "service_line":
            record["product"] = PRODUCTS[0]
        if "missing" in allowed and draw(st.integers(0, 2)) == 0:
            gone = draw(st.sampled_from(("email", "phone", "address", "birth_date")))
            if gone == "address":
                record.update(street=None, unit=None, postal_code=None)
            else:
                record[gone] = None
            lost.add(gone)
            used.add("missing")
        return Variant(
            identity=person,
            system=system,
            record_type=record_type,
            record=record,
            noise=frozenset(used),
            lost=frozenset(lost),
        )

    return draw_variant()


def identity_variants(
    identity: Identity | st.SearchStrategy[Identity] | None = None,
    *,
    systems: Sequence[str] = tuple(SYSTEMS),
    noise: Collection[str] = ALL_NOISE,
    min_size: int = 2,
    max_size: int = 5,
) -> st.SearchStrategy[list[Variant]]:
    """Several variants of one identity, each as one of ``systems`` writes it.

    Keys are unique within the list (``AC-1``, ``C-2``...), so the variants
    can be the rows of one run. Use ``noise=FORMAT_NOISE`` for variants whose
    normalised keys all agree (a mapping or matching that keeps them apart
    is wrong); with lossy noise, :attr:`Variant.lost` says which keys may not.
    """
    if not systems:
        raise ValueError("give at least one system")
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size} and {max_size}")
    identity_strategy = identities() if identity is None else _as_strategy(identity)

    @st.composite
    def draw_variants(draw: st.DrawFn) -> list[Variant]:
        person = draw(identity_strategy)
        chosen = draw(st.lists(st.sampled_from(list(systems)), min_size=min_size, max_size=max_size))
        out = []
        for n, system in enumerate(chosen, start=1):
            key = f"{_KEY_PREFIX[SYSTEMS[system]]}-{n}"
            out.append(draw(identity_variant(person, system, noise=noise, key=key)))
        return out

    return draw_variants()


def normalised_keys(record: Mapping[str, Any], record_type: str) -> dict[str, Any]:
    """The keys of :data:`KEYS` a record normalises to (only those its type carries).

    ``given``, ``family``, ``email``, ``phone``, ``address`` (street, unit
    and postal code) as :func:`reconcile.normalise_table` writes them in the
    ``_n_*`` columns; ``vin`` for vehicles and recall notices; ``birth_date``.
    """
    import pandas as pd

    from reconcile.model import record_model
    from reconcile.normalise import normalise_table

    model = record_model(record_type)
    columns = list(model.model_fields)
    frame = pd.DataFrame([{c: record.get(c) for c in columns}], columns=columns, dtype=object)
    row = normalise_table(frame, record_type).iloc[0]
    keys = {
        "given": row["_n_given"],
        "family": row["_n_family"],
        "email": row["_n_email"],
        "phone": row["_n_phone"],
        "address": row["_n_address"],
        "birth_date": record.get("birth_date"),
    }
    if "vin" in model.model_fields:
        keys["vin"] = row["_n_vin"]
    return keys


# --------------------------------------------------------------------------- records


def _key_field(record_type: str) -> str:
    from reconcile.model import record_model

    return record_model(record_type).key_field


def ids(prefix: str) -> st.SearchStrategy[str]:
    """Record keys such as ``AC-00042``."""
    return st.integers(1, 99_999).map(lambda n: f"{prefix}-{n:05d}")


def days(before: int = 730, after: int = 0) -> st.SearchStrategy[dt.date]:
    """Dates from ``before`` days before :data:`FIXED_AS_OF` to ``after`` days after it."""
    today = FIXED_AS_OF.date()
    return st.integers(-before, after).map(lambda n: today + dt.timedelta(days=n))


def moments(before: dt.timedelta = dt.timedelta(days=365), after: dt.timedelta = dt.timedelta(0)) -> st.SearchStrategy[dt.datetime]:
    """UTC times, to the second, around :data:`FIXED_AS_OF`."""
    low, high = int(before.total_seconds()), int(after.total_seconds())
    return st.integers(-low, high).map(lambda s: FIXED_AS_OF + dt.timedelta(seconds=s))


def money(low: float = 1.0, high: float = 500.0) -> st.SearchStrategy[float]:
    """Amounts in cents."""
    return st.integers(round(low * 100), round(high * 100)).map(lambda c: c / 100)


def _fixed(record_type: str, base: st.SearchStrategy[dict[str, Any]], fixed: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    from reconcile.model import record_model

    known = record_model(record_type).model_fields
    unknown = sorted(set(fixed) - set(known))
    if unknown:
        raise ValueError(f"{unknown} are not fields of {record_type}; allowed: {', '.join(known)}")
    if not fixed:
        return base
    overrides = st.fixed_dictionaries({k: _as_strategy(v) for k, v in fixed.items()})
    return st.tuples(base, overrides).map(lambda pair: {**pair[0], **pair[1]})


def _party(system: str, noise: Collection[str]) -> st.SearchStrategy[dict[str, Any]]:
    return identity_variant(system=system, noise=noise).map(lambda v: dict(v.record))


def accounts(*, noise: Collection[str] = FORMAT_NOISE, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Billing accounts: a customer as billing writes them, status, auto-pay, opening and closing days."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        record = d(_party("billing", noise))
        status = d(st.sampled_from(("active", "active", "closed", "suspended")))
        opened = d(days(3650, -30))
        autopay = d(st.booleans())
        record.update(
            status=status,
            autopay=autopay,
            autopay_method=d(st.sampled_from(("ach", "card"))) if autopay else None,
            opened_at=opened,
            closed_at=opened + dt.timedelta(days=d(st.integers(1, 1000))) if status == "closed" else None,
        )
        return record

    return _fixed("account", draw(), fixed)


def contacts(*, noise: Collection[str] = FORMAT_NOISE, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """CRM contacts: a customer as they told the CRM."""
    return _fixed("contact", _party("crm", noise), fixed)


def service_lines(*, noise: Collection[str] = FORMAT_NOISE, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Service lines at the customer's address, with their product, status and device."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        record = d(_party("inventory", noise))
        product = d(st.sampled_from(PRODUCTS))
        status = d(st.sampled_from(("active", "active", "pending", "disconnected")))
        activated = d(days(1500, -1)) if status != "pending" else None
        record.update(
            product=product,
            status=status,
            activated_at=activated,
            deactivated_at=(
                activated + dt.timedelta(days=d(st.integers(1, 300)))
                if status == "disconnected" and activated is not None else None
            ),
            device_id=f"{DEVICE_PREFIXES[product]}-{d(st.integers(1, 999_999)):06d}",
        )
        return record

    return _fixed("service_line", draw(), fixed)


def vehicles(*, noise: Collection[str] = FORMAT_NOISE, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Vehicles in a dealer's system, with their owner; the VIN is valid unless ``noise`` allows typos."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        return dict(d(identity_variant(system="dealer", noise=noise)).record)

    return _fixed("vehicle", draw(), fixed)


def recall_notices(*, noise: Collection[str] = FORMAT_NOISE, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Head office's recall notices to a vehicle's owner, by campaign and VIN."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        record = d(_party("recalls", noise))
        record.update(
            campaign=d(campaigns()),
            notice_date=d(days(720, 0)),
            remedy_status=d(st.sampled_from(("open", "open", "remedied"))),
        )
        return record

    return _fixed("recall_notice", draw(), fixed)


def recall_campaigns(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Recall campaigns as a regulator publishes them: one per make, model and model year."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        built_from = d(days(3650, -365))
        notified = d(st.none() | days(720, 0))
        return {
            "record_id": str(d(st.integers(1, 9_999_999))),
            "campaign": d(campaigns()),
            "make": d(st.sampled_from(("ACME", "TORVA", "NORDIC"))),
            "model": d(st.sampled_from(("ROADSTER", "VAN", "CITY"))),
            "model_year": d(st.none() | st.integers(2005, 2027)),
            "component": d(st.sampled_from(("AIR BAGS", "BRAKES", "SUSPENSION:FRONT", "FUEL SYSTEM"))),
            "manufacturer": d(st.sampled_from(("Acme Motor Co.", "Torva AG"))),
            "manufacturer_campaign": d(st.none() | ids("MC")),
            "recall_type": d(st.sampled_from(("vehicle", "equipment", "tire", "child_seat"))),
            "initiated_by": d(st.sampled_from(("MFR", "OVSC"))),
            "built_from": built_from,
            "built_to": built_from + dt.timedelta(days=d(st.integers(0, 900))),
            "units_affected": d(st.none() | st.integers(1, 500_000)),
            "reported_at": d(days(900, 0)),
            "owners_notified_at": notified,
            "do_not_drive": d(st.booleans()),
            "park_outside": d(st.booleans()),
            "defect": "A part may fail.",
            "consequence": d(st.none() | st.just("A crash may occur.")),
            "remedy": "Dealers will replace the part, free of charge.",
            "notes": None,
        }

    return _fixed("recall_campaign", draw(), fixed)


def campaigns() -> st.SearchStrategy[str]:
    """Recall campaign numbers such as ``26V-112``."""
    return st.tuples(st.integers(20, 26), st.integers(1, 999)).map(lambda p: f"{p[0]}V-{p[1]:03d}")


def subscriptions(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Billed products on an account."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        status = d(st.sampled_from(("active", "active", "cancelled", "pending")))
        start = d(days(1500, 30))
        return {
            "subscription_id": d(ids("S")),
            "account_id": d(ids("AC")),
            "product": d(st.sampled_from(PRODUCTS)),
            "status": status,
            "start_date": start,
            "end_date": start + dt.timedelta(days=d(st.integers(1, 400))) if status == "cancelled" else None,
            "monthly_amount": d(money(10, 150)),
        }

    return _fixed("subscription", draw(), fixed)


def invoices(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Invoices on an account: issued, due two to four weeks later, open or paid."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        issued = d(days(400, 0))
        status = d(st.sampled_from(("open", "paid")))
        return {
            "invoice_id": d(ids("I")),
            "account_id": d(ids("AC")),
            "amount": d(money(5, 500)),
            "issued_at": issued,
            "due_date": issued + dt.timedelta(days=d(st.integers(14, 30))),
            "status": status,
            "paid_at": issued + dt.timedelta(days=d(st.integers(0, 40))) if status == "paid" else None,
        }

    return _fixed("invoice", draw(), fixed)


def payments(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Payment attempts on an account; a failed one has a return code."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        status = d(st.sampled_from(("succeeded", "succeeded", "failed")))
        return {
            "payment_id": d(ids("P")),
            "account_id": d(ids("AC")),
            "amount": d(money(5, 500)),
            "attempted_at": d(moments()),
            "status": status,
            "return_code": d(st.sampled_from(RETURN_CODES)) if status == "failed" else None,
            "method": d(st.sampled_from(("ach", "card"))),
            "autopay": d(st.booleans()),
        }

    return _fixed("payment", draw(), fixed)


def cases(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """CRM cases on a contact; a closed one closes after it opened."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        opened = d(moments())
        status = d(st.sampled_from(("open", "closed")))
        return {
            "case_id": d(ids("CS")),
            "contact_id": d(ids("C")),
            "opened_at": opened,
            "closed_at": opened + dt.timedelta(hours=d(st.integers(1, 2000))) if status == "closed" else None,
            "status": status,
            "topic": d(st.sampled_from(CASE_TOPICS)),
            "channel": d(st.sampled_from(CHANNELS)),
        }

    return _fixed("case", draw(), fixed)


def surveys(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Survey responses on a contact, scored on a 5- or 10-point scale."""

    @st.composite
    def draw(d: st.DrawFn) -> dict[str, Any]:
        scale = d(st.sampled_from((5, 10)))
        return {
            "survey_id": d(ids("SV")),
            "contact_id": d(ids("C")),
            "score": float(d(st.integers(0, scale))),
            "scale_max": float(scale),
            "responded_at": d(moments()),
            "topic": d(st.sampled_from(CASE_TOPICS)),
        }

    return _fixed("survey", draw(), fixed)


def dealer_recalls(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Recall campaigns open or closed on a dealer's vehicle."""
    return _fixed("dealer_recall", st.fixed_dictionaries({
        "dealer_recall_id": ids("DR"),
        "vehicle_id": ids("V"),
        "campaign": campaigns(),
        "status": st.sampled_from(("open", "closed")),
        "opened_at": days(720, 0),
    }), fixed)


def repair_orders(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Dealer repair orders on a vehicle, some for a recall campaign."""
    return _fixed("repair_order", st.fixed_dictionaries({
        "repair_order_id": ids("RO"),
        "vehicle_id": ids("V"),
        "opened_at": days(720, 0),
        "campaign": st.none() | campaigns(),
        "status": st.sampled_from(("open", "closed")),
        "description": st.sampled_from(("oil change", "brake pads", "recall remedy", "inspection")),
    }), fixed)


def device_statuses(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Telemetry per device: online or offline, and the last heartbeat."""
    return _fixed("device_status", st.fixed_dictionaries({
        "device_id": st.sampled_from(sorted(set(DEVICE_PREFIXES.values()))).flatmap(
            lambda p: st.integers(1, 999_999).map(lambda n: f"{p}-{n:06d}")
        ),
        "status": st.sampled_from(("online", "offline")),
        "last_heartbeat": st.none() | moments(before=dt.timedelta(days=30)),
    }), fixed)


def alerts(**fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Alerts sent about a device."""
    return _fixed("alert", st.fixed_dictionaries({
        "alert_id": ids("AL"),
        "device_id": st.integers(1, 999_999).map(lambda n: f"HUB-{n:06d}"),
        "sent_at": moments(before=dt.timedelta(days=30)),
        "kind": st.sampled_from(("offline", "low_battery", "tamper")),
        "channel": st.sampled_from(("sms", "email", "monitoring_centre")),
    }), fixed)


_RECORDS: dict[str, Callable[..., st.SearchStrategy[dict[str, Any]]]] = {
    "account": accounts,
    "subscription": subscriptions,
    "invoice": invoices,
    "payment": payments,
    "service_line": service_lines,
    "contact": contacts,
    "case": cases,
    "survey": surveys,
    "recall_notice": recall_notices,
    "recall_campaign": recall_campaigns,
    "vehicle": vehicles,
    "dealer_recall": dealer_recalls,
    "repair_order": repair_orders,
    "device_status": device_statuses,
    "alert": alerts,
}


def records(record_type: str, **fixed: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Records of any canonical type, such as ``records("invoice", account_id="AC-1")``."""
    try:
        strategy = _RECORDS[record_type]
    except KeyError:
        raise KeyError(
            f"unknown record type {record_type!r}; allowed: {', '.join(sorted(_RECORDS))}"
        ) from None
    return strategy(**fixed)
