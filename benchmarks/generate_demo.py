"""Time the demo world generator and measure its peak memory at several sizes.

Each size is generated in a fresh child process, so the peak resident set
size reported is that size's own (the generator streams its writes: memory
must not grow with the size).

    python benchmarks/generate_demo.py --sizes 10000 100000 1000000 --out benchmarks/results/generate.json
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _one(size: int, seed: int, directory: Path) -> dict[str, object]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "reconcile.demo", "--size", str(size), "--seed", str(seed),
         "--dir", str(directory)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    elapsed = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    world = json.loads((directory / "truth" / "world.json").read_text(encoding="utf-8"))
    rows = sum(world.get("rows", {}).values())
    return {
        "size": size,
        "seconds": round(elapsed, 2),
        # ru_maxrss of children is the largest child so far: sizes run smallest first.
        "peak_rss_mib": round(max(peak_kib, before) / 1024, 1),
        "rows_written": rows,
        "rows_per_second": round(rows / elapsed),
        "disk_mib": round(sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    results = []
    for size in sorted(args.sizes):
        with tempfile.TemporaryDirectory(prefix=f"reconcile-demo-{size}-") as tmp:
            result = _one(size, args.seed, Path(tmp))
        results.append(result)
        print(f"{size:>10,} customers: {result['seconds']:>8.1f} s  peak {result['peak_rss_mib']:>7.1f} MiB  "
              f"{result['rows_written']:>12,} rows  {result['disk_mib']:>8.1f} MiB on disk", flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        payload = {"machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
                   "results": results}
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
