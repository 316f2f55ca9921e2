"""Phone numbers (E.164) and email addresses."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd
import phonenumbers
import pyarrow as pa
import pyarrow.compute as pc

from reconcile.normalise._text import _arrow_text, as_text

__all__ = ["email", "phone", "region_of"]

# Country names and codes systems write, beyond the two-letter ISO codes.
_COUNTRY_ALIASES = {
    "usa": "US", "u s": "US", "u s a": "US", "united states": "US",
    "united states of america": "US", "america": "US",
    "uk": "GB", "u k": "GB", "united kingdom": "GB", "great britain": "GB", "england": "GB",
    "scotland": "GB", "wales": "GB", "canada": "CA", "can": "CA", "mexico": "MX", "mex": "MX",
    "germany": "DE", "deutschland": "DE", "france": "FR", "ireland": "IE", "australia": "AU",
    "new zealand": "NZ", "india": "IN", "spain": "ES", "italy": "IT", "netherlands": "NL",
}


_NOT_LETTERS = re.compile(r"[^a-z]+")


def region_of(country: object, default_region: str = "US") -> str:
    """The two-letter region of a ``country`` cell (``"USA"`` -> ``"US"``), else ``default_region``."""
    text = as_text(country)
    if text is None:
        return default_region.upper()
    key = " ".join(_NOT_LETTERS.sub(" ", text.lower()).split())
    if len(key) == 2 and key.upper() in phonenumbers.SUPPORTED_REGIONS:
        return key.upper()
    return _COUNTRY_ALIASES.get(key, default_region.upper())


def phone(value: object, default_region: str = "US") -> str | None:
    """A phone number in E.164 (``"+12063840143"``), or ``None`` if it is not a valid number.

    Parsed with ``phonenumbers``; a number without a country code is read in
    ``default_region``. Extensions are dropped.

    Examples:
        >>> phone("(206) 384-0143")
        '+12063840143'
        >>> phone("+44 20 7946 0958", "US")
        '+442079460958'
        >>> phone("555-0100") is None
        True
    """
    text = as_text(value)
    if text is None:
        return None
    region = default_region.upper()
    plain = _PLAIN_NANP.fullmatch(text)
    if plain is not None and (plain["plus"] or region == "US"):
        # A ten-digit North American number as most systems write it: what
        # phonenumbers.parse would read (country code 1, these ten digits),
        # without the parse; validity is asked of phonenumbers, once per number.
        return _nanp(plain["area1"] or plain["area2"], plain["exchange"], plain["line"])
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# "(206) 384-0143", "206-384-0143", "206.384.0143", "2063840143", "+1 206 384 0143":
# an area code and exchange that cannot begin with 0 or 1, so no national prefix is in play.
_PLAIN_NANP = re.compile(
    r"(?P<plus>\+1[ .-]?)?(?:\((?P<area1>[2-9]\d\d)\) ?|(?P<area2>[2-9]\d\d)[ .-]?)"
    r"(?P<exchange>[2-9]\d\d)[ .-]?(?P<line>\d{4})",
    re.ASCII,
)


@functools.lru_cache(maxsize=1 << 18)
def _nanp(area: str, exchange: str, line: str) -> str | None:
    """``+1`` and the ten digits if phonenumbers calls the number valid, else None."""
    digits = area + exchange + line
    if _valid_in_us(digits):
        return "+1" + digits
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    return "+1" + digits if phonenumbers.is_valid_number(number) else None


# The number-type descriptions phonenumbers tries for a region (its _number_type_helper);
# any one matching makes the number valid, so the common ones come first.
_TYPE_DESCRIPTIONS = ("fixed_line", "mobile", "toll_free", "premium_rate", "shared_cost", "voip",
                      "personal_number", "pager", "uan", "voicemail")


@functools.cache
def _us_patterns() -> tuple[re.Pattern[str], tuple[re.Pattern[str], ...]] | None:
    """The US metadata's ten-digit patterns: the general one and those of each number type.

    phonenumbers.is_valid_number on a +1 number tries the regions of country
    code 1 in order; the US comes first and has no leading digits, so a number
    the US metadata calls a known type is valid (in the US). None if the
    metadata is not shaped so (then every number goes to phonenumbers).
    """
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(1, ())
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("US")
    if not regions or regions[0] != "US" or metadata is None or metadata.leading_digits is not None:
        return None

    def pattern(name: str) -> re.Pattern[str] | None:
        # As phonenumbers matches a description: the length must be possible, the pattern match in full.
        description = getattr(metadata, name, None)
        if description is None or not description.national_number_pattern:
            return None
        if description.possible_length and 10 not in description.possible_length:
            return None
        return re.compile(description.national_number_pattern)

    general = pattern("general_desc")
    if general is None:
        return None
    types = (pattern(name) for name in _TYPE_DESCRIPTIONS)
    return general, tuple(dict.fromkeys(p for p in types if p is not None))  # re.compile caches: once each


def _valid_in_us(digits: str) -> bool:
    """True if the ten ``digits`` are a valid US number by phonenumbers' metadata (False: ask phonenumbers)."""
    patterns = _us_patterns()
    if patterns is None:
        return False
    general, types = patterns
    return general.fullmatch(digits) is not None and any(p.fullmatch(digits) for p in types)


