"""Where :func:`~reconcile.match.resolve` finds candidate pairs and compares pairs.

``resolve`` hands two jobs to a *pair runner*:

- :meth:`PairRunner.candidates`: the distinct candidate pairs of every
  deterministic rule and blocking pass (a :class:`CandidatePlan`), with every
  comparison's level for each (:class:`Candidates`: whole arrays sorted by
  ``(left, right)``, or pieces in no particular order);
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
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from reconcile.match._blocking import block_chunks, sorted_neighbourhood_pairs, union_pairs
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
        owners: :func:`owner_codes` of each block part (in plan order), when
            computed already (``resolve`` keeps them to explain pairs): a
            runner need not compute them again.
    """

    n: int
    parts: Sequence[BlockPart | NeighbourhoodPart]
    groups: np.ndarray | None
    comparators: Sequence[Comparator]
    owners: Sequence[np.ndarray] | None = None


#: Largest number of possible level patterns (the product of each comparison's levels + 1) for which
#: :class:`LevelPatterns` keeps a table from pattern to number (int32 each: 16 MiB at most).
MAX_PATTERN_TABLE = 1 << 22


class LevelPatterns:
    """The distinct rows of levels seen so far (patterns), numbered as they come.

    A candidate pair is then kept as its pattern's number (2 bytes while there
    are at most 65,536 patterns, else 4) instead of one level per comparison:
    pairs fall into a few hundred patterns. Only when the number of possible
    patterns is small enough for a table from pattern to number
    (``MAX_PATTERN_TABLE``); :meth:`usable` says whether it is.
    """

    def __init__(self, sizes: Sequence[int]):
        self.sizes = [int(size) for size in sizes]
        possible = 1
        for size in self.sizes:
            possible *= size + 1
        self._numbers = np.full(possible, -1, dtype=np.int32) if possible <= MAX_PATTERN_TABLE else None
        self._rows: list[np.ndarray] = []
        self._count = 0

    @property
    def usable(self) -> bool:
        return self._numbers is not None

    def _codes(self, columns: Sequence[np.ndarray]) -> np.ndarray:
        code = np.zeros(len(columns[0]) if len(columns) else 0, dtype=np.int32)  # below MAX_PATTERN_TABLE
        for column, size in zip(columns, self.sizes, strict=True):
            code *= np.int32(size + 1)
            code += column
            code += 1
        return code

    def encode(self, levels: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
        """Each row's pattern number (new patterns numbered as they come).

        ``levels``: pairs x comparisons, or each comparison's levels (as
        :meth:`Comparator.compare` gives them: not stacked into one matrix).
        """
        assert self._numbers is not None
        columns = [levels[:, f] for f in range(levels.shape[1])] if isinstance(levels, np.ndarray) else list(levels)
        code = self._codes(columns)
        numbers = self._numbers[code]
        new = numbers < 0
        if new.any():
            fresh, first = np.unique(code[new], return_index=True)
            self._numbers[fresh] = np.arange(self._count, self._count + len(fresh), dtype=np.int32)
            rows = np.flatnonzero(new)[first]
            self._rows.append(np.stack([np.asarray(column[rows], dtype=np.int8) for column in columns], axis=1)
                              .reshape(len(rows), len(columns)))
            self._count += len(fresh)
            numbers = self._numbers[code]
        return numbers.astype(np.uint16 if self._count <= 1 << 16 else np.int32)

    @property
    def table(self) -> np.ndarray:
        """Pattern number -> its levels (patterns x comparisons, int8)."""
        if not self._rows:
            return np.zeros((0, len(self.sizes)), dtype=np.int8)
        if len(self._rows) > 1:
            self._rows = [np.concatenate(self._rows)]
        return self._rows[0]


class Candidates:
    """The candidate pairs and their levels.

    A runner gives them either as whole arrays (``left``, ``right``,
    ``levels``: the Dask engine) or as ``pieces``, each ``(left, right,
    levels)``, in any order (:class:`LocalRunner`: no array of every pair is
    built). Either way every distinct pair (``left < right``) is there once.
    ``resolve`` reads them a piece at a time (:meth:`pop_chunks`); nothing it
    decides depends on the order of the pairs.

    A piece's levels may also be given as pattern numbers (one per pair) into
    ``patterns`` (pattern number -> levels, see :class:`LevelPatterns`);
    :meth:`chunks` gives them back as levels.

    Attributes:
        left, right: The distinct pairs, sorted by ``(left, right)`` (built
            from the pieces when asked for: for tests and comparisons).
        levels: Pairs x comparisons, int8 (-1 where a value is missing), in that order.
        pairs: Per part (in plan order): its pairs, before the source filter
            for a rule and after it for a pass (as ``resolve``'s stats count them).
        seconds: Time spent finding the pairs (``candidates``) and comparing them (``compare``).
        firsts: Per piece, the index of a part of the plan such that no
            block part before it generates any of the piece's pairs (the
            piece holds pairs a later part found, each earlier one's dropped);
            0 where not known. :meth:`first_parts` gives it per chunk.
    """

    def __init__(
        self,
        left: np.ndarray | None = None,
        right: np.ndarray | None = None,
        levels: np.ndarray | None = None,
        pairs: list[int] | None = None,
        seconds: dict[str, float] | None = None,
        *,
        pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None,
        n: int = 0,
        width: int = 0,
        patterns: np.ndarray | None = None,
        firsts: list[int] | None = None,
    ):
        if pieces is None:
            if left is None or right is None or levels is None:
                raise TypeError("Candidates needs left, right and levels, or pieces")
            pieces = [(left, right, levels)] if len(left) else []
            width = levels.shape[1]
            self._sorted: tuple[np.ndarray, np.ndarray, np.ndarray] | None = (left, right, levels)
        else:
            self._sorted = None
        self._pieces = pieces
        self._firsts = list(firsts) if firsts is not None else [0] * len(pieces)
        if len(self._firsts) != len(pieces):
            raise ValueError("Candidates needs one first part per piece")
        self._n = n
        self._width = width
        self._patterns = patterns
        self.size = sum(len(piece[0]) for piece in pieces)
        self.pairs = list(pairs) if pairs is not None else []
        self.seconds = dict(seconds) if seconds is not None else {}

    def __len__(self) -> int:
        return self.size

    @property
    def width(self) -> int:
        """Number of comparisons (columns of ``levels``)."""
        return self._width

    def levels_of(self, levels: np.ndarray) -> np.ndarray:
        """Levels (pairs x comparisons) of a piece's levels or pattern numbers (as :meth:`stored_chunks` gives them)."""
        if levels.ndim == 2:
            return levels
        assert self._patterns is not None
        return np.asarray(self._patterns[levels], dtype=np.int8).reshape(len(levels), self._width)

    def _whole(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._sorted is None:
            n = max(self._n, max((int(piece[1].max()) + 1 for piece in self._pieces), default=1))
            pieces = [(left, right, self.levels_of(levels)) for left, right, levels in self._pieces]
            self._sorted = _sorted(n, pieces, pair_dtype(n), self._width)
        return self._sorted

    def pattern_counts(self, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Distinct level rows and how often each occurs, as :func:`~reconcile.match._model._pattern_table` gives them.

        From the pattern numbers' counts when the pieces hold them (no level
        is decoded), else counted over the levels.
        """
        from reconcile.match._model import _pattern_table

        if self._patterns is None or any(levels.ndim == 2 for _, _, levels in self._pieces):
            return _pattern_table([levels for _, _, levels in self.chunks(CHUNK_PAIRS)], sizes)
        counts = np.zeros(len(self._patterns), dtype=np.int64)
        for _, _, numbers in self._pieces:
            counts += np.bincount(numbers, minlength=len(counts))
        seen = np.flatnonzero(counts)
        return _pattern_table([self._patterns[seen]], sizes, counts[seen])

    @property
    def left(self) -> np.ndarray:
        return self._whole()[0]

    @property
    def right(self) -> np.ndarray:
        return self._whole()[1]

    @property
    def levels(self) -> np.ndarray:
        return self._whole()[2]

    def chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """The pairs a piece at a time (a piece longer than ``size`` cut into slices), left in place."""
        for _, left, right, stored in self.stored_chunks(size):
            yield left, right, self.levels_of(stored)

    def stored_chunks(self, size: int) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`chunks`, each chunk as ``(first, left, right, stored)``.

        ``stored`` is the chunk's levels as kept (pattern numbers or levels:
        :meth:`levels_of` gives the levels, only if they are needed);
        ``first``: no block part of the plan before this index generates any
        of the chunk's pairs (0 when not known).
        """
        for first, (left, right, levels) in zip(self._firsts, self._pieces, strict=True):
            for at in range(0, len(left), max(size, 1)):
                yield first, left[at:at + size], right[at:at + size], levels[at:at + size]

    @property
    def patterns(self) -> np.ndarray | None:
        """Pattern number -> levels (patterns x comparisons), when pieces hold pattern numbers (else None)."""
        return self._patterns

    def pop_chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`chunks`, each piece let go once it has been read (the candidates are then empty)."""
        for left, right, stored in self.pop_stored_chunks(size):
            yield left, right, self.levels_of(stored)

    def pop_stored_chunks(self, size: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """As :meth:`pop_chunks`, the levels as kept (pattern numbers or levels, see :meth:`stored_chunks`)."""
        self._sorted = None
        while self._pieces:
            left, right, levels = self._pieces.pop(0)
            self._firsts.pop(0)
            for at in range(0, len(left), max(size, 1)):
                yield left[at:at + size], right[at:at + size], levels[at:at + size]
            del left, right, levels
        self.size = 0


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


#: About how many pairs :class:`LocalRunner` generates and compares at a time: bounds the
#: memory of the intermediate arrays (the candidates themselves are kept compact).
CHUNK_PAIRS = 1_000_000


def pair_dtype(n: int) -> type[np.signedinteger]:
    """The integer type record numbers of ``n`` records are kept in (int32 when they fit)."""
    return np.int32 if n < np.iinfo(np.int32).max else np.int64


def owner_codes(part: BlockPart) -> np.ndarray:
    """The part's code of each record, -1 where the part pairs the record with nothing.

    Two records are a pair of the part exactly when their owner codes are
    equal and not -1.
    """
    codes = np.where(part.usable(), part.codes, -1)
    return codes.astype(pair_dtype(int(codes.max()) + 1 if len(codes) else 0))


def generated_by(owners: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Which pairs some block part generates (``owners``: :func:`owner_codes` of each part)."""
    seen = np.zeros(len(left), dtype=bool)
    rest = np.arange(len(left))
    for codes in owners:
        if not len(rest):
            break
        a = codes[left[rest]]
        hit = (a >= 0) & (a == codes[right[rest]])
        seen[rest[hit]] = True
        rest = rest[~hit]
    return seen


def distinct_missing(codes: np.ndarray) -> np.ndarray:
    """Owner codes with each -1 made a negative number of its own.

    Two records' codes are then equal exactly when their owner codes are
    equal and not -1: whether a part generates a pair is one comparison.
    """
    missing = np.flatnonzero(codes < 0)
    if not len(missing):
        return codes
    dtype = np.int32 if codes.dtype == np.int32 and len(codes) < np.iinfo(np.int32).max - 2 else np.int64
    out = codes.astype(dtype)  # a copy
    out[missing] = -2 - np.arange(len(missing), dtype=dtype)
    return out


def not_generated(
    owners: Sequence[np.ndarray], left: np.ndarray, right: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs no block part generates, in their order: ``(left, right)[~generated_by(owners, left, right)]``.

    ``owners``: :func:`distinct_missing` of each part's :func:`owner_codes`
    (restricted to the pairs' records, or not). The pairs found by a part
    are dropped before the next part is looked at.
    """
    for codes in owners:
        if not len(left):
            break
        other = codes[left] != codes[right]
        if not other.all():
            left, right = left[other], right[other]
    return left, right


class LocalRunner:
    """Pairs found and compared in this process, a chunk at a time.

    Each part's pairs are generated in chunks of whole blocks; a pair an
    earlier part also generates is dropped (so every candidate is generated
    once and no union of all the parts' pairs is ever held), the rest are
    compared at once and kept as compact arrays, chunk by chunk (not sorted,
    not joined into one array), the levels as pattern numbers
    (:class:`LevelPatterns`). What a chunk's pairs read of their records
    (the earlier parts' codes, the source, the comparisons' codes) is taken
    for the chunk's records first and read at their positions among them
    (:func:`~reconcile.match._blocking.block_chunks`,
    :meth:`Comparator.restricted`): close together in memory, where record
    numbers are scattered over every record. Each piece says which part found
    it (``Candidates.firsts``).
    """

    def candidates(self, plan: CandidatePlan) -> Candidates:
        started = time.perf_counter()
        dtype = pair_dtype(plan.n)
        width = len(plan.comparators)
        compared = 0.0
        owners: list[np.ndarray] = []
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        counts: list[int] = []
        neighbourhood: list[tuple[np.ndarray, np.ndarray]] = []
        # Levels kept as pattern numbers: 2 bytes a pair instead of one per comparison.
        patterns = LevelPatterns([len(c.levels) for c in plan.comparators])
        encoded = patterns.usable and width > 0

        firsts: list[int] = []  # per kept piece: its part's index in the plan (see Candidates.firsts)

        def keep(
            records: np.ndarray | None, left: np.ndarray, right: np.ndarray, fresh: Sequence[np.ndarray], first: int
        ) -> None:
            # The pairs (records[left[k]], records[right[k]]), or (left[k], right[k]) when records is None,
            # found by part ``first`` (len(plan.parts): by no block part), less those of the parts ``fresh``.
            nonlocal compared
            if records is not None and len(records) >= len(left):
                # Blocks of two or three records: as many records as pairs, so taking the records'
                # codes first would read no fewer of them. The pairs are read at record numbers.
                left, right, records = records[left], records[right], None
            if fresh:
                if records is not None:
                    # Each part's codes of the chunk's records, every missing one a number of its own.
                    fresh = [distinct_missing(codes[records]) for codes in fresh]
                    left, right = not_generated(fresh, left, right)
                else:
                    new = ~generated_by(fresh, left, right)
                    left, right = left[new], right[new]
            if not len(left):
                return
            began = time.perf_counter()
            comparators = plan.comparators if records is None else [c.restricted(records) for c in plan.comparators]
            # Each comparison's levels, coded as patterns without being stacked into a matrix first.
            if encoded:
                stored = patterns.encode([c.compare(left, right) for c in comparators])
            else:
                stored = compare_pairs(comparators, left, right)
            compared += time.perf_counter() - began
            if records is not None:
                left, right = records[left], records[right]
            kept.append((left.astype(dtype), right.astype(dtype), stored))
            firsts.append(first)

        for index, part in enumerate(plan.parts):
            if isinstance(part, BlockPart):
                chunks, skipped = block_chunks(part.codes, part.max_size, CHUNK_PAIRS)
                log_skipped(part, skipped)
                counted = 0
                for records, left, right in chunks:
                    # Every array read per pair is first taken for the chunk's records (see block_chunks).
                    if part.kind == "rule":
                        counted += len(left)  # a rule's pairs are counted before the source filter
                    if plan.groups is not None:
                        left, right = across(plan.groups[records], left, right)
                    if part.kind == "pass":
                        counted += len(left)
                    keep(records, left, right, owners, index)
                counts.append(counted)
                owners.append(plan.owners[len(owners)] if plan.owners is not None else owner_codes(part))
            else:
                left, right = sorted_neighbourhood_pairs(part.keys, part.window)
                if plan.groups is not None:
                    left, right = across(plan.groups, left, right)
                counts.append(len(left))
                neighbourhood.append((left, right))
        if neighbourhood:
            # A window's pairs cannot be told from codes: their union is found by hashing.
            left, right = union_pairs(plan.n, neighbourhood)
            del neighbourhood
            for at in range(0, len(left), CHUNK_PAIRS):
                keep(None, left[at:at + CHUNK_PAIRS], right[at:at + CHUNK_PAIRS], owners, len(plan.parts))
        del owners
        total = time.perf_counter() - started
        seconds = {"candidates": total - compared, "compare": compared}
        # Kept as the pieces they were found in: resolve needs no order, and sorting every pair
        # (a 64-bit key and an order per pair) would double the memory they take.
        return Candidates(pairs=counts, seconds=seconds, pieces=kept, n=plan.n, width=width,
                          patterns=patterns.table if encoded else None, firsts=firsts)

    def compare(self, comparators: Sequence[Comparator], left: np.ndarray, right: np.ndarray) -> np.ndarray:
        return compare_pairs(comparators, left, right)


def _sorted(
    n: int, kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]], dtype: type[np.signedinteger], width: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The kept chunks as one set of arrays, sorted by ``(left, right)`` (chunks freed as they are used)."""
    if not kept:
        return np.zeros(0, dtype=dtype), np.zeros(0, dtype=dtype), np.zeros((0, width), dtype=np.int8)
    columns = [list(column) for column in zip(*kept, strict=True)]
    kept.clear()
    left, right, levels = (np.concatenate(columns.pop(0)) for _ in range(3))
    key = left.astype(np.int64) * np.int64(max(n, 1))
    key += right
    order = np.argsort(key)  # the keys are distinct: any sort gives the one order
    del key
    # One array at a time, each replacing its unsorted self: never two copies of every array.
    left = left[order]
    right = right[order]
    levels = levels[order]
    return left, right, levels


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
