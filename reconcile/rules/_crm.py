"""CRM kinds: ``name_mismatch`` (story 3) and ``unresolved_low_survey`` (story 2)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import pandas as pd
from pydantic import Field
from rapidfuzz import fuzz

from reconcile.findings import Finding
from reconcile.rules._common import (
    BuiltinRule,
    column_values,
    confidence,
    day,
    distinct_values,
    entity_key,
    entity_or_none,
    group_rows,
    min_confidence,
    normalised,
    pairs_on,
    parent_rid,
    per_row,
    plural,
    records,
    rows,
    take,
    text,
    utc,
    with_columns,
)
from reconcile.rules.base import RuleContext
from reconcile.rules.example import RuleExample

__all__ = ["NameMismatchRule", "UnresolvedLowSurveyRule"]

ProducingType = Literal["account", "service_line", "vehicle", "recall_notice"]
_ACCOUNTS: list[ProducingType] = ["account"]
_NAME_COLUMNS = ("_n_given", "_n_family", "_n_company")
_KEY_FIELDS = {
    "account": "account_id",
    "service_line": "line_id",
    "vehicle": "vehicle_id",
    "recall_notice": "notice_id",
}
NAME_FIELDS = ("name", "given_name", "family_name", "company")
SURVEY_FIELDS = ("survey_id", "contact_id", "score", "scale_max", "responded_at", "topic")
CONTACT_FIELDS = ("contact_id", "name", "given_name", "family_name", "company", "email", "phone")


_PAIRED = ("_rid", "company", *_NAME_COLUMNS)
#: A record type's differing pairs: the records' rows and the contacts' rows by rid, and the pairs per record rid.
_Differing = tuple[dict[Any, list[dict[str, Any]]], dict[Any, list[dict[str, Any]]], dict[Any, list[dict[str, Any]]]]


class _Side(NamedTuple):
    """What pairing reads of one side's records: rid, company and normalised names, by position.

    ``columns`` are the table's own columns (not copied), or for a table
    without the normalised names a normalised copy of the paired rows (as
    :func:`normalised` computes them); ``at[i]`` is the ``i``-th paired
    record's position in ``columns``, ``row[i]`` its position in the table
    (where :func:`_rows_of` takes the fields of the few records a finding
    shows) and ``ekey[i]`` its entity key. At a million customers every field
    of every record and contact (taken whole, then again for the contacts of
    the records' entities) was this rule's largest use of memory, and then
    the paired rows' columns copied into frames.
    """

    columns: dict[str, np.ndarray]
    at: np.ndarray
    row: np.ndarray
    ekey: np.ndarray


def _side(table: pd.DataFrame, record_type: str, rows: np.ndarray, ekey: np.ndarray) -> _Side:
    """The :class:`_Side` of the records at positions ``rows`` of ``table``, whose entity keys are ``ekey``."""
    if all(c in table.columns for c in _NAME_COLUMNS):
        columns = {c: np.asarray(column_values(table[c]), dtype=object) for c in _PAIRED}
        return _Side(columns, rows, rows, ekey[rows])
    frame = normalised(take(table, table.columns, rows), record_type, _NAME_COLUMNS)
    columns = {c: frame[c].to_numpy(dtype=object) for c in _PAIRED}
    return _Side(columns, np.arange(len(rows)), rows, ekey[rows])


def _rows_of(table: pd.DataFrame, fields: tuple[str, ...], side: _Side, chosen: np.ndarray) -> pd.DataFrame:
    """The ``fields`` of the paired records ``chosen`` (positions among them), read from ``table``, with ``_ekey`` and ``_conf``."""
    out = take(table, fields, side.row[chosen])
    return with_columns(out, _ekey=side.ekey[chosen], _conf=confidence(out))


def _company_written(side: _Side) -> np.ndarray:
    """Per column position: a company is written and normalises to something."""
    return (_present(pd.Series(side.columns["company"], dtype=object)).to_numpy()
            & pd.notna(side.columns["_n_company"]))


def _present(series: pd.Series) -> pd.Series:
    if series.dtype == object:
        # Each distinct value read once; only when every one is text (as astype("string") reads it).
        codes, distinct = distinct_values(series)
        if len(distinct) and pd.api.types.infer_dtype(distinct, skipna=False) == "string":
            written = per_row(codes, [v.strip() != "" for v in distinct.tolist()], False, bool)
            return pd.Series(written, index=series.index, name=series.name)
    return series.notna() & (series.astype("string").str.strip() != "").fillna(False).astype(bool)


def _written(row: dict[str, Any], company: bool) -> str:
    """The name as the system writes it."""
    if company:
        return text(row.get("company"))
    name = text(row.get("name"))
    if name:
        return name
    return " ".join(p for p in (text(row.get("given_name")), text(row.get("family_name"))) if p)


def _difference(pair: dict[str, Any], company: bool) -> str:
    if company:
        return f"company name '{pair['_n_company']}' differs from '{pair['_n_company_crm']}'"
    parts = []
    if pair["_n_family"] != pair["_n_family_crm"]:
        parts.append(f"family name '{pair['_n_family']}' differs from '{pair['_n_family_crm']}'")
    if _given_differs(pair["_n_given"], pair["_n_given_crm"]):
        parts.append(f"given name '{pair['_n_given']}' differs from '{pair['_n_given_crm']}'")
    return " and ".join(parts)


def _given_differs(a: Any, b: Any) -> bool:
    # A given name only one side writes down is a formatting difference.
    if not isinstance(a, str) or not isinstance(b, str) or not a or not b:
        return False
    return a != b


class NameMismatchRule(BuiltinRule):
    """The name the customer gave the CRM differs from the name another system uses.

    Each record of ``record_types`` (default: billing accounts, the system
    that prints the name) is compared with the CRM contacts of its entity, on
    the normalised names: company names when both records have a company
    (legal suffixes, case, punctuation, "&"/"and" ignored), else person names
    (given and family name; case, accents, "LAST, FIRST" order, titles,
    middle names and nicknames ignored; a given name written on one side only
    is ignored). The record is reported when it agrees with none of the
    contacts it can be compared with. Records no entity holds have no contact,
    so they are never reported.

    Attributes:
        record_types: The producing systems' record types to check.
    """

    kind: Literal["name_mismatch"] = "name_mismatch"
    entity_local = True
    record_types: list[ProducingType] = Field(default_factory=lambda: _ACCOUNTS.copy(), min_length=1)

    story: ClassVar[str] = (
        "{system} {record_type} {record} is in the name '{name}', but the customer gave the CRM "
        "'{crm_name}' (contact {contact}): the {differs}; correct the name in {system} before "
        "anything else is printed with it."
    )
    facts: ClassVar[dict[str, str]] = {
        "system": "the source holding the record (such as 'billing')",
        "record_type": "its record type ('account')",
        "record": "its id",
        "name": "the name as that system writes it",
        "contact": "the CRM contact compared with (the closest one)",
        "crm_name": "the name as the CRM writes it",
        "compared": "'company' or 'person'",
        "differs": "what differs after normalisation, such as \"family name 'smyth' differs from 'smith'\"",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="account-management",
        records={
            "account": [{"account_id": "AC-1", "name": "SMYTHE, ANN", "company": None}],
            "contact": [{"contact_id": "K-1", "given_name": "Ann", "family_name": "Smith"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        # Every record type's differing pairs are found, and the frames they were found
        # in dropped, before any finding is made: held beside the findings, the pairing
        # frames were the rule's peak of memory.
        for record_type, differing in self._differing(ctx):
            yield from self._findings(record_type, *differing)

    def _differing(self, ctx: RuleContext) -> list[tuple[str, _Differing]]:
        """Per record type (in order), the rows of its records that differ from every contact they are compared with."""
        table = ctx.table("contact")
        if table.empty:
            return []
        ekey = entity_key(table).to_numpy(dtype=object)
        contacts = _side(table, "contact", np.flatnonzero(pd.notna(ekey)), ekey)
        found: list[tuple[str, _Differing]] = []
        for record_type in sorted(set(self.record_types)):
            differing = self._check(ctx, record_type, contacts)
            if differing is not None:
                found.append((record_type, differing))
        return found

    def _check(self, ctx: RuleContext, record_type: str, contacts: _Side) -> _Differing | None:
        """The differing pairs of ``record_type``'s records, with the rows of the records and contacts in them."""
        table = ctx.table(record_type)
        if table.empty:
            return None
        ekey = entity_key(table)
        rows = np.flatnonzero(ekey.isin(contacts.ekey).to_numpy())
        if not len(rows):
            return None
        records = _side(table, record_type, rows, ekey.to_numpy(dtype=object))
        del ekey, rows
        # Every record paired with every contact of its entity, by position: at a
        # million customers the merged frame of both sides' columns was the run's
        # peak of memory; only the pairs that differ are made into rows. Contacts of
        # entities without a record pair with nothing, so they are not filtered out
        # first (a hash pass and a copy of the contacts' frame).
        at_left, at_right = pairs_on(pd.Series(records.ekey, dtype=object), pd.Series(contacts.ekey, dtype=object))
        if not len(at_left):
            return None
        # Each pair's positions in the columns read.
        col_left, col_right = records.at[at_left], contacts.at[at_right]
        values, crm_values = records.columns, contacts.columns
        by_company = _company_written(records)[col_left] & _company_written(contacts)[col_right]
        families = pd.notna(values["_n_family"][col_left]) & pd.notna(crm_values["_n_family"][col_right])
        comparable = by_company | families
        # Only comparable pairs are compared: a company where both write one, else the person.
        ask = np.flatnonzero(comparable)
        ask_left, ask_right = col_left[ask], col_right[ask]
        company_pairs = by_company[ask]
        del col_left, col_right, by_company, families, comparable

        def equal(column: str, where: np.ndarray) -> np.ndarray:
            a, b = values[column][ask_left[where]], crm_values[column][ask_right[where]]
            return np.asarray(a == b, dtype=bool)

        same = np.zeros(len(ask), dtype=bool)
        on_company = np.flatnonzero(company_pairs)
        same[on_company] = equal("_n_company", on_company)
        on_person = np.flatnonzero(~company_pairs)
        givens = (pd.notna(values["_n_given"][ask_left[on_person]])
                  & pd.notna(crm_values["_n_given"][ask_right[on_person]]))
        same_given = ~givens
        same_given[givens] = equal("_n_given", on_person[givens])
        same[on_person] = equal("_n_family", on_person) & same_given
        # The records no comparable contact agrees with (by their place among the paired records).
        record_of = at_left[ask]
        agrees = np.zeros(len(records.at), dtype=bool)
        agrees[record_of[same]] = True
        keep = np.flatnonzero(~agrees[record_of])
        if not len(keep):
            return None
        left, right = ask_left[keep], ask_right[keep]
        differing = pd.DataFrame(
            {
                "_rid": values["_rid"][left],
                "_ekey": records.ekey[record_of[keep]],
                **{c: values[c][left] for c in ("company", *_NAME_COLUMNS)},
                **{f"{c}_crm": crm_values[c][right] for c in ("_rid", "company", *_NAME_COLUMNS)},
                "_by_company": company_pairs[keep],
            }
        )
        fields = (_KEY_FIELDS[record_type], *NAME_FIELDS)
        producing = group_rows(
            _rows_of(table, fields, records, np.unique(record_of[keep])), "_rid", (*fields, "_ekey", "_conf")
        )
        told = group_rows(
            _rows_of(ctx.table("contact"), CONTACT_FIELDS, contacts, np.unique(at_right[ask][keep])),
            "_rid",
            (*CONTACT_FIELDS, "_conf"),
        )
        options = group_rows(differing, "_rid", differing.columns)
        return producing, told, options

    def _findings(
        self,
        record_type: str,
        producing: dict[Any, list[dict[str, Any]]],
        told: dict[Any, list[dict[str, Any]]],
        options: dict[Any, list[dict[str, Any]]],
    ) -> Iterator[Finding]:
        """One finding per differing record, with the contact whose name is closest."""
        fields = (_KEY_FIELDS[record_type], *NAME_FIELDS)
        for rid in sorted(options):
            pair = self._closest(options[rid])
            (row,) = producing[rid]
            (contact,) = told[pair["_rid_crm"]]
            company = bool(pair["_by_company"])
            subject = records([row], record_type, fields, "producing_record")[0]
            involved = [subject, *records([contact], "contact", CONTACT_FIELDS, "crm_contact")]
            facts = {
                "system": str(row["_source"]),
                "record_type": record_type.replace("_", " "),
                "record": text(row.get(_KEY_FIELDS[record_type]), str(row["_key"])),
                "name": _written(row, company),
                "contact": text(contact.get("contact_id"), str(contact["_key"])),
                "crm_name": _written(contact, company),
                "compared": "company" if company else "person",
                "differs": _difference(pair, company),
            }
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(row["_ekey"]),
                confidence=min_confidence(row["_conf"], contact["_conf"]),
                facts=facts,
            )

    @staticmethod
    def _closest(options: list[dict[str, Any]]) -> dict[str, Any]:
        """The contact whose name is nearest: the most useful one to show."""
        best: tuple[float, str] | None = None
        chosen: dict[str, Any] = {}
        for pair in options:
            if pair["_by_company"]:
                a, b = text(pair["_n_company"]), text(pair["_n_company_crm"])
            else:
                a = f"{text(pair['_n_given'])} {text(pair['_n_family'])}"
                b = f"{text(pair['_n_given_crm'])} {text(pair['_n_family_crm'])}"
            rank = (-fuzz.ratio(a, b), str(pair["_rid_crm"]))
            if best is None or rank < best:
                best, chosen = rank, pair
        return chosen


