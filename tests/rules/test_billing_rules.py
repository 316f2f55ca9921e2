"""failed_autopay and payment_misapplied: the findings and the near misses of stories 1 and 4."""

from __future__ import annotations

from typing import Any

from conftest import at, context, days_ago, roles, run, subjects

from reconcile.rules.builtin import FailedAutopayRule, PaymentMisappliedRule

RULE = FailedAutopayRule(id="failed_autopay", owner="billing", severity="high")


def _account(**extra: Any) -> dict[str, Any]:
    return {
        "account_id": "AC-1",
        "name": "SMITH, ROBERT",
        "status": "active",
        "autopay": True,
        "autopay_method": "ach",
        "opened_at": days_ago(400),
        **extra,
    }


def _attempts(*attempts: tuple[float, str, str | None], autopay: bool = True) -> list[dict[str, Any]]:
    return [
        {
            "payment_id": f"P{i}",
            "account_id": "AC-1",
            "attempted_at": at(days=days),
            "status": status,
            "return_code": code,
            "autopay": autopay,
        }
        for i, (days, status, code) in enumerate(attempts)
    ]


FAILING = _attempts((120, "succeeded", None), (90, "failed", "R01"), (60, "failed", "R01"), (30, "failed", "R02"))
OVERDUE = [
    {"invoice_id": f"I{i}", "account_id": "AC-1", "due_date": days_ago(d), "amount": 43.0}
    for i, d in enumerate((80, 50, 20))
]
CONTACT = [{"contact_id": "K1", "name": "Robert Smith"}]


def test_failing_autopay_with_overdue_invoices_and_no_contact_is_a_finding() -> None:
    ctx = context(
        account=[_account()],
        payment=FAILING,
        invoice=[*OVERDUE, {"invoice_id": "PAID", "account_id": "AC-1", "due_date": days_ago(100), "status": "paid"}],
        contact=CONTACT,
        case=[{"case_id": "OLD", "contact_id": "K1", "opened_at": at(days=200)}],
    )
    (finding,) = run(RULE, ctx)
    assert finding.subject.key == "AC-1" and finding.subject.record_type == "account"
    assert finding.kind == "failed_autopay" and finding.owner == "billing" and finding.severity == "high"
    assert finding.entity_id == "E-1"
    assert roles(finding) == {
        "mandate": ["AC-1"],
        "failed_attempt": ["P1", "P2", "P3"],
        "last_success": ["P0"],
        "overdue_invoice": ["I0", "I1", "I2"],
    }
    attempt = next(r for r in finding.records if r.key == "P3")
    assert attempt.fields["return_code"] == "R02"
    assert finding.detail["failures"] == 3
    assert finding.detail["since"] == at(days=90).date().isoformat()
    assert finding.detail["codes"] == "R01, R01, R02"
    assert finding.detail["overdue_amount"] == 129.0
    assert finding.story == (
        f"Auto-pay on account AC-1 (ach) has failed 3 times since {at(days=90).date()} (R01, R01, R02); "
        "3 invoices overdue (129.00 in total), and no customer contact is recorded since: contact the "
        "customer and fix or cancel the mandate."
    )


def test_story_counts_the_whole_run_of_failures() -> None:
    payments = _attempts(*[(d, "failed", "CARD_DECLINED") for d in (150, 120, 90, 60, 30)])
    ctx = context(account=[_account()], payment=payments, invoice=OVERDUE)
    (finding,) = run(RULE, ctx)
    assert finding.detail["failures"] == 5
    assert finding.detail["last_success"] is None
    assert "last_success" not in roles(finding)


def test_failures_followed_by_a_success_are_not_a_finding() -> None:
    recovered = _attempts((90, "failed", "R01"), (60, "failed", "R01"), (30, "failed", "R01"), (25, "succeeded", None))
    ctx = context(account=[_account()], payment=recovered, invoice=OVERDUE)
    assert run(RULE, ctx) == []


def test_switch_to_manual_pay_with_a_case_is_not_a_finding() -> None:
    manual = [*FAILING, *_attempts((20, "succeeded", None), autopay=False)]
    manual[-1]["payment_id"] = "MANUAL"
    ctx = context(
        account=[_account(autopay=False, autopay_method=None)],
        payment=manual,
        invoice=OVERDUE[:1],
        contact=CONTACT,
        case=[{"case_id": "C1", "contact_id": "K1", "opened_at": at(days=55), "topic": "Auto-pay"}],
    )
    assert run(RULE, ctx) == []


def test_a_case_opened_since_the_first_failure_means_the_customer_was_told() -> None:
    case = {"case_id": "C1", "contact_id": "K1", "opened_at": at(days=88), "topic": "Auto-pay"}
    ctx = context(account=[_account()], payment=FAILING, invoice=OVERDUE, contact=CONTACT, case=[case])
    assert run(RULE, ctx) == []
    # With a topic filter, a case about something else does not count.
    filtered = RULE.model_copy(update={"case_topics": ["billing"]})
    assert subjects(run(filtered, ctx)) == ["AC-1"]


