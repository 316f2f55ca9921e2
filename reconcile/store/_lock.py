"""The run lock: one run at a time per store, held in the store itself.

A lock in the database (not a file next to the job) works wherever the store
is shared: two cron hosts, a cron job and a person running by hand. The
holder refreshes a heartbeat while it runs; a lock whose heartbeat is older
than the store's ``lock_timeout``, or whose process is gone from this very
host, was left by a run that was killed, and the next run takes it over.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from reconcile.errors import StoreError

__all__ = ["LockInfo", "StoreLockedError", "boot_id", "host_name", "process_gone"]


@cache
def host_name() -> str:
    """This machine's name, as the lock records it."""
    return socket.gethostname()[:255] or "unknown-host"


@cache
def boot_id() -> str:
    """An id of this boot of this machine ('' where the system has none).

    With the host name it tells a process id of this machine since its last
    boot from one of another machine (or of before a reboot).
    """
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:64]
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, it is someone else's
        return True
    except OSError:
        return True
    return True


class LockInfo(BaseModel):
    """Who holds a store's run lock.

    Attributes:
        run_id: The run holding it.
        holder: A random id of the holding process's store object.
        host: The machine it runs on.
        pid: Its process id there.
        boot_id: The boot of that machine ('' where unknown).
        acquired_at: When it took the lock (UTC).
        heartbeat_at: When it last said it was alive (UTC).
    """

    model_config = ConfigDict(frozen=True)

    run_id: int
    holder: str
    host: str
    pid: int
    boot_id: str = ""
    acquired_at: dt.datetime
    heartbeat_at: dt.datetime

    def describe(self, now: dt.datetime | None = None) -> str:
        """The holder in words: run, process, host, and how fresh its heartbeat is."""
        now = now or dt.datetime.now(dt.UTC)
        quiet = max((now - self.heartbeat_at).total_seconds(), 0.0)
        return (
            f"run {self.run_id} (pid {self.pid} on host {self.host}, since "
            f"{self.acquired_at.strftime('%Y-%m-%d %H:%M:%S')} UTC, last heartbeat {_ago(quiet)})"
        )


def process_gone(lock: LockInfo) -> bool:
    """True only when the holder ran on this machine, since this boot, and its process is gone.

    A lock from another machine can only go stale by its timeout.
    """
    this_boot = boot_id()
    if lock.host != host_name() or not this_boot or lock.boot_id != this_boot:
        return False
    return not _alive(lock.pid)


def _ago(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s ago"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min ago"
    return f"{seconds / 3600:.1f} h ago"


def _words(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    if seconds % 3600 == 0 and seconds >= 3600:
        hours = int(seconds // 3600)
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds % 60 == 0 and seconds >= 60:
        minutes = int(seconds // 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} seconds"


class StoreLockedError(StoreError):
    """Another run holds the store's run lock (``reconcile run`` exits with 4).

    Attributes:
        holder: Who holds it.
        timeout: After how long without a heartbeat the lock is taken over.
    """

    def __init__(self, store_url: str, holder: LockInfo, timeout: dt.timedelta):
        self.holder = holder
        self.timeout = timeout
        super().__init__(
            f"another run holds the lock of the store {store_url}: {holder.describe()}. "
            f"Wait for it to finish. If it was killed, the next run takes the lock over once "
            f"its heartbeat is older than {_words(timeout)} (store.lock_timeout), or at once "
            f"on the same host when its process is gone; to release it by hand: "
            f"reconcile db unlock -c reconcile.yaml"
        )
