"""Matching settings: the ``matching:`` section of ``reconcile.yaml``.

Three named collections (deterministic rules, comparisons, blocking passes)
come with defaults for customers, accounts, lines and vehicles. An entry
written in the configuration is merged, field by field, over the default of
the same name, so one line changes one thing::

    matching:
      threshold: 0.95
      deterministic:
        vin: {enabled: false}
      comparisons:
        given_name: {thresholds: [0.94, 0.88]}

``inherit_defaults: false`` starts from empty collections instead (the
FEBRL benchmark does so: its columns are not the canonical ones).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

__all__ = [
    "AddressComparison",
    "BlockingKey",
    "BlockingPass",
    "BlockPass",
    "ClusterConstraint",
    "ClusteringConfig",
    "Comparison",
    "DeterministicRule",
    "EditDistanceComparison",
    "EstimationConfig",
    "ExactComparison",
    "MatchingConfig",
    "SortedNeighbourhoodPass",
    "StringComparison",
]

_FORBID = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------- rules


class DeterministicRule(BaseModel):
    """Records link when every column agrees exactly (and none is missing).

    Attributes:
        columns: Normalised columns that must all agree, such as
            ``[_n_phone, _n_family]``.
        unless_disagree: Names of comparisons that veto the rule for a pair
            when they are at their lowest level ("else"): a shared phone and
            family name do not make two people one if their given names
            clearly differ (a household). A vetoed pair is still scored by
            the probabilistic model.
        max_group_size: Key values held by more records than this are not
            used by the rule (placeholders such as ``000-000-0000`` or a
            shared ``info@`` address); ``null`` for no limit.
        enabled: Set to false to switch the rule off.
    """

    model_config = _FORBID

    columns: list[str] = Field(min_length=1)
    unless_disagree: list[str] = Field(default_factory=list)
    max_group_size: int | None = Field(default=50, ge=2)
    enabled: bool = True


# --------------------------------------------------------------------------- comparisons


class _ComparisonBase(BaseModel):
    model_config = _FORBID

    term_frequency: bool = Field(
        default=False,
        description="Weigh exact agreement by how common the value is (a common surname agreeing is weaker evidence).",
    )
    enabled: bool = True


class ExactComparison(_ComparisonBase):
    """Two levels: the values agree exactly, or not.

    Attributes:
        column: The column compared.
    """

    kind: Literal["exact"] = "exact"
    column: str


class StringComparison(_ComparisonBase):
    """Exact agreement, then one level per similarity threshold, then "else".

    Attributes:
        column: The column compared.
        similarity: The string similarity (0..1) from rapidfuzz.
        thresholds: Similarity thresholds, highest first; each makes a level.
    """

    kind: Literal["string"] = "string"
    column: str
    similarity: Literal[
        "jaro_winkler", "jaro", "levenshtein", "damerau_levenshtein", "indel", "token_sort"
    ] = "jaro_winkler"
    thresholds: list[float] = Field(default_factory=lambda: [0.92, 0.85])

    @field_validator("thresholds")
    @classmethod
    def _descending(cls, value: list[float]) -> list[float]:
        if any(not 0.0 < t < 1.0 for t in value):
            raise ValueError("similarity thresholds must be between 0 and 1 (exclusive), e.g. [0.92, 0.85]")
        if any(a <= b for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"thresholds must be strictly decreasing, e.g. [0.92, 0.85]; got {value}")
        return value


class EditDistanceComparison(_ComparisonBase):
    """Exact agreement, then one level per maximum edit distance, then "else".

    Suited to identifiers typed by hand: VINs, phone numbers, dates written
    as digits, social security numbers.

    Attributes:
        column: The column compared.
        metric: ``levenshtein`` (insertions, deletions, substitutions),
            ``damerau_levenshtein`` (also adjacent transpositions, counted
            once) or ``hamming`` (substitutions; different lengths are "else").
        max_distances: Distances, smallest first; each makes a level.
    """

    kind: Literal["edit_distance"] = "edit_distance"
    column: str
    metric: Literal["levenshtein", "damerau_levenshtein", "hamming"] = "levenshtein"
    max_distances: list[int] = Field(default_factory=lambda: [1])

    @field_validator("max_distances")
    @classmethod
    def _ascending(cls, value: list[int]) -> list[int]:
        if not value or any(d < 1 for d in value):
            raise ValueError("max_distances must be positive integers, e.g. [1] or [1, 2]")
        if any(a >= b for a, b in zip(value, value[1:], strict=False)):
            raise ValueError(f"max_distances must be strictly increasing, e.g. [1, 2]; got {value}")
        return value


class AddressComparison(_ComparisonBase):
    """A postal address from its normalised parts, at six levels.

    From strongest: exact (street, unit and postal code); same street and
    postal code with the unit missing on one side; a similar street (same
    house number) in the same postal code; the same street in another postal
    code; the same street and postal code but another unit; else.

    Attributes:
        street: Column of the normalised street (``123 n maple st``).
        unit: Column of the unit (``4b``), may be missing.
        postal: Column of the postal code.
        street_threshold: Jaro-Winkler similarity of two streets with the
            same house number that counts as "similar".
    """

    kind: Literal["address"] = "address"
    street: str = "_n_street"
    unit: str = "_n_unit"
    postal: str = "_n_postal"
    street_threshold: float = Field(default=0.9, gt=0.0, lt=1.0)


Comparison = Annotated[
    ExactComparison | StringComparison | EditDistanceComparison | AddressComparison,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- blocking


class BlockingKey(BaseModel):
    """One part of a blocking key: a column, optionally transformed.

    Written as a plain column name (``_n_postal``) or a mapping
    (``{column: _n_family, transform: soundex}``).

    Attributes:
        column: The column.
        transform: ``value`` (as is), ``soundex``, ``metaphone``, ``nysiis``
            (phonetic codes), ``prefix`` or ``suffix`` (the first or last
            ``length`` characters).
        length: Characters kept by ``prefix`` and ``suffix``.
    """

    model_config = _FORBID

    column: str
    transform: Literal["value", "soundex", "metaphone", "nysiis", "prefix", "suffix"] = "value"
    length: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: Any) -> Any:
        return {"column": data} if isinstance(data, str) else data

    @model_validator(mode="after")
    def _length_given(self) -> BlockingKey:
        if self.transform in ("prefix", "suffix") and self.length is None:
            raise ValueError(f"transform {self.transform!r} needs a length, e.g. {{column: {self.column}, "
                             f"transform: {self.transform}, length: 3}}")
        if self.transform not in ("prefix", "suffix") and self.length is not None:
            raise ValueError(f"length applies to the prefix and suffix transforms, not {self.transform!r}")
        return self

    def label(self) -> str:
        """A short description, such as ``soundex(_n_family)``."""
        if self.transform == "value":
            return self.column
        if self.length is not None:
            return f"{self.transform}({self.column}, {self.length})"
        return f"{self.transform}({self.column})"


class BlockPass(BaseModel):
    """Candidate pairs: every two records whose keys agree exactly.

    Attributes:
        on: The key's parts; a record with any part missing is not blocked.
        max_block_size: Blocks with more records than this are skipped (they
            come from placeholder or very common values, and would make a
            quadratic number of pairs); ``null`` for no limit.
        enabled: Set to false to switch the pass off.
    """

    model_config = _FORBID

    kind: Literal["block"] = "block"
    on: list[BlockingKey] = Field(min_length=1)
    max_block_size: int | None = Field(default=500, ge=2)
    enabled: bool = True


class SortedNeighbourhoodPass(BaseModel):
    """Candidate pairs from a sorted neighbourhood (recordlinkage's index).

    Records are sorted by the key; records whose key values are within
    ``window`` distinct values of each other are paired. Catches typos that
    keep the beginning of the key.

    Attributes:
        on: The key's parts, joined into one sortable string.
        window: Odd width of the window over sorted distinct key values.
        enabled: Set to false to switch the pass off.
    """

    model_config = _FORBID

    kind: Literal["sorted_neighbourhood"] = "sorted_neighbourhood"
    on: list[BlockingKey] = Field(min_length=1)
    window: int = Field(default=3, ge=1)
    enabled: bool = True

    @field_validator("window")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"window must be odd (3, 5, 7...), got {value}")
        return value


def _pass_kind(value: Any) -> str:
    # ``kind`` may be left out of a pass: it is then a plain block.
    if isinstance(value, Mapping):
        return str(value.get("kind", "block"))
    return str(getattr(value, "kind", "block"))


BlockingPass = Annotated[
    Annotated[BlockPass, Tag("block")] | Annotated[SortedNeighbourhoodPass, Tag("sorted_neighbourhood")],
    Discriminator(_pass_kind),
]


# --------------------------------------------------------------------------- estimation, clustering


class EstimationConfig(BaseModel):
    """How the Fellegi-Sunter model is estimated, without labels.

    ``u`` (how often non-matching records agree at each level) comes from
    random record pairs (exact agreement from the value counts, exactly),
    corrected for the matches among them; ``m`` (how often matching records
    agree) and the share of matches come from EM over the candidate pairs.

    Attributes:
        max_iterations: EM iterations at most.
        tolerance: EM stops when no parameter moves more than this.
        random_pairs: Record pairs sampled to estimate ``u``.
        prior_strength: Weight, in pairs, of each comparison's default
            ``m``/``u``; it matters only for small inputs, keeping a handful
            of records from producing extreme estimates.
        prior: Probability that two random records match; ``null`` to
            estimate it.
        seed: Seed of the random pairs (the result is deterministic).
    """

    model_config = _FORBID

    max_iterations: int = Field(default=100, ge=1)
    tolerance: float = Field(default=1e-6, gt=0)
    random_pairs: int = Field(default=1_000_000, ge=1000)
    prior_strength: float = Field(default=50.0, ge=0)
    prior: float | None = Field(default=None, gt=0, lt=1)
    seed: int = 42


class ClusterConstraint(BaseModel):
    """At most ``max_records`` records of a kind in one entity.

    ``{source: A, max_records: 1}`` makes linking one-to-one with source A
    (each entity holds at most one of its records). Links are applied
    strongest first (deterministic, then by probability); a link that would
    break a constraint is dropped.

    Attributes:
        source: Only records of this source (``_source``); null for any.
        record_type: Only records of this type (``_type``); null for any.
        max_records: The most such records one entity may hold.
    """

    model_config = _FORBID

    source: str | None = None
    record_type: str | None = None
    max_records: int = Field(default=1, ge=1)


class ClusteringConfig(BaseModel):
    """How accepted links form entities (connected components).

    Attributes:
        constraints: Limits on what one entity may hold. None by default:
            one person may hold several accounts, lines and vehicles.
    """

    model_config = _FORBID

    constraints: list[ClusterConstraint] = Field(default_factory=list)


# --------------------------------------------------------------------------- defaults

_SOUNDEX_FAMILY = {"column": "_n_family", "transform": "soundex"}

DEFAULT_DETERMINISTIC: dict[str, dict[str, Any]] = {
    "email": {"columns": ["_n_email"], "unless_disagree": ["given_name"]},
    "phone_family": {"columns": ["_n_phone", "_n_family"], "unless_disagree": ["given_name"]},
    "company_phone": {"columns": ["_n_company", "_n_phone"]},
    "vin": {"columns": ["_n_vin"], "unless_disagree": ["family_name"]},
    "person_address": {"columns": ["_n_given", "_n_family", "_n_address"]},
}

DEFAULT_COMPARISONS: dict[str, dict[str, Any]] = {
    "given_name": {"kind": "string", "column": "_n_given", "term_frequency": True},
    "family_name": {"kind": "string", "column": "_n_family", "term_frequency": True},
    "company": {"kind": "string", "column": "_n_company", "term_frequency": True},
    "email": {"kind": "edit_distance", "column": "_n_email", "max_distances": [1]},
    "phone": {"kind": "edit_distance", "column": "_n_phone", "max_distances": [1]},
    "address": {"kind": "address", "term_frequency": True},
    "birth_date": {"kind": "exact", "column": "birth_date"},
    "vin": {"kind": "edit_distance", "column": "_n_vin", "metric": "hamming", "max_distances": [1]},
}

DEFAULT_BLOCKING: dict[str, dict[str, Any]] = {
    "phone": {"kind": "block", "on": ["_n_phone"]},
    "email": {"kind": "block", "on": ["_n_email"]},
    "vin": {"kind": "block", "on": ["_n_vin"]},
    # A VIN with one wrong character keeps either its first 11 or its last 6.
    "vin_head": {"kind": "block", "on": [{"column": "_n_vin", "transform": "prefix", "length": 11}]},
    "vin_serial": {"kind": "block", "on": [{"column": "_n_vin", "transform": "suffix", "length": 6}]},
    "street_postal": {"kind": "block", "on": ["_n_street", "_n_postal"]},
    "family_postal": {"kind": "block", "on": [_SOUNDEX_FAMILY, "_n_postal"]},
    "company": {"kind": "block", "on": ["_n_company"]},
}


def _merge_entries(defaults: Mapping[str, Any], given: Any) -> Any:
    """Merge configured entries over the defaults of the same name, field by field."""
    if given is None:
        return copy.deepcopy(dict(defaults))
    if not isinstance(given, Mapping):
        return given  # let pydantic report the type error
    merged: dict[str, Any] = copy.deepcopy(dict(defaults))
    for name, entry in given.items():
        base = merged.get(name)
        if isinstance(entry, BaseModel):
            merged[name] = entry
        elif isinstance(entry, Mapping) and isinstance(base, Mapping):
            kind = entry.get("kind")
            if kind is not None and kind != base.get("kind", kind):
                merged[name] = dict(entry)  # another kind: its own fields, not the default's
            else:
                merged[name] = {**base, **entry}
        else:
            merged[name] = entry
    return merged


class MatchingConfig(BaseModel):
    """Record linkage settings (the ``matching:`` section).

    Attributes:
        inherit_defaults: Merge the entries below over the shipped defaults
            (true), or use only the entries given (false).
        deterministic: Rules that link records on exact agreement of
            normalised keys, by name (defaults: ``email``, ``phone_family``,
            ``company_phone``, ``vin``, ``person_address``).
        comparisons: Fields compared for probabilistic linking, by name
            (defaults: ``given_name``, ``family_name``, ``company``,
            ``email``, ``phone``, ``address``, ``birth_date``, ``vin``).
        blocking: Passes that choose the candidate pairs, by name; their
            union is scored (defaults: ``phone``, ``email``, ``vin``,
            ``vin_head``, ``vin_serial``, ``street_postal``,
            ``family_postal``, ``company``).
        threshold: Match probability from which a scored pair links.
        veto: Comparisons that forbid a probabilistic link when they are at
            "else" (both values present and clearly different), whatever the
            other evidence. ``[given_name]`` keeps members of a household
            (same address, phone and family name) apart. Empty by default.
        link_within_source: Whether two records of the same source
            (``_source``) may link. True by default: one person may hold two
            billing accounts. False when each source holds a person at most
            once (linking two files, as Splink's ``link_only``): pairs within
            a source are then never candidates, which halves the work.
        estimation: How the model is estimated.
        clustering: How links form entities.
        training_pairs: A CSV of labelled record pairs (columns ``rid_l``,
            ``rid_r``, ``is_match``): ``m`` is then counted from the labelled
            matches instead of estimated by EM. Null (the default) for
            estimation without labels.
        classifier: How scored pairs get their match probability:
            ``fellegi_sunter`` (default) or ``logistic``, a logistic
            regression fitted on the labelled pairs' comparison levels (it
            needs labels: ``training_pairs`` or ``resolve(..., labels=)``).
            Deterministic rules, the veto and clustering are the same for both.
        reestimate: When ``resolve`` is given a previous model: ``auto``
            reuses it unless the settings it depends on changed or it is
            older than ``reestimate_every_days``; ``always`` estimates anew;
            ``never`` reuses it whatever its age (and fails if the settings
            changed).
        reestimate_every_days: Age, in days, from which ``auto`` estimates a
            model anew; null for no limit.
    """

    model_config = _FORBID

    inherit_defaults: bool = True
    deterministic: dict[str, DeterministicRule] = Field(default_factory=dict)
    comparisons: dict[str, Comparison] = Field(default_factory=dict)
    blocking: dict[str, BlockingPass] = Field(default_factory=dict)
    threshold: float = Field(default=0.9, gt=0.0, lt=1.0)
    veto: list[str] = Field(default_factory=list)
    link_within_source: bool = True
    estimation: EstimationConfig = Field(default_factory=EstimationConfig)
    clustering: ClusteringConfig = Field(default_factory=ClusteringConfig)
    training_pairs: Path | None = None
    classifier: Literal["fellegi_sunter", "logistic"] = "fellegi_sunter"
    reestimate: Literal["auto", "always", "never"] = "auto"
    reestimate_every_days: float | None = Field(default=7.0, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _with_defaults(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = dict(data)
        if data.get("inherit_defaults", True) is False:
            return data
        for field, defaults in (
            ("deterministic", DEFAULT_DETERMINISTIC),
            ("comparisons", DEFAULT_COMPARISONS),
            ("blocking", DEFAULT_BLOCKING),
        ):
            data[field] = _merge_entries(defaults, data.get(field))
        return data

    @model_validator(mode="after")
    def _references_exist(self) -> MatchingConfig:
        active = {name for name, c in self.comparisons.items() if c.enabled}
        for name, rule in self.deterministic.items():
            if not rule.enabled:
                continue
            unknown = [c for c in rule.unless_disagree if c not in active]
            if unknown:
                raise ValueError(
                    f"deterministic.{name}.unless_disagree names {unknown}, which are not enabled "
                    f"comparisons; enabled comparisons: {sorted(active)}"
                )
        unknown = [c for c in self.veto if c not in active]
        if unknown:
            raise ValueError(
                f"veto names {unknown}, which are not enabled comparisons; enabled comparisons: {sorted(active)}"
            )
        return self

    # ------------------------------------------------------------------ views

    def model_fingerprint(self) -> str:
        """A hash of the settings an estimated model depends on.

        The enabled comparisons (in order, with every setting),
        ``link_within_source``, the estimation settings and the training
        pairs' path; not the threshold, rules, blocking or clustering, which
        a model can be reused under.
        """
        payload = {
            "comparisons": [[name, c.model_dump(mode="json")] for name, c in self.active_comparisons().items()],
            "link_within_source": self.link_within_source,
            "estimation": self.estimation.model_dump(mode="json"),
            "training_pairs": str(self.training_pairs) if self.training_pairs is not None else None,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def active_rules(self) -> dict[str, DeterministicRule]:
        """The enabled deterministic rules, in configuration order."""
        return {name: rule for name, rule in self.deterministic.items() if rule.enabled}

    def active_comparisons(self) -> dict[str, Any]:
        """The enabled comparisons, in configuration order."""
        return {name: c for name, c in self.comparisons.items() if c.enabled}

    def active_blocking(self) -> dict[str, Any]:
        """The enabled blocking passes, in configuration order."""
        return {name: p for name, p in self.blocking.items() if p.enabled}

    def columns(self) -> set[str]:
        """Every column of the identity frame the enabled settings read."""
        used: set[str] = set()
        for rule in self.active_rules().values():
            used.update(rule.columns)
        for comparison in self.active_comparisons().values():
            if isinstance(comparison, AddressComparison):
                used.update((comparison.street, comparison.unit, comparison.postal))
            else:
                used.add(comparison.column)
        for blocking in self.active_blocking().values():
            used.update(key.column for key in blocking.on)
        return used
