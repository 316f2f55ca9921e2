"""How the Dask engine splits the work, and the tasks its workers run (no Dask needed here).

Everything in this module is plain pandas and numpy, so the partitioning can
be tested without a cluster and a worker only needs ``reconcile`` installed.

- **Normalising**: an identity table is split into row ranges; each range's
  ``_n_*`` columns are computed on a worker (:func:`normalise_chunk`).
  ``normalise_table`` works row by row (each normaliser runs once per
  distinct value, and a value's result does not depend on the other rows),
  except that ``pandas.factorize`` counts ``1``, ``1.0`` and ``True`` as one
  value: a table whose text columns hold anything but strings is normalised
  in the client instead (:func:`normalisable`).
- **Matching**: every deterministic rule and blocking pass is a
  :class:`~reconcile.match._runner.BlockPart` (one integer code per record).
  Its records are split by code (:func:`block_partitions`): records with the
  same key value are in the same partition, so a partition's pairs are
  exactly the part's pairs among its records. A worker generates them, drops
  the pairs an earlier part also generates (:func:`owner_table`; so every
  pair is generated once, and the union needs no de-duplication) and
  compares them (:func:`block_task`).
- **Rules**: records are split by entity (:func:`entity_partitions`): a
  record, its entity, and the records it references as parent are in one
  partition; a record no entity holds goes with its parent, or alone. Rules
  whose findings depend only on one entity's records (``entity_local``) run
  on each partition (:func:`rules_task`); their findings are merged in the
  order the local engine gives (:func:`merge_findings`).
"""

from __future__ import annotations

import datetime as dt
import gc
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from reconcile.engine._transport import PackedFrame
from reconcile.findings import Finding
from reconcile.match._blocking import block_pairs
from reconcile.match._compare import Comparator
from reconcile.match._runner import BlockPart, across, compare_pairs
from reconcile.normalise import normalise_table
from reconcile.normalise._table import NORMALISED_COLUMNS
from reconcile.rules._common import entity_key, parent_rid
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.engine import RuleEvaluationError, _order, evaluate_rules

__all__ = [
    "NORMALISE_INPUTS",
    "SharedPairs",
    "block_partitions",
    "block_task",
    "compare_task",
    "entity_components",
    "entity_partitions",
    "fresh_pairs",
    "merge_findings",
    "normalisable",
    "normalise_chunk",
    "normalise_rows",
    "normalised_columns",
    "gc_paused",
    "local_partitions",
    "owner_table",
    "row_chunks",
    "RuleFailure",
    "rules_on_pieces",
    "rules_task",
    "split_rows",
    "split_tables",
]

#: The columns ``normalise_table`` reads (tests/engine checks it reads no other).
NORMALISE_INPUTS: tuple[str, ...] = (
    "name", "given_name", "family_name", "company", "email", "phone",
    "street", "unit", "postal_code", "country", "vin",
)


@contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside the block (collection resumes after it, if it was on).

    Unpickling or making tens of thousands of findings (each a few dicts and
    models) sets off collections that walk every object the process holds:
    most of the time it takes. Nothing they make is garbage before the block ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


# ---------------------------------------------------------------- normalising


def normalisable(frame: pd.DataFrame) -> bool:
    """Whether row ranges of ``frame`` normalise exactly as the whole table does.

    True unless a text (object) input column holds something besides strings
    and missing values: ``factorize`` would merge ``1`` with ``1.0`` or
    ``True``, and which one is seen first (so how it is written) would depend
    on where the table is cut.
    """
    for name in NORMALISE_INPUTS:
        if (name in frame.columns and frame[name].dtype == object
                and pd.api.types.infer_dtype(frame[name], skipna=True) not in ("string", "empty")):
            return False
    return True


