"""File adapters: ``csv`` and ``jsonl`` (optionally gzip-compressed).

Every row is accounted for by its line number (the line it starts on: a CSV
record with quoted newlines spans several). A row that cannot be parsed, has
too few or too many cells, or holds bytes that are not valid in the file's
encoding is quarantined with that line number and the reason; the rest of
the file is read. A file that cannot be opened, or a gzip file cut short,
makes the source unhealthy.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, cast

from pydantic import Field, model_validator

from reconcile.errors import ConfigError, SourceError
from reconcile.extract.base import (
    Adapter,
    RawRow,
    RowBatch,
    SourceConfig,
    StreamConfig,
    flatten,
    unbatch,
    undecodable,
)
from reconcile.extract.mapping import RowMapper
from reconcile.model import record_model

__all__ = ["CsvAdapter", "CsvSourceConfig", "CsvStreamConfig", "JsonlAdapter", "JsonlSourceConfig", "JsonlStreamConfig"]

_BATCH_ROWS = 5_000

# Undecodable bytes are read as lone surrogates (surrogateescape), which no
# valid text contains; the handler counts them, so only files that had any
# pay for looking for them row by row.
_decode_errors = [0]


def _mark_undecodable(exc: UnicodeError) -> tuple[str | bytes, int]:
    _decode_errors[0] += 1
    return codecs.lookup_error("surrogateescape")(exc)


codecs.register_error("reconcile-undecodable", _mark_undecodable)


class FileStreamConfig(StreamConfig):
    """A stream read from one file; ``path`` is relative to the config file.

    Attributes:
        path: The file; a name ending in ``.gz`` is decompressed.
        encoding: The text encoding (a UTF-8 byte order mark is skipped).
        encoding_errors: ``quarantine`` a row holding bytes that are not
            valid in the encoding, or ``replace`` them with U+FFFD and keep it.
        compression: ``auto`` (by the ``.gz`` suffix), ``gzip`` or ``none``.
    """

    path: str
    encoding: str = "utf-8"
    encoding_errors: Literal["quarantine", "replace"] = "quarantine"
    compression: Literal["auto", "gzip", "none"] = "auto"

    @model_validator(mode="after")
    def _known_encoding(self) -> FileStreamConfig:
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise ValueError(f"unknown encoding {self.encoding!r} (such as utf-8, latin-1, cp1252)") from None
        return self


class CsvStreamConfig(FileStreamConfig):
    """A CSV (or tab-, semicolon-... delimited) file.

    Attributes:
        delimiter: The field separator, one character (``"\\t"`` for tabs).
        quotechar: The quote character, or None when nothing is quoted.
        quoting: ``minimal`` (quotes are special) or ``none`` (they are data).
        escapechar: A character that escapes the delimiter or quote, if any.
        doublequote: A doubled quote inside a quoted field is one quote.
        skip_initial_space: Ignore spaces right after a delimiter.
        header: The first line names the columns.
        column_names: The columns' names, for a file without a header (or to
            rename a header's columns, which is then skipped).
    """

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quotechar: str | None = Field(default='"', min_length=1, max_length=1)
    quoting: Literal["minimal", "none"] = "minimal"
    escapechar: str | None = Field(default=None, min_length=1, max_length=1)
    doublequote: bool = True
    skip_initial_space: bool = False
    header: bool = True
    column_names: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _names_for_headerless(self) -> CsvStreamConfig:
        if not self.header and self.column_names is None:
            raise ValueError("a file without a header needs 'column_names'")
        if self.column_names is not None and len(set(self.column_names)) != len(self.column_names):
            raise ValueError("'column_names' repeats a name")
        if self.quoting == "minimal" and self.quotechar is None:
            raise ValueError("quoting 'minimal' needs a quotechar (or set quoting: none)")
        return self


class JsonlStreamConfig(FileStreamConfig):
    """A JSON Lines file: one JSON object per line.

    Attributes:
        max_line_bytes: A longer line is quarantined without being parsed.
    """

    max_line_bytes: int = Field(default=16 * 1024 * 1024, ge=1)


class CsvSourceConfig(SourceConfig):
    """Configuration of a ``csv`` source."""

    kind: Literal["csv"] = "csv"
    streams: dict[str, CsvStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class JsonlSourceConfig(SourceConfig):
    """Configuration of a ``jsonl`` source."""

    kind: Literal["jsonl"] = "jsonl"
    streams: dict[str, JsonlStreamConfig] = Field(min_length=1)  # type: ignore[assignment]


class _FileAdapter(Adapter):
    def open_binary(self, stream: FileStreamConfig) -> IO[bytes]:
        path: Path = self.resolve_path(stream.path)
        if not path.is_file():
            raise SourceError(self.name, f"file {path} does not exist")
        gzipped = stream.compression == "gzip" or (stream.compression == "auto" and path.suffix == ".gz")
        try:
            return cast(IO[bytes], gzip.open(path, "rb") if gzipped else path.open("rb"))
        except OSError as exc:
            raise SourceError(self.name, f"cannot open {path}: {exc.strerror or exc}") from None

    @staticmethod
    def reading_encoding(stream: FileStreamConfig) -> str:
        # utf-8-sig reads files with and without a byte order mark alike.
        return "utf-8-sig" if codecs.lookup(stream.encoding).name == "utf-8" else stream.encoding

    def broken_file(self, stream: FileStreamConfig, exc: BaseException) -> SourceError:
        return SourceError(self.name, f"{stream.path}: the file is damaged or cut short ({exc})")

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        return unbatch(self.read_batches(record_type, stream))

    def _missing(self, record_type: str, stream: StreamConfig, have: list[str]) -> None:
        """A mapped (cursor, soft-delete) column the file's header does not have is a configuration error."""
        mapper = RowMapper(record_model(record_type), stream.fields)
        where = f"sources.{self.name}.streams.{record_type}"
        listing = ", ".join(have)
        assert isinstance(stream, FileStreamConfig)
        problems = [
            (f"{where}.fields.{compiled.name}", f"{stream.path} has no column {column!r}; it has: {listing}")
            for compiled in mapper.fields
            for column in compiled.columns
            if column not in have
        ]
        for part, extra in (("cursor.column", stream.cursor), ("deleted.column", stream.deleted)):
            if extra is not None and extra.column not in have:
                problems.append((f"{where}.{part}", f"{stream.path} has no column {extra.column!r}; it has: {listing}"))
        if problems:
            raise ConfigError(problems)


