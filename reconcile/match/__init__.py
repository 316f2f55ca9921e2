"""Stage 3, matching: which identity records describe the same customer.

Deterministic rules first (exact agreement on normalised keys), then
probabilistic record linkage (blocking passes, comparisons at several levels,
a Fellegi-Sunter model estimated without labels, with term-frequency
adjustment), then clustering of the links into entities. Every link keeps
its explanation. See ``docs/matching.md``.

    from reconcile.match import MatchingConfig, resolve

    result = resolve(identity, MatchingConfig())
    result.entity_of["billing:account:AC-1"]        # 'E3f1c...'
    print(result.explain("billing:account:AC-1", "crm:contact:0035e1").text())

    stored = result.model.to_dict()                     # JSON-safe; the next run reuses it:
    tonight = resolve(identity, MatchingConfig(), model=stored)   # unless settings changed or it is old
"""

from __future__ import annotations

from reconcile.match._cluster import connected_components
from reconcile.match._config import (
    AddressComparison,
    BlockingKey,
    BlockPass,
    ClusterConstraint,
    ClusteringConfig,
    DeterministicRule,
    EditDistanceComparison,
    EstimationConfig,
    ExactComparison,
    MatchingConfig,
    SortedNeighbourhoodPass,
    StringComparison,
)
from reconcile.match._evidence import attach_match_evidence
from reconcile.match._model import FieldModel, LinkageModel
from reconcile.match._resolve import FieldEvidence, LinkExplanation, MatchResult, resolve

__all__ = [
    "AddressComparison",
    "BlockPass",
    "BlockingKey",
    "ClusterConstraint",
    "ClusteringConfig",
    "DeterministicRule",
    "EditDistanceComparison",
    "EstimationConfig",
    "ExactComparison",
    "FieldEvidence",
    "FieldModel",
    "LinkExplanation",
    "LinkageModel",
    "MatchResult",
    "MatchingConfig",
    "SortedNeighbourhoodPass",
    "StringComparison",
    "attach_match_evidence",
    "connected_components",
    "resolve",
]
