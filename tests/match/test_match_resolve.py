"""resolve on small hand-built frames (with a synthetic population behind them)."""

from __future__ import annotations

import hashlib
import math
import re

import pandas as pd
import pytest
from match_helpers import frame, pairwise, population, record

from reconcile.match import LinkExplanation, MatchingConfig, MatchResult, resolve

NO_RULES = {name: {"enabled": False} for name in MatchingConfig().deterministic}


@pytest.fixture(scope="module")
def background() -> pd.DataFrame:
    """Two hundred other people, so the model is estimated on a realistic population."""
    people, _ = population(200, seed=11)
    return people


def _with(background: pd.DataFrame, *rows: dict) -> pd.DataFrame:
    return pd.concat([frame(rows), background], ignore_index=True)


ROBERT = {
    "_n_given": "robert", "_n_family": "smith", "_n_street": "12 n maple st", "_n_unit": "4b",
    "_n_postal": "10001",
}


def test_same_person_written_differently_links(background: pd.DataFrame) -> None:
    identity = _with(
        background,
        record("billing", "AC-1", **ROBERT, _n_phone="+12125550101", birth_date="1970-03-02"),
        # The CRM has a typo in the family name, no phone, no unit.
        record("crm", "C-1", **{**ROBERT, "_n_family": "smtih", "_n_unit": None}, _n_email="bob@example.com",
               birth_date="1970-03-02"),
        # The inventory writes no unit and a street with a typo, but has the phone.
        record("inventory", "SL-1", **{**ROBERT, "_n_street": "12 n mapel st", "_n_unit": None},
               _n_phone="+12125550101"),
    )
    result = resolve(identity, MatchingConfig(deterministic=NO_RULES))
    ids = ["billing:account:AC-1", "crm:contact:C-1", "inventory:service_line:SL-1"]
    assert result.entity_of[ids].nunique() == 1
    ours = result.links[result.links.rid_l.isin(ids) & result.links.rid_r.isin(ids)]
    assert len(ours) >= 2
    assert set(ours.method) == {"probabilistic"}
    assert (ours.probability >= 0.9).all()
    assert not result.entity_of.drop(ids).isin([result.entity_of[ids[0]]]).any()


def test_two_people_sharing_a_common_surname_and_city_do_not_link(background: pd.DataFrame) -> None:
    identity = _with(
        background,
        record("billing", "AC-1", _n_given="mary", _n_family="smith", _n_street="12 n maple st",
               _n_postal="10001", _n_phone="+12125550101"),
        record("crm", "C-2", _n_given="john", _n_family="smith", _n_street="877 oak ave",
               _n_postal="10001", _n_phone="+12125550199"),
    )
    result = resolve(identity)
    a, b = "billing:account:AC-1", "crm:contact:C-2"
    assert result.entity_of[a] != result.entity_of[b]
    why = result.explain(a, b)
    assert why.candidate  # blocked together (soundex of smith + postal code)...
    assert not why.linked and not why.same_entity
    assert why.probability < 0.01  # ...and clearly told apart
    assert why.field("family_name").level == "exact"
    assert why.field("given_name").level == "else" and why.field("given_name").weight < 0


@pytest.mark.parametrize(
    ("rule", "left", "right"),
    [
        ("email", {"_n_given": "ana", "_n_email": "ana@x.example"},
         {"_n_given": "ana", "_n_family": "lopez", "_n_email": "ana@x.example"}),
        ("phone_family", {"_n_given": "li", "_n_family": "wei", "_n_phone": "+13125550100"},
         {"_n_family": "wei", "_n_phone": "+13125550100", "_n_postal": "60601"}),
        ("company_phone", {"_n_company": "acme plumbing", "_n_phone": "+13125550100"},
         {"_n_company": "acme plumbing", "_n_phone": "+13125550100", "_n_given": "joe"}),
        ("vin", {"_n_family": "novak", "_n_vin": "1HGCM82633A004352"},
         {"_n_family": "novak", "_n_given": "eva", "_n_vin": "1HGCM82633A004352"}),
        ("person_address", {**ROBERT}, {**ROBERT, "_n_email": "r@x.example"}),
    ],
)
def test_deterministic_rules_link_on_exact_keys(rule: str, left: dict, right: dict) -> None:
    identity = frame([record("billing", "A", **left), record("dealer", "B", **right)])
    result = resolve(identity)
    assert len(result.links) == 1
    link = result.links.iloc[0]
    assert link.method == f"deterministic:{rule}"
    assert link.probability == 1.0
    assert result.confidence.tolist() == [1.0, 1.0]
    assert result.entity_of.nunique() == 1
    assert result.explain("billing:account:A", "dealer:vehicle:B").deterministic_rule == rule


