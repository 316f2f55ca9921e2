"""The generic rule kinds: checks written in YAML without code.

Registered in the ``reconcile.rules`` entry-point group like the built-ins.
They select records with a small structured language (a record type,
sources, ``where`` filters such as ``{field: status, op: in, value: [active]}``,
a time field) and compare them within one customer:

- ``missing_in``: present in one system, absent in another;
- ``field_mismatch``: a field differs beyond a tolerance;
- ``status_mismatch``: states that must agree do not;
- ``duplicate``: more records of a kind than there should be;
- ``balance``: sums across systems do not balance;
- ``stale``: a time long past with no follow-up.
"""

from __future__ import annotations

from reconcile.rules._generic import (
    GENERIC_RULES,
    BalanceRule,
    DuplicateRule,
    FieldMismatchRule,
    MissingInRule,
    StaleRule,
    StatusMismatchRule,
)
from reconcile.rules._select import FieldPair, Filter, Records

__all__ = [
    "GENERIC_RULES",
    "BalanceRule",
    "DuplicateRule",
    "FieldMismatchRule",
    "FieldPair",
    "Filter",
    "MissingInRule",
    "Records",
    "StaleRule",
    "StatusMismatchRule",
]