class UnresolvedLowSurveyRule(BuiltinRule):
    """A low survey score from a customer who has an unresolved problem of another kind.

    A survey with ``score / scale_max`` at most ``max_score_ratio``, answered
    within ``within_days`` before ``as_of``, whose entity has a finding of
    another kind in this run: the experience the score is about. Evaluated
    after every other rule. A survey whose contact no entity holds cannot be
    linked to any finding, so it is never reported.

    Attributes:
        max_score_ratio: Highest score (as a share of the scale) that counts as low.
        within_days: How recent the answer must be, in days before ``as_of``.
    """

    kind: Literal["unresolved_low_survey"] = "unresolved_low_survey"
    max_score_ratio: float = Field(default=0.4, ge=0, le=1)
    within_days: int = Field(default=180, ge=1)

    needs_findings: ClassVar[bool] = True
    story: ClassVar[str] = (
        "The customer scored {score_text} on {responded} (survey {survey}) and has {related_text}: "
        "call them about that problem, not only about the score."
    )
    facts: ClassVar[dict[str, str]] = {
        "survey": "the survey response id",
        "score": "the score given",
        "scale": "the top of the scale",
        "score_text": "'2/10'",
        "responded": "the day it was answered",
        "contact": "the CRM contact who answered",
        "related_count": "number of findings of other kinds for the customer",
        "related_kinds": "their kinds, comma-separated",
        "related_owners": "the teams that own them, comma-separated",
        "related_text": "'an unresolved failed_autopay finding on billing account AC-1 (owner billing)'",
    }
    example: ClassVar[RuleExample] = RuleExample(
        owner="customer-experience",
        before=[{"id": "billed_not_provisioned", "kind": "billed_not_provisioned", "owner": "provisioning"}],
        records={
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [{"subscription_id": "S-1", "account_id": "AC-1", "product": "monitoring",
                              "start_date": "2026-06-01"}],
            "contact": [{"contact_id": "K-1", "name": "Ann Lee"}],
            "survey": [{"survey_id": "SR-1", "contact_id": "K-1", "score": 2, "scale_max": 10,
                        "responded_at": "2026-10-20T10:00:00Z"}],
        },
    )

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        surveys = ctx.table("survey")
        related: dict[str, list[Finding]] = defaultdict(list)
        for finding in ctx.findings:
            if finding.kind != self.kind and finding.rule_id != self.id and finding.entity_id is not None:
                related[finding.entity_id].append(finding)
        if surveys.empty or not related:
            return
        score = pd.to_numeric(surveys["score"], errors="coerce")
        scale = pd.to_numeric(surveys["scale_max"], errors="coerce")
        answered = utc(surveys["responded_at"])
        earliest = pd.Timestamp(ctx.as_of) - pd.Timedelta(dt.timedelta(days=self.within_days))
        low = (scale > 0) & (score / scale <= self.max_score_ratio) & (answered >= earliest)
        surveys = surveys[low.fillna(False)]
        surveys = with_columns(surveys,
            _ekey=entity_key(surveys), _conf=confidence(surveys), _when=answered[surveys.index],
            _contact=parent_rid(surveys, "survey"),
        )
        surveys = surveys[surveys["_ekey"].isin(list(related))]
        contacts = ctx.table("contact")
        contacts = contacts[contacts["_rid"].isin(surveys["_contact"])]
        contacts = group_rows(with_columns(contacts, _conf=confidence(contacts)), "_rid", (*CONTACT_FIELDS, "_conf"))
        for survey in rows(surveys.sort_values("_rid"), (*SURVEY_FIELDS, "_ekey", "_conf", "_when", "_contact")):
            others = sorted(
                related[survey["_ekey"]],
                key=lambda f: (f.kind, f.subject.source, f.subject.record_type, f.subject.key, f.detail_key),
            )
            subject = records([survey], "survey", SURVEY_FIELDS, "survey")[0]
            contact = contacts.get(survey["_contact"], [])
            involved = [
                subject,
                *records(contact, "contact", CONTACT_FIELDS, "contact"),
                *(f.subject.model_copy(update={"role": f"{f.kind}_subject"}) for f in others),
            ]
            described = [
                f"{f.kind} finding on {f.subject.source} {f.subject.record_type.replace('_', ' ')} "
                f"{f.subject.key} (owner {f.owner})"
                for f in others
            ]
            if len(others) == 1:
                related_text = f"an unresolved {described[0]}"
            else:
                related_text = f"{plural(len(others), 'unresolved finding')}: " + "; ".join(described)
            score_value, scale_value = float(survey["score"]), float(survey["scale_max"])
            facts = {
                "survey": text(survey.get("survey_id"), str(survey["_key"])),
                "score": score_value,
                "scale": scale_value,
                "score_text": f"{score_value:g}/{scale_value:g}",
                "responded": day(survey["_when"]),
                "contact": text(survey.get("contact_id")),
                "related_count": len(others),
                "related_kinds": ", ".join(sorted({f.kind for f in others})),
                "related_owners": ", ".join(sorted({f.owner for f in others})),
                "related_text": related_text,
            }
            yield self.finding(
                subject=subject,
                records=involved,
                entity_id=entity_or_none(survey["_ekey"]),
                confidence=min_confidence([r["_conf"] for r in (survey, *contact)], [f.confidence for f in others]),
                facts=facts,
            )
