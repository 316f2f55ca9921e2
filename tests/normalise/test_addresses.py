"""US addresses: USPS abbreviations, units out of the street line, 5-digit ZIP codes."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.demo import _data as D
from reconcile.demo._records import Addr, street_words
from reconcile.normalise import address, postal_code, street, unit


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("123 North Maple Street", "123 n maple st"),
        ("123 N. Maple St.", "123 n maple st"),
        ("123 N MAPLE ST", "123 n maple st"),
        ("1600 Pennsylvania Avenue Northwest", "1600 pennsylvania ave nw"),
        ("1600 Pennsylvania Ave NW", "1600 pennsylvania ave nw"),
        ("500 West Sunset Boulevard", "500 w sunset blvd"),
        ("9 Lake Street", "9 lake st"),  # "Lake" is the name here, not a type
        ("9 Lake", "9 lake"),
        ("123 North Street", "123 north st"),  # a directional that is the name stays a word
        ("123 N St", "123 north st"),
        ("123 First Avenue", "123 1st ave"),
        ("123 Saint Paul Ave", "123 st paul ave"),
        ("100 Highway 101", "100 hwy 101"),
        ("1 County Road 5", "1 county rd 5"),
        ("P.O. Box 45", "po box 45"),
        ("Post Office Box 45", "po box 45"),
        ("RR 2 Box 10", "rr 2 box 10"),
        ("123 Main St Apt 4B", "123 main st"),
        ("123 Lot Rd", "123 lot rd"),  # "Lot" without a number is a name
        ("", None),
    ],
)
def test_street_lines(written: str, expected: str | None) -> None:
    assert street(written) == expected


@pytest.mark.parametrize(
    ("street_line", "unit_field", "expected"),
    [
        ("123 N MAPLE ST", "APT 4B", ("123 n maple st", "4b")),
        ("123 North Maple Street", "Apartment 4B", ("123 n maple st", "4b")),
        ("123 N MAPLE ST APT 4B", None, ("123 n maple st", "4b")),
        ("123 N Maple St #4B", None, ("123 n maple st", "4b")),
        ("123 N Maple St # 4-B", "Apt 4B", ("123 n maple st", "4b")),
        ("123 Main St, Apt. 4-B", None, ("123 main st", "4b")),
        ("123 Main St Apt4B", None, ("123 main st", "4b")),
        ("500 Main Street Suite 200", None, ("500 main st", "200")),
        ("500 MAIN ST", "STE 200", ("500 main st", "200")),
        ("500 Main St Unit 3", None, ("500 main st", "3")),
        ("500 Main St No. 3", None, ("500 main st", "3")),
        ("12 Main St Rear", None, ("12 main st", "rear")),
        ("77 Massachusetts Ave Bldg 10 Rm 200", None, ("77 massachusetts ave", "10 200")),
        # No designator: usaddress reads the trailing unit.
        ("12 Main St 4B", None, ("12 main st", "4b")),
        ("12 Main 4B", None, ("12 main", "4b")),
        ("100 W 5th St", None, ("100 w 5th st", None)),
        (None, "Apt 7", (None, "7")),
    ],
)
def test_units_move_out_of_the_street(street_line: str | None, unit_field: str | None,
                                      expected: tuple[str | None, str | None]) -> None:
    assert address(street_line, unit_field, "98101")[:2] == expected


@pytest.mark.parametrize(
    ("written", "expected"),
    [("APT 4B", "4b"), ("Apartment 4-B", "4b"), ("#4B", "4b"), ("# 4B", "4b"), ("Suite 200", "200"),
     ("STE 200", "200"), ("Unit 3", "3"), ("4B", "4b"), ("Apt. #12", "12"), ("Basement", "bsmt"),
     ("Bldg 10 Rm 200", "10 200"), ("", None), (None, None)],
)
def test_unit_fields(written: str | None, expected: str | None) -> None:
    assert unit(written) == expected


@pytest.mark.parametrize(
    ("written", "region", "expected"),
    [("98101", "US", "98101"), ("98101-1234", "US", "98101"), ("981011234", "US", "98101"),
     ("98101 1234", "US", "98101"), (" 02108 ", "US", "02108"), ("2108", "US", "02108"),
     (2108, "US", "02108"), (98101.0, "US", "98101"), ("00901", "PR", "00901"),
     ("sw1a 1aa", "GB", "SW1A1AA"), ("K1A 0B6", "CA", "K1A0B6"), ("k1a 0b6", "US", "K1A0B6"),
     ("12", "US", "12"), ("", "US", None), (None, "US", None)],
)
def test_postal_codes(written: object, region: str, expected: str | None) -> None:
    assert postal_code(written, region) == expected


def test_every_demo_street_format_gives_one_key() -> None:
    # Every street type and directional the demo writes, in each system's style.
    for stype, direction in itertools.product(range(len(D.STREET_TYPES)), range(-1, len(D.DIRECTIONS))):
        a = Addr(4321, direction, "Maple", stype, "12C", False, "Seattle", "WA", "98101", "1234")
        keys = {
            address(street_words(a, abbreviate=True).upper(), "APT 12C", "98101"),
            address(street_words(a, abbreviate=False), "Apartment 12C", "98101"),
            address(street_words(a, abbreviate=False), "#12C", "98101"),
            address(street_words(a, abbreviate=True, dotted=True), "Apt 12C", "98101-1234"),
            address(street_words(a, abbreviate=True) + " #12C", None, "98101-1234"),
            address(street_words(a, abbreviate=True) + " Apt 12C", None, "98101"),
            address(street_words(a, abbreviate=True).upper() + " APT 12C", None, "98101"),
        }
        assert len(keys) == 1, keys


# ---------------------------------------------------------------- properties

names = st.sampled_from(D.STREETS + ("Martin Luther King", "Old Mill", "Lake View", "Fifth"))
types = st.sampled_from(D.STREET_TYPES + (("Circle", "Cir"), ("Highway", "Hwy"), ("Way", "Way")))
directions = st.sampled_from(((None, None),) + D.DIRECTIONS)
Written = tuple[str, str | None, str]  # street line, unit field, postal code
units = st.one_of(st.none(), st.from_regex(r"[1-9][0-9]{0,3}[A-D]?", fullmatch=True))


@st.composite
def written_addresses(draw: st.DrawFn) -> list[Written]:
    """One address written in many ways."""
    number = str(draw(st.integers(1, 99999)))
    name = draw(names)
    full_type, short_type = draw(types)
    full_dir, short_dir = draw(directions)
    post = draw(st.booleans())
    unit_id = draw(units)
    zip5 = f"{draw(st.integers(501, 99950)):05d}"
    plus4 = f"{draw(st.integers(0, 9999)):04d}"
    variants: list[Written] = []
    for dotted, abbreviate, upper, unit_style, zip_style in itertools.product(
        (False, True), (False, True), (False, True), range(4), range(2)
    ):
        dot = "." if dotted else ""
        stype = f"{short_type}{dot}" if abbreviate else full_type
        words = [number]
        direction = (f"{short_dir}{dot}" if abbreviate else full_dir) if full_dir else None
        if direction and not post:
            words.append(direction)
        words += [name, stype]
        if direction and post:
            words.append(direction)
        line = " ".join(words)
        unit_field = None
        if unit_id is not None:
            if unit_style == 0:
                unit_field = f"Apt {unit_id}"
            elif unit_style == 1:
                unit_field = f"#{unit_id}"
            elif unit_style == 2:
                line += f" Apartment {unit_id}"
            else:
                line += f" #{unit_id}"
        if upper:
            line = line.upper()
            unit_field = unit_field.upper() if unit_field else None
        variants.append((line, unit_field, zip5 if zip_style == 0 else f"{zip5}-{plus4}"))
    return variants


@settings(deadline=None)
@given(written_addresses())
def test_formats_of_one_address_give_one_key(variants: list[Written]) -> None:
    keys = {address(*variant) for variant in variants}
    assert len(keys) == 1, keys


@settings(deadline=None)
@given(written_addresses())
def test_normalising_a_written_address_twice_is_normalising_once(variants: list[Written]) -> None:
    for variant in variants[:4]:
        once = address(*variant)
        assert address(*once) == once


@settings(deadline=None)
@given(st.text(max_size=40), st.one_of(st.none(), st.text(max_size=12)), st.text(max_size=12),
       st.sampled_from(["US", "GB"]))
def test_normalising_any_text_twice_is_normalising_once(line: str, unit_field: str | None, postal: str,
                                                        region: str) -> None:
    once = address(line, unit_field, postal, region)
    assert address(*once, region) == once


@pytest.mark.parametrize("text", ["0 0 0", "000", "0-0-0", "1 2 3 4"])
def test_spaced_short_zip_digits_are_read_the_same_every_time(text: str) -> None:
    once = postal_code(text)
    assert once is not None and len(once) == 5
    assert postal_code(once) == once
