from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.extract.mapping import FieldMapping, MappingError, RowMapper
from reconcile.model import Account, Contact, Payment, Subscription, Vehicle


def test_plain_columns_and_type_driven_transforms() -> None:
    mapper = RowMapper(
        Account,
        {
            "account_id": "acct",
            "autopay": "ap",
            "opened_at": "opened",
            "name": FieldMapping(columns=["first", "last"]),
        },
    )
    mapped = mapper.map({"acct": 12, "ap": "Y", "opened": "2024-03-05", "first": "Ann", "last": " Lee "})
    assert mapped == {
        "account_id": "12",
        "autopay": True,
        "opened_at": dt.date(2024, 3, 5),
        "name": "Ann Lee",
    }


def test_datetime_without_zone_is_utc_and_with_zone_is_converted() -> None:
    mapper = RowMapper(Payment, {"payment_id": "id", "account_id": "a", "amount": "amt",
                                 "attempted_at": "at", "status": "s"})
    naive = mapper.map({"id": "1", "a": "A", "amt": "10.5", "at": "2026-01-02 03:04:05", "s": "x"})
    assert naive["attempted_at"] == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    zoned = mapper.map({"id": "1", "a": "A", "amt": "$1,010.5", "at": "2026-01-02T03:04:05+02:00", "s": "x"})
    assert zoned["attempted_at"] == dt.datetime(2026, 1, 2, 1, 4, 5, tzinfo=dt.UTC)
    assert zoned["amount"] == 1010.5


def test_code_table_default_and_unknown_code() -> None:
    spec = FieldMapping(column="plan", map={"INET-1000": "fiber_1g", "MON-BASIC": "monitoring"})
    mapper = RowMapper(Subscription, {"subscription_id": "id", "account_id": "a", "product": spec})
    assert mapper.map({"id": "1", "a": "A", "plan": "inet-1000"})["product"] == "fiber_1g"
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "a": "A", "plan": "TV-HD"})
    assert err.value.field == "product"
    assert "TV-HD" in err.value.reason

    with_default = FieldMapping(column="plan", map={"INET-1000": "fiber_1g"}, default="other")
    mapper = RowMapper(Subscription, {"subscription_id": "id", "account_id": "a", "product": with_default})
    assert mapper.map({"id": "1", "a": "A", "plan": "TV-HD"})["product"] == "other"


def test_date_with_format_and_bad_date_names_the_field() -> None:
    spec = FieldMapping(column="d", format="%d/%m/%Y")
    mapper = RowMapper(Account, {"account_id": "id", "opened_at": spec})
    assert mapper.map({"id": "1", "d": "05/03/2024"})["opened_at"] == dt.date(2024, 3, 5)
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "d": "2024-03-05"})
    assert err.value.field == "opened_at"
    assert "%d/%m/%Y" in err.value.reason


def test_mapping_needs_exactly_one_origin() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        FieldMapping(column="a", const="b")
    with pytest.raises(ValueError, match="exactly one"):
        FieldMapping()


def test_constant_and_blank_values() -> None:
    mapper = RowMapper(Account, {"account_id": "id", "country": FieldMapping(const="US"), "email": "e"})
    assert mapper.map({"id": "7", "e": "   "}) == {"account_id": "7", "country": "US"}


@given(st.sampled_from(["Y", "y", "yes", "TRUE", "1", "on", 1, True]))
def test_truthy_values(value: object) -> None:
    mapper = RowMapper(Account, {"account_id": "id", "autopay": "ap"})
    assert mapper.map({"id": "1", "ap": value})["autopay"] is True


@given(st.text(min_size=1).filter(lambda s: s.strip().lower() not in
       {"y", "yes", "true", "t", "1", "on", "enabled", "n", "no", "false", "f", "0", "off", "disabled"}))
def test_anything_else_is_not_a_boolean(value: str) -> None:
    mapper = RowMapper(Account, {"account_id": "id", "autopay": "ap"})
    if not value.strip():
        assert "autopay" not in mapper.map({"id": "1", "ap": value})
        return
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "ap": value})
    assert err.value.field == "autopay"