def test_a_disabled_rule_does_not_link() -> None:
    rows = [record("billing", "A", _n_email="ana@x.example"), record("crm", "B", _n_email="ana@x.example")]
    assert resolve(frame(rows)).links.method.tolist() == ["deterministic:email"]
    quiet = resolve(frame(rows), MatchingConfig(deterministic={"email": {"enabled": False}}))
    assert not quiet.links.method.str.startswith("deterministic").any()


def test_placeholder_keys_shared_by_many_records_are_ignored() -> None:
    rows = [record("billing", f"A{i}", _n_phone="+10000000000", _n_family="doe") for i in range(8)]
    config = MatchingConfig(deterministic={"phone_family": {"max_group_size": 5}})
    result = resolve(frame(rows), config)
    assert not result.links.method.eq("deterministic:phone_family").any()


def test_a_household_shares_phone_and_name_but_the_given_name_vetoes_the_rule(background: pd.DataFrame) -> None:
    home = {"_n_family": "garcia", "_n_phone": "+13055550123", "_n_street": "5 palm ct", "_n_postal": "33101"}
    identity = _with(
        background,
        record("billing", "A", _n_given="maria", **home, _n_email="maria@x.example"),
        record("crm", "B", _n_given="jose", **home, _n_email="jose@x.example"),
    )
    a, b = "billing:account:A", "crm:contact:B"
    loose = resolve(identity)
    why = loose.explain(a, b)
    assert why.deterministic_rule == "phone_family"
    assert why.vetoed_by == ["given_name"]
    assert not why.method or not why.method.startswith("deterministic")
    strict = resolve(identity, MatchingConfig(veto=["given_name"]))
    assert strict.entity_of[a] != strict.entity_of[b]
    assert strict.explain(a, b).veto == ["given_name"]
    assert "veto" in strict.explain(a, b).text()


def test_a_mistyped_dealer_vin_links_on_vin_name_and_address(background: pd.DataFrame) -> None:
    owner = {"_n_given": "eva", "_n_family": "novak", "_n_street": "40 elm st", "_n_postal": "44101"}
    identity = _with(
        background,
        record("recalls", "N1", **owner, _n_vin="1HGCM82633A004352"),
        record("dealer", "V1", **owner, _n_vin="1HGCM82633A004362", _n_phone="+12165550101"),
    )
    result = resolve(identity, MatchingConfig(deterministic={"person_address": {"enabled": False}}))
    notice, vehicle = "recalls:recall_notice:N1", "dealer:vehicle:V1"
    assert result.entity_of[notice] == result.entity_of[vehicle]
    why = result.explain(notice, vehicle)
    assert why.method == "probabilistic"
    vin = why.field("vin")
    assert vin.level == "hamming<=1" and vin.weight > 0
    assert {vin.value_l, vin.value_r} == {"1HGCM82633A004352", "1HGCM82633A004362"}


def test_two_businesses_in_one_building_stay_apart(background: pd.DataFrame) -> None:
    building = {"_n_street": "100 main st", "_n_postal": "10001"}
    identity = _with(
        background,
        record("billing", "B1", _n_company="harbor dental", _n_unit="200", _n_phone="+12125550111", **building),
        record("inventory", "L1", _n_company="harbor dental", _n_unit="200", **building),
        record("billing", "B2", _n_company="peak logistics", _n_unit="310", _n_phone="+12125550222", **building),
    )
    result = resolve(identity)
    e = result.entity_of
    assert e["billing:account:B1"] == e["inventory:service_line:L1"]
    assert e["billing:account:B1"] != e["billing:account:B2"]
    why = result.explain("billing:account:B1", "billing:account:B2")
    assert why.field("company").level == "else"
    assert why.field("address").level == "same street and postal code, another unit"


