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
import re
import zlib
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, cast

import numpy as np
from pydantic import Field, model_validator

from reconcile.errors import ConfigError, SourceError
from reconcile.extract import _arrow
from reconcile.extract.base import (
    Adapter,
    RawRow,
    RowBatch,
    SourceConfig,
    StreamConfig,
    flatten,
    lone_surrogate,
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
    #: A file is read whole, its cursor checked after: a key scan collects its keys in the same read.
    reads_every_row = True

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
        binary = self.open_binary(stream)
        with binary:
            try:
                if self._fast(stream):
                    yield from self._arrow_blocks(record_type, stream, binary)
                else:
                    yield from self._csv_module(record_type, stream, binary)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise self.broken_file(stream, exc) from None
            except UnicodeDecodeError as exc:  # only in an encoding whose decoder cannot resume
                raise SourceError(self.name, f"{stream.path}: {exc}") from None

    def _fast(self, stream: CsvStreamConfig) -> bool:
        """Whether the file can be parsed by pyarrow in blocks (the csv module checks what it cannot vouch for)."""
        specials = {"\r", "\n"}
        return (
            self.columnar  # the row-by-row reference reads with the csv module
            and _arrow.available()
            and codecs.lookup(stream.encoding).name == "utf-8"
            and stream.escapechar is None
            and stream.doublequote
            and not stream.skip_initial_space
            and stream.delimiter.isascii()
            and stream.delimiter not in specials
            and (
                stream.quoting == "none"
                or (
                    stream.quotechar is not None
                    and stream.quotechar.isascii()
                    and stream.quotechar not in specials
                    and stream.quotechar != stream.delimiter
                )
            )
        )

    def _csv_module(
        self,
        record_type: str,
        stream: CsvStreamConfig,
        binary: IO[bytes] | io.RawIOBase,
        names: list[str] | None = None,
        offset: int = 0,
        spill: bool = False,
    ) -> Generator[RowBatch | RawRow, None, int]:
        """Read ``binary`` with the csv module; returns how many lines it read.

        Args:
            names: The columns, when the file's header was read already
                (``binary`` then holds rows only).
            offset: Lines before ``binary`` starts (its first line is ``offset + 1``).
            spill: ``binary`` is a block of a file: a record still open at its
                end raises :class:`_Spill` instead of being quarantined.
        """
        quarantine_bad_bytes = stream.encoding_errors == "quarantine"
        encoding = self.reading_encoding(stream) if names is None else stream.encoding
        text = io.TextIOWrapper(
            cast(IO[bytes], _Unclosed(binary)),
            encoding=encoding,
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
        return (yield from self._rows(record_type, stream, reader, quarantine_bad_bytes, errors_before, names, offset, spill))

    def _rows(
        self,
        record_type: str,
        stream: CsvStreamConfig,
        reader: Any,
        quarantine_bad_bytes: bool,
        errors_before: int,
        known: list[str] | None = None,
        offset: int = 0,
        spill: bool = False,
    ) -> Generator[RowBatch | RawRow, None, int]:
        """The rows read by ``reader``; returns how many lines it read."""
        names = known or stream.column_names
        start = offset + 1
        if stream.header and known is None:
            while True:
                try:
                    header = next(reader)
                except StopIteration:
                    return 0  # an empty file: no rows
                except csv.Error as exc:
                    raise SourceError(self.name, f"{stream.path}: unreadable header: {exc}") from None
                start = offset + reader.line_num + 1
                if header:
                    break
            if names is None:
                names = _unique_names([h.strip().lstrip("\ufeff") for h in header])
            if quarantine_bad_bytes and _decode_errors[0] != errors_before:
                shown = undecodable("".join(names), stream.encoding)
                if shown:
                    raise SourceError(self.name, f"{stream.path}: the header line holds {shown}")
        assert names is not None
        if known is None:
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
                if spill and str(exc) == "unexpected end of data":
                    if rows:
                        yield RowBatch(names, rows, lines, "line")
                    raise _Spill(start) from None
                if rows:  # rows are yielded in source order
                    yield RowBatch(names, rows, lines, "line")
                    rows, lines = [], []
                yield RawRow(position=f"line {start}", data=None, error=f"malformed CSV: {exc}")
                start = offset + reader.line_num + 1
                continue
            line = start
            start = offset + reader.line_num + 1
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
        return start - 1 - offset

    # -- pyarrow, block by block -------------------------------------------------

    def _arrow_blocks(self, record_type: str, stream: CsvStreamConfig, binary: IO[bytes]) -> Iterator[RowBatch | RawRow]:
        """Read the file in blocks of whole lines, each parsed by pyarrow where that gives what the csv module would.

        A block is taken from pyarrow only when every one of its lines is
        one row (no blank lines, no line breaks inside quotes, so row ``i``
        is on the block's line ``i``), its quotes are where the csv module
        reads them as quoting (checked on the bytes), every row has its
        cells, its text is UTF-8 and no cell is over the csv module's field
        limit. Any other block is read by the csv module, which quarantines
        what it must; a record still open at a block's end is read on from
        the rest of the file by the csv module.
        """
        pending = binary.read(_BLOCK)
        if pending.startswith(codecs.BOM_UTF8):
            pending = pending[len(codecs.BOM_UTF8) :]
        names = stream.column_names
        line = 1
        if stream.header:
            end = pending.find(b"\n")
            while end < 0 and (more := binary.read(_BLOCK)):
                pending += more
                end = pending.find(b"\n")
            first = pending if end < 0 else pending[: end + 1]
            header = self._header(first, stream)
            if header is None:  # blank lines first, a header over several lines...: the csv module reads it all
                yield from self._csv_module(record_type, stream, _Chain(pending, binary))
                return
            if names is None:
                names = _unique_names([h.strip().lstrip("\ufeff") for h in header])
            pending = pending[len(first) :]
            line = 2
        assert names is not None
        self._missing(record_type, stream, names)
        parse = _ArrowCsv(names, stream)
        blocks = _WholeLines(binary, pending)
        for block, lines in blocks:
            table = parse(block, lines)
            if table is not None:
                yield RowBatch.from_arrow(table, range(line, line + lines), "line")
                line += lines
                continue
            try:
                # Lines as the csv module counts them (a lone carriage return ends one).
                line += yield from self._csv_module(record_type, stream, io.BytesIO(block), names, line - 1, spill=True)
            except _Spill as spilled:
                # A quoted value goes on past the block: the csv module reads the rest of the file.
                at = _line_start(block, spilled.line - line)
                rest = _Chain(block[at:] + blocks.pending, binary)
                yield from self._csv_module(record_type, stream, rest, names, spilled.line - 1)
                return

    def _header(self, first: bytes, stream: CsvStreamConfig) -> list[str] | None:
        """The header line's cells, or None when the csv module must read the file from its start."""
        body = first[:-2] if first.endswith(b"\r\n") else first[:-1] if first.endswith(b"\n") else first
        if not body.strip() or b"\r" in body or b"\n" in body:
            return None
        if stream.quoting == "minimal" and stream.quotechar is not None and body.count(stream.quotechar.encode()) % 2:
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None
        reader = csv.reader(
            [text],
            delimiter=stream.delimiter,
            quotechar=stream.quotechar,
            quoting=csv.QUOTE_NONE if stream.quoting == "none" else csv.QUOTE_MINIMAL,
            strict=True,
        )
        try:
            return next(reader)
        except (csv.Error, StopIteration):
            return None


_BLOCK = 8 << 20  # bytes of a file parsed by pyarrow at a time


class _WholeLines:
    """A file read on in blocks of whole lines of about ``_BLOCK`` bytes (the last may lack its line end).

    Iterating gives each block and its number of lines; ``pending`` holds
    what has been read past the last block given (for a reader taking over
    the rest of the file).
    """

    def __init__(self, binary: IO[bytes], pending: bytes):
        self.binary = binary
        self.pending = pending

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        eof = False
        while True:
            pending = self.pending
            while not eof and (len(pending) < _BLOCK or pending.rfind(b"\n") < 0):
                more = self.binary.read(_BLOCK)
                if not more:
                    eof = True
                    break
                pending += more
            if not pending:
                self.pending = b""
                return
            if eof:
                block, self.pending = pending, b""
            else:
                cut = pending.rfind(b"\n") + 1
                block, self.pending = pending[:cut], pending[cut:]
            yield block, block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


class _Spill(Exception):
    """A block read by the csv module ends inside a quoted value that starts on ``line``."""

    def __init__(self, line: int):
        super().__init__(line)
        self.line = line


def _line_start(block: bytes, k: int) -> int:
    """The offset of the block's line ``k`` (0: the first), lines ended as the csv module ends them."""
    if k == 0:
        return 0
    for count, found in enumerate(_LINE_END.finditer(block), start=1):
        if count == k:
            return found.end()
    raise ValueError(f"the block has fewer than {k} lines")


_LINE_END = re.compile(rb"\r\n|\r|\n")


class _Unclosed(io.RawIOBase):
    """A binary stream read through without closing it (the adapter closes the file)."""

    def __init__(self, raw: IO[bytes] | io.RawIOBase):
        self._raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer)) or b""
        buffer[: len(data)] = data
        return len(data)


