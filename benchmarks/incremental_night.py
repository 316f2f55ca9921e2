"""Time an incremental night against a full run on the same data (issue 8's third target).

For each size:

1. the demo world is generated with change tracking (an ``updated_at`` on
   every table and file) and a configuration that reads every stream
   incrementally;
2. night 1: a first run reads everything (it is a full run) and fills the
   store's snapshots and cursors;
3. each measured night: a night of changes is played on the world
   (``reconcile.demo.change``), the world and its store are copied, the
   night runs incrementally on the original and as a full refresh on the
   copy, each in a child process, and their findings (fingerprint, status,
   severity) must be identical.

Two kinds of night (``--nights``, both by default, in this order):

- ``key-scan``: the worst case, a night with a key scan (``key_scan_every:
  1``): 1% of the rows of every table and file get a new value, 0.1% are
  deleted (hard deletes, which only a key scan sees) and as many added;
- ``ordinary``: a night without a key scan (``key_scan_every: 7``, the
  documented setting, on a night that is not the seventh): 1% of the rows
  change and 0.1% are added, none deleted (a hard delete would stay in the
  snapshot until the next key scan, so the findings would rightly differ
  from a full refresh's).

Target (2 cores): the incremental night takes at most 15% of the full run.

    python benchmarks/incremental_night.py --sizes 100000 --json benchmarks/results/incremental_night.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
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

    marks: list[tuple[str, float]] = []  # (stage, CPU seconds when it started)

    def progress(stage: str) -> None:
        marks.append((stage, time.process_time()))

    started, cpu = time.perf_counter(), time.process_time()
    result = reconcile.run(config, as_of=dt.datetime.fromisoformat(as_of), full_refresh=full_refresh,
                           progress=progress)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    ends = [at for _, at in marks[1:]] + [time.process_time()]
    stages_cpu = {stage: round(end - at, 3) for (stage, at), end in zip(marks, ends, strict=True)}
    fingerprints.write_text(
        "".join(sorted(f"{f.fingerprint} {f.status.value if f.status else '-'} {f.severity.value}\n"
                       for f in result.findings)),
        encoding="utf-8",
    )
    print(json.dumps({
        "run_seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),  # this process's, less disturbed by a busy machine than wall time
        "stages": result.timings,
        "stages_cpu": stages_cpu,
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


NIGHTS = ("key-scan", "ordinary")


def _key_scan_every(config: Path, every: int) -> None:
    """Set every source's ``key_scan_every`` in the demo configuration."""
    text = config.read_text(encoding="utf-8")
    config.write_text(re.sub(r"(?m)^(\s+key_scan_every:) \d+$", rf"\1 {every}", text), encoding="utf-8")


def _night(base: Path, directory: Path, number: int, kind: str, as_of: dt.datetime, seed: int) -> dict[str, object]:
    """Play night ``number`` of the given kind; run it incrementally and as a full refresh of a copy."""
    from reconcile.demo import change

    config = directory / "reconcile.yaml"
    # Succeeded runs so far: number - 1; a key scan is due when number % every == 0.
    _key_scan_every(config, 1 if kind == "key-scan" else 7)
    assert kind == "key-scan" or number % 7, "an ordinary night must not be a seventh night"
    night = change(directory, at=as_of + dt.timedelta(days=number - 2, hours=1), seed=seed + number,
                   delete_fraction=0.001 if kind == "key-scan" else 0.0)
    twin = base / f"{directory.name}-full"
    shutil.rmtree(twin, ignore_errors=True)
    shutil.copytree(directory, twin)
    when = as_of + dt.timedelta(days=number - 1)
    incremental = _run(config, when, False, base / f"incremental-{kind}.txt")
    full = _run(twin / "reconcile.yaml", when, True, base / f"full-{kind}.txt")
    shutil.rmtree(twin, ignore_errors=True)
    same = (base / f"incremental-{kind}.txt").read_bytes() == (base / f"full-{kind}.txt").read_bytes()
    return {
        "night": number,
        "key_scan": kind == "key-scan",
        "rows_changed": night.total,
        "incremental": incremental,
        "full": full,
        "identical_findings": same,
        "ratio": round(float(incremental["run_seconds"]) / float(full["run_seconds"]), 3),  # type: ignore[arg-type]
        "cpu_ratio": round(float(incremental["cpu_seconds"]) / float(full["cpu_seconds"]), 3),  # type: ignore[arg-type]
    }


def measure(base: Path, size: int, seed: int, nights: tuple[str, ...] = NIGHTS) -> dict[str, object]:
    directory, as_of = _world(base, size, seed)
    first = _run(directory / "reconcile.yaml", as_of, False, base / "night1.txt")
    figures: dict[str, object] = {"size": size, "night1": first}
    for number, kind in enumerate(nights, start=2):
        figures[kind] = _night(base, directory, number, kind, as_of, seed)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--dir", type=Path, help="work here (default: a temporary folder)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--nights", nargs="+", choices=NIGHTS, default=list(NIGHTS),
                        help="the nights measured after the first, in this order (default: both)")
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
    identical = []

    def stages(run: dict[str, object], which: str = "stages") -> str:
        timings = run[which]
        assert isinstance(timings, dict)
        return ", ".join(f"{k} {v:.1f}" for k, v in timings.items())

    for size in args.sizes:
        figures = measure(base, size, args.seed, tuple(args.nights))
        results.append(figures)
        for kind in args.nights:
            night = figures[kind]
            assert isinstance(night, dict)
            inc, full = night["incremental"], night["full"]
            assert isinstance(inc, dict) and isinstance(full, dict)
            identical.append(night["identical_findings"])
            print(f"{size:>9,} customers, {kind} night, {night['rows_changed']:,} rows changed: "
                  f"incremental {inc['run_seconds']:.1f} s ({stages(inc)}; {inc['rows_read']:,} rows read, "
                  f"peak {inc['peak_rss_mib']:,.0f} MiB) vs full {full['run_seconds']:.1f} s ({stages(full)}; "
                  f"peak {full['peak_rss_mib']:,.0f} MiB): {night['ratio']:.1%} of the full run; "
                  f"CPU {inc['cpu_seconds']:.1f} s ({stages(inc, 'stages_cpu')}) vs {full['cpu_seconds']:.1f} s "
                  f"({stages(full, 'stages_cpu')}): {night['cpu_ratio']:.1%}; "
                  f"findings identical: {night['identical_findings']}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n",
                             encoding="utf-8")
    return 0 if all(identical) else 1


if __name__ == "__main__":
    sys.exit(main())
