"""Company names: legal forms, "&" and punctuation are formatting only."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconcile.normalise import company_name


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("SMITH AND JONES PLUMBING LLC", "smith and jones plumbing"),
        ("Smith & Jones Plumbing, L.L.C.", "smith and jones plumbing"),
        ("Smith & Jones Plumbing, LLC", "smith and jones plumbing"),
        ("Smith and Jones Plumbing", "smith and jones plumbing"),
        ("Blue River Dental, Inc.", "blue river dental"),
        ("BLUE RIVER DENTAL INCORPORATED", "blue river dental"),
        ("The Keller Auto Repair Co.", "keller auto repair"),
        ("Keller Auto Repair Company", "keller auto repair"),
        ("Acme Corp.", "acme"),
        ("ACME CORPORATION", "acme"),
        ("Müller Maschinenbau GmbH", "muller maschinenbau"),
        ("Tesco PLC", "tesco"),
        ("Smith & Co.", "smith"),
        ("Baker Bros., Co., Inc.", "baker bros"),
        ("Joe's  Café", "joes cafe"),
        ("L. L. C. Holdings LLC", "l l c holdings"),
        ("The Company", "company"),
        ("Inc.", "inc"),
        ("...", None),
        (None, None),
    ],
)
def test_company_names(written: str | None, expected: str | None) -> None:
    assert company_name(written) == expected


def test_a_misspelling_is_not_formatting() -> None:
    assert company_name("SMIHT & SONS LLC") != company_name("Smith and Sons, Inc.")


@given(st.text(max_size=60))
def test_normalising_twice_is_normalising_once(text: str) -> None:
    once = company_name(text)
    assert company_name(once) == once


words = st.lists(
    st.sampled_from(["Blue", "River", "Smith", "&", "Jones", "Dental", "Auto", "Repair", "Golden", "Gate"]),
    min_size=1, max_size=5,
).filter(lambda ws: ws[0] != "&" and ws[-1] != "&")
SUFFIX_SPELLINGS = {
    "llc": ["LLC", "L.L.C.", ", LLC", ", L.L.C.", " llc"],
    "inc": ["Inc.", ", Inc.", "Inc", "INCORPORATED", ", Incorporated"],
    "corp": ["Corp.", "Corp", "Corporation", ", CORP."],
    "co": ["Co.", "Co", "Company", "& Co."],
    "ltd": ["Ltd.", "Ltd", "Limited", ", LTD"],
}


@given(words, st.sampled_from(sorted(SUFFIX_SPELLINGS)), st.data())
def test_legal_form_variants_give_one_key(company: list[str], form: str, data: st.DataObject) -> None:
    keys = set()
    for spelling in [*SUFFIX_SPELLINGS[form], ""]:
        as_and = data.draw(st.booleans())
        upper = data.draw(st.booleans())
        text = " ".join(("and" if as_and else "&") if w == "&" else w for w in company)
        text = text + spelling if spelling.startswith(",") else f"{text} {spelling}"
        keys.add(company_name(text.upper() if upper else text))
    assert len(keys) == 1, keys
