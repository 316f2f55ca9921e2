"""factorize_objects: pandas' codes, except that text with a NUL character is never joined to other text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import example, given
from hypothesis import strategies as st

from reconcile._factorize import factorize_objects


@given(st.lists(st.one_of(st.none(), st.text(alphabet="a\x00 ", max_size=3), st.integers(0, 2)), max_size=30))
@example(["", "\x00"])
@example(["a\x00b", "a\x00c", "a"])
def test_codes_join_exactly_the_equal_values(values: list[Any]) -> None:
    codes, uniques = factorize_objects(np.array(values, dtype=object))
    assert len(codes) == len(values)
    for i, value in enumerate(values):
        if value is None:
            assert codes[i] == -1
        else:
            assert uniques[codes[i]] == value
    assert len(set(map(repr, uniques))) == len(uniques)  # no value twice
    if not any(isinstance(v, str) and "\x00" in v for v in values):  # pandas' own codes where it is right
        expected, _ = pd.factorize(np.array(values, dtype=object))
        assert codes.tolist() == expected.tolist()
