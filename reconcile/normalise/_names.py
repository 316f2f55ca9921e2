"""Person names: given and family name from the many ways systems write them."""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.normalise._text import as_text, fold

__all__ = ["formal_given_name", "nicknames", "person_name"]

# Honorifics dropped from the front of a name (or of its given-name part).
TITLES = frozenset(
    {
        "mr", "mrs", "ms", "miss", "mx", "dr", "doctor", "prof", "professor",
        "rev", "reverend", "sir", "dame", "hon",
    }
)
# Generational and professional suffixes dropped from the end of a name.
# "v" is left out on purpose: it is far more often a middle initial.
SUFFIXES = frozenset(
    {
        "jr", "jnr", "junior", "sr", "snr", "senior", "ii", "iii", "iv", "2nd", "3rd",
        "phd", "md", "dds", "dmd", "dvm", "esq", "cpa", "jd", "mba", "rn",
    }
)
# Lower-case words that begin a family name ("de la Cruz", "van Dyke").
PARTICLES = frozenset(
    {"da", "das", "de", "del", "della", "der", "den", "di", "dos", "du", "la", "le",
     "st", "ten", "ter", "van", "von"}
)

_APOSTROPHES = re.compile(r"['\u2019`.]")
_NOT_WORD = re.compile(r"[^a-z0-9\s-]+")


@functools.cache
def nicknames() -> Mapping[str, str]:
    """The shipped nickname table: nickname -> formal given name, both lower case.

    Read once from ``reconcile/normalise/data/nicknames.csv``. Only nicknames
    that point at one formal name are listed (Bob is Robert); a nickname
    shared by several formal names (Sam, Alex, Chris, Pat) is left out, so it
    is compared as written. No formal name is itself a nickname, so applying
    the table twice changes nothing.
    """
    text = resources.files("reconcile.normalise").joinpath("data/nicknames.csv").read_text("utf-8")
    table = {row["nickname"].strip(): row["formal"].strip() for row in csv.DictReader(io.StringIO(text))}
    return MappingProxyType(table)


def formal_given_name(given: str) -> str:
    """The formal given name for a (normalised, lower-case) nickname, else ``given`` itself."""
    return nicknames().get(given, given)


def _words(text: str) -> list[str]:
    """Lower-case ASCII words; apostrophes and dots vanish, hyphens join ("smith-jones")."""
    return list(_word_tuple(text))


@functools.lru_cache(maxsize=1 << 16)
def _word_tuple(text: str) -> tuple[str, ...]:
    # Cached: name parts (a family name, a given name) recur across records and systems.
    cleaned = _NOT_WORD.sub(" ", _APOSTROPHES.sub("", fold(text)))
    return tuple(stripped for w in cleaned.split() if (stripped := w.strip("-")))


def _trim(words: list[str], *, leading: bool = True, trailing: bool = True) -> list[str]:
    """Drop titles from the front and suffixes from the end, always keeping one word."""
    words = list(words)
    while leading and len(words) > 1 and words[0] in TITLES:
        words.pop(0)
    while trailing and len(words) > 1 and words[-1] in SUFFIXES:
        words.pop()
    return words


def _given(words: list[str]) -> str | None:
    """The first given name, as its formal name: titles skipped, "Mary-Kate" read as "mary"."""
    words = _trim(words)
    first = words[0].split("-")[0] if words else ""
    return formal_given_name(first) if first else None


def _family(words: list[str]) -> str | None:
    """The family name, suffixes dropped; a hyphenated one ("smith-jones") reads as its words."""
    parts = [part for word in words for part in word.split("-") if part]
    return " ".join(_trim(parts, leading=False)) or None


_TITLES_AND_SUFFIXES = TITLES | SUFFIXES


def _only_titles_and_suffixes(words: list[str]) -> bool:
    return _TITLES_AND_SUFFIXES.issuperset(words)


def _parse(name: str) -> tuple[str | None, str | None]:
    """Given and family name from a whole name as one field holds it.

    ASCII names take shortcuts (what :func:`_parse_general` gives, quicker):
    "LAST, FIRST M" is read part by part, each distinct part once
    (:func:`_segment`), and a name of plain words ("Janice Keller", "Mr. Ben
    A Alvarez") by :func:`_plain_name`.
    """
    if name.isascii():
        parts = name.split(",")
        if len(parts) == 1:
            plain = _plain_name(name)
            if plain is not None:
                return plain
        else:
            # For ASCII text, fold is lower(), which commutes with the split at commas.
            if len(parts) == 2:
                family_part, given_part = _segment(parts[0]), _segment(parts[1])
                if family_part is not None and given_part is not None:
                    return given_part[0], family_part[1]
            kept = [segment for segment in map(_segment, parts) if segment is not None]
            if len(kept) >= 2:
                return kept[1][0], kept[0][1]
            if kept:
                return kept[0][2]
    return _parse_general(name)


