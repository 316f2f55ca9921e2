"""The configuration file (``reconcile.yaml``): loading, merging and validation.

Every part is a pydantic model with ``extra="forbid"``; sources form a union
discriminated by ``kind`` over the registered adapters. Loading collects every
problem at once and reports each with the file and the field path, such as
``reconcile.yaml: sources.billing.streams.account.fields.nmae: unknown field``.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from reconcile.engine import EngineConfig
from reconcile.errors import ConfigError
from reconcile.extract import SourceConfig, adapter_classes
from reconcile.findings import Severity
from reconcile.match import MatchingConfig
from reconcile.model import RECORD_TYPES
from reconcile.notify import NotifyConfig
from reconcile.packs import load_yaml_pack
from reconcile.rules.base import Rule
from reconcile.secrets import expand_tree, redact
from reconcile.store import StoreConfig

__all__ = ["Config", "NormaliseConfig", "ReportsConfig", "load_config", "parse_config"]


class NormaliseConfig(BaseModel):
    """Settings of the normalise stage.

    Attributes:
        default_region: ISO country code for phone numbers written without one.
    """

    model_config = ConfigDict(extra="forbid")

    default_region: str = Field(default="US", min_length=2, max_length=2)


ReportFormat = Literal["json", "html", "csv", "junit"]


def _default_formats() -> list[ReportFormat]:
    return ["json", "html"]


class ReportsConfig(BaseModel):
    """Which reports a run writes, and where (relative to the config file)."""

    model_config = ConfigDict(extra="forbid")

    dir: str = "reports"
    formats: list[ReportFormat] = Field(default_factory=_default_formats)
    junit_min_severity: Severity = Severity.low
    # The HTML page lists this many findings per team and kind in each section
    # (every finding is counted, and all are in the JSON and CSV); null: all.
    html_findings_per_group: int | None = Field(default=20, ge=0)


class Config(BaseModel):
    """A whole run configuration.

    Attributes:
        version: The configuration format version (1).
        as_of: The run's reference time; default: the time the run starts.
        sources: Source name -> adapter configuration (discriminated by ``kind``).
        normalise: Settings of the normalise stage.
        matching: Record linkage settings.
        rule_packs: Shipped rule packs to include, by name.
        rules: Rules, each merged over the pack rule with the same id, or new.
        store: Where findings are remembered across runs.
        reports: Which reports to write.
        notify: Where new and reopened findings are announced (webhook, email).
        engine: Where the normalise, match and rules stages run (this process or Dask).
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    version: Literal[1] = 1
    as_of: dt.datetime | None = None
    sources: dict[str, SerializeAsAny[SourceConfig]] = Field(default_factory=dict)
    normalise: NormaliseConfig = Field(default_factory=NormaliseConfig)
    matching: MatchingConfig = Field(default_factory=MatchingConfig)
    rule_packs: list[str] = Field(default_factory=list)
    rules: list[dict[str, Any]] = Field(default_factory=list)
    store: StoreConfig = Field(default_factory=StoreConfig)
    reports: ReportsConfig = Field(default_factory=ReportsConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    engine: EngineConfig = Field(default_factory=EngineConfig)

    # Set by the loader, not by the file.
    base_dir: Path = Field(default_factory=Path.cwd, exclude=True)
    origin: str = Field(default="<config>", exclude=True)
    built_rules: list[Rule] = Field(default_factory=list, exclude=True)

    def digest(self) -> str:
        """A short hash of the effective configuration, stored with each run."""
        payload = self.model_dump(mode="json", exclude={"base_dir", "origin", "built_rules"})
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def resolve_path(self, path: str | Path) -> Path:
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate

    # Secrets expanded from ${ENV} (and database passwords) never show when
    # the configuration is printed or logged.
    def __repr__(self) -> str:
        return redact(super().__repr__())

    def __str__(self) -> str:
        return redact(super().__str__())


# Rows given from Python (records, dataframe sources) are data, not configuration.
_IN_MEMORY_DATA = re.compile(r"sources\.[^.]+\.streams\.[^.]+\.(?:records|frame)")


def _loc(parts: tuple[Any, ...] | list[Any]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _pydantic_problems(
    exc: ValidationError, prefix: str, sep: str = "."
) -> list[tuple[str, str]]:
    """Pydantic's errors as ``(location, message)``; ``sep`` joins prefix and field path."""
    problems = []
    for err in exc.errors():
        loc = list(err["loc"])
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (misspelt?)"
        elif err["type"] == "missing":
            msg = "required field missing"
        elif err["type"] == "literal_error" and "expected" in err.get("ctx", {}):
            msg = f"{msg}; got {err.get('input')!r}"
        full = f"{prefix}{sep}{_loc(loc)}" if prefix and loc else (prefix or _loc(loc))
        problems.append((full, msg))
    return problems


def _deep_merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for key, value in override.items():
            merged[key] = _deep_merge(base[key], value) if key in base else copy.deepcopy(value)
        return merged
    return copy.deepcopy(override)


def _validate_source(
    name: str, raw: Any, problems: list[tuple[str, str]], where: str
) -> SourceConfig | None:
    loc = f"{where}: sources.{name}"
    if not isinstance(raw, Mapping):
        problems.append((loc, "must be a mapping with at least 'kind' and 'streams'"))
        return None
    data = dict(raw)
    spec_name = data.get("spec")
    if spec_name is not None:
        try:
            _, spec = load_yaml_pack("adapters", str(spec_name))
        except KeyError as exc:
            problems.append((f"{loc}.spec", str(exc.args[0])))
            return None
        spec = expand_tree(
            dict(spec or {}),
            lambda path, msg: problems.append((f"adapters/{spec_name}.yaml: {path}", msg)),
        )
        spec.pop("description", None)
        data = _deep_merge(spec, data)
    classes = adapter_classes()
    kind = data.get("kind")
    if kind not in classes:
        allowed = ", ".join(sorted(classes))
        shown = "missing" if kind is None else f"unknown kind {kind!r}"
        problems.append((f"{loc}.kind", f"{shown}; allowed: {allowed}"))
        return None
    try:
        config = classes[kind].config_model.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, loc))
        return None
    _check_streams(config, loc, problems)
    return config