def test_explanations_carry_per_field_evidence(background: pd.DataFrame) -> None:
    identity = _with(
        background,
        record("billing", "AC-1", **ROBERT, _n_phone="+12125550101", _n_email="rs@x.example"),
        record("crm", "C-1", **{**ROBERT, "_n_family": "smtih"}, _n_phone="+12125550101"),
    )
    result = resolve(identity, MatchingConfig(deterministic=NO_RULES))
    why = result.explain("crm:contact:C-1", "billing:account:AC-1")  # either order
    assert isinstance(why, LinkExplanation)
    assert (why.rid_l, why.rid_r) == ("billing:account:AC-1", "crm:contact:C-1")
    assert [f.comparison for f in why.fields] == list(MatchingConfig().comparisons)
    family = why.field("family_name")
    assert (family.value_l, family.value_r) == ("smith", "smtih")
    assert family.level.startswith("jaro_winkler>=") and family.weight > 0
    assert family.columns == ["_n_family"]
    phone = why.field("phone")
    assert phone.level == "exact" and phone.weight > 10
    assert 0 < phone.u < phone.m <= 1
    email = why.field("email")
    assert email.level == "missing" and email.weight == 0 and email.m is None
    address = why.field("address")
    assert address.level == "exact" and address.value_l == "12 n maple st | 4b | 10001"
    assert why.score == pytest.approx(why.prior_weight + sum(f.weight for f in why.fields))
    assert why.probability == pytest.approx(1 / (1 + 2 ** -why.score))
    assert why.threshold == 0.9
    assert why.linked and why.same_entity and why.method == "probabilistic"
    link = result.links[(result.links.rid_l == why.rid_l) & (result.links.rid_r == why.rid_r)].iloc[0]
    assert link.score == pytest.approx(why.score)
    assert link.probability == pytest.approx(why.probability)
    text = why.text()
    assert "family_name" in text and "'smtih'" in text and "linked (probabilistic)" in text


def test_term_frequency_makes_a_rare_surname_stronger_evidence(background: pd.DataFrame) -> None:
    common = background["_n_family"].value_counts().index[0]
    identity = _with(
        background,
        record("billing", "A1", _n_given="zoe", _n_family=common, _n_postal="90001"),
        record("crm", "A2", _n_given="zoe", _n_family=common, _n_postal="90001"),
        record("billing", "B1", _n_given="zoe", _n_family="quennell", _n_postal="90001"),
        record("crm", "B2", _n_given="zoe", _n_family="quennell", _n_postal="90001"),
    )
    result = resolve(identity)
    common_weight = result.explain("billing:account:A1", "crm:contact:A2").field("family_name")
    rare_weight = result.explain("billing:account:B1", "crm:contact:B2").field("family_name")
    assert common_weight.level == rare_weight.level == "exact"
    assert rare_weight.weight > common_weight.weight + 2
    assert rare_weight.value_frequency < common_weight.value_frequency


