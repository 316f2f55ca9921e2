"""Time a full run of the demo world stage by stage, with peak memory and the read floor.

For each size, a demo world is generated (or reused from ``--cache``), then in
a fresh child process:

1. the **floor**: every source row read with the driver alone (``sqlite3``
   for the databases, the ``csv`` module for CSV, ``json`` for JSON Lines),
   nothing mapped;
2. a full ``reconcile.run`` (store and reports included) whose per-stage
   timings (extract, normalise, match, rules, persist, report) are recorded,
   with the child's peak resident set size.

    python benchmarks/full_run.py --sizes 10000 100000 --json benchmarks/results/full_run.json \
        --plot benchmarks/results/full_run.png

``--plot`` draws the stage times per size beside the floor (needs matplotlib:
``pip install 'reconcile-engine[bench]'``).

Issue 8's targets (2 cores): the 1,000,000-customer world in at most 10
minutes and 8 GB, and at most 3x the read-only floor.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def floor(directory: Path) -> dict[str, float | int]:
    """Read every row of every source file with the plain driver; return seconds and rows."""
    started = time.perf_counter()
    rows = 0
    for path in sorted(directory.iterdir()):
        if path.suffix == ".db" and path.name != "reconcile.db":
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
                tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
                for table in tables:
                    for _ in conn.execute(f'SELECT * FROM "{table}"'):  # noqa: S608 - names from sqlite_master
                        rows += 1
        elif path.suffix == ".csv":
            with path.open(newline="", encoding="utf-8") as fh:
                rows += sum(1 for _ in csv.reader(fh)) - 1
        elif path.suffix == ".jsonl":
            with path.open(encoding="utf-8") as fh:
                rows += sum(1 for line in fh if json.loads(line) is not None)
    return {"seconds": round(time.perf_counter() - started, 2), "rows": rows}


def _memory() -> tuple[float, float]:
    """This process's resident set size now and at its peak so far, in MiB (Linux)."""
    now = peak = 0.0
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return round(now, 1), round(peak, 1)


def _child(directory: Path, fingerprints: Path | None) -> None:
    """Run in a child process: the floor, then a full run; print JSON."""
    import reconcile

    out: dict[str, object] = {"floor": floor(directory)}
    # Memory at each stage boundary: the peak reached by the end of a stage
    # is the high-water mark read when the next one starts.
    marks: list[tuple[str, float, float]] = []

    def progress(stage: str) -> None:
        marks.append((stage, *_memory()))

    started = time.perf_counter()
    result = reconcile.run(directory / "reconcile.yaml", progress=progress)
    marks.append(("end", *_memory()))
    out["memory_mib"] = {
        stage: {"rss_at_start": rss, "peak_by_end": marks[i + 1][2]}
        for i, (stage, rss, _) in enumerate(marks[:-1])
    }
    if fingerprints is not None:
        fingerprints.write_text(
            "".join(sorted(f"{f.fingerprint} {f.kind} {f.subject.rid} {f.severity.value}\n"
                           for f in result.findings)),
            encoding="utf-8",
        )
    out["run_seconds"] = round(time.perf_counter() - started, 2)
    out["stages"] = result.timings
    out["findings"] = len(result.findings)
    out["links"] = result.links
    out["entities"] = result.entities
    out["rows_read"] = sum(h.rows_read for h in result.health)
    out["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    from reconcile.demo import score

    scored = score(result.findings, directory / "truth")
    out["precision"] = scored.precision()
    out["recall"] = scored.recall()
    print(json.dumps(out))


def plot(results: list[dict[str, object]], path: Path) -> None:
    """Stacked stage times per size, with the read-only floor and 3x the floor marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    stages = ["extract", "normalise", "match", "rules", "persist", "report"]
    labels = [f"{r['size']:,}" for r in results]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    bottom = [0.0] * len(results)
    for stage in stages:
        values = [float(r["stages"].get(stage, 0.0)) for r in results]  # type: ignore[attr-defined]
        left.bar(labels, values, bottom=bottom, label=stage)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    floors = [float(r["floor"]["seconds"]) for r in results]  # type: ignore[index]
    left.scatter(labels, floors, color="black", marker="_", s=600, label="read-only floor", zorder=3)
    left.scatter(labels, [3 * f for f in floors], color="red", marker="_", s=600, label="3x floor", zorder=3)
    left.set_ylabel("seconds")
    left.set_xlabel("customers")
    left.set_title("Full run by stage")
    left.legend(fontsize=8)
    peaks = [float(r["peak_rss_mib"]) / 1024 for r in results]
    right.bar(labels, peaks, color="grey")
    right.axhline(8, color="red", linestyle="--", label="8 GB target")
    right.set_ylabel("peak GiB")
    right.set_xlabel("customers")
    right.set_title("Peak memory")
    right.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, help="keep generated worlds here (one folder per size)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--plot", type=Path, help="draw the figures into this PNG (needs matplotlib)")
    parser.add_argument("--fingerprints", type=Path,
                        help="write each finding's fingerprint, kind, subject and severity here, sorted "
                             "(one file per size: SIZE is replaced), to compare runs")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.fingerprints)
        return 0
    results = []
    for size in args.sizes:
        base = args.cache or Path(tempfile.mkdtemp(prefix="reconcile-full-run-"))
        directory = base / f"world-{size}-{args.seed}"
        if not (directory / "reconcile.yaml").is_file():
            subprocess.run([sys.executable, "-m", "reconcile.demo", "--size", str(size), "--seed",
                            str(args.seed), "--dir", str(directory)], check=True, stdout=subprocess.DEVNULL)
        for stale in (directory / "reconcile.db", directory / "reports"):
            if stale.is_file():
                stale.unlink()
        extra = ["--fingerprints", str(args.fingerprints).replace("SIZE", str(size))] if args.fingerprints else []
        child = subprocess.run([sys.executable, __file__, "--child", str(directory), *extra], check=True,
                               capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        figures["size"] = size
        figures["ratio_to_floor"] = round(figures["run_seconds"] / max(figures["floor"]["seconds"], 1e-9), 2)
        results.append(figures)
        stages = ", ".join(f"{k} {v:.1f} s" for k, v in figures["stages"].items())
        print(f"{size:>9,} customers: run {figures['run_seconds']:.1f} s ({stages}); floor "
              f"{figures['floor']['seconds']:.1f} s for {figures['floor']['rows']:,} rows "
              f"({figures['ratio_to_floor']}x); peak {figures['peak_rss_mib']:,.0f} MiB; "
              f"precision {figures['precision']:.3f} recall {figures['recall']:.3f}", flush=True)
        memory = ", ".join(f"{k} {v['peak_by_end']:,.0f}" for k, v in figures["memory_mib"].items())
        print(f"{'':>9}  peak MiB by the end of each stage: {memory}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n",
                             encoding="utf-8")
    if args.plot:
        plot(results, args.plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
