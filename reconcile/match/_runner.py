"""Where :func:`~reconcile.match.resolve` finds candidate pairs and compares pairs.

``resolve`` hands two jobs to a *pair runner*:

- :meth:`PairRunner.candidates`: the distinct candidate pairs of every
  deterministic rule and blocking pass (a :class:`CandidatePlan`), sorted by
  ``(left, right)``, with every comparison's level for each;
- :meth:`PairRunner.compare`: the levels of any other pairs (the random
  pairs that estimate ``u``).

Everything else (the model, scores, clustering, explanations) stays in
``resolve``. :class:`LocalRunner` does both jobs in this process; the Dask
engine (``reconcile.engine._dask``) spreads them over workers, partitioned by
blocking key, and must return exactly the same arrays. :func:`using_runner`
sets the runner for the ``resolve`` calls inside a ``with`` block (the
pipeline's ``match_entities`` does not know about engines).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from reconcile.match._blocking import block_pairs, sorted_neighbourhood_pairs, union_pairs
from reconcile.match._compare import Comparator

__all__ = [
    "BlockPart",
    "CandidatePlan",
    "Candidates",
    "LocalRunner",
    "NeighbourhoodPart",
    "PairRunner",
    "compare_pairs",
    "current_runner",
    "log_skipped",
    "using_runner",
]

log = logging.getLogger("reconcile.match")


@dataclass(frozen=True)
class BlockPart:
    """A deterministic rule or a blocking pass: every pair of records with the same code.

    Attributes:
        name: The rule's or pass's name in the configuration.
        kind: ``rule`` (a deterministic rule) or ``pass`` (a blocking pass).
        codes: One integer per record; -1: no key (never paired).
        max_size: Codes held by more records than this pair nothing.
    """

    name: str
    kind: Literal["rule", "pass"]
    codes: np.ndarray
    max_size: int | None

    def usable(self) -> np.ndarray:
        """Per record: whether it is paired by this part at all (has a key, its block is not skipped)."""
        codes = self.codes
        usable = codes >= 0
        if self.max_size is not None and usable.any():
            sizes = np.bincount(codes[usable])
            usable &= sizes[np.maximum(codes, 0)] <= self.max_size
        return np.asarray(usable, dtype=bool)


@dataclass(frozen=True)
class NeighbourhoodPart:
    """A sorted neighbourhood pass over string keys (None: no key)."""

    name: str
    keys: np.ndarray
    window: int
    kind: Literal["pass"] = "pass"


@dataclass
class CandidatePlan:
    """What a runner needs to find and compare the candidate pairs.

    Attributes:
        n: Number of records (numbered 0..n-1 in ``_rid`` order).
        parts: The deterministic rules, then the blocking passes, in configuration order.
        groups: A source number per record when records of one source never
            pair (``link_within_source: false``), else None.
        comparators: The prepared comparisons.
    """

    n: int
    parts: Sequence[BlockPart | NeighbourhoodPart]
    groups: np.ndarray | None
    comparators: Sequence[Comparator]


@dataclass
class Candidates:
    """The candidate pairs and their levels.

    Attributes:
        left, right: The distinct pairs (``left < right``), sorted by ``(left, right)``.
        levels: Pairs x comparisons, int8 (-1 where a value is missing).
        pairs: Per part (in plan order): its pairs, before the source filter
            for a rule and after it for a pass (as ``resolve``'s stats count them).
        seconds: Time spent finding the pairs (``candidates``) and comparing them (``compare``).
    """

    left: np.ndarray
    right: np.ndarray
    levels: np.ndarray
    pairs: list[int]
    seconds: dict[str, float] = field(default_factory=dict)


class PairRunner(Protocol):
    """Finds and compares pairs for :func:`~reconcile.match.resolve`."""

    def candidates(self, plan: CandidatePlan) -> Candidates: ...

    def compare(self, comparators: Sequence[Comparator], left: np.ndarray, right: np.ndarray) -> np.ndarray: ...


def compare_pairs(comparators: Sequence[Comparator], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Pairs x comparisons: the level of every comparison for the pairs ``(left[k], right[k])``."""
    if comparators:
        return np.stack([c.compare(left, right) for c in comparators], axis=1)
    return np.zeros((len(left), 0), dtype=np.int8)


def across(groups: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs whose records are in different groups (sources)."""
    keep = groups[left] != groups[right]
    return left[keep], right[keep]


def log_skipped(part: BlockPart, skipped: int) -> None:
    """Say that a part skipped blocks larger than its limit."""
    if not skipped:
        return
    if part.kind == "rule":
        log.info("deterministic rule %r ignored %d key value(s) shared by more than %d records",
                 part.name, skipped, part.max_size)
    else:
        log.warning(
            "blocking pass %r skipped %d block(s) larger than max_block_size=%s "
            "(placeholder or very common key values)", part.name, skipped, part.max_size,
        )


class LocalRunner:
    """Pairs found and compared in this process, on whole arrays."""

    def candidates(self, plan: CandidatePlan) -> Candidates:
        started = time.perf_counter()
        parts: list[tuple[np.ndarray, np.ndarray]] = []
        counts: list[int] = []
        for part in plan.parts:
            if isinstance(part, BlockPart):
                left, right, skipped = block_pairs(part.codes, part.max_size)
                log_skipped(part, skipped)
                if part.kind == "rule":
                    counts.append(len(left))  # a rule's pairs are counted before the source filter
            else:
                left, right = sorted_neighbourhood_pairs(part.keys, part.window)
            if plan.groups is not None:
                left, right = across(plan.groups, left, right)
            if part.kind == "pass":
                counts.append(len(left))
            parts.append((left, right))
        left, right = union_pairs(plan.n, parts)
        del parts
        found = time.perf_counter()
        levels = self.compare(plan.comparators, left, right)
        seconds = {"candidates": found - started, "compare": time.perf_counter() - found}
        return Candidates(left=left, right=right, levels=levels, pairs=counts, seconds=seconds)

    def compare(self, comparators: Sequence[Comparator], left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return compare_pairs(comparators, left, right)


_RUNNER: ContextVar[PairRunner | None] = ContextVar("reconcile_pair_runner", default=None)


def current_runner() -> PairRunner:
    """The runner set by :func:`using_runner`, else a :class:`LocalRunner`."""
    runner = _RUNNER.get()
    return runner if runner is not None else LocalRunner()


@contextmanager
def using_runner(runner: PairRunner) -> Iterator[PairRunner]:
    """Make ``resolve`` use ``runner`` inside the ``with`` block (unless it is given one)."""
    token = _RUNNER.set(runner)
    try:
        yield runner
    finally:
        _RUNNER.reset(token)
