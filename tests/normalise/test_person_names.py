"""Person names: formatting differences vanish, real differences stay."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reconcile.demo import _data as D
from reconcile.normalise import formal_given_name, nicknames, person_name
from reconcile.normalise._names import PARTICLES, SUFFIXES, TITLES


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("SMITH, ROBERT J", ("robert", "smith")),
        ("Dr. Bob Smith Jr.", ("robert", "smith")),
        ("Robert James Smith", ("robert", "smith")),
        ("Mrs. María Núñez", ("maria", "nunez")),
        ("NUNEZ, MARIA ELENA", ("maria", "nunez")),
        ("Ms. Abby Le", ("abigail", "le")),
        ("LE, ABIGAIL", ("abigail", "le")),
        ("Mr. Jim Thomas Sr.", ("james", "thomas")),
        ("Prof. Elizabeth Warren PhD", ("elizabeth", "warren")),
        ("Peggy Olson III", ("margaret", "olson")),
        ("Robert Smith, Jr.", ("robert", "smith")),
        ("Smith, Jr., Robert", ("robert", "smith")),
        ("Mary Smith-Jones", ("mary", "smith jones")),
        ("SMITH-JONES, MARY", ("mary", "smith jones")),
        ("Maria de la Cruz", ("maria", "de la cruz")),
        ("DE LA CRUZ, MARIA", ("maria", "de la cruz")),
        ("Patrick O'Brien", ("patrick", "obrien")),
        ("Mary-Kate Olsen", ("mary", "olsen")),
        ("Søren Kierkegaard", ("soren", "kierkegaard")),
        ("Straße, Jürgen", ("jurgen", "strasse")),
        ("Md Rahman", ("md", "rahman")),  # Md abbreviates Mohammed at the front: not a suffix
        ("Smith", (None, "smith")),
        ("Dr.", (None, "dr")),
        ("  ", (None, None)),
    ],
)
def test_whole_names(written: str, expected: tuple[str | None, str | None]) -> None:
    assert person_name(written) == expected


def test_fields_win_and_the_whole_name_fills_the_gaps() -> None:
    assert person_name(given="Bob", family="Smith Jr.") == ("robert", "smith")
    assert person_name("Bob Smith", given="Robert") == ("robert", "smith")
    assert person_name("SMITH, ROBERT", family="Smyth") == ("robert", "smyth")
    assert person_name(None, None, None) == (None, None)
    assert person_name(float("nan"), given=None, family="Lee") == (None, "lee")


def test_real_differences_survive() -> None:
    assert person_name("SMYTH, ROBERT") != person_name("Robert Smith")
    assert person_name("Anne Lea") != person_name("Ann Lee")
    # Sam could be Samuel or Samantha: the table leaves it alone.
    assert person_name("Sam Hart")[0] == "sam"


def test_the_nickname_table_is_large_and_unambiguous() -> None:
    table = nicknames()
    assert len(table) >= 150
    assert all(k == k.lower().strip() and v == v.lower().strip() for k, v in table.items())
    # Applying it twice changes nothing: no formal name is itself a nickname.
    assert not set(table.values()) & set(table)
    for nick, formal in [("bob", "robert"), ("bill", "william"), ("liz", "elizabeth"), ("jim", "james"),
                         ("abby", "abigail"), ("peggy", "margaret")]:
        assert table[nick] == formal
    assert "sam" not in table and "alex" not in table and "chris" not in table
    with pytest.raises(TypeError):
        table["bob"] = "bobert"  # type: ignore[index]


@pytest.mark.parametrize(("formal", "nick"), sorted(D.CRM_NICKNAMES.items()))
def test_every_demo_crm_nickname_resolves(formal: str, nick: str) -> None:
    assert formal_given_name(nick.lower()) == formal.lower()
    assert person_name(f"{nick} Smith") == person_name(f"SMITH, {formal.upper()}")


def test_the_inventory_nicknames_resolve_except_the_ambiguous_sam() -> None:
    unresolved = {
        nick for formal, nick in D.INVENTORY_NICKNAMES.items() if formal_given_name(nick.lower()) != formal.lower()
    }
    assert unresolved == {"Sam"}


# ---------------------------------------------------------------- properties

LETTERS = "abcdefghijklmnopqrstuvwxyzáàâäãåçéèêëíìîïñóòôöõúùûüýÿ"
_RESERVED = TITLES | SUFFIXES | PARTICLES


def _plain(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()


word = (
    st.text(alphabet=LETTERS, min_size=2, max_size=10)
    .map(str.capitalize)
    .filter(lambda w: _plain(w) not in _RESERVED and _plain(w) not in nicknames())
)


@given(st.text(max_size=40), st.text(max_size=20), st.text(max_size=20))
def test_normalising_twice_is_normalising_once(name: str, given_: str, family: str) -> None:
    once = person_name(name, given_ or None, family or None)
    assert person_name(given=once[0], family=once[1]) == once


@given(word, word, st.sampled_from(["", "J", "Ann", "Q."]), st.sampled_from(["", "Mr. ", "Dr. "]),
       st.sampled_from(["", " Jr.", " III"]))
def test_last_first_order_is_formatting_only(given_: str, family: str, middle: str, title: str,
                                             suffix: str) -> None:
    expected = (_plain(given_), _plain(family))
    spaced = f" {middle} " if middle else " "
    assert person_name(f"{title}{given_}{spaced}{family}{suffix}") == expected
    assert person_name(f"{family.upper()}, {given_.upper()}{spaced.rstrip()}") == expected
    assert person_name(given=given_, family=family) == expected
    assert person_name(f"{expected[1]}, {expected[0]}") == expected


@given(st.lists(word, min_size=1, max_size=4).map(" ".join), st.booleans())
def test_case_and_accents_do_not_matter(name: str, comma: bool) -> None:
    if comma:
        name = name.replace(" ", ", ", 1)
    assume(name.strip())
    assert person_name(name.upper()) == person_name(name) == person_name(name.lower())
    assert person_name(_plain(name)) == person_name(name)


@given(st.sampled_from(sorted(nicknames().items())), word)
def test_a_nickname_is_its_formal_name(pair: tuple[str, str], family: str) -> None:
    nick, formal = pair
    assert person_name(f"{nick.title()} {family}") == person_name(f"{family}, {formal.title()}")
