"""The quick paths of the rule helpers give what the general ones give (Hypothesis).

Each helper that reads a column by its distinct values, takes rows by
position or joins on integer codes is compared with the plain pandas
expression it replaces, on generated columns that mix types, missing values
and repeats.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.findings import RecordRef
from reconcile.rules import _common
from reconcile.rules._common import entity_key, is_in, pairs_on, take, utc, widen
from reconcile.rules._crm import _present
from reconcile.rules._generic import MissingInRule
from reconcile.rules._select import FieldPair, _pair_up_by_merge, column_text, pair_up
from reconcile.rules.base import RuleContext, _jsonable
from reconcile.rules.builtin import NameMismatchRule

settings.register_profile("fast-paths", max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fast-paths")

TEXTS = ["active", "Active", " ACTIVE ", "closed", "", " ", "straße", "STRASSE", "ß", "fiber_1g", "FIBER_1G"]
cells = st.one_of(st.none(), st.just(float("nan")), st.sampled_from(TEXTS), st.text(max_size=5),
                  st.integers(-2, 2), st.booleans(), st.floats(allow_nan=False, width=16))
texts = st.one_of(st.none(), st.sampled_from(TEXTS), st.text(max_size=5))


def series_of(values: list[Any], index: list[int] | None = None) -> pd.Series:
    return pd.Series(values, index=index, dtype=object, name="status")  # a quick path keeps the name too


@given(st.one_of(st.lists(cells, max_size=30), st.lists(texts, max_size=30)),
       st.lists(st.sampled_from(["active", "ss", "straße", "True", "1", "1.0", "nan", ""]), max_size=3))
def test_is_in_reads_values_as_astype_string_does(values: list[Any], wanted: list[str]) -> None:
    series = series_of(values, index=list(range(100, 100 + len(values))))
    expected = series.astype("string").str.casefold().isin({v.casefold() for v in wanted}).fillna(False)
    pd.testing.assert_series_equal(is_in(series, wanted), expected.astype(bool))


@given(st.one_of(st.lists(cells, max_size=30), st.lists(texts, max_size=30)))
def test_present_text_is_what_astype_string_calls_present(values: list[Any]) -> None:
    series = series_of(values)
    expected = series.notna() & (series.astype("string").str.strip() != "").fillna(False).astype(bool)
    pd.testing.assert_series_equal(_present(series), expected)


def _former_column_text(series: pd.Series) -> pd.Series:
    """column_text as it was written for every dtype: the distinct values folded, then mapped."""
    present = series.dropna()
    lookup = {value: str(value).strip().casefold() or None for value in pd.unique(present)}
    folded = series.map(lookup) if lookup else pd.Series(None, index=series.index, dtype=object)
    return folded.astype(object).where(folded.notna(), None)


@given(st.one_of(st.lists(cells, max_size=30), st.lists(texts, max_size=30),
                 st.lists(st.one_of(st.none(), st.datetimes(), st.dates()), max_size=10)),
       st.sampled_from([None, "status"]))
def test_column_text_of_objects_is_the_distinct_values_mapped(values: list[Any], name: str | None) -> None:
    series = pd.Series(values, index=list(range(100, 100 + len(values))), dtype=object, name=name)
    pd.testing.assert_series_equal(column_text(series), _former_column_text(series))


UNITS = {"s": 10**9, "ms": 10**6, "us": 10**3, "ns": 1}


@given(st.lists(st.one_of(st.none(), st.integers(-3 * 10**9, 3 * 10**9)), max_size=20),
       st.sampled_from(sorted(UNITS)), st.sampled_from([None, "UTC", "US/Eastern", "Asia/Kolkata", "+05:30"]))
def test_utc_of_a_column_of_moments_is_to_datetime(seconds: list[int | None], unit: str, zone: str | None) -> None:
    scale = 10**9 // UNITS[unit]
    moments = np.array([np.datetime64("NaT", unit) if s is None else np.datetime64(s * scale, unit)
                        for s in seconds], dtype=f"datetime64[{unit}]")
    series = pd.Series(moments, name="when")
    if zone is not None:
        series = series.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
    pd.testing.assert_series_equal(utc(series), general_utc(series))


def general_utc(series: pd.Series) -> pd.Series:
    """utc() before its shortcut for columns of moments."""
    if series.empty:
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[ns, UTC]")
    return pd.to_datetime(series, utc=True, errors="coerce")


def general_jsonable(value: Any) -> Any:
    """The general path of _jsonable (what it did before its exact-type shortcuts)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and type(value) is float:
        return None if value != value else value
    if pd.isna(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime(warn=False)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


zones = st.sampled_from([None, dt.UTC, zoneinfo.ZoneInfo("America/New_York"), zoneinfo.ZoneInfo("Asia/Kolkata")])
moments = st.datetimes(min_value=dt.datetime(1700, 1, 2), max_value=dt.datetime(2200, 1, 1), timezones=zones)


@given(st.one_of(moments.map(pd.Timestamp),
                 st.tuples(moments, st.integers(0, 999)).map(lambda t: pd.Timestamp(t[0]) + pd.Timedelta(t[1], "ns")),
                 st.datetimes(timezones=zones), st.dates(), st.floats(), st.none(), st.text(max_size=3)))
def test_jsonable_shortcuts_give_the_general_value(value: Any) -> None:
    assert _jsonable(value) == general_jsonable(value) or (value != value and _jsonable(value) is None)


@st.composite
def frames(draw: st.DrawFn) -> pd.DataFrame:
    size = draw(st.integers(0, 12))
    index = draw(st.lists(st.integers(0, 5), min_size=size, max_size=size))  # labels may repeat
    when = pd.Series(pd.to_datetime([f"2026-01-{d:02d}" for d in draw(
        st.lists(st.integers(1, 28), min_size=size, max_size=size))]), dtype="datetime64[ns]").dt.tz_localize("UTC")
    return pd.DataFrame({
        "_source": ["billing"] * size, "_key": [str(i) for i in range(size)],
        "_rid": [f"billing:account:{i}" for i in range(size)],
        "status": draw(st.lists(texts, min_size=size, max_size=size)),
        "amount": draw(st.lists(st.floats(allow_nan=True, width=32), min_size=size, max_size=size)),
        "autopay": draw(st.lists(st.booleans(), min_size=size, max_size=size)),
        "when": when.array,
    }, index=index)


@given(frames(), st.data())
def test_take_is_a_boolean_index_of_those_columns(frame: pd.DataFrame, data: st.DataObject) -> None:
    mask = np.array(data.draw(st.lists(st.booleans(), min_size=len(frame), max_size=len(frame))), dtype=bool)
    columns = data.draw(st.lists(st.sampled_from(["status", "amount", "autopay", "when", "nope"]), unique=True))
    wanted = [c for c in frame.columns if c in {"_source", "_key", "_rid", *columns}]
    pd.testing.assert_frame_equal(take(frame, columns, mask), frame.loc[mask, wanted])
    pd.testing.assert_frame_equal(take(frame, columns), frame[wanted])


@given(frames(), st.data())
def test_widen_adds_the_columns_of_the_rows_at_the_positions(frame: pd.DataFrame, data: st.DataObject) -> None:
    positions = np.array(data.draw(st.lists(st.integers(0, max(len(frame) - 1, 0)), max_size=6)) if len(frame)
                         else [], dtype=np.intp)
    narrow = frame[["_rid"]].iloc[positions].reset_index(drop=True)
    wide = widen(frame, narrow, positions, ["amount", "when", "_rid"])
    expected = frame[["_rid", "amount", "when"]].iloc[positions].reset_index(drop=True)
    pd.testing.assert_frame_equal(wide, expected)


def reference_keys(frame: pd.DataFrame, pairs: list[FieldPair], side: str) -> pd.DataFrame:
    """The match keys as the merge-based pair_up built them (pandas, label-aligned)."""
    out = frame[["_rid", "_ekey"]].reset_index(drop=True).copy()
    for position, pair in enumerate(pairs):
        name = pair.left if side == "left" else pair.right
        # The values of the rows still in (labels repeat after an explode).
        values = column_text(frame[name].reset_index(drop=True)).loc[out.index].to_numpy()
        column = f"_m{position}"
        if side == "left" and pair.map:
            mapping = {str(k).strip().casefold(): [str(v).strip().casefold() for v in vs] for k, vs in pair.map.items()}
            out[column] = [mapping.get(v, [v]) if isinstance(v, str) else v for v in values]
            out = out.explode(column)
        else:
            out[column] = values
        out = out[out[column].notna()].astype({column: object})
    return out


PRODUCTS = ["fiber_1g", "FIBER_1G ", "monitoring", "tv", None]
maps = st.one_of(st.just({}), st.dictionaries(
    st.sampled_from(["fiber_1g", "Monitoring", "tv"]),
    st.lists(st.sampled_from(["fiber_1g", "monitoring", "MONITORING", "tv", "phone"]), max_size=3), max_size=2))


@st.composite
def sides(draw: st.DrawFn, prefix: str) -> pd.DataFrame:
    size = draw(st.integers(0, 10))
    return pd.DataFrame({
        "_rid": [f"{prefix}{i}" for i in range(size)],
        "_ekey": draw(st.lists(st.sampled_from(["E1", "E2", "~x:1"]), min_size=size, max_size=size)),
        "product": draw(st.lists(st.sampled_from(PRODUCTS), min_size=size, max_size=size)),
        "plan": draw(st.lists(st.sampled_from(["a", "B", None]), min_size=size, max_size=size)),
        "_ok": draw(st.lists(st.booleans(), min_size=size, max_size=size)),
    }, index=draw(st.lists(st.integers(0, 3), min_size=size, max_size=size)))


@given(sides("l"), sides("r"), maps, st.booleans())
def test_pair_up_on_codes_is_the_merge_of_the_keys(
    left: pd.DataFrame, right: pd.DataFrame, mapping: dict[str, list[str]], two: bool
) -> None:
    pairs = [FieldPair(left="product", right="product", map=mapping)]
    if two:
        pairs.append(FieldPair(left="plan", right="plan"))
    fast = pair_up(left, right, pairs, ["_ok"])
    if left.empty or right.empty:
        assert fast.empty
        return
    slow = _pair_up_by_merge(reference_keys(left, pairs, "left"), reference_keys(right, pairs, "right"),
                             right, pairs, ["_ok"])
    # The same pairs (the merge's own order is pandas' business) ...
    order = ["_rid", "_rid_r"]
    pd.testing.assert_frame_equal(fast.sort_values(order, kind="stable").reset_index(drop=True),
                                  slow.sort_values(order, kind="stable").reset_index(drop=True), check_dtype=False)
    # ... in the order of the left records.
    left_at = fast["_rid"].map({rid: k for k, rid in enumerate(left["_rid"])})
    assert left_at.is_monotonic_increasing


@given(sides("l"), sides("r"), maps)
def test_missing_in_on_codes_is_what_the_pairs_say(
    present: pd.DataFrame, candidates: pd.DataFrame, mapping: dict[str, list[str]]
) -> None:
    rule = MissingInRule(id="m", owner="x", present={"type": "subscription"}, absent={"type": "service_line"},
                         match=[{"left": "product", "right": "product", "map": mapping}])
    missing, near = rule._unmatched_by_code(present, candidates)
    pairs = pair_up(present, candidates, rule.match, ["_ok"])
    found = set(pairs.loc[pairs["_ok"].astype(bool), "_rid"])
    assert list(missing["_rid"]) == [rid for rid in present["_rid"] if rid not in found]
    expected = pairs[~pairs["_ok"].astype(bool) & pairs["_rid"].isin(missing["_rid"])]
    assert list(zip(near["_for"], near["_rid"], strict=True)) == list(
        zip(expected["_rid"], expected["_rid_r"], strict=True))


@given(st.text(max_size=8), st.text(max_size=8), st.dictionaries(st.text(max_size=4), st.one_of(
    st.none(), st.text(max_size=4), st.integers(), st.floats(allow_nan=False))), st.one_of(st.none(), st.text(max_size=6)))
def test_record_refs_are_what_model_construct_builds(source: str, key: str, fields: dict[str, Any],
                                                     role: str | None) -> None:
    built = _common._record_ref(source, "account", key, fields, role)
    constructed = RecordRef.model_construct(source=source, record_type="account", key=key, fields=fields, role=role)
    assert built == constructed
    assert built.model_dump() == constructed.model_dump()
    assert built.model_fields_set == constructed.model_fields_set
    assert built.__pydantic_extra__ == constructed.__pydantic_extra__
    assert built.__pydantic_private__ == constructed.__pydantic_private__
    assert built.model_copy(update={"role": "other"}).role == "other" and built.role == role


def test_record_refs_skip_model_construct_with_this_pydantic() -> None:
    assert _common._record_ref is _common._assemble_record_ref


@given(
    st.lists(st.tuples(cells, cells, st.integers(-5, 5)), max_size=12),
    st.lists(st.sampled_from(["a", "b", "n", "_x", "_y"]), min_size=1, max_size=4, unique=True),
    st.sampled_from(["series", "shuffled", "array", "scalar"]),
    st.data(),
)
def test_with_columns_gives_what_assign_gives_and_leaves_the_frame_alone(
    rows: list[tuple[Any, Any, int]], names: list[str], form: str, data: st.DataObject
) -> None:
    index = [100 + 3 * i for i in range(len(rows))]
    frame = pd.DataFrame({"a": [r[0] for r in rows], "b": [r[1] for r in rows], "k": [r[2] for r in rows]},
                         index=index)
    frame["a"] = frame["a"].astype(object)
    original = frame.copy(deep=True)
    columns: dict[str, Any] = {}
    for name in names:
        values = data.draw(st.lists(cells, min_size=len(rows), max_size=len(rows)))
        if form == "series":
            columns[name] = pd.Series(values, index=index, dtype=object)
        elif form == "shuffled":  # aligned on the index, as assign aligns it
            columns[name] = pd.Series(values, index=index, dtype=object).iloc[::-1]
        elif form == "array":
            columns[name] = np.array(values, dtype=object)
        else:
            columns[name] = values[0] if values else None
    expected = frame.assign(**columns)
    got = _common.with_columns(frame, **columns)
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    pd.testing.assert_frame_equal(frame, original, check_exact=True)
    got["a"] = None  # setting a column of one frame never changes the other (rules write no cell in place)
    got["k"] = 7
    pd.testing.assert_frame_equal(frame, original, check_exact=True)


@given(st.lists(st.sampled_from(["a", "b", "c", "d", "", "\x00", "a\x00b"]), max_size=14),
       st.lists(st.sampled_from(["a", "b", "c", "e", "", "\x00", "a\x00c"]), max_size=14))
def test_pairs_on_is_the_inner_merge_by_left_row(left: list[str], right: list[str]) -> None:
    at_left, at_right = pairs_on(pd.Series(left, dtype=object), pd.Series(right, dtype=object))
    # Pairs of equal keys by Python's equality ('' and '\x00' differ; pandas' merge would join them).
    expected = [(i, j) for i, a in enumerate(left) for j, b in enumerate(right) if a == b]
    assert list(zip(at_left.tolist(), at_right.tolist(), strict=True)) == expected


def _differing_by_merge(ctx: RuleContext) -> set[str]:
    """The accounts name_mismatch reports, as it found them with a merge of accounts and contacts."""
    names = ["_rid", "_ekey", "company", "_n_given", "_n_family", "_n_company"]
    left = ctx.table("account").assign(_ekey=lambda f: entity_key(f))[names]
    right = ctx.table("contact").assign(_ekey=lambda f: entity_key(f))[names]
    pairs = left.merge(right, on="_ekey", suffixes=("", "_crm"))
    by_company = (
        _present(pairs["company"]) & _present(pairs["company_crm"])
        & pairs["_n_company"].notna() & pairs["_n_company_crm"].notna()
    )
    families = pairs["_n_family"].notna() & pairs["_n_family_crm"].notna()
    same_company = (pairs["_n_company"] == pairs["_n_company_crm"]).fillna(False)
    givens = pairs["_n_given"].notna() & pairs["_n_given_crm"].notna()
    same_given = ~givens | (pairs["_n_given"] == pairs["_n_given_crm"]).fillna(False)
    same_person = (pairs["_n_family"] == pairs["_n_family_crm"]).fillna(False) & same_given
    comparable = by_company | families
    same = ((by_company & same_company) | (~by_company & same_person)) & comparable
    compared = pairs[comparable]
    agree = same[comparable].groupby(compared["_rid"]).any()
    return set(agree.index[~agree])


_names = st.one_of(st.none(), st.sampled_from(["ann", "anne", "bob"]))
_families = st.one_of(st.none(), st.sampled_from(["smith", "smyth"]))
_companies = st.one_of(st.none(), st.sampled_from(["", "acme", "acme ltd", "globex"]))


@st.composite
def _party(draw: st.DrawFn, key: str, number: int) -> dict[str, Any]:
    company = draw(_companies)
    return {
        key: f"{key[0].upper()}{number}",
        "_entity": draw(st.sampled_from(["E-1", "E-2", "E-3", None])),
        "company": company,
        "_n_given": draw(_names),
        "_n_family": draw(_families),
        "_n_company": draw(st.one_of(st.none(), st.just(company))) if company else None,
    }


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_name_mismatch_by_positions_reports_what_the_merge_reported(data: st.DataObject) -> None:
    from tests.rules.conftest import context, run

    accounts = [data.draw(_party("account_id", n)) for n in range(data.draw(st.integers(0, 6)))]
    contacts = [data.draw(_party("contact_id", n)) for n in range(data.draw(st.integers(0, 6)))]
    ctx = context(account=accounts, contact=contacts)
    reported = run(NameMismatchRule(id="names", owner="crm"), ctx)
    assert {f.subject.rid for f in reported} == _differing_by_merge(ctx)
    assert len(reported) == len({f.subject.rid for f in reported})
