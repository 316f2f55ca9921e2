"""A link's evidence as data: compact explanations, chains of links, and findings' evidence."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from match_helpers import frame, identity_frames, population, record

from reconcile.findings import Finding, RecordRef
from reconcile.match import MatchingConfig, attach_match_evidence, resolve
from reconcile.match._evidence import MAX_EVIDENCE_LINKS, _Parents, finding_evidence

A, B, C, D = ("billing:account:A", "crm:contact:B", "inventory:service_line:C", "dealer:vehicle:D")


@pytest.fixture(scope="module")
def chain():  # type: ignore[no-untyped-def]
    """A -email- B -phone and family name- C; D is someone else. A and C meet only through B."""
    identity = frame([
        record("billing", "A", _n_given="ana", _n_family="lopez", _n_email="ana@x.example"),
        record("crm", "B", _n_given="ana", _n_family="lopez", _n_email="ana@x.example", _n_phone="+13125550100"),
        record("inventory", "C", _n_family="lopez", _n_phone="+13125550100"),
        record("dealer", "D", _n_given="zed", _n_family="quux", _n_vin="1HGCM82633A004352"),
    ])
    return resolve(identity)


def test_path_follows_accepted_links(chain) -> None:  # type: ignore[no-untyped-def]
    assert chain.entity_of[[A, B, C]].nunique() == 1
    assert not chain.explain(A, C).linked and chain.explain(A, C).same_entity
    assert chain.path(A, C) == [A, B, C]
    assert chain.path(C, A) == [C, B, A]
    assert chain.path(A, B) == [A, B]
    assert chain.path(A, A) == [A]
    assert chain.path(A, D) == []
    with pytest.raises(KeyError, match="nobody"):
        chain.path(A, "nobody")


def test_compact_explanation_is_small_json(chain) -> None:  # type: ignore[no-untyped-def]
    compact = chain.explain(A, B).compact()
    assert json.loads(json.dumps(compact)) == compact
    assert compact["linked"] and compact["method"] == "deterministic" and compact["rule"] == "email"
    assert compact["threshold"] == chain.config.threshold
    by_name = {f["comparison"]: f for f in compact["fields"]}
    assert by_name["email"] == {"comparison": "email", "value_l": "ana@x.example", "value_r": "ana@x.example",
                                "level": "exact", "weight": by_name["email"]["weight"]}
    assert by_name["email"]["weight"] > 0
    assert "vin" not in by_name  # missing on both sides: left out
    apart = chain.explain(A, D).compact()
    assert not apart["linked"] and apart["method"] is None and apart["rule"] is None
    assert not apart["same_entity"]


def _finding(subject: RecordRef, *records: RecordRef, **detail: object) -> Finding:
    return Finding(rule_id="r", kind="k", severity="high", owner="o", subject=subject,
                   records=[subject, *records], story="s", detail=dict(detail))


def _ref(rid: str) -> RecordRef:
    source, record_type, key = rid.split(":")
    return RecordRef(source=source, record_type=record_type, key=key)


def test_findings_get_the_chain_that_joins_their_records(chain) -> None:  # type: ignore[no-untyped-def]
    payments = pd.DataFrame({"_rid": ["billing:payment:P1", "billing:payment:P2"],
                             "_parent_rid": [A, None]})
    tables = {"payment": payments}
    spanning = _finding(_ref("billing:payment:P1"), _ref(C))          # a payment of A, and C
    alone = _finding(_ref(A), _ref("billing:payment:P1"))             # A and its own payment: one record
    orphan = _finding(_ref("billing:payment:P2"), _ref(B))            # no parent: anchored on B alone
    apart = _finding(_ref(A), _ref(D))                                 # two customers
    kept = _finding(_ref(A), _ref(B), match="the rule's own")
    before = [f.fingerprint for f in (spanning, alone, orphan, apart, kept)]
    assert attach_match_evidence([spanning, alone, orphan, apart, kept], tables, chain) == 2
    assert [f.fingerprint for f in (spanning, alone, orphan, apart, kept)] == before
    evidence = spanning.detail["match"]
    assert evidence["records"] == [A, C]
    assert [(x["rid_l"], x["rid_r"]) for x in evidence["links"]] == [
        (min(A, B), max(A, B)), (min(B, C), max(B, C))
    ]
    assert [x["rule"] for x in evidence["links"]] == ["email", "phone_family"]
    assert evidence["omitted"] == 0 and "not_linked" not in evidence
    assert "match" not in alone.detail and "match" not in orphan.detail
    assert apart.detail["match"]["not_linked"] == [D]
    assert apart.detail["match"]["links"][0]["linked"] is False
    assert kept.detail["match"] == "the rule's own"


def test_a_subject_outside_its_records_is_read_as_one_leading_them(chain) -> None:  # type: ignore[no-untyped-def]
    """Rules put the subject first among the records; a finding that does not still has it read."""
    leading = _finding(_ref(A), _ref(C))                                   # records [A, C], A the same object
    apart = Finding(rule_id="r", kind="k", severity="high", owner="o", subject=_ref(A), records=[_ref(C)], story="s")
    equal = Finding(rule_id="r", kind="k", severity="high", owner="o", subject=_ref(A),
                    records=[_ref(A), _ref(C)], story="s")                  # an equal subject, another object
    assert attach_match_evidence([leading, apart, equal], {}, chain) == 3
    assert leading.detail["match"]["records"] == [A, C]
    assert apart.detail["match"] == leading.detail["match"] == equal.detail["match"]


def test_evidence_is_capped(chain) -> None:  # type: ignore[no-untyped-def]
    many = frame([record("crm", f"K{i}", _n_given="ana", _n_family="lopez",
                         _n_phone=f"+1312555{i:04d}", _n_email=f"a{i}@x.example" if i % 2 else f"a{i - 1}@x.example")
                  for i in range(12)]
                 + [record("billing", f"P{i}", _n_given="ana", _n_family="lopez", _n_phone=f"+1312555{i:04d}")
                    for i in range(12)])
    result = resolve(many)
    rids = sorted(result.entity_of.index)
    finding = _finding(_ref(rids[0]), *[_ref(r) for r in rids[1:]])
    attach_match_evidence([finding], {}, result)
    evidence = finding.detail["match"]
    assert len(evidence["links"]) == MAX_EVIDENCE_LINKS
    assert evidence["omitted"] + len(evidence["links"]) + len(evidence.get("not_linked", [])) >= len(rids) - 1


def test_evidence_is_attached_with_fewer_collections_and_the_collector_is_restored(chain) -> None:  # type: ignore[no-untyped-def]
    import gc

    from reconcile.rules.engine import GC_YOUNG_THRESHOLD

    seen: list[int] = []

    class Watching(dict):  # type: ignore[type-arg]
        def __contains__(self, key: object) -> bool:
            seen.append(gc.get_threshold()[0])
            return super().__contains__(key)

    before = gc.get_threshold()
    finding = _finding(_ref(A), _ref(C))
    finding.detail = Watching()
    assert attach_match_evidence([finding], {}, chain) == 1
    assert seen and all(t == max(before[0], GC_YOUNG_THRESHOLD) for t in seen)
    assert gc.get_threshold() == before
    assert finding.detail["match"]["records"] == [A, C]


_rid_cells = st.one_of(st.none(), st.just(float("nan")), st.sampled_from([A, B, C, "x", "1"]), st.integers(0, 3))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["r1", "r2", "r3", 7, "r4"]), _rid_cells), max_size=12))
def test_parents_read_as_the_whole_table_filter_reads_them(rows: list[tuple[object, object]]) -> None:
    """The parents map reads two columns: the same dict as filtering the whole table first."""
    table = pd.DataFrame({"_rid": [r for r, _ in rows], "other": range(len(rows)),
                          "_parent_rid": pd.Series([p for _, p in rows], dtype=object)})
    known = table[table["_parent_rid"].notna()]
    expected = dict(zip(known["_rid"].astype(str), known["_parent_rid"].astype(str), strict=True))
    parents = _Parents({"payment": table}, set())
    assert parents._load("payment") == expected
    assert list(parents._load("payment")) == list(expected)


_RIDS = [f"s:{t}:{k}" for t in ("account", "payment", "invoice") for k in ("1", "2", "3")]


@settings(max_examples=80, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["payment", "invoice", "account"]),
                    st.lists(st.tuples(st.sampled_from(_RIDS), st.one_of(st.none(), st.sampled_from(_RIDS))),
                             max_size=8)),
    st.sets(st.sampled_from(_RIDS)),
    st.sets(st.sampled_from(_RIDS)),
)
def test_parents_of_the_named_rids_lead_where_the_whole_maps_lead(
    rows: dict[str, list[tuple[str, str | None]]], identity: set[str], wanted: set[str]
) -> None:
    """Maps narrowed to the findings' rids follow every chain (parents of parents too) as the whole maps do."""
    tables = {t: pd.DataFrame({"_rid": [r for r, _ in pairs], "_parent_rid": pd.Series([p for _, p in pairs],
                                                                                       dtype=object)})
              for t, pairs in rows.items()}
    whole, narrowed = _Parents(tables, identity), _Parents(tables, identity, wanted)
    for rid in _RIDS:
        record_type = rid.split(":")[1]
        assert narrowed.identity_rid(rid, record_type) == whole.identity_rid(rid, record_type)


