"""reconcile.testing.rules.RuleContract applied to every shipped rule kind, and to a broken one.

Each context holds the kind's discrepancy and its story's near misses, so
the contract's ``expected`` / ``not_expected`` checks are the stories' own.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from pydantic import ConfigDict

from reconcile.findings import Finding
from reconcile.rules.base import Rule, RuleContext
from reconcile.rules.builtin import (
    BilledNotProvisionedRule,
    DuplicateActiveLineRule,
    FailedAutopayRule,
    MonitoringGapRule,
    NameMismatchRule,
    PaymentMisappliedRule,
    ProvisionedNotBilledRule,
    RecallMissingLocallyRule,
    UnresolvedLowSurveyRule,
)
from reconcile.rules.generic import (
    BalanceRule,
    DuplicateRule,
    FieldMismatchRule,
    MissingInRule,
    StaleRule,
    StatusMismatchRule,
)
from reconcile.rules.registry import rule_classes
from reconcile.testing.rules import RuleContract, make_context

pytest_plugins = ["pytester"]

Rows = dict[str, list[dict[str, Any]]]


def _merge(*worlds: Rows) -> Rows:
    out: Rows = {}
    for world in worlds:
        for record_type, rows in world.items():
            out.setdefault(record_type, []).extend(rows)
    return out


class ExampleContract(RuleContract):
    """A contract built on the kind's documented example, plus near misses."""

    rule_class: ClassVar[type[Rule]]
    near_misses: ClassVar[Rows] = {}

    def make_rule(self) -> Rule:
        example = self.rule_class.example
        assert example is not None
        return example.rule(self.rule_class)

    def make_context(self) -> RuleContext:
        example = self.rule_class.example
        assert example is not None
        return make_context(_merge(dict(example.records), self.near_misses), example.as_of)


# ---------------------------------------------------------------- the nine story kinds

def _payment(pid: str, account: str, when: str, status: str = "failed", code: str | None = "R01") -> dict[str, Any]:
    return {"payment_id": pid, "account_id": account, "amount": 50.0, "attempted_at": when,
            "status": status, "return_code": code if status == "failed" else None, "autopay": True}


class TestFailedAutopay(RuleContract):
    expected = ["AC-1"]
    not_expected = ["AC-2", "AC-3"]  # a success after the failures; a case opened since

    def make_rule(self) -> Rule:
        return FailedAutopayRule(id="failed_autopay", owner="billing", severity="high")

    def make_context(self) -> RuleContext:
        rows: Rows = {"account": [], "payment": [], "invoice": []}
        for n in (1, 2, 3):
            account = f"AC-{n}"
            rows["account"].append({"account_id": account, "name": f"LEE, ANN{n}", "autopay": True,
                                    "autopay_method": "ach", "_entity": f"E-{n}"})
            last = "succeeded" if n == 2 else "failed"
            rows["payment"] += [_payment(f"P-{n}a", account, "2026-08-02T10:00:00Z"),
                                _payment(f"P-{n}b", account, "2026-09-02T10:00:00Z"),
                                _payment(f"P-{n}c", account, "2026-10-02T10:00:00Z", last)]
            rows["invoice"].append({"invoice_id": f"I-{n}", "account_id": account, "amount": 50.0,
                                    "due_date": "2026-09-15", "status": "open"})
        rows["contact"] = [{"contact_id": "K-3", "name": "Ann Lee", "_entity": "E-3"}]
        rows["case"] = [{"case_id": "C-3", "contact_id": "K-3", "opened_at": "2026-09-05T12:00:00Z"}]
        return make_context(rows)


