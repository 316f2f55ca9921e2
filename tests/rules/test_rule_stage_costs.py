"""The rules stage's quick paths give what the general ones give; rules drop their frames before findings.

Each quick path (a finding assembled without validation, a day read from a
stamp's nanoseconds, match keys combined without re-coding, due dates read
for the chosen invoices only) is compared with the general expression it
replaces, on generated values (Hypothesis). The rules that build findings
from a few rows of large tables are checked not to hold frames as long as
those tables while they yield their findings.
"""

from __future__ import annotations

import datetime as dt
import gc
import zoneinfo
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconcile.findings import Finding, RecordRef, Severity
from reconcile.rules import _billing, _common, _select, _service, base
from reconcile.rules._common import day, entity_key, is_in, parent_rid, take, utc, with_columns
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.builtin import (
    DuplicateActiveLineRule,
    FailedAutopayRule,
    NameMismatchRule,
    PaymentMisappliedRule,
)

settings.register_profile("stage-costs", max_examples=80, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("stage-costs")

# ---------------------------------------------------------------- findings without validation

refs = st.builds(
    RecordRef,
    source=st.sampled_from(["billing", "crm"]),
    record_type=st.sampled_from(["account", "contact"]),
    key=st.text(max_size=6),
    fields=st.dictionaries(st.text(max_size=4), st.one_of(st.none(), st.text(max_size=4), st.integers(),
                                                           st.floats(allow_nan=False), st.booleans()), max_size=3),
    role=st.one_of(st.none(), st.text(max_size=5)),
)
facts = st.dictionaries(st.text(min_size=1, max_size=6).filter(str.isidentifier),
                        st.one_of(st.none(), st.text(max_size=6), st.integers(), st.floats(), st.dates(),
                                  st.booleans()), max_size=4)


class _Probe(Rule):
    kind: str = "probe"
    story = "{rule_id} on {subject}"


def _validated(rule: Rule, **kwargs: Any) -> Finding:
    """What Rule.finding built before it assembled findings: a validated Finding sharing the fields-set."""
    facts_given = kwargs["facts"]
    made = Finding(
        rule_id=rule.id, kind=rule.kind, severity=rule.severity, owner=rule.owner, entity_id=kwargs["entity_id"],
        subject=kwargs["subject"], records=list(kwargs["records"]),
        story=base.render_story(rule.description or rule.story,
                                {"rule_id": rule.id, "subject": kwargs["subject"].key, **facts_given}),
        confidence=max(0.0, min(1.0, float(kwargs["confidence"]))),
        detail={k: base._jsonable(v) for k, v in facts_given.items()}, detail_key=kwargs.get("detail_key", ""),
    )
    made.share_fields_set(base._FINDING_FIELDS_SET)
    return made


def _same_object(a: Finding, b: Finding) -> None:
    assert a == b
    assert list(vars(a)) == list(vars(b))
    assert vars(a) == vars(b)
    assert a.__pydantic_fields_set__ == b.__pydantic_fields_set__
    assert type(a.__pydantic_fields_set__) is type(b.__pydantic_fields_set__)
    assert a.__pydantic_extra__ == b.__pydantic_extra__ and a.__pydantic_private__ == b.__pydantic_private__
    assert a.model_dump(mode="json") == b.model_dump(mode="json")
    assert a.fingerprint == b.fingerprint
    assert [r is s for r, s in zip(a.records, b.records, strict=True)] == [True] * len(a.records)


@given(refs, st.lists(refs, max_size=4), st.one_of(st.none(), st.text(max_size=5)),
       st.floats(allow_nan=False), facts, st.text(max_size=4), st.sampled_from(list(Severity)))
def test_an_assembled_finding_is_the_validated_one(subject: RecordRef, others: list[RecordRef], entity: str | None,
                                                   confidence: float, detail: dict[str, Any], detail_key: str,
                                                   severity: Severity) -> None:
    rule = _Probe(id="probe", owner="team", severity=severity)
    kwargs = {"subject": subject, "records": [subject, *others], "entity_id": entity, "confidence": confidence,
              "facts": detail, "detail_key": detail_key}
    built = rule.finding(**kwargs)
    _same_object(built, _validated(rule, **kwargs))
    built.status = None  # a finding changed later gets its own fields-set, as a validated one does
    assert "status" in built.model_fields_set and "status" not in base._FINDING_FIELDS_SET


def test_findings_are_assembled_with_this_pydantic() -> None:
    assert base._ASSEMBLE_FINDINGS


@pytest.mark.parametrize("change", ["entity", "detail_key", "record", "severity", "detail"])
def test_values_of_other_types_are_validated(change: str) -> None:
    rule = _Probe(id="probe", owner="team")
    subject = RecordRef(source="billing", record_type="account", key="AC-1")
    kwargs: dict[str, Any] = {"subject": subject, "records": [subject], "entity_id": "E1", "confidence": 1.0,
                              "facts": {"n": 1}}
    if change == "entity":
        kwargs["entity_id"] = np.str_("E1")  # a str subclass: validation makes it a str
        assert type(rule.finding(**kwargs).entity_id) is str
    elif change == "detail_key":
        kwargs["detail_key"] = 5  # not text: validation refuses it
        with pytest.raises(ValueError, match="detail_key"):
            rule.finding(**kwargs)
    elif change == "record":
        kwargs["records"] = [subject, {"source": "crm", "record_type": "contact", "key": "K1"}]
        assert type(rule.finding(**kwargs).records[1]) is RecordRef
    elif change == "severity":
        loose = _Probe.model_construct(id="probe", owner="team", severity="high", kind="probe", description=None)
        assert loose.finding(**kwargs).severity is Severity.high
    else:
        kwargs["facts"] = {1: "one"}  # a key that is not text: validation refuses it
        with pytest.raises(ValueError, match="detail"):
            rule.finding(**kwargs)


# ---------------------------------------------------------------- days of stamps

zones = st.sampled_from([None, "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham"])


@given(st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30)),
       st.integers(0, 999), zones, st.sampled_from(["ns", "us", "s"]))