def test_links_confidence_and_entity_ids(background: pd.DataFrame) -> None:
    people, truth = population(60, seed=3)
    result = resolve(people)
    assert isinstance(result, MatchResult)
    assert list(result.links.columns) == ["rid_l", "rid_r", "score", "probability", "method"]
    assert (result.links.rid_l < result.links.rid_r).all()
    assert set(result.entity_of.index) == set(people["_rid"])
    assert all(re.fullmatch(r"E[0-9a-f]{12}", e) for e in result.entity_of)
    # An entity is named after its smallest rid.
    for entity, members in result.entity_of.groupby(result.entity_of):
        smallest = min(members.index)
        assert entity == "E" + hashlib.sha1(smallest.encode()).hexdigest()[:12]
    deterministic = result.links[result.links.method.str.startswith("deterministic:")]
    probabilistic = result.links[result.links.method == "probabilistic"]
    assert (deterministic.probability == 1.0).all()
    assert (probabilistic.probability >= 0.9).all() and (probabilistic.probability <= 1).all()
    linked = set(result.links.rid_l) | set(result.links.rid_r)
    singletons = result.entity_of.index.difference(list(linked))
    assert (result.confidence[singletons] == 1.0).all()
    assert ((result.confidence >= 0.9) & (result.confidence <= 1.0)).all()
    for rid in probabilistic.rid_l:
        if rid not in set(deterministic.rid_l) | set(deterministic.rid_r):
            mine = result.links[(result.links.rid_l == rid) | (result.links.rid_r == rid)]
            assert result.confidence[rid] == pytest.approx(mine.probability.max())
    assert result.stats["entities"] == result.entity_of.nunique()
    assert result.stats["deterministic_links"] + result.stats["probabilistic_links"] == len(result.links)
    again = resolve(people)
    pd.testing.assert_series_equal(result.entity_of, again.entity_of)


def test_members_and_repr() -> None:
    rows = [record("billing", "A", _n_email="a@x.example"), record("crm", "B", _n_email="a@x.example"),
            record("crm", "C", _n_email="c@x.example")]
    result = resolve(frame(rows))
    entity = result.entity_of["billing:account:A"]
    assert result.members(entity) == ["billing:account:A", "crm:contact:B"]
    assert repr(result) == "MatchResult(records=3, entities=2, links=1)"


def test_one_record_per_source_constraint_keeps_linking_one_to_one(background: pd.DataFrame) -> None:
    twin = {"_n_given": "eli", "_n_family": "marsh", "_n_street": "9 bay rd", "_n_postal": "02101"}
    identity = _with(
        background,
        record("billing", "A", **twin, _n_phone="+16175550100"),
        record("crm", "B1", **twin, _n_phone="+16175550100"),
        record("crm", "B2", **twin),
    )
    free = resolve(identity, MatchingConfig(deterministic=NO_RULES))
    assert free.entity_of[["billing:account:A", "crm:contact:B1", "crm:contact:B2"]].nunique() == 1
    config = MatchingConfig(deterministic=NO_RULES, clustering={"constraints": [{"source": "crm"}]})
    held = resolve(identity, config)
    e = held.entity_of
    # The stronger link (same phone too) wins; the other crm record stays apart.
    assert e["billing:account:A"] == e["crm:contact:B1"] != e["crm:contact:B2"]
    assert held.stats["links_dropped_by_constraints"] >= 1
    per_entity = held.entity_of[held.entity_of.index.str.startswith("crm:")].value_counts()
    assert per_entity.max() == 1


def test_sorted_neighbourhood_pass_finds_pairs_blocks_miss() -> None:
    # No phone, email or address: no block pass pairs them, a window over sorted names does.
    rows = [
        record("billing", "A", _n_given="katherine", _n_family="oconnell", birth_date="1961-01-01"),
        record("crm", "B", _n_given="katherine", _n_family="oconnel", birth_date="1961-01-01"),
    ]
    assert not resolve(frame(rows)).explain("billing:account:A", "crm:contact:B").candidate
    config = MatchingConfig(blocking={"names": {"kind": "sorted_neighbourhood", "on": ["_n_person"], "window": 3}})
    why = resolve(frame(rows), config).explain("billing:account:A", "crm:contact:B")
    assert why.candidate


def test_deterministic_only_without_comparisons() -> None:
    config = MatchingConfig(
        inherit_defaults=False, deterministic={"email": {"columns": ["_n_email"]}}, blocking={}
    )
    rows = [record("billing", "A", _n_email="a@x.example"), record("crm", "B", _n_email="a@x.example"),
            record("crm", "C", _n_email="b@x.example")]
    result = resolve(frame(rows), config)
    assert result.model is None
    assert result.links.method.tolist() == ["deterministic:email"]
    assert result.entity_of.nunique() == 2
    assert result.explain("billing:account:A", "crm:contact:C").fields == []


