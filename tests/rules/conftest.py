"""Hand-made worlds for rule tests: lists of dicts -> the tables a rule sees.

``make_tables(account=[{...}], invoice=[{...}])`` builds one DataFrame per
record type with every canonical column and the meta columns the pipeline
adds: ``_source`` (a default per type, such as ``billing``), ``_key`` (the key
field), ``_rid``, ``_entity`` (identity records: ``E-1`` unless given),
``_confidence`` (1.0) and, for dependent records, ``_parent_rid`` with the
parent's entity and confidence (looked up like the pipeline does: same
source first, then any source). Any of them can be given in a row. The
normalised ``_n_*`` columns come from the normalise stage; a value given in
a row wins.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import pytest

from reconcile.findings import Finding
from reconcile.model import RECORD_TYPES
from reconcile.rules.base import META_COLUMNS, Rule, RuleContext
from reconcile.rules.engine import evaluate_rules
from reconcile.rules.example import DEFAULT_SOURCES

AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
TODAY = AS_OF.date()

SOURCES = DEFAULT_SOURCES  # the source each record type comes from unless a row says

# Values of required fields that a test does not care about.
DEFAULTS: dict[str, dict[str, Any]] = {
    "invoice": {"amount": 50.0, "status": "open"},
    "payment": {"amount": 50.0},
    "survey": {"scale_max": 10.0},
}

NORMALISED = ("_n_given", "_n_family", "_n_person", "_n_company", "_n_phone", "_n_email",
              "_n_street", "_n_unit", "_n_postal", "_n_address", "_n_vin")


def days_ago(n: float) -> dt.date:
    return (AS_OF - dt.timedelta(days=n)).date()


def at(days: float = 0, hours: float = 0) -> dt.datetime:
    """A moment ``days`` and ``hours`` before AS_OF."""
    return AS_OF - dt.timedelta(days=days, hours=hours)


def _real_normaliser() -> Any:
    try:
        from reconcile.normalise import normalise_table
    except ImportError:
        return None
    return normalise_table


HAVE_NORMALISER = _real_normaliser() is not None


def make_tables(**rows_by_type: Sequence[Mapping[str, Any]]) -> dict[str, pd.DataFrame]:
    """Tables as the pipeline hands them to rules (see the module docstring)."""
    frames: dict[str, pd.DataFrame] = {}
    for record_type, rows in rows_by_type.items():
        model = RECORD_TYPES[record_type]
        filled = []
        for row in rows:
            row = {**DEFAULTS.get(record_type, {}), **row}
            out = {name: row.get(name, _default(info)) for name, info in model.model_fields.items()}
            out["_source"] = row.get("_source", SOURCES[record_type])
            out["_key"] = str(row.get("_key", out[model.key_field]))
            out["_rid"] = f"{out['_source']}:{record_type}:{out['_key']}"
            for meta in ("_entity", "_confidence", "_parent_rid"):
                if meta in row:
                    out[meta] = row[meta]
            if model.identity:
                out.setdefault("_entity", "E-1")
                out.setdefault("_confidence", 1.0)
                out.setdefault("_parent_rid", None)
            out.update({k: v for k, v in row.items() if k.startswith("_n_")})
            filled.append(out)
        columns = list(model.model_fields) + list(META_COLUMNS)
        frame = pd.DataFrame.from_records(filled, columns=columns) if filled else pd.DataFrame(
            {c: pd.Series(dtype=object) for c in columns}
        )
        for row_frame_col in {k for r in filled for k in r if k.startswith("_n_")}:
            frame[row_frame_col] = [r.get(row_frame_col, _MISSING) for r in filled]
        frames[record_type] = frame
    for record_type, frame in frames.items():
        if RECORD_TYPES[record_type].identity:
            frames[record_type] = _normalise(frame, record_type)
    return _attach(frames, rows_by_type)


_MISSING = object()


def _default(info: Any) -> Any:
    """The model's default for a field a row leaves out (None for a required one)."""
    return None if info.is_required() else info.get_default(call_default_factory=True)


def _normalise(frame: pd.DataFrame, record_type: str) -> pd.DataFrame:
    given = {c: frame[c].copy() for c in frame.columns if c.startswith("_n_")}
    base = frame.drop(columns=list(given))
    real = _real_normaliser()
    out = real(base, record_type) if real is not None else _stand_in(base)
    for column, values in given.items():
        keep = values.map(lambda v: v is not _MISSING)
        out[column] = values.where(keep, out.get(column))
    return out