_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,}$"
)


def email(value: object) -> str | None:
    """An email address stripped and lower-cased, or ``None`` if it is not one.

    A ``mailto:`` prefix and surrounding angle brackets are removed.

    Examples:
        >>> email("  Jane.Doe@Example.COM ")
        'jane.doe@example.com'
        >>> email("not an email") is None
        True
    """
    text = as_text(value)
    if text is None:
        return None
    text = text.strip().strip("<>").strip().lower()
    if text.startswith("mailto:"):
        text = text[len("mailto:") :]
    return text if _EMAIL.match(text) else None


def phones(texts: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """:func:`phone` of each text in its region, as an array (texts stripped, or None).

    The plain North American numbers (:data:`_PLAIN_NANP`, in the US or
    written with ``+1``) are read with array operations: their ten digits
    are the last ten digits of the text, and each distinct number is checked
    once, against the US metadata's patterns (:func:`_us_patterns`, by
    Arrow's regular expressions) and, where they do not call it valid, by
    :func:`_nanp`. Any other text goes to :func:`phone`.
    """
    out = np.full(len(texts), None, dtype=object)
    fast = np.zeros(len(texts), dtype=bool)
    arr = _arrow_text(texts)
    if arr is not None and len(arr):
        shaped = pc.match_substring_regex(arr, f"^(?:{_PLAIN_NANP.pattern})$").fill_null(False)
        plus = pc.starts_with(arr, "+").fill_null(False)
        in_us = np.asarray(regions == "US", dtype=bool)
        fast = shaped.to_numpy(zero_copy_only=False) & (plus.to_numpy(zero_copy_only=False) | in_us)
    rows = np.flatnonzero(fast)
    if len(rows):
        assert arr is not None
        ten = _last_ten_digits(arr.take(pa.array(rows)))
        numbers, _ = pd.factorize(ten.astype(np.int64) @ (10 ** np.arange(9, -1, -1, dtype=np.int64)))
        # factorize numbers them in order of appearance: each one's first row is where the highest code goes up.
        first = np.flatnonzero(np.diff(np.maximum.accumulate(numbers), prepend=-1) > 0)
        e164 = np.empty((len(first), 12), dtype=np.uint8)
        e164[:, :2] = np.frombuffer(b"+1", dtype=np.uint8)
        e164[:, 2:] = ten[first] + ord("0")
        digits = _as_text(e164[:, 2:])
        valid = _valid_in_us_array(digits)
        results = _as_text(e164).to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(~valid).tolist():
            d = digits[i].as_py()
            results[i] = _nanp(d[:3], d[3:6], d[6:])
        out[rows] = results[numbers]
    for i in np.flatnonzero(~fast).tolist():
        out[i] = phone(texts[i], regions[i])
    return out


def _as_text(characters: np.ndarray) -> pa.LargeStringArray:
    """Rows of ASCII character codes as an Arrow array of text, one per row (the codes are its data)."""
    characters = np.ascontiguousarray(characters, dtype=np.uint8)
    rows, width = characters.shape
    offsets = np.arange(0, (rows + 1) * width, width, dtype=np.int64)
    return pa.LargeStringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(characters))


