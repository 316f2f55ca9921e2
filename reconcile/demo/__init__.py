"""The demo company: a world of customers seen by systems that disagree.

Three calls make the demo (``reconcile demo`` runs them with a run between)::

    from reconcile.demo import generate, score, write_config

    world = generate("reconcile-demo", size=1000, seed=7)   # the systems + truth/
    config = write_config("reconcile-demo", world)          # reconcile.yaml
    result = reconcile.run(config)
    print(score(result.findings, world.truth_dir).table())

:func:`generate` writes billing, inventory and dealer databases (SQLite),
head-office recall notices, telemetry and alerts (CSV) and CRM exports (JSON
Lines) for ``size`` customers, with every discrepancy kind injected and the
near misses that must not be reported, and the ground truth beside them.
:func:`write_config` writes the commented configuration that wires them, and
:func:`score` compares a run's findings with the truth.
"""

from __future__ import annotations

from reconcile.demo._config import write_config
from reconcile.demo._generate import DEFAULT_AS_OF, KINDS, NEAR_MISSES, DemoWorld, generate
from reconcile.demo._nights import NightChanges, change, track_changes
from reconcile.demo._score import KindScore, Score, TruthItem, read_truth, score

__all__ = [
    "DEFAULT_AS_OF",
    "KINDS",
    "NEAR_MISSES",
    "DemoWorld",
    "KindScore",
    "NightChanges",
    "Score",
    "TruthItem",
    "change",
    "generate",
    "read_truth",
    "score",
    "track_changes",
    "write_config",
]
