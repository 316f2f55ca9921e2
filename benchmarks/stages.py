"""Keep the input of each stage of a demo-world run on disk, then time one stage alone.

Profiling matching or the rules at 1,000,000 customers should not mean
extracting and normalising 17 million rows first, every time. ``dump`` runs
the stages once, as ``reconcile.run`` does (no store, no reports), and pickles
what each stage receives; ``time`` loads one stage's input and runs that
stage, printing its wall and CPU seconds and the process's peak memory
before and after (so the stage's own share of memory shows).

    python benchmarks/stages.py dump --world /tmp/fullrun/world-1000000-7 --out /tmp/stages-1m
    python benchmarks/stages.py time --dir /tmp/stages-1m --stage match [--profile match.prof]

Stages: ``normalise`` (input: the built tables), ``match`` (the normalised
tables), ``rules`` (the matched tables; as-of time of the world's config),
``evidence`` (the rules' findings, the tables and the match result).
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _rss_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _save(path: Path, value: Any) -> None:
    started = time.perf_counter()
    with path.open("wb") as fh:
        pickle.dump(value, fh, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"  kept {path.name}: {path.stat().st_size / 2**20:,.0f} MiB in {time.perf_counter() - started:.1f} s",
          flush=True)


def _load(path: Path) -> Any:
    with path.open("rb") as fh:
        return pickle.load(fh)


def dump(world: Path, out: Path) -> None:
    """Run the stages once on a demo world's configuration and keep each stage's input."""
    from reconcile.config import load_config
    from reconcile.pipeline import (
        attach_match_evidence,
        build_tables,
        evaluate,
        extract_sources,
        match_entities,
        normalise_tables,
    )

    out.mkdir(parents=True, exist_ok=True)
    config = load_config(world / "reconcile.yaml")
    as_of = config.as_of
    (out / "meta.json").write_text(json.dumps({"world": str(world), "as_of": as_of.isoformat() if as_of else None}))
    timings: dict[str, float] = {}

    def stage(name: str) -> None:
        timings[name] = round(time.perf_counter() - started, 2)
        print(f"{name}: {timings[name]} s, peak {_peak_mib():,.0f} MiB", flush=True)

    started = time.perf_counter()
    extracted = extract_sources(config)
    stage("extract")
    started = time.perf_counter()
    tables = build_tables(extracted, release=True)  # as reconcile.run builds them
    del extracted
    gc.collect()
    stage("build")
    _save(out / "normalise.pkl", tables)
    started = time.perf_counter()
    tables = normalise_tables(tables, config)
    stage("normalise")
    _save(out / "match.pkl", tables)
    started = time.perf_counter()
    tables, matched = match_entities(tables, config)
    stage("match")
    _save(out / "rules.pkl", tables)
    started = time.perf_counter()
    findings = evaluate(tables, config.built_rules, as_of)
    stage("rules")
    _save(out / "evidence.pkl", (findings, tables, matched))
    started = time.perf_counter()
    attach_match_evidence(findings, tables, matched)
    stage("evidence")


def time_stage(directory: Path, stage: str, profile: Path | None) -> None:
    """Load one stage's input and run that stage; print seconds and memory as JSON."""
    from reconcile.config import load_config
    from reconcile.pipeline import attach_match_evidence, evaluate, match_entities, normalise_tables

    meta = json.loads((directory / "meta.json").read_text())
    config = load_config(Path(meta["world"]) / "reconcile.yaml")
    loaded = _load(directory / f"{stage}.pkl")
    gc.collect()
    before_rss, before_peak = _rss_mib(), _peak_mib()

    def work() -> Any:
        if stage == "normalise":
            return normalise_tables(loaded, config)
        if stage == "match":
            return match_entities(loaded, config)
        if stage == "rules":
            return evaluate(loaded, config.built_rules, config.as_of)
        if stage == "evidence":
            findings, tables, matched = loaded
            attach_match_evidence(findings, tables, matched)
            return findings
        raise SystemExit(f"unknown stage {stage!r}")

    cpu, wall = time.process_time(), time.perf_counter()
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        result = profiler.runcall(work)
        profiler.dump_stats(profile)
    else:
        result = work()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    size = len(result) if isinstance(result, list) else None
    print(json.dumps({
        "stage": stage, "wall_seconds": round(wall, 2), "cpu_seconds": round(cpu, 2),
        "rss_mib_before": before_rss, "peak_mib_before": before_peak, "peak_mib_after": _peak_mib(),
        "findings": size,
    }))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("dump", help="run the stages once and keep each stage's input")
    d.add_argument("--world", type=Path, required=True, help="a demo world folder (python -m reconcile.demo)")
    d.add_argument("--out", type=Path, required=True)
    t = commands.add_parser("time", help="time one stage on its kept input")
    t.add_argument("--dir", type=Path, required=True)
    t.add_argument("--stage", required=True, choices=["normalise", "match", "rules", "evidence"])
    t.add_argument("--profile", type=Path, help="write cProfile statistics here")
    args = parser.parse_args(argv)
    if args.command == "dump":
        dump(args.world, args.out)
    else:
        time_stage(args.dir, args.stage, args.profile)


if __name__ == "__main__":
    sys.exit(main())
