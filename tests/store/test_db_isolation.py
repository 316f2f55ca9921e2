"""The ``db_url`` fixture gives every test an empty database of its own."""

from __future__ import annotations

import pytest
import sqlalchemy as sa


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_starts_with_an_empty_database(db_url: str, attempt: int) -> None:
    engine = sa.create_engine(db_url)
    try:
        assert sa.inspect(engine).get_table_names() == [], "a previous test's tables are visible"
        marker = sa.Table("marker", sa.MetaData(), sa.Column("attempt", sa.Integer))
        marker.create(engine)
        with engine.begin() as conn:
            conn.execute(marker.insert().values(attempt=attempt))
        assert sa.inspect(engine).get_table_names() == ["marker"]
    finally:
        engine.dispose()
