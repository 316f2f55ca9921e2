"""The ``parquet`` adapter: a Parquet file, or a folder of them, read in record batches.

Needs the ``parquet`` extra (``pip install "reconcile-engine[parquet]"``);
pyarrow is imported only when a parquet source is read, so the adapter is
registered (and listed by ``reconcile plugins``) without it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field

from reconcile.errors import SourceError
from reconcile.extract.base import Adapter, RawRow, SourceConfig, StreamConfig, flatten

__all__ = ["ParquetAdapter", "ParquetSourceConfig", "ParquetStreamConfig"]

_SUFFIXES = (".parquet", ".parq", ".pq")


class ParquetStreamConfig(StreamConfig):
    """A stream read from one Parquet file or a folder of them.

    Attributes:
        path: A file, or a folder whose ``*.parquet`` files (searched
            recursively, as in a Hive-partitioned export) are read in name
            order. Relative to the configuration file's folder.
        columns: Read only these columns (default: all, so a quarantined row
            keeps everything that was in it). Nested columns are named with
            dots, as in ``address.city``.
    """

    path: str
    columns: list[str] | None = Field(default=None, min_length=1)


class ParquetSourceConfig(SourceConfig):
    """Configuration of a ``parquet`` source.

    Attributes:
        batch_size: Rows per record batch read from the file.
    """

    kind: Literal["parquet"] = "parquet"
    streams: dict[str, ParquetStreamConfig] = Field(min_length=1)  # type: ignore[assignment]
    batch_size: int = Field(default=10_000, ge=1)


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    return pq



def _column_paths(parquet: Any) -> set[str]:
    """Every name ``columns`` may give: top-level columns and dotted paths into structs."""
    paths = set(parquet.schema_arrow.names)
    for index in range(len(parquet.schema)):
        parts = parquet.schema.column(index).path.split(".")
        paths.update(".".join(parts[: i + 1]) for i in range(len(parts)))
    return paths


class ParquetAdapter(Adapter):
    """Streams Parquet files batch by batch (``iter_batches``), never the whole file at once.

    Rows are positioned as ``row N`` (1-based within the file); in a folder,
    as ``part-0.parquet row N`` with the file's path relative to the folder.
    """

    kind: ClassVar[str] = "parquet"
    config_model: ClassVar[type[SourceConfig]] = ParquetSourceConfig
    config: ParquetSourceConfig

    def _files(self, stream: ParquetStreamConfig) -> tuple[Path, list[Path]]:
        root = self.resolve_path(stream.path)
        if root.is_file():
            return root, [root]
        if root.is_dir():
            files = sorted(
                p for p in root.rglob("*")
                if p.is_file() and p.suffix.lower() in _SUFFIXES and not p.name.startswith((".", "_"))
            )
            if not files:
                raise SourceError(
                    self.name, f"folder {root} holds no Parquet files ({', '.join(_SUFFIXES)})"
                )
            return root, files
        raise SourceError(self.name, f"file or folder {root} does not exist")

    def read(self, record_type: str, stream: StreamConfig) -> Iterator[RawRow]:
        assert isinstance(stream, ParquetStreamConfig)
        pq = _pyarrow_parquet()
        if pq is None:
            raise SourceError(
                self.name,
                "reading Parquet needs pyarrow; install it with: "
                "pip install 'reconcile-engine[parquet]'",
            )
        import pyarrow as pa

        root, files = self._files(stream)
        in_folder = root.is_dir()
        for path in files:
            prefix = f"{path.relative_to(root).as_posix()} " if in_folder else ""
            shown = path.relative_to(root).as_posix() if in_folder else str(path)
            try:
                parquet = pq.ParquetFile(path)
            except (pa.ArrowException, OSError) as exc:
                raise SourceError(self.name, f"{shown} is not a readable Parquet file: {exc}") from None
            with parquet:
                if stream.columns is not None:
                    # pyarrow silently reads nothing for an unknown column: check first.
                    present = _column_paths(parquet)
                    missing = [c for c in stream.columns if c not in present]
                    if missing:
                        raise SourceError(
                            self.name,
                            f"{shown} has no column(s) {missing}; it has: "
                            f"{', '.join(parquet.schema_arrow.names)}",
                        )
                number = 0
                try:
                    for batch in parquet.iter_batches(
                        batch_size=self.config.batch_size, columns=stream.columns
                    ):
                        for row in batch.to_pylist():
                            number += 1
                            yield RawRow(position=f"{prefix}row {number}", data=flatten(row))
                except (pa.ArrowException, OSError) as exc:
                    raise SourceError(
                        self.name, f"{shown}: reading failed after row {number}: {exc}"
                    ) from None
