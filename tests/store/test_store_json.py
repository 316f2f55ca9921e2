"""encode_json: the fast encoder means exactly what json_safe's value means."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import math
from typing import Any

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.store._content import (
    CONTENT_FIELDS,
    content_from_dict,
    content_of,
    ref_dict,
)
from reconcile.store._json import Encoded, encode_json, json_safe
from reconcile.store._store import _serialize_json


class Colour(enum.StrEnum):
    red = "red"


class Level(enum.IntEnum):
    high = 3


class Mixed(str, enum.Enum):  # noqa: UP042 - str() of a member is "Mixed.plain", its value "plain"
    plain = "plain"


class Plain(enum.Enum):
    one = 1.5


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),  # beyond 64 bits too
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=st.characters(blacklist_categories=["Cs"])),
    st.datetimes(timezones=st.one_of(st.none(), st.timezones())),
    st.dates(),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from([Colour.red, Level.high, Mixed.plain, Plain.one]),
    st.integers(-5, 5).map(np.int64),
    st.floats(allow_nan=True).map(np.float64),
    st.binary(max_size=8),
    st.frozensets(st.integers(-3, 3)),
)
keys = st.one_of(
    st.text(max_size=5), st.integers(-3, 3), st.booleans(), st.none(),
    st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([Colour.red, Mixed.plain, Level.high]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(values)
def test_encode_json_decodes_to_json_safe(value: Any) -> None:
    text = encode_json(value)
    assert isinstance(text, Encoded)
    expected = json_safe(value)
    assert json.loads(text) == expected
    # Sorted: the same value, keys in order at every level.
    ordered = encode_json(value, sort_keys=True)
    assert json.loads(ordered) == expected
    assert ordered == json.dumps(json.loads(ordered), sort_keys=True, ensure_ascii=False, separators=(",", ":")) \
        or any(isinstance(v, float) for v in _leaves(expected))
    # ... and json_safe's value itself is what the standard encoder writes.
    assert json.loads(json.dumps(expected, allow_nan=False)) == expected


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_keys_are_written_as_json_writes_them() -> None:
    value = {True: 1, None: 2, 3: 3, 1.5: 4, Colour.red: 5, Mixed.plain: 6, Level.high: 7,
             (1, 2): 8, dt.date(2026, 1, 2): 9}
    expected = {"true": 1, "null": 2, "3": 3, "1.5": 4, "red": 5, "plain": 6, "3": 7,  # noqa: F601
                "(1, 2)": 8, "2026-01-02": 9}
    assert json_safe(value) == expected
    assert json.loads(encode_json(value)) == expected
    # json itself writes a key the same way
    assert json.loads(json.dumps({True: 1, None: 2, 3: 3, 1.5: 4})) == {"true": 1, "null": 2, "3": 3, "1.5": 4}


def test_special_values() -> None:
    value = {"nan": float("nan"), "inf": -math.inf, "big": 2**80, "when": dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC),
             "naive": dt.datetime(2026, 1, 2, 3), "amount": decimal.Decimal("49.90"), "mixed": Mixed.plain}
    assert json.loads(encode_json(value)) == {
        "nan": None, "inf": None, "big": 2**80, "when": "2026-01-02T03:00:00+00:00",
        "naive": "2026-01-02T03:00:00", "amount": 49.9, "mixed": "plain",
    }


def test_encoded_text_is_written_as_it_is_and_anything_else_encoded() -> None:
    assert _serialize_json(Encoded('{"a":1}')) == '{"a":1}'
    assert _serialize_json('{"a":1}') == '"{\\"a\\":1}"'  # a plain string is a JSON string
    assert json.loads(_serialize_json({"a": [1, None]})) == {"a": [1, None]}


def test_a_content_is_its_finding_as_json_and_its_hash_names_it() -> None:
    from store_factories import finding

    one = finding("AC-1", detail={"when": dt.date(2026, 1, 2), "n": np.int64(3), "tags": {"y", "x"}})
    content = content_of(one)
    decoded = json.loads(content.text)
    assert decoded == json_safe(one.model_dump(include=set(CONTENT_FIELDS)))
    # The same content decoded from the store encodes to the same text and hash (so versions are shared).
    again = content_from_dict(decoded)
    assert (again.text, again.hash) == (content.text, content.hash)
    assert content_of(one.model_copy(update={"story": "changed"})).hash != content.hash
    assert ref_dict(one.subject) == one.subject.model_dump()