class TestRecallMissingLocally(RuleContract):
    expected = ["RN-1"]
    not_expected = ["RN-2"]  # the dealer has the campaign

    def make_rule(self) -> Rule:
        return RecallMissingLocallyRule(id="recall_missing_locally", owner="service", severity="high")

    def make_context(self) -> RuleContext:
        return make_context({
            "recall_notice": [
                {"notice_id": "RN-1", "campaign": "24V-318", "vin": "1HGCM82633A004352",
                 "notice_date": "2026-09-01", "name": "Ann Lee"},
                {"notice_id": "RN-2", "campaign": "24V-318", "vin": "5YJ3E1EA7KF317000",
                 "notice_date": "2026-09-01", "name": "Bo Chen", "_entity": "E-2"},
            ],
            "vehicle": [
                {"vehicle_id": "VH-1", "vin": "1HGCM82633A0O4352", "given_name": "Ann", "family_name": "Lee"},
                {"vehicle_id": "VH-2", "vin": "5YJ3E1EA7KF317000", "given_name": "Bo", "family_name": "Chen",
                 "_entity": "E-2"},
            ],
            "dealer_recall": [{"dealer_recall_id": "DR-2", "vehicle_id": "VH-2", "campaign": "24V-318"}],
        })


class TestUnresolvedLowSurvey(RuleContract):
    expected = ["SR-1"]
    not_expected = ["SR-2", "SR-3"]  # a customer with nothing unresolved; a good score

    def make_rule(self) -> Rule:
        return UnresolvedLowSurveyRule(id="unresolved_low_survey", owner="customer-experience")

    def make_context(self) -> RuleContext:
        rows: Rows = {
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [{"subscription_id": "S-1", "account_id": "AC-1", "product": "monitoring",
                              "start_date": "2026-06-01"}],
            "contact": [{"contact_id": "K-1", "name": "Ann Lee"},
                        {"contact_id": "K-2", "name": "Bo Chen", "_entity": "E-2"}],
            "survey": [
                {"survey_id": "SR-1", "contact_id": "K-1", "score": 2, "responded_at": "2026-10-20T10:00:00Z"},
                {"survey_id": "SR-2", "contact_id": "K-2", "score": 1, "responded_at": "2026-10-20T10:00:00Z"},
                {"survey_id": "SR-3", "contact_id": "K-1", "score": 9, "responded_at": "2026-10-21T10:00:00Z"},
            ],
        }
        ctx = make_context(rows)
        billed = BilledNotProvisionedRule(id="billed_not_provisioned", owner="provisioning")
        return RuleContext(as_of=ctx.as_of, tables=ctx.tables, findings=list(billed.evaluate(ctx)))


class TestNameMismatch(RuleContract):
    expected = ["AC-1"]
    not_expected = ["AC-2"]  # a nickname and "LAST, FIRST" order are formatting only

    def make_rule(self) -> Rule:
        return NameMismatchRule(id="name_mismatch", owner="account-management")

    def make_context(self) -> RuleContext:
        return make_context({
            "account": [{"account_id": "AC-1", "name": "SMYTH, ANN"},
                        {"account_id": "AC-2", "name": "LEE, ROBERT", "_entity": "E-2"}],
            "contact": [{"contact_id": "K-1", "given_name": "Ann", "family_name": "Smith"},
                        {"contact_id": "K-2", "name": "Bob Lee", "_entity": "E-2"}],
        })


def _line(lid: str, product: str, street: str, activated: str, entity: str = "E-1", **extra: Any) -> dict[str, Any]:
    return {"line_id": lid, "name": "Ann Lee", "product": product, "street": street, "postal_code": "98101",
            "activated_at": activated, "_entity": entity, **extra}


class TestDuplicateActiveLine(RuleContract):
    expected = ["L-1"]
    not_expected = ["L-3", "L-4"]  # two products at two addresses: a second home

    def make_rule(self) -> Rule:
        return DuplicateActiveLineRule(id="duplicate_active_line", owner="provisioning")

    def make_context(self) -> RuleContext:
        return make_context({
            "service_line": [
                _line("L-1", "fiber_1g", "12 Oak St", "2024-02-01"),
                _line("L-2", "fiber_1g", "9 Elm Ave", "2026-08-01"),
                _line("L-3", "fiber_1g", "1 Pine Rd", "2024-02-01", "E-2"),
                _line("L-4", "monitoring", "4 Lake Dr", "2026-08-01", "E-2"),
            ],
            "contact": [{"contact_id": "K-1", "name": "Ann Lee", "street": "9 Elm Avenue", "postal_code": "98101"}],
        })


