"""Candidates and scores a chunk at a time: the same pairs, levels, model and result as all at once.

The reference here is the way matching worked before it was chunked: every
part's pairs generated whole, their union found by hashing and sorted
(``union_pairs``), every pair compared at once, the level patterns coded
all at once.
"""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from match_helpers import identity_frames, population, record

import reconcile.match._model as model_module
import reconcile.match._resolve as resolve_module
import reconcile.match._runner as runner_module
from reconcile.match import MatchingConfig, resolve
from reconcile.match._blocking import (
    block_pair_chunks,
    block_pairs,
    sorted_neighbourhood_pairs,
    union_pairs,
)
from reconcile.match._compare import Column, ExactComparator
from reconcile.match._runner import (
    BlockPart,
    CandidatePlan,
    Candidates,
    LevelPatterns,
    LocalRunner,
    NeighbourhoodPart,
    across,
    compare_pairs,
)

_SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


class ReferenceRunner:
    """The runner as it was: every part's pairs whole, one union, compared at once."""

    def candidates(self, plan: CandidatePlan) -> Candidates:
        parts, counts = [], []
        for part in plan.parts:
            if isinstance(part, BlockPart):
                left, right, _ = block_pairs(part.codes, part.max_size)
                if part.kind == "rule":
                    counts.append(len(left))
            else:
                left, right = sorted_neighbourhood_pairs(part.keys, part.window)
            if plan.groups is not None:
                left, right = across(plan.groups, left, right)
            if part.kind == "pass":
                counts.append(len(left))
            parts.append((left, right))
        left, right = union_pairs(plan.n, parts)
        return Candidates(left=left, right=right, levels=self.compare(plan.comparators, left, right), pairs=counts)

    def compare(self, comparators, left, right):
        return compare_pairs(comparators, left, right)


def _reference_patterns(levels: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    code = np.zeros(levels.shape[0], dtype=np.int64)
    for f, size in enumerate(sizes):
        code = code * np.int64(size + 1) + (levels[:, f].astype(np.int64) + 1)
    unique, counts = np.unique(code, return_counts=True)
    patterns = np.zeros((len(unique), len(sizes)), dtype=np.int64)
    rest = unique.copy()
    for f in range(len(sizes) - 1, -1, -1):
        base = np.int64(sizes[f] + 1)
        patterns[:, f] = rest % base - 1
        rest //= base
    return patterns, counts.astype(np.float64)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch):
    """Set how many pairs a chunk holds (in the runner and in resolve)."""

    def set_chunk(size: int) -> None:
        monkeypatch.setattr(runner_module, "CHUNK_PAIRS", size)
        monkeypatch.setattr(resolve_module, "CHUNK_PAIRS", size)
        monkeypatch.setattr(model_module, "PATTERN_CHUNK", size)

    return set_chunk


_CODES = st.lists(st.integers(min_value=-1, max_value=5), min_size=0, max_size=40)


@given(codes=_CODES, max_size=st.none() | st.integers(2, 8), limit=st.integers(1, 30))
@settings(max_examples=150, deadline=None)
def test_block_pair_chunks_are_block_pairs_cut_between_blocks(codes, max_size, limit) -> None:
    array = np.array(codes, dtype=np.int64)
    left, right, skipped = block_pairs(array, max_size)
    chunks, chunk_skipped = block_pair_chunks(array, max_size, limit)
    parts = list(chunks)
    assert chunk_skipped == skipped
    joined_left = np.concatenate([p[0] for p in parts]) if parts else np.zeros(0, np.int64)
    joined_right = np.concatenate([p[1] for p in parts]) if parts else np.zeros(0, np.int64)
    assert joined_left.tolist() == left.tolist() and joined_right.tolist() == right.tolist()
    for a, b in parts:
        assert len(a) > 0
        # More than the limit only when the chunk is one block (every pair shares one code).
        assert len(a) <= limit or len(set(array[a].tolist()) | set(array[b].tolist())) == 1