# -- transforms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decimal", "expected"),
    [
        ("1,234.50", ".", 1234.5),
        ("$1,010.5", ".", 1010.5),
        ("-$12", ".", -12.0),
        ("1.234,56", ",", 1234.56),
        ("€ 12,50", ",", 12.5),
        ("12,5 €", ",", 12.5),
        ("1 234,5", ",", 1234.5),
        ("1'234.5", ".", 1234.5),
        ("-0,75", ",", -0.75),
    ],
)
def test_number_parsing_with_either_decimal_separator(text: str, decimal: str, expected: float) -> None:
    mapper = RowMapper(Payment, {"payment_id": "id", "account_id": "a", "attempted_at": "at", "status": "s",
                                 "amount": FieldMapping(column="amt", decimal=decimal)})
    row = {"id": "1", "a": "A", "at": "2026-01-01", "s": "ok", "amt": text}
    assert mapper.map(row)["amount"] == pytest.approx(expected)


def test_integers_with_a_decimal_comma_and_thousands() -> None:
    spec = FieldMapping(column="n", transform="int", decimal=",")
    mapper = RowMapper(Vehicle, {"vehicle_id": "id", "vin": "v", "year": spec})
    assert mapper.map({"id": "1", "v": "X", "n": "2.024"})["year"] == 2024
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "v": "X", "n": "20,5"})
    assert err.value.field == "year"


def test_several_date_formats_are_tried_in_order() -> None:
    spec = FieldMapping(column="d", format=["%Y%m%d", "%d/%m/%Y"])
    mapper = RowMapper(Account, {"account_id": "id", "opened_at": spec})
    assert mapper.map({"id": "1", "d": "20240305"})["opened_at"] == dt.date(2024, 3, 5)
    assert mapper.map({"id": "1", "d": "05/03/2024"})["opened_at"] == dt.date(2024, 3, 5)
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "d": "March 5"})
    assert "'%Y%m%d' or '%d/%m/%Y'" in err.value.reason


@pytest.mark.parametrize(
    ("fmt", "text", "expected"),
    [
        ("%Y%m%d", "20240229", dt.date(2024, 2, 29)),
        ("%Y-%m-%d", "2024-02-29", dt.date(2024, 2, 29)),
        ("%Y-%m-%d", "2024-2-9", dt.date(2024, 2, 9)),  # strptime is lenient about digits
        ("%d.%m.%Y", "29.02.2024", dt.date(2024, 2, 29)),
    ],
)
def test_date_formats_give_what_strptime_gives(fmt: str, text: str, expected: dt.date) -> None:
    mapper = RowMapper(Account, {"account_id": "id", "opened_at": FieldMapping(column="d", format=fmt)})
    assert mapper.map({"id": "1", "d": text})["opened_at"] == expected


@pytest.mark.parametrize("text", ["20240230", "2024-02-30", "20241301"])
def test_impossible_dates_are_errors(text: str) -> None:
    fmt = "%Y%m%d" if "-" not in text else "%Y-%m-%d"
    mapper = RowMapper(Account, {"account_id": "id", "opened_at": FieldMapping(column="d", format=fmt)})
    with pytest.raises(MappingError):
        mapper.map({"id": "1", "d": text})


@pytest.mark.parametrize(
    ("name", "family", "given"),
    [
        ("SMITH, ROBERT J", "SMITH", "ROBERT J"),
        ("  van der Berg ,  Anna  ", "van der Berg", "Anna"),
        ("Robert J Smith", "Smith", "Robert J"),
        ("Cher", "Cher", None),
        ("SMITH,", "SMITH", None),
    ],
)
def test_splitting_last_first_names(name: str, family: str | None, given: str | None) -> None:
    mapper = RowMapper(Contact, {
        "contact_id": "id",
        "family_name": FieldMapping(column="holder", transform="family_name"),
        "given_name": FieldMapping(column="holder", transform="given_name"),
    })
    mapped = mapper.map({"id": "1", "holder": name})
    assert mapped.get("family_name") == family
    assert mapped.get("given_name") == given


def test_concatenating_columns_skips_blanks() -> None:
    spec = FieldMapping(columns=["line1", "line2", "line3"], join=", ")
    mapper = RowMapper(Contact, {"contact_id": "id", "street": spec})
    assert mapper.map({"id": "1", "line1": "1 Main St", "line2": " ", "line3": "Rear"})["street"] == "1 Main St, Rear"
    assert "street" not in mapper.map({"id": "1", "line1": None, "line2": "", "line3": None})


def test_constants_are_converted_like_values() -> None:
    mapper = RowMapper(Account, {"account_id": "id", "autopay": FieldMapping(const="Y"),
                                 "opened_at": FieldMapping(const="2020-01-31")})
    assert mapper.map({"id": "1"}) == {"account_id": "1", "autopay": True, "opened_at": dt.date(2020, 1, 31)}


