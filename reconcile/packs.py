"""Find the YAML shipped with the package: adapter specs and rule packs.

In a wheel they live in ``reconcile/_packs/{adapters,rules}`` (hatch copies the
top-level ``adapters/`` and ``rules/`` folders there); in a source checkout or
an editable install they are read from the top-level folders themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml

__all__ = ["available", "load_yaml_pack", "pack_dir"]

PackKind = Literal["adapters", "rules"]

_PACKAGE_DIR = Path(__file__).resolve().parent


def pack_dir(kind: PackKind) -> Path:
    """The folder holding the shipped YAML of ``kind``."""
    installed = _PACKAGE_DIR / "_packs" / kind
    if installed.is_dir():
        return installed
    checkout = _PACKAGE_DIR.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"the shipped {kind}/ folder is missing (looked in {installed} and {checkout}); "
        "reinstall reconcile-engine"
    )


def available(kind: PackKind) -> list[str]:
    """Names usable in a config: the file names without ``.yaml``."""
    return sorted(p.stem for p in pack_dir(kind).glob("*.yaml"))


def load_yaml_pack(kind: PackKind, name: str) -> tuple[Path, Any]:
    """Read the shipped YAML ``name`` of ``kind``; return its path and content.

    Raises:
        KeyError: naming the unknown pack and the ones that exist.
    """
    path = pack_dir(kind) / f"{name}.yaml"
    if not path.is_file():
        raise KeyError(
            f"no shipped {kind[:-1]} named {name!r}; available: {', '.join(available(kind)) or 'none'}"
        )
    with path.open(encoding="utf-8") as fh:
        return path, yaml.safe_load(fh)