def test_fewer_failures_than_the_minimum_or_no_overdue_invoice_is_not_a_finding() -> None:
    two = _attempts((60, "failed", "R01"), (30, "failed", "R01"))
    assert run(RULE, context(account=[_account()], payment=two, invoice=OVERDUE)) == []
    assert subjects(run(RULE.model_copy(update={"min_failures": 2}),
                        context(account=[_account()], payment=two, invoice=OVERDUE))) == ["AC-1"]
    # Due within the grace period: the payment may just not be in the extract yet.
    fresh = [{"invoice_id": "I9", "account_id": "AC-1", "due_date": days_ago(0)}]
    assert run(RULE, context(account=[_account()], payment=FAILING, invoice=fresh)) == []
    assert run(RULE, context(account=[_account(status="closed")], payment=FAILING, invoice=OVERDUE)) == []


def test_account_without_entity_is_judged_alone() -> None:
    ctx = context(
        account=[_account(_entity=None)],
        payment=FAILING,
        invoice=OVERDUE,
        contact=CONTACT,
        case=[{"case_id": "C1", "contact_id": "K1", "opened_at": at(days=10)}],
    )
    (finding,) = run(RULE, ctx)
    assert finding.entity_id is None  # the CRM case belongs to another entity, so it does not count


def test_confidence_is_the_lowest_of_the_records_involved() -> None:
    ctx = context(account=[_account(_confidence=0.8)], payment=FAILING, invoice=OVERDUE)
    (finding,) = run(RULE, ctx)
    assert finding.confidence == 0.8


# ---------------------------------------------------------------- payment_misapplied

MISAPPLIED = PaymentMisappliedRule(id="payment_misapplied", owner="billing", severity="high")


def _two_accounts(new_pays: bool) -> dict[str, Any]:
    opened = days_ago(100)
    payments = [
        {"payment_id": f"OLD{i}", "account_id": "AC-OLD", "attempted_at": at(days=d), "status": "succeeded",
         "autopay": True, "amount": 60.0}
        for i, d in enumerate((130, 70, 40, 10))
    ]
    invoices = [{"invoice_id": f"NEW{i}", "account_id": "AC-NEW", "due_date": days_ago(d), "amount": 60.0,
                 "status": "paid" if new_pays else "open"} for i, d in enumerate((65, 35))]
    if new_pays:
        payments += [{"payment_id": f"NEWP{i}", "account_id": "AC-NEW", "attempted_at": at(days=d),
                      "status": "succeeded", "autopay": True} for i, d in enumerate((66, 36))]
    return {
        "account": [
            {"account_id": "AC-OLD", "name": "ACME", "opened_at": days_ago(900), "autopay": True},
            {"account_id": "AC-NEW", "name": "ACME", "opened_at": opened},
        ],
        "payment": payments,
        "invoice": invoices,
    }


def test_payments_booked_on_the_old_account_while_the_new_one_is_overdue() -> None:
    (finding,) = run(MISAPPLIED, context(**_two_accounts(new_pays=False)))
    assert finding.subject.key == "AC-NEW"
    assert roles(finding) == {
        "current_account": ["AC-NEW"],
        "overdue_invoice": ["NEW0", "NEW1"],
        "other_account": ["AC-OLD"],
        "misapplied_payment": ["OLD1", "OLD2", "OLD3"],  # OLD0 was before AC-NEW opened
    }
    assert finding.detail["paid_amount"] == 180.0
    assert finding.detail["other_accounts"] == "AC-OLD"
    assert "AC-OLD" in finding.story and finding.story.startswith("Current account AC-NEW")


def test_two_accounts_each_paying_their_own_invoices_are_not_a_finding() -> None:
    assert run(MISAPPLIED, context(**_two_accounts(new_pays=True))) == []


def test_one_account_or_accounts_of_different_customers_are_not_a_finding() -> None:
    world = _two_accounts(new_pays=False)
    world["account"][0]["_entity"] = "E-2"
    assert run(MISAPPLIED, context(**world)) == []
    world["account"] = world["account"][1:]
    assert run(MISAPPLIED, context(**world)) == []


def test_payments_before_the_current_account_opened_do_not_count() -> None:
    world = _two_accounts(new_pays=False)
    world["payment"] = [p for p in world["payment"] if p["payment_id"] == "OLD0"]
    assert run(MISAPPLIED, context(**world)) == []


def test_accounts_reported_in_batches_give_the_findings_of_one_batch(
    tmp_path: Any, monkeypatch: Any
) -> None:
    """failed_autopay makes its rows into dicts a batch of accounts at a time: the batch size changes nothing."""
    import reconcile.rules._billing as billing
    from reconcile.config import load_config
    from reconcile.demo import generate, write_config
    from reconcile.pipeline import (
        build_tables,
        evaluate,
        extract_sources,
        match_entities,
        normalise_tables,
    )

    config = load_config(write_config(tmp_path, generate(tmp_path, size=600, seed=3)))
    tables, _ = match_entities(normalise_tables(build_tables(extract_sources(config)), config), config)
    whole = evaluate(tables, [RULE], config.as_of)
    assert len(whole) >= 5  # several accounts, so small batches split them
    for size in (1, 2, 7):
        monkeypatch.setattr(billing, "_ACCOUNTS_PER_BATCH", size)
        assert [f.model_dump() for f in evaluate(tables, [RULE], config.as_of)] == [f.model_dump() for f in whole]
