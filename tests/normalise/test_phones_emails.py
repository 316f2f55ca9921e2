"""Phone numbers to E.164 and emails to lower case; None for what is not one."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reconcile.normalise import email, phone, region_of


@pytest.mark.parametrize(
    "written",
    ["(206) 384-0143", "206.384.0143", "+1 206 384 0143", "206-384-0143", "2063840143",
     "1-206-384-0143", "+1 (206) 384-0143 ext. 12", "+12063840143", 2063840143, 2063840143.0],
)
def test_one_number_written_many_ways(written: object) -> None:
    assert phone(written) == "+12063840143"


@pytest.mark.parametrize("written", ["", "n/a", "555-0100", "12345", "(206) 384-01433", None, float("nan")])
def test_not_a_phone_number(written: object) -> None:
    assert phone(written) is None


def test_the_region_reads_numbers_without_a_country_code() -> None:
    assert phone("020 7946 0958", "GB") == "+442079460958"
    assert phone("020 7946 0958", "US") is None
    assert phone("+44 20 7946 0958", "US") == "+442079460958"


@pytest.mark.parametrize(
    ("country", "region"),
    [(None, "US"), ("US", "US"), ("usa", "US"), ("United States", "US"), ("U.S.A.", "US"),
     ("gb", "GB"), ("United Kingdom", "GB"), ("Canada", "CA"), ("Narnia", "US")],
)
def test_region_of_a_country_cell(country: str | None, region: str) -> None:
    assert region_of(country) == region


def test_region_of_falls_back_to_the_given_default() -> None:
    assert region_of(None, "de") == "DE"
    assert region_of("Narnia", "CA") == "CA"


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("  Jane.Doe@Example.COM ", "jane.doe@example.com"),
        ("<bob+billing@mail.example.com>", "bob+billing@mail.example.com"),
        ("mailto:Ann@example.org", "ann@example.org"),
        ("jane.doe@example", None),
        ("jane doe@example.com", None),
        ("jane..doe@example.com", None),
        ("@example.com", None),
        ("not an email", None),
        ("", None),
        (None, None),
    ],
)
def test_emails(written: str | None, expected: str | None) -> None:
    assert email(written) == expected


@given(st.text(max_size=30))
def test_phone_normalising_twice_is_normalising_once(text: str) -> None:
    once = phone(text)
    assert phone(once) == once


@given(st.text(max_size=40))
def test_email_normalising_twice_is_normalising_once(text: str) -> None:
    once = email(text)
    assert email(once) == once


AREA_CODES = ["206", "212", "303", "312", "404", "512", "617", "702", "808", "971"]
FORMATS = [
    "({a}) {e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "{a}-{e}-{n}", "{a}{e}{n}", "1 {a} {e} {n}",
    "+1-{a}-{e}-{n}", "1({a}){e}{n}", "{a} {e} {n}", "+1 ({a}) {e}-{n} x7",
]


@given(st.sampled_from(AREA_CODES), st.integers(200, 999), st.integers(0, 9999))
def test_every_format_of_one_number_gives_one_e164(area: str, exchange: int, number: int) -> None:
    parts = {"a": area, "e": f"{exchange}", "n": f"{number:04d}"}
    expected = f"+1{area}{exchange}{number:04d}"
    assume(phonenumbers.is_valid_number(phonenumbers.parse(expected)))
    assert {phone(fmt.format(**parts)) for fmt in FORMATS} == {expected}