_EXPLAIN_CONFIGS = [
    MatchingConfig(),
    MatchingConfig(veto=["given_name"], threshold=0.5),
    MatchingConfig.model_validate({"classifier": "logistic"}),
]


@given(identity=identity_frames(), config=st.sampled_from(range(len(_EXPLAIN_CONFIGS))), data=st.data())
@settings(max_examples=40, deadline=None)
def test_pairs_explained_at_once_are_those_explained_one_by_one(identity, config, data) -> None:  # type: ignore[no-untyped-def]
    """Comparisons, term frequencies and link lookups made on arrays give each pair its own explanation."""
    matching = _EXPLAIN_CONFIGS[config]
    if matching.classifier == "logistic":
        matching = matching.model_copy(update={"training_pairs": None})
    try:
        result = resolve(identity, matching)
    except ValueError:  # a logistic classifier with no labels to learn from
        return
    rids = sorted(identity["_rid"])
    pool = [*rids, "nobody:contact:X"]
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(pool), st.sampled_from(pool)), max_size=25))
    pairs += list(itertools.combinations(rids[:6], 2))
    for (a, b), got in zip(pairs, result.explain_compact(pairs), strict=True):
        try:
            expected = result.explain(a, b).compact()
        except (KeyError, ValueError) as exc:
            assert type(got) is type(exc)
            continue
        assert got == expected
        assert json.dumps(got) == json.dumps(expected)  # the same keys in the same order