def test_empty_and_single_record_frames() -> None:
    empty = resolve(frame([]))
    assert len(empty.entity_of) == 0 and len(empty.links) == 0 and len(empty.confidence) == 0
    one = resolve(frame([record("billing", "A", _n_given="ann")]))
    assert one.entity_of.tolist() == ["E" + hashlib.sha1(b"billing:account:A").hexdigest()[:12]]
    assert one.confidence.tolist() == [1.0]


def test_bad_input_is_refused_with_a_helpful_error() -> None:
    rows = frame([record("billing", "A"), record("crm", "B")])
    with pytest.raises(ValueError, match="_n_vin .*comparisons.vin.*disable"):
        resolve(rows.drop(columns=["_n_vin"]))
    with pytest.raises(ValueError, match="unique"):
        resolve(pd.concat([rows, rows]))
    with pytest.raises(ValueError, match="'_rid'"):
        resolve(rows.drop(columns=["_rid"]))
    with pytest.raises(ValueError, match="need a '_source' column"):
        resolve(rows.drop(columns=["_source"]), MatchingConfig(clustering={"constraints": [{"source": "crm"}]}))
    result = resolve(rows)
    with pytest.raises(KeyError, match="not an identity record"):
        result.explain("billing:account:A", "nowhere:x:1")
    with pytest.raises(ValueError, match="two different records"):
        result.explain("billing:account:A", "billing:account:A")


def test_model_parameters_are_exposed(background: pd.DataFrame) -> None:
    result = resolve(background)
    assert result.model is not None
    params = result.model.to_dict()
    assert 0 < params["prior"] < 0.5
    assert math.isclose(params["prior_weight"], math.log2(params["prior"] / (1 - params["prior"])))
    for field in params["fields"]:
        assert math.isclose(sum(field["m"]), 1.0) and math.isclose(sum(field["u"]), 1.0)
        assert field["weights"][-1] > 0 > field["weights"][0]  # exact agreement for, "else" against


def test_link_within_source_false_links_across_sources_only() -> None:
    people, truth = population(150, seed=4)
    both = resolve(people)
    across = resolve(people, MatchingConfig(link_within_source=False))
    source = people.set_index("_rid")["_source"]
    assert (source[across.links.rid_l].to_numpy() != source[across.links.rid_r].to_numpy()).all()
    assert across.stats["candidate_pairs"] < both.stats["candidate_pairs"]
    # The population has each person once per source: nothing true is lost.
    precision, recall = pairwise(across.entity_of, truth)
    assert precision >= 0.99 and recall >= 0.99
    assert across.explain(*across.links.iloc[0][["rid_l", "rid_r"]]).candidate
    with pytest.raises(ValueError, match="link_within_source: false needs a '_source' column"):
        resolve(people.drop(columns=["_source"]), MatchingConfig(link_within_source=False))


def test_sources_that_differ_after_a_nul_character_are_different_sources() -> None:
    """link_within_source: false keeps records of one source apart; "crm" and "crm\\x00" are two sources."""
    rows = [record(source, "A", _n_given="ann", _n_family="lee", _n_email="ann@example.com", _type="contact")
            for source in ("crm", "crm\x00")]
    result = resolve(frame(rows), MatchingConfig(link_within_source=False))
    assert result.link_count == 1 and result.entity_of.nunique() == 1


def test_repeated_rids_are_refused_naming_them() -> None:
    rows = [record("billing", k, _n_family="lee") for k in ("A", "B", "C", "B", "D", "A", "B")]
    with pytest.raises(ValueError, match=r"'_rid' must be unique; duplicated: \['billing:account:A', 'billing:account:B'\]"):
        resolve(frame(rows))
    # Unique as text: the records are kept by their rid's text.
    numbered = frame([record("billing", "A"), record("billing", "B")])
    numbered["_rid"] = pd.Series([1, "1"], dtype=object)
    with pytest.raises(ValueError, match=r"duplicated: \['1'\]"):
        resolve(numbered)
    assert resolve(frame(rows[:3])).entity_of.index.is_unique
