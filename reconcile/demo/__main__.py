"""``python -m reconcile.demo``: write a demo world and its configuration (no run).

``reconcile demo`` generates, runs and scores in one go; this entry point only
generates, for benchmarks and for looking at the files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

from reconcile.demo import DEFAULT_AS_OF, generate, write_config


def _as_of(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reconcile.demo", description=__doc__)
    parser.add_argument("--size", type=int, default=1000, help="number of customers (default 1000)")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generator (default 7)")
    parser.add_argument("--dir", type=Path, default=Path("reconcile-demo"), help="where to write")
    parser.add_argument("--as-of", type=_as_of, default=DEFAULT_AS_OF, help="reference time, ISO 8601")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        world = generate(args.dir, size=args.size, seed=args.seed, as_of=args.as_of)
    except ValueError as exc:
        parser.error(str(exc))
    config = write_config(args.dir, world)
    elapsed = time.perf_counter() - started
    print(f"Wrote a demo company of {world.size:,} customers to {world.directory} in {elapsed:.1f} s")
    for name, count in world.rows.items():
        print(f"  {name:<30} {count:>12,}")
    print(f"Expected findings: {world.expected_findings:,}  "
          + ", ".join(f"{kind} {n:,}" for kind, n in world.findings.items()))
    print(f"Near misses: {sum(world.near_misses.values()):,}")
    print(f"Configuration: {config}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