def test_the_day_of_a_stamp_is_its_utc_date(moment: dt.datetime, nanos: int, zone: str | None, unit: str) -> None:
    """Stamps in nanoseconds (the quick path) and in coarser units (beyond the years nanoseconds reach)."""
    try:
        stamp = pd.Timestamp(moment).as_unit(unit)
        if unit == "ns":
            stamp += pd.Timedelta(nanos, "ns")
    except (OverflowError, pd.errors.OutOfBoundsDatetime):
        return
    if zone is not None:
        try:
            stamp = stamp.tz_localize(zoneinfo.ZoneInfo(zone) if zone != "UTC" else "UTC",
                                      ambiguous=True, nonexistent="shift_forward")
        except (ValueError, OverflowError, pd.errors.OutOfBoundsDatetime):
            return
    expected = stamp.tz_convert("UTC").date() if stamp.tzinfo else stamp.date()
    assert day(stamp) == expected


# ---------------------------------------------------------------- match keys

keys = st.one_of(st.none(), st.sampled_from(["E1", "E2", "~x", "a", "", "\x00", "a\x00b", "a\x00c"]),
                 st.integers(0, 2), st.just(float("nan")))


@st.composite
def key_frames(draw: st.DrawFn, columns: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    def frame() -> pd.DataFrame:
        size = draw(st.integers(0, 12))
        return pd.DataFrame({f"c{i}": pd.Series(draw(st.lists(keys, min_size=size, max_size=size)), dtype=object)
                             for i in range(columns)})
    return frame(), frame()


@pytest.mark.parametrize("limit", [_select._KEY_LIMIT, 40, 7])
@given(st.data())
def test_joint_codes_are_equal_exactly_where_the_rows_agree(limit: int, data: st.DataObject) -> None:
    columns = data.draw(st.integers(1, 4))
    left, right = data.draw(key_frames(columns))
    names = [f"c{i}" for i in range(columns)]
    saved = _select._KEY_LIMIT
    _select._KEY_LIMIT = limit  # a low limit makes the codes re-coded between columns
    try:
        lc, rc = _select._joint_codes(left, right, names)
    finally:
        _select._KEY_LIMIT = saved
    codes = np.concatenate([lc, rc])
    rows = [tuple(r) for r in pd.concat([left, right], ignore_index=True)[names].itertuples(index=False)]
    assert len(lc) == len(left) and len(rc) == len(right)
    if len(codes):
        last = np.concatenate([left[names[-1]].to_numpy(object), right[names[-1]].to_numpy(object)])
        width = len(pd.factorize(last, use_na_sentinel=False)[1]) + 1
        # Below the limit, or re-coded (below the number of rows) before the last column.
        assert codes.min() >= 0 and codes.max() < max(limit, len(codes) * width)
    for i in range(len(rows)):
        for j in range(len(rows)):
            # None and NaN are one missing value; 1 and True are equal objects; text differing
            # after a NUL character is another key.
            same = all(a == b or (pd.isna(a) and pd.isna(b)) for a, b in zip(rows[i], rows[j], strict=True))
            assert (codes[i] == codes[j]) == same


# ---------------------------------------------------------------- overdue invoices


def _overdue_on_every_row(ctx: RuleContext, account_rids: pd.Index, statuses: list[str],
                          cutoff: pd.Timestamp) -> pd.DataFrame:
    """_overdue_invoices as it read every invoice's due date."""
    inv = ctx.table("invoice")
    acct = parent_rid(inv, "invoice")
    due = utc(inv["due_date"])
    mine = acct.isin(account_rids).to_numpy()
    keep = np.zeros(len(inv), dtype=bool)
    keep[mine] = (is_in(inv["status"][mine], statuses) & (due[mine] < cutoff)).to_numpy()
    out = with_columns(take(inv, _billing.INVOICE_FIELDS, keep), _acct=acct[keep], _due=due[keep])
    return out.sort_values(["_acct", "_due", "_rid"], kind="stable")


@given(st.lists(st.tuples(st.sampled_from(["AC-1", "AC-2", "AC-3", None]), st.sampled_from(["open", "OPEN", "paid", None]),
                          st.sampled_from([None, dt.date(2026, 6, 30), dt.date(2026, 7, 1), dt.date(2026, 7, 2)])), max_size=14),
       st.lists(st.sampled_from(["billing:account:AC-1", "billing:account:AC-2", "billing:account:AC-9"]),
                unique=True, max_size=3),
       st.sampled_from(["date", "text"]))
def test_overdue_invoices_read_due_dates_of_the_chosen_rows_as_of_every_row(
    invoices: list[tuple[Any, Any, Any]], accounts: list[str], form: str
) -> None:
    from tests.rules.conftest import context

    rows = [{"invoice_id": f"I{i}", "account_id": a, "status": s,
             "due_date": d if form == "date" or d is None else d.isoformat(),
             "_parent_rid": None if a is None else f"billing:account:{a}"}
            for i, (a, s, d) in enumerate(invoices)]
    ctx = context(invoice=rows)
    cutoff = pd.Timestamp("2026-07-01", tz="UTC")
    got = _billing._overdue_invoices(ctx, pd.Index(accounts), ["open"], cutoff)
    expected = _overdue_on_every_row(ctx, pd.Index(accounts), ["open"], cutoff)
    pd.testing.assert_frame_equal(got, expected)


# ---------------------------------------------------------------- frames dropped before findings

_BIG = 400  # rows of the large tables; reported rows are few


def _long_frames(ctx: RuleContext, size: int, before: set[int] = frozenset()) -> list[int]:  # type: ignore[assignment]
    """Lengths of the DataFrames and Series alive with ``size`` rows or more: not the tables' own, nor ``before``."""
    gc.collect()
    tables = {id(t) for t in ctx.tables.values()}
    cached = {id(s) for t in ctx.tables.values() for s in getattr(t, "_item_cache", {}).values()}
    return [len(o) for o in gc.get_objects()
            if isinstance(o, pd.DataFrame | pd.Series) and len(o) >= size
            and id(o) not in tables and id(o) not in cached and id(o) not in before]


def _alive(size: int) -> set[int]:
    gc.collect()
    return {id(o) for o in gc.get_objects() if isinstance(o, pd.DataFrame | pd.Series) and len(o) >= size}


def _billing_world() -> RuleContext:
    """Many accounts, payments and invoices; few findings.

    Accounts 0-199 failed their last three auto-pay attempts (suspects of
    failed_autopay), those after succeeded; accounts 2k and 2k+1 are one
    customer's (payment_misapplied compares them). Only accounts 0-3 and the
    last eight have open invoices, so each rule reports a handful.
    """
    from tests.rules.conftest import at, context, days_ago

    accounts = [{"account_id": f"AC-{n}", "name": f"P{n}", "status": "active", "autopay": True,
                 "opened_at": days_ago(400 + n % 7), "_entity": f"E-{n // 2}"} for n in range(_BIG)]
    payments = [{"payment_id": f"P{n}-{k}", "account_id": f"AC-{n}", "attempted_at": at(days=10 + 20 * k),
                 "status": "failed" if n < _BIG // 2 else "succeeded", "autopay": True, "amount": 10.0}
                for n in range(_BIG) for k in range(3)]
    invoices = [{"invoice_id": f"I{n}", "account_id": f"AC-{n}", "due_date": days_ago(30),
                 "status": "open" if n < 4 or n >= _BIG - 8 else "paid"} for n in range(_BIG)]
    return context(account=accounts, payment=payments, invoice=invoices)


@pytest.mark.parametrize("rule", [
    FailedAutopayRule(id="fa", owner="billing"),
    PaymentMisappliedRule(id="pm", owner="billing"),
])
def test_billing_rules_hold_no_long_frame_while_they_yield(rule: Rule) -> None:
    ctx = _billing_world()
    before = _alive(_BIG // 2)
    findings = iter(rule.evaluate(ctx))
    next(findings)
    assert _long_frames(ctx, _BIG // 2, before) == []
    assert 1 <= 1 + len(list(findings)) <= 8


def test_name_mismatch_holds_no_long_frame_while_it_yields() -> None:
    from tests.rules.conftest import context

    accounts = [{"account_id": f"AC-{n}", "name": f"SMITH, ANN{n}" if n else "SMYTHE, ANN", "_entity": f"E-{n}"}
                for n in range(_BIG)]
    contacts = [{"contact_id": f"K{n}", "given_name": f"Ann{n}" if n else "Ann", "family_name": "Smith",
                 "_entity": f"E-{n}"} for n in range(_BIG)]
    ctx = context(account=accounts, contact=contacts)
    before = _alive(_BIG // 2)
    findings = iter(NameMismatchRule(id="nm", owner="crm").evaluate(ctx))
    assert next(findings).subject.key == "AC-0"
    assert _long_frames(ctx, _BIG // 2, before) == []
    assert list(findings) == []


# ---------------------------------------------------------------- duplicate lines chosen narrow


def _shared_as_taken_wide(rule: DuplicateActiveLineRule, table: pd.DataFrame) -> pd.DataFrame:
    """The lines duplicate_active_line compares, as it chose them after taking every active line's fields."""
    keep = is_in(table["status"], rule.line_statuses) & table["product"].notna()
    if rule.products is not None:
        keep &= table["product"].isin(rule.products)
    lines = take(table, _service._wanted(table, _service.LINE_FIELDS), keep.to_numpy())
    lines = with_columns(lines, _ekey=entity_key(lines))
    shared = lines["_ekey"].notna() & lines.duplicated(["_ekey", "product"], keep=False)
    return lines[shared]


@given(st.lists(st.tuples(st.sampled_from(["E-1", "E-2", None]), st.sampled_from(["fiber_1g", "tv", None]),
                          st.sampled_from(["active", "ACTIVE", "pending", None])), max_size=12),
       st.one_of(st.none(), st.just(["tv"])))
def test_duplicate_lines_are_chosen_as_on_every_active_lines_fields(
    lines: list[tuple[Any, Any, Any]], products: list[str] | None
) -> None:
    from tests.rules.conftest import context

    rows = [{"line_id": f"L{i}", "product": p, "status": s, "street": f"{i} Oak St", "postal_code": "98101",
             "_entity": e} for i, (e, p, s) in enumerate(lines)]
    table = context(service_line=rows).table("service_line")
    rule = DuplicateActiveLineRule(id="dup", owner="provisioning", products=products)
    chosen = rule._shared(table)
    if chosen.empty:
        assert _shared_as_taken_wide(rule, table).empty
        return
    pd.testing.assert_frame_equal(chosen, _shared_as_taken_wide(rule, table))


# ---------------------------------------------------------------- record fields and lenient booleans

values = st.one_of(st.none(), st.text(max_size=4), st.booleans(), st.integers(-3, 3), st.floats(width=32),
                   st.just(float("nan")),
                   st.dates(), st.datetimes(), st.just(np.float64("nan")), st.just(np.int64(4)), st.just(np.True_),
                   st.just(pd.Timestamp("2026-01-02 03:04:05.000006", tz="UTC")), st.just(pd.NaT))


@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c"]), values, max_size=3), max_size=4),
       st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True, max_size=4))
def test_record_fields_are_the_jsonable_values(found: list[dict[str, Any]], fields: list[str]) -> None:
    rows = [{"_source": "billing", "_key": f"K{i}", **row} for i, row in enumerate(found)]
    made = _common.records(rows, "account", fields, "role")
    for row, ref in zip(rows, made, strict=True):
        expected = {name: base._jsonable(row[name]) for name in fields if name in row}
        assert ref.fields == expected
        assert [type(v) for v in ref.fields.values()] == [type(v) for v in expected.values()]
        assert list(ref.fields) == list(expected)


@given(st.lists(st.booleans(), max_size=10), st.sampled_from([None, "autopay"]))
def test_a_boolean_column_is_truthy_as_its_objects_are(flags: list[bool], name: str | None) -> None:
    series = pd.Series(flags, index=list(range(7, 7 + len(flags))), dtype=bool, name=name)
    expected = series.astype(object).isin(_common._TRUE)
    got = _common.truthy(series)
    pd.testing.assert_series_equal(got, expected)
    got.iloc[:] = False  # its own column, never the table's
    assert series.tolist() == flags


# ---------------------------------------------------------------- parents of some rows


@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(["billing:account:AC-1", "crm:account:X"])),
                          st.sampled_from(["billing", "crm"]), st.one_of(st.none(), st.sampled_from(["AC-1", "AC-2"]))),
                max_size=10),
       st.data())
