"""A ready-made contract test for adapters: subclass it, build your adapter, run pytest.

::

    from reconcile.testing import AdapterContract

    class TestMyAdapter(AdapterContract):
        adapter_class = MyAdapter

        def make_adapter(self, rows, tmp_path):
            ...  # write rows where MyAdapter reads them; return MyAdapter(...)

        def make_failing_adapter(self, tmp_path):
            ...  # an adapter whose source cannot be read

Every ``test_*`` method below then runs against your adapter. The contract
is what the rest of reconcile relies on: every row read is either used or
quarantined with the source, its position and the field at fault; the
configuration model forbids unknown keys; the ``kind`` is the name the class
is registered under in the ``reconcile.adapters`` entry-point group; and a
source that cannot be read raises :class:`~reconcile.errors.SourceError`
naming the source.

The class has no pytest import and no fixtures of its own: the test methods
take pytest's built-in ``tmp_path`` fixture, so pytest collects a subclass
whose name starts with ``Test`` like any test class.
"""

from __future__ import annotations

import re
import typing
from importlib import metadata
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ValidationError

from reconcile.errors import SourceError
from reconcile.extract.base import Adapter, ExtractResult, RawRow, SourceConfig, StreamConfig
from reconcile.registry import ADAPTER_GROUP

__all__ = ["AdapterContract"]

Row = dict[str, Any]


