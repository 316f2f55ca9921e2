"""Text helpers shared by the normalisers: cell values as text, accents folded."""

from __future__ import annotations

import math
import unicodedata
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

__all__ = ["as_text", "fold"]

# Letters NFKD does not decompose into an ASCII base letter.
_LETTERS = str.maketrans(
    {
        "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
        "ı": "i", "ħ": "h", "ŧ": "t", "ŋ": "n", "ĸ": "k", "ſ": "s",
    }
)


def as_text(value: Any) -> str | None:
    """A cell as stripped text: ``None`` for missing values (None, NaN, NA, blank).

    Integral floats lose their ``.0`` (a ZIP code or phone number read as a
    number is written the way it was typed).
    """
    if value is None:
        return None
    if isinstance(value, str):
        stripped = value.strip()
        return stripped or None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if value.is_integer():
            return str(int(value))
        return str(value)
    if value is pd.NA or value is pd.NaT:
        return None
    text = str(value).strip()
    return text or None


def fold(text: str) -> str:
    """Case-fold ``text`` and drop accents: ``"Núñez"`` -> ``"nunez"``, ``"Straße"`` -> ``"strasse"``.

    Characters with no ASCII form are dropped.
    """
    if text.isascii():
        # What the general path gives for ASCII: casefold is lower(), and the
        # letter table, NFKD and the ASCII encoding change nothing.
        return text.lower()
    folded = unicodedata.normalize("NFKD", text.casefold().translate(_LETTERS))
    return folded.encode("ascii", "ignore").decode("ascii")


def _arrow_text(texts: np.ndarray) -> pa.LargeStringArray | None:
    """``texts`` (str or None) as an Arrow array; None if one cannot be (a lone surrogate).

    Large strings (64-bit offsets): one array however much text there is.
    """
    try:
        arr = pa.array(texts, type=pa.large_string())
    except (pa.ArrowException, UnicodeEncodeError, TypeError):
        return None
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
