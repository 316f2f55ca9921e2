"""The examples in docs/normalise.md and in the normalisers' docstrings run as written."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest

from reconcile.normalise import _address, _company, _contact, _names, _table, _vin

PAGE = Path(__file__).resolve().parents[2] / "docs" / "normalise.md"


def test_the_docs_page_examples() -> None:
    result = doctest.testfile(str(PAGE), module_relative=False, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20
    assert result.failed == 0


@pytest.mark.parametrize("module", [_address, _company, _contact, _names, _table, _vin],
                         ids=lambda m: m.__name__)
def test_docstring_examples(module: object) -> None:
    result = doctest.testmod(module)  # type: ignore[arg-type]
    assert result.failed == 0
