"""Rule kinds: the registered classes and the discriminated union over them.

A kind is registered in the ``reconcile.rules`` entry-point group (the
built-ins included), the entry point's name being the kind::

    [project.entry-points."reconcile.rules"]
    churn_risk = "mypkg.rules:ChurnRiskRule"

A rule class that is not registered can also be named directly in a
configuration by its import path as the ``kind``::

    rules:
      - id: churn
        kind: "mypkg.rules:ChurnRiskRule"    # any Rule subclass; ':' marks an import path
        owner: retention

The class's own ``kind`` is what its findings carry.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any, Union

from pydantic import Field, TypeAdapter

from reconcile.errors import PluginError
from reconcile.registry import RULE_GROUP, load_group, load_object
from reconcile.rules.base import Rule

__all__ = ["is_import_path", "rule_class_from_path", "rule_classes", "rule_union_adapter"]


def _declared_kind(cls: type[Rule]) -> Any:
    field = cls.model_fields.get("kind")
    return None if field is None else field.default


def _check_class(obj: Any, origin: str) -> type[Rule]:
    if not (isinstance(obj, type) and issubclass(obj, Rule)):
        raise PluginError(f"{origin} is not a subclass of reconcile.rules.base.Rule (got {obj!r})")
    kind = _declared_kind(obj)
    if not isinstance(kind, str) or not kind:
        raise PluginError(
            f"{origin} ({obj.__name__}) must declare its kind, e.g. kind: Literal[\"my_kind\"] = \"my_kind\""
        )
    return obj


@cache
def rule_classes() -> dict[str, type[Rule]]:
    """Every registered rule kind: kind -> class, sorted by kind.

    Raises:
        PluginError: an entry point failed to load, is not a Rule subclass, or
            registers a class whose ``kind`` differs from the entry point's name.
    """
    found = load_group(RULE_GROUP)
    classes: dict[str, type[Rule]] = {}
    for name, obj in sorted(found.items()):
        cls = _check_class(obj, f"rule plugin {name!r} in entry-point group {RULE_GROUP!r}")
        if _declared_kind(cls) != name:
            raise PluginError(
                f"rule plugin {name!r} registers {cls.__module__}:{cls.__qualname__}, whose kind is "
                f"{_declared_kind(cls)!r}; the entry point's name must be the kind"
            )
        classes[name] = cls
    return classes


@cache
def rule_union_adapter() -> TypeAdapter[Rule]:
    """A TypeAdapter validating one rule configuration against its kind's class.

    The union is discriminated by ``kind``: an unknown kind is a
    ``union_tag_invalid`` error, an unknown key an ``extra_forbidden`` error
    whose location starts with the kind (``('monitoring_gap', 'offline_hourz')``).
    """
    classes = tuple(rule_classes().values())
    if not classes:
        raise PluginError(
            f"no rule kinds are registered in {RULE_GROUP!r}; is reconcile-engine installed? "
            "(pip install -e . refreshes the entry points of a checkout)"
        )
    if len(classes) == 1:
        return TypeAdapter(classes[0])
    union = Annotated[Union[classes], Field(discriminator="kind")]  # type: ignore[valid-type]  # noqa: UP007
    return TypeAdapter(union)


def is_import_path(kind: Any) -> bool:
    """Whether a configured ``kind`` names a class (``package.module:Class``)."""
    return isinstance(kind, str) and ":" in kind


def rule_class_from_path(path: str) -> type[Rule]:
    """Import the rule class named ``package.module:Class``.

    Raises:
        PluginError: it cannot be imported or is not a Rule subclass with a kind.
    """
    return _check_class(load_object(path), f"rule class {path!r}")
