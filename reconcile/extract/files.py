"""File adapters: ``csv`` and ``jsonl`` (optionally gzip-compressed)."""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, ClassVar, Literal

from pydantic import Field

from reconcile.errors import SourceError
from reconcile.extract.base import Adapter, RawRow, SourceConfig, StreamConfig

__all__ = ["CsvAdapter", "CsvSourceConfig", "CsvStreamConfig", "JsonlAdapter", "JsonlSourceConfig", "JsonlStreamConfig"]


class FileStreamConfig(StreamConfig):
    """A stream read from one file; ``path`` is relative to the config file."""

    path: str
    encoding: str = "utf-8"


class CsvStreamConfig(FileStreamConfig):
    """A CSV file with a header row."""

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str = Field(default='"', min_length=1, max_length=1)


class JsonlStreamConfig(FileStreamConfig):
    """A JSON Lines file: one JSON object per line."""


class CsvSourceConfig(SourceConfig):
    kind: Literal["csv"] = "csv"
    streams: dict[str, CsvStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class JsonlSourceConfig(SourceConfig):
    kind: Literal["jsonl"] = "jsonl"
    streams: dict[str, JsonlStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class _FileAdapter(Adapter):
    def open_text(self, stream: FileStreamConfig) -> IO[str]:
        path: Path = self.resolve_path(stream.path)
        if not path.is_file():
            raise SourceError(self.name, f"file {path} does not exist")
        # Undecodable bytes become U+FFFD so one bad row does not fail the file;
        # the row is then quarantined by validation if a field needs it.
        binary = gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")  # noqa: SIM115
        return io.TextIOWrapper(binary, encoding=stream.encoding, errors="replace", newline="")


class CsvAdapter(_FileAdapter):
    """Reads CSV files with a header row."""

    kind: ClassVar[str] = "csv"
    config_model: ClassVar[type[SourceConfig]] = CsvSourceConfig

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, CsvStreamConfig)
        with self.open_text(stream) as fh:
            reader = csv.reader(fh, delimiter=stream.delimiter, quotechar=stream.quotechar, strict=True)
            try:
                header = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise SourceError(self.name, f"{stream.path}: unreadable header: {exc}") from None
            header = [h.strip().lstrip("\ufeff") for h in header]
            while True:
                line = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield RawRow(position=f"line {line}", data=None, error=f"malformed CSV: {exc}")
                    continue
                if not values:
                    continue  # a blank line is not a row
                position = f"line {reader.line_num}"
                if len(values) != len(header):
                    yield RawRow(
                        position=position,
                        data=dict(zip(header, values, strict=False)),
                        error=f"expected {len(header)} columns, found {len(values)}",
                    )
                    continue
                yield RawRow(position=position, data=dict(zip(header, values, strict=True)))


class JsonlAdapter(_FileAdapter):
    """Reads JSON Lines files; nested objects are flattened with dots (``address.city``)."""

    kind: ClassVar[str] = "jsonl"
    config_model: ClassVar[type[SourceConfig]] = JsonlSourceConfig

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, JsonlStreamConfig)
        with self.open_text(stream) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                position = f"line {number}"
                try:
                    value = json.loads(line)
                except json.JSONDecodeError as exc:
                    yield RawRow(position=position, data=None, error=f"invalid JSON: {exc.msg} at column {exc.colno}")
                    continue
                if not isinstance(value, dict):
                    yield RawRow(position=position, data=None, error=f"expected a JSON object, found {type(value).__name__}")
                    continue
                yield RawRow(position=position, data=_flatten(value))


def _flatten(value: dict, prefix: str = "") -> dict:
    out: dict = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(_flatten(item, f"{name}."))
        else:
            out[name] = item
    return out
