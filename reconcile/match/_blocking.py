"""Candidate pairs: blocking passes, sorted neighbourhood, and their union.

Records are numbered 0..n-1 (the identity frame sorted by ``_rid``); a pair is
``(left, right)`` with ``left < right``. Every step works on integer arrays:
a blocking key becomes one integer code per record, and the pairs inside each
block are generated with array arithmetic, not a loop over blocks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence

import jellyfish
import numpy as np
import pandas as pd

from reconcile._factorize import factorize_objects
from reconcile.match._compare import Column
from reconcile.match._config import BlockingKey, BlockPass, SortedNeighbourhoodPass

__all__ = [
    "block_chunks",
    "block_pair_chunks",
    "block_pairs",
    "key_codes",
    "key_strings",
    "pass_pairs",
    "sorted_neighbourhood_pairs",
    "stable_order",
    "union_pairs",
]

log = logging.getLogger("reconcile.match")

_PHONETIC: dict[str, Callable[[str], str]] = {
    "soundex": jellyfish.soundex,
    "metaphone": jellyfish.metaphone,
    "nysiis": jellyfish.nysiis,
}


def _transformed(column: Column, key: BlockingKey) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct values of one key part (transformed once per distinct value)."""
    if key.transform == "value":
        return column.codes, column.uniques
    uniques = column.uniques
    if key.transform in _PHONETIC:
        function = _PHONETIC[key.transform]
        values = [function(u) or None for u in uniques]
    else:
        assert key.length is not None
        n = key.length
        # A value shorter than the part taken is kept whole: a short key still blocks.
        values = [u[:n] for u in uniques] if key.transform == "prefix" else [u[-n:] for u in uniques]
    # Text that differs after a NUL character (a prefix of one...) stays apart.
    codes, new_uniques = factorize_objects(np.asarray(values, dtype=object))
    codes = np.append(codes, -1).astype(np.int64)
    return codes[column.codes], np.asarray(new_uniques, dtype=object)


def key_codes(keys: Sequence[BlockingKey], columns: Callable[[str], Column]) -> np.ndarray:
    """One integer per record for a (multi-part) key; -1 where any part is missing (int32 when it fits)."""
    combined: np.ndarray | None = None
    for key in keys:
        codes, uniques = _transformed(columns(key.column), key)
        if combined is None:
            combined = codes.copy()
            continue
        missing = (combined < 0) | (codes < 0)
        merged = combined * np.int64(len(uniques) + 1) + codes
        renumbered = pd.factorize(merged)[0].astype(np.int64)  # keeps the numbers small
        renumbered[missing] = -1
        combined = renumbered
    assert combined is not None
    # Codes number distinct keys, so fewer than the records: int32 (kept for every rule and pass) when they fit.
    return combined.astype(np.int32) if len(combined) < np.iinfo(np.int32).max else combined


def key_strings(keys: Sequence[BlockingKey], columns: Callable[[str], Column]) -> np.ndarray:
    """The key as one string per record (parts joined), None where a part is missing."""
    joined: pd.Series | None = None
    for key in keys:
        codes, uniques = _transformed(columns(key.column), key)
        part = pd.Series(np.append(uniques, [None])[codes], dtype=object)  # code -1 picks the None
        joined = part if joined is None else joined.str.cat(part, sep="\x1f")
    assert joined is not None
    return np.asarray(joined.where(joined.notna(), None).to_numpy(dtype=object), dtype=object)


def stable_order(keys: np.ndarray) -> np.ndarray:
    """``np.argsort(keys, kind="stable")`` of non-negative integers, by 16-bit radix passes when they fit in 32 bits.

    NumPy sorts 16-bit integers by radix (linear time) and wider ones by
    timsort; two stable passes (low half, then high half) give the one
    stable order of the whole keys, about three times as fast.
    """
    if not len(keys) or keys.dtype.kind not in "iu":
        return np.argsort(keys, kind="stable")
    top = int(keys.max())
    if int(keys.min()) < 0 or top >= 1 << 32:
        return np.argsort(keys, kind="stable")
    if top < 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    order = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    return order[np.argsort((keys[order] >> 16).astype(np.uint16), kind="stable")]