# A name of plain words once lower-cased and its dots dropped: letters, single spaces, two words or more.
_PLAIN_WORDS = re.compile(r"[a-z]+(?: [a-z]+)+")


def _plain_name(name: str) -> tuple[str | None, str | None] | None:
    """:func:`_parse_general` of an ASCII name without commas, if its words are plain; else None.

    The same steps on the words as they are (letters only: no hyphen to
    split at, nothing for ``_words`` to clean but the dots).
    """
    text = name.lower().replace(".", "")
    if _PLAIN_WORDS.fullmatch(text) is None:
        return None
    words = text.split(" ")
    first, last = words[0], words[-1]
    if first not in _TITLES_AND_SUFFIXES and last not in SUFFIXES and (len(words) == 2 or words[-2] not in PARTICLES):
        # The usual name: nothing to trim, no particle before the family name.
        return nicknames().get(first, first), last
    if _TITLES_AND_SUFFIXES.issuperset(words):
        return None  # kept whole as the family name: the general path
    start, end = 0, len(words)
    while end - start > 1 and words[start] in TITLES:
        start += 1
    while end - start > 1 and words[end - 1] in SUFFIXES:
        end -= 1
    if end - start == 1:
        return None, words[start]
    family = end - 1
    while family > start + 1 and words[family - 1] in PARTICLES:
        family -= 1
    return nicknames().get(words[start], words[start]), " ".join(words[family:end])


@functools.lru_cache(maxsize=1 << 16)
def _segment(part: str) -> tuple[str | None, str | None, tuple[str | None, str | None]] | None:
    """A comma-separated part of a name: None if :func:`_parse_general` drops it, else what it gives.

    ``(given, family, alone)``: the given name if the part comes second, the
    family name if it comes first, and the name the part is when it is the
    only part kept. Cached: parts ("SMITH", " ROBERT J") recur.
    """
    words = _words(part)
    if not words or _only_titles_and_suffixes(words):
        return None
    return _given(words), _family(words), _parse_general(part)


def _parse_general(name: str) -> tuple[str | None, str | None]:
    """:func:`_parse` of any name: the general path."""
    segments = [_words(part) for part in fold(name).split(",")]
    segments = [s for s in segments if s and not _only_titles_and_suffixes(s)]
    if not segments:
        # Nothing but a title or suffix ("Dr."): keep it as the family name.
        return None, _family(_words(name))
    if len(segments) >= 2:
        # "LAST, FIRST M": the part before the first comma is the family name.
        return _given(segments[1]), _family(segments[0])
    words = _trim(segments[0])
    if len(words) == 1:
        return None, _family(words)
    start = len(words) - 1
    while start > 1 and words[start - 1] in PARTICLES:
        start -= 1
    return _given(words[:1]), _family(words[start:])


# The usual names as arrays (see _parse_usual), once lower-cased and their dots dropped:
# plain words ("keith vaughn", "mr ben a alvarez"), and "LAST, FIRST M" with a one-word family name.
_USUAL_PLAIN = r"^[a-z]+(?: [a-z]+)+$"
_USUAL_COMMA = r"^(?P<family>[a-z]+), (?P<first>[a-z]+)(?: [a-z]+)*$"


