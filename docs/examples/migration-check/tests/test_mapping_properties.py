"""Property: a customer whose billing and CRM records differ only in how they are written is never flagged.

reconcile.testing.strategies draws one identity as billing and the CRM would
write it (nicknames, "LAST, FIRST", capitals, accents, phone and address
formats, ZIP+4...). Written into the two exports' own columns, they must pass
the check: this tests the app's mappings, reconcile's matching and the rules together.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from migration_check import check
from reconcile.testing import FIXED_AS_OF, assert_no_findings
from reconcile.testing import strategies as rst

# The CRM keeps first and last name apart, so its variants are written in parts.
CRM_NOISE = rst.FORMAT_NOISE - {"last_first", "full_name"}


def billing_row(record: dict) -> dict:
    return {"ACCT_NO": record["account_id"], "HOLDER": record["name"], "EMAIL": record["email"],
            "PHONE": record["phone"], "ADDR1": record["street"], "ADDR2": record["unit"] or "",
            "ZIP": record["postal_code"], "STATE": "A"}


def crm_row(record: dict) -> dict:
    street = " ".join(part for part in (record["street"], record["unit"]) if part)
    return {"Id": record["contact_id"], "FirstName": record["given_name"], "LastName": record["family_name"],
            "Email": record["email"], "MobilePhone": record["phone"], "MailingStreet": street,
            "MailingPostalCode": record["postal_code"]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), person=rst.identities())
def test_formatting_differences_are_not_findings(data, person):
    billing = data.draw(rst.identity_variant(person, "billing", noise=rst.FORMAT_NOISE, key="AC-1"))
    crm = data.draw(rst.identity_variant(person, "crm", noise=CRM_NOISE, key="003-1"))
    result = check([billing_row(billing.record)], [crm_row(crm.record)], as_of=FIXED_AS_OF)
    assert_no_findings(result)
    assert result.entities == 1
