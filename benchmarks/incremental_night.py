"""Time an incremental night against a full run on the same data (issue 8's third target).

For each size:

1. the demo world is generated with change tracking (an ``updated_at`` on
   every table and file) and a configuration that reads every stream
   incrementally, with a key scan each night for deletions;
2. night 1: a first run reads everything (it is a full run) and fills the
   store's snapshots and cursors;
3. one night of changes: 1% of the rows of every table and file get a new
   value, 0.1% are deleted and as many added (``reconcile.demo.change``);
4. the world and its store are copied; night 2 runs incrementally on the
   original and as a full refresh on the copy, each in a child process,
   and their findings (fingerprint, status, severity) must be identical.

Target (2 cores): the incremental night takes at most 15% of the full run.

    python benchmarks/incremental_night.py --sizes 100000 --json benchmarks/results/incremental_night.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _child(config: Path, as_of: str, full_refresh: bool, fingerprints: Path) -> None:
    """Run once in this (child) process; print timings and peak memory as JSON."""
    import reconcile

    started = time.perf_counter()
    result = reconcile.run(config, as_of=dt.datetime.fromisoformat(as_of), full_refresh=full_refresh)
    seconds = time.perf_counter() - started
    fingerprints.write_text(
        "".join(sorted(f"{f.fingerprint} {f.status.value if f.status else '-'} {f.severity.value}\n"
                       for f in result.findings)),
        encoding="utf-8",
    )
    print(json.dumps({
        "run_seconds": round(seconds, 2),
        "stages": result.timings,
        "rows_read": sum(h.rows_read for h in result.health),
        "findings": len(result.findings),
        "resolved": len(result.resolved),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def _run(config: Path, as_of: dt.datetime, full_refresh: bool, fingerprints: Path) -> dict[str, object]:
    args = [sys.executable, __file__, "--child", str(config), "--as-of", as_of.isoformat(),
            "--fingerprints", str(fingerprints)]
    if full_refresh:
        args.append("--full-refresh")
    child = subprocess.run(args, check=True, capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "0"})
    return json.loads(child.stdout.strip().splitlines()[-1])


def _world(base: Path, size: int, seed: int) -> tuple[Path, dt.datetime]:
    from reconcile.demo import generate, track_changes, write_config

    directory = base / f"night-world-{size}-{seed}"
    shutil.rmtree(directory, ignore_errors=True)
    world = generate(directory, size=size, seed=seed)
    track_changes(directory, world.as_of)
    write_config(directory, world, incremental=True)
    return directory, world.as_of


def measure(base: Path, size: int, seed: int) -> dict[str, object]:
    from reconcile.demo import change

    directory, as_of = _world(base, size, seed)
    config = directory / "reconcile.yaml"
    first = _run(config, as_of, False, base / "night1.txt")
    night = change(directory, at=as_of + dt.timedelta(hours=1), seed=seed)
    twin = base / f"{directory.name}-full"
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(directory, twin)
    when = as_of + dt.timedelta(days=1)
    incremental = _run(config, when, False, base / "incremental.txt")
    full = _run(twin / "reconcile.yaml", when, True, base / "full.txt")
    same = (base / "incremental.txt").read_bytes() == (base / "full.txt").read_bytes()
    return {
        "size": size,
        "rows_changed": night.total,
        "night1": first,
        "incremental": incremental,
        "full": full,
        "identical_findings": same,
        "ratio": round(float(incremental["run_seconds"]) / float(full["run_seconds"]), 3),  # type: ignore[arg-type]
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="work here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--full-refresh", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fingerprints", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.as_of, args.full_refresh, args.fingerprints)
        return 0
    base = args.dir or Path(tempfile.mkdtemp(prefix="reconcile-night-"))
    base.mkdir(parents=True, exist_ok=True)
    results = []
    for size in args.sizes:
        figures = measure(base, size, args.seed)
        results.append(figures)
        inc, full = figures["incremental"], figures["full"]
        assert isinstance(inc, dict) and isinstance(full, dict)

        def stages(run: dict[str, object]) -> str:
            timings = run["stages"]
            assert isinstance(timings, dict)
            return ", ".join(f"{k} {v:.1f}" for k, v in timings.items())

        print(f"{size:>9,} customers, {figures['rows_changed']:,} rows changed: "
              f"incremental {inc['run_seconds']:.1f} s ({stages(inc)}; {inc['rows_read']:,} rows read, "
              f"peak {inc['peak_rss_mib']:,.0f} MiB) vs full {full['run_seconds']:.1f} s ({stages(full)}; "
              f"peak {full['peak_rss_mib']:,.0f} MiB): {figures['ratio']:.1%} of the full run; "
              f"findings identical: {figures['identical_findings']}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n",
                             encoding="utf-8")
    return 0 if all(r["identical_findings"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