class _Chain(io.RawIOBase):
    """Bytes already read, then the rest of a binary stream."""

    def __init__(self, head: bytes, rest: IO[bytes]):
        self._head = memoryview(head)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._rest.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _ArrowCsv:
    """Parses a block of whole CSV lines with pyarrow, or says the csv module must."""

    def __init__(self, names: list[str], stream: CsvStreamConfig):
        import pyarrow as pa
        import pyarrow.csv as pacsv

        self.pa = pa
        self.names = names
        self.quote = (
            ord(stream.quotechar) if stream.quoting == "minimal" and stream.quotechar is not None else None
        )
        self.delimiter = ord(stream.delimiter)
        self.read = pacsv.read_csv
        self.read_options = pacsv.ReadOptions(column_names=names, use_threads=True)
        self.parse_options = pacsv.ParseOptions(
            delimiter=stream.delimiter,
            quote_char=stream.quotechar if self.quote is not None else False,
            double_quote=True,
            escape_char=False,
            newlines_in_values=False,
            ignore_empty_lines=True,
        )
        self.convert_options = pacsv.ConvertOptions(
            column_types={name: pa.string() for name in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )

    def __call__(self, block: bytes, lines: int) -> Any:
        """The block as a table of text columns, one row per line, or None."""
        if not self._plain(block):
            return None
        try:
            table = self.read(
                self.pa.py_buffer(block),
                read_options=self.read_options,
                parse_options=self.parse_options,
                convert_options=self.convert_options,
            )
        except self.pa.ArrowInvalid:  # a row with too few or too many cells, bytes that are not UTF-8
            return None
        if table.num_rows != lines:  # blank lines
            return None
        limit = csv.field_size_limit()
        if len(block) > limit:
            import pyarrow.compute as pc

            for column in table.columns:
                longest = pc.max(pc.binary_length(column)).as_py()
                if longest is not None and longest > limit:
                    return None  # the csv module quarantines such a row
        return table

    def _plain(self, block: bytes) -> bool:
        """No lone carriage return, and every quote where the csv module reads it as quoting."""
        if b"\r" in block and block.count(b"\r") != block.count(b"\r\n"):
            return False
        quote = self.quote
        if quote is None or bytes((quote,)) not in block:
            return True
        data = np.frombuffer(block, dtype=np.uint8)
        quotes = np.flatnonzero(data == quote)
        if quotes.size % 2:
            return False
        newlines = np.flatnonzero(data == 10)
        # An even number of quotes before every line break: no line break inside quotes.
        if (np.searchsorted(quotes, newlines) % 2).any():
            return False
        # Counted along each line, quote 0, 2, 4... opens a quoted cell (right after a
        # delimiter or at the start of the line) or is the second of a doubled quote;
        # quote 1, 3, 5... closes it (right before a delimiter or the line's end) or is
        # the first of a doubled quote. Anything else (a quote inside an unquoted
        # cell, text after a closing quote) is left to the csv module.
        opening, closing = quotes[0::2], quotes[1::2]
        before = data[np.maximum(opening - 1, 0)]
        ok = (opening == 0) | (before == self.delimiter) | (before == 10) | (before == quote)
        if not ok.all():
            return False
        after = data[np.minimum(closing + 1, data.size - 1)]
        ok = (closing == data.size - 1) | (after == self.delimiter) | (after == 10) | (after == 13) | (after == quote)
        return bool(ok.all())


#: Bytes that are not blank to a JSON Lines reader (blank: space, tab, carriage return, line feed).
_SOLID = np.ones(256, dtype=bool)
_SOLID[[32, 9, 13, 10]] = False


class _ArrowJson:
    """A block of JSON lines parsed by pyarrow, or None where that would not give what the json module gives.

    Taken only when the block is UTF-8, no line is over ``max_line_bytes``,
    every line that is not blank holds exactly one JSON object (pyarrow
    gives one row per such line), and every value is text, an integer, a
    boolean, null or an object of those (flattened with dots, as
    :func:`flatten` does, with no name given twice). Numbers with a fraction
    or beyond 64 bits (which pyarrow reads as floating point), NaN, a key
    given twice, a lone surrogate, lists: the json module reads the block. Text that pyarrow would take for timestamps is
    read again as text. A row's exact object (an absent key is not a null)
    is parsed again from its line when asked for (quarantine, row checks).
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.text_fields: dict[str, Any] = {}  # fields pyarrow must read as text (it took them for timestamps)

    def __call__(self, block: bytes, first: int) -> RowBatch | None:
        import pyarrow as pa

        data = np.frombuffer(block, dtype=np.uint8)
        ends = np.flatnonzero(data == 10)
        starts = np.concatenate([[0], ends + 1])
        stops = np.concatenate([ends + 1, [len(block)]])
        if len(starts) > 1 and starts[-1] == len(block):
            starts, stops = starts[:-1], stops[:-1]
        if not len(starts) or int((stops - starts).max()) > self.limit:
            return None
        try:
            block.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if _SURROGATE_ESCAPE.search(block):  # pyarrow reads a lone one as it likes; json keeps it
            return None
        # Blank lines (only spaces, tabs and line ends) are skipped by both readers.
        solid = _SOLID[data]
        filled = np.logical_or.reduceat(solid, starts) if len(data) else np.zeros(len(starts), dtype=bool)
        filled[stops == starts] = False
        rows = np.flatnonzero(filled)
        table = self._parse(block)
        if table is None or table.num_rows != len(rows):
            return None
        if any(pa.types.is_timestamp(t) for t in _leaf_types(table.schema)):
            self.text_fields.update(_as_text(table.schema))
            table = self._parse(block)
            if table is None or table.num_rows != len(rows) or not _exact_types(table.schema):
                return None
        elif not _exact_types(table.schema):
            return None
        while any(pa.types.is_struct(field.type) for field in table.schema):
            table = table.flatten()
        names = table.column_names
        # No name twice; and rows still counted (a table left without columns,
        # of empty objects only, counts none).
        if len(set(names)) != len(names) or table.num_rows != len(rows):
            return None
        line_starts, line_stops = starts[rows], stops[rows]

        def raw(i: int) -> dict[str, Any]:
            text = block[line_starts[i] : line_stops[i]].decode("utf-8")
            return flatten(json.loads(text))

        positions = (first + rows).tolist()
        return RowBatch(names, _arrow.ArrowRows(table), positions, "line", raw=raw)

    def _parse(self, block: bytes) -> Any:
        import pyarrow as pa
        import pyarrow.json as pj

        options = pj.ParseOptions(
            newlines_in_values=False,
            explicit_schema=pa.schema(list(self.text_fields.items())) if self.text_fields else None,
            unexpected_field_behavior="infer",
        )
        try:
            return pj.read_json(
                io.BytesIO(block), read_options=pj.ReadOptions(block_size=len(block) + 1), parse_options=options
            )
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            return None


#: A JSON escape of a UTF-16 surrogate (``\ud800``...), paired or not.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


_SURROGATE_ESCAPE_TEXT = re.compile(_SURROGATE_ESCAPE.pattern.decode("ascii"))
def _leaf_types(schema: Any) -> Iterator[Any]:
    """Every field type of a schema, nested ones included."""
    import pyarrow as pa

    stack = [field.type for field in schema]
    while stack:
        kind = stack.pop()
        yield kind
        if pa.types.is_struct(kind):
            stack.extend(kind.field(i).type for i in range(kind.num_fields))
        elif pa.types.is_list(kind) or pa.types.is_large_list(kind):
            stack.append(kind.value_type)


def _exact_types(schema: Any) -> bool:
    """Whether every value of a table of this schema is what the json module would give (see _ArrowJson)."""
    import pyarrow as pa

    def exact(kind: Any) -> bool:
        if pa.types.is_string(kind) or pa.types.is_int64(kind) or pa.types.is_boolean(kind) or pa.types.is_null(kind):
            return True
        if pa.types.is_struct(kind):
            return all(exact(kind.field(i).type) for i in range(kind.num_fields))
        return False  # lists among them: pyarrow's Python values of nested lists are not to be trusted

    return all(exact(field.type) for field in schema)


def _as_text(schema: Any) -> dict[str, Any]:
    """The top-level fields holding timestamps anywhere, with those timestamps read as text."""
    import pyarrow as pa

    def text(kind: Any) -> Any:
        if pa.types.is_timestamp(kind):
            return pa.string()
        if pa.types.is_struct(kind):
            return pa.struct([pa.field(kind.field(i).name, text(kind.field(i).type)) for i in range(kind.num_fields)])
        if pa.types.is_list(kind):
            return pa.list_(text(kind.value_type))
        return kind

    return {field.name: text(field.type) for field in schema if text(field.type) != field.type}


class JsonlAdapter(_FileAdapter):
    """Reads JSON Lines files; nested objects are flattened with dots (``address.city``)."""

    kind: ClassVar[str] = "jsonl"
    config_model: ClassVar[type[SourceConfig]] = JsonlSourceConfig

    def read_batches(self, record_type: str, stream: StreamConfig) -> Iterator[RowBatch | RawRow]:
        assert isinstance(stream, JsonlStreamConfig)
        with self.open_binary(stream) as binary:
            try:
                if self.columnar and codecs.lookup(stream.encoding).name == "utf-8" and _arrow.available():
                    yield from self._arrow_blocks(stream, binary)
                else:
                    yield from self._lines(stream, binary, 1)
            except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
                raise self.broken_file(stream, exc) from None

    def _lines(self, stream: JsonlStreamConfig, lines: Iterable[bytes], first: int) -> Iterator[RowBatch | RawRow]:
        """Lines parsed one by one by the json module (the reference), the first numbered ``first``."""
        encoding = self.reading_encoding(stream)
        errors = "strict" if stream.encoding_errors == "quarantine" else "replace"
        limit = stream.max_line_bytes
        rows: list[dict[str, object]] = []
        numbers: list[int] = []
        for number, raw in enumerate(lines, start=first):
            parsed = self._line(number, raw, limit, encoding, errors, stream)
            if isinstance(parsed, dict):
                rows.append(parsed)
                numbers.append(number)
                if len(rows) >= _BATCH_ROWS:
                    yield RowBatch(None, rows, numbers, "line")
                    rows, numbers = [], []
                continue
            if parsed is None:
                continue  # a blank line
            if rows:  # rows are yielded in source order
                yield RowBatch(None, rows, numbers, "line")
                rows, numbers = [], []
            yield parsed
        if rows:
            yield RowBatch(None, rows, numbers, "line")

    def _arrow_blocks(self, stream: JsonlStreamConfig, binary: IO[bytes]) -> Iterator[RowBatch | RawRow]:
        """The file in blocks of whole lines, each parsed by pyarrow where that gives what the json module would.

        See :class:`_ArrowJson` for when a block is taken from pyarrow; any
        other block is read line by line by the json module, which
        quarantines what it must.
        """
        pending = binary.read(_BLOCK)
        if pending.startswith(codecs.BOM_UTF8):
            pending = pending[len(codecs.BOM_UTF8) :]
        parse = _ArrowJson(stream.max_line_bytes)
        line = 1
        for block, lines in _WholeLines(binary, pending):
            batch = parse(block, line)
            if batch is not None:
                if len(batch.rows):
                    yield batch
            else:
                yield from self._lines(stream, io.BytesIO(block), line)
            line += lines

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
        data = flatten(value)
        if "\\u" in line and _SURROGATE_ESCAPE_TEXT.search(line) and (lone := lone_surrogate(data)) is not None:
            return RawRow(f"line {number}", data, lone[1], lone[0])
        return data