def row_chunks(rows: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` contiguous row ranges of nearly equal size (no empty one)."""
    parts = max(1, min(parts, rows))
    edges = np.linspace(0, rows, parts + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a]


def normalise_chunk(frame: PackedFrame, record_type: str, default_region: str) -> PackedFrame:
    """Task: the ``_n_*`` columns of some rows (``frame`` holds the input columns only).

    They go back packed as the rows came (with Arrow if the client sent them so).
    """
    out = normalise_table(frame.frame, record_type, default_region=default_region)
    return PackedFrame(out[list(NORMALISED_COLUMNS)], arrow=frame.arrow)


def normalise_rows(frame: pd.DataFrame, record_type: str, default_region: str) -> pd.DataFrame:
    """Task: some rows of a table with their ``_n_*`` columns, as the client adds them (kept on the worker).

    The rows stay on the worker for the rules stage; the client gets their
    ``_n_*`` columns (:func:`normalised_columns`) and puts the same values in
    its table.
    """
    with gc_paused():  # the normalisers' tuples and caches: nothing is garbage before the end
        result = normalise_table(frame, record_type, default_region=default_region)
    return with_normalised(frame, result)


def with_normalised(frame: pd.DataFrame, result: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (shallow copy) with the ``_n_*`` columns of ``result`` (its rows, in order), as object columns."""
    out = frame.copy(deep=False)  # new columns only: the others are shared
    for name in NORMALISED_COLUMNS:
        out[name] = pd.Series(result[name].to_numpy(dtype=object), index=out.index, dtype=object)
    return out


def normalised_columns(frame: pd.DataFrame, arrow: bool) -> PackedFrame:
    """Task: the ``_n_*`` columns of rows :func:`normalise_rows` normalised, packed for the client."""
    return PackedFrame(frame[list(NORMALISED_COLUMNS)], arrow=arrow)


# ---------------------------------------------------------------- matching


@dataclass
class SharedPairs:
    """What every worker needs to generate and compare pairs (sent once to each).

    Attributes:
        owner: Records x block parts: the part's code of each record, -1 where
            the part pairs the record with nothing (no key, or a block over
            its size limit). Two records are a pair of part ``j`` when their
            codes in column ``j`` are equal and not -1.
        groups: A source number per record when records of one source never
            pair, else None.
        comparators: The prepared comparisons.
    """

    owner: np.ndarray
    groups: np.ndarray | None
    comparators: Sequence[Comparator]


def owner_table(parts: Sequence[BlockPart], n: int) -> np.ndarray:
    """:attr:`SharedPairs.owner` for the block parts, in plan order."""
    dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    owner = np.full((n, len(parts)), -1, dtype=dtype)
    for j, part in enumerate(parts):
        usable = part.usable()
        owner[usable, j] = part.codes[usable]
    return owner


def block_partitions(part: BlockPart, parts: int) -> tuple[int, list[np.ndarray]]:
    """Blocks over the size limit, and the record numbers of each partition (ascending).

    Records with the same code are in the same partition (code modulo
    ``parts``); records the part pairs with nothing are in none.
    """
    codes = part.codes
    present = codes >= 0
    skipped = 0
    if part.max_size is not None and present.any():
        skipped = int((np.bincount(codes[present]) > part.max_size).sum())
    usable = np.flatnonzero(part.usable())
    if len(usable) == 0:
        return skipped, []
    bucket = codes[usable] % parts
    order = np.argsort(bucket, kind="stable")  # keeps record numbers ascending inside a bucket
    sorted_buckets = bucket[order]
    edges = np.searchsorted(sorted_buckets, np.arange(parts + 1))
    out = []
    for p in range(parts):
        members = usable[order[edges[p]:edges[p + 1]]]
        if len(members) >= 2:
            out.append(members)
    return skipped, out


def _earlier_pairs(owner: np.ndarray, upto: int, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Which pairs a block part before column ``upto`` also generates."""
    seen = np.zeros(len(left), dtype=bool)
    for j in range(upto):
        a = owner[left, j]
        seen |= (a >= 0) & (a == owner[right, j])
    return seen


def block_task(
    shared: SharedPairs, position: int, kind: str, members: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Task: one block part's pairs among ``members`` that no earlier part generates, compared.

    Args:
        shared: The owner table, groups and comparators.
        position: The part's column in the owner table.
        kind: ``rule`` or ``pass`` (a rule's pairs are counted before the
            source filter, a pass's after it, as ``resolve`` counts them).
        members: Record numbers (ascending) holding every record of their codes.

    Returns:
        ``(left, right, levels, counted)``.
    """
    codes = shared.owner[members, position].astype(np.int64)
    local_left, local_right, _ = block_pairs(codes, None)
    left, right = members[local_left].astype(np.int64), members[local_right].astype(np.int64)
    counted = len(left)
    if shared.groups is not None:
        left, right = across(shared.groups, left, right)
        if kind == "pass":
            counted = len(left)
    if position:
        fresh = ~_earlier_pairs(shared.owner, position, left, right)
        left, right = left[fresh], right[fresh]
    return left, right, compare_pairs(shared.comparators, left, right), counted


def fresh_pairs(owner: np.ndarray, left: np.ndarray, right: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs no block part generates (for sorted neighbourhood passes)."""
    keep = ~_earlier_pairs(owner, owner.shape[1], left, right)
    return left[keep], right[keep]


def compare_task(shared: SharedPairs, pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Task: the levels of some pairs ``(left, right)``."""
    return compare_pairs(shared.comparators, *pairs)


# ---------------------------------------------------------------- rules


def _hashes(values: np.ndarray) -> np.ndarray:
    """Python's hash of every cell (strings keep theirs cached, so this is quick)."""
    return np.fromiter(map(hash, values.tolist()), dtype=np.int64, count=len(values))


def _table_nodes(frame: pd.DataFrame, record_type: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per record: the hash of its rid, of its entity key, and of its parent's rid (0 and a mask for none).

    The entity key is the one rules group by (:func:`~reconcile.rules._common.entity_key`):
    ``_entity``, else ``~`` + ``_parent_rid``, else ``~`` + ``_rid``; the parent
    is the one rules join to (:func:`~reconcile.rules._common.parent_rid`).
    """
    rid = frame["_rid"].to_numpy(dtype=object)
    entity = frame["_entity"].to_numpy(dtype=object) if "_entity" in frame.columns else np.full(len(frame), None)
    keys = entity.copy()
    fallback = np.asarray(pd.isna(entity), dtype=np.bool_)
    if fallback.any():  # records no entity holds: only these build a key (as entity_key does)
        keys[fallback] = entity_key(frame[fallback]).to_numpy(dtype=object)
    parent = parent_rid(frame, record_type).to_numpy(dtype=object)
    has_parent = ~np.asarray(pd.isna(parent), dtype=np.bool_)
    parent_hash = np.zeros(len(frame), dtype=np.int64)
    parent_hash[has_parent] = _hashes(parent[has_parent])
    return _hashes(rid), _hashes(keys), np.where(has_parent, parent_hash, np.int64(0)), has_parent


def entity_partitions(tables: Mapping[str, pd.DataFrame], parts: int) -> dict[str, np.ndarray] | None:
    """The partition (0..parts-1) of every row of every table; None if a table has no ``_rid``.

    The component (:func:`entity_components`) modulo ``parts``.
    """
    components = entity_components(tables)
    if components is None:
        return None
    return {record_type: labels % parts for record_type, labels in components.items()}


def entity_components(tables: Mapping[str, pd.DataFrame]) -> dict[str, np.ndarray] | None:
    """A component number for every row of every table; None if a table has no ``_rid``.

    Records are nodes of a graph joined to their entity key (``_entity``,
    else ``~`` + parent rid, else ``~`` + own rid: the key rules group by)
    and to the rid of their parent (as rules find it, ``_parent_rid`` or
    the same-source parent's rid). A partition that keeps each connected
    component whole puts every record an entity-local rule looks at for one
    entity in that entity's partition, whatever the tables hold (a record whose parent has
    another entity pulls the two entities together). Values are told apart
    by their hash: two values with the same hash are joined, which can only
    make a partition larger, never split what belongs together.
    """
    rids: list[np.ndarray] = []
    keys: list[np.ndarray] = []
    parents: list[np.ndarray] = []
    has_parents: list[np.ndarray] = []
    sizes: dict[str, int] = {}
    for record_type, frame in tables.items():
        sizes[record_type] = len(frame)
        if frame.empty:
            continue
        if "_rid" not in frame.columns:
            return None
        rid, key, parent, has_parent = _table_nodes(frame, record_type)
        rids.append(rid)
        keys.append(key)
        parents.append(parent)
        has_parents.append(has_parent)
    total = sum(sizes.values())
    if total == 0:
        return {record_type: np.zeros(0, dtype=np.int64) for record_type in tables}
    with_parent = np.concatenate(has_parents)
    # One numbering for rids and parent references, another for entity keys.
    rid_codes, rid_uniques = pd.factorize(np.concatenate([np.concatenate(rids), np.concatenate(parents)[with_parent]]))
    own = rid_codes[:total].astype(np.int64)
    parent = rid_codes[total:].astype(np.int64)
    key_codes = pd.factorize(np.concatenate(keys))[0].astype(np.int64)
    nodes = len(rid_uniques) + int(key_codes.max()) + 1
    edges_a = np.concatenate([own, own[with_parent]])
    edges_b = np.concatenate([len(rid_uniques) + key_codes, parent])
    graph = coo_matrix((np.ones(len(edges_a), dtype=np.int8), (edges_a, edges_b)), shape=(nodes, nodes))
    _, labels = connected_components(graph, directed=False)
    partition = labels[own].astype(np.int64)
    out: dict[str, np.ndarray] = {}
    start = 0
    for record_type in tables:
        size = sizes[record_type]
        out[record_type] = partition[start:start + size]
        start += size
    return out


def local_partitions(
    components: Mapping[str, np.ndarray], homes: Mapping[str, np.ndarray], parts: int, slack: float = 1.25
) -> dict[str, np.ndarray]:
    """Partitions of whole components that keep most rows where they are: each component goes to
    the partition (``homes``: 0..parts-1 per row, the worker holding it) that holds most of its rows.

    Any choice that keeps a component whole is a valid partition; this one
    moves few rows when the tables' row ranges hold the same customers (tables
    written in customer order). If that leaves one partition more than
    ``slack`` times the even share, components are spread by number instead
    (``component % parts``), as :func:`entity_partitions` does.
    """
    record_types = [t for t in components if len(components[t])]
    if not record_types:
        return {t: np.zeros(0, dtype=np.int64) for t in components}
    component = np.concatenate([components[t] for t in record_types])
    home = np.concatenate([homes[t] for t in record_types]).astype(np.int64)
    count = int(component.max()) + 1
    weights = np.bincount(component * parts + home, minlength=count * parts).reshape(count, parts)
    chosen = weights.argmax(axis=1)  # ties: the lowest partition
    sizes = np.bincount(chosen, weights=weights.sum(axis=1), minlength=parts)
    if sizes.max() > slack * len(component) / parts:
        chosen = np.arange(count) % parts
    return {t: chosen[labels].astype(np.int64) for t, labels in components.items()}


def split_tables(
    tables: Mapping[str, pd.DataFrame], partition: Mapping[str, np.ndarray], parts: int
) -> list[dict[str, pd.DataFrame]]:
    """Per partition, every table's rows of it (in table order; empty tables keep their columns).

    Each part is numbered 0..n-1 like the pipeline's tables, so rules take
    the same code paths on a partition as on the whole table.
    """
    out: list[dict[str, pd.DataFrame]] = [{} for _ in range(parts)]
    for record_type, frame in tables.items():
        labels = partition[record_type]
        order = np.argsort(labels, kind="stable")
        edges = np.searchsorted(labels[order], np.arange(parts + 1))
        for p in range(parts):
            part = frame.take(order[edges[p]:edges[p + 1]])
            part.index = pd.RangeIndex(len(part))
            out[p][record_type] = part
    return out


def split_rows(
    frame: pd.DataFrame, extra: tuple[pd.DataFrame | None, np.ndarray], columns: Sequence[Any], parts: int
) -> list[pd.DataFrame]:
    """Task: a table's rows held on a worker, completed and split by partition, as :func:`split_tables` splits.

    Args:
        frame: Consecutive rows of a table, as the worker holds them (some
            columns may be missing or out of date).
        extra: The columns the worker lacks for these rows (a frame with
            ``frame``'s index, or None), and each row's partition.
        columns: The table's columns, in order.
        parts: Number of partitions.

    Returns:
        Per partition, the rows of it (in row order), with ``columns``.
    """
    more, labels = extra
    if more is not None and len(more.columns):
        frame = frame.copy(deep=False)
        for name in more.columns:  # by position: the index may repeat a label
            column = more[name]
            frame[name] = pd.Series(column.array, index=frame.index, dtype=column.dtype, name=name)
    if list(frame.columns) != list(columns):
        frame = frame[list(columns)]
    if len(labels) and (labels == labels[0]).all():  # every row in one partition: no copy
        empty = frame.iloc[:0]
        return [frame if p == labels[0] else empty for p in range(parts)]
    order = np.argsort(labels, kind="stable")
    edges = np.searchsorted(labels[order], np.arange(parts + 1))
    return [frame.take(order[edges[p]:edges[p + 1]]) for p in range(parts)]


def joined_rows(pieces: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """A partition's rows of one table from the pieces :func:`split_rows` made (in row order), numbered 0..n-1.

    Column by column (``pandas.concat`` checks every cell of an object
    column that holds only None, which is most of the time it takes).
    """
    filled = [piece for piece in pieces if len(piece)]
    first = filled[0] if filled else pieces[0]
    if len(filled) == 1 or not filled or not first.columns.is_unique:
        out = pd.concat(filled, ignore_index=True) if len(filled) > 1 else first.copy(deep=False)
        out.index = pd.RangeIndex(len(out))
        return out
    dtypes = list(first.dtypes)
    if any(list(piece.dtypes) != dtypes for piece in filled):
        return _concatenated(filled)
    index = pd.RangeIndex(sum(len(piece) for piece in filled))
    data: dict[Any, pd.Series] = {}
    for position, (name, dtype) in enumerate(zip(first.columns, dtypes, strict=True)):
        if isinstance(dtype, np.dtype):  # a numpy array (a Series of one checks no cell)
            values: Any = np.concatenate([piece.iloc[:, position].to_numpy(copy=False) for piece in filled])
        else:  # an extension array (datetimes with a zone, nullable integers...), as it is
            arrays = [piece.iloc[:, position].array for piece in filled]
            values = type(arrays[0])._concat_same_type(arrays)
        data[name] = pd.Series(values, index=index, dtype=dtype, copy=False)
    return pd.DataFrame(data, index=index, columns=first.columns, copy=False)


def _concatenated(pieces: Sequence[pd.DataFrame]) -> pd.DataFrame:
    out = pd.concat(pieces, ignore_index=True)
    out.index = pd.RangeIndex(len(out))
    return out


def rules_on_pieces(
    rules: Sequence[Rule], as_of: dt.datetime, tables: Mapping[str, Sequence[pd.DataFrame]]
) -> list[Any]:
    """Task: :func:`rules_task` on a partition's tables, each given as the pieces :func:`split_rows` made."""
    with gc_paused():
        joined = {record_type: joined_rows(pieces) for record_type, pieces in tables.items()}
        return _evaluate_each(rules, as_of, joined)


@dataclass
class RuleFailure:
    """A rule that raised on a worker: its message as the local engine words it, and the trace."""

    message: str
    trace: str


def rules_task(rules: Sequence[Rule], as_of: dt.datetime, tables: Mapping[str, PackedFrame]) -> list[Any]:
    """Task: each rule's findings on one partition (or a :class:`RuleFailure`)."""
    return _evaluate_each(rules, as_of, {record_type: packed.frame for record_type, packed in tables.items()})


def _evaluate_each(rules: Sequence[Rule], as_of: dt.datetime, tables: Mapping[str, pd.DataFrame]) -> list[Any]:
    ctx = RuleContext(as_of=as_of, tables=tables)
    out: list[Any] = []
    for rule in rules:
        try:
            out.append(evaluate_rules([rule], ctx))  # one rule: its findings, checked and sorted
        except RuleEvaluationError as exc:
            prefix = f"rule {rule.id!r} (kind {rule.kind}) failed: "
            text = str(exc)
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            out.append(RuleFailure(
                message=text[len(prefix):] if text.startswith(prefix) else text,
                trace="".join(traceback.format_exception(cause)),
            ))
    return out


def merge_findings(rule: Rule, per_partition: Sequence[Sequence[Finding]]) -> list[Finding]:
    """One rule's findings from every partition, as the local engine orders them.

    Raises:
        RuleEvaluationError: two partitions yielded the same fingerprint (the
            rule is not entity-local after all).
    """
    seen: dict[str, Finding] = {}
    merged: list[Finding] = []
    for findings in per_partition:
        for finding in findings:
            if finding.fingerprint in seen:
                raise RuleEvaluationError(
                    rule,
                    f"yielded two findings with the same fingerprint (subject {finding.subject.rid}, "
                    f"detail_key {finding.detail_key!r}); give each a distinct detail_key",
                )
            seen[finding.fingerprint] = finding
            merged.append(finding)
    return sorted(merged, key=_order)
