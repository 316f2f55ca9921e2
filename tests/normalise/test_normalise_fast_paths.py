"""The quick paths of the normalisers give what the general ones give (Hypothesis).

* ``normalise_table`` computes each part of an address once per distinct
  value and joins the address key with array operations: every row equals
  the per-value normalisers (``address``, ``person_name``, ``phone``...) of
  that row.
* ``fold`` of ASCII text is ``lower()``: equal to the general fold.
* A ten-digit North American number is checked against the US metadata
  first: the result is phonenumbers' own ``is_valid_number``.
"""

from __future__ import annotations

import itertools
import unicodedata

import pandas as pd
import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.normalise import (
    address,
    company_name,
    email,
    normalise_table,
    person_name,
    phone,
    region_of,
    vin,
)
from reconcile.normalise._contact import _nanp, _valid_in_us
from reconcile.normalise._text import _LETTERS, fold

settings.register_profile("fast-paths", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

STREETS = ["123 North Maple Street", "123 N MAPLE ST APT 4B", "12 Main St 4B", "500 Main St Suite 200",
           "P.O. Box 45", "RR 2 Box 10", "77 Massachusetts Ave Bldg 10 Rm 200", "9 Lake", "100 Highway 101",
           "12 Main St Rear", "1600 Pennsylvania Ave NW", " ", "123 Main St, Apt. 4-B", "APT STE 1"]
UNITS = ["APT 4B", "Apartment 4-B", "#4B", "Suite 200", "Rear", "4b", "Ste", " ", "Apt Ste 1", "Bldg 10 Rm 200", "10 200"]
POSTALS = ["98101-1234", "02108", "2108", "sw1a 1aa", "98101", "0 0 0", ""]
COUNTRIES = ["US", "USA", "GB", "United Kingdom", "ca", "", "Narnia"]
NAMES = ["SMITH, ROBERT J", "Dr. Bob Smith Jr.", "María Núñez", "DE LA CRUZ, MARIA", "Smith", "Dr.",
         "Straße, Jürgen", "Mary-Kate Olsen", "Ann Lee"]
PHONES = ["(206) 384-0143", "+44 20 7946 0958", "020 7946 0958", "555-0100", "+1 206 384 0143 x7",
          "2063840143", "(800) 555-0199"]
EMAILS = ["  Jane.Doe@Example.COM ", "mailto:bob@example.com", "<ann@example.org>", "not an email"]
COMPANIES = ["SMITH AND JONES PLUMBING LLC", "Smith & Jones Plumbing, L.L.C.", "The Company", "Acme Inc."]
VINS = ["1m8gdm9axkp0427 88", "1HGCM82633A004352", "1HGCM82633A0O4352", "short"]


COLUMNS = ("name", "given_name", "family_name", "company", "phone", "email", "street", "unit", "postal_code",
           "country", "vin")


def cells(samples: list[str]) -> st.SearchStrategy[object]:
    """Values as systems write them: samples (most often), arbitrary text, missing values, numbers."""
    sample = st.sampled_from(samples)
    return st.one_of(sample, sample, sample, st.text(max_size=24), st.none(), st.just(float("nan")),
                     st.integers(0, 99999))


def tables(draw: st.DrawFn) -> pd.DataFrame:
    pools = {
        "name": cells(NAMES), "given_name": cells(["Bob", "María", "Mary-Kate", "Dr."]),
        "family_name": cells(["Smith", "Núñez", "de la Cruz", "Jr."]), "company": cells(COMPANIES),
        "phone": cells(PHONES), "email": cells(EMAILS), "street": cells(STREETS), "unit": cells(UNITS),
        "postal_code": cells(POSTALS), "country": cells(COUNTRIES), "vin": cells(VINS),
    }
    # A few distinct rows, repeated: the table computes each distinct value once.
    distinct = draw(st.lists(st.fixed_dictionaries(pools), min_size=1, max_size=8))
    picks = draw(st.lists(st.integers(0, len(distinct) - 1), min_size=1, max_size=20))
    return pd.DataFrame([distinct[i] for i in picks], dtype=object)


def assert_rows_are_what_the_normalisers_give(frame: pd.DataFrame, default: str) -> None:
    out = normalise_table(frame, "vehicle", default_region=default)
    for row in out.to_dict("records"):
        region = region_of(row["country"], default.upper())
        given_name, family = person_name(row["name"], row["given_name"], row["family_name"])
        street_line, unit, postal = address(row["street"], row["unit"], row["postal_code"], region)
        expected = {
            "_n_given": given_name, "_n_family": family,
            "_n_person": " ".join(p for p in (given_name, family) if p) or None,
            "_n_company": company_name(row["company"]), "_n_phone": phone(row["phone"], region),
            "_n_email": email(row["email"]), "_n_street": street_line, "_n_unit": unit, "_n_postal": postal,
            "_n_address": f"{street_line}|{unit or ''}|{postal}" if street_line and postal else None,
            "_n_vin": vin(row["vin"]),
        }
        assert {name: row[name] for name in expected} == expected


@settings(settings.get_profile("fast-paths"))
@given(frame=st.composite(tables)(), default=st.sampled_from(["US", "gb"]))
def test_every_row_is_what_the_normalisers_give_for_it(frame: pd.DataFrame, default: str) -> None:
    assert_rows_are_what_the_normalisers_give(frame, default)


def test_every_sample_address_is_what_the_normalisers_give_for_it() -> None:
    rows = [{**dict.fromkeys(COLUMNS), "street": s, "unit": u, "postal_code": p, "country": c}
            for s, u, p, c in itertools.product([*STREETS, None], [*UNITS, None], POSTALS[:3], COUNTRIES[:3])]
    assert_rows_are_what_the_normalisers_give(pd.DataFrame(rows, dtype=object), "US")


def general_fold(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return folded.encode("ascii", "ignore").decode("ascii")


@given(st.one_of(st.text(), st.text(alphabet=st.characters(max_codepoint=127))))
def test_fold_is_the_general_fold(text: str) -> None:
    assert fold(text) == general_fold(text)


ten_digits = st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True)


@given(st.one_of(ten_digits, st.from_regex(r"[0-9]{10}", fullmatch=True)))
def test_north_american_numbers_are_valid_exactly_when_phonenumbers_says(digits: str) -> None:
    valid = phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=1, national_number=int(digits)))
    if _valid_in_us(digits):
        assert valid
    assert _nanp(digits[:3], digits[3:6], digits[6:]) == ("+1" + digits if valid else None)


@given(ten_digits, st.sampled_from(["({a}) {e}-{n}", "{a}.{e}.{n}", "+1 {a} {e} {n}", "{a}{e}{n}"]))
def test_a_plain_north_american_number_is_what_a_full_parse_gives(digits: str, layout: str) -> None:
    written = layout.format(a=digits[:3], e=digits[3:6], n=digits[6:])
    parsed = phonenumbers.parse(written, "US")
    expected = (phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
                if phonenumbers.is_valid_number(parsed) else None)
    assert phone(written) == expected


@given(st.lists(st.one_of(st.text(alphabet=" \tab\u00a0é", max_size=4), st.none(), st.just(float("nan")),
                          st.integers(0, 9)), max_size=30),
       st.booleans())
def test_a_coded_column_is_as_text_of_each_cell(values: list[object], text_only: bool) -> None:
    """_Coded.of: each row's text is as_text of its cell (stripped, None if blank or missing), as a str."""
    from reconcile.normalise._table import _Coded
    from reconcile.normalise._text import as_text

    if text_only:
        values = [v for v in values if isinstance(v, str)]
    coded = _Coded.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
    got = coded.row_values().tolist()
    expected = [as_text(v) for v in values]
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert coded.texts[-1] is None