def _last_ten_digits(arr: pa.LargeStringArray) -> np.ndarray:
    """The last ten ASCII digits of each text (each holds ten or more), a row of ten numbers 0-9 per text."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)[offsets[0] : offsets[-1]]
    is_digit = (data >= ord("0")) & (data <= ord("9"))
    digits = data[is_digit] - ord("0")
    # Where each row's digits begin and end among all the digits; all but
    # the last ten of a row's digits are dropped.
    per_row = np.add.reduceat(is_digit, offsets[:-1] - offsets[0], dtype=np.int64)
    counts = np.cumsum(per_row)
    starts = counts - per_row
    keep = np.ones(len(digits), dtype=bool)
    for extra in range(int(per_row.max()) - 10):  # written with +1: one digit before the ten
        leading = starts[per_row > 10 + extra] + extra
        keep[leading] = False
    ten: np.ndarray = digits[keep].reshape(-1, 10)
    return ten


def _valid_in_us_array(digits: Sequence[str] | pa.Array) -> np.ndarray:
    """:func:`_valid_in_us` of each ten digits, by Arrow's (RE2) regular expressions."""
    patterns = _us_patterns()
    if patterns is None or len(digits) == 0:
        return np.zeros(len(digits), dtype=bool)
    general, types = patterns
    arr = digits if isinstance(digits, pa.Array) else pa.array(list(digits), type=pa.string())
    try:
        in_general = pc.match_substring_regex(arr, f"^(?:{general.pattern})$")
        of_a_type = pc.match_substring_regex(arr, "^(?:" + "|".join(f"(?:{p.pattern})" for p in types) + ")$")
    except pa.ArrowException:  # a pattern RE2 does not take: phonenumbers decides
        return np.zeros(len(digits), dtype=bool)
    return np.asarray(pc.and_(in_general, of_a_type).to_numpy(zero_copy_only=False), dtype=bool)


def emails(texts: np.ndarray) -> np.ndarray:
    """:func:`email` of each text, as an array (texts stripped, or None).

    ASCII texts not wrapped in angle brackets nor led by ``mailto:`` are
    lower-cased and checked against :data:`_EMAIL` by Arrow (the same
    pattern in RE2); any other text goes to :func:`email`.
    """
    out = np.full(len(texts), None, dtype=object)
    fast = np.zeros(len(texts), dtype=bool)
    arr = _arrow_text(texts)
    if arr is not None and len(arr):
        lowered = pc.ascii_lower(arr)
        plain = pc.and_(
            pc.string_is_ascii(arr),
            pc.invert(pc.or_(pc.match_substring_regex(arr, "^[<>]|[<>]$"), pc.starts_with(lowered, "mailto:"))),
        )
        fast = plain.fill_null(False).to_numpy(zero_copy_only=False)
        valid = pc.match_substring_regex(lowered, _EMAIL.pattern).fill_null(False).to_numpy(zero_copy_only=False)
        # Most addresses are written in lower case already: those keep their text (no new string).
        unchanged = pc.equal(lowered, arr).fill_null(False).to_numpy(zero_copy_only=False)
        out[fast & valid & unchanged] = texts[fast & valid & unchanged]
        kept = np.flatnonzero(fast & valid & ~unchanged)
        out[kept] = lowered.take(pa.array(kept)).to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~fast).tolist():
        out[i] = email(texts[i])
    return out
