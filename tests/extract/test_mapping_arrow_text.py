"""Plain text from Arrow batches: by distinct value when it repeats, as it is when not; same values either way."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.extract import mapping
from reconcile.extract.mapping import FieldMapping, _CompiledField

# Texts a source holds: plain, padded, blank, non-ASCII, Unicode whitespace, missing.
_TEXT = st.one_of(
    st.sampled_from(["active", " active", "active ", "", "   ", "straße", "\u00a0x\u2003", "closed", "\u3000"]),
    st.text(alphabet=st.sampled_from("ab \t\u00a0é"), max_size=4),
    st.none(),
)


def _field(default: str | None) -> _CompiledField:
    field = _CompiledField("status", FieldMapping(column="s", default=default), str)
    assert field.plain_text
    return field


def _mapped(field: _CompiledField, batches: list[list[Any]]) -> list[Any]:
    out: list[Any] = []
    for batch in batches:
        values, may_be_none, failed, nones = field.arrow_column(pa.array(batch, type=pa.string()))
        values = list(values)
        assert failed is None or not failed.any()  # plain text never fails
        if nones is not None:
            assert [v is None for v in values] == nones.tolist()
        assert may_be_none or None not in values
        out += values
    return out


@settings(max_examples=120, deadline=None)
@given(
    pool=st.lists(_TEXT, min_size=1, max_size=6),
    picks=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=700), min_size=1, max_size=4),
    default=st.sampled_from([None, "unknown"]),
    sample=st.sampled_from([1, 50, 1000]),
)
def test_repeated_text_by_distinct_value_is_what_convert_gives_and_equal_values_are_one_object(
    pool: list[Any], picks: list[list[int]], default: str | None, sample: int
) -> None:
    saved, mapping._REPEAT_SAMPLE = mapping._REPEAT_SAMPLE, sample
    try:
        # Each cell its own object, as Arrow gives them; a few distinct values, so the column repeats.
        batches = [[pool[i % len(pool)] for i in batch] for batch in picks]
        field = _field(default)
        got = _mapped(field, batches)
    finally:
        mapping._REPEAT_SAMPLE = saved
    expected = [field.convert(v) for batch in batches for v in batch]
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
    if field._repeats:
        ids: dict[str, int] = {}
        for value in got:
            if value is not None:
                assert ids.setdefault(value, id(value)) == id(value)  # one object per value, across batches


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("ab \u00a0"), min_size=0, max_size=6), min_size=1, max_size=60))
def test_mostly_distinct_text_is_taken_as_it_is_with_the_same_values(texts: list[str]) -> None:
    unique = [f"{i}:{t}" for i, t in enumerate(texts)]  # every value distinct
    field = _field(None)
    saved, mapping._REPEAT_SAMPLE = mapping._REPEAT_SAMPLE, 1
    try:
        got = _mapped(field, [unique])
    finally:
        mapping._REPEAT_SAMPLE = saved
    assert field._repeats is False
    assert got == [field.convert(v) for v in unique]


def test_the_first_large_batch_decides_once() -> None:
    field = _field(None)
    _mapped(field, [["a", "b"] * 10])  # small: repeats, but decides nothing
    assert field._repeats is None
    _mapped(field, [["a", "b"] * 600])
    assert field._repeats is True
    got = _mapped(field, [[f"k{i}" for i in range(1500)]])  # distinct now: still by value, same values
    assert field._repeats is True
    assert got == [f"k{i}" for i in range(1500)]
