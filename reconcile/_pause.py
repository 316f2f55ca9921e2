"""Named points where a run can be made to stop and wait, for the crash tests.

``RECONCILE_PAUSE_AT=store:commit reconcile run ...`` makes the run print
``reconcile: paused at store:commit`` (with its pid) to stderr and sleep
there, so a test can kill it with SIGKILL at a known point: after the lock
is taken (``run:begun``), after extraction (``run:extracted``), after the
rules (``run:evaluated``), inside the store's commit transaction with every
row written but not committed (``store:commit``), and after the commit,
before the reports (``run:committed``). Unset, a pause point costs one
environment lookup.
"""

from __future__ import annotations

import os
import sys
import time

__all__ = ["ENV", "pause_point"]

ENV = "RECONCILE_PAUSE_AT"


def pause_point(name: str) -> None:
    """Sleep here (for an hour) when ``RECONCILE_PAUSE_AT`` names this point."""
    if os.environ.get(ENV) != name:
        return
    print(f"reconcile: paused at {name} (pid {os.getpid()})", file=sys.stderr, flush=True)
    time.sleep(3600)
