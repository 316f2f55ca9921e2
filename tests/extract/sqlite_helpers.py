"""What the SQLite value tests share: an account stream's fields and undecodable text."""

from __future__ import annotations

#: An account stream's fields over the columns account_no, holder, status, opened, autopay, method.
ACCOUNT_FIELDS = {
    "account_id": "account_no",
    "name": "holder",
    "status": {"column": "status", "map": {"A": "active", "C": "closed"}},
    "opened_at": {"column": "opened", "format": "%Y-%m-%d"},
    "autopay": {"column": "autopay", "transform": "bool"},
    "autopay_method": {"column": "method", "transform": "lower", "default": "none"},
}


class Undecodable:
    """Stands for a TEXT value holding bytes that are not UTF-8 (written with CAST(? AS TEXT))."""

    def __init__(self, raw: bytes):
        self.raw = raw

    def __repr__(self) -> str:
        return f"Undecodable({self.raw!r})"