def _unique_names(names: list[str]) -> list[str]:
    """Header names, a repeated one suffixed as pandas does: ``x``, ``x.1``, ``x.2``."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        if name in seen:
            seen[name] += 1
            candidate = f"{name}.{seen[name]}"
            while candidate in seen:
                seen[name] += 1
                candidate = f"{name}.{seen[name]}"
            seen[candidate] = 0
            out.append(candidate)
        else:
            seen[name] = 0
            out.append(name)
    return out


class CsvAdapter(_FileAdapter):
    """Reads delimited text files, with a header row or named columns."""

    kind: ClassVar[str] = "csv"
    config_model: ClassVar[type[SourceConfig]] = CsvSourceConfig

    def read_batches(self, record_type: str, stream: StreamConfig) -> Iterator[RowBatch | RawRow]:
        assert isinstance(stream, CsvStreamConfig)
        quarantine_bad_bytes = stream.encoding_errors == "quarantine"
        binary = self.open_binary(stream)
        text = io.TextIOWrapper(
            binary,
            encoding=self.reading_encoding(stream),
            errors="reconcile-undecodable" if quarantine_bad_bytes else "replace",
            newline="",
        )
        errors_before = _decode_errors[0]
        reader = csv.reader(
            text,
            delimiter=stream.delimiter,
            quotechar=stream.quotechar,
            quoting=csv.QUOTE_NONE if stream.quoting == "none" else csv.QUOTE_MINIMAL,
            escapechar=stream.escapechar,
            doublequote=stream.doublequote,
            skipinitialspace=stream.skip_initial_space,
            strict=True,
        )
        with text:
            try:
                yield from self._rows(record_type, stream, reader, quarantine_bad_bytes, errors_before)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise self.broken_file(stream, exc) from None
            except UnicodeDecodeError as exc:  # only in an encoding whose decoder cannot resume
                raise SourceError(self.name, f"{stream.path}: {exc}") from None

    def _rows(
        self,
        record_type: str,
        stream: CsvStreamConfig,
        reader: Any,
        quarantine_bad_bytes: bool,
        errors_before: int,
    ) -> Iterator[RowBatch | RawRow]:
        names = stream.column_names
        start = 1
        if stream.header:
            while True:
                try:
                    header = next(reader)
                except StopIteration:
                    return  # an empty file: no rows
                except csv.Error as exc:
                    raise SourceError(self.name, f"{stream.path}: unreadable header: {exc}") from None
                start = reader.line_num + 1
                if header:
                    break
            if names is None:
                names = _unique_names([h.strip().lstrip("\ufeff") for h in header])
            if quarantine_bad_bytes and _decode_errors[0] != errors_before:
                shown = undecodable("".join(names), stream.encoding)
                if shown:
                    raise SourceError(self.name, f"{stream.path}: the header line holds {shown}")
        assert names is not None
        self._missing(record_type, stream, names)
        width = len(names)
        rows: list[list[str]] = []
        lines: list[int] = []
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                if rows:  # rows are yielded in source order
                    yield RowBatch(names, rows, lines, "line")
                    rows, lines = [], []
                yield RawRow(position=f"line {start}", data=None, error=f"malformed CSV: {exc}")
                start = reader.line_num + 1
                continue
            line = start
            start = reader.line_num + 1
            if not values:
                continue  # a blank line is not a row
            if len(values) != width:
                if rows:
                    yield RowBatch(names, rows, lines, "line")
                    rows, lines = [], []
                data: dict[str, Any] = dict(zip(names, values, strict=False))
                if len(values) > width:
                    data["_extra_cells"] = values[width:]
                yield RawRow(
                    position=f"line {line}",
                    data=data,
                    error=f"expected {width} cells, found {len(values)}"
                    + (" (the line may be cut short)" if len(values) < width else ""),
                )
                continue
            if quarantine_bad_bytes and _decode_errors[0] != errors_before:
                bad = next(((n, s) for n, v in zip(names, values, strict=True) if (s := undecodable(v, stream.encoding))), None)
                if bad is not None:
                    if rows:
                        yield RowBatch(names, rows, lines, "line")
                        rows, lines = [], []
                    yield RawRow(
                        position=f"line {line}",
                        data=dict(zip(names, values, strict=True)),
                        error=f"column {bad[0]!r}: {bad[1]}",
                        field=bad[0],
                    )
                    continue
            rows.append(values)
            lines.append(line)
            if len(rows) >= _BATCH_ROWS:
                yield RowBatch(names, rows, lines, "line")
                rows, lines = [], []
        if rows:
            yield RowBatch(names, rows, lines, "line")


class JsonlAdapter(_FileAdapter):
    """Reads JSON Lines files; nested objects are flattened with dots (``address.city``)."""

    kind: ClassVar[str] = "jsonl"
    config_model: ClassVar[type[SourceConfig]] = JsonlSourceConfig

    def read_batches(self, record_type: str, stream: StreamConfig) -> Iterator[RowBatch | RawRow]:
        assert isinstance(stream, JsonlStreamConfig)
        encoding = self.reading_encoding(stream)
        errors = "strict" if stream.encoding_errors == "quarantine" else "replace"
        limit = stream.max_line_bytes
        rows: list[dict[str, object]] = []
        lines: list[int] = []
        with self.open_binary(stream) as binary:
            try:
                for number, raw in enumerate(binary, start=1):
                    parsed = self._line(number, raw, limit, encoding, errors, stream)
                    if isinstance(parsed, dict):
                        rows.append(parsed)
                        lines.append(number)
                        if len(rows) >= _BATCH_ROWS:
                            yield RowBatch(None, rows, lines, "line")
                            rows, lines = [], []
                        continue
                    if parsed is None:
                        continue  # a blank line
                    if rows:  # rows are yielded in source order
                        yield RowBatch(None, rows, lines, "line")
                        rows, lines = [], []
                    yield parsed
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise self.broken_file(stream, exc) from None
        if rows:
            yield RowBatch(None, rows, lines, "line")

    @staticmethod
    def _line(
        number: int, raw: bytes, limit: int, encoding: str, errors: str, stream: JsonlStreamConfig
    ) -> dict[str, object] | RawRow | None:
        """One line: its flattened object, a RawRow saying why it cannot be used, or None if blank."""
        if len(raw) > limit:
            return RawRow(f"line {number}", None, f"line of {len(raw):,} bytes is longer than max_line_bytes={limit:,}")
        try:
            line = raw.decode(encoding if number == 1 else stream.encoding, errors)
        except UnicodeDecodeError as exc:
            bad = (
                f"bytes {exc.object[exc.start:exc.end]!r} at byte {exc.start + 1} are not valid "
                f"{stream.encoding} (set the stream's encoding)"
            )
            # Name the field holding them when the rest of the line is sound JSON.
            with contextlib.suppress(ValueError, RecursionError):
                value = json.loads(raw.decode(encoding if number == 1 else stream.encoding, "surrogateescape"))
                if isinstance(value, dict):
                    data = flatten(value)
                    for key, item in data.items():
                        if isinstance(item, str) and undecodable(item, stream.encoding):
                            return RawRow(f"line {number}", data, f"column {key!r}: {bad}", key)
            return RawRow(f"line {number}", None, bad)
        if not line.strip():
            return None
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            cut = "" if raw.endswith(b"\n") else " (the last line may be cut short)"
            return RawRow(f"line {number}", None, f"invalid JSON: {exc.msg} at column {exc.colno}{cut}")
        except RecursionError:
            return RawRow(f"line {number}", None, "invalid JSON: nested too deeply")
        if not isinstance(value, dict):
            return RawRow(f"line {number}", None, f"expected a JSON object, found {type(value).__name__}")
        return flatten(value)