class AdapterContract:
    """Contract tests every adapter must pass; subclass as ``Test<YourAdapter>``.

    Set :attr:`adapter_class` and implement :meth:`make_adapter` and
    :meth:`make_failing_adapter`. The sample rows are contacts with the
    source columns in :attr:`columns`, every value a string or None (write
    None as your format's empty value: an empty CSV cell, SQL NULL, JSON
    null). Override the class attributes to test another record type.

    Attributes:
        adapter_class: The adapter under test.
        source_name: The source name to give the adapter.
        record_type: The canonical record type of the one stream.
        columns: The source columns every sample row has, in order.
        fields: The stream's field mapping (canonical field -> source column).
        good_rows: Rows that are all used.
        bad_rows: ``(row, field)`` pairs: each row, read after the good rows,
            is quarantined with that canonical field named.
    """

    adapter_class: ClassVar[type[Adapter]]
    source_name: ClassVar[str] = "contract_source"
    record_type: ClassVar[str] = "contact"
    columns: ClassVar[list[str]] = ["id", "name", "email", "birth_date"]
    fields: ClassVar[dict[str, Any]] = {
        "contact_id": "id",
        "name": "name",
        "email": "email",
        "birth_date": "birth_date",
    }
    good_rows: ClassVar[list[Row]] = [
        {"id": "C1", "name": "Ann Lee", "email": "ann@example.com", "birth_date": "1980-02-03"},
        {"id": "C2", "name": "Bob Stone", "email": "bob@example.com", "birth_date": None},
        {"id": "C3", "name": "Cy Young", "email": None, "birth_date": "1975-12-31"},
        {"id": "C4", "name": "Di Ross", "email": "di@example.com", "birth_date": "2001-07-04"},
    ]
    bad_rows: ClassVar[list[tuple[Row, str]]] = [
        ({"id": None, "name": "No Key", "email": "nokey@example.com", "birth_date": None}, "contact_id"),
        ({"id": "C5", "name": "Bad Date", "email": None, "birth_date": "1999-31-31"}, "birth_date"),
        ({"id": "C1", "name": "Ann Again", "email": None, "birth_date": None}, "contact_id"),
    ]

    # --- what the subclass provides ------------------------------------------------------

    def make_adapter(self, rows: list[Row], tmp_path: Path) -> Adapter:
        """Build the adapter over ``rows``: one stream of :attr:`record_type`.

        Put the rows where the adapter reads them (a file under ``tmp_path``, a
        table, a mock server), in order, and map the stream with
        :attr:`fields`. Name the source :attr:`source_name`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_adapter(rows, tmp_path) -> Adapter"
        )

    def make_failing_adapter(self, tmp_path: Path) -> Adapter:
        """Build the adapter over a source that cannot be read (missing, unreachable, refused)."""
        raise NotImplementedError(
            f"{type(self).__name__} must implement make_failing_adapter(tmp_path) -> Adapter"
        )

    # --- helpers -------------------------------------------------------------------------

    def extract(self, rows: list[Row], tmp_path: Path) -> ExtractResult:
        """Build the adapter over ``rows`` and extract it."""
        adapter = self.make_adapter(rows, tmp_path)
        self._check_built(adapter)
        return adapter.extract()

    def _check_built(self, adapter: Adapter) -> None:
        assert isinstance(adapter, self.adapter_class), (
            f"make_adapter returned {adapter!r}, not a {self.adapter_class.__name__}"
        )
        assert adapter.name == self.source_name, (
            f"name the source {self.source_name!r} (the source_name attribute), not {adapter.name!r}"
        )
        assert list(adapter.config.streams) == [self.record_type], (
            f"make_adapter must configure exactly one stream, {self.record_type!r}; "
            f"got {list(adapter.config.streams)}"
        )

    @staticmethod
    def _assert_counts(result: ExtractResult) -> None:
        health = result.health
        assert health is not None, "extract() returned no health"
        assert health.rows_read == health.rows_used + health.rows_quarantined, health
        used = sum(len(rows) for rows in result.records.values())
        assert health.rows_used == used, (health, used)
        assert health.rows_quarantined == len(result.quarantine), health

    def _config_data(self, tmp_path: Path) -> tuple[Adapter, dict[str, Any]]:
        adapter = self.make_adapter(list(self.good_rows), tmp_path)
        data = adapter.config.model_dump(by_alias=True)
        # The dump must validate again as it is, or the unknown-key checks below prove nothing.
        self.adapter_class.config_model.model_validate(data)
        return adapter, data

    # --- the contract --------------------------------------------------------------------

    def test_good_rows_are_all_used(self, tmp_path: Path) -> None:
        result = self.extract(list(self.good_rows), tmp_path)
        self._assert_counts(result)
        health = result.health
        assert health is not None and health.healthy, health
        assert health.rows_read == len(self.good_rows), health
        assert health.rows_quarantined == 0, result.quarantine
        records = result.records[self.record_type]
        key_field = self._key_field()
        key_column = self.fields[key_field]
        assert [r[key_field] for r in records] == [row[key_column] for row in self.good_rows]

    def test_bad_rows_are_quarantined_with_source_position_and_field(self, tmp_path: Path) -> None:
        rows = list(self.good_rows) + [row for row, _ in self.bad_rows]
        result = self.extract(rows, tmp_path)
        self._assert_counts(result)
        health = result.health
        assert health is not None
        assert health.rows_read == len(rows), health
        assert health.rows_used == len(self.good_rows), (health, result.quarantine)
        assert health.rows_quarantined == len(self.bad_rows), (health, result.quarantine)
        assert [q.field for q in result.quarantine] == [field for _, field in self.bad_rows], (
            result.quarantine
        )
        for q in result.quarantine:
            assert q.source == self.source_name, q
            assert q.stream == self.record_type, q
            assert q.reason, q
            assert re.search(r"\d", q.row), f"the row's position should say where it is: {q.row!r}"

    def test_positions_are_unique_raw_rows(self, tmp_path: Path) -> None:
        rows = list(self.good_rows) + [row for row, _ in self.bad_rows]
        adapter = self.make_adapter(rows, tmp_path)
        stream = adapter.config.streams[self.record_type]
        try:
            raw = list(adapter.read(self.record_type, stream))
        finally:
            adapter.close()
        assert all(isinstance(r, RawRow) for r in raw), raw
        assert len(raw) == len(rows), raw
        positions = [r.position for r in raw]
        assert len(set(positions)) == len(positions), f"positions repeat: {positions}"

    def test_empty_source_is_healthy_with_no_rows(self, tmp_path: Path) -> None:
        result = self.extract([], tmp_path)
        self._assert_counts(result)
        health = result.health
        assert health is not None and health.healthy, health
        assert health.rows_read == 0, health

    def test_config_model_forbids_unknown_keys(self, tmp_path: Path) -> None:
        _, data = self._config_data(tmp_path)
        model = self.adapter_class.config_model
        for where, changed in (
            ("the source", {**data, "no_such_key": 1}),
            (
                "a stream",
                {**data, "streams": {
                    self.record_type: {**data["streams"][self.record_type], "no_such_key": 1}
                }},
            ),
        ):
            try:
                model.model_validate(changed)
            except ValidationError as exc:
                kinds = {(e["type"], e["loc"][-1]) for e in exc.errors()}
                assert ("extra_forbidden", "no_such_key") in kinds, exc.errors()
            else:
                raise AssertionError(
                    f"{model.__name__} accepted an unknown key in {where}; "
                    'set model_config = ConfigDict(extra="forbid")'
                )

    def test_config_models_subclass_the_base_models(self) -> None:
        model = self.adapter_class.config_model
        assert issubclass(model, SourceConfig), f"{model.__name__} must subclass reconcile.SourceConfig"
        stream_type = model.model_fields["streams"].annotation
        stream_models = [
            arg for arg in _type_args(stream_type) if isinstance(arg, type) and issubclass(arg, BaseModel)
        ]
        assert stream_models, f"{model.__name__}.streams must map record types to a StreamConfig model"
        for stream_model in stream_models:
            assert issubclass(stream_model, StreamConfig), (
                f"{stream_model.__name__} must subclass reconcile.StreamConfig"
            )

    def test_kind_matches_the_registered_entry_point(self) -> None:
        cls = self.adapter_class
        kind = getattr(cls, "kind", None)
        assert isinstance(kind, str) and kind, f"{cls.__name__} must declare kind: ClassVar[str]"
        field = cls.config_model.model_fields.get("kind")
        assert field is not None and typing.get_args(field.annotation) == (kind,), (
            f"{cls.config_model.__name__} must declare kind: Literal[{kind!r}] = {kind!r}"
        )
        assert field.default == kind, f"{cls.config_model.__name__}.kind should default to {kind!r}"
        registered = {ep.name: ep for ep in metadata.entry_points(group=ADAPTER_GROUP)}
        path = f"{cls.__module__}:{cls.__qualname__}"
        assert kind in registered, (
            f"no entry point {kind!r} in group {ADAPTER_GROUP!r}; add to pyproject.toml\n"
            f'  [project.entry-points."{ADAPTER_GROUP}"]\n  {kind} = "{path}"\n'
            "and reinstall the package (pip install -e .)"
        )
        loaded = registered[kind].load()
        assert loaded is cls, (
            f"entry point {kind!r} loads {registered[kind].value}, not {path}"
        )

    def test_failing_source_raises_source_error_naming_it(self, tmp_path: Path) -> None:
        adapter = self.make_failing_adapter(tmp_path)
        assert adapter.name == self.source_name, "name the failing source source_name too"
        stream = adapter.config.streams[self.record_type]
        try:
            for _ in adapter.read(self.record_type, stream):
                pass
        except SourceError as exc:
            assert exc.source == self.source_name, exc
            assert repr(self.source_name) in str(exc), exc
        else:
            raise AssertionError("reading a source that cannot be read must raise SourceError")
        finally:
            adapter.close()
        result = self.make_failing_adapter(tmp_path).extract()
        assert result.health is not None and not result.health.healthy, result.health
        assert repr(self.source_name) in (result.health.error or ""), result.health

    def _key_field(self) -> str:
        from reconcile.model import record_model

        return record_model(self.record_type).key_field


def _type_args(annotation: Any) -> list[Any]:
    """Every type inside an annotation such as ``dict[str, FooStream]``."""
    out = [annotation]
    for arg in typing.get_args(annotation):
        out.extend(_type_args(arg))
    return out