class TestPaymentMisapplied(RuleContract):
    expected = ["AC-2"]
    not_expected = ["AC-4"]  # the newer account's invoices are paid

    def make_rule(self) -> Rule:
        return PaymentMisappliedRule(id="payment_misapplied", owner="billing")

    def make_context(self) -> RuleContext:
        rows: Rows = {"account": [], "invoice": [], "payment": []}
        for old, new, entity, status in (("AC-1", "AC-2", "E-1", "open"), ("AC-3", "AC-4", "E-2", "paid")):
            rows["account"] += [{"account_id": old, "name": "LEE, ANN", "opened_at": "2024-01-10", "_entity": entity},
                                {"account_id": new, "name": "LEE, ANN", "opened_at": "2026-07-01", "_entity": entity}]
            rows["invoice"].append({"invoice_id": f"I-{new}", "account_id": new, "amount": 80.0,
                                    "due_date": "2026-09-01", "status": status})
            rows["payment"].append(_payment(f"P-{old}", old, "2026-08-01T10:00:00Z", "succeeded"))
        return make_context(rows)


class TestBilledNotProvisioned(RuleContract):
    expected = ["S-2"]
    not_expected = ["S-1", "S-3"]  # provisioned; started within the grace period

    def make_rule(self) -> Rule:
        return BilledNotProvisionedRule(id="billed_not_provisioned", owner="provisioning")

    def make_context(self) -> RuleContext:
        return make_context({
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [
                {"subscription_id": "S-1", "account_id": "AC-1", "product": "fiber_1g", "start_date": "2026-03-01"},
                {"subscription_id": "S-2", "account_id": "AC-1", "product": "monitoring", "start_date": "2026-09-12"},
                {"subscription_id": "S-3", "account_id": "AC-1", "product": "tv", "start_date": "2026-10-31"},
            ],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "status": "pending"},
            ],
        })


class TestProvisionedNotBilled(RuleContract):
    expected = ["L-2"]
    not_expected = ["L-1", "L-3"]  # billed; activated within the grace period

    def make_rule(self) -> Rule:
        return ProvisionedNotBilledRule(id="provisioned_not_billed", owner="billing", severity="high")

    def make_context(self) -> RuleContext:
        return make_context({
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [
                {"subscription_id": "S-1", "account_id": "AC-1", "product": "fiber_1g"},
                {"subscription_id": "S-2", "account_id": "AC-1", "product": "monitoring", "status": "closed",
                 "end_date": "2026-08-16"},
            ],
            "service_line": [
                {"line_id": "L-1", "name": "Ann Lee", "product": "fiber_1g", "activated_at": "2026-01-01"},
                {"line_id": "L-2", "name": "Ann Lee", "product": "monitoring", "activated_at": "2026-04-02"},
                {"line_id": "L-3", "name": "Ann Lee", "product": "tv", "activated_at": "2026-10-31"},
            ],
        })


