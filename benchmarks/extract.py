"""Extract 1,000,000 rows through the adapters and compare with the driver or pandas alone.

The rows are billing accounts shaped like the demo billing system's
(``accounts``: 17 text columns) and mapped with the shipped ``demo-billing``
spec: names, contact details, dates parsed with a format, code tables,
yes/no flags, a constant. Each backend is measured in the same run as its
floor, alternately, ``--repeat`` times; the best time of each is reported:

- ``sqlite``: the ``sql`` adapter on a SQLite file (read as Arrow batches
  through ``adbc-driver-sqlite``), against the ``sqlite3`` driver fetching
  the same rows in the same chunks and keeping them; ``sqlite3`` (not by
  default): the same adapter with ``arrow: false``, reading through
  ``sqlite3`` as it does tables ADBC cannot read exactly;
- ``postgresql``: the ``sql`` adapter (a server-side cursor), against psycopg
  fetching the same rows through the same kind of cursor, keeping them;
- ``csv``: the ``csv`` adapter, against ``pandas.read_csv`` of the same file
  (and, for reference, the ``csv`` module alone);
- ``jsonl`` (not by default): the same rows as JSON Lines (one flat object
  per line) through the ``jsonl`` adapter, against the ``json`` module
  parsing every line and keeping the objects.

"adapter" is ``Adapter.extract()`` (read, map, validate, quarantine, count)
plus ``ExtractResult.frame()`` (the canonical DataFrame the next stage
works on); both are also shown apart. Besides wall-clock times the script
reports the CPU seconds of its own process (all threads), which vary less
on a shared machine; a database server's CPU is not in them.

    python benchmarks/extract.py --rows 1000000 --json benchmarks/results/extract.json

PostgreSQL is found at ``RECONCILE_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``); the table is written
to a schema ``reconcile_bench`` that is dropped afterwards unless ``--keep``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import gc
import json
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

COLUMNS = (
    "account_no", "cust_type", "holder_name", "business_name", "email_addr", "phone_no",
    "addr_line1", "addr_line2", "city", "state", "zip", "dob", "status", "autopay_flag",
    "autopay_method", "opened", "closed",
)
FAMILY = ["SMITH", "JOHNSON", "WILLIAMS", "BROWN", "JONES", "GARCIA", "MILLER", "DAVIS", "O'NEIL", "NGUYEN",
          "MARTINEZ", "LOPEZ", "WILSON", "ANDERSON", "THOMAS", "TAYLOR", "MOORE", "JACKSON", "MARTIN", "LEE"]
GIVEN = ["ROBERT", "ANN", "MARIA", "JAMES", "LI", "SARAH", "DAVID", "EMMA", "JOSE", "LINDA", "WEI", "OMAR"]
STREETS = ["MAIN ST", "OAK AVE", "PINE RD", "MAPLE DR", "CEDAR LN", "ELM ST", "LAKE BLVD", "HILL CT"]
CITIES = [("SPRINGFIELD", "IL", "627"), ("RENO", "NV", "895"), ("AUSTIN", "TX", "787"), ("SALEM", "OR", "973"),
          ("DOVER", "DE", "199"), ("MADISON", "WI", "537"), ("TRENTON", "NJ", "086"), ("BOISE", "ID", "837")]


def generate(rows: int, seed: int) -> Iterator[tuple[Any, ...]]:
    """Billing account rows; about 0.1% carry an unknown status code and 0.1% repeat a key."""
    rng = np.random.default_rng(seed)
    families = [f"{f}{i // len(FAMILY) or ''}" for i, f in enumerate(FAMILY * 50)]
    givens = [f"{g}{i // len(GIVEN) or ''}" for i, g in enumerate(GIVEN * 20)]
    epoch = dt.date(1990, 1, 1).toordinal()
    days = [dt.date.fromordinal(epoch + i).isoformat() for i in range(13_000)]
    chunk = 100_000
    for begin in range(0, rows, chunk):
        n = min(chunk, rows - begin)
        fam = rng.integers(0, len(families), n)
        giv = rng.integers(0, len(givens), n)
        city = rng.integers(0, len(CITIES), n)
        street = rng.integers(0, len(STREETS), n)
        number = rng.integers(1, 9999, n)
        phone = rng.integers(2_000_000, 9_999_999, n)
        area = rng.integers(201, 989, n)
        dob = rng.integers(0, 13_000, n)
        opened = rng.integers(6_000, 13_000, n)
        status = rng.choice(np.array(["A", "A", "A", "C", "S"]), n)
        autopay = rng.random(n) < 0.6
        method = rng.choice(np.array(["CARD", "ACH"]), n)
        roll = rng.random(n)
        for j in range(n):
            i = begin + j
            family, given = families[fam[j]], givens[giv[j]]
            name, state, zip3 = CITIES[city[j]]
            business = roll[j] < 0.08
            code = "X" if roll[j] > 0.999 else str(status[j])
            key = i - 1 if 0.9985 < roll[j] <= 0.999 and i else i
            closed = days[min(12_999, opened[j] + 400)] if code == "C" else None
            yield (
                f"AC-{key:08d}", "B" if business else "P", f"{family}, {given}",
                f"{family} HOLDINGS LLC" if business else None,
                f"{given.lower()}.{family.lower().replace(chr(39), '')}{i % 97}@example.com",
                f"({area[j]}) {str(phone[j])[:3]}-{str(phone[j])[3:]}",
                f"{number[j]} {STREETS[street[j]]}", f"APT {number[j] % 40 + 1}" if roll[j] < 0.3 else None,
                name, state, f"{zip3}{number[j] % 100:02d}",
                days[dob[j]] if roll[j] < 0.6 else None, code, "Y" if autopay[j] else "N",
                str(method[j]) if autopay[j] else None, days[opened[j]], closed,
            )


def write_sqlite(path: Path, rows: int, seed: int) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = sqlite3.connect(tmp)
    con.execute(f"CREATE TABLE accounts ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
    con.executemany(f"INSERT INTO accounts VALUES ({', '.join('?' * len(COLUMNS))})", generate(rows, seed))
    con.commit()
    con.close()
    tmp.replace(path)


def write_csv(path: Path, rows: int, seed: int) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(COLUMNS)
        writer.writerows(generate(rows, seed))
    tmp.replace(path)


def write_jsonl(path: Path, rows: int, seed: int) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for row in generate(rows, seed):
            fh.write(json.dumps(dict(zip(COLUMNS, row, strict=True))) + "\n")
    tmp.replace(path)


def write_postgres(url: str, rows: int, seed: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as con:
        con.execute("DROP SCHEMA IF EXISTS reconcile_bench CASCADE")
        con.execute("CREATE SCHEMA reconcile_bench")
        con.execute(f"CREATE TABLE reconcile_bench.accounts ({', '.join(f'{c} TEXT' for c in COLUMNS)})")
        with con.cursor().copy(f"COPY reconcile_bench.accounts ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in generate(rows, seed):
                copy.write_row(row)


# -- what is measured ------------------------------------------------------------------------


def account_fields() -> dict[str, Any]:
    from reconcile.packs import load_yaml_pack

    _, spec = load_yaml_pack("adapters", "demo-billing")
    return dict(spec["streams"]["account"]["fields"])


# The incremental read (--incremental): accounts opened from this day on are
# "changed since the last run" (about a tenth of them), closed ones are soft-deleted.
SINCE = dt.datetime(1990, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=12_300)
INCREMENTAL = {"cursor": {"column": "opened", "type": "timestamp"}, "deleted": {"column": "status", "values": ["C"]}}


def run_adapter(kind: str, location: str, chunk: int, timings: dict[str, float]) -> int:
    """Extract through the adapter and build the canonical frame; returns the rows used."""
    from reconcile.extract.files import CsvAdapter, CsvSourceConfig
    from reconcile.extract.sql import SqlAdapter, SqlSourceConfig

    fields = account_fields()
    started = time.perf_counter()
    if kind == "jsonl":
        from reconcile.extract.files import JsonlAdapter, JsonlSourceConfig

        jsonl_config = JsonlSourceConfig.model_validate(
            {"kind": "jsonl", "streams": {"account": {"path": location, "fields": fields}}}
        )
        result = JsonlAdapter("billing", jsonl_config).extract()
    elif kind in ("csv", "csv-incremental"):
        incremental = kind == "csv-incremental"
        csv_config = CsvSourceConfig.model_validate(
            {"kind": "csv", "streams": {"account": {"path": location, "fields": fields,
                                                    **(INCREMENTAL if incremental else {})}}}
        )
        result = CsvAdapter("billing", csv_config).extract(
            since={"account": SINCE} if incremental else None,
            scan_keys=["account"] if incremental else (),
        )
        if incremental:
            assert result.health is not None
            timings["skipped"] = result.health.rows_skipped
            timings["deleted"] = len(result.deleted.get("account", ()))
            timings["scanned"] = len(result.scanned_keys.get("account", ()))
    else:
        sql_config = SqlSourceConfig.model_validate(
            {"kind": "sql", "url": location, "chunk_size": chunk, "arrow": kind != "sqlite3",
             "streams": {"account": {"table": "accounts", "fields": fields,
                                     **({"schema": "reconcile_bench"} if kind == "postgresql" else {})}}}
        )
        result = SqlAdapter("billing", sql_config).extract()
    extracted = time.perf_counter()
    frame = result.frame("account")
    finished = time.perf_counter()
    health = result.health
    assert health is not None and health.healthy, health
    assert health.rows_read == health.rows_used + health.rows_quarantined
    # A soft-deleted row is used (it deletes its record) and is not in the frame;
    # two deleted rows may share a key, so the deleted keys are at most that many.
    assert len(frame) + len(result.deleted.get("account", ())) <= health.rows_used
    timings["extract"] = extracted - started
    timings["frame"] = finished - extracted
    timings["quarantined"] = health.rows_quarantined
    return health.rows_used


def floor_sqlite(path: str, chunk: int) -> int:
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    cursor = con.execute(f"SELECT {', '.join(COLUMNS)} FROM accounts")
    kept: list[tuple[Any, ...]] = []
    while rows := cursor.fetchmany(chunk):
        kept.extend(rows)
    con.close()
    return len(kept)


def floor_postgres(url: str, chunk: int) -> int:
    import psycopg

    kept: list[tuple[Any, ...]] = []
    with psycopg.connect(url) as con, con.cursor(name="bench_floor") as cursor:
        cursor.itersize = chunk
        cursor.execute(f"SELECT {', '.join(COLUMNS)} FROM reconcile_bench.accounts")
        while rows := cursor.fetchmany(chunk):
            kept.extend(rows)
    return len(kept)


def floor_pandas_csv(path: str) -> int:
    import pandas as pd

    return len(pd.read_csv(path))


def floor_json_lines(path: str) -> int:
    with open(path, encoding="utf-8") as fh:
        return len([json.loads(line) for line in fh])


def floor_csv_module(path: str) -> int:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        next(reader)
        return len(list(reader))


def timed(function: Callable[[], int], cpu: list[float] | None = None) -> tuple[float, int]:
    """Wall-clock seconds of ``function`` (and, into ``cpu``, the CPU seconds of this process's threads)."""
    gc.collect()
    started, started_cpu = time.perf_counter(), time.process_time()
    rows = function()
    if cpu is not None:
        cpu.append(time.process_time() - started_cpu)
    return time.perf_counter() - started, rows


def measure(name: str, floors: dict[str, Callable[[], int]], adapter: Callable[[dict[str, float]], int],
            repeat: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {label: [] for label in floors}
    samples.update({"adapter": [], "extract": [], "frame": []})
    cpu: dict[str, list[float]] = {label: [] for label in [*floors, "adapter"]}
    rows = {}
    quarantined = 0
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for label, floor in floors.items():
            seconds, rows[label] = timed(floor, cpu[label])
            samples[label].append(seconds)
        timings: dict[str, float] = {}
        seconds, rows["adapter"] = timed(lambda timings=timings: adapter(timings), cpu["adapter"])  # type: ignore[misc]
        samples["adapter"].append(seconds)
        samples["extract"].append(timings["extract"])
        samples["frame"].append(timings["frame"])
        quarantined = int(timings["quarantined"])
        counts = {k: int(timings[k]) for k in ("skipped", "deleted", "scanned") if k in timings}
    best = {label: min(values) for label, values in samples.items()}
    floor_label = next(iter(floors))
    out = {
        "backend": name,
        "rows_read": rows[floor_label],
        "rows_used": rows["adapter"],
        "rows_quarantined": quarantined,
        **{f"rows_{k}" if k == "skipped" else k: v for k, v in counts.items()},
        "floor": floor_label,
        "best_s": {k: round(v, 3) for k, v in best.items()},
        "median_s": {k: round(statistics.median(v), 3) for k, v in samples.items()},
        "ratio": round(best["adapter"] / best[floor_label], 2),
        "ratio_median": round(statistics.median(samples["adapter"]) / statistics.median(samples[floor_label]), 2),
        # CPU seconds of this process (all its threads; a database server's are not counted for either).
        "cpu_best_s": {k: round(min(v), 3) for k, v in cpu.items()},
        "cpu_ratio": round(min(cpu["adapter"]) / min(cpu[floor_label]), 2),
        "wall_s": {k: [round(x, 3) for x in v] for k, v in samples.items()},
    }
    extra = [f"{k} {v:.2f}s" for k, v in best.items() if k not in (floor_label, "adapter")]
    print(f"{name:>10}: floor ({floor_label}) {best[floor_label]:6.2f}s   adapter {best['adapter']:6.2f}s   "
          f"ratio {out['ratio']:.2f}x (median {out['ratio_median']:.2f}x, CPU {out['cpu_ratio']:.2f}x)   "
          f"[{', '.join(extra)}]" + (f" {counts}" if counts else ""), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=10_000, help="rows per fetch (sql)")
    parser.add_argument("--backends", nargs="*", default=["sqlite", "postgresql", "csv"],
                        choices=["sqlite", "sqlite3", "postgresql", "csv", "jsonl"],
                        help="sqlite3: the SQLite table read through sqlite3 (arrow: false), as tables ADBC "
                             "does not read are")
    parser.add_argument("--incremental", action="store_true",
                        help="also read the CSV file as an incremental stream (a cursor on 'opened', about a "
                             "tenth of the rows after it; closed accounts soft-deleted; every key scanned)")
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/reconcile-bench"),
                        help="where the generated files are kept between runs")
    parser.add_argument("--postgres-url", default=os.environ.get("RECONCILE_TEST_POSTGRES_URL")
                        or "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL table afterwards")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)

    args.data_dir.mkdir(parents=True, exist_ok=True)
    stem = f"accounts-{args.rows}-{args.seed}"
    results = []
    print(f"{args.rows:,} rows, best of {args.repeat}", flush=True)
    for kind in ("sqlite", "sqlite3"):  # the same file: through ADBC, then with arrow: false
        if kind not in args.backends:
            continue
        db = args.data_dir / f"{stem}.db"
        if not db.exists():
            write_sqlite(db, args.rows, args.seed)
        results.append(measure(
            kind, {"sqlite3": lambda db=db: floor_sqlite(str(db), args.chunk)},
            lambda t, kind=kind, db=db: run_adapter(kind, f"sqlite:///{db}", args.chunk, t), args.repeat,
        ))
    if "postgresql" in args.backends:
        from sqlalchemy.engine import make_url

        url = make_url(args.postgres_url)
        libpq = url.set(drivername="postgresql").render_as_string(hide_password=False)
        write_postgres(libpq, args.rows, args.seed)
        try:
            results.append(measure(
                "postgresql", {"psycopg": lambda: floor_postgres(libpq, args.chunk)},
                lambda t: run_adapter("postgresql", url.render_as_string(hide_password=False), args.chunk, t),
                args.repeat,
            ))
        finally:
            if not args.keep:
                import psycopg

                with psycopg.connect(libpq, autocommit=True) as con:
                    con.execute("DROP SCHEMA IF EXISTS reconcile_bench CASCADE")
    if "csv" in args.backends:
        path = args.data_dir / f"{stem}.csv"
        if not path.exists():
            write_csv(path, args.rows, args.seed)
        results.append(measure(
            "csv", {"pandas.read_csv": lambda: floor_pandas_csv(str(path)),
                    "csv module": lambda: floor_csv_module(str(path))},
            lambda t: run_adapter("csv", str(path), args.chunk, t), args.repeat,
        ))
    if "jsonl" in args.backends:
        path = args.data_dir / f"{stem}.jsonl"
        if not path.exists():
            write_jsonl(path, args.rows, args.seed)
        results.append(measure(
            "jsonl", {"json module": lambda: floor_json_lines(str(path))},
            lambda t: run_adapter("jsonl", str(path), args.chunk, t), args.repeat,
        ))
    if args.incremental:
        path = args.data_dir / f"{stem}.csv"
        if not path.exists():
            write_csv(path, args.rows, args.seed)
        results.append(measure(
            "csv-incremental", {"pandas.read_csv": lambda: floor_pandas_csv(str(path))},
            lambda t: run_adapter("csv-incremental", str(path), args.chunk, t), args.repeat,
        ))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "rows": args.rows, "repeat": args.repeat, "chunk": args.chunk,
            "python": platform.python_version(), "machine": platform.machine(), "cpus": os.cpu_count(),
            "date": dt.date.today().isoformat(), "command": " ".join(["python", *sys.argv]),
            "results": results,
        }, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
