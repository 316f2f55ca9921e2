"""Vehicle identification numbers: cleaning, the 49 CFR 565.15 check digit, and repair."""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.normalise._text import _arrow_text, as_text

__all__ = ["VIN_ALPHABET", "repair_vin", "vin", "vin_check_digit", "vin_is_valid"]

#: The characters a VIN may hold: digits and capitals except I, O and Q.
VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"

# 49 CFR 565.15(c): the value each character is transliterated to, and the
# weight of each position (position 9, the check digit itself, weighs 0).
_VALUES: dict[str, int] = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)
_CHECK_POSITION = 8  # zero-based index of position 9

# Characters people confuse when reading or typing a VIN (after I, O and Q
# have become 1 and 0, which vin() does).
_CONFUSABLE_GROUPS = ("1L7T", "0DU", "5S", "8B3", "2Z", "6G", "UV", "MN", "EF", "PR", "KX", "CG", "4A", "9G")
_CONFUSABLE = frozenset(
    (a, b) for group in _CONFUSABLE_GROUPS for a in group for b in group if a != b
)
_SEPARATORS = re.compile(r"[^0-9A-Z]+")


def vin(value: object) -> str | None:
    """A VIN as typed, cleaned: upper case, separators and spaces removed, I->1, O->0, Q->0.

    The letters I, O and Q never occur in a VIN, so where one was typed the
    digit was meant. The length is not checked (see :func:`vin_is_valid`).

    Examples:
        >>> vin("1hg-cv1f3 0na00o001")
        '1HGCV1F30NA000001'
    """
    text = as_text(value)
    if text is None:
        return None
    cleaned = _SEPARATORS.sub("", text.upper()).translate(str.maketrans("IOQ", "100"))
    return cleaned or None


def vin_check_digit(value: str) -> str:
    """The check digit (position 9) a 17-character VIN must have: ``"0"``-``"9"`` or ``"X"``.

    The characters are transliterated to numbers, multiplied by their
    position's weight and summed; the remainder modulo 11 is the check digit
    (10 is written ``X``). The character at position 9 itself does not count.

    Raises:
        ValueError: ``value`` is not 17 characters of :data:`VIN_ALPHABET`
            (pass a typed VIN through :func:`vin` first).
    """
    if len(value) != 17:
        raise ValueError(f"a VIN has 17 characters; {value!r} has {len(value)}")
    total = 0
    for position, (char, weight) in enumerate(zip(value, _WEIGHTS, strict=True)):
        if position == _CHECK_POSITION:
            continue
        try:
            total += _VALUES[char] * weight
        except KeyError:
            raise ValueError(
                f"{char!r} at position {position + 1} of {value!r} is not a VIN character; "
                "normalise typed VINs with reconcile.normalise.vin() first"
            ) from None
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def vin_is_valid(value: object) -> bool:
    """Whether ``value`` is exactly a valid VIN: 17 VIN characters with the right check digit.

    No cleaning is done: ``vin_is_valid(vin(typed))`` checks a typed VIN.
    """
    if not isinstance(value, str) or len(value) != 17:
        return False
    try:
        return vin_check_digit(value) == value[_CHECK_POSITION]
    except ValueError:
        return False


def _structure_faults(value: str) -> int:
    """How many characters break the usual VIN layout.

    Position 10 (model year) is never 0, U or Z, and manufacturers of 1,000
    or more vehicles a year use digits in positions 13-17.
    """
    faults = int(value[9] in "0UZ")
    return faults + sum(not c.isdigit() for c in value[12:])


def repair_vin(value: object) -> list[str]:
    """Valid VINs one substituted character away from a mistyped one, likeliest first.

    ``value`` is cleaned with :func:`vin` first. A valid VIN is its own only
    candidate; a VIN that is not 17 characters long has none. Otherwise every
    single-character substitution that gives a valid check digit is proposed,
    so the VIN that was meant is always among them (when one character was
    mistyped). They are ranked: first those that keep the usual layout (a
    model-year character that exists, digits in positions 13-17), then those
    that undo a common confusion (1/L/7/T, 0/D/U, 5/S, 8/B, 2/Z, 6/G...), then
    by position and character, so the list is deterministic.

    Examples:
        >>> repair_vin("1M8GDM9AXKP042788")
        ['1M8GDM9AXKP042788']
        >>> repair_vin("1M8GDM9AXKP042T88")[0]
        '1M8GDM9AXKP042788'
    """
    cleaned = vin(value)
    if cleaned is None or len(cleaned) != 17 or any(c not in _VALUES for c in cleaned):
        return []
    if vin_is_valid(cleaned):
        return [cleaned]
    ranked: list[tuple[int, int, int, str]] = []
    for position, typed in enumerate(cleaned):
        for char in VIN_ALPHABET:
            if char == typed:
                continue
            candidate = cleaned[:position] + char + cleaned[position + 1 :]
            if vin_is_valid(candidate):
                confused = 0 if (typed, char) in _CONFUSABLE else 1
                ranked.append((_structure_faults(candidate), confused, position, candidate))
    return [candidate for *_, candidate in sorted(ranked)]


def vins(texts: np.ndarray) -> np.ndarray:
    """:func:`vin` of each text, as an array (texts stripped, or None).

    ASCII texts are cleaned by Arrow (upper case, separators removed, I, O
    and Q replaced); any other text goes to :func:`vin`.
    """
    out = np.full(len(texts), None, dtype=object)
    arr = _arrow_text(texts)  # None for a lone surrogate: each by vin()
    fast = np.zeros(len(texts), dtype=bool)
    if arr is not None and len(arr):
        fast = pc.string_is_ascii(arr).fill_null(False).to_numpy(zero_copy_only=False)
        cleaned = pc.replace_substring_regex(pc.ascii_upper(arr), _SEPARATORS.pattern, "")
        for typed, meant in (("I", "1"), ("O", "0"), ("Q", "0")):
            cleaned = pc.replace_substring(cleaned, typed, meant)
        kept = np.flatnonzero(fast & (pc.binary_length(cleaned).fill_null(0).to_numpy(zero_copy_only=False) > 0))
        out[kept] = cleaned.take(pa.array(kept)).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~fast).tolist():
        out[i] = vin(texts[i])
    return out