def _attach(frames: dict[str, pd.DataFrame], rows_by_type: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[
    str, pd.DataFrame
]:
    for record_type, frame in frames.items():
        parent = RECORD_TYPES[record_type].parent
        if parent is None:
            continue
        parents = frames.get(parent.parent_type)
        given = rows_by_type[record_type]
        values: dict[str, list[Any]] = {"_parent_rid": [], "_entity": [], "_confidence": []}
        for position, row in enumerate(frame.to_dict("records")):
            found = None
            if parents is not None and row[parent.field] is not None:
                ref = str(row[parent.field])
                matches = parents[parents[parent.parent_field].astype(str) == ref]
                same = matches[matches["_source"] == row["_source"]]
                chosen = same if not same.empty else matches
                if not chosen.empty:
                    found = chosen.iloc[0]
            explicit = given[position]
            values["_parent_rid"].append(
                explicit.get("_parent_rid", None if found is None else found["_rid"])
            )
            values["_entity"].append(explicit.get("_entity", None if found is None else found["_entity"]))
            values["_confidence"].append(
                explicit.get("_confidence", None if found is None else found["_confidence"])
            )
        for column, column_values in values.items():
            frame[column] = pd.Series(column_values, index=frame.index, dtype=object)
    return frames


def context(findings: Iterable[Finding] = (), as_of: dt.datetime = AS_OF, **rows_by_type: Any) -> RuleContext:
    return RuleContext(as_of=as_of, tables=make_tables(**rows_by_type), findings=list(findings))


def run(rule: Rule, ctx: RuleContext) -> list[Finding]:
    return evaluate_rules([rule], ctx)


def subjects(findings: Iterable[Finding]) -> list[str]:
    return sorted(f.subject.key for f in findings)


def roles(finding: Finding) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in finding.records:
        out.setdefault(record.role or "", []).append(record.key)
    return out


@pytest.fixture
def as_of() -> dt.datetime:
    return AS_OF


# ---------------------------------------------------------------- stand-in normaliser
# Used only until reconcile.normalise ships; it knows just enough for these
# fixtures (the real one is tested with the normalise stage).

_TITLES = {"mr", "mrs", "ms", "dr", "jr", "sr", "ii", "iii"}
_NICK = {"bob": "robert", "rob": "robert", "bill": "william", "liz": "elizabeth", "jim": "james"}
_LEGAL = {"inc", "llc", "ltd", "corp", "co"}
_STREET = {"street": "st", "avenue": "ave", "road": "rd", "north": "n", "south": "s"}


def _ascii(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    return unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode().lower()


def _person(row: Mapping[str, Any]) -> tuple[str | None, str | None]:
    name = _ascii(row.get("name"))
    if not name:
        given = _ascii(row.get("given_name")).split()
        family = _ascii(row.get("family_name")).split()
        g = given[0] if given else None
        return (_NICK.get(g, g) if g else None), (" ".join(family) or None)
    if "," in name:
        family, _, rest = name.partition(",")
        words = [w for w in re.split(r"[^a-z]+", rest) if w and w not in _TITLES]
        family_words = [w for w in re.split(r"[^a-z]+", family) if w]
        g = words[0] if words else None
        return (_NICK.get(g, g) if g else None), " ".join(family_words) or None
    words = [w for w in re.split(r"[^a-z]+", name) if w and w not in _TITLES]
    if not words:
        return None, None
    g = words[0] if len(words) > 1 else None
    return (_NICK.get(g, g) if g else None), words[-1]


def _company(value: Any) -> str | None:
    text = _ascii(value).replace("&", " and ")
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w]
    while words and words[-1] in _LEGAL:
        words.pop()
    return " ".join(words) or None


def _street(value: Any) -> str | None:
    words = [_STREET.get(w, w) for w in re.split(r"[^a-z0-9]+", _ascii(value)) if w]
    return " ".join(words) or None


def _vin(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    return re.sub(r"[\s-]", "", value.upper()).replace("O", "0").replace("I", "1").replace("Q", "0")


def _stand_in(frame: pd.DataFrame) -> pd.DataFrame:
    rows = frame.to_dict("records")
    out = frame.copy()
    people = [_person(r) for r in rows]
    out["_n_given"] = [p[0] for p in people]
    out["_n_family"] = [p[1] for p in people]
    out["_n_person"] = [f"{p[0] or ''} {p[1] or ''}".strip() or None for p in people]
    out["_n_company"] = [_company(r.get("company")) for r in rows]
    out["_n_street"] = [_street(r.get("street")) for r in rows]
    out["_n_unit"] = [re.sub(r"[^0-9a-z]", "", _ascii(r.get("unit")).replace("apt", "")) or None
                      for r in rows]
    out["_n_postal"] = [str(r.get("postal_code"))[:5] if r.get("postal_code") else None for r in rows]
    out["_n_address"] = [f"{s}|{u or ''}|{p}" if s and p else None
                         for s, u, p in zip(out["_n_street"], out["_n_unit"], out["_n_postal"], strict=True)]
    out["_n_vin"] = [_vin(r.get("vin")) for r in rows]
    out["_n_phone"] = None
    out["_n_email"] = [_ascii(r.get("email")) or None for r in rows]
    return out
