"""In-memory adapters for apps and tests: ``dataframe`` (pandas) and ``records`` (dicts).

The data is given from Python, not from YAML::

    config = reconcile.parse_config({
        "sources": {
            "crm": {"kind": "dataframe",
                    "streams": {"contact": {"frame": df, "fields": {"contact_id": "id"}}}},
        },
    })

The data itself is not configuration: it is left out of a JSON dump of the
configuration (and so out of ``Config.digest()``), where a short summary
(type, rows, columns) stands in its place.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sized
from typing import Annotated, Any, ClassVar, Literal

import pandas as pd
from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    WithJsonSchema,
    field_serializer,
    field_validator,
)

from reconcile.errors import SourceError
from reconcile.extract.base import Adapter, RawRow, SourceConfig, StreamConfig

__all__ = [
    "DataFrameAdapter",
    "DataFrameSourceConfig",
    "DataFrameStreamConfig",
    "RecordsAdapter",
    "RecordsSourceConfig",
    "RecordsStreamConfig",
]

# Rows are converted to Python objects a slice at a time, so a large frame is
# never copied whole into a list of dicts.
_SLICE = 10_000


class DataFrameStreamConfig(StreamConfig):
    """One record type read from a pandas DataFrame.

    Attributes:
        frame: The rows; each column is a source column for ``fields``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    # The JSON Schema (reconcile schema) can only say what it is: YAML cannot hold one.
    frame: Annotated[
        pd.DataFrame, WithJsonSchema({"description": "a pandas DataFrame, given from Python"})
    ]

    @field_serializer("frame", when_used="json")
    def _summary(self, frame: pd.DataFrame) -> dict[str, Any]:
        return {"type": "DataFrame", "rows": len(frame), "columns": [str(c) for c in frame.columns]}


class RecordsStreamConfig(StreamConfig):
    """One record type read from a list (or any iterable) of mappings.

    Attributes:
        records: The rows, one mapping (column -> value) each. A generator is
            read once: extract a source built over one a single time.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    records: Annotated[
        Any,
        WithJsonSchema({"type": "array", "items": {"type": "object"},
                        "description": "rows, one mapping each (from Python: any iterable)"}),
    ]
    # Set when an iterator (a generator) has been read: a second read would find it
    # empty and report every record as gone, so it is refused instead.
    _used_up: bool = PrivateAttr(default=False)

    @field_validator("records")
    @classmethod
    def _iterable_of_rows(cls, value: Any) -> Any:
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise ValueError(
                f"must be a list (or any iterable) of dicts, one per row; got {type(value).__name__}"
            )
        return value

    @field_serializer("records", when_used="json")
    def _summary(self, records: Any) -> dict[str, Any]:
        # Never iterate here: a generator would be used up before extraction.
        summary: dict[str, Any] = {"type": type(records).__name__}
        if isinstance(records, Sized):
            summary["rows"] = len(records)
        return summary


class DataFrameSourceConfig(SourceConfig):
    """Configuration of a ``dataframe`` source."""

    kind: Literal["dataframe"] = "dataframe"
    streams: dict[str, DataFrameStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class RecordsSourceConfig(SourceConfig):
    """Configuration of a ``records`` source."""

    kind: Literal["records"] = "records"
    streams: dict[str, RecordsStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class DataFrameAdapter(Adapter):
    """Reads the rows of a pandas DataFrame; missing values (NaN, NaT, NA) become None.

    Rows are positioned as ``row N`` (1-based, in frame order).
    """

    kind: ClassVar[str] = "dataframe"
    config_model: ClassVar[type[SourceConfig]] = DataFrameSourceConfig

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, DataFrameStreamConfig)
        frame = stream.frame
        columns = [str(c) for c in frame.columns]
        duplicated = sorted({c for c in columns if columns.count(c) > 1})
        if duplicated:
            raise SourceError(
                self.name,
                f"the {record_type} frame has duplicate column names {duplicated}; "
                "rename them so no column is lost",
            )
        number = 0
        for start in range(0, len(frame), _SLICE):
            part = frame.iloc[start : start + _SLICE]
            # object dtype first, so None survives where() in numeric columns.
            part = part.astype(object).where(part.notna(), None)
            for values in part.itertuples(index=False, name=None):
                number += 1
                yield RawRow(position=f"row {number}", data=dict(zip(columns, values, strict=True)))


class RecordsAdapter(Adapter):
    """Reads a list (or any iterable) of dicts, such as rows an app already holds.

    An item that is not a mapping is quarantined; an iterable that raises
    while being read makes the source fail with a :class:`SourceError`.
    Rows are positioned as ``row N`` (1-based).
    """

    kind: ClassVar[str] = "records"
    config_model: ClassVar[type[SourceConfig]] = RecordsSourceConfig

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, RecordsStreamConfig)
        iterator = iter(stream.records)
        if iterator is stream.records:
            if stream._used_up:
                raise SourceError(
                    self.name,
                    f"the {record_type} records are an iterator (a generator) that was already "
                    "read; give a list, or build the configuration again, to read them again",
                )
            stream._used_up = True
        number = 0
        while True:
            try:
                item = next(iterator)
            except StopIteration:
                return
            except Exception as exc:  # the app's iterable failed: the source failed
                raise SourceError(
                    self.name,
                    f"reading the {record_type} records failed after row {number}: "
                    f"{type(exc).__name__}: {exc}",
                ) from exc
            number += 1
            position = f"row {number}"
            if not isinstance(item, Mapping):
                yield RawRow(
                    position=position,
                    data=None,
                    error=f"expected a mapping (dict) per row, found {type(item).__name__}",
                )
                continue
            yield RawRow(position=position, data={str(k): v for k, v in item.items()})
