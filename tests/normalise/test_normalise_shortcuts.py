"""The shortcuts the normalisers take for common shapes give what their general paths give (Hypothesis).

Each shortcut is compared with the general path it stands in for, over
generated values of the shape it serves, near misses and arbitrary text:

* a street line led by a house number is read once per distinct rest of the
  line (``_numbered_rest``): equal to the general ``_split_line``; a
  table's street lines are split as arrays (``_street_lines``): equal to
  ``_split`` of each;
* an ASCII person's name is read part by part ("LAST, FIRST M", each
  distinct part once) or, made of plain words, without the general
  cleaning: equal to ``_parse_general``;
* phone numbers are read as arrays (``phones``): plain North American
  numbers by array operations and Arrow's regular expressions, equal to
  ``phone`` of each; email addresses likewise (``emails``), equal to
  ``email`` of each;
* VINs are cleaned as arrays (``vins``), equal to ``vin`` of each;
* the usual names ("Keith Vaughn", "Mr. Troy Rogers", "VAUGHN, KEITH E")
  are read as arrays (``_parse_usual``): equal to ``_parse`` where it
  reads one, null where it leaves a name to ``_parse``;
* a table whose names are whole names only (no given or family name
  fields) parses each distinct name alone, and one whose names are given
  and family name fields only reads each field by itself: equal to
  ``person_name``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from reconcile.normalise import normalise_table, person_name
from reconcile.normalise._address import (
    _BARE_UNITS,
    _SAME_WORDS,
    DIRECTIONALS,
    STREET_TYPES,
    UNIT_DESIGNATORS,
    _split,
    _split_line,
)
from reconcile.normalise._contact import (
    _valid_in_us,
    _valid_in_us_array,
    email,
    emails,
    phone,
    phones,
)
from reconcile.normalise._names import (
    PARTICLES,
    SUFFIXES,
    TITLES,
    _parse,
    _parse_general,
    _parse_usual,
    nicknames,
)
from reconcile.normalise._table import _Coded, _Pool, _shared_texts, _street_lines
from reconcile.normalise._text import _arrow_text
from reconcile.normalise._vin import vin, vins

settings.register_profile("shortcuts", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
SHORTCUTS = settings.get_profile("shortcuts")

# Words a street line is made of, as systems write them (any case, dotted, glued units, PO boxes...).
STREET_WORDS = sorted({*STREET_TYPES, *DIRECTIONALS, *UNIT_DESIGNATORS, *_BARE_UNITS, *_SAME_WORDS}) + [
    "Maple", "MAIN", "Lake", "Highway", "County", "of", "the", "Americas", "po", "box", "p.o.", "rr", "rural",
    "route", "bx", "4B", "4-B", "12", "1/2", "#", "#4", "apt4b", "ste200", "no5", "a", "x", "St.", "N.",
    "O'Neil", "Núñez", "Straße", "-", "/", ",", "&", "\u2019", "ﬁ", "Ⅻ", "٣", "\t",
]


def cased(word: str) -> st.SearchStrategy[str]:
    return st.sampled_from([word, word.upper(), word.title(), word + "."])


street_rest = st.one_of(
    st.lists(st.sampled_from(STREET_WORDS).flatmap(cased), min_size=0, max_size=7).map(" ".join),
    st.text(max_size=30),
    st.text(alphabet=" #-/.,0123456789abcdefghijklmnopqrstuvwxyz", max_size=30),
)
house_number = st.one_of(st.from_regex(r"[0-9]{1,6}", fullmatch=True), st.sampled_from(["0", "00", "1", "123"]))


@SHORTCUTS
@given(house_number, street_rest)
@example("12", "Main St 4B")  # usaddress is asked: the whole line is read
@example("12", "Main St Apt 4")
@example("123", "1/2 N Main St #4")
@example("9", "#4B")  # a unit right after the number
@example("9", "# 12 Main St")
@example("5", "")
@example("5", " ")
@example("77", "Massachusetts Ave Bldg 10 Rm 200")
def test_a_numbered_street_line_is_read_as_the_general_path_reads_it(number: str, rest: str) -> None:
    line = f"{number} {rest}"
    assert _split(line) == _split_line(line)


@SHORTCUTS
@given(st.text(max_size=30))
def test_any_street_line_is_read_as_the_general_path_reads_it(line: str) -> None:
    assert _split(line) == _split_line(line)


NAME_WORDS = sorted({*TITLES, *SUFFIXES, *PARTICLES}) + sorted(nicknames())[:40] + [
    "Robert", "SMITH", "Keller", "J", "A", "v", "Mary-Kate", "smith-jones", "-", "O'Neil", "D`Arcy", "St.",
    "Dr.", "Jr.", "M.", "María", "Núñez", "Zoë", "\u212aelvin", "x2", "3rd", "", "\u2019",
]
name_separators = st.sampled_from([" ", " ", " ", ", ", ",", " , ", "  ", "\t", ". "])


@st.composite
def written_names(draw: st.DrawFn) -> str:
    words = draw(st.lists(st.sampled_from(NAME_WORDS).flatmap(cased), min_size=1, max_size=6))
    text = words[0]
    for word in words[1:]:
        text += draw(name_separators) + word
    return text


@SHORTCUTS
@given(st.one_of(written_names(), st.text(max_size=24), st.text(alphabet="ab ,.-'JrDM", max_size=16)))
@example("SMITH, ROBERT J")
@example("Dr. Bob Smith Jr.")
@example("Mr. Benjamin Alvarez")
@example("Maria de la Cruz")
@example("DE LA CRUZ, MARIA")
@example("Dr, Jr")  # nothing kept: the general path
@example("Mr Dr")
@example("Jr Dr")  # a suffix first, all titles and suffixes: the general path
@example("Jr. Smith")
@example("Smith, Dr.")
@example("Dr. Smith")
@example("John Smith III")
def test_a_name_is_read_as_the_general_path_reads_it(name: str) -> None:
    assert _parse(name) == _parse_general(name)


def _usual_pairs(names: list[str | None]) -> list[tuple[str | None, str | None]]:
    arr = _arrow_text(np.array(names, dtype=object))
    assert arr is not None
    given_names, families = _parse_usual(arr)
    return list(zip(given_names.to_pylist(), families.to_pylist(), strict=True))


@SHORTCUTS
@given(st.lists(st.one_of(written_names(), st.none(), st.text(max_size=24),
                          st.text(alphabet="ab ,.-'JrDM", max_size=16)), max_size=20))
@example(["Maria de la Cruz", "Mr. Maria de Cruz", "Mr Ben de Cruz", "Mr. Ben Cruz Jr.", "Dr Mr Smith", "Mr. Smith",
          "Mr Jr Smith", "Jr Smith", "John Smith III", "DE LA CRUZ, MARIA", "SMITH, DR", "JR, ROBERT",
          "SMITH, ROBERT J.", "Sm.ith, Rob.ert", "SMITH,ROBERT", "Smith  Jones", "Mr. Troy Rogers", "Bob Smith",
          "Mrs. Peggy St John", "Mr. Al Ten", None])
def test_usual_names_as_arrays_are_parse_of_each(names: list[str | None]) -> None:
    for name, (given_name, family) in zip(names, _usual_pairs(names), strict=True):
        assert (given_name is None) == (family is None)
        if family is not None:
            assert name is not None
            assert (given_name, family) == _parse(name) == _parse_general(name)


def test_the_usual_names_take_the_array_path() -> None:
    names = ["Keith Vaughn", "Mr. Troy Rogers", "VAUGHN, KEITH E", "Ms. Peggy A. Olsen", "Maria de la Cruz",
             "Mr. De Smith", "Dr. Samantha Marshall Sr.", "Núñez, María"]
    assert _usual_pairs(names) == [("keith", "vaughn"), ("troy", "rogers"), ("keith", "vaughn"), ("margaret", "olsen"),
                                   (None, None), ("de", "smith"), (None, None), (None, None)]


ten_digits = st.one_of(st.from_regex(r"[2-9][0-9]{2}[2-9][0-9]{6}", fullmatch=True),
                       st.from_regex(r"[0-9]{10}", fullmatch=True))
PHONE_LAYOUTS = ["({a}) {e}-{n}", "({a}){e}-{n}", "{a}.{e}.{n}", "{a}-{e}-{n}", "+1 {a} {e} {n}", "+1-{a}-{e}-{n}",
                 "+1({a}) {e}-{n}", "{a}{e}{n}", "+1{a}{e}{n}", "1 {a} {e} {n}", "{a} {e} {n} x12", " {a}{e}{n}",
                 "+44 {a} {e} {n}", "{a}{e}{n}\n", "{a}.{e}-{n}", "({a} {e}-{n}", "{a}{e}{n}5", "+1 {a}  {e} {n}"]


@st.composite
def written_phones(draw: st.DrawFn) -> str | None:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.text(max_size=20))
    digits = draw(ten_digits)
    layout = draw(st.sampled_from(PHONE_LAYOUTS))
    return layout.format(a=digits[:3], e=digits[3:6], n=digits[6:])


@SHORTCUTS
@given(st.lists(st.tuples(written_phones(), st.sampled_from(["US", "US", "CA", "GB", "DE"])), max_size=30))
@example([("(206) 384-0143", "US"), ("+1 206 384 0143", "GB"), ("206.384.0143", "GB"), ("555-0100", "US"),
          ("+44 20 7946 0958", "US"), ("020 7946 0958", "GB"), (None, "US"), ("(800) 555-0199", "US"),
          ("2042345678", "US"), ("\ud800 206 384 0143", "US"), ("\uff12063840143", "US")])
def test_phones_as_an_array_are_phone_of_each(cells: list[tuple[str | None, str]]) -> None:
    texts = np.array([t.strip() or None if t is not None else None for t, _ in cells], dtype=object)
    regions = np.array([r for _, r in cells], dtype=object)
    assert phones(texts, regions).tolist() == [phone(t, r) for t, r in zip(texts, regions, strict=True)]


@SHORTCUTS
@given(st.lists(ten_digits, max_size=50))
def test_the_us_patterns_in_arrow_are_the_us_patterns(digits: list[str]) -> None:
    assert _valid_in_us_array(digits).tolist() == [_valid_in_us(d) for d in digits]


EMAIL_PARTS = ["jane.doe", "JANE.DOE", "billing52623", "a", "o'brien", "x+y", "a..b", ".a", "a.", "Ä", "\u212a", "",
               "@", "mailto:", "MAILTO:", "<", ">", " ", "\n", "example.com", "Example.COM", "mail.example.co.uk",
               "-x.com", "x-.com", "x.c", "x.c0m", "b\u00fccher.de", "{|}~", "`"]


@st.composite
def written_emails(draw: st.DrawFn) -> str | None:
    kind = draw(st.integers(0, 5))
    if kind == 0:
        return None
    if kind == 1:
        return draw(st.text(max_size=24)).strip() or None
    local, domain = draw(st.sampled_from(EMAIL_PARTS)), draw(st.sampled_from(EMAIL_PARTS))
    text = draw(st.sampled_from(["{}@{}", "<{}@{}>", "mailto:{}@{}", "{}{}", "{}@@{}", "{}@{}>", "< {}@{} >"]))
    return text.format(local, domain).strip() or None


@SHORTCUTS
@given(st.lists(written_emails(), max_size=30))
@example(["Jane.Doe@Example.COM", "mailto:bob@example.com", "<ann@example.org>", "not an email", None,
          "MAILTO:X@Y.ORG", "\u212a@example.com", "a@b.c\n", "\ud800@example.com"])
def test_emails_as_an_array_are_email_of_each(cells: list[str | None]) -> None:
    texts = np.array(cells, dtype=object)
    assert emails(texts).tolist() == [email(t) for t in cells]


@SHORTCUTS
@given(st.lists(st.one_of(written_names(), st.none(), st.just("  "), st.integers(0, 9)), min_size=1, max_size=12))
def test_whole_names_alone_in_a_table_are_person_name_of_each(names: list[object]) -> None:
    out = normalise_table(pd.DataFrame({"name": names}, dtype=object), "contact")
    for name, given_name, family, person in zip(names, out["_n_given"], out["_n_family"], out["_n_person"],
                                                strict=True):
        expected = person_name(name)
        assert (given_name, family) == expected
        assert person == (" ".join(p for p in expected if p) or None)


VIN_PIECES = ["1HGCM82633A004352", "1hg-cv1f3 0na00o001", "iq0", "IOQ", "-", " ", ".", "ß", "ı", "\u212a", "Ⅸ",
              "ﬁ", "0", "x", "\t"]


@SHORTCUTS
@given(st.lists(st.one_of(st.none(), st.text(max_size=20),
                          st.lists(st.sampled_from(VIN_PIECES), max_size=4).map("".join)), max_size=30))
@example(["1m8gdm9axkp0427 88", "short", "---", "ß1", "\ud800abc", None])
def test_vins_as_an_array_are_vin_of_each(cells: list[str | None]) -> None:
    texts = np.array([t.strip() or None if t is not None else None for t in cells], dtype=object)
    assert vins(texts).tolist() == [vin(t) for t in texts]


name_cells = st.one_of(written_names(), st.none(), st.just("  "), st.integers(0, 9), st.just(float("nan")))


@SHORTCUTS
@given(st.lists(st.tuples(name_cells, name_cells), min_size=1, max_size=12))
def test_given_and_family_fields_alone_in_a_table_are_person_name_of_each(cells: list[tuple[object, object]]) -> None:
    frame = pd.DataFrame({"given_name": [g for g, _ in cells], "family_name": [f for _, f in cells]}, dtype=object)
    out = normalise_table(frame, "vehicle")
    for (given_field, family_field), given_name, family, person in zip(
        cells, out["_n_given"], out["_n_family"], out["_n_person"], strict=True
    ):
        expected = person_name(None, given_field, family_field)
        assert (given_name, family) == expected
        assert person == (" ".join(p for p in expected if p) or None)


street_line = st.one_of(st.tuples(house_number, street_rest).map(" ".join), st.text(max_size=20), st.none(),
                        st.sampled_from(["12 Main St 4B", "123 #4", "5", "12\n3 Main St", "\ud800 Main", "٣ Main St"]))


@SHORTCUTS
@given(st.lists(street_line, min_size=1, max_size=20))
def test_street_lines_as_arrays_are_split_of_each(lines: list[str | None]) -> None:
    texts = np.array([*lines, None], dtype=object)
    streets, parts = _street_lines(_Coded(np.arange(len(texts)), texts))
    expected = [(None, ()) if text is None else _split(text) for text in texts]
    assert list(zip(streets.row_values().tolist(), parts.row_values().tolist(), strict=True)) == expected


def _pooled(seeds: list[np.ndarray], columns: list[np.ndarray]) -> list[np.ndarray]:
    pool = _Pool()
    for texts in seeds:
        pool.seed(texts)
    return [pool.shared(texts) for texts in columns]


def _copied(values: list[object]) -> np.ndarray:
    """The values with each str a new object (equal texts are distinct objects, as normalisers make them)."""
    out = np.empty(len(values), dtype=object)
    out[:] = ["".join(["", v]) + "" if isinstance(v, str) and v else v for v in values]
    out[:] = [v[:1] + v[1:] if isinstance(v, str) and len(v) > 1 else v for v in out.tolist()]
    return out


pooled_cell = st.one_of(st.sampled_from(["a", "b", "ab", "", "+1", "x|y", "\u00e9", None]), st.text(max_size=3))


@SHORTCUTS
@given(st.lists(st.lists(pooled_cell, max_size=8), max_size=2), st.lists(st.lists(pooled_cell, max_size=8), max_size=5),
       st.sampled_from([None, 1, float("nan"), b"a", "\ud800"]))
def test_shared_texts_are_the_pools_objects(seeds: list[list[object]], columns: list[list[object]],
                                            odd: object) -> None:
    seed_arrays, column_arrays = [_copied(s) for s in seeds], [_copied(c) for c in columns]
    for candidate in ([], [np.array([odd], dtype=object)]):  # an odd value sends every text to the pool
        expected = _pooled(seed_arrays, column_arrays + candidate)
        got = _shared_texts(seed_arrays, column_arrays + candidate)
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            assert len(g) == len(e)
            assert all(x is y or (x != x and y != y and type(x) is type(y)) for x, y in zip(g.tolist(), e.tolist(), strict=True))


def test_shared_texts_share_equal_texts_first_met() -> None:
    seed = _copied(["a", "b"])
    first, second = _copied(["a", "c", None, "c"]), _copied(["c", "b", "d"])
    out = _shared_texts([seed], [first, second])
    assert out[0][0] is seed[0] and out[1][1] is seed[1]
    assert out[0][1] is out[0][3] is out[1][0] is first[1] and out[0][2] is None and out[1][2] is second[2]
