"""Company names: one key however the legal form, "&" and punctuation are written."""

from __future__ import annotations

import re

from reconcile.normalise._text import as_text, fold

__all__ = ["LEGAL_SUFFIXES", "company_name"]

#: Legal-form words dropped from the end of a company name (after dots are
#: removed, so "L.L.C." is "llc"). Multi-word forms are tuples of words.
LEGAL_SUFFIXES: frozenset[tuple[str, ...]] = frozenset(
    tuple(form.split())
    for form in (
        "inc", "incorporated", "corp", "corporation", "co", "cos", "company", "companies",
        "llc", "l l c", "lc", "llp", "l l p", "lllp", "lp", "l p", "pllc", "pc", "p c",
        "ltd", "limited", "plc", "gmbh", "ag", "kg", "sa", "sas", "sarl", "srl", "spa",
        "bv", "nv", "oy", "ab", "pty", "pte", "ulc", "kk",
    )
)
_LONGEST = max(len(form) for form in LEGAL_SUFFIXES)

_DROPPED = re.compile(r"['\u2019`.]")
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def _strip_legal_form(words: list[str]) -> list[str]:
    """Drop legal forms (and a dangling "and", as in "Smith & Co.") from the end."""
    changed = True
    while changed:
        changed = False
        for size in range(min(_LONGEST, len(words) - 1), 0, -1):
            if tuple(words[-size:]) in LEGAL_SUFFIXES:
                del words[-size:]
                changed = True
                break
        if len(words) > 1 and words[-1] == "and":
            words.pop()
            changed = True
    return words


def company_name(value: object) -> str | None:
    """Normalise a company name to a comparison key, lower-case ASCII.

    Accents and case are folded, "&" (and "+") read as "and", punctuation
    is removed, whitespace collapsed, a leading "the" and trailing legal forms
    (Inc, Incorporated, LLC, L.L.C., Corp, Co, Company, Ltd, Limited, GmbH,
    PLC...) are dropped. A name is never reduced to nothing: "The Company"
    keeps "company".

    Examples:
        >>> company_name("SMITH AND JONES PLUMBING LLC")
        'smith and jones plumbing'
        >>> company_name("Smith & Jones Plumbing, L.L.C.")
        'smith and jones plumbing'
        >>> company_name("The Keller Auto Repair Co.")
        'keller auto repair'
    """
    text = as_text(value)
    if text is None:
        return None
    folded = fold(text).replace("&", " and ").replace("+", " and ")
    words = _NOT_WORD.sub(" ", _DROPPED.sub("", folded)).split()
    if not words:
        return None
    while len(words) > 1 and words[0] == "the":
        words.pop(0)
    words = _strip_legal_form(words)
    while len(words) > 1 and words[0] == "the":
        words.pop(0)
    return " ".join(words)