def test_a_code_table_looks_up_the_source_text() -> None:
    """Without a transform a code table sees the raw code, so it can map onto any type."""
    mapper = RowMapper(Account, {"account_id": "id", "autopay": FieldMapping(column="ap", map={"AUTO": True, "MAN": False})})
    assert mapper.map({"id": "1", "ap": "auto"})["autopay"] is True
    assert mapper.map({"id": "1", "ap": " MAN "})["autopay"] is False
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "ap": "CHEQUE"})
    assert (err.value.field, err.value.reason) == ("autopay", "code 'CHEQUE' is not in the code table (AUTO, MAN)")


def test_unmapped_code_is_quarantined_naming_field_and_code() -> None:
    spec = FieldMapping(column="plan", map={"FTTH-1000": "fiber_1g"})
    mapper = RowMapper(Subscription, {"subscription_id": "id", "account_id": "a", "product": spec})
    assert mapper.map({"id": "1", "a": "A", "plan": "ftth-1000"})["product"] == "fiber_1g"
    with pytest.raises(MappingError) as err:
        mapper.map({"id": "1", "a": "A", "plan": "FTTH-2000"})
    assert err.value.field == "product"
    assert "'FTTH-2000'" in err.value.reason


def test_format_goes_with_dates_only() -> None:
    with pytest.raises(ValueError, match="'format' is for the date and datetime transforms"):
        FieldMapping(column="a", transform="int", format="%Y")


# -- the column path gives what the row path gives --------------------------------------

_VALUES = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "Y", "n", "A", "C", "x", "2024-03-05", "20240305", "05/03/2024", "1,5", "12.50",
                     "$3", "SMITH, ANN", "Ann Lee", " padded ", "2026-01-02 03:04:05", "2026-01-02T03:04:05Z",
                     "nan", "1e400"]),
    st.text(max_size=8),
    st.integers(min_value=-3, max_value=3),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2030, 1, 1)),
    st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.decimals(allow_nan=False, allow_infinity=False, places=2, min_value=-1000, max_value=1000),
)

_SPECS: dict[str, object] = {
    "account_id": "c0",
    "name": FieldMapping(column="c1", transform="upper"),
    "family_name": FieldMapping(column="c1", transform="family_name"),
    "given_name": FieldMapping(column="c1", transform="given_name"),
    "email": FieldMapping(columns=["c2", "c3"], join="."),
    "status": FieldMapping(column="c2", map={"A": "active", "C": "closed", "": "weird"}, default="other"),
    "autopay": "c3",
    "autopay_method": FieldMapping(column="c4", transform="lower", default="none"),
    "opened_at": FieldMapping(column="c4", format=["%Y%m%d", "%d/%m/%Y"]),
    "closed_at": "c5",
    "country": FieldMapping(const="US"),
    "birth_date": FieldMapping(column="c5", transform="date"),
}


@settings(max_examples=150, deadline=None)
@given(rows=st.lists(st.tuples(*[_VALUES] * 6), min_size=1, max_size=40))
def test_columns_map_as_rows_do(rows: list[tuple[object, ...]]) -> None:
    from reconcile.extract.mapping import _FAIL, ColumnSource

    columns = [f"c{i}" for i in range(6)]
    mapper = RowMapper(Account, _SPECS)  # type: ignore[arg-type]
    reference = RowMapper(Account, _SPECS)  # type: ignore[arg-type]
    # Twice: the second time the distinct values are known already.
    for _ in range(2):
        values, failed, with_none = mapper.map_columns(ColumnSource(columns, rows), len(rows))
        for i, row in enumerate(rows):
            try:
                expected = reference.map(dict(zip(columns, row, strict=True)))
            except MappingError:
                assert i in failed
                continue
            assert i not in failed
            got = {name: column[i] for name, column in values.items() if column[i] is not None}
            assert got.keys() == expected.keys()
            for name, value in expected.items():
                assert type(got[name]) is type(value), (name, got[name], value)
                assert got[name] == value or (value != value and got[name] != got[name]), name
            for name, column in values.items():
                assert column[i] is not _FAIL
                if column[i] is None:
                    assert name in with_none, name