def _parse_usual(names: pa.Array) -> tuple[pa.Array, pa.Array]:
    """:func:`_parse` of the usual names as arrays: (given, family), both null where a name is not usual.

    Usual is what :func:`_parse` reads so, as :func:`_plain_name` does: a
    name of plain words whose first word is no title or suffix (or is a
    title, followed by a word that is neither and one more), whose last is
    no suffix and whose second last (if not the given name) is no particle:
    the given name (first word, or the one after the title) as its formal
    name, and the last word;
    and "LAST, FIRST M" (:func:`_segment` of each part) where neither LAST
    nor FIRST is a title or suffix: FIRST as its formal name, and LAST.
    Any other name (and every non-ASCII one: these are ASCII letters only)
    is null in both, for :func:`_parse`.
    """
    cleaned = pc.replace_substring(pc.ascii_lower(names), ".", "")
    titles_and_suffixes = pa.array(sorted(_TITLES_AND_SUFFIXES), type=pa.large_string())
    suffixes = pa.array(sorted(SUFFIXES), type=pa.large_string())
    titles = pa.array(sorted(TITLES), type=pa.large_string())
    particles = pa.array(sorted(PARTICLES), type=pa.large_string())
    # The plain names' first, second, second last and last words, found by the offsets of their split words.
    plain = _flags(pc.match_substring_regex(cleaned, _USUAL_PLAIN))
    words = pc.split_pattern(cleaned, " ")
    offsets = words.offsets.to_numpy(zero_copy_only=False)[: len(words) + 1].astype(np.int64)
    starts, ends = offsets[:-1], offsets[1:]

    def word(at: np.ndarray, where: np.ndarray) -> pa.Array:
        return words.values.take(pa.array(np.where(where, at, 0), mask=~where))

    first, second, last = word(starts, plain), word(starts + 1, plain), word(ends - 1, plain)
    # One title first ("mr ben a alvarez"), then a word that is no title or suffix: the name begins after it.
    titled = (plain & (ends - starts >= 3) & _flags(pc.is_in(first, value_set=titles))
              & ~_flags(pc.is_in(second, value_set=titles_and_suffixes)))
    # The second last word is looked at where it is not the given name: a particle there begins the family name.
    penultimate = word(ends - 2, plain & (ends - starts - titled >= 3))
    plain_usual = pa.array(
        plain
        & (titled | ~_flags(pc.is_in(first, value_set=titles_and_suffixes)))
        & ~_flags(pc.is_in(last, value_set=suffixes))
        & ~_flags(pc.is_in(penultimate, value_set=particles))
    )
    first = pc.if_else(pa.array(titled), second, first)
    comma = pc.extract_regex(cleaned, _USUAL_COMMA)
    comma_first, comma_family = comma.field("first"), comma.field("family")
    comma_usual = pc.and_(
        pc.is_valid(comma),
        pc.invert(pc.or_(pc.is_in(comma_first, value_set=titles_and_suffixes),
                         pc.is_in(comma_family, value_set=titles_and_suffixes))),
    )
    null = pa.scalar(None, type=pa.large_string())
    comma_usual = comma_usual.fill_null(False)
    first = pc.if_else(plain_usual, first, pc.if_else(comma_usual, comma_first, null))
    family = pc.if_else(plain_usual, last, pc.if_else(comma_usual, comma_family, null))
    table = nicknames()
    formal = pc.take(pa.array(list(table.values()), type=pa.large_string()),
                     pc.index_in(first, value_set=pa.array(list(table), type=pa.large_string())))
    return pc.coalesce(formal, first), family


def _flags(mask: pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy (null is False)."""
    return np.asarray(mask.fill_null(False).to_numpy(zero_copy_only=False), dtype=bool)


def _as_coded(values: pa.Array, rows: np.ndarray, others: list[str | None]) -> tuple[np.ndarray, list[str | None]]:
    """``values`` (null at ``rows``) with ``others`` at ``rows``, as codes and the distinct texts of the rest.

    Equal texts among ``values`` share a code (Arrow's dictionary): each is
    made a Python str once.
    """
    encoded = values.dictionary_encode()
    texts: list[str | None] = encoded.dictionary.to_pylist()
    codes = np.asarray(encoded.indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.intp)
    codes[rows] = np.arange(len(texts), len(texts) + len(rows), dtype=np.intp)
    return codes, texts + others


def person_name(
    name: object = None, given: object = None, family: object = None
) -> tuple[str | None, str | None]:
    """Normalise a person's name to ``(given, family)``, lower-case ASCII.

    ``given``/``family`` win where a system keeps the parts apart; what they
    leave out is parsed from ``name`` (the whole name as one field holds it).
    Accents are stripped, case is folded, punctuation removed; titles (Mr,
    Mrs, Ms, Miss, Dr, Prof...) and suffixes (Jr, Sr, II, III, IV, PhD,
    MD...) are dropped; "LAST, FIRST M" is understood; middle names and
    initials are dropped; a nickname becomes the formal given name.

    Args:
        name: The whole name, such as ``"SMITH, ROBERT J"`` or ``"Dr. Bob Smith Jr."``.
        given: The given name field, if the system has one.
        family: The family name field, if the system has one.

    Returns:
        ``(given, family)``, each ``None`` when unknown.

    Examples:
        >>> person_name("SMITH, ROBERT J")
        ('robert', 'smith')
        >>> person_name("Dr. Bob Smith Jr.")
        ('robert', 'smith')
        >>> person_name(given="María", family="Núñez")
        ('maria', 'nunez')
    """
    given_text, family_text, name_text = as_text(given), as_text(family), as_text(name)
    out_given = _given(_words(given_text)) if given_text else None
    out_family = _family(_words(family_text)) if family_text else None
    if name_text and (out_given is None or out_family is None):
        parsed_given, parsed_family = _parse(name_text)
        if out_given is None and out_family is None:
            return parsed_given, parsed_family
        if out_given is None:
            out_given = parsed_given
        if out_family is None:
            out_family = parsed_family
    return out_given, out_family
