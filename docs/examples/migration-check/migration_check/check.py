"""The consistency check the migration team runs after each migration wave.

Every active account of the legacy billing system must have a contact in the
new CRM for the same customer, with the same e-mail address. The two systems
share no key: reconcile matches the customers by name, e-mail, phone and
address, however each system writes them.

::

    $ migration-check billing.csv crm.csv
    HIGH  migration-team  billing account AC-2 has no contact for the same customer (there is none).
    $ echo $?
    1
"""

from __future__ import annotations

import csv
import datetime as dt
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import reconcile

# How the legacy billing export's columns map onto reconcile's canonical account.
BILLING_FIELDS: dict[str, Any] = {
    "account_id": "ACCT_NO",
    "name": "HOLDER",  # "LEE, ANN M"
    "email": "EMAIL",
    "phone": "PHONE",
    "street": "ADDR1",
    "unit": "ADDR2",
    "postal_code": "ZIP",
    "status": {"column": "STATE", "map": {"A": "active", "S": "suspended", "C": "closed"}},
}

# How the new CRM's export maps onto the canonical contact.
CRM_FIELDS: dict[str, Any] = {
    "contact_id": "Id",
    "given_name": "FirstName",
    "family_name": "LastName",
    "email": "Email",
    "phone": "MobilePhone",
    "street": "MailingStreet",
    "postal_code": "MailingPostalCode",
}

RULES = """
- id: account_not_migrated
  kind: missing_in
  severity: high
  owner: migration-team
  present:
    type: account
    sources: [billing]
    where: [{field: status, op: eq, value: active}]
  absent: {type: contact, sources: [crm]}

- id: email_changed_in_migration
  kind: field_mismatch
  severity: medium
  owner: migration-team
  left: {type: account, sources: [billing]}
  right: {type: contact, sources: [crm]}
  field: email
"""


def sources(
    billing: Iterable[Mapping[str, Any]], crm: Iterable[Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """The ``sources:`` of the check: the two exports' rows, as the systems wrote them."""
    return {
        "billing": {"kind": "records", "streams": {"account": {"records": list(billing), "fields": BILLING_FIELDS}}},
        "crm": {"kind": "records", "streams": {"contact": {"records": list(crm), "fields": CRM_FIELDS}}},
    }


def check(
    billing: Iterable[Mapping[str, Any]],
    crm: Iterable[Mapping[str, Any]],
    *,
    as_of: dt.datetime | None = None,
) -> reconcile.RunResult:
    """Run the consistency check over the two exports' rows."""
    import yaml

    config = reconcile.parse_config(
        {"sources": sources(billing, crm), "rules": yaml.safe_load(RULES)}, origin="migration-check"
    )
    return reconcile.run(config, as_of=as_of, persist=False, write_reports=False)


def _read_csv(path: str) -> list[dict[str, str]]:
    with Path(path).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def main(argv: Sequence[str] | None = None) -> int:
    """``migration-check BILLING.csv CRM.csv``: print the findings; exit 1 if any is high or worse."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: migration-check BILLING.csv CRM.csv", file=sys.stderr)
        return 2
    result = check(_read_csv(args[0]), _read_csv(args[1]))
    for finding in sorted(result.findings, key=lambda f: (-f.severity.rank, f.subject.rid)):
        print(f"{finding.severity.value.upper():<6}{finding.owner}  {finding.story}")
    for row in result.quarantine:
        print(f"SKIPPED {row.source} {row.row}: {row.reason}", file=sys.stderr)
    return 1 if result.at_or_above(reconcile.Severity.high) else 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