class TestMonitoringGap(RuleContract):
    expected = ["HUB-1"]
    not_expected = ["HUB-2", "HUB-3"]  # alerted since it went offline; offline for hours only

    def make_rule(self) -> Rule:
        return MonitoringGapRule(id="monitoring_gap", owner="service", severity="critical")

    def make_context(self) -> RuleContext:
        return make_context({
            "account": [{"account_id": "AC-1", "name": "LEE, ANN"}],
            "subscription": [{"subscription_id": "S-1", "account_id": "AC-1", "product": "monitoring"}],
            "service_line": [{"line_id": f"L-{n}", "name": "Ann Lee", "product": "monitoring",
                              "device_id": f"HUB-{n}"} for n in (1, 2, 3)],
            "device_status": [
                {"device_id": "HUB-1", "status": "offline", "last_heartbeat": "2026-10-27T06:00:00Z"},
                {"device_id": "HUB-2", "status": "offline", "last_heartbeat": "2026-10-27T06:00:00Z"},
                {"device_id": "HUB-3", "status": "offline", "last_heartbeat": "2026-10-31T20:00:00Z"},
            ],
            "alert": [{"alert_id": "A-2", "device_id": "HUB-2", "sent_at": "2026-10-28T06:00:00Z"}],
        })


# ---------------------------------------------------------------- the generic kinds, on their examples

class TestMissingIn(ExampleContract):
    rule_class = MissingInRule
    expected = ["S-2"]
    not_expected = ["S-1", "S-3"]  # matched; started within the grace period
    near_misses: ClassVar[Rows] = {"subscription": [
        {"subscription_id": "S-3", "account_id": "AC-1", "product": "tv", "start_date": "2026-10-31"}]}


class TestFieldMismatch(ExampleContract):
    rule_class = FieldMismatchRule
    expected = ["AC-1"]
    not_expected = ["AC-2"]  # the same address written in another case
    near_misses: ClassVar[Rows] = {
        "account": [{"account_id": "AC-2", "name": "CHEN, BO", "email": "Bo.Chen@Example.com", "_entity": "E-2"}],
        "contact": [{"contact_id": "K-2", "name": "Bo Chen", "email": "bo.chen@example.com", "_entity": "E-2"}],
    }


class TestStatusMismatch(ExampleContract):
    rule_class = StatusMismatchRule
    expected = ["AC-1"]
    not_expected = ["AC-2", "AC-3"]  # its line is disconnected; closed within the grace period
    near_misses: ClassVar[Rows] = {
        "account": [
            {"account_id": "AC-2", "name": "CHEN, BO", "status": "closed", "closed_at": "2026-09-01", "_entity": "E-2"},
            {"account_id": "AC-3", "name": "RUIZ, EVA", "status": "closed", "closed_at": "2026-10-31", "_entity": "E-3"},
        ],
        "service_line": [
            {"line_id": "L-7", "name": "Bo Chen", "product": "fiber_1g", "status": "disconnected", "_entity": "E-2"},
            {"line_id": "L-8", "name": "Eva Ruiz", "product": "fiber_1g", "status": "active", "_entity": "E-3"},
        ],
    }


class TestDuplicate(ExampleContract):
    rule_class = DuplicateRule
    expected = ["L-1"]
    not_expected = ["L-3", "L-4"]  # one line of its product; the second one is within the grace period
    near_misses: ClassVar[Rows] = {"service_line": [
        {"line_id": "L-4", "name": "Bo Chen", "product": "fiber_1g", "activated_at": "2025-01-01", "_entity": "E-2"},
        {"line_id": "L-5", "name": "Bo Chen", "product": "fiber_1g", "activated_at": "2026-10-31", "_entity": "E-2"},
    ]}


class TestBalance(ExampleContract):
    rule_class = BalanceRule
    expected = ["AC-1"]
    not_expected = ["AC-2"]  # paid in full
    near_misses: ClassVar[Rows] = {
        "account": [{"account_id": "AC-2", "name": "CHEN, BO", "_entity": "E-2"}],
        "invoice": [{"invoice_id": "I-20", "account_id": "AC-2", "amount": 70.0, "due_date": "2026-10-01"}],
        "payment": [{"payment_id": "P-20", "account_id": "AC-2", "amount": 70.0, "status": "succeeded",
                     "attempted_at": "2026-09-30T08:00:00Z"}],
    }


class TestStale(ExampleContract):
    rule_class = StaleRule
    expected = ["HUB-1"]
    not_expected = ["HUB-2"]  # an alert followed the last heartbeat