# Text that looks like an ISO date, or nearly: the quick path of date columns
# (date.fromisoformat on YYYY-MM-DD) must give what convert() gives, and fail
# where it fails.
_DATE_TEXT = st.one_of(
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(dt.date.isoformat),
    st.tuples(st.integers(0, 9999), st.integers(0, 19), st.integers(0, 39)).map(
        lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}"  # month 13, day 31 of April, year 0
    ),
    st.sampled_from([
        "2024-02-29", "2023-02-29", "0000-01-01", " 2024-01-02", "2024-01-02 ", "20240102", "2024-1-02",
        "2024-01-02T10:00:00", "2024-01-02 10:00", "\uff12\uff10\uff12\uff14-01-02", "2024-01-0\u0662",
        "", "   ", "02/01/2024", "2024-01-02\udc80", "2024-01-02\n",
    ]),
    st.none(),
    st.integers(-5, 5),
    st.text(max_size=12),
)


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(_DATE_TEXT, min_size=1, max_size=60),
    fmt=st.sampled_from([None, "%Y-%m-%d", ["%Y-%m-%d", "%d/%m/%Y"], "%Y%m%d"]),
    default=st.sampled_from([None, dt.date(2000, 1, 1)]),
)
def test_date_columns_convert_as_each_value_does(values: list[object], fmt: object, default: object) -> None:
    spec = FieldMapping(column="d", transform="date", format=fmt, default=default)  # type: ignore[arg-type]
    mapper = RowMapper(Account, {"account_id": "k", "opened_at": spec})
    reference = RowMapper(Account, {"account_id": "k", "opened_at": spec})
    compiled = mapper.fields[1]
    distinct = list(dict.fromkeys(v for v in values if not isinstance(v, bool)))
    assert compiled._safe_many(distinct) == [compiled._safe(v) for v in distinct]
    assert [type(v) for v in compiled._safe_many(distinct)] == [type(compiled._safe(v)) for v in distinct]
    for _ in range(2):  # the second time every value is remembered
        _assert_columns_map_as_rows(mapper, reference, "d", "opened_at", values)


def _assert_columns_map_as_rows(
    mapper: RowMapper, reference: RowMapper, column: str, field: str, values: list[object]
) -> None:
    """``mapper.map_columns`` gives, row by row, what ``reference.map`` gives (or fails where it fails)."""
    from reconcile.extract.mapping import _FAIL, ColumnSource

    rows = [("K", v) for v in values]
    columns, failed, _with_none = mapper.map_columns(ColumnSource(["k", column], rows), len(rows))
    for i, row in enumerate(rows):
        try:
            expected = reference.map({"k": row[0], column: row[1]}).get(field)
        except MappingError:
            assert i in failed and columns[field][i] is _FAIL
            continue
        assert i not in failed
        got = columns[field][i]
        assert type(got) is type(expected) and got == expected


# Text that looks like a timestamp to the second, or nearly: many distinct
# values of a datetime column are parsed together (Arrow), which must give
# what convert() gives for each (same instant, same type, UTC as dt.UTC) and
# leave every value it cannot vouch for to convert().
_SECOND_TEXT = st.one_of(
    st.tuples(
        st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)),
        st.sampled_from([" ", "T"]),
        st.sampled_from(["", "", "Z", "+00:00", "+01:00", ".5", " "]),
    ).map(lambda t: t[0].replace(microsecond=0).isoformat(sep=t[1]) + t[2]),
    st.tuples(st.integers(0, 9999), st.integers(0, 13), st.integers(0, 32), st.integers(0, 25),
              st.integers(0, 61), st.integers(0, 61), st.sampled_from([" ", "T", "t", "_"])).map(
        lambda t: f"{t[0]:04d}-{t[1]:02d}-{t[2]:02d}{t[6]}{t[3]:02d}:{t[4]:02d}:{t[5]:02d}"  # 30 Feb, 24:00, :60
    ),
    st.sampled_from([
        "2023-02-29 00:00:00", "2024-02-29 00:00:00", "2025-04-31 10:00:00", "0000-01-01 00:00:00",
        "0001-01-01 00:00:00", " 2024-01-02 10:00:00", "2024-01-02 10:00:00 ", "2024-01-02 10:00",
        "2024-01-02", "2024-01-02T10:00:00\n", "\uff12\uff10\uff12\uff14-01-02 10:00:00",
        "2024-01-02 10:00:0\u0662", "", "   ", "2024-01-02 10:00:00\udc80",
    ]),
    st.none(),
    st.integers(-5, 5),
    st.text(max_size=20),
)


