"""Entity resolution on the demo world: pairwise precision and recall, time and memory of ``resolve``.

For each size, a demo world is generated (``python -m reconcile.demo --size N
--seed S --dir D``), its sources are extracted, built and normalised as a
run does, and the identity frame that ``reconcile.pipeline.match_entities``
hands to ``resolve`` is saved. A fresh child process then reads that frame
and runs ``resolve`` alone, so the time and the peak resident memory
(``getrusage`` of that child, through ``os.wait4``) are those of matching
(plus reading one Parquet file and importing the package), not of the
generator or the extraction.

The entities are scored against the world's ``truth/identities.csv``
(source, record type, key -> customer): pairwise precision is the share of
record pairs put in one entity that belong to one customer, pairwise recall
the share of one customer's record pairs put in one entity.

Run::

    python benchmarks/demo_linkage.py                          # 1,000 and 100,000 customers
    python benchmarks/demo_linkage.py --sizes 1000 --seed 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd


def _pairs(sizes: pd.Series) -> int:
    return int((sizes * (sizes - 1) // 2).sum())


def pairwise(entity_of: pd.Series, truth: pd.Series) -> dict[str, float]:
    """Pairwise precision and recall of the entities against the true customers."""
    both = pd.DataFrame({"entity": entity_of, "truth": truth.reindex(entity_of.index)})
    predicted = _pairs(both.groupby("entity").size())
    actual = _pairs(both.groupby("truth").size())
    correct = _pairs(both.groupby(["entity", "truth"]).size())
    return {
        "predicted_pairs": predicted,
        "true_pairs": actual,
        "correct_pairs": correct,
        "precision": correct / predicted if predicted else 1.0,
        "recall": correct / actual if actual else 1.0,
    }


def prepare(size: int, seed: int, directory: Path) -> dict[str, Any]:
    """Generate a world, extract and normalise it, save the identity frame resolve receives."""
    from reconcile import pipeline
    from reconcile.config import load_config

    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reconcile.demo", "--size", str(size), "--seed", str(seed), "--dir", str(directory)],
        check=True, stdout=subprocess.DEVNULL,
    )
    generated = time.perf_counter()
    config = load_config(directory / "reconcile.yaml")
    tables = pipeline.normalise_tables(pipeline.build_tables(pipeline.extract_sources(config)), config)
    captured: dict[str, pd.DataFrame] = {}
    real_resolve = pipeline.resolve

    def capture(identity: pd.DataFrame, matching: Any = None) -> Any:
        captured["identity"] = identity
        return real_resolve(identity.iloc[:0], matching)  # the frame is what we want, not the result

    pipeline.resolve = capture  # type: ignore[assignment]
    try:
        pipeline.match_entities(tables, config)
    finally:
        pipeline.resolve = real_resolve  # type: ignore[assignment]
    identity = captured["identity"]
    # Text throughout (dates as ISO strings): resolve compares the text of each value anyway.
    identity.astype(str).where(identity.notna(), None).to_parquet(directory / "identity.parquet", index=False)
    (directory / "matching.json").write_text(config.matching.model_dump_json(), encoding="utf-8")
    return {"generate_seconds": round(generated - started, 2),
            "extract_normalise_seconds": round(time.perf_counter() - generated, 2),
            "identity_records": len(identity)}


def _child(directory: Path) -> int:
    """Read the identity frame, resolve it, score it, print one JSON line."""
    from reconcile.match import MatchingConfig, resolve

    identity = pd.read_parquet(directory / "identity.parquet")
    config = MatchingConfig.model_validate_json((directory / "matching.json").read_text(encoding="utf-8"))
    started = time.perf_counter()
    result = resolve(identity, config)
    seconds = time.perf_counter() - started
    truth = pd.read_csv(directory / "truth" / "identities.csv", dtype=str)
    truth.index = truth["source"] + ":" + truth["record_type"] + ":" + truth["key"]
    figures = {
        "resolve_seconds": round(seconds, 2),
        "entities": result.stats["entities"],
        "customers": int(truth["customer_id"].nunique()),
        "deterministic_links": result.stats["deterministic_links"],
        "probabilistic_links": result.stats["probabilistic_links"],
        "candidate_pairs": result.stats["candidate_pairs"],
        "stages": result.stats["timings"],
        **pairwise(result.entity_of, truth["customer_id"]),
    }
    print(json.dumps(figures), flush=True)
    return 0


def measure(size: int, seed: int, directory: Path) -> dict[str, Any]:
    """One size: prepare in this process, resolve in a child; the child's own peak RSS."""
    figures: dict[str, Any] = {"size": size, "seed": seed, **prepare(size, seed, directory)}
    process = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--child", str(directory)],
                               stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"resolve failed for size {size}")
    figures.update(json.loads(output.strip().splitlines()[-1]))
    figures["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000], help="customers per world")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child)
    results = []
    for size in args.sizes:
        with tempfile.TemporaryDirectory(prefix=f"reconcile-linkage-{size}-") as tmp:
            figures = measure(size, args.seed, Path(tmp))
        results.append(figures)
        print(f"{size:>8,} customers, {figures['identity_records']:>9,} identity records: "
              f"precision {figures['precision']:.5f}  recall {figures['recall']:.5f}  "
              f"resolve {figures['resolve_seconds']:.1f} s  peak {figures['peak_rss_mib']:,.0f} MiB  "
              f"({figures['entities']:,} entities for {figures['customers']:,} customers)", flush=True)
    if args.json:
        payload = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()}, "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
