"""Durations in rule configuration: words, ISO 8601, clock and seconds."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from reconcile.rules.base import Duration

DURATION = TypeAdapter(Duration)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("36 hours", dt.timedelta(hours=36)),
        ("1 day", dt.timedelta(days=1)),
        ("2 days", dt.timedelta(days=2)),
        ("1 day 12 hours", dt.timedelta(hours=36)),
        ("1 day, 2 hours", dt.timedelta(hours=26)),
        ("90 minutes", dt.timedelta(minutes=90)),
        ("2 weeks", dt.timedelta(days=14)),
        ("1.5 h", dt.timedelta(minutes=90)),
        ("P1D", dt.timedelta(days=1)),
        ("PT36H", dt.timedelta(hours=36)),
        ("01:30:00", dt.timedelta(minutes=90)),
        (3600, dt.timedelta(hours=1)),
    ],
)
def test_durations_as_people_write_them(text: object, expected: dt.timedelta) -> None:
    assert DURATION.validate_python(text) == expected


@pytest.mark.parametrize("text", ["3 fortnights", "hours", "12 hours ago", ""])
def test_nonsense_is_an_error(text: str) -> None:
    with pytest.raises(ValidationError):
        DURATION.validate_python(text)


UNITS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400, "weeks": 604800}


@given(st.lists(st.tuples(st.integers(0, 500), st.sampled_from(sorted(UNITS))), min_size=1, max_size=4))
def test_a_sum_of_parts_is_their_total(parts: list[tuple[int, str]]) -> None:
    text = " ".join(f"{n} {unit}" for n, unit in parts)
    expected = dt.timedelta(seconds=sum(n * UNITS[unit] for n, unit in parts))
    assert DURATION.validate_python(text) == expected