@settings(max_examples=120, deadline=None)
@given(
    values=st.lists(_SECOND_TEXT, min_size=1, max_size=60),
    fmt=st.sampled_from([None, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", ["%Y-%m-%d %H:%M:%S", "%d/%m/%Y"]]),
)
def test_datetime_columns_parsed_together_convert_as_each_value_does(values: list[object], fmt: object) -> None:
    import reconcile.extract.mapping as mapping

    spec = FieldMapping(column="t", transform="datetime", format=fmt)  # type: ignore[arg-type]
    compiled = RowMapper(Payment, {"payment_id": "k", "account_id": "a", "attempted_at": spec}).fields[2]
    distinct = list(dict.fromkeys(v for v in values if not isinstance(v, bool)))
    at_once, mapping._AT_ONCE = mapping._AT_ONCE, 1  # type: ignore[attr-defined]
    try:
        together = compiled._safe_many(distinct)
    finally:
        mapping._AT_ONCE = at_once  # type: ignore[attr-defined]
    one_by_one = [compiled._safe(v) for v in distinct]
    assert together == one_by_one
    assert [type(v) for v in together] == [type(v) for v in one_by_one]
    assert [getattr(v, "tzinfo", None) for v in together] == [getattr(v, "tzinfo", None) for v in one_by_one]


@settings(max_examples=120, deadline=None)
@given(
    values=st.lists(st.one_of(_SECOND_TEXT.filter(lambda v: isinstance(v, str) and "\udc80" not in v), st.none()),
                    min_size=1, max_size=60),
    fmt=st.sampled_from([None, "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S"]),
    at_once=st.sampled_from([1, 10_000]),
)
def test_datetime_columns_from_arrow_convert_as_each_value_does(values: list[object], fmt: object, at_once: int) -> None:
    """An Arrow batch of times: parsed together in Arrow (or one by one when few), as _safe gives each."""
    import pyarrow as pa

    import reconcile.extract.mapping as mapping

    spec = FieldMapping(column="t", transform="datetime", format=fmt)  # type: ignore[arg-type]
    compiled = RowMapper(Payment, {"payment_id": "k", "account_id": "a", "attempted_at": spec}).fields[2]
    assert compiled._seconds_at_once
    saved, mapping._AT_ONCE = mapping._AT_ONCE, at_once  # type: ignore[attr-defined]
    try:
        out, may_be_none, failed, nones = compiled.arrow_column(pa.array(values, type=pa.string()))
    finally:
        mapping._AT_ONCE = saved  # type: ignore[attr-defined]
    expected = [compiled._safe(v) for v in values]
    got = list(out)
    assert got == expected
    assert [type(v) for v in got] == [type(v) for v in expected]
    assert [getattr(v, "tzinfo", None) for v in got] == [getattr(v, "tzinfo", None) for v in expected]
    assert (failed.tolist() if failed is not None else [False] * len(values)) == [v is mapping._FAIL for v in expected]
    assert (nones.tolist() if nones is not None else [False] * len(values)) == [v is None for v in expected]
    assert may_be_none == (None in expected)


def test_many_distinct_timestamps_are_parsed_together() -> None:
    """The path the test above compares is the one a large column takes (not only one by one)."""
    import reconcile.extract.mapping as mapping

    spec = FieldMapping(column="t", transform="datetime", format="%Y-%m-%d %H:%M:%S")
    compiled = RowMapper(Payment, {"payment_id": "k", "account_id": "a", "attempted_at": spec}).fields[2]
    start = dt.datetime(2026, 1, 1)
    texts = [(start + dt.timedelta(minutes=7 * i)).isoformat(sep=" ") for i in range(mapping._AT_ONCE)]
    parsed, taken = mapping._iso_seconds_at_once(texts, ("%Y-%m-%d %H:%M:%S",))  # type: ignore[misc]
    assert all(taken)
    assert compiled._safe_many(texts) == parsed.tolist() == [
        (start + dt.timedelta(minutes=7 * i)).replace(tzinfo=dt.UTC) for i in range(len(texts))
    ]


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.one_of(st.none(), st.integers(-2, 3), st.booleans(), st.sampled_from(["Y", "n", "1", " 0 ", "x"])),
        min_size=1, max_size=40,
    ),
    default=st.sampled_from([None, False]),
)
def test_flag_columns_convert_as_each_value_does(values: list[object], default: object) -> None:
    """Integer flags (a SQL INTEGER column) take a shortcut; every column must map as row by row."""
    spec = FieldMapping(column="f", transform="bool", default=default)  # type: ignore[arg-type]
    mapper = RowMapper(Account, {"account_id": "k", "autopay": spec})
    reference = RowMapper(Account, {"account_id": "k", "autopay": spec})
    _assert_columns_map_as_rows(mapper, reference, "f", "autopay", values)
