"""Extract: adapters read each source system and map its rows onto the canonical model."""

from __future__ import annotations

from pathlib import Path

from reconcile.errors import PluginError
from reconcile.extract.base import Adapter, ExtractResult, RawRow, SourceConfig, StreamConfig
from reconcile.extract.mapping import FieldMapping, MappingError, RowMapper
from reconcile.registry import ADAPTER_GROUP, load_group

__all__ = [
    "Adapter",
    "ExtractResult",
    "FieldMapping",
    "MappingError",
    "RawRow",
    "RowMapper",
    "SourceConfig",
    "StreamConfig",
    "adapter_classes",
    "build_adapter",
]


def adapter_classes() -> dict[str, type[Adapter]]:
    """Every adapter registered in the ``reconcile.adapters`` entry-point group."""
    classes = load_group(ADAPTER_GROUP)
    for kind, cls in classes.items():
        if not (isinstance(cls, type) and issubclass(cls, Adapter)):
            raise PluginError(f"adapter plugin {kind!r} is {cls!r}, not a subclass of reconcile.extract.Adapter")
        if getattr(cls, "kind", None) != kind:
            raise PluginError(
                f"adapter plugin {kind!r} is registered under a name that differs from its kind "
                f"{getattr(cls, 'kind', None)!r}"
            )
    return classes


def build_adapter(name: str, config: SourceConfig, base_dir: Path | None = None) -> Adapter:
    """The adapter for one configured source."""
    cls = adapter_classes()[config.kind]
    return cls(name, config, base_dir)
