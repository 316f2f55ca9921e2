"""A link's evidence as data: compact explanations, chains of links, and findings' evidence."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from match_helpers import frame, record

from reconcile.findings import Finding, RecordRef
from reconcile.match import attach_match_evidence, resolve
from reconcile.match._evidence import MAX_EVIDENCE_LINKS

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