@st.composite
def plans(draw: st.DrawFn) -> CandidatePlan:
    n = draw(st.integers(min_value=0, max_value=30))
    parts: list[BlockPart | NeighbourhoodPart] = []
    for index in range(draw(st.integers(min_value=0, max_value=5))):
        if draw(st.integers(0, 4)) == 0:
            keys = draw(st.lists(st.sampled_from(["ab", "abc", "b", "ba", "c", None]), min_size=n, max_size=n))
            parts.append(NeighbourhoodPart(f"w{index}", np.array(keys, dtype=object), draw(st.sampled_from([1, 3, 5]))))
        else:
            codes = draw(st.lists(st.integers(min_value=-1, max_value=draw(st.integers(0, 6))), min_size=n, max_size=n))
            kind = draw(st.sampled_from(["rule", "pass"]))
            parts.append(BlockPart(f"p{index}", kind, np.array(codes, dtype=np.int64), draw(st.none() | st.integers(2, 6))))
    groups = None
    if draw(st.booleans()):
        groups = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int64)
    values = draw(st.lists(st.sampled_from(["x", "y", "z", None]), min_size=n, max_size=n))
    column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
    comparators = [ExactComparator("v", column, False)] if draw(st.booleans()) else []
    return CandidatePlan(n=n, parts=parts, groups=groups, comparators=comparators)


@given(plan=plans(), chunk=st.integers(1, 12), numbered=st.booleans())
@_SETTINGS
def test_the_local_runner_finds_the_union_of_every_part_compared(plan, chunk, numbered, small_chunks,
                                                                 monkeypatch) -> None:
    small_chunks(chunk)
    if not numbered:  # too many possible patterns for a table: levels kept as they are
        monkeypatch.setattr(runner_module, "MAX_PATTERN_TABLE", 1)
    found = LocalRunner().candidates(plan)
    sizes = [len(c.levels) for c in plan.comparators]
    expected_counts = _reference_patterns(ReferenceRunner().candidates(plan).levels, sizes)
    patterns, counts = found.pattern_counts(sizes)
    assert patterns.tolist() == expected_counts[0].tolist() and counts.tolist() == expected_counts[1].tolist()
    assert counts.dtype == np.float64 and patterns.dtype == np.int64
    expected = ReferenceRunner().candidates(plan)
    assert found.left.tolist() == expected.left.tolist()
    assert found.right.tolist() == expected.right.tolist()
    assert found.levels.shape == expected.levels.shape
    assert found.levels.tolist() == expected.levels.tolist()
    assert found.pairs == expected.pairs
    # Owner codes handed over (as resolve does) give the same candidates.
    owners = [runner_module.owner_codes(part) for part in plan.parts if isinstance(part, BlockPart)]
    given = LocalRunner().candidates(dataclasses.replace(plan, owners=owners))
    assert given.left.tolist() == found.left.tolist() and given.right.tolist() == found.right.tolist()
    assert given.levels.tolist() == found.levels.tolist() and given.pairs == found.pairs
    # Sorted by (left, right), distinct, left < right.
    pairs = list(zip(found.left.tolist(), found.right.tolist(), strict=True))
    assert pairs == sorted(set(pairs)) and all(a < b for a, b in pairs)
    # Each chunk's first part: no block part before it generates any of its pairs (resolve skips their rules).
    chunks = list(LocalRunner().candidates(plan).stored_chunks(chunk))
    for first, left, right, _ in chunks:
        for index, part in enumerate(plan.parts[:first]):
            if isinstance(part, BlockPart):
                codes = runner_module.owner_codes(part)
                assert not ((codes[left] >= 0) & (codes[left] == codes[right])).any(), (index, first)
        # The local runner names the part that found the chunk's pairs (or none: a window's pairs).
        if first < len(plan.parts):
            codes = runner_module.owner_codes(plan.parts[first])
            assert ((codes[left] >= 0) & (codes[left] == codes[right])).all()
        else:
            assert any(isinstance(part, NeighbourhoodPart) for part in plan.parts)
    assert sum(len(left) for _, left, _, _ in chunks) == len(found)