def _blocks(codes: np.ndarray, max_block_size: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Records sorted by code (ascending inside a block), the blocks that pair (start, size), and how many were skipped."""
    records = np.flatnonzero(codes >= 0)
    empty = np.zeros(0, dtype=np.int64)
    if len(records) < 2:
        return empty, empty, empty, 0
    # A stable sort keeps record numbers ascending inside a block, so left < right.
    order = records[stable_order(codes[records])]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    skipped = 0
    keep = sizes >= 2
    if max_block_size is not None:
        too_big = sizes > max_block_size
        skipped = int(too_big.sum())
        keep &= ~too_big
    return order, starts[keep], sizes[keep], skipped


def _positions_of_blocks(starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of positions inside the given blocks (int64), block by block.

    A block starts at position ``starts[k]`` and holds ``sizes[k]`` positions;
    position p of a block starting at s of size k pairs with p+1 .. s+k-1.
    """
    if len(starts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    block_of = np.repeat(np.arange(len(starts)), sizes)
    positions = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes) + np.repeat(starts, sizes)
    later = starts[block_of] + sizes[block_of] - 1 - positions
    del block_of
    total = int(later.sum())
    left_pos = np.repeat(positions, later)
    offsets = np.arange(total) - np.repeat(np.cumsum(later) - later, later) + 1
    offsets += left_pos
    return left_pos.astype(np.int64, copy=False), offsets.astype(np.int64, copy=False)


def _pairs_of_blocks(order: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair inside the given blocks of ``order``, block by block (record numbers)."""
    left_pos, right_pos = _positions_of_blocks(starts, sizes)
    return order[left_pos].astype(np.int64), order[right_pos].astype(np.int64)


def block_pairs(codes: np.ndarray, max_block_size: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Every pair of records with the same code (``left < right``).

    Args:
        codes: One integer per record; -1 means "no key" (never paired).
        max_block_size: Blocks with more records are skipped.

    Returns:
        ``(left, right, skipped)``: the pairs, and how many blocks were skipped.
    """
    order, starts, sizes, skipped = _blocks(codes, max_block_size)
    left, right = _pairs_of_blocks(order, starts, sizes)
    return left, right, skipped


def block_pair_chunks(
    codes: np.ndarray, max_block_size: int | None, limit: int
) -> tuple[Iterator[tuple[np.ndarray, np.ndarray]], int]:
    """The pairs of :func:`block_pairs` in chunks of whole blocks, about ``limit`` pairs each.

    A chunk holds more than ``limit`` pairs only when one block does. The
    chunks together are exactly ``block_pairs(codes, max_block_size)``, in
    the same order.

    Returns:
        ``(chunks, skipped)``: an iterator over ``(left, right)``, and how many blocks were skipped.
    """
    local, skipped = block_chunks(codes, max_block_size, limit)
    return ((records[left], records[right]) for records, left, right in local), skipped


def block_chunks(
    codes: np.ndarray, max_block_size: int | None, limit: int
) -> tuple[Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]], int]:
    """:func:`block_pair_chunks`, each chunk as its records and pairs of positions among them.

    A chunk is ``(records, left, right)``: ``records`` (int64) are the
    record numbers of the chunk's blocks, block by block, and its pairs are
    ``(records[left[k]], records[right[k]])``. Whatever is read of the
    records per pair can then be taken for the chunk's few records first
    (one gather each) and read at the positions, which lie close together,
    instead of at record numbers scattered over every record.

    Returns:
        ``(chunks, skipped)``: an iterator over the chunks, and how many blocks were skipped.
    """
    order, starts, sizes, skipped = _blocks(codes, max_block_size)
    pairs = sizes * (sizes - 1) // 2
    ends = np.cumsum(pairs)

    def chunks() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        first, done = 0, 0
        while first < len(starts):
            # The blocks whose pairs end within ``limit`` of where this chunk starts (one block at least).
            last = max(int(np.searchsorted(ends, done + limit, side="right")), first + 1)
            begin, end = int(starts[first]), int(starts[last - 1] + sizes[last - 1])
            left, right = _positions_of_blocks(starts[first:last] - begin, sizes[first:last])
            yield order[begin:end].astype(np.int64, copy=False), left, right
            done = int(ends[last - 1])
            first = last

    return chunks(), skipped


def sorted_neighbourhood_pairs(keys: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs from recordlinkage's sorted neighbourhood index over string keys (None: no key)."""
    frame = pd.DataFrame({"key": pd.Series(keys, dtype=object)})
    if frame["key"].notna().sum() < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    import recordlinkage  # imported here: it loads scikit-learn, which nothing else needs

    index = recordlinkage.index.SortedNeighbourhood(left_on="key", window=window).index(frame)
    a = index.get_level_values(0).to_numpy(dtype=np.int64)
    b = index.get_level_values(1).to_numpy(dtype=np.int64)
    left, right = np.minimum(a, b), np.maximum(a, b)
    keep = left != right
    return left[keep], right[keep]


def pass_pairs(
    name: str, blocking: BlockPass | SortedNeighbourhoodPass, columns: Callable[[str], Column]
) -> tuple[np.ndarray, np.ndarray]:
    """The candidate pairs of one configured pass."""
    if isinstance(blocking, SortedNeighbourhoodPass):
        return sorted_neighbourhood_pairs(key_strings(blocking.on, columns), blocking.window)
    left, right, skipped = block_pairs(key_codes(blocking.on, columns), blocking.max_block_size)
    if skipped:
        log.warning(
            "blocking pass %r skipped %d block(s) larger than max_block_size=%s "
            "(placeholder or very common key values)", name, skipped, blocking.max_block_size,
        )
    return left, right


def union_pairs(n: int, parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct pairs of several passes, sorted by ``(left, right)``."""
    if not parts:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    packed = np.concatenate([left * np.int64(n) + right for left, right in parts])
    # Passes overlap a lot: drop duplicates with a hash table, then sort what is left.
    packed = np.sort(pd.unique(packed))
    return packed // n, packed % n