def test_parent_rids_of_some_rows_are_those_rows_of_every_parent_rid(
    found: list[tuple[Any, str, Any]], data: st.DataObject
) -> None:
    index = data.draw(st.lists(st.integers(0, 4), min_size=len(found), max_size=len(found)))  # labels may repeat
    frame = pd.DataFrame({"_parent_rid": pd.Series([f[0] for f in found], dtype=object).to_numpy(),
                          "_source": [f[1] for f in found], "account_id": [f[2] for f in found]}, index=index)
    rows = np.array(data.draw(st.lists(st.integers(0, max(len(found) - 1, 0)), max_size=8)) if found else [],
                    dtype=np.intp)
    pd.testing.assert_series_equal(_common.parent_rid(frame, "invoice", rows),
                                   _common.parent_rid(frame, "invoice").iloc[rows])


@given(st.lists(st.tuples(st.one_of(st.none(), st.sampled_from(["billing:account:AC-1", "crm:account:X"])),
                          st.sampled_from(["billing", "crm"]), st.one_of(st.none(), st.sampled_from(["AC-1", "AC-2"]))),
                max_size=10),
       st.lists(st.sampled_from(["billing:account:AC-1", "billing:account:AC-2", "crm:account:AC-2", "crm:account:X"]),
                unique=True, max_size=3))
def test_parents_in_some_rids_are_every_parent_rid_in_them(found: list[tuple[Any, str, Any]], rids: list[str]) -> None:
    frame = pd.DataFrame({"_parent_rid": pd.Series([f[0] for f in found], dtype=object).to_numpy(),
                          "_source": [f[1] for f in found], "account_id": [f[2] for f in found]},
                         index=[7] * len(found))
    expected = _common.parent_rid(frame, "payment").isin(rids).to_numpy()
    assert _common.parent_in(frame, "payment", pd.Index(rids)).tolist() == expected.tolist()


def test_joint_codes_keep_text_differing_after_a_nul_character_apart() -> None:
    """Columns of text only (pandas hashes them as C strings): '' and '\\x00' are two keys, as are 'a\\x00b', 'a\\x00c'."""
    left = pd.DataFrame({"k": pd.Series(["", "a\x00b", "x"], dtype=object)})
    right = pd.DataFrame({"k": pd.Series(["\x00", "a\x00c", "x"], dtype=object)})
    lc, rc = _select._joint_codes(left, right, ["k"])
    assert lc[2] == rc[2]
    assert len({*lc[:2].tolist(), *rc[:2].tolist(), int(lc[2])}) == 5