@given(
    rows=st.lists(st.lists(st.integers(-1, 3), min_size=3, max_size=3), min_size=0, max_size=60),
    chunk=st.integers(1, 20),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_level_patterns_counted_by_chunk_are_those_counted_at_once(rows, chunk, monkeypatch) -> None:
    monkeypatch.setattr(model_module, "PATTERN_CHUNK", chunk)
    levels = np.array(rows, dtype=np.int8).reshape(len(rows), 3)
    sizes = [4, 4, 5]
    patterns, counts = model_module._pattern_table(levels, sizes)
    expected_patterns, expected_counts = _reference_patterns(levels, sizes)
    assert patterns.tolist() == expected_patterns.tolist()
    assert counts.dtype == expected_counts.dtype and counts.tolist() == expected_counts.tolist()


@st.composite
def _level_chunks(draw: st.DrawFn) -> tuple[list[int], list[np.ndarray]]:
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=4))
    row = st.tuples(*[st.integers(-1, size - 1) for size in sizes])
    chunks = draw(st.lists(st.lists(row, max_size=8), max_size=6))
    return sizes, [np.array(chunk, dtype=np.int8).reshape(-1, len(sizes)) for chunk in chunks]


@given(drawn=_level_chunks())
@settings(max_examples=200, deadline=None)
def test_pattern_numbers_give_back_the_levels(drawn) -> None:
    sizes, matrices = drawn
    patterns = LevelPatterns(sizes)
    assert patterns.usable
    numbered = [patterns.encode(m) for m in matrices]
    table = patterns.table
    for m, numbers in zip(matrices, numbered, strict=True):
        assert numbers.dtype == np.uint16
        assert table[numbers].reshape(m.shape).tolist() == m.tolist()
    # Each distinct row numbered once.
    rows = [tuple(r) for m in matrices for r in m.tolist()]
    held = [tuple(r) for r in table.tolist()]
    assert len(held) == len(set(held)) and set(held) == set(rows)


def test_pattern_numbers_widen_past_65536_patterns() -> None:
    patterns = LevelPatterns([128, 128, 128])
    grid = np.stack(np.meshgrid(np.arange(128), np.arange(128), np.arange(5), indexing="ij"), axis=-1).reshape(-1, 3)
    grid = grid.astype(np.int8)
    first = patterns.encode(grid[:60_000])
    second = patterns.encode(grid[50_000:])
    assert first.dtype == np.uint16 and second.dtype == np.int32
    table = patterns.table
    assert table[first].tolist() == grid[:60_000].tolist() and table[second].tolist() == grid[50_000:].tolist()
    assert not LevelPatterns([2047, 2047, 2]).usable  # 2048 x 2048 x 3 possible patterns: no table


_CONFIGS = [
    MatchingConfig(),
    MatchingConfig(link_within_source=False),
    MatchingConfig(veto=["given_name"], threshold=0.5),
    MatchingConfig.model_validate(
        {"clustering": {"constraints": [{"source": "billing", "max_records": 1}]},
         "blocking": {"near_family": {"kind": "sorted_neighbourhood", "on": ["_n_family"], "window": 3}}}
    ),
]


def _assert_same(result, expected, identity: pd.DataFrame) -> None:
    pd.testing.assert_series_equal(result.entity_of, expected.entity_of)
    pd.testing.assert_series_equal(result.confidence, expected.confidence, check_exact=True)
    pd.testing.assert_frame_equal(result.links, expected.links, check_exact=True)
    stats = {k: v for k, v in result.stats.items() if k != "timings"}
    assert stats == {k: v for k, v in expected.stats.items() if k != "timings"}
    if expected.model is not None:
        assert result.model is not None
        assert result.model.to_dict() == expected.model.to_dict()
    rids = sorted(identity["_rid"])
    for a, b in itertools.combinations(rids[:12], 2):
        assert result.explain(a, b) == expected.explain(a, b)


