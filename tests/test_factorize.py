"""factorize_objects: pandas' codes, except that text with a NUL character is never joined to other text."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
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


@given(st.lists(st.one_of(st.none(), st.just(float("nan")), st.text(alphabet="a\x00 ", max_size=3),
                          st.integers(0, 2)), max_size=30))
@example(["", "\x00", None])
@example([float("nan"), "a\x00b", None, "a\x00c"])
def test_missing_values_coded_as_one_value_when_asked(values: list[Any]) -> None:
    """``na_sentinel=False``: None and NaN are one value with a code of its own, as pandas codes them."""
    codes, uniques = factorize_objects(np.array(values, dtype=object), na_sentinel=False)
    assert (codes >= 0).all()
    for i in range(len(values)):
        for j in range(len(values)):
            a, b = values[i], values[j]
            same = (pd.isna(a) and pd.isna(b)) or (not pd.isna(a) and not pd.isna(b) and a == b)
            assert (codes[i] == codes[j]) == same
    for code, value in zip(codes.tolist(), values, strict=True):
        assert pd.isna(uniques[code]) if pd.isna(value) else uniques[code] == value
    if not any(isinstance(v, str) and "\x00" in v for v in values):  # pandas' own codes where it is right
        expected, _ = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
        assert codes.tolist() == expected.tolist()


_TEXT = st.text(alphabet="ab\x00 é\U0001f600", max_size=4)


@given(
    values=st.lists(st.one_of(st.none(), _TEXT), max_size=40)
    | st.lists(st.one_of(st.none(), _TEXT, st.sampled_from([b"a", float("nan"), 1, np.str_("a"), "\ud800"])),
               max_size=12),
    short=st.booleans(),
)
@example(values=["", "\x00", None, "a\x00b", "a\x00c", "a", ""], short=False)
@example(values=["", "\x00", "a\x00b", "a\x00c", "a", ""], short=False)  # no None: pandas hashes C strings
@example(values=["a", b"a"], short=False)  # bytes: never joined to text
@example(values=[None, None], short=False)
def test_texts_are_coded_as_pandas_codes_them_but_apart_at_a_nul(values: list[Any], short: bool) -> None:
    """factorize_texts (by Arrow from ARROW_ROWS rows on, or not): the codes and distinct objects of
    factorize_objects (pd.factorize's, NUL characters kept apart)."""
    import reconcile._factorize as module

    array = np.array(values, dtype=object)
    saved = module.ARROW_ROWS
    module.ARROW_ROWS = 10**9 if short else 0
    try:
        codes, uniques = module.factorize_texts(array)
    finally:
        module.ARROW_ROWS = saved
    expected, expected_uniques = module.factorize_objects(array)
    assert codes.dtype == expected.dtype
    assert codes.tolist() == expected.tolist()
    assert len(uniques) == len(expected_uniques)
    assert all(a is b for a, b in zip(uniques, expected_uniques, strict=True))  # each value's first object


def test_a_column_of_text_is_coded_by_arrow(monkeypatch: Any) -> None:
    import reconcile._factorize as module

    called = []
    arrow_codes = module._arrow_codes
    monkeypatch.setattr(module, "_arrow_codes", lambda array: called.append(1) or arrow_codes(array))
    monkeypatch.setattr(module, "factorize_objects", lambda array: pytest.fail("not by Arrow"))
    monkeypatch.setattr(module, "ARROW_ROWS", 0)
    codes, uniques = module.factorize_texts(np.array(["b", None, "a", "b", "\x00", ""], dtype=object))
    assert called and codes.tolist() == [0, -1, 1, 0, 2, 3] and uniques.tolist() == ["b", "a", "\x00", ""]


@given(st.lists(st.integers(-1, 5), max_size=30))
def test_first_appearances_are_each_codes_first_row(codes: list[int]) -> None:
    from reconcile._factorize import first_appearances

    # Codes numbered in order of first appearance, as pd.factorize numbers them.
    array = pd.factorize(np.array([None if c < 0 else c for c in codes], dtype=object))[0]
    expected = [i for i, c in enumerate(array.tolist()) if c >= 0 and c not in array[:i].tolist()]
    assert first_appearances(array).tolist() == expected
