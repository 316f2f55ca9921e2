"""Fixtures of the store tests: a fresh store on every backend of ``db_url``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconcile.store import Store


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with Store(db_url) as opened:
        yield opened