@given(identity=identity_frames(), config=st.sampled_from(_CONFIGS), chunk=st.integers(1, 9), numbered=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_resolve_by_chunks_gives_the_result_of_the_reference_runner(
    identity, config, chunk, numbered, small_chunks, monkeypatch
) -> None:
    now = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    expected = resolve(identity, config, now=now, runner=ReferenceRunner())
    small_chunks(chunk)
    if not numbered:
        monkeypatch.setattr(runner_module, "MAX_PATTERN_TABLE", 1)
    _assert_same(resolve(identity, config, now=now), expected, identity)


class ShuffledRunner(ReferenceRunner):
    """The reference's pairs in a shuffled order, cut into pieces of random sizes (some empty)."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def candidates(self, plan: CandidatePlan) -> Candidates:
        whole = super().candidates(plan)
        order = self.rng.permutation(len(whole))
        left, right, levels = whole.left[order], whole.right[order], whole.levels[order]
        cuts = np.sort(self.rng.integers(0, len(left) + 1, size=self.rng.integers(0, 5)))
        bounds = [0, *cuts.tolist(), len(left)]
        pieces = [(left[a:b], right[a:b], levels[a:b]) for a, b in itertools.pairwise(bounds)]
        return Candidates(pairs=whole.pairs, pieces=pieces, n=plan.n, width=levels.shape[1])


@given(identity=identity_frames(), config=st.sampled_from(_CONFIGS), chunk=st.integers(1, 9), seed=st.integers(0, 99))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_resolve_does_not_depend_on_the_order_of_the_candidates(identity, config, chunk, seed, small_chunks) -> None:
    # The local runner keeps its pairs unsorted, in the pieces it found them in.
    now = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    expected = resolve(identity, config, now=now, runner=ReferenceRunner())
    small_chunks(chunk)
    _assert_same(resolve(identity, config, now=now, runner=ShuffledRunner(seed)), expected, identity)


def test_a_population_in_shuffled_pieces_gives_the_result_of_the_reference_runner(small_chunks) -> None:
    identity, _ = population(120, seed=5)
    now = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    expected = resolve(identity, now=now, runner=ReferenceRunner())
    small_chunks(37)
    _assert_same(resolve(identity, now=now, runner=ShuffledRunner(3)), expected, identity)


@given(
    rows=st.lists(st.lists(st.integers(-1, 3), min_size=3, max_size=3), min_size=0, max_size=60),
    chunk=st.integers(1, 20), cuts=st.lists(st.integers(0, 60), max_size=4), seed=st.integers(0, 99),
)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_level_patterns_counted_over_shuffled_pieces_are_those_counted_at_once(
    rows, chunk, cuts, seed, monkeypatch
) -> None:
    monkeypatch.setattr(model_module, "PATTERN_CHUNK", chunk)
    levels = np.array(rows, dtype=np.int8).reshape(len(rows), 3)
    sizes = [4, 4, 5]
    shuffled = levels[np.random.default_rng(seed).permutation(len(levels))]
    bounds = [0, *sorted(min(c, len(rows)) for c in cuts), len(rows)]
    pieces = [shuffled[a:b] for a, b in itertools.pairwise(bounds)]
    patterns, counts = model_module._pattern_table(pieces, sizes)
    expected_patterns, expected_counts = _reference_patterns(levels, sizes)
    assert patterns.tolist() == expected_patterns.tolist()
    assert counts.dtype == expected_counts.dtype and counts.tolist() == expected_counts.tolist()


def test_a_population_by_chunks_gives_the_result_of_the_reference_runner(small_chunks) -> None:
    identity, _ = population(120, seed=5)
    now = pd.Timestamp("2026-01-01", tz="UTC").to_pydatetime()
    expected = resolve(identity, now=now, runner=ReferenceRunner())
    assert expected.stats["candidate_pairs"] > 200 and expected.stats["probabilistic_links"] > 0
    small_chunks(37)
    _assert_same(resolve(identity, now=now), expected, identity)


@given(identity=identity_frames(), config=st.sampled_from(_CONFIGS))
@settings(max_examples=40, deadline=None)
def test_explain_calls_a_pair_a_candidate_exactly_when_it_is_one(identity, config) -> None:
    result = resolve(identity, config)
    plan_runner = _Recorder()
    resolve(identity, config, runner=plan_runner)
    rids = result.entity_of.index.to_numpy()
    candidates = set(zip(rids[plan_runner.left].tolist(), rids[plan_runner.right].tolist(), strict=True))
    for a, b in itertools.combinations(rids.tolist(), 2):
        assert result.explain(a, b).candidate == ((a, b) in candidates)


class _Recorder(LocalRunner):
    """The local runner, keeping the candidates it found."""

    def candidates(self, plan: CandidatePlan) -> Candidates:
        found = super().candidates(plan)
        self.left, self.right = found.left.copy(), found.right.copy()
        return found


def test_record_numbers_are_kept_compact() -> None:
    identity, _ = population(40, seed=3)
    recorder = _Recorder()
    resolve(identity, runner=recorder)
    assert recorder.left.dtype == np.int32 and recorder.right.dtype == np.int32
    unknown = record("crm", "nobody")["_rid"]
    with pytest.raises(KeyError, match="not an identity record"):
        resolve(identity).explain(unknown, identity["_rid"].iloc[0])


def test_whole_address_codes_stay_distinct_when_their_product_passes_int32() -> None:
    # 40,000 streets x 1,001 units x 40,000 postal codes: the combined code needs 64 bits.
    from reconcile.match._compare import AddressComparator
    from reconcile.match._config import AddressComparison

    rng = np.random.default_rng(4)
    n = 40_000
    streets = [f"{i} main st" for i in range(n)]
    units = [f"u{i % 1000}" for i in range(n)]
    postals = [f"{i:05d}" for i in range(n)]
    order = rng.permutation(n)
    data = pd.DataFrame({
        "_n_street": pd.Series(streets, dtype=object),
        "_n_unit": pd.Series(np.array(units, dtype=object)[order], dtype=object),
        "_n_postal": pd.Series(np.array(postals, dtype=object)[rng.permutation(n)], dtype=object),
    })
    data.loc[: n // 2, "_n_postal"] = data.loc[: n // 2, "_n_postal"].iloc[0]  # half share one postal code
    columns = {name: Column.of(data, name) for name in data.columns}
    assert all(c.codes.dtype == np.int32 for c in columns.values())
    address = AddressComparator("address", columns["_n_street"], columns["_n_unit"], columns["_n_postal"],
                                AddressComparison())
    expected = pd.factorize(pd.Series(list(zip(data["_n_street"], data["_n_unit"], data["_n_postal"], strict=True))))[0]
    assert address.whole.tolist() == expected.tolist()
    assert address.whole_counts.tolist() == [1] * n


def _reference_factorize_text(values) -> tuple[np.ndarray, np.ndarray]:
    """factorize_text as it was: every column's distinct values stripped and factorised again (by
    factorize_objects: pd.factorize's codes, but text that differs after a NUL character kept apart)."""
    from reconcile._factorize import factorize_objects
    from reconcile.match._compare import _as_text

    raw = np.asarray(values, dtype=object)
    codes, uniques = factorize_objects(raw)
    if pd.api.types.infer_dtype(uniques, skipna=True) == "string":
        stripped = pd.Series(uniques, dtype=object).str.strip()
        texts = stripped.where(stripped != "", None).to_numpy(dtype=object)
    else:
        texts = np.array([_as_text(u) for u in uniques], dtype=object)
    text_codes, text_uniques = factorize_objects(texts)
    text_codes = np.append(text_codes, -1).astype(np.int64)
    return text_codes[codes], np.asarray(text_uniques, dtype=object)


_TEXT = st.sampled_from(["ann", " ann", "ann ", "", "  ", "bo", "b o", "\tbo", "x\u00a0", "\x1cx", "x\u2003", "a\x1cb",
                         "\x00", "ann\x00", " ann\x00x", "\x00 "])


@given(values=st.lists(_TEXT | st.none(), max_size=30) | st.lists(_TEXT | st.none() | st.integers(0, 3), max_size=30)
       | st.lists(_TEXT, max_size=30), by_arrow=st.booleans())
@example(values=["ann", "ann\x00", "", "\x00"], by_arrow=True)
@example(values=["ann", "ann\x00", "", "\x00"], by_arrow=False)
@settings(max_examples=300, deadline=None)
def test_factorize_text_gives_what_it_gave_before_its_quick_path(values, by_arrow) -> None:
    """The same codes as before, but text that differs after a NUL character is never one value (columns of
    text are coded by Arrow from ARROW_ROWS rows on)."""
    import reconcile._factorize as factorize_module
    from reconcile.match._compare import factorize_text

    saved = factorize_module.ARROW_ROWS
    factorize_module.ARROW_ROWS = 0 if by_arrow else 10**9
    try:
        codes, uniques = factorize_text(values)
    finally:
        factorize_module.ARROW_ROWS = saved
    expected_codes, expected_uniques = _reference_factorize_text(values)
    assert codes.tolist() == expected_codes.tolist()
    assert uniques.tolist() == expected_uniques.tolist()
    if "ann" in values and "ann\x00" in values:
        assert codes[values.index("ann")] != codes[values.index("ann\x00")]


@given(
    values=st.lists(st.text(alphabet="abc", max_size=6), min_size=2, max_size=12),
    metric=st.sampled_from(["levenshtein", "damerau_levenshtein", "hamming"]),
    max_distances=st.sampled_from([[1], [1, 2], [2], [1, 3]]),
)
@settings(max_examples=150, deadline=None)
def test_edit_distance_levels_equal_each_distance_computed_alone(values, metric, max_distances) -> None:
    # The comparator skips values whose lengths alone put them at the cap; the levels must not change.
    from rapidfuzz.distance import OSA, Hamming, Levenshtein

    from reconcile.match._compare import EditDistanceComparator
    from reconcile.match._config import EditDistanceComparison

    column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
    comparator = EditDistanceComparator(
        "v", column, EditDistanceComparison(column="v", metric=metric, max_distances=max_distances)
    )
    left, right = (np.array(side, dtype=np.int64) for side in zip(*itertools.combinations(range(len(values)), 2),
                                                                   strict=True))
    levels = comparator.compare(left, right)
    distance = {"levenshtein": Levenshtein.distance, "damerau_levenshtein": OSA.distance,
                "hamming": Hamming.distance}[metric]
    for k, (i, j) in enumerate(zip(left.tolist(), right.tolist(), strict=True)):
        a, b = column.value(i), column.value(j)
        if a is None or b is None:
            expected = -1
        elif a == b:
            expected = comparator.exact_level
        elif metric == "hamming" and len(a) != len(b):
            expected = 0
        else:
            d = distance(a, b)
            # Level 1 is the largest distance allowed, the highest fuzzy level the smallest.
            expected = sum(1 for limit in max_distances if d <= limit)
        assert levels[k] == expected, (a, b, metric, max_distances)


@given(
    values=st.lists(st.text(alphabet="abc", max_size=6), min_size=6, max_size=14, unique=True),
    metric=st.sampled_from(["levenshtein", "damerau_levenshtein", "hamming"]),
    max_distances=st.sampled_from([[1], [1, 2], [2], [1, 3]]),
)
@settings(max_examples=100, deadline=None)
def test_a_few_pairs_compared_alone_give_the_levels_all_pairs_give(values, metric, max_distances) -> None:
    # A finding's evidence compares a pair or two: their values' lengths are counted, not every value's.
    from reconcile.match._compare import EditDistanceComparator
    from reconcile.match._config import EditDistanceComparison

    def comparator() -> EditDistanceComparator:
        column = Column.of(pd.DataFrame({"v": pd.Series(values, dtype=object)}), "v")
        return EditDistanceComparator(
            "v", column, EditDistanceComparison(column="v", metric=metric, max_distances=max_distances)
        )

    left, right = (np.array(side, dtype=np.int64) for side in zip(*itertools.combinations(range(len(values)), 2),
                                                                   strict=True))
    together = comparator().compare(left, right)
    for k in range(len(left)):
        alone = comparator()  # nothing counted yet: the few-pairs path
        assert alone.compare(left[k : k + 1], right[k : k + 1]).tolist() == [together[k]]
        known = alone.__dict__.get("_known_lengths")
        assert known is None or int((known >= 0).sum()) <= 2  # the pair's values only
