"""Time normalise + match + rules (+ match evidence) with the local and the Dask engine, on the demo world.

The demo world is generated once (or reused from ``--cache``) and extracted
once; then, in the same process, each engine runs the three stages on the
same tables (``--repeat`` times, alternating which goes first), the findings
of both are compared field by field (fingerprints, kinds, subjects, records,
severities, details with the match evidence), and the speed-up is printed.
The Dask engine starts a LocalCluster of ``--workers`` worker processes for
each repeat (or uses ``--address``); its start-up is reported apart. The CPU
seconds of this process and of the workers are reported too: on a machine
shared with other work they say how much work each engine does, where the
wall-clock time mostly says how busy the machine was.

    python benchmarks/dask_engine.py --size 100000 --cache /tmp/fullrun-dask --workers 2

Timings on a machine shared with other work are noisy: compare the two
engines within one run, and repeat.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _world(size: int, cache: Path) -> Path:
    """The demo world's configuration, generated into ``cache`` unless it is there."""
    from reconcile.demo import generate, write_config

    config = cache / "reconcile.yaml"
    if not config.is_file():
        print(f"generating the {size:,}-customer demo world in {cache} ...", flush=True)
        world = generate(cache, size=size, seed=7)
        config = write_config(cache, world)
    return config


def _cpu() -> float:
    """CPU seconds this process has used (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _worker_cpu(engine: Any) -> float:
    """CPU seconds the engine's workers have used (0 for the local engine)."""
    client = getattr(engine, "client", None)
    return float(sum(client.run(_cpu).values())) if client is not None else 0.0


def _stages(engine_config: Any, tables: Any, config: Any) -> tuple[dict[str, float], list[Any], int]:
    """Open the engine, run normalise, match and rules (with match evidence); seconds per stage.

    For each stage, wall-clock seconds (``normalise``), and the CPU seconds of
    this process (``normalise_cpu``) and of the workers (``normalise_workers``).
    """
    from reconcile.engine import open_engine
    from reconcile.match import attach_match_evidence

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    with open_engine(engine_config) as engine:
        seconds["start"] = time.perf_counter() - started
        marks = [(time.perf_counter(), _cpu(), _worker_cpu(engine))]

        def done(stage: str) -> None:
            marks.append((time.perf_counter(), _cpu(), _worker_cpu(engine)))
            (wall0, cpu0, workers0), (wall1, cpu1, workers1) = marks[-2], marks[-1]
            seconds[stage] = wall1 - wall0
            seconds[f"{stage}_cpu"] = cpu1 - cpu0
            seconds[f"{stage}_workers"] = workers1 - workers0

        normalised = engine.normalise_tables(tables, config)
        done("normalise")
        matched, result = engine.match_entities(normalised, config)
        done("match")
        findings = engine.evaluate(matched, config.built_rules, config.as_of)
        done("rules")
        attach_match_evidence(findings, matched, result)
        done("evidence")
        mark = time.perf_counter()
    seconds["stop"] = time.perf_counter() - mark
    stages = ("normalise", "match", "rules", "evidence")
    seconds["stages"] = sum(seconds[s] for s in stages)
    seconds["cpu_client"] = sum(seconds[f"{s}_cpu"] for s in stages)
    seconds["cpu_workers"] = sum(seconds[f"{s}_workers"] for s in stages)
    return {k: round(v, 2) for k, v in seconds.items()}, findings, len(result.links)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="customers in the demo world")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/fullrun-dask"), help="where the world is kept")
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes")
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--partitions", type=int, default=None, help="default: one per worker")
    parser.add_argument("--address", default=None, help="an existing scheduler instead of a LocalCluster")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each engine, alternating the order")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--verbose", action="store_true", help="log the Dask engine's phases (sending, waiting)")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(format="%(asctime)s %(name)s %(message)s")
        logging.getLogger("reconcile.engine").setLevel(logging.DEBUG)

    from reconcile.config import load_config
    from reconcile.engine import EngineConfig
    from reconcile.pipeline import build_tables, extract_sources

    args.cache.mkdir(parents=True, exist_ok=True)
    config = load_config(_world(args.size, args.cache))
    started = time.perf_counter()
    tables = build_tables(extract_sources(config))
    rows = sum(len(frame) for frame in tables.values())
    print(f"extracted {rows:,} rows in {time.perf_counter() - started:.1f} s", flush=True)

    engines = {
        "local": EngineConfig(kind="local"),
        "dask": EngineConfig(
            kind="dask", address=args.address, workers=args.workers,
            threads_per_worker=args.threads_per_worker, partitions=args.partitions,
        ),
    }
    runs: dict[str, list[dict[str, float]]] = {"local": [], "dask": []}
    outputs: dict[str, list[dict[str, Any]]] = {}
    fingerprints: dict[str, list[str]] = {}
    for repeat in range(args.repeat):
        order = ["local", "dask"] if repeat % 2 == 0 else ["dask", "local"]
        for name in order:
            seconds, findings, links = _stages(engines[name], tables, config)
            runs[name].append(seconds)
            dumped = [f.model_dump(mode="json") for f in findings]
            if name in outputs and outputs[name] != dumped:
                print(f"{name}: findings differ between repeats", file=sys.stderr)
                return 1
            outputs[name] = dumped
            fingerprints[name] = sorted(f.fingerprint for f in findings)
            shown = [f"start {seconds['start']:.1f} s"] + [
                f"{stage} {seconds[stage]:.1f} s (cpu {seconds[stage + '_cpu']:.1f} + {seconds[stage + '_workers']:.1f})"
                for stage in ("normalise", "match", "rules", "evidence")
            ] + [f"stop {seconds['stop']:.1f} s"]
            print(f"{name:5}  " + ", ".join(shown) + f"  ({len(findings):,} findings, {links:,} links)", flush=True)

    identical = outputs["local"] == outputs["dask"]
    best = {name: min(r["stages"] for r in seconds) for name, seconds in runs.items()}
    with_start = {name: min(r["stages"] + r["start"] + r["stop"] for r in seconds) for name, seconds in runs.items()}
    summary = {
        "size": args.size,
        "rows": rows,
        "workers": args.workers if args.address is None else None,
        "address": args.address,
        "partitions": args.partitions,
        "runs": runs,
        "findings": len(outputs["local"]),
        "identical": identical,
        "same_fingerprints": fingerprints["local"] == fingerprints["dask"],
        "speed_up": round(best["local"] / best["dask"], 2),
        "speed_up_with_cluster_start": round(with_start["local"] / with_start["dask"], 2),
        "peak_rss_client_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    cpu = {name: min(r["cpu_client"] + r["cpu_workers"] for r in seconds) for name, seconds in runs.items()}
    summary["cpu_seconds"] = {name: round(value, 1) for name, value in cpu.items()}
    print(f"findings identical: {identical} ({summary['findings']:,} findings)")
    print(f"CPU seconds of the stages (client + workers), least of {args.repeat}: "
          f"local {cpu['local']:.1f}, dask {cpu['dask']:.1f}")
    print(f"normalise + match + rules + evidence, best of {args.repeat}: local {best['local']:.1f} s, "
          f"dask {best['dask']:.1f} s: speed-up {summary['speed_up']:.2f}x "
          f"({summary['speed_up_with_cluster_start']:.2f}x counting the cluster's start and stop)")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return 0 if identical else 1


if __name__ == "__main__":  # the LocalCluster's worker processes import this module again
    sys.exit(main())
