"""VINs: typed forms cleaned, the 49 CFR 565.15 check digit, and one-typo repair."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reconcile.demo import _vin as demo_vin
from reconcile.normalise import VIN_ALPHABET, repair_vin, vin, vin_check_digit, vin_is_valid

# Published examples with a correct check digit.
VALID = ["1M8GDM9AXKP042788", "11111111111111111", "1HGCM82633A004352"]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("1hgcv1f3onaoo0001", "1HGCV1F30NA000001"),
        ("1HG-CV1F3-0NA000001", "1HGCV1F30NA000001"),
        (" 1HG CV1F3 0NA 000001 ", "1HGCV1F30NA000001"),
        ("1HGCM8263QA0O4352", "1HGCM82630A004352"),
        ("IM8GDM9AXKP042788", "1M8GDM9AXKP042788"),
        ("--", None),
        ("", None),
        (None, None),
    ],
)
def test_typed_vins_are_cleaned(typed: str | None, expected: str | None) -> None:
    assert vin(typed) == expected


@pytest.mark.parametrize("value", VALID)
def test_check_digit_of_known_vins(value: str) -> None:
    assert vin_check_digit(value) == value[8]
    assert vin_is_valid(value)


def test_check_digit_x_and_the_check_position_itself_does_not_count() -> None:
    assert vin_check_digit("1M8GDM9A0KP042788") == "X"
    assert vin_check_digit("1M8GDM9A7KP042788") == "X"


@pytest.mark.parametrize(
    "value",
    ["1M8GDM9A1KP042788", "1M8GDM9AXKP04278", "1M8GDM9AXKP0427888", "1M8GDM9AXKP0427O8", "1m8gdm9axkp042788",
     "", None, 12345678901234567],
)
def test_invalid_vins(value: object) -> None:
    assert not vin_is_valid(value)


def test_check_digit_refuses_what_is_not_a_vin() -> None:
    with pytest.raises(ValueError, match="17 characters"):
        vin_check_digit("1M8GDM9AXKP04278")
    with pytest.raises(ValueError, match=r"vin\(\) first"):
        vin_check_digit("1M8GDM9AXKP0427O8")


def test_repair_prefers_the_usual_layout_and_common_confusions() -> None:
    # A letter where the production number has digits: the digit it resembles.
    assert repair_vin("1M8GDM9AXKP042T88")[0] == "1M8GDM9AXKP042788"
    assert repair_vin("1M8GDM9AXKP0427B8")[0] == "1M8GDM9AXKP042788"
    # The typed O becomes 0 before anything else.
    assert repair_vin("1m8gdm9axkpo427 88") == ["1M8GDM9AXKP042788"]
    assert repair_vin("1M8GDM9AXKP042788") == ["1M8GDM9AXKP042788"]
    assert repair_vin("1M8GDM9AXKP04278") == []
    assert repair_vin(None) == []


def test_repair_candidates_are_valid_distinct_and_one_substitution_away() -> None:
    typed = "1M8GDM9AXKP042789"
    candidates = repair_vin(typed)
    assert len(candidates) == len(set(candidates)) > 1
    assert "1M8GDM9AXKP042788" in candidates
    for candidate in candidates:
        assert vin_is_valid(candidate)
        assert sum(a != b for a, b in zip(candidate, typed, strict=True)) == 1


def test_agrees_with_the_demo_generator() -> None:
    made = demo_vin.make_vin("1HG", "CV1F3", "N", "A", 1)
    assert vin_is_valid(made) and vin_check_digit(made) == demo_vin.check_digit(made)


# ---------------------------------------------------------------- properties

bodies = st.text(alphabet=VIN_ALPHABET, min_size=17, max_size=17)


def _with_check_digit(body: str) -> str:
    return body[:8] + vin_check_digit(body) + body[9:]


valid_vins = bodies.map(_with_check_digit)


@given(valid_vins)
def test_every_vin_with_its_check_digit_is_valid(value: str) -> None:
    assert vin_is_valid(value)
    assert vin(value) == value
    assert repair_vin(value) == [value]


@given(valid_vins, st.integers(0, 16), st.sampled_from(VIN_ALPHABET))
def test_a_one_character_typo_is_repaired_to_candidates_holding_the_original(
    value: str, position: int, char: str
) -> None:
    typo = value[:position] + char + value[position + 1 :]
    assume(typo != value)
    if vin_is_valid(typo):
        # Characters with the same weight value (A and J, S and 2...) keep the
        # check digit: no repair can know, and the typo is its own candidate.
        assert repair_vin(typo) == [typo]
    else:
        assert value in repair_vin(typo)


@given(bodies, st.integers(0, 16).filter(lambda p: p != 8), st.sampled_from("01"))
def test_a_typed_i_o_or_q_needs_no_repair(body: str, position: int, digit: str) -> None:
    value = _with_check_digit(body[:position] + digit + body[position + 1 :])
    for letter in "I" if digit == "1" else "OQ":
        typed = value[:position] + letter + value[position + 1 :]
        assert repair_vin(typed) == [value]


@given(st.text(max_size=25))
def test_normalising_twice_is_normalising_once(text: str) -> None:
    once = vin(text)
    assert vin(once) == once
