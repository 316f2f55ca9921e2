"""share_repeated_values keeps every value and its type, and keeps equal values once (Hypothesis)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.pipeline import _SHARE_MIN_ROWS, share_repeated_values

texts = st.sampled_from(["active", "closed", "Active", "", " ", "straße", "1", "\x00", "1\x00"])
dates = st.dates(min_value=dt.date(2020, 1, 1), max_value=dt.date(2020, 1, 20))
cells = st.one_of(
    texts, dates, st.none(), st.just(float("nan")), st.just(pd.NaT), st.integers(0, 2), st.booleans(),
    st.datetimes(min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2020, 1, 3)), st.floats(0, 2),
)


def fresh(value: Any) -> Any:
    """A new object equal to value (as a driver makes one per cell)."""
    if isinstance(value, str):
        return "".join(list(value)) if len(value) > 1 else str(value + "x")[:-1]
    if type(value) is dt.date:
        return dt.date(value.year, value.month, value.day)
    return value


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(texts, texts, texts, dates, cells), min_size=1, max_size=12),
       st.lists(st.one_of(texts, dates), min_size=1, max_size=3), st.sampled_from(["texts", "dates", "mixed"]))
def test_values_and_types_stay_and_repeats_become_one_object(
    pool: list[Any], extra: list[Any], kind: str
) -> None:
    if kind == "texts":
        pool = [v for v in pool + extra if isinstance(v, str) or v is None] or ["a"]
    elif kind == "dates":
        pool = [v for v in pool + extra if type(v) is dt.date or v is None] or [dt.date(2020, 1, 1)]
    rng = np.random.default_rng(len(pool))
    values = [fresh(pool[i]) for i in rng.integers(0, len(pool), _SHARE_MIN_ROWS + 50)]
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object), "n": np.arange(len(values))})
    share_repeated_values(frame)
    after = frame["c"].tolist()
    assert [type(v) for v in after] == [type(v) for v in values]
    assert all((a == b) or (a is b) or (a != a and b != b) for a, b in zip(after, values, strict=True))
    assert frame["n"].tolist() == list(range(len(values)))
    # Missing values: None and NaN (NaT is a value of its own type here: text beside it is "mixed").
    only = {type(v) for v in values if v is not None and not (type(v) is float and v != v)}
    if only == {str} or only == {dt.date}:
        # Equal values are one object now.
        objects: dict[Any, int] = {}
        for v in after:
            if v is not None and v == v:
                objects.setdefault(v, id(v))
                assert objects[v] == id(v)


@settings(max_examples=20, deadline=None)
@given(st.integers(3, 8), st.integers(3_000, 20_000), st.integers(0, 2**32 - 1))
def test_a_foreign_key_repeated_a_few_times_is_shared_and_a_key_is_left_alone(
    repeats: int, rows: int, seed: int
) -> None:
    """An invoice's account repeats a few times per value, in any order: kept once; distinct keys: untouched."""
    rng = np.random.default_rng(seed)
    accounts = [f"AC-{i:08d}" for i in rng.integers(0, rows // repeats, rows)]
    keys = [f"INV-{i:08d}" for i in range(rows)]
    values = [fresh(v) for v in accounts]
    frame = pd.DataFrame({"account_id": pd.Series(values, dtype=object), "invoice_id": pd.Series(keys, dtype=object)})
    share_repeated_values(frame)
    after = frame["account_id"].tolist()
    assert after == accounts
    assert len({id(v) for v in after}) == len(set(accounts))
    assert all(a is b for a, b in zip(frame["invoice_id"].tolist(), keys, strict=True))


def test_a_column_whose_equal_values_are_one_object_already_is_left_as_it_is() -> None:
    """What the extract shared (text repeated by distinct value) is not factorized again."""
    statuses = ["active", "closed", "pending"]
    values = pd.Series([statuses[i % 3] for i in range(_SHARE_MIN_ROWS * 3)], dtype=object)
    frame = pd.DataFrame({"status": values})
    before = frame["status"].to_numpy()
    share_repeated_values(frame)
    assert frame["status"].to_numpy() is before or np.shares_memory(frame["status"].to_numpy(), before)


def test_text_differing_after_a_nul_character_is_kept_apart() -> None:
    """pandas hashes text as C strings ('' and '\\x00' look alike to it): no value may become another."""
    pool = ["", "\x00", "a", "a\x00b", "a\x00c"]
    values = [fresh(pool[i % len(pool)]) for i in range(_SHARE_MIN_ROWS * 2)]
    frame = pd.DataFrame({"c": pd.Series(values, dtype=object)})
    share_repeated_values(frame)
    assert frame["c"].tolist() == values
    assert len({id(v) for v in frame["c"].tolist()}) == len(pool)


def test_the_tables_and_an_incremental_streams_kept_frame_share_one_object_per_value() -> None:
    """build_tables shares the kept (merged) frame's columns, not only its own copy of them."""
    from reconcile.extract.base import ExtractResult
    from reconcile.pipeline import build_tables

    statuses = ["active", "closed", "pending"]
    rows = _SHARE_MIN_ROWS * 3
    merged = pd.DataFrame({
        "account_id": pd.Series([f"AC-{i}" for i in range(rows)], dtype=object),
        "status": pd.Series([fresh(statuses[i % 3]) for i in range(rows)], dtype=object),
    })
    result = ExtractResult(source="billing")
    tables = build_tables([result], {("billing", "account"): merged}, release=True)
    kept, table = merged["status"].tolist(), tables["account"]["status"].tolist()
    assert kept == table == [statuses[i % 3] for i in range(rows)]
    assert len({id(v) for v in kept}) == 3  # the kept frame's equal values are one object...
    assert all(a is b for a, b in zip(kept, table, strict=True))  # ...the very ones the table holds
    assert "_rid" not in merged.columns and tables["account"]["_rid"].iloc[0] == "billing:account:AC-0"
