"""Plain text joined from several Arrow columns: joined in Arrow, the same values as row by row."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.extract._arrow import ArrowRows
from reconcile.extract.mapping import ColumnSource, FieldMapping, _CompiledField

# Parts of a name as a source holds them: plain, padded, blank, non-ASCII, Unicode whitespace, missing.
_PART = st.one_of(
    st.sampled_from(["Dr.", "Bob", " Bob", "Smith ", "", "   ", "José", "\u00a0x\u2003", "Jr.", "\u3000", "\x1c"]),
    st.text(alphabet=st.sampled_from("ab \t\u00a0é"), max_size=4),
    st.none(),
)


def _field(join: str, default: str | None) -> _CompiledField:
    field = _CompiledField("name", FieldMapping(columns=["a", "b", "c"], join=join, default=default), str)
    assert field.plain_text
    return field


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(st.tuples(_PART, _PART, _PART), min_size=1, max_size=40),
    join=st.sampled_from([" ", "", ", ", "-"]),
    default=st.sampled_from([None, "unknown"]),
    large=st.booleans(),
)
def test_joined_in_arrow_is_what_each_row_gives(
    rows: list[tuple[Any, ...]], join: str, default: str | None, large: bool
) -> None:
    field = _field(join, default)
    columns = list(zip(*rows, strict=True))
    types = [pa.large_string() if large and i == 1 else pa.string() for i in range(3)]
    table = pa.table({name: pa.array(list(col), type=t) for name, col, t in zip("abc", columns, types, strict=True)})
    values, may_be_none, failed, nones = field.column(ColumnSource(["a", "b", "c"], ArrowRows(table)), len(rows))
    expected = [field({"a": a, "b": b, "c": c}) for a, b, c in rows]  # the row-by-row reference
    got = list(values)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert failed is None or not failed.any()
    assert may_be_none == (None in expected)
    if nones is not None:
        assert nones.tolist() == [v is None for v in expected]
    else:
        assert None not in expected
    # The list path (rows as tuples) gives the same.
    listed, _, _, _ = field.column(ColumnSource(["a", "b", "c"], rows), len(rows))
    assert list(listed) == expected


def test_a_missing_column_is_joined_by_the_list_path() -> None:
    field = _field(" ", None)
    table = pa.table({"a": ["Bob", None], "b": ["Smith", "Jones"]})  # no column "c"
    values, _, _, _ = field.column(ColumnSource(["a", "b"], ArrowRows(table)), 2)
    assert list(values) == ["Bob Smith", "Jones"]