def _check_streams(config: SourceConfig, loc: str, problems: list[tuple[str, str]]) -> None:
    for record_type, stream in config.streams.items():
        sloc = f"{loc}.streams.{record_type}"
        model = RECORD_TYPES.get(record_type)
        if model is None:
            problems.append((sloc, f"unknown record type; allowed: {', '.join(sorted(RECORD_TYPES))}"))
            continue
        known = model.model_fields
        for field in stream.fields:
            if field not in known:
                problems.append(
                    (f"{sloc}.fields.{field}", f"not a field of {record_type}; allowed: {', '.join(known)}")
                )
        required = [n for n, f in known.items() if f.is_required()]
        for field in required:
            if field not in stream.fields:
                problems.append((f"{sloc}.fields", f"{record_type} needs '{field}' mapped"))


def parse_config(data: Any, *, origin: str = "<config>", base_dir: Path | None = None) -> Config:
    """Validate a configuration given as a Python mapping (as read from YAML).

    ``${ENV_VAR}`` and ``${ENV_VAR:-default}`` in any string are expanded
    first (see :mod:`reconcile.secrets`).

    Raises:
        ConfigError: listing every problem with its location.
    """
    problems: list[tuple[str, str]] = []
    if not isinstance(data, Mapping):
        raise ConfigError([(origin, "the configuration must be a YAML mapping")])
    # ${ENV_VAR} and ${ENV_VAR:-default} in any string; an unset variable is
    # an error naming the field and the variable, never a value.
    data = expand_tree(
        data,
        lambda path, msg: problems.append((f"{origin}: {path}", msg)),
        skip=_IN_MEMORY_DATA.fullmatch,
    )
    data = dict(data)
    raw_sources = data.pop("sources", None)
    sources: dict[str, SourceConfig] = {}
    if not isinstance(raw_sources, Mapping) or not raw_sources:
        problems.append((f"{origin}: sources", "required: at least one source"))
    else:
        for name, raw in raw_sources.items():
            config = _validate_source(str(name), raw, problems, origin)
            if config is not None:
                sources[str(name)] = config
    config_obj: Config | None = None
    try:
        config_obj = Config.model_validate({**data, "sources": sources})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, origin, sep=": "))
    # Rules are checked even when the rest is invalid, so every error shows at once.
    from reconcile.rules.packs import build_rules

    packs = config_obj.rule_packs if config_obj is not None else data.get("rule_packs", [])
    rules = config_obj.rules if config_obj is not None else data.get("rules", [])
    if isinstance(packs, list) and isinstance(rules, list):
        try:
            built = build_rules(packs, rules, origin=origin)
        except ConfigError as exc:
            problems.extend(exc.problems)
        else:
            if config_obj is not None:
                config_obj.built_rules = built
    if problems:
        raise ConfigError(problems)
    assert config_obj is not None
    config_obj.origin = origin
    config_obj.base_dir = (base_dir or Path.cwd()).resolve()
    return config_obj


def load_config(path: str | Path) -> Config:
    """Read and validate a YAML configuration file.

    Relative paths inside it (SQLite files, CSV files, the store, reports)
    are relative to the file's folder.
    """
    path = Path(path)
    origin = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([(str(path), f"cannot read the configuration: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{origin}:{mark.line + 1}:{mark.column + 1}" if mark else origin
        raise ConfigError([(where, f"invalid YAML: {getattr(exc, 'problem', exc)}")]) from None
    return parse_config(data, origin=origin, base_dir=path.parent)


class RuleOverride(BaseModel):
    """A change to a pack's rule, by id: any of its parameters, severity, owner or enabled."""

    model_config = ConfigDict(extra="allow")

    id: str


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of a configuration file, with every registered adapter and rule kind."""
    from typing import Annotated, Union

    from pydantic import create_model

    from reconcile.rules.registry import rule_classes

    source_union: Any = Annotated[
        Union[tuple(cls.config_model for cls in adapter_classes().values())],  # type: ignore[misc]  # noqa: UP007
        Field(discriminator="kind"),
    ]
    rule_union: Any = Annotated[
        Union[tuple(rule_classes().values())],  # type: ignore[misc]  # noqa: UP007
        Field(discriminator="kind"),
    ]
    fields: dict[str, Any] = {
        name: (info.annotation, info)
        for name, info in Config.model_fields.items()
        if name not in {"sources", "rules", "base_dir", "origin", "built_rules"}
    }
    fields["sources"] = (dict[str, source_union], Field(min_length=1))
    fields["rules"] = (list[rule_union | RuleOverride], Field(default_factory=list))
    model = create_model(
        "ReconcileConfig", __config__=ConfigDict(extra="forbid", title="reconcile.yaml"), **fields
    )
    return model.model_json_schema()
