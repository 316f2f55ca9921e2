"""One run at a time per store: the run lock, its heartbeat, and taking over a dead run's lock."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from store_factories import finding, healthy, night, record_night, unhealthy

from reconcile.errors import StoreError
from reconcile.store import RunStatus, Store, StoreConfig, StoreLockedError
from reconcile.store import _schema as s
from reconcile.store._lock import boot_id, host_name


def _age_heartbeat(store: Store, by: dt.timedelta) -> None:
    with store.engine.begin() as conn:
        row = conn.execute(sa.select(s.run_lock.c.heartbeat_at)).scalar_one()
        conn.execute(s.run_lock.update().values(heartbeat_at=row - by))


def test_a_second_run_is_refused_with_the_holder_named(db_url: str) -> None:
    with Store(db_url) as first, Store(db_url) as second:
        run_id = first.begin_run(night(1))
        with pytest.raises(StoreLockedError) as locked:
            second.begin_run(night(1))
        message = str(locked.value)
        assert f"another run holds the lock of the store {second.url}: run {run_id} (pid {os.getpid()} " in message
        assert f"on host {host_name()}" in message
        assert "older than 2 hours (store.lock_timeout)" in message and "reconcile db unlock" in message
        assert isinstance(locked.value, StoreError)
        holder = locked.value.holder
        assert (holder.run_id, holder.pid, holder.host) == (run_id, os.getpid(), host_name())
        assert second.lock_holder() == holder
        # The refused run left nothing behind: no run row, the lock unchanged.
        assert [r.id for r in second.runs()] == [run_id]
        first.finish_run(run_id, findings=[finding("AC-1")], health=healthy())
        assert first.lock_holder() is None
        again = second.begin_run(night(2))
        assert second.lock_holder().run_id == again  # type: ignore[union-attr]
        second.fail_run(again, "a source is down")
        assert second.lock_holder() is None


def test_a_stale_lock_is_taken_over_and_its_run_marked_failed(db_url: str) -> None:
    with Store(db_url) as killed:
        dead = killed.begin_run(night(1))
    # close() stopped its heartbeat, as a SIGKILL would; two hours and a minute pass.
    with Store(db_url) as store:
        _age_heartbeat(store, dt.timedelta(hours=2, minutes=1))
        run_id = store.begin_run(night(2))
        assert store.lock_holder().run_id == run_id  # type: ignore[union-attr]
        abandoned = store.run(dead)
        assert abandoned.status == RunStatus.failed
        assert abandoned.error is not None
        assert abandoned.error.startswith(f"abandoned: the run stopped without finishing (run {dead} (pid ")
        assert "heartbeat is older than the lock timeout (2:00:00)" in abandoned.error
        store.finish_run(run_id, findings=[finding("AC-1")], health=healthy())
        # The killed run cannot commit after all: it lost its lock (and is failed).
        with pytest.raises(StoreError, match=f"run {dead} is failed"):
            store.finish_run(dead, findings=[finding("AC-2")], health=healthy())
        assert store.finding(finding("AC-2").fingerprint) is None


def test_a_lock_younger_than_the_timeout_is_not_taken_over(db_url: str) -> None:
    with Store(db_url) as holder, Store(db_url, lock_timeout=dt.timedelta(hours=3)) as other:
        holder.begin_run(night(1))
        _age_heartbeat(other, dt.timedelta(hours=2, minutes=30))
        with pytest.raises(StoreLockedError, match="older than 3 hours"):
            other.begin_run(night(1))


def test_a_run_that_lost_its_lock_cannot_commit(db_url: str) -> None:
    with Store(db_url) as slow, Store(db_url) as store:
        run_id = slow.begin_run(night(1))
        slow._stop_heartbeat(run_id)  # a stage that hung for longer than the timeout
        with store.engine.begin() as conn:  # someone released it by hand meanwhile
            conn.execute(s.run_lock.delete())
        with pytest.raises(StoreError, match=f"run {run_id} no longer holds the store's run lock.*nothing was written"):
            slow.finish_run(run_id, findings=[finding("AC-1")], health=healthy())
        assert store.open_findings() == []
        with pytest.raises(StoreError, match="does not hold the run lock"):
            slow.heartbeat(run_id)


def test_the_lock_of_a_dead_process_on_this_host_is_taken_over_at_once(db_url: str) -> None:
    if not boot_id():
        pytest.skip("this system has no boot id (/proc/sys/kernel/random/boot_id)")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with Store(db_url) as killed:
        dead = killed.begin_run(night(1))
    with Store(db_url) as store:
        with store.engine.begin() as conn:
            conn.execute(s.run_lock.update().values(pid=gone.pid))
        run_id = store.begin_run(night(2))
        assert store.run(dead).status == RunStatus.failed
        assert f"its process {gone.pid} is gone from this host" in (store.run(dead).error or "")
        store.fail_run(run_id, "stop")


def test_a_dead_pid_on_another_host_waits_for_the_timeout(db_url: str) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    with Store(db_url) as killed, Store(db_url) as store:
        killed.begin_run(night(1))
        killed.close()
        with store.engine.begin() as conn:
            conn.execute(s.run_lock.update().values(pid=gone.pid, host="cron-2.example"))
        with pytest.raises(StoreLockedError, match="on host cron-2.example"):
            store.begin_run(night(2))


def test_the_heartbeat_keeps_a_long_run_alive(db_url: str) -> None:
    timeout = dt.timedelta(seconds=1.2)  # a beat every 0.3 s
    with Store(db_url, lock_timeout=timeout) as running, Store(db_url, lock_timeout=timeout) as other:
        run_id = running.begin_run(night(1))
        first = running.lock_holder()
        time.sleep(2.0)  # longer than the timeout: only the heartbeat keeps the lock
        beat = running.lock_holder()
        assert beat is not None and first is not None
        assert beat.heartbeat_at > first.heartbeat_at and beat.acquired_at == first.acquired_at
        with pytest.raises(StoreLockedError):
            other.begin_run(night(1))
        running.finish_run(run_id, findings=[], health=healthy())
        assert running.lock_holder() is None


def test_runs_racing_for_the_lock_get_it_one_at_a_time(db_url: str) -> None:
    stores = [Store(db_url) for _ in range(4)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[object] = []

    def attempt(store: Store) -> None:
        barrier.wait()
        try:
            outcomes.append(store.begin_run(night(1)))
        except StoreLockedError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(st,)) for st in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [o for o in outcomes if isinstance(o, int)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, StoreLockedError) and o.holder.run_id == winners[0] for o in outcomes if o not in winners)
    for store in stores:
        store.close()


def test_releasing_by_hand_fails_the_holder(db_url: str) -> None:
    with Store(db_url) as store:
        assert store.release_lock() is None
        run_id = store.begin_run(night(1))
        released = store.release_lock()
        assert released is not None and released.run_id == run_id
        assert store.lock_holder() is None
        assert "released by hand" in (store.run(run_id).error or "")
        record_night(store, 2, [finding("AC-1")])


def test_a_failed_run_gives_the_lock_back(db_url: str) -> None:
    with Store(db_url) as store:
        record_night(store, 1, [finding("AC-1")])
        run_id = store.begin_run(night(2))
        store.fail_run(run_id, "billing is down", health=unhealthy("billing", "crm"))
        assert store.lock_holder() is None


def test_lock_timeout_in_the_configuration() -> None:
    assert StoreConfig().lock_timeout == dt.timedelta(hours=2)
    assert StoreConfig.model_validate({"lock_timeout": "30 minutes"}).lock_timeout == dt.timedelta(minutes=30)
    assert StoreConfig.model_validate({"lock_timeout": "1 hour 30 minutes"}).lock_timeout == dt.timedelta(minutes=90)
    assert StoreConfig.model_validate({"lock_timeout": 45}).lock_timeout == dt.timedelta(seconds=45)
    with pytest.raises(ValidationError, match="must be longer than zero"):
        StoreConfig.model_validate({"lock_timeout": "0 seconds"})
    with pytest.raises(ValidationError, match="lock_timeout"):
        StoreConfig.model_validate({"lock_timeout": "soon"})
    store = Store.from_config(StoreConfig(url="sqlite://", lock_timeout="5 minutes"))  # type: ignore[arg-type]
    assert store.lock_timeout == dt.timedelta(minutes=5)
