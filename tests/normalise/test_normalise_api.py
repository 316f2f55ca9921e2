"""The public surface of reconcile.normalise, and the data it ships."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import reconcile.normalise as normalise

EXPORTED = [
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


def test_exported_members_are_pinned() -> None:
    assert sorted(normalise.__all__) == EXPORTED
    for name in EXPORTED:
        value = getattr(normalise, name)
        assert value.__doc__ if callable(value) else value, name


def test_normalised_columns_are_the_contracts() -> None:
    assert normalise.NORMALISED_COLUMNS == (
        "_n_given", "_n_family", "_n_person", "_n_company", "_n_phone", "_n_email",
        "_n_street", "_n_unit", "_n_postal", "_n_address", "_n_vin",
    )


def test_the_nickname_table_ships_inside_the_package() -> None:
    data = resources.files("reconcile.normalise").joinpath("data/nicknames.csv")
    assert data.is_file()
    package_dir = Path(normalise.__file__).parent
    assert (package_dir / "data" / "nicknames.csv").is_file()
    lines = data.read_text("utf-8").splitlines()
    assert lines[0] == "nickname,formal"
    assert len(lines) - 1 == len(normalise.nicknames())