def test_every_registered_kind_has_a_contract_here() -> None:
    tested = {
        cls.rule_class if issubclass(cls, ExampleContract) else type(cls().make_rule())
        for cls in (*RuleContract.__subclasses__(), *ExampleContract.__subclasses__())
        if cls is not ExampleContract
    }
    shipped = {c for c in rule_classes().values() if c.__module__.startswith("reconcile.")}
    assert shipped <= tested, sorted(c.__name__ for c in shipped - tested)


# ---------------------------------------------------------------- a broken rule fails with clear messages

class _BrokenRule(Rule):
    """Everything a rule must not do."""

    model_config = ConfigDict(extra="allow")  # a typo in YAML passes silently
    kind: str = "broken"  # not a Literal: no discriminator
    story: ClassVar[str] = "Account {account} is {mood}"
    facts: ClassVar[dict[str, str]] = {"account": "the account"}  # {mood} undocumented

    def evaluate(self, ctx: RuleContext) -> Iterator[Finding]:
        accounts = ctx.tables["account"]
        accounts["_seen"] = True  # changes the caller's table
        first = accounts.iloc[0]  # depends on row order
        yield self.finding(subject=_ref(first), records=[_ref(first)], entity_id=None, confidence=1.0,
                           facts={"account": first["_key"], "mood": "broken"})


def _ref(row: Any) -> Any:
    from reconcile.findings import RecordRef

    return RecordRef(source=row["_source"], record_type="account", key=row["_key"])


class _BrokenContract(RuleContract):
    expected = ["AC-1"]

    def make_rule(self) -> Rule:
        return _BrokenRule(id="broken", owner="nobody")

    def make_context(self) -> RuleContext:
        return make_context({"account": [{"account_id": f"AC-{n}", "name": "LEE, ANN"} for n in (1, 2, 3, 4, 5)]})


@pytest.mark.parametrize(("check", "message"), [
    ("test_config_model_forbids_unknown_keys", "_BrokenRule accepted an unknown key 'no_such_key'"),
    ("test_kind_is_a_literal_discriminator", "_BrokenRule.kind must be declared as kind: Literal['broken']"),
    ("test_evaluate_is_pure", "_BrokenRule.evaluate changed the 'account' table of the context"),
    ("test_findings_and_fingerprints_survive_row_shuffles", "fingerprints change when the rows are shuffled"),
    ("test_story_renders_the_documented_facts", "_BrokenRule.story uses ['mood'], which facts does not document"),
])
def test_a_broken_rule_fails_the_contract_saying_why(check: str, message: str) -> None:
    with pytest.raises(AssertionError) as failure:
        getattr(_BrokenContract(), check)()
    assert message in str(failure.value)


def test_the_contract_run_by_pytest_names_each_broken_promise(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_broken=textwrap.dedent('''
        from typing import ClassVar, Literal

        from reconcile.findings import RecordRef
        from reconcile.rules.base import Rule
        from reconcile.testing.rules import RuleContract, make_context


        class MoodyRule(Rule):
            kind: Literal["moody"] = "moody"
            story: ClassVar[str] = "{subject} is {mood}"

            def evaluate(self, ctx):
                for key in ctx.tables["account"]["_key"]:
                    subject = RecordRef(source="billing", record_type="account", key=key)
                    yield self.finding(subject=subject, records=[subject], entity_id=None,
                                       confidence=1.0, facts={"mood": "grumpy"})


        class TestMoody(RuleContract):
            expected = ["AC-1"]

            def make_rule(self):
                return MoodyRule(id="moody", owner="nobody")

            def make_context(self):
                return make_context({"account": [{"account_id": "AC-1"}]})
    '''))
    result = pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=6, failed=1)
    result.stdout.fnmatch_lines([
        "*MoodyRule must document its facts*",
        "FAILED *TestMoody::test_story_renders_the_documented_facts*",
    ])
