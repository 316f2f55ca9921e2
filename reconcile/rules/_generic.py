"""Generic kinds: checks a user writes in YAML without code.

``missing_in``, ``field_mismatch``, ``status_mismatch``, ``duplicate``,
``balance`` and ``stale`` select records with :class:`~reconcile.rules._select.Records`
(a type, sources, filters, a time field) and compare them within one
customer (a matched entity). Every comparison is done on whole columns; only
the records that end up in a finding become Python objects.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import Field, model_validator
from rapidfuzz import fuzz
from rapidfuzz.process import cpdist
from rapidfuzz.utils import default_process

from reconcile.findings import Finding
from reconcile.model import RECORD_TYPES
from reconcile.rules._common import (
    BuiltinRule,
    column_values,
    cutoff_day,
    entity_or_none,
    group_rows,
    min_confidence,
    parent_rid,
    positional,
    records,
    rows,
    text,
    widen,
    with_columns,
)
from reconcile.rules._select import (
    FieldKind,
    FieldPair,
    Pairing,
    Records,
    RecordTypeName,
    age_text,
    check_field,
    check_pairs,
    column_text,
    distinct_pairs,
    duration_text,
    field_kind,
    join_codes,
    key_codes,
    pair_up,
    time_text,
)
from reconcile.rules.base import Duration, RuleContext
from reconcile.rules.example import RuleExample

__all__ = [
    "BalanceRule",
    "DuplicateRule",
    "FieldMismatchRule",
    "MissingInRule",
    "StaleRule",
    "StatusMismatchRule",
]


def _words(record_type: str) -> str:
    return record_type.replace("_", " ")


def _plural(count: int, record_type: str) -> str:
    word = _words(record_type)
    if count != 1:
        word += "es" if word.endswith("s") else "s"
    return f"{count} {word}"


def _ident(row: dict[str, Any], record_type: str) -> str:
    return text(row.get(RECORD_TYPES[record_type].key_field), str(row["_key"]))


def _value_text(value: Any, kind: FieldKind) -> str:
    if kind in ("date", "datetime"):
        return time_text(value, kind) or "missing"
    if kind == "number":
        number = pd.to_numeric(value, errors="coerce")
        return "missing" if pd.isna(number) else f"{float(number):g}"
    return text(value, "missing")


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _order(frame: pd.DataFrame, *first: str) -> pd.DataFrame:
    """Rows in an order that does not depend on row order or source names (key first, rid last)."""
    return frame.sort_values([*first, "_key", "_rid"], kind="stable", na_position="last")


# ---------------------------------------------------------------- missing_in


class MissingInRule(BuiltinRule):
    """Records of one system with no counterpart in another system for the same customer.

    Each record of ``present`` older than ``grace`` (by its ``time_field``;
    a record of unknown time is judged) is reported when the same customer
    has no record of ``absent`` that meets ``absent``'s filters and agrees on
    every ``match`` pair. Records of the absent type that agree on ``match``
    but fail its filters (a line that is only pending) are shown in the
    finding as near counterparts. A record no entity holds can only find
    counterparts under its own parent record, so it is reported.

    ``billed_not_provisioned`` and ``provisioned_not_billed`` are this kind
    with fixed selections (see their pages).

    Attributes:
        present: The records that must have a counterpart.
        absent: The counterparts looked for.
        match: Fields a counterpart must agree on, ``left`` a field of
            ``present`` and ``right`` of ``absent`` (``[product]`` for the same
            name on both), with an optional ``map`` of left values to right values.
    """

    kind: Literal["missing_in"] = "missing_in"
    entity_local = True
    present: Records
    absent: Records
    match: list[Pairing] = Field(default_factory=list)

    story: ClassVar[str] = (
        "{system} {record_type} {record} has no {wanted} for the same customer ({counterpart_state})."
    )
    facts: ClassVar[dict[str, str]] = {
        "system": "the source of the record",
        "record_type": "its record type, in words ('service line')",
        "record": "its id",
        "since": "its time_field value, or None",
        "wanted": "the counterpart looked for, such as 'service line with product monitoring and status active'",
        "absent_systems": "the sources searched ('any system' if not restricted)",
        "near": "number of near counterparts (matching, but failing the absent filters)",
        "counterpart_state": "'there is none' or the near counterparts, such as "
        "'inventory service line L-1 has status pending'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="subscription_without_line",
        owner="provisioning",
        params={
            "present": {"type": "subscription", "where": [{"field": "status", "op": "eq", "value": "active"}],
                        "time_field": "start_date"},
            "absent": {"type": "service_line", "where": [{"field": "status", "op": "eq", "value": "active"}]},
            "match": ["product"],
        },
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [
                {"subscription_id": "S-1", "account_id": "AC-1", "product": "fiber_1g", "start_date": "2026-03-01"},
                {"subscription_id": "S-2", "account_id": "AC-1", "product": "monitoring", "start_date": "2026-09-12"},
            ],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "status": "active"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "status": "pending"},
            ],
        },
    )

    @model_validator(mode="after")
    def _pairs_exist(self) -> MissingInRule:
        check_pairs(self.match, self.present, self.absent)
        return self

    def unmatched(
        self,
        ctx: RuleContext,
        present_columns: Sequence[str] | None = None,
        absent_columns: Sequence[str] | None = None,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The present records without a counterpart, and their near counterparts.

        Args:
            ctx: The run's context.
            present_columns: Columns of the present records to keep (besides
                the meta columns and the ``match`` fields); default: every column.
            absent_columns: The same for the near counterparts.

        Returns:
            ``(missing, near)``: ``missing`` holds the present records (with
            ``_ekey``, ``_conf``, ``_t``); ``near`` the absent-type
            records that agree on ``match`` but fail the filters, with ``_for``
            the rid of the present record they are near.
        """
        left_keys = [p.left for p in self.match]
        right_keys = [p.right for p in self.match]
        present_table, absent_table = ctx.table(self.present.type), ctx.table(self.absent.type)
        # Records are compared on their keys alone; the columns shown are taken
        # for the few records reported (by position, in tables indexed by position).
        narrow = positional(present_table) and positional(absent_table)
        present = self.present.select(
            ctx, left_keys if narrow else _also(present_columns, left_keys))
        present = present[self.present.settled(present, ctx.as_of, self.grace)]
        candidates = self.absent.candidates(
            ctx, columns=right_keys if narrow else _also(absent_columns, right_keys))
        if present["_rid"].is_unique and candidates["_rid"].is_unique:
            missing, near_pairs = self._unmatched_by_code(present, candidates)
        else:
            pairs = pair_up(present, candidates, self.match, ["_ok"])
            found = pairs.loc[pairs["_ok"].astype(bool), "_rid"]
            missing = present[~present["_rid"].isin(found)]
            near_pairs = pairs[~pairs["_ok"].astype(bool) & pairs["_rid"].isin(missing["_rid"])]
            near_pairs = near_pairs[["_rid", "_rid_r"]].rename(columns={"_rid": "_for", "_rid_r": "_rid"})
        if not narrow:
            return missing, candidates.merge(near_pairs, on="_rid")
        # Candidates without a near pair drop out of the merge anyway.
        near = candidates[candidates["_rid"].isin(near_pairs["_rid"])]
        near = with_columns(near, _at=near.index).merge(near_pairs, on="_rid")
        near = widen(absent_table, near, near["_at"], absent_columns).drop(columns="_at")
        return widen(present_table, missing, missing.index, present_columns), near

    def _unmatched_by_code(
        self, present: pd.DataFrame, candidates: pd.DataFrame
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """``(missing, near pairs)`` from the match keys as integers (every rid unique on both sides).

        What :func:`pair_up` gives, without building the pairs of the records
        that have a counterpart: a present record is missing when no
        counterpart that meets the filters shares its key; its near pairs are
        the counterparts that share it but fail them.
        """
        left_rows, left_code, right_rows, right_code = key_codes(present, candidates, self.match)
        ok = np.asarray(candidates["_ok"], dtype=bool)[right_rows]
        is_missing = np.ones(len(present), dtype=bool)
        is_missing[left_rows[np.isin(left_code, right_code[ok])]] = False
        chosen = is_missing[left_rows]
        li, ri = join_codes(left_code[chosen], right_code[~ok])
        left_at, right_at = left_rows[chosen][li], right_rows[~ok][ri]
        keep = distinct_pairs(left_at, right_at, len(candidates))
        near_pairs = pd.DataFrame({
            "_for": column_values(present["_rid"]).take(left_at[keep]),
            "_rid": column_values(candidates["_rid"]).take(right_at[keep]),
        })
        return present[is_missing], near_pairs

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        fields = self.present.fields(*(p.left for p in self.match))
        near_fields = self.absent.fields(*(p.right for p in self.match))
        missing, near = self.unmatched(ctx, fields, near_fields)
        if missing.empty:
            return
        nearby = group_rows(_order(near, "_for"), "_for", (*near_fields, "_conf"))
        absent_type = _words(self.absent.type)
        systems = " or ".join(self.absent.sources) if self.absent.sources else "any system"
        for row in rows(_order(missing), (*fields, "_ekey", "_conf", "_t")):
            others = nearby.get(row["_rid"], [])
            wanted = [self._wanted(pair, row) for pair in self.match]
            if self.absent.where:
                wanted.append(self.absent.describe())
            described = [
                f"{r['_source']} {absent_type} {_ident(r, self.absent.type)} has "
                + (", ".join(f"{_field_words(f.field)} {text(r.get(f.field), 'missing')}"
                             for f in self.absent.where) or "no filters")
                for r in others
            ]
            subject = records([row], self.present.type, fields, "present")[0]
            facts = {
                "system": str(row["_source"]),
                "record_type": _words(self.present.type),
                "record": _ident(row, self.present.type),
                "since": time_text(row["_t"], self.present.time_kind),
                "wanted": absent_type + (" with " + " and ".join(wanted) if wanted else ""),
                "absent_systems": systems,
                "near": len(others),
                "counterpart_state": "; ".join(described) or "there is none",
            }
            yield self.finding(
                subject=subject,
                records=[subject, *records(others, self.absent.type, near_fields, "near_counterpart")],
                entity_id=entity_or_none(row["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (row, *others)]),
                facts=facts,
            )

    @staticmethod
    def _wanted(pair: FieldPair, row: dict[str, Any]) -> str:
        value = text(row.get(pair.left), "missing")
        mapped = {k.strip().casefold(): v for k, v in pair.map.items()}.get(value.strip().casefold(), [value])
        return f"{_field_words(pair.right)} {' or '.join(mapped)}"


def _also(columns: Sequence[str] | None, more: Sequence[str]) -> list[str] | None:
    return None if columns is None else [*columns, *more]


def _field_words(name: str) -> str:
    return name.lstrip("_").replace("_", " ")


# ---------------------------------------------------------------- field_mismatch

_SCORERS = {
    "ratio": fuzz.ratio,
    "token_sort_ratio": fuzz.token_sort_ratio,
    "token_set_ratio": fuzz.token_set_ratio,
    "partial_ratio": fuzz.partial_ratio,
}


def _fold(value: str) -> str:
    """Case, accents and punctuation removed: ``"O'Brien, José"`` -> ``"o brien jose"``."""
    ascii_text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode()
    return " ".join(default_process(ascii_text).split())


def _comparison(left: FieldKind, right: FieldKind) -> Literal["number", "date", "text"]:
    times = ("date", "datetime")
    if left == "number" and right == "number":
        return "number"
    if left in times and right in times:
        return "date"
    if left in ("text", "bool") and right in ("text", "bool"):
        return "text"
    raise ValueError(f"cannot compare a {left} field with a {right} field")


class FieldMismatchRule(BuiltinRule):
    """A field that two systems hold for the same customer differs beyond a tolerance.

    Each record of ``left`` is compared with the records of ``right`` of the
    same customer that agree on every ``match`` pair and have a value: numbers
    agree within ``absolute`` or ``relative`` (a share of the larger value),
    dates and times within ``window`` (dates by day), text when its similarity
    after folding case, accents and punctuation reaches ``min_similarity``
    (rapidfuzz ``scorer``, 0..1; 1 means equal once folded). The left record
    is reported when it agrees with none of them, with the closest one. A
    record without counterparts, or without a value, is not judged (that is
    ``missing_in``'s job); neither is a record, on either side, whose
    ``time_field`` lies within ``grace`` of ``as_of`` (the other system may
    not have the change yet).

    Attributes:
        left: The records checked (the subjects of findings).
        right: The records they are compared with.
        field: The field compared on both sides, unless ``left_field`` and
            ``right_field`` name them separately.
        left_field: The left records' field.
        right_field: The right records' field.
        match: Fields a counterpart must agree on besides being the same
            customer (such as ``[invoice_id]``); ``left`` of ``left``, ``right`` of ``right``.
        absolute: Numbers: the largest difference that still agrees.
        relative: Numbers: the largest difference as a share of the larger value (0.01: 1%).
        window: Dates and times: the largest gap that still agrees.
        min_similarity: Text: the lowest similarity (0..1) that still agrees.
        scorer: Text: the rapidfuzz scorer (ratio, token_sort_ratio: word
            order ignored, token_set_ratio, partial_ratio).
    """

    kind: Literal["field_mismatch"] = "field_mismatch"
    entity_local = True
    left: Records
    right: Records
    field: str | None = None
    left_field: str | None = None
    right_field: str | None = None
    match: list[Pairing] = Field(default_factory=list)
    absolute: float | None = Field(default=None, ge=0)
    relative: float | None = Field(default=None, ge=0)
    window: Duration | None = None
    min_similarity: float = Field(default=1.0, ge=0, le=1)
    scorer: Literal["ratio", "token_sort_ratio", "token_set_ratio", "partial_ratio"] = "token_sort_ratio"

    story: ClassVar[str] = (
        "{system} {record_type} {record} has {field} '{value}', but {other_system} {other_type} "
        "{counterpart} of the same customer has '{other_value}' ({difference})."
    )
    facts: ClassVar[dict[str, str]] = {
        "system": "the source of the left record",
        "record_type": "its record type, in words",
        "record": "its id",
        "field": "the left field, in words",
        "value": "its value",
        "other_system": "the source of the closest right record",
        "other_type": "its record type, in words",
        "counterpart": "its id",
        "other_field": "the right field, in words",
        "other_value": "its value",
        "compared": "'number', 'date' or 'text'",
        "difference": "such as 'differs by 12.50, more than 1.00', '12 days apart, more than 2 days' "
        "or 'similarity 0.62, below 0.90'",
        "counterparts": "how many right records it was compared with",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="email_differs",
        owner="account-management",
        params={
            "left": {"type": "account"},
            "right": {"type": "contact"},
            "field": "email",
        },
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN", "email": "ann.lee@example.com"}],
            "contact": [{"contact_id": "K-1", "name": "Ann Lee", "email": "ann.leigh@example.org"}],
        },
    )

    @model_validator(mode="after")
    def _fields_compare(self) -> FieldMismatchRule:
        left_field, right_field = self.left_field or self.field, self.right_field or self.field
        if left_field is None or right_field is None:
            raise ValueError("name the field compared: field (both sides), or left_field and right_field")
        check_field(self.left.type, left_field, "left_field" if self.left_field else "field")
        check_field(self.right.type, right_field, "right_field" if self.right_field else "field")
        check_pairs(self.match, self.left, self.right)
        compared = _comparison(field_kind(self.left.type, left_field), field_kind(self.right.type, right_field))
        if compared != "number" and (self.absolute is not None or self.relative is not None):
            raise ValueError(f"absolute and relative apply to numbers; {left_field!r} is compared as {compared}")
        if compared != "date" and self.window is not None:
            raise ValueError(f"window applies to dates and times; {left_field!r} is compared as {compared}")
        if compared != "text" and self.min_similarity != 1.0:
            raise ValueError(f"min_similarity applies to text; {left_field!r} is compared as {compared}")
        return self

    @property
    def fields(self) -> tuple[str, str]:
        return (self.left_field or self.field or "", self.right_field or self.field or "")

    @property
    def compared(self) -> Literal["number", "date", "text"]:
        left_field, right_field = self.fields
        return _comparison(field_kind(self.left.type, left_field), field_kind(self.right.type, right_field))

    def _agreement(self, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(agrees, closeness) per pair; higher closeness is nearer."""
        compared = self.compared
        if compared == "number":
            a = pd.to_numeric(pairs["_a"], errors="coerce").to_numpy(dtype=float)
            b = pd.to_numeric(pairs["_b"], errors="coerce").to_numpy(dtype=float)
            gap = np.abs(a - b)
            allowed = np.full(len(pairs), self.absolute or 0.0)
            if self.relative is not None:
                allowed = np.maximum(allowed, self.relative * np.maximum(np.abs(a), np.abs(b)))
            return gap <= allowed + 1e-9, -gap
        if compared == "date":
            a, b = pairs["_a"], pairs["_b"]
            kinds = (field_kind(self.left.type, self.fields[0]), field_kind(self.right.type, self.fields[1]))
            if "date" in kinds:
                a, b = a.dt.floor("D"), b.dt.floor("D")
            gap = (a - b).abs().dt.total_seconds().to_numpy(dtype=float)
            allowed = pd.Timedelta(self.window or dt.timedelta(0)).total_seconds()
            return gap <= allowed, -gap
        a_text = pairs["_a"].tolist()
        b_text = pairs["_b"].tolist()
        equal = np.array([x == y for x, y in zip(a_text, b_text, strict=True)], dtype=bool)
        score = np.ones(len(pairs))
        if (~equal).any():
            rest = np.flatnonzero(~equal)
            score[rest] = cpdist(
                [a_text[i] for i in rest], [b_text[i] for i in rest],
                scorer=_SCORERS[self.scorer], dtype=np.float64,
            ) / 100.0
        return equal | (score >= self.min_similarity - 1e-9), score

    def _prepare(self, frame: pd.DataFrame, name: str, record_type: str, column: str) -> pd.DataFrame:
        compared = self.compared
        raw = frame[name]
        if compared == "number":
            value = pd.to_numeric(raw, errors="coerce")
        elif compared == "date":
            value = pd.to_datetime(raw, utc=True, errors="coerce")
        else:
            folded = column_text(raw)
            lookup = {u: _fold(str(u)) or None for u in folded.dropna().unique()}
            value = folded.map(lookup)
        return with_columns(frame, **{column: value})[lambda f: f[column].notna()]

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        left_field, right_field = self.fields
        left = self.left.select(ctx)
        left = left[self.left.settled(left, ctx.as_of, self.grace)]
        right = self.right.select(ctx)
        right = right[self.right.settled(right, ctx.as_of, self.grace)]
        if left.empty or right.empty:
            return
        left = self._prepare(left, left_field, self.left.type, "_a")
        right = self._prepare(right, right_field, self.right.type, "_b")
        pairs = pair_up(left, right, self.match, ["_b", "_key"])
        if pairs.empty:
            return
        pairs = pairs.merge(left[["_rid", "_a"]], on="_rid")
        agrees, closeness = self._agreement(pairs)
        pairs = with_columns(pairs, _agrees=agrees, _near=closeness)
        fine = pairs.loc[pairs["_agrees"], "_rid"]
        differing = pairs[~pairs["_rid"].isin(fine)]
        if differing.empty:
            return
        counts = differing.groupby("_rid")["_rid_r"].size()
        closest = differing.sort_values(["_rid", "_near", "_key", "_rid_r"], ascending=[True, False, True, True],
                                        kind="stable").drop_duplicates("_rid")
        left_fields = self.left.fields(left_field, *(p.left for p in self.match))
        right_fields = self.right.fields(right_field, *(p.right for p in self.match))
        left_rows = group_rows(left[left["_rid"].isin(closest["_rid"])], "_rid", (*left_fields, "_ekey", "_conf"))
        right_rows = group_rows(right[right["_rid"].isin(closest["_rid_r"])], "_rid", (*right_fields, "_conf"))
        left_kind = field_kind(self.left.type, left_field)
        right_kind = field_kind(self.right.type, right_field)
        for pair in rows(_order(with_columns(closest, _key=closest["_rid"].map(left.set_index("_rid")["_key"]))),
                         ("_rid_r", "_near")):
            (row,) = left_rows[pair["_rid"]]
            (other,) = right_rows[pair["_rid_r"]]
            subject = records([row], self.left.type, left_fields, "left")[0]
            facts = {
                "system": str(row["_source"]),
                "record_type": _words(self.left.type),
                "record": _ident(row, self.left.type),
                "field": _field_words(left_field),
                "value": _value_text(row.get(left_field), left_kind),
                "other_system": str(other["_source"]),
                "other_type": _words(self.right.type),
                "counterpart": _ident(other, self.right.type),
                "other_field": _field_words(right_field),
                "other_value": _value_text(other.get(right_field), right_kind),
                "compared": self.compared,
                "difference": self._difference(float(pair["_near"])),
                "counterparts": int(counts[pair["_rid"]]),
            }
            yield self.finding(
                subject=subject,
                records=[subject, *records([other], self.right.type, right_fields, "right")],
                entity_id=entity_or_none(row["_ekey"]),
                confidence=min_confidence(row["_conf"], other["_conf"]),
                facts=facts,
            )

    def _difference(self, closeness: float) -> str:
        if self.compared == "number":
            allowed = self.absolute or 0.0
            shown = f"differs by {_money(-closeness)}"
            if self.relative is not None:
                return shown + f", more than {allowed:,.2f} or {self.relative:.0%}"
            return shown + (f", more than {allowed:,.2f}" if allowed else "")
        if self.compared == "date":
            gap = duration_text(dt.timedelta(seconds=-closeness))
            return f"{gap} apart" + (f", more than {duration_text(self.window)}" if self.window else "")
        shown = f"similarity {closeness:.2f}"
        return shown + (f", below {self.min_similarity:.2f}" if self.min_similarity < 1 else "")


# ---------------------------------------------------------------- status_mismatch


class StatusMismatchRule(BuiltinRule):
    """Two systems disagree about the state of the same thing (an account closed, its line active).

    ``agree`` is the table of states that go together: for a state of the
    ``left`` record (``closed``), the states its counterparts may be in
    (``[closed, disconnected]``). Each left record in one of those states is
    compared with the ``right`` records of the same customer that agree on
    every ``match`` pair; it is reported, with every counterpart in another
    state, when there is at least one. States are compared case-insensitively;
    left states the table does not list, and counterparts without a state, are
    not judged; neither is a record, on either side, whose ``time_field`` lies
    within ``grace`` of ``as_of`` (the change may not have reached the other system).

    Attributes:
        left: The records whose state decides what the others must be.
        right: The records that must agree.
        left_field: The left records' state field.
        right_field: The right records' state field.
        match: Fields a counterpart must agree on besides being the same customer.
        agree: Left state -> the right states that agree with it.
    """

    kind: Literal["status_mismatch"] = "status_mismatch"
    entity_local = True
    left: Records
    right: Records
    left_field: str = "status"
    right_field: str = "status"
    match: list[Pairing] = Field(default_factory=list)
    agree: dict[str, list[str]] = Field(min_length=1)

    story: ClassVar[str] = (
        "{system} {record_type} {record} has {field} {state}, but {counterparts} for the same "
        "customer (expected {expected})."
    )
    facts: ClassVar[dict[str, str]] = {
        "system": "the source of the left record",
        "record_type": "its record type, in words",
        "record": "its id",
        "field": "the left state field, in words",
        "state": "its state",
        "expected": "the states that agree with it, such as 'closed or disconnected'",
        "other_type": "the right record type, in words",
        "disagreeing": "how many right records disagree",
        "counterparts": "them and their states, such as 'inventory service line L-1 is active'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="closed_account_active_line",
        owner="billing",
        params={
            "left": {"type": "account", "time_field": "closed_at"},
            "right": {"type": "service_line"},
            "agree": {"closed": ["disconnected", "closed"]},
        },
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN", "status": "closed", "closed_at": "2026-09-30"}],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "status": "active"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "status": "disconnected"},
            ],
        },
    )

    @model_validator(mode="after")
    def _fields_exist(self) -> StatusMismatchRule:
        check_field(self.left.type, self.left_field, "left_field")
        check_field(self.right.type, self.right_field, "right_field")
        check_pairs(self.match, self.left, self.right)
        return self

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        table = pd.DataFrame(
            [(str(k).strip().casefold(), str(v).strip().casefold()) for k, vs in self.agree.items() for v in vs],
            columns=["_a", "_b"], dtype=object,
        ).drop_duplicates()
        left = self.left.select(ctx)
        left = left[self.left.settled(left, ctx.as_of, self.grace)]
        left = with_columns(left, _a=column_text(left[self.left_field]))
        left = left[left["_a"].isin({str(k).strip().casefold() for k in self.agree})]
        right = self.right.select(ctx)
        right = right[self.right.settled(right, ctx.as_of, self.grace)]
        right = with_columns(right, _b=column_text(right[self.right_field]))
        right = right[right["_b"].notna()]
        if left.empty or right.empty:
            return
        pairs = pair_up(left, right, self.match, ["_b"]).merge(left[["_rid", "_a"]], on="_rid")
        pairs = pairs.merge(with_columns(table, _fine=True), on=["_a", "_b"], how="left")
        wrong = pairs[pairs["_fine"].isna()]
        if wrong.empty:
            return
        left_fields = self.left.fields(self.left_field, *(p.left for p in self.match))
        right_fields = self.right.fields(self.right_field, *(p.right for p in self.match))
        others = right[right["_rid"].isin(wrong["_rid_r"])]
        other_rows = group_rows(_order(others), "_rid", (*right_fields, "_conf"))
        by_left = group_rows(wrong, "_rid", ("_rid_r",))
        order = {rid: n for n, rid in enumerate(other_rows)}
        for row in rows(_order(left[left["_rid"].isin(wrong["_rid"])]), (*left_fields, "_ekey", "_conf", "_a")):
            mine = sorted({p["_rid_r"] for p in by_left[row["_rid"]]}, key=order.__getitem__)
            counterparts = [other_rows[rid][0] for rid in mine]
            expected = next(vs for k, vs in self.agree.items() if str(k).strip().casefold() == row["_a"])
            subject = records([row], self.left.type, left_fields, "left")[0]
            facts = {
                "system": str(row["_source"]),
                "record_type": _words(self.left.type),
                "record": _ident(row, self.left.type),
                "field": _field_words(self.left_field),
                "state": text(row.get(self.left_field)),
                "expected": " or ".join(expected),
                "other_type": _words(self.right.type),
                "disagreeing": len(counterparts),
                "counterparts": "; ".join(
                    f"{r['_source']} {_words(self.right.type)} {_ident(r, self.right.type)} is "
                    f"{text(r.get(self.right_field))}"
                    for r in counterparts
                ),
            }
            yield self.finding(
                subject=subject,
                records=[subject, *records(counterparts, self.right.type, right_fields, "right")],
                entity_id=entity_or_none(row["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (row, *counterparts)]),
                facts=facts,
            )


# ---------------------------------------------------------------- duplicate


class DuplicateRule(BuiltinRule):
    """A customer has more records of one kind than there should be.

    The ``records`` of one customer that share the values of every ``per``
    field (compared case-insensitively; a record missing one is not counted)
    are reported when there are more than ``max_count`` of them. Records whose
    ``time_field`` lies within ``grace`` of ``as_of`` are not counted (the old
    one may be on its way out). The finding's subject is the oldest of them
    (by ``time_field``, then key), its detail key the ``per`` values, so it
    stays the same finding while the group lasts.

    Attributes:
        records: The records counted.
        per: Fields the duplicates share (such as ``[product]``); none: any record of the selection.
        max_count: How many such records a customer may have.
    """

    kind: Literal["duplicate"] = "duplicate"
    entity_local = True
    records: Records
    per: list[str] = Field(default_factory=list)
    max_count: int = Field(default=1, ge=1)

    story: ClassVar[str] = (
        "The customer has {count} {selection}{per_text} where at most {max_count} should be: {listing}."
    )
    facts: ClassVar[dict[str, str]] = {
        "count": "how many records the customer has",
        "max_count": "how many are expected at most",
        "selection": "what was counted, such as 'service lines with status active'",
        "per_text": "' of the same product (fiber_1g)', or '' without per",
        "listing": "the records, oldest first, such as 'inventory L-1 since 2025-03-02, inventory L-2 since 2026-10-01'",
        "first": "the oldest record's id (the subject)",
        "record_type": "the record type, in words",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="duplicate_lines",
        owner="provisioning",
        params={
            "records": {"type": "service_line", "where": [{"field": "status", "op": "eq", "value": "active"}],
                        "time_field": "activated_at"},
            "per": ["product"],
        },
        records={
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "activated_at": "2025-03-02"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "fiber_1g", "activated_at": "2026-09-20"},
                {"line_id": "L-3", "name": "Ann Lee", "product": "monitoring", "activated_at": "2026-09-20"},
            ],
        },
    )

    @model_validator(mode="after")
    def _fields_exist(self) -> DuplicateRule:
        for name in self.per:
            check_field(self.records.type, name, "per")
        return self

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        frame = self.records.select(ctx)
        frame = frame[self.records.settled(frame, ctx.as_of, self.grace)]
        columns = [f"_p{i}" for i in range(len(self.per))]
        frame = with_columns(frame, **{c: column_text(frame[name]) for c, name in zip(columns, self.per, strict=True)})
        if columns:
            frame = frame.dropna(subset=columns)
        if frame.empty:
            return
        group = frame["_ekey"].astype(str)
        for column in columns:
            group = group + "\x1f" + frame[column].astype(str)
        frame = with_columns(frame, _group=group)
        sizes = frame.groupby("_group")["_rid"].transform("size")
        frame = frame[sizes > self.max_count]
        if frame.empty:
            return
        fields = self.records.fields(*self.per)
        ordered = _order(frame, "_t")
        groups = group_rows(ordered, "_group", (*fields, "_ekey", "_conf", "_t", *columns))
        selection = _plural(2, self.records.type).split(" ", 1)[1]
        if self.records.where:
            selection += " with " + self.records.describe()
        for key in sorted(groups):
            members = groups[key]
            first = members[0]
            shown = [text(first.get(name)) for name in self.per]
            per_text = ""
            if self.per:
                per_text = " of the same " + " and ".join(_field_words(n) for n in self.per)
                per_text += f" ({', '.join(shown)})"
            listing = ", ".join(
                f"{r['_source']} {_ident(r, self.records.type)}"
                + (f" since {time_text(r['_t'], self.records.time_kind)}" if time_text(r["_t"], self.records.time_kind) else "")
                for r in members
            )
            involved = records(members, self.records.type, fields, "duplicate")
            facts = {
                "count": len(members),
                "max_count": self.max_count,
                "selection": selection,
                "per_text": per_text,
                "listing": listing,
                "first": _ident(first, self.records.type),
                "record_type": _words(self.records.type),
            }
            yield self.finding(
                subject=involved[0],
                records=involved,
                entity_id=entity_or_none(first["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in members]),
                facts=facts,
                detail_key="|".join(str(first[c]) for c in columns),
            )


# ---------------------------------------------------------------- balance


class BalanceRule(BuiltinRule):
    """Amounts in two systems that should balance do not (payments against invoices).

    The ``left`` and ``right`` amounts of one customer (``per: entity``) or
    of one parent record (``per: parent``: records of one account) are summed
    over the records dated in the ``window`` before ``as_of - grace`` (all
    records dated before it when there is no window; with a window, a record
    of unknown time is left out). The group is reported when the sums differ
    by more than ``absolute`` or ``relative`` (a share of the larger sum),
    in the direction ``report`` asks for. The finding's subject is the parent
    record (``per: parent``), or the customer's ``anchor`` record with the
    lowest key (``per: entity``).

    Attributes:
        left: The records of the first sum (such as invoices).
        right: The records of the second sum (such as successful payments).
        amount: The amount field on both sides, unless ``left_amount`` and
            ``right_amount`` name them separately.
        left_amount: The left records' amount field.
        right_amount: The right records' amount field.
        per: ``entity``: one sum per customer; ``parent``: one per parent
            record (both sides must hang off the same record type).
        anchor: ``per: entity``: the record type a finding is about
            (default: the left records' parent type, or their own type).
        window: Only records dated in this period before ``as_of - grace``
            (each side needs a ``time_field``); ``None``: all records.
        absolute: The largest difference that still balances.
        relative: The largest difference as a share of the larger sum.
        report: ``any`` difference, or only when the ``left_higher`` or
            ``right_higher`` sum is the larger.
    """

    kind: Literal["balance"] = "balance"
    entity_local = True
    left: Records
    right: Records
    amount: str | None = None
    left_amount: str | None = None
    right_amount: str | None = None
    per: Literal["entity", "parent"] = "entity"
    anchor: RecordTypeName | None = None
    window: Duration | None = None
    absolute: float = Field(default=0.01, ge=0)
    relative: float = Field(default=0.0, ge=0)
    report: Literal["any", "left_higher", "right_higher"] = "any"

    story: ClassVar[str] = (
        "For {anchor_type} {anchor}, {left_text} {period} do not balance {right_text}: "
        "{difference_text}."
    )
    facts: ClassVar[dict[str, str]] = {
        "anchor_type": "the record type the group is about, in words",
        "anchor": "its id",
        "left_total": "the left sum",
        "right_total": "the right sum",
        "difference": "left sum minus right sum",
        "left_count": "number of left records summed",
        "right_count": "number of right records summed",
        "left_text": "'3 invoices totalling 150.00'",
        "right_text": "'2 payments totalling 100.00'",
        "period": "'in the 90 days before 2026-10-31' or 'dated before 2026-10-31'",
        "difference_text": "'the invoices exceed the payments by 50.00 (tolerance 0.01)'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="invoices_vs_payments",
        owner="billing",
        params={
            "left": {"type": "invoice", "time_field": "due_date"},
            "right": {"type": "payment", "where": [{"field": "status", "op": "eq", "value": "succeeded"}],
                      "time_field": "attempted_at"},
            "amount": "amount",
            "per": "parent",
            "window": "90 days",
            "absolute": 1.0,
        },
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "invoice": [
                {"invoice_id": f"I-{m}", "account_id": "AC-1", "amount": 50.0, "due_date": f"2026-{m:02d}-15"}
                for m in (8, 9, 10)
            ],
            "payment": [
                {"payment_id": "P-8", "account_id": "AC-1", "amount": 50.0, "status": "succeeded",
                 "attempted_at": "2026-08-14T09:00:00Z"},
                {"payment_id": "P-9", "account_id": "AC-1", "amount": 50.0, "status": "failed",
                 "attempted_at": "2026-09-14T09:00:00Z"},
                {"payment_id": "P-10", "account_id": "AC-1", "amount": 50.0, "status": "succeeded",
                 "attempted_at": "2026-10-14T09:00:00Z"},
            ],
        },
    )

    @model_validator(mode="after")
    def _amounts_and_groups(self) -> BalanceRule:
        left_amount, right_amount = self.amounts
        if not left_amount or not right_amount:
            raise ValueError("name the amounts: amount (both sides), or left_amount and right_amount")
        for side, records_, name in (("left", self.left, left_amount), ("right", self.right, right_amount)):
            check_field(records_.type, name, f"{side}_amount" if getattr(self, f"{side}_amount") else "amount")
            if field_kind(records_.type, name) != "number":
                raise ValueError(f"{name!r} of {records_.type} is not a number")
            if self.window is not None and records_.time_field is None:
                raise ValueError(f"a window needs {side}.time_field: when each record happened")
        if self.per == "parent":
            parents = {t: RECORD_TYPES[t].parent for t in (self.left.type, self.right.type)}
            kinds = {p.parent_type if p else None for p in parents.values()}
            if None in kinds or len(kinds) != 1:
                raise ValueError(
                    "per: parent needs both sides to hang off the same record type "
                    f"(left {self.left.type}, right {self.right.type}); use per: entity"
                )
        return self

    @property
    def amounts(self) -> tuple[str | None, str | None]:
        return (self.left_amount or self.amount, self.right_amount or self.amount)

    @property
    def anchor_type(self) -> str:
        if self.per == "parent" or self.anchor is None:
            parent = RECORD_TYPES[self.left.type].parent
            return parent.parent_type if parent else self.left.type
        return str(self.anchor)

    def _in_window(self, side: Records, frame: pd.DataFrame, ctx: RuleContext) -> pd.DataFrame:
        if side.time_field is None:
            return frame
        end = cutoff_day(ctx.as_of, self.grace) if side.time_kind == "date" else (
            pd.Timestamp(ctx.as_of) - pd.Timedelta(self.grace))
        if self.window is None:
            return frame[frame["_t"].isna() | (frame["_t"] < end)]
        start = end - pd.Timedelta(self.window)
        return frame[(frame["_t"] >= start) & (frame["_t"] < end)]

    def _groups(self, side: Records, frame: pd.DataFrame) -> pd.Series:
        if self.per == "entity":
            return frame["_ekey"].astype(str)
        parent = parent_rid(frame, side.type)
        return parent.where(parent.notna(), "~" + frame["_rid"].astype(str)).astype(str)

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        left_amount, right_amount = self.amounts
        assert left_amount is not None and right_amount is not None
        sides = []
        for side, name in ((self.left, left_amount), (self.right, right_amount)):
            frame = self._in_window(side, side.select(ctx), ctx)
            frame = with_columns(frame, _amount=pd.to_numeric(frame[name], errors="coerce").fillna(0.0))
            sides.append(with_columns(frame, _group=self._groups(side, frame)))
        left, right = sides
        totals = pd.concat(
            [left.groupby("_group")["_amount"].agg(["sum", "size"]).add_prefix("l_"),
             right.groupby("_group")["_amount"].agg(["sum", "size"]).add_prefix("r_")],
            axis=1,
        ).fillna(0)
        if totals.empty:
            return
        diff = totals["l_sum"] - totals["r_sum"]
        allowed = np.maximum(self.absolute, self.relative * np.maximum(totals["l_sum"].abs(), totals["r_sum"].abs()))
        off = diff.abs() > allowed + 1e-9
        if self.report == "left_higher":
            off &= diff > 0
        elif self.report == "right_higher":
            off &= diff < 0
        totals = totals[off]
        if totals.empty:
            return
        anchors = self._anchors(ctx, left, right, set(totals.index))
        left_fields = self.left.fields(left_amount)
        right_fields = self.right.fields(right_amount)
        left_rows = group_rows(_order(left[left["_group"].isin(totals.index)], "_t"), "_group",
                               (*left_fields, "_conf", "_ekey"))
        right_rows = group_rows(_order(right[right["_group"].isin(totals.index)], "_t"), "_group",
                                (*right_fields, "_conf", "_ekey"))
        period = self._period(ctx)
        for group in sorted(totals.index):
            lefts, rights = left_rows.get(group, []), right_rows.get(group, [])
            anchor, anchor_type = anchors.get(group, (None, self.anchor_type))
            involved = [*records(lefts, self.left.type, left_fields, "left"),
                        *records(rights, self.right.type, right_fields, "right")]
            confidences = [r["_conf"] for r in (*lefts, *rights)]
            if anchor is not None:
                subject = records([anchor], anchor_type, _anchor_fields(anchor_type), "anchor")[0]
                involved.insert(0, subject)
                confidences.append(anchor["_conf"])
            else:  # no anchor record: the group's first record stands for it
                subject = involved[0]
                anchor_type = self.left.type if lefts else self.right.type
            l_sum, r_sum = float(totals.at[group, "l_sum"]), float(totals.at[group, "r_sum"])
            gap = round(l_sum - r_sum, 2)
            tolerance = max(self.absolute, self.relative * max(abs(l_sum), abs(r_sum)))
            facts = {
                "anchor_type": _words(anchor_type),
                "anchor": subject.key if anchor is None else _ident(anchor, anchor_type),
                "left_total": round(l_sum, 2),
                "right_total": round(r_sum, 2),
                "difference": gap,
                "left_count": len(lefts),
                "right_count": len(rights),
                "left_text": f"{_plural(len(lefts), self.left.type)} totalling {_money(l_sum)}",
                "right_text": f"{_plural(len(rights), self.right.type)} totalling {_money(r_sum)}",
                "period": period,
                "difference_text": f"{self._exceeds(gap)} by {_money(abs(gap))} (tolerance {_money(tolerance)})",
            }
            ekey = (lefts or rights)[0]["_ekey"] if (lefts or rights) else None
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(anchor["_ekey"] if anchor is not None else ekey),
                confidence=min_confidence(confidences),
                facts=facts,
            )

    def _anchors(
        self, ctx: RuleContext, left: pd.DataFrame, right: pd.DataFrame, groups: set[str]
    ) -> dict[str, tuple[dict[str, Any], str]]:
        """Per group, the record the finding is about, with its type."""
        anchor_type = self.anchor_type
        table = ctx.table(anchor_type)
        if table.empty:
            return {}
        from reconcile.rules._common import confidence, entity_key

        table = with_columns(table, _ekey=entity_key(table), _conf=confidence(table))
        if self.per == "parent":
            table = table[table["_rid"].isin(groups)].assign(_group=lambda f: f["_rid"])
        else:
            table = table[table["_ekey"].astype(str).isin(groups)]
            table = _order(table).drop_duplicates("_ekey").assign(_group=lambda f: f["_ekey"].astype(str))
        found = group_rows(table, "_group", (*_anchor_fields(anchor_type), "_ekey", "_conf"))
        return {group: (members[0], anchor_type) for group, members in found.items()}

    def _period(self, ctx: RuleContext) -> str:
        end = pd.Timestamp(ctx.as_of) - pd.Timedelta(self.grace)
        shown_end = time_text(end, self.left.time_kind or "date")
        if self.window is None:
            return f"dated before {shown_end}"
        return f"in the {duration_text(self.window)} before {shown_end}"

    def _exceeds(self, gap: float) -> str:
        names = [_plural(2, t).split(" ", 1)[1] for t in (self.left.type, self.right.type)]
        if names[0] == names[1]:
            names = [f"first {names[0]}", f"second {names[1]}"]
        more, less = names if gap > 0 else names[::-1]
        return f"the {more} exceed the {less}"


def _anchor_fields(record_type: str) -> tuple[str, ...]:
    model = RECORD_TYPES[record_type]
    names = [model.key_field, *(n for n in ("name", "company", "status") if n in model.model_fields)]
    return tuple(names)


# ---------------------------------------------------------------- stale


class StaleRule(BuiltinRule):
    """Something happened long ago and nothing followed it (a device silent, a case untouched).

    Each record whose ``time_field`` is more than ``older_than`` (plus
    ``grace``) before ``as_of`` is reported unless a ``follow_up`` record of
    the same customer, agreeing on every ``match`` pair, happened at or after
    it (and not after ``as_of``). A record of unknown time is not judged; a
    follow-up of unknown time does not count (unless ``follow_up`` has no
    ``time_field``: then any follow-up counts). Without ``follow_up``, every
    record older than the threshold is reported.

    Attributes:
        record: The records that go stale; ``time_field`` is required.
        older_than: How old a record may get without a follow-up.
        follow_up: The records that count as following it up; ``None``: none does.
        match: Fields a follow-up must agree on besides being the same
            customer (``[device_id]``); ``left`` of ``record``, ``right`` of ``follow_up``.
    """

    kind: Literal["stale"] = "stale"
    entity_local = True
    record: Records
    older_than: Duration
    follow_up: Records | None = None
    match: list[Pairing] = Field(default_factory=list)

    story: ClassVar[str] = (
        "{system} {record_type} {record} has {field} {time}, {age} ago and more than {threshold}"
        "{follow_up_text}."
    )
    facts: ClassVar[dict[str, str]] = {
        "system": "the source of the record",
        "record_type": "its record type, in words",
        "record": "its id",
        "field": "the time field, in words",
        "time": "its value",
        "age": "how long ago, such as '9 days' or '30 hours'",
        "age_hours": "the same in whole hours",
        "threshold": "older_than, such as '3 days'",
        "follow_up_type": "the follow-up record type in words, or None",
        "last_follow_up": "when the last follow-up before it happened, or None",
        "follow_up_text": "', and no alert followed it' (with the last earlier one if any), or ''",
    }
    example: ClassVar[RuleExample] = RuleExample(
        id="device_silent",
        owner="service",
        params={
            "record": {"type": "device_status", "time_field": "last_heartbeat"},
            "older_than": "72 hours",
            "follow_up": {"type": "alert", "time_field": "sent_at"},
            "match": ["device_id"],
            "grace": "0 hours",
        },
        records={
            "service_line": [{"line_id": "L-1", "name": "Ann Lee", "product": "monitoring", "device_id": "HUB-1"},
                             {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "device_id": "HUB-2"}],
            "device_status": [
                {"device_id": "HUB-1", "status": "offline", "last_heartbeat": "2026-10-23T16:05:00Z"},
                {"device_id": "HUB-2", "status": "offline", "last_heartbeat": "2026-10-20T08:00:00Z"},
            ],
            "alert": [
                {"alert_id": "A-1", "device_id": "HUB-1", "sent_at": "2026-09-02T10:00:00Z", "kind": "offline"},
                {"alert_id": "A-2", "device_id": "HUB-2", "sent_at": "2026-10-20T09:00:00Z", "kind": "offline"},
            ],
        },
    )

    @model_validator(mode="after")
    def _times_exist(self) -> StaleRule:
        if self.record.time_field is None:
            raise ValueError("record.time_field is required: the time that goes stale")
        if self.match and self.follow_up is None:
            raise ValueError("match needs a follow_up to match against")
        if self.follow_up is not None:
            check_pairs(self.match, self.record, self.follow_up)
        if self.older_than <= dt.timedelta(0):
            raise ValueError("older_than must be a positive duration such as '72 hours'")
        return self

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        frame = self.record.select(ctx)
        limit = self.older_than + self.grace
        if self.record.time_kind == "date":
            cut = cutoff_day(ctx.as_of, limit)
        else:
            cut = pd.Timestamp(ctx.as_of) - pd.Timedelta(limit)
        frame = frame[frame["_t"].notna() & (frame["_t"] < cut)]
        if frame.empty:
            return
        earlier: dict[Any, list[dict[str, Any]]] = {}
        follow_fields: tuple[str, ...] = ()
        if self.follow_up is not None:
            follow = self.follow_up.select(ctx)
            pairs = pair_up(frame, follow, self.match, ["_t", "_key"]).merge(
                frame[["_rid", "_t"]].rename(columns={"_t": "_t0"}), on="_rid")
            if self.follow_up.time_field is None:
                done = pairs["_rid"]
                before = pairs.iloc[0:0]
            else:
                after = pairs["_t"] >= pairs["_t0"]
                done = pairs.loc[after, "_rid"]
                before = pairs[(pairs["_t"] < pairs["_t0"]) & ~pairs["_rid"].isin(done)]
            frame = frame[~frame["_rid"].isin(done)]
            before = before.sort_values(["_rid", "_t", "_key", "_rid_r"], kind="stable").drop_duplicates(
                "_rid", keep="last")
            follow_fields = self.follow_up.fields(*(p.right for p in self.match))
            last = follow[follow["_rid"].isin(before["_rid_r"])]
            last_rows = group_rows(last, "_rid", (*follow_fields, "_conf", "_t"))
            earlier = {p["_rid"]: last_rows[p["_rid_r"]] for p in rows(before, ("_rid_r",))}
        fields = self.record.fields(*(p.left for p in self.match))
        follow_type = None if self.follow_up is None else _words(self.follow_up.type)
        for row in rows(_order(frame), (*fields, "_ekey", "_conf", "_t")):
            previous = earlier.get(row["_rid"], [])
            age = pd.Timestamp(ctx.as_of) - row["_t"]
            last_follow_up = time_text(previous[0]["_t"], self.follow_up.time_kind) if (
                previous and self.follow_up is not None) else None
            follow_up_text = ""
            if follow_type is not None:
                follow_up_text = f", and no {follow_type} followed it"
                if last_follow_up:
                    follow_up_text += f" (the last one was on {last_follow_up})"
            subject = records([row], self.record.type, fields, "record")[0]
            involved = [subject]
            if previous and self.follow_up is not None:
                involved += records(previous, self.follow_up.type, follow_fields, "earlier_follow_up")
            facts = {
                "system": str(row["_source"]),
                "record_type": _words(self.record.type),
                "record": _ident(row, self.record.type),
                "field": _field_words(self.record.time_field or ""),
                "time": time_text(row["_t"], self.record.time_kind),
                "age": age_text(age),
                "age_hours": int(age.total_seconds() // 3600),
                "threshold": duration_text(self.older_than),
                "follow_up_type": follow_type,
                "last_follow_up": last_follow_up,
                "follow_up_text": follow_up_text,
            }
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(row["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (row, *previous)]),
                facts=facts,
            )


GENERIC_RULES: Sequence[type[BuiltinRule]] = (
    MissingInRule,
    FieldMismatchRule,
    StatusMismatchRule,
    DuplicateRule,
    BalanceRule,
    StaleRule,
)
