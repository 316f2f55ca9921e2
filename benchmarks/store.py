"""Time the persist stage (``Store.finish_run``) and the reports on many synthetic findings.

Three nights on a fresh store, each in the same child process per backend:

1. night 1: every finding is new;
2. night 2: ``--churn`` of them changed (story and detail), half as many
   gone (resolved) and half as many new; every other one goes new -> open;
3. night 3: the same churn again on night 2's findings (the steady state:
   most findings stay open, nothing else changes).

Then the latest run is read back from the store (``Store.run_result``, what
``reconcile report --run N`` does) and, with ``--reports``, its JSON, CSV and
HTML reports are written. Each step prints its seconds and the process's peak
resident memory so far; the store's size is printed after each night.

The findings look like the demo world's (nine kinds, a subject and three or
four records with the fields that matter, a story, details with match
evidence: about 2.5 KB of JSON each).

    python benchmarks/store.py --findings 150000 --backends sqlite postgresql --reports

PostgreSQL and MariaDB are reached at the URLs of ``--postgresql`` and
``--mariadb``; a database of their own is created and dropped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

KINDS = (
    ("failed_autopay", "billing", "high"),
    ("recall_missing_locally", "service", "critical"),
    ("unresolved_low_survey", "support", "medium"),
    ("name_mismatch", "crm", "low"),
    ("duplicate_active_line", "provisioning", "medium"),
    ("payment_misapplied", "billing", "high"),
    ("billed_not_provisioned", "provisioning", "high"),
    ("provisioned_not_billed", "billing", "medium"),
    ("monitoring_gap", "service", "critical"),
)

STREETS = ("Willow Boulevard", "Oak Street", "Maple Avenue", "Cedar Lane", "Birch Road", "Elm Court")
CITIES = (("Richmond", "23228"), ("Norfolk", "23510"), ("Arlington", "22201"), ("Roanoke", "24011"))
NAMES = ("COOK, GRACE", "SMITH, ROBERT", "NGUYEN, LINH", "GARCÍA, JOSÉ", "O'BRIEN, SEAN", "MÜLLER, ANNA")


def _link(rng: random.Random, left: str, right: str) -> dict[str, Any]:
    given, family = rng.choice(NAMES).lower().split(", ")[::-1]
    phone = f"+1804{rng.randrange(10**7):07d}"
    street = f"{rng.randrange(1, 99999)} {rng.choice(STREETS).lower()} | | {rng.choice(CITIES)[1]}"
    fields = [
        {"comparison": "given_name", "value_l": given, "value_r": given, "level": "exact", "weight": 7.35},
        {"comparison": "family_name", "value_l": family, "value_r": family, "level": "exact", "weight": 7.81},
        {"comparison": "email", "value_l": f"{family}.{given}{rng.randrange(10**5)}@example.com", "value_r": None,
         "level": "missing", "weight": 0.0},
        {"comparison": "phone", "value_l": phone, "value_r": phone, "level": "exact", "weight": 36.46},
        {"comparison": "address", "value_l": street, "value_r": street, "level": "exact", "weight": 31.7},
    ]
    return {"rid_l": left, "rid_r": right, "linked": True, "method": "deterministic", "rule": "phone_family",
            "same_entity": True, "score": 66.39, "probability": 1.0, "threshold": 0.9, "veto": [],
            "fields": fields}


def make_finding(i: int, version: int = 0) -> Any:
    """The i-th synthetic finding; another ``version`` changes its story and detail, not its fingerprint."""
    from reconcile.findings import Finding, RecordRef, Severity

    rng = random.Random(i)
    kind, owner, severity = KINDS[i % len(KINDS)]
    account, line, sub = f"AC-{i:07d}", f"SL{i:08d}", f"SUB-{i:08d}"
    street = f"{rng.randrange(1, 99999)} {rng.choice(STREETS)}"
    city, postal = rng.choice(CITIES)
    name = rng.choice(NAMES)
    subject = RecordRef(source="billing", record_type="account", key=account, role="account",
                        fields={"account_id": account, "name": name, "status": "active"})
    records = [
        subject,
        RecordRef(source="inventory", record_type="service_line", key=line, role="line",
                  fields={"line_id": line, "product": "monitoring", "status": "active",
                          "activated_at": "2023-11-06", "deactivated_at": None, "device_id": f"HUB-{i:08X}",
                          "street": street, "unit": None, "city": city, "postal_code": postal}),
        RecordRef(source="billing", record_type="subscription", key=sub, role="subscription",
                  fields={"subscription_id": sub, "account_id": account, "product": "monitoring",
                          "status": "active", "start_date": "2023-11-04", "end_date": None,
                          "monthly_amount": 25.0 + i % 7}),
        RecordRef(source="crm", record_type="contact", key=f"C-{i:07d}", role="contact",
                  fields={"contact_id": f"C-{i:07d}", "name": name.title(), "email": f"c{i}@example.com"}),
    ]
    days = 6 + version
    detail = {
        "line": line, "address": f"{street}, {city}, {postal}", "offline_hours": 24 * days,
        "offline_for": f"{days} days", "subscription": sub, "account": account, "last_alert": None,
        "match": {"records": [records[1].rid, subject.rid, records[3].rid],
                  "links": [_link(rng, subject.rid, records[1].rid), _link(rng, subject.rid, records[3].rid)],
                  "omitted": 0},
    }
    story = (f"Line {line} at {street}, {city}, {postal} has sent nothing for {days} days, although "
             f"subscription {sub} on account {account} ({name}) pays for monitoring: alert the customer.")
    return Finding(rule_id=kind, kind=kind, severity=Severity(severity), owner=owner,
                   entity_id=f"E{i:011x}", subject=subject, records=records, story=story,
                   confidence=0.9 + (i % 10) / 100, detail=detail)


def nights(n: int, churn: float) -> Iterator[list[Any]]:
    """Three nights of findings: all new; churn changed, churn/2 gone and churn/2 new; again."""
    step = max(int(1 / churn), 2) if churn > 0 else 0
    ids = list(range(n))
    versions: dict[int, int] = {}
    following = n
    yield [make_finding(i) for i in ids]
    for night in (2, 3):
        if step:
            gone = set(ids[night :: 2 * step])
            ids = [i for i in ids if i not in gone] + list(range(following, following + len(gone)))
            following += len(gone)
            for i in ids[::step]:
                versions[i] = versions.get(i, 0) + 1
        yield [make_finding(i, versions.get(i, 0)) for i in ids]


def _peak_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def _store_size(url: str, engine: Any) -> int:
    import sqlalchemy as sa

    if url.startswith("sqlite"):
        return Path(url.removeprefix("sqlite:///")).stat().st_size
    with engine.connect() as conn:
        if url.startswith("postgresql"):
            return int(conn.execute(sa.text(
                "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n "
                "ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'")).scalar() or 0)
        return int(conn.execute(sa.text(
            "SELECT sum(data_length + index_length) FROM information_schema.tables "
            "WHERE table_schema = DATABASE()")).scalar() or 0)


def _child(url: str, n: int, churn: float, reports: bool, profile: Path | None) -> dict[str, Any]:
    from reconcile.results import SourceHealth
    from reconcile.store import Store

    out: dict[str, Any] = {"backend": url.split(":")[0].split("+")[0], "findings": n}
    health = [SourceHealth(source=s, rows_read=n, rows_used=n) for s in ("billing", "inventory", "crm")]
    as_of = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)
    profiler = None
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
    with Store(url) as store:
        for night, found in enumerate(nights(n, churn), start=1):
            run_id = store.begin_run(as_of + dt.timedelta(days=night - 1), config_digest="bench")
            started, cpu = time.perf_counter(), time.process_time()
            if profiler is not None:
                profiler.enable()
            seen, resolved = store.finish_run(run_id, findings=found, health=health)
            if profiler is not None:
                profiler.disable()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            counts = store.run(run_id).counts
            out[f"night{night}"] = {
                "persist_s": round(seconds, 2), "cpu_s": round(cpu, 2), "findings": len(seen), "resolved": len(resolved),
                "new": counts.get("new"), "open": counts.get("open"), "peak_mib": _peak_mib(),
                "store_mib": round(_store_size(url, store.engine) / 2**20, 1),
            }
            del seen, resolved, found
        started, cpu = time.perf_counter(), time.process_time()
        result = store.run_result(run_id)
        out["run_result_s"] = round(time.perf_counter() - started, 2)
        out["run_result_cpu_s"] = round(time.process_time() - cpu, 2)
        out["run_result_peak_mib"] = _peak_mib()
        if reports:
            from reconcile.report import write_reports

            with tempfile.TemporaryDirectory() as folder:
                out["reports"] = {}
                for fmt in ("json", "csv", "html"):
                    started, cpu = time.perf_counter(), time.process_time()
                    if profiler is not None:
                        profiler.enable()
                    stories = store.stories_for(result) if fmt == "html" else ()
                    paths = write_reports(result, folder, formats=[fmt], stories=stories)
                    if profiler is not None:
                        profiler.disable()
                    out["reports"][fmt] = {
                        "seconds": round(time.perf_counter() - started, 2),
                        "cpu_s": round(time.process_time() - cpu, 2),
                        "mib": round(paths[fmt].stat().st_size / 2**20, 1), "peak_mib": _peak_mib(),
                    }
    if profiler is not None and profile is not None:
        profiler.dump_stats(str(profile))
    return out


def _database(backend: str, base: str) -> tuple[str, Any]:
    """A fresh database on a server: its URL and a function that drops it."""
    import sqlalchemy as sa

    name = f"reconcile_bench_store_{os.getpid()}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    quote = '"' if backend == "postgresql" else "`"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        conn.execute(sa.text(f"CREATE DATABASE {quote}{name}{quote}"))
    url = sa.make_url(base).set(database=name).render_as_string(hide_password=False)

    def drop() -> None:
        with admin.connect() as conn:
            if backend == "postgresql":
                conn.execute(sa.text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                     f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"))
            conn.execute(sa.text(f"DROP DATABASE IF EXISTS {quote}{name}{quote}"))
        admin.dispose()

    return url, drop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=150_000)
    parser.add_argument("--churn", type=float, default=0.01, help="share of findings changed each night")
    parser.add_argument("--backends", nargs="+", default=["sqlite"], choices=["sqlite", "postgresql", "mariadb"])
    parser.add_argument("--postgresql", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--mariadb", default="mysql+pymysql://root@127.0.0.1:3306/test")
    parser.add_argument("--reports", action="store_true", help="also write the JSON, CSV and HTML reports")
    parser.add_argument("--profile", type=Path, help="write cProfile stats of finish_run (and reports) here")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.findings, args.churn, args.reports, args.profile)))
        return 0
    results = []
    for backend in args.backends:
        drop = None
        with tempfile.TemporaryDirectory() as folder:
            if backend == "sqlite":
                url = f"sqlite:///{folder}/store.db"
            else:
                url, drop = _database(backend, getattr(args, backend))
            try:
                command = [sys.executable, __file__, "--child", url, "--findings", str(args.findings),
                           "--churn", str(args.churn)]
                if args.reports:
                    command.append("--reports")
                if args.profile:
                    command += ["--profile", str(args.profile).replace("BACKEND", backend)]
                child = subprocess.run(command, check=True, capture_output=True, text=True)
            finally:
                if drop is not None:
                    drop()
        figures = json.loads(child.stdout.strip().splitlines()[-1])
        results.append(figures)
        line = ", ".join(
            f"night {k[-1]} {v['persist_s']:.1f} s (cpu {v['cpu_s']:.1f} s; {v['new']:,} new, {v['open']:,} open, "
            f"{v['resolved']:,} resolved; store {v['store_mib']:,.0f} MiB)"
            for k, v in figures.items() if k.startswith("night")
        )
        print(f"{backend:>10} {args.findings:,} findings: persist {line}; run_result {figures['run_result_s']:.1f} s "
              f"(cpu {figures['run_result_cpu_s']:.1f} s); "
              f"peak {figures['run_result_peak_mib']:,.0f} MiB", flush=True)
        for fmt, rep in figures.get("reports", {}).items():
            print(f"{'':>10} report {fmt}: {rep['seconds']:.1f} s (cpu {rep['cpu_s']:.1f} s), {rep['mib']:,.1f} MiB, "
                  f"peak {rep['peak_mib']:,.0f} MiB", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n",
                             encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
