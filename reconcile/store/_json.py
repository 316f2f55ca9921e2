"""Turn any value a source or a rule may hand over into plain JSON values.

The store writes JSON columns (details, records, raw quarantined rows) and the
reports write JSON files; both need values every database's JSON type and
every JSON parser accept. ``NaN`` and infinities are not JSON (PostgreSQL's
``json`` type rejects them), dates are not JSON at all, and raw rows from a
source can hold anything a driver returns.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import enum
import json
import math
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

import orjson
from pydantic import BaseModel

__all__ = ["Encoded", "encode_json", "encode_json_bytes", "json_safe", "utc_iso"]


def utc_iso(value: dt.datetime) -> str:
    """ISO 8601 text of a datetime: aware ones in UTC, naive ones as they are."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.isoformat()


def json_safe(value: Any) -> Any:
    """A copy of ``value`` made only of dict, list, str, int, float, bool and None.

    Datetimes become ISO 8601 text (aware ones in UTC), dates and times ISO
    text, ``Decimal`` a float, NaN and infinities None, sets sorted lists,
    bytes base64 text, pydantic models their JSON dump, numpy and pandas
    scalars their Python value (``NaT`` and ``NA`` None). Anything else becomes
    its ``str()``, so a raw row is never refused: nothing is dropped.
    """
    # Fast path for what rules and sources hand over most (exact types only:
    # subclasses such as StrEnum or numpy scalars take the general path).
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict:
        return {k if type(k) is str else _key(k): json_safe(v) for k, v in value.items()}
    if kind is list:
        return [json_safe(v) for v in value]
    if kind is float:
        return value if math.isfinite(value) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)  # an enum of strings becomes its plain value
    if isinstance(value, int) and not isinstance(value, enum.Enum):
        return int(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dt.datetime):
        if _is_missing(value):
            return None
        return utc_iso(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            return None
        number = float(value)  # beyond a float's range: inf, which JSON cannot hold either
        return number if math.isfinite(number) else None
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, BaseModel):
        return json_safe(value.model_dump())
    if isinstance(value, Mapping):
        return {_key(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, set | frozenset):
        items = [json_safe(v) for v in value]
        return sorted(items, key=repr)
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, uuid.UUID | PurePath):
        return str(value)
    if _is_missing(value):
        return None
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp
        return json_safe(value.to_pydatetime())
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            return json_safe(value.item())
        except (TypeError, ValueError):
            pass
    if hasattr(value, "tolist") and callable(value.tolist):  # numpy array
        return json_safe(value.tolist())
    return str(value)


def _key(key: Any) -> str:
    """A mapping key as JSON text writes it (``True`` is ``"true"``, ``1`` is ``"1"``), else its ``str()``."""
    if isinstance(key, str):
        return str.__str__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    if isinstance(key, float) and math.isfinite(key):
        return float.__repr__(key)
    return str(key)


class Encoded(str):
    """JSON text encoded already (by :func:`encode_json`): the store's JSON columns write it as it is."""

    __slots__ = ()


# orjson writes dicts, lists, strings, numbers, booleans and None itself; everything
# else (datetimes, subclasses such as enums, dataclasses, decimals, numpy...) goes
# through json_safe, so the result means what json_safe's value means.
_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
)
_PLAIN = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode
_SORTED = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), sort_keys=True).encode


def encode_json(value: Any, *, sort_keys: bool = False) -> Encoded:
    """``value`` as compact JSON text that decodes to exactly ``json_safe(value)``, fast.

    orjson writes the plain parts and asks :func:`json_safe` for the rest;
    what orjson refuses (keys that are not strings, integers beyond 64 bits)
    is made plain by :func:`json_safe` first. Numbers may be spelt as orjson
    spells them (``1e-5``, not Python's ``1e-05``): the same value. With
    ``sort_keys``, the keys of every object are sorted.
    """
    return Encoded(encode_json_bytes(value, sort_keys=sort_keys).decode("utf-8"))


def encode_json_bytes(value: Any, *, sort_keys: bool = False) -> bytes:
    """:func:`encode_json` as UTF-8 bytes."""
    sort = orjson.OPT_SORT_KEYS if sort_keys else 0
    try:
        return orjson.dumps(value, default=json_safe, option=_ORJSON_OPTIONS | sort)
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        plain = json_safe(value)
    try:
        return orjson.dumps(plain, option=sort)
    except TypeError:  # an integer beyond 64 bits
        return (_SORTED(plain) if sort_keys else _PLAIN(plain)).encode("utf-8")


def _is_missing(value: Any) -> bool:
    """True for pandas' NaT and NA (without importing pandas)."""
    name = type(value).__name__
    return name in {"NaTType", "NAType"}
