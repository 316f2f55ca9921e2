"""Vehicle identification numbers: the 49 CFR 565.15 check digit and typed-in errors."""

from __future__ import annotations

import random

__all__ = ["VIN_CHARS", "check_digit", "is_valid_vin", "make_vin", "mistype_vin"]

#: Characters allowed in a VIN: digits and capitals except I, O and Q.
VIN_CHARS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"

_VALUES = {
    **{str(d): d for d in range(10)},
    "A": 1, "B": 2, "C": 3, "D": 4, "E": 5, "F": 6, "G": 7, "H": 8,
    "J": 1, "K": 2, "L": 3, "M": 4, "N": 5, "P": 7, "R": 9,
    "S": 2, "T": 3, "U": 4, "V": 5, "W": 6, "X": 7, "Y": 8, "Z": 9,
}
_WEIGHTS = (8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2)


def check_digit(vin: str) -> str:
    """The check digit (position 9) of a 17-character VIN, ``0``-``9`` or ``X``.

    Raises:
        ValueError: the VIN is not 17 characters of the allowed alphabet.
    """
    if len(vin) != 17:
        raise ValueError(f"a VIN has 17 characters, {vin!r} has {len(vin)}")
    try:
        total = sum(_VALUES[c] * w for c, w in zip(vin, _WEIGHTS, strict=True))
    except KeyError as exc:
        raise ValueError(f"{exc.args[0]!r} is not allowed in a VIN") from None
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def is_valid_vin(vin: str) -> bool:
    """Whether ``vin`` has 17 allowed characters and a correct check digit."""
    try:
        return check_digit(vin) == vin[8]
    except ValueError:
        return False


def make_vin(wmi: str, descriptor: str, year_code: str, plant: str, serial: int) -> str:
    """Assemble a VIN and set its check digit.

    Args:
        wmi: World manufacturer identifier (3 characters).
        descriptor: Vehicle descriptor section (5 characters).
        year_code: Model year character (position 10).
        plant: Assembly plant character (position 11).
        serial: Production sequence number (0..999999).
    """
    body = f"{wmi}{descriptor}0{year_code}{plant}{serial:06d}"
    return body[:8] + check_digit(body) + body[9:]


def mistype_vin(vin: str, rng: random.Random) -> str:
    """A VIN as a person might type it at a service desk.

    The letter O for a zero or I for a one where the VIN has one, else one
    wrong character in the production sequence or plant code. The result
    differs from ``vin`` in exactly one position.
    """
    choices = [i for i, c in enumerate(vin) if c in "01" and i != 8]
    if choices and rng.random() < 0.6:
        i = rng.choice(choices)
        wrong = "O" if vin[i] == "0" else "I"
    else:
        i = rng.randint(10, 16)
        wrong = rng.choice([c for c in VIN_CHARS if c != vin[i]])
    return vin[:i] + wrong + vin[i + 1 :]
