"""VIN check digits (49 CFR 565.15) and the typing errors the dealer makes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.demo._vin import VIN_CHARS, check_digit, is_valid_vin, make_vin, mistype_vin

vins = st.builds(
    make_vin,
    st.sampled_from(["1HG", "1FT", "5YJ", "WBA", "KMH"]),
    st.text(VIN_CHARS, min_size=5, max_size=5),
    st.sampled_from("GHJKLMNPRS"),
    st.sampled_from(VIN_CHARS),
    st.integers(0, 999_999),
)


def test_known_check_digits() -> None:
    assert check_digit("1M8GDM9AXKP042788") == "X"  # the regulation's worked example
    assert is_valid_vin("1M8GDM9AXKP042788")
    assert is_valid_vin("11111111111111111")
    assert not is_valid_vin("1M8GDM9A1KP042788")
    assert not is_valid_vin("1M8GDM9AXKP04278")  # 16 characters
    assert not is_valid_vin("1M8GDM9AXKPO42788")  # the letter O
    with pytest.raises(ValueError, match="17 characters"):
        check_digit("ABC")


@given(vins)
def test_made_vins_are_valid(vin: str) -> None:
    assert len(vin) == 17
    assert set(vin) <= set(VIN_CHARS)
    assert is_valid_vin(vin)


@given(vins, st.integers(0, 2**32))
def test_a_typed_in_vin_differs_in_exactly_one_place(vin: str, seed: int) -> None:
    typed = mistype_vin(vin, random.Random(seed))
    assert len(typed) == 17
    assert sum(a != b for a, b in zip(vin, typed, strict=True)) == 1
    assert typed[8] == vin[8]  # the check digit is copied as printed
    if set(typed) - set(VIN_CHARS):  # the letter O for a zero, I for a one
        assert typed.replace("O", "0").replace("I", "1") == vin
