"""A real `reconcile run` killed with SIGKILL at several points leaves a consistent store,
and the next run gives the same findings as a clean run; an overlapping run exits with 4.

The demo world (300 customers) is read with one incremental stream (CRM cases,
by their creation time), so cursors and snapshots are part of what must stay
consistent. The run is paused at a named point (``RECONCILE_PAUSE_AT``, see
``reconcile/_pause.py``) and killed there.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml

from reconcile.cli import ExitCode
from reconcile.pipeline import run
from reconcile.store import Store

RUN = [sys.executable, "-m", "reconcile.cli", "run", "-q", "--no-reports"]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "RECONCILE_PAUSE_AT"}
    env.update(extra)
    return env


def _reconcile(directory: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RUN, "-c", str(directory / "reconcile.yaml"), *args], capture_output=True,
                          text=True, env=_env(**env), timeout=120, check=False)


@pytest.fixture(scope="module")
def night_one(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo world with one committed run in its store (CRM cases read incrementally)."""
    directory = tmp_path_factory.mktemp("world")
    subprocess.run([sys.executable, "-m", "reconcile.demo", "--size", "300", "--dir", str(directory)],
                   check=True, capture_output=True, timeout=120)
    config = directory / "reconcile.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["sources"]["crm"]["streams"] = {"case": {"cursor": {"column": "CreatedDate"}}}
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    first = _reconcile(directory)
    assert first.returncode == ExitCode.FINDINGS, first.stderr
    return directory


def _copy(night_one: Path, tmp_path: Path, name: str) -> Path:
    target = tmp_path / name
    shutil.copytree(night_one, target)
    return target


def _findings(store: Store, run_id: int) -> dict[str, tuple[Any, ...]]:
    result = store.run_result(run_id)
    return {f.fingerprint: (f.status, f.first_seen, f.story) for f in result.findings}


def _state(store: Store) -> tuple[Any, ...]:
    snapshot = store.snapshot("crm", "case")
    return store.cursors(), snapshot


@pytest.fixture(scope="module")
def clean(night_one: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What a second and a third run give when nothing goes wrong."""
    directory = _copy(night_one, tmp_path_factory.mktemp("clean"), "w")
    second = run(directory / "reconcile.yaml", write_reports=False)
    third = run(directory / "reconcile.yaml", write_reports=False)
    with Store(f"sqlite:///{directory / 'reconcile.db'}") as store:
        return {"second": _findings(store, second.run_id), "third": _findings(store, third.run_id),  # type: ignore[arg-type]
                "state": _state(store)}


def _rows(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the run's own row and the lock."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {t: sorted(conn.execute(f'SELECT * FROM "{t}"').fetchall(), key=repr)
                for t in tables if t not in ("runs", "run_lock", "sqlite_sequence")}


def _integrity(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []


def _start_paused(directory: Path, point: str) -> tuple[subprocess.Popen[str], list[str]]:
    """Start a run that stops at ``point``; return once it has printed that it paused there."""
    process = subprocess.Popen([*RUN, "-c", str(directory / "reconcile.yaml")], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env=_env(RECONCILE_PAUSE_AT=point))
    lines: list[str] = []
    seen: queue.Queue[str] = queue.Queue()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            seen.put(line)

    threading.Thread(target=read, daemon=True).start()
    while True:
        try:
            line = seen.get(timeout=90)
        except queue.Empty:
            process.kill()
            pytest.fail(f"the run never paused at {point}: {''.join(lines)}")
        if f"paused at {point}" in line:
            return process, lines
        if process.poll() is not None and seen.empty():
            pytest.fail(f"the run ended ({process.returncode}) before pausing at {point}: {''.join(lines)}")


@pytest.mark.parametrize("point", ["run:begun", "run:extracted", "store:commit", "run:committed"])
def test_a_run_killed_at_any_point_leaves_a_consistent_store(
    point: str, night_one: Path, clean: dict[str, Any], tmp_path: Path
) -> None:
    directory = _copy(night_one, tmp_path, "w")
    db = directory / "reconcile.db"
    before = _rows(db)

    process, _ = _start_paused(directory, point)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL

    _integrity(db)
    committed = point == "run:committed"
    with Store(f"sqlite:///{db}") as store:
        killed = store.runs()[-1]
        assert killed.id == 2
        if committed:
            # Killed after its commit (while writing reports): the run is whole, the lock given back.
            assert killed.status == "succeeded" and store.lock_holder() is None
        else:
            # Killed before or inside its commit: nothing but its own row and its lock.
            assert killed.status == "running" and killed.finished_at is None
            assert _rows(db) == before
            holder = store.lock_holder()
            assert holder is not None and holder.run_id == 2 and holder.pid == process.pid

    after = _reconcile(directory)
    assert after.returncode == ExitCode.FINDINGS, after.stderr
    _integrity(db)
    with Store(f"sqlite:///{db}") as store:
        runs = store.runs()
        assert [r.id for r in runs] == [1, 2, 3]
        assert runs[-1].status == "succeeded" and store.lock_holder() is None
        if not committed:
            assert runs[1].status == "failed"
            assert (runs[1].error or "").startswith("abandoned: the run stopped without finishing")
            assert f"its process {process.pid} is gone from this host" in (runs[1].error or "")
        expected = clean["third"] if committed else clean["second"]
        assert _findings(store, 3) == expected
        assert _state(store) == clean["state"]


def test_an_overlapping_run_exits_with_4_naming_the_holder(night_one: Path, tmp_path: Path) -> None:
    directory = _copy(night_one, tmp_path, "w")
    process, _ = _start_paused(directory, "run:begun")
    try:
        second = _reconcile(directory)
        assert second.returncode == ExitCode.LOCKED, second.stderr
        message = " ".join(second.stderr.split())
        assert f"another run holds the lock of the store sqlite:///{directory / 'reconcile.db'}: run 2 " in message
        assert f"(pid {process.pid} on host " in message
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    with Store(f"sqlite:///{directory / 'reconcile.db'}") as store:
        assert [r.id for r in store.runs()] == [1, 2]  # the refused run left no trace
