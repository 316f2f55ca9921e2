"""Stage 2: normalise the party fields so that systems' formatting stops mattering.

Each normaliser is a plain function of one value (or a few), idempotent
(normalising twice is normalising once) and returns ``None`` for what it
cannot read. :func:`normalise_table` applies them to a whole table and adds
the ``_n_*`` columns matching and the rules compare. See ``docs/normalise.md``.
"""

from __future__ import annotations

from reconcile.normalise._address import address, postal_code, street, unit
from reconcile.normalise._company import company_name
from reconcile.normalise._contact import email, phone, region_of
from reconcile.normalise._names import formal_given_name, nicknames, person_name
from reconcile.normalise._table import NORMALISED_COLUMNS, normalise_table
from reconcile.normalise._vin import VIN_ALPHABET, repair_vin, vin, vin_check_digit, vin_is_valid

__all__ = [
    "NORMALISED_COLUMNS",
    "VIN_ALPHABET",
    "address",
    "company_name",
    "email",
    "formal_given_name",
    "nicknames",
    "normalise_table",
    "person_name",
    "phone",
    "postal_code",
    "region_of",
    "repair_vin",
    "street",
    "unit",
    "vin",
    "vin_check_digit",
    "vin_is_valid",
]