def test_population_evidence_at_once_is_evidence_one_finding_at_a_time() -> None:
    identity, _ = population(150, seed=4)
    result = resolve(identity)
    rids = sorted(identity["_rid"])
    findings = [_finding(_ref(a), _ref(b), _ref(c)) for a, b, c in zip(rids[::7], rids[3::7], rids[5::11], strict=False)]
    one_by_one = [finding_evidence(f, result, _Parents({}, set(rids))) for f in findings]
    attach_match_evidence(findings, {}, result)
    assert [f.detail.get("match") for f in findings] == one_by_one


def _reference_path(links: list[tuple[str, str]], entity_of: dict[str, str], a: str, b: str) -> list[str]:
    """path() as it was: a breadth-first search over the lists of every link."""
    if a == b:
        return [a]
    if entity_of[a] != entity_of[b]:
        return []
    neighbours: dict[str, list[str]] = {}
    for left, right in links:
        neighbours.setdefault(left, []).append(right)
        neighbours.setdefault(right, []).append(left)
    came_from: dict[str, str | None] = {a: None}
    frontier = [a]
    while frontier and b not in came_from:
        following = []
        for rid in frontier:
            for other in neighbours.get(rid, ()):
                if other not in came_from:
                    came_from[other] = rid
                    following.append(other)
        frontier = following
    if b not in came_from:
        return []
    chain = [b]
    while (previous := came_from[chain[-1]]) is not None:
        chain.append(previous)
    return chain[::-1]


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(1, 12),
    data=st.data(),
)
def test_path_is_the_search_over_every_link(size: int, data: st.DataObject) -> None:
    """Paths found on one entity's links are those found on all links (shortest, same tie-breaks),
    also when a link joins two entities (clustering can cut links; entities can come from elsewhere)."""
    from reconcile.match._resolve import MatchResult

    rids = [f"s:account:{i}" for i in range(size)]
    entity_of = {rid: f"E{data.draw(st.integers(0, 3), label='entity')}" for rid in rids}
    pairs = data.draw(st.lists(st.tuples(st.sampled_from(rids), st.sampled_from(rids)).filter(lambda p: p[0] != p[1]),
                               max_size=20, unique=True), label="links")
    if data.draw(st.booleans(), label="entities are the linked components"):  # as resolve() makes them
        for left, right in pairs:
            old, new = entity_of[left], entity_of[right]
            entity_of = {rid: new if e == old else e for rid, e in entity_of.items()}
    links = pd.DataFrame({"rid_l": [min(p) for p in pairs], "rid_r": [max(p) for p in pairs]}, dtype=object)
    result = MatchResult(
        entity_of=pd.Series(entity_of, dtype=object), confidence=pd.Series(1.0, index=rids), links=links,
        model=None, stats={}, config=MatchingConfig(), explainer=lambda a, b: None,  # type: ignore[arg-type,return-value]
    )
    asked = data.draw(st.lists(st.tuples(st.sampled_from(rids), st.sampled_from(rids)), min_size=1, max_size=15))
    edges = list(zip(links["rid_l"], links["rid_r"], strict=True))
    for a, b in asked:
        assert result.path(a, b) == _reference_path(edges, entity_of, a, b)


def test_a_pickled_result_finds_paths_without_its_lists(chain) -> None:  # type: ignore[no-untyped-def]
    import pickle

    assert chain.path(A, C) == [A, B, C]  # the lists are made
    copy = pickle.loads(pickle.dumps(chain))
    assert copy._link_groups is None and copy._by_entity == {}
    assert copy.path(A, C) == [A, B, C]
    # The state of a result pickled before these lists existed.
    state = {k: v for k, v in chain.__dict__.items() if k not in ("_link_groups", "_by_entity", "_neighbours")}
    restored = type(chain).__new__(type(chain))
    restored.__setstate__(state)
    assert restored.path(C, A) == [C, B, A]
