# file: reconcile_fixedwidth/adapter.py
"""A reconcile adapter for fixed-width text exports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from reconcile import Adapter, RawRow, SourceConfig, SourceError, StreamConfig


class Column(BaseModel):
    """One field of the record layout: 1-based start, as layouts print it, and width."""

    model_config = ConfigDict(extra="forbid")

    name: str
    start: int = Field(ge=1)
    width: int = Field(ge=1)


class FixedWidthStreamConfig(StreamConfig):
    path: str
    encoding: str = "utf-8"
    layout: list[Column] = Field(min_length=1)


class FixedWidthSourceConfig(SourceConfig):
    kind: Literal["fixed_width"] = "fixed_width"
    streams: dict[str, FixedWidthStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class FixedWidthAdapter(Adapter):
    """Reads fixed-width text files, one record per line."""

    kind: ClassVar[str] = "fixed_width"
    config_model: ClassVar[type[SourceConfig]] = FixedWidthSourceConfig

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, FixedWidthStreamConfig)
        path = self.resolve_path(stream.path)
        if not path.is_file():
            raise SourceError(self.name, f"file {path} does not exist")
        needed = max(c.start + c.width - 1 for c in stream.layout)
        with path.open(encoding=stream.encoding, errors="replace", newline="") as fh:
            for number, line in enumerate(fh, start=1):
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                data = {
                    c.name: line[c.start - 1 : c.start - 1 + c.width].strip() or None
                    for c in stream.layout
                }
                if len(line) < needed:
                    yield RawRow(
                        position=f"line {number}",
                        data=data,
                        error=f"truncated line: {len(line)} characters, the layout needs {needed}",
                    )
                    continue
                yield RawRow(position=f"line {number}", data=data)
