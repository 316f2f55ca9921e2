"""Phone numbers (E.164) and email addresses."""

from __future__ import annotations

import functools
import re

import phonenumbers

from reconcile.normalise._text import as_text

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
    number = phonenumbers.PhoneNumber(country_code=1, national_number=int(digits))
    return "+1" + digits if phonenumbers.is_valid_number(number) else None


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
