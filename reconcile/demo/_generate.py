"""The demo company: nine systems that describe the same customers differently.

:func:`generate` writes, customer by customer, what a mid-sized company's
systems would export: billing (SQLite), service inventory (SQLite), head-office
recall notices (CSV), the dealer's service system (SQLite), the CRM (JSON
Lines), device telemetry and alerts (CSV). The systems share no customer key
and format names, phones, addresses and dates each in their own way.

Most customers are consistent across systems. A few carry one injected
discrepancy (a *finding* the rules must report) or one *near miss* (a case
that looks like a discrepancy but is not one). Both are written to ``truth/``
beside the data, naming each case's subject record exactly as the rules name
it, together with which customer every identity record belongs to.

The move story (a customer moves, the old line stays active at the old
address, the old account keeps being charged while the new account's
invoices go unpaid) is injected *jointly*: one customer yields a
``duplicate_active_line`` (on the old line) and a ``payment_misapplied`` (on
the new account). Each kind is also injected on its own, for other customers.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from reconcile.demo import _data as D
from reconcile.demo._records import (
    Acct,
    Addr,
    Line,
    Party,
    Sub,
    Telecom,
    add_months,
    ascii_fold,
    company_billing,
    company_crm,
    iso_z,
    misspell,
    sql_time,
    street_words,
    typo,
    unit_billing,
    us_date,
)
from reconcile.demo._vin import VIN_CHARS, make_vin, mistype_vin
from reconcile.demo._writers import CsvSink, JsonlSink, SqliteSink

__all__ = ["DEFAULT_AS_OF", "FILES", "KINDS", "NEAR_MISSES", "DemoWorld", "generate"]

DEFAULT_AS_OF = dt.datetime(2026, 11, 1, 6, tzinfo=dt.UTC)

#: The files each system exports, relative to the world's folder.
FILES: dict[str, str] = {
    "billing": "billing.db",
    "inventory": "inventory.db",
    "recalls": "recalls.csv",
    "dealer": "dealer.db",
    "crm_contacts": "crm_contacts.jsonl",
    "crm_cases": "crm_cases.jsonl",
    "crm_surveys": "crm_surveys.jsonl",
    "telemetry": "telemetry.csv",
    "alerts": "alerts.csv",
}

#: The nine discrepancy kinds, in the order of the stories.
KINDS: tuple[str, ...] = (
    "failed_autopay",
    "recall_missing_locally",
    "unresolved_low_survey",
    "name_mismatch",
    "duplicate_active_line",
    "payment_misapplied",
    "billed_not_provisioned",
    "provisioned_not_billed",
    "monitoring_gap",
)

# Share of customers given each injected story. "moved" yields both a
# duplicate_active_line and a payment_misapplied finding.
_FINDING_RATES: dict[str, float] = {
    "failed_autopay": 0.02,
    "recall_missing_locally": 0.015,
    "name_mismatch": 0.02,
    "duplicate_active_line": 0.01,
    "payment_misapplied": 0.01,
    "moved": 0.01,
    "billed_not_provisioned": 0.015,
    "provisioned_not_billed": 0.015,
    "monitoring_gap": 0.015,
}

#: Near misses: label -> (the kind they must not be reported as, what they are).
NEAR_MISSES: dict[str, tuple[str, str]] = {
    "autopay_recovered": ("failed_autopay", "three auto-pay failures, then a successful retry"),
    "autopay_manual": ("failed_autopay", "auto-pay failures handled in a case; switched to manual pay"),
    "autopay_case": ("failed_autopay", "auto-pay failures with invoices overdue, but a case was opened"),
    "recall_dealer_open": ("recall_missing_locally", "the dealer has the campaign open under a mistyped VIN"),
    "recall_remedied": ("recall_missing_locally", "the head-office notice is already remedied"),
    "recall_unknown_vehicle": ("recall_missing_locally", "the dealer does not know the vehicle"),
    "survey_low_no_finding": ("unresolved_low_survey", "low score, but no other finding for the customer"),
    "survey_high_with_finding": ("unresolved_low_survey", "the customer has a finding, but the score is high"),
    "survey_low_old": ("unresolved_low_survey", "low score with a finding, but answered over 180 days ago"),
    "name_nickname": ("name_mismatch", "the CRM has the nickname (Bob for Robert)"),
    "name_accent": ("name_mismatch", "accents in the CRM, upper-case ASCII in billing"),
    "name_title": ("name_mismatch", "title and suffix in the CRM, middle initial in billing"),
    "name_company": ("name_mismatch", "company written with '&' and a different legal suffix"),
    "second_home": ("duplicate_active_line", "a line of a different product at a second home"),
    "two_accounts": ("payment_misapplied", "two accounts, each paying its own invoices"),
    "billed_recent": ("billed_not_provisioned", "subscription started today, line still pending"),
    "provisioned_recent": ("provisioned_not_billed", "line activated today, subscription starts tomorrow"),
    "offline_short": ("monitoring_gap", "monitoring hub offline for 10 hours"),
    "offline_alerted": ("monitoring_gap", "monitoring hub offline for 100 hours, alert sent"),
    "offline_unmonitored": ("monitoring_gap", "device offline for days, customer has no monitoring"),
}
_NEAR_MISS_RATE = 0.006
# Stories added to a customer who already has an injected finding.
_PIGGYBACK_RATES: dict[str, float] = {
    "low_survey": 0.015,
    "survey_high_with_finding": 0.006,
    "survey_low_old": 0.006,
}
_EXCLUSIVE_RATES: dict[str, float] = {
    **_FINDING_RATES,
    **{label: _NEAR_MISS_RATE for label in NEAR_MISSES if label not in _PIGGYBACK_RATES},
}
_RECALL_ROLES = {"recall_missing_locally", "recall_dealer_open", "recall_remedied", "recall_unknown_vehicle"}
_PERSON_ROLES = _RECALL_ROLES | {"name_nickname", "name_accent", "name_title"}
_BLOCK = 1000
T = TypeVar("T")

_CAMPAIGNS_BY_MAKE: dict[str, list[tuple[str, str, str, int]]] = {}
for _campaign in D.CAMPAIGNS:
    _CAMPAIGNS_BY_MAKE.setdefault(_campaign[1], []).append(_campaign)
_NICKNAMED_GIVEN = tuple(sorted(D.CRM_NICKNAMES))
_FEMALE_GIVEN = frozenset(D.GIVEN_FEMALE) | frozenset(D.ACCENTED_FEMALE)
_PHONE_EXCHANGES = tuple(
    e for e in range(200, 1000) if e != 555 and e % 100 != 11
)
_PHONE_SPACE = len(_PHONE_EXCHANGES) * 10_000


_TRUTH_README = """\
# Ground truth of the demo world

- `findings.csv`: every finding a perfect run reports, one row each:
  `kind`, the subject record as the rules name it (`source`, `record_type`,
  `key`, e.g. `billing,account,AC-0000123`), `detail_key` (the campaign of a
  recall), `customer_id` (the true customer) and a `note` on what was injected.
- `near_misses.csv`: cases that look like a finding of `kind` but are not one;
  same columns, the `note` starts with the near miss's label.
- `identities.csv`: the true customer of every identity record (`source`,
  `record_type`, `key`, `customer_id`), to measure matching.
- `world.json`: size, seed, as_of, files, row counts and injected counts.

The move story (old line kept active at the old address, old account still
charged, new account overdue) is injected jointly: one customer yields a
`duplicate_active_line` (the old line) and a `payment_misapplied` (the new
account); both kinds are also injected on their own for other customers.
Score a run with `reconcile.demo.score(result.findings, "truth")`.
"""


@dataclass(frozen=True)
class DemoWorld:
    """What :func:`generate` wrote.

    Attributes:
        directory: The world's folder.
        size: Number of customers.
        seed: Seed of the generator.
        as_of: The reference time the world was built around (UTC).
        files: Export name (``billing``, ``crm_contacts``...) -> file path.
        truth_dir: Folder of the ground truth (``findings.csv``,
            ``near_misses.csv``, ``identities.csv``, ``world.json``, ``README.md``).
        rows: Rows written per table or file (``billing.accounts``, ``recalls``...).
        findings: Expected findings per kind.
        near_misses: Injected near misses per label (see :data:`NEAR_MISSES`).
    """

    directory: Path
    size: int
    seed: int
    as_of: dt.datetime
    files: dict[str, Path]
    truth_dir: Path
    rows: dict[str, int]
    findings: dict[str, int]
    near_misses: dict[str, int]

    @property
    def expected_findings(self) -> int:
        """How many findings a perfect run reports."""
        return sum(self.findings.values())


# --------------------------------------------------------------------------- generator


def _share(total: int, start: int, end: int, size: int) -> int:
    """Customers of a block [start, end) given a story of which ``total`` exist."""

    def upto(n: int) -> int:
        return (2 * total * n + size) // (2 * size)

    return upto(end) - upto(start)


class _Generator:
    def __init__(self, directory: Path, size: int, seed: int, as_of: dt.datetime):
        self.directory = directory
        self.size = size
        self.seed = seed
        self.as_of = as_of
        self.today = as_of.date()
        self.rng = random.Random(seed)
        self._random = self.rng.random
        minimum = 3 if size >= 200 else 1
        self.totals = {
            role: max(minimum, round(rate * size)) for role, rate in _EXCLUSIVE_RATES.items()
        }
        self.piggy_totals = {
            role: max(minimum, round(rate * size)) for role, rate in _PIGGYBACK_RATES.items()
        }
        # Billing cycles, newest first: invoices are issued a week before
        # as_of's date each month, due 20 days later and charged 3 days before
        # that, so the newest invoice is open and not yet due.
        anchor = self.today - dt.timedelta(days=7)
        self.cycles: list[tuple[dt.date, dt.date, dt.datetime]] = []
        for k in range(6):
            issue = add_months(anchor, -k)
            due = issue + dt.timedelta(days=20)
            attempt = dt.datetime.combine(due - dt.timedelta(days=3), dt.time(9), tzinfo=dt.UTC)
            self.cycles.append((issue, due, attempt))
        self.counters: dict[str, int] = {}
        self.findings: dict[str, int] = dict.fromkeys(KINDS, 0)
        self.near: dict[str, int] = dict.fromkeys(NEAR_MISSES, 0)
        self._open_sinks()

    # ------------------------------------------------------------------ output

    def _open_sinks(self) -> None:
        d = self.directory
        self.billing = SqliteSink(
            d / FILES["billing"],
            {
                "accounts": (
                    "account_no TEXT PRIMARY KEY", "cust_type TEXT", "holder_name TEXT",
                    "business_name TEXT", "email_addr TEXT", "phone_no TEXT",
                    "addr_line1 TEXT", "addr_line2 TEXT", "city TEXT", "state TEXT",
                    "zip TEXT", "dob TEXT", "status TEXT", "autopay_flag TEXT",
                    "autopay_method TEXT", "opened TEXT", "closed TEXT",
                ),
                "subscriptions": (
                    "sub_id TEXT PRIMARY KEY", "account_no TEXT", "plan_code TEXT",
                    "status TEXT", "start_dt TEXT", "end_dt TEXT", "mrc REAL",
                ),
                "invoices": (
                    "invoice_no TEXT PRIMARY KEY", "account_no TEXT", "amount_due REAL",
                    "issue_date TEXT", "due_date TEXT", "status TEXT", "paid_date TEXT",
                ),
                "payments": (
                    "payment_ref TEXT PRIMARY KEY", "account_no TEXT", "amount REAL",
                    "attempted TEXT", "result TEXT", "return_code TEXT", "channel TEXT",
                    "autopay INTEGER",
                ),
            },
        )
        self.inventory = SqliteSink(
            d / FILES["inventory"],
            {
                "service_lines": (
                    "line_id TEXT PRIMARY KEY", "subscriber TEXT", "company_name TEXT",
                    "contact_phone TEXT", "install_street TEXT", "install_unit TEXT",
                    "install_city TEXT", "install_state TEXT", "install_zip TEXT",
                    "product_code TEXT", "line_status TEXT", "activated_on TEXT",
                    "deactivated_on TEXT",
                ),
                "devices": (
                    "device_serial TEXT PRIMARY KEY", "line_id TEXT", "model TEXT",
                ),
            },
        )
        self.dealer = SqliteSink(
            d / FILES["dealer"],
            {
                "vehicles": (
                    "veh_id TEXT PRIMARY KEY", "vin TEXT", "make TEXT", "model TEXT",
                    "model_year INTEGER", "owner_first TEXT", "owner_last TEXT",
                    "owner_phone TEXT", "owner_email TEXT", "owner_street TEXT",
                    "owner_city TEXT", "owner_state TEXT", "owner_zip TEXT",
                ),
                "vehicle_campaigns": (
                    "vc_id TEXT PRIMARY KEY", "veh_id TEXT", "campaign_code TEXT",
                    "campaign_status TEXT", "loaded_on TEXT",
                ),
                "repair_orders": (
                    "ro_number TEXT PRIMARY KEY", "veh_id TEXT", "ro_date TEXT",
                    "campaign_no TEXT", "ro_status TEXT", "complaint TEXT",
                ),
            },
        )
        self.recalls = CsvSink(
            d / FILES["recalls"],
            (
                "NOTICE_ID", "CAMPAIGN_NO", "VIN", "OWNER_NAME", "OWNER_ADDRESS",
                "OWNER_CITY", "OWNER_STATE", "OWNER_ZIP", "NOTICE_DATE", "REMEDY_STATUS",
                "COMPONENT",
            ),
        )
        self.contacts = JsonlSink(d / FILES["crm_contacts"])
        self.cases = JsonlSink(d / FILES["crm_cases"])
        self.surveys = JsonlSink(d / FILES["crm_surveys"])
        self.telemetry = CsvSink(d / FILES["telemetry"], ("device_id", "state", "last_seen_utc", "firmware"))
        self.alerts = CsvSink(d / FILES["alerts"], ("alert_id", "device", "sent", "alert_type", "channel"))
        truth = d / "truth"
        truth.mkdir(exist_ok=True)
        header = ("kind", "source", "record_type", "key", "detail_key", "customer_id", "note")
        self.truth_findings = CsvSink(truth / "findings.csv", header)
        self.truth_near = CsvSink(truth / "near_misses.csv", header)
        self.truth_ids = CsvSink(truth / "identities.csv", ("source", "record_type", "key", "customer_id"))

    def _close(self) -> dict[str, int]:
        self.billing.close(
            (
                "CREATE INDEX ix_subscriptions_account ON subscriptions (account_no)",
                "CREATE INDEX ix_invoices_account ON invoices (account_no)",
                "CREATE INDEX ix_payments_account ON payments (account_no)",
            )
        )
        self.inventory.close(("CREATE INDEX ix_devices_line ON devices (line_id)",))
        self.dealer.close(
            (
                "CREATE INDEX ix_campaigns_vehicle ON vehicle_campaigns (veh_id)",
                "CREATE INDEX ix_repair_orders_vehicle ON repair_orders (veh_id)",
            )
        )
        rows: dict[str, int] = {}
        for system, sink in (("billing", self.billing), ("inventory", self.inventory), ("dealer", self.dealer)):
            for table, count in sink.counts.items():
                rows[f"{system}.{table}"] = count
        for name, file_sink in (
            ("recalls", self.recalls),
            ("crm_contacts", self.contacts),
            ("crm_cases", self.cases),
            ("crm_surveys", self.surveys),
            ("telemetry", self.telemetry),
            ("alerts", self.alerts),
        ):
            file_sink.close()
            rows[name] = file_sink.count
        for truth_sink in (self.truth_findings, self.truth_near, self.truth_ids):
            truth_sink.close()
        return rows

    # random.Random's randint and choice are several calls deep; these draw
    # from the same generator (random()) in one step, which halves the time a
    # million customers take.
    def _int(self, low: int, high: int) -> int:
        return low + int(self._random() * (high - low + 1))

    def _pick(self, items: Sequence[T]) -> T:
        return items[int(self._random() * len(items))]

    def _next(self, name: str) -> int:
        value = self.counters.get(name, 0) + 1
        self.counters[name] = value
        return value

    def _finding(self, kind: str, source: str, record_type: str, key: str, cid: str, note: str,
                 detail_key: str = "") -> None:
        self.findings[kind] += 1
        self.truth_findings.add((kind, source, record_type, key, detail_key, cid, note))

    def _near(self, label: str, source: str, record_type: str, key: str, cid: str,
              detail_key: str = "") -> None:
        kind, note = NEAR_MISSES[label]
        self.near[label] += 1
        self.truth_near.add((kind, source, record_type, key, detail_key, cid, f"{label}: {note}"))

    def _identity(self, source: str, record_type: str, key: str, cid: str) -> None:
        self.truth_ids.add((source, record_type, key, cid))

    # ------------------------------------------------------------------ the run

    def run(self) -> DemoWorld:
        blocks = max(1, -(-self.size // _BLOCK))
        for b in range(blocks):
            start, end = self.size * b // blocks, self.size * (b + 1) // blocks
            for offset, (role, piggy) in enumerate(self._block_roles(start, end)):
                self._customer(start + offset, role, piggy)
            for sink in (self.billing, self.inventory, self.dealer):
                sink.flush()
        rows = self._close()
        truth_dir = self.directory / "truth"
        files = {name: self.directory / file for name, file in FILES.items()}
        world = DemoWorld(
            directory=self.directory,
            size=self.size,
            seed=self.seed,
            as_of=self.as_of,
            files=files,
            truth_dir=truth_dir,
            rows=rows,
            findings=dict(self.findings),
            near_misses=dict(self.near),
        )
        manifest = {
            "size": self.size,
            "seed": self.seed,
            "as_of": iso_z(self.as_of),
            "files": dict(FILES),
            "rows": rows,
            "findings": world.findings,
            "near_misses": world.near_misses,
        }
        (truth_dir / "world.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        (truth_dir / "README.md").write_text(_TRUTH_README, encoding="utf-8")
        return world

    def _block_roles(self, start: int, end: int) -> list[tuple[str | None, str | None]]:
        """Which story each customer of a block carries (memory: one block)."""
        n = end - start
        roles: list[str | None] = []
        for role, total in self.totals.items():
            roles.extend([role] * _share(total, start, end, self.size))
        if len(roles) > n:
            raise ValueError(f"{len(roles)} injected stories do not fit in {n} customers")
        roles.extend([None] * (n - len(roles)))
        self.rng.shuffle(roles)
        hosts = [i for i, role in enumerate(roles) if role in _FINDING_RATES]
        self.rng.shuffle(hosts)
        piggy: list[str | None] = [None] * n
        for role, total in self.piggy_totals.items():
            for _ in range(_share(total, start, end, self.size)):
                piggy[hosts.pop()] = role
        return list(zip(roles, piggy, strict=True))

    # ------------------------------------------------------------------ a customer

    def _customer(self, idx: int, role: str | None, piggy: str | None) -> None:
        rng = self.rng
        party = self._party(idx, role)
        cid = party.cid
        if party.business:
            telecom = True
        elif role in _RECALL_ROLES:
            telecom = rng.random() < 0.4
        elif role is None or role.startswith("survey"):
            telecom = rng.random() < 0.75
        else:
            telecom = True
        vehicles = not party.business and (role in _RECALL_ROLES or rng.random() < 0.3)
        if not telecom and not vehicles:
            vehicles = True

        plan = self._telecom(party, role) if telecom else Telecom()
        name_misspelt = role == "name_mismatch"
        for acct in plan.accounts:
            self._emit_account(party, acct, name_misspelt)
        for line in plan.lines:
            self._emit_line(party, line, typo_ok=role is None)
        if vehicles:
            self._vehicles(party, role)

        has_crm = role is not None or rng.random() < 0.97
        contact_id = None
        if has_crm:
            contact_id = self._emit_contact(party, plan.crm_address or party.home, role)
            self._cases(contact_id, plan)
            self._surveys(party, contact_id, role, piggy)

        if role == "name_mismatch":
            for acct in plan.accounts:
                what = "company name" if party.business else "family name"
                self._finding("name_mismatch", "billing", "account", acct.no, cid,
                              f"billing misspells the {what} the customer gave the CRM")
        elif role in ("name_nickname", "name_accent", "name_title", "name_company"):
            for acct in plan.accounts:
                self._near(role, "billing", "account", acct.no, cid)

    # ------------------------------------------------------------------ who

    def _party(self, idx: int, role: str | None) -> Party:
        rng = self.rng
        if role in _PERSON_ROLES:
            business = False
        elif role == "name_company":
            business = True
        elif role == "moved":
            business = rng.random() < 0.6
        else:
            business = rng.random() < 0.12
        if role == "name_nickname":
            given = self._pick(_NICKNAMED_GIVEN)
        elif role == "name_accent" or rng.random() < 0.05:
            given = self._pick(D.ACCENTED_GIVEN)
        else:
            given = self._pick(D.GIVEN_FEMALE if rng.random() < 0.5 else D.GIVEN_MALE)
        if role == "name_accent" or (given in D.ACCENTED_GIVEN and rng.random() < 0.8):
            family = self._pick(D.ACCENTED_FAMILY)
        else:
            family = self._pick(D.FAMILY)
        r = rng.random()
        if role == "name_title" or r < 0.4:
            middle = self._pick("ABCDEFGHJKLMNPRSTW")
        elif r < 0.45:
            middle = self._pick(D.GIVEN_MALE if rng.random() < 0.5 else D.GIVEN_FEMALE).upper()
        else:
            middle = ""
        company: list[str] | None = None
        suffix = ""
        if business:
            form = rng.random()
            trade = self._pick(D.TRADES).split()
            if role == "name_company" or form < 0.2:
                company = [self._pick(D.FAMILY), "&", self._pick(D.FAMILY), *trade]
            elif form < 0.6:
                company = [self._pick(D.FAMILY), *trade]
            else:
                company = [*self._pick(D.COMPANY_PREFIXES).split(), *trade]
            r = rng.random()
            suffix = (
                "LLC" if r < 0.35 else "INC" if r < 0.6 else "CORP" if r < 0.68
                else "CO" if r < 0.8 else "LTD" if r < 0.85 else ""
            )
            if role == "name_company" and not suffix:
                suffix = "LLC"
        home = self._address(business)
        area = self._pick(next(c[4] for c in D.CITIES if c[0] == home.city and c[1] == home.state))
        number = (idx * 2_654_435_761 + self.seed * 7_919) % _PHONE_SPACE
        phone = (area, str(_PHONE_EXCHANGES[number // 10_000]), f"{number % 10_000:04d}")
        g, f = ascii_fold(given).lower(), ascii_fold(family).lower()
        if business:
            assert company is not None
            slug = "".join(w.lower() for w in company if w.isalpha())
            email: str | None = f"billing{idx}@{slug}.example.com"
        else:
            style = rng.random()
            local = (
                f"{g}.{f}{idx}" if style < 0.4 else f"{g[0]}{f}{idx}" if style < 0.7 else f"{f}.{g}{idx}"
            )
            email = f"{local}@{self._pick(D.EMAIL_DOMAINS)}"
        birth = None
        if not business:
            birth = dt.date(1945, 1, 1) + dt.timedelta(days=self._int(0, 60 * 365))
        return Party(
            cid=f"C{idx + 1:07d}", business=business, given=given, family=family, middle=middle,
            company=company, company_suffix=suffix, phone=phone, email=email, birth=birth, home=home,
            clean=role is not None,
        )

    def _address(self, business: bool, city: tuple[str, str, int, int, tuple[str, ...]] | None = None) -> Addr:
        rng = self.rng
        city = city or self._pick(D.CITIES)
        unit = ""
        if business and rng.random() < 0.45:
            unit = str(self._pick((100, 110, 120, 200, 210, 250, 300, 310, 400, 500)))
        elif not business and rng.random() < 0.25:
            unit = f"{self._int(1, 30)}{self._pick(('', '', 'A', 'B', 'C'))}"
        return Addr(
            number=self._int(1, 9999) if rng.random() < 0.8 else self._int(10000, 39999),
            direction=self._int(0, 3) if rng.random() < 0.2 else -1,
            street=self._pick(D.STREETS),
            stype=self._int(0, len(D.STREET_TYPES) - 1),
            unit=unit,
            suite=business and bool(unit),
            city=city[0],
            state=city[1],
            zip=f"{self._int(city[2], city[3]):05d}",
            plus4=f"{self._int(1, 9999):04d}",
        )

    def _moved_from(self, party: Party) -> Addr:
        """The address a customer lived at before the move."""
        same_city = next(c for c in D.CITIES if c[0] == party.home.city and c[1] == party.home.state)
        return self._address(party.business, same_city if self.rng.random() < 0.6 else None)

    # ------------------------------------------------------------------ telecom

    def _days_ago(self, low: int, high: int) -> dt.date:
        return self.today - dt.timedelta(days=self._int(low, high))

    def _sub(self, product: str, start: dt.date, status: str = "ACT", end: dt.date | None = None) -> Sub:
        plans = D.PRODUCTS[product][0]
        plan = plans[0] if len(plans) == 1 or self.rng.random() < 0.7 else plans[1]
        return Sub(f"SUB-{self._next('sub'):08d}", product, plan, status, start, end, D.PLAN_PRICE[plan])

    def _line(self, product: str, address: Addr, activated: dt.date | None, status: str = "IS",
              deactivated: dt.date | None = None) -> Line:
        prefix = D.PRODUCTS[product][2]
        device = f"{prefix}-{(self._next('device') * 2654435761) & 0xFFFFFFFF:08X}"
        return Line(f"SL{self._next('line'):08d}", product, status, address, activated, deactivated, device)

    def _products(self, business: bool, internet: bool | None = None, monitoring: bool | None = None) -> list[str]:
        rng = self.rng
        r = rng.random()
        if business:
            product: str | None = "fiber_1g" if r < 0.5 else "fiber_300"
        else:
            product = "fiber_1g" if r < 0.35 else "fiber_300" if r < 0.75 else "dsl_50" if r < 0.9 else None
        if internet is True and product is None:
            product = "fiber_300"
        if internet is False:
            product = None
        has_monitoring = rng.random() < 0.25 if monitoring is None else monitoring
        if product is None and not has_monitoring:
            has_monitoring = True
        return ([product] if product else []) + (["monitoring"] if has_monitoring else [])

    def _account(self, party: Party, products: list[str], *, min_age: int = 60, max_age: int = 3000,
                 address: Addr | None = None, opened: dt.date | None = None, autopay: bool | None = None,
                 mode: str | None = None, churn: bool = False, lines: list[Line] | None = None) -> Acct:
        """An account with a subscription and an active line per product."""
        rng = self.rng
        opened = opened or self._days_ago(min_age, max_age)
        if autopay is None:
            autopay = rng.random() < 0.7
        acct = Acct(
            no=f"AC-{self._next('account'):07d}",
            opened=opened,
            address=address or party.home,
            autopay=autopay,
            method="ACH" if rng.random() < 0.5 else "CARD",
            mode=mode or ("ok" if autopay else "manual"),
        )
        age = (self.today - opened).days
        for product in products:
            start = opened + dt.timedelta(days=self._int(0, 10))
            if product == "monitoring" and len(products) > 1 and age > 200 and rng.random() < 0.4:
                start = opened + dt.timedelta(days=self._int(30, age - 90))
            if churn and product in ("fiber_1g", "fiber_300") and age > 400:
                switch = opened + dt.timedelta(days=self._int(60, age - 120))
                acct.subs.append(self._sub("dsl_50", start, "CAN", switch))
                if lines is not None:
                    lines.append(self._line("dsl_50", acct.address, start + dt.timedelta(days=1), "DISC",
                                            switch + dt.timedelta(days=2)))
                start = switch
            acct.subs.append(self._sub(product, start))
            if lines is not None:
                lines.append(self._line(product, acct.address, start + dt.timedelta(days=self._int(0, 3))))
        return acct

    def _telecom(self, party: Party, role: str | None) -> Telecom:
        rng = self.rng
        plan = Telecom(crm_address=party.home)
        cid = party.cid
        lines = plan.lines
        ordinary_roles = {None, "name_mismatch", "name_nickname", "name_accent", "name_title", "name_company",
                          "survey_low_no_finding"} | _RECALL_ROLES
        if role in ordinary_roles:
            products = self._products(party.business)
            churn = role is None and rng.random() < 0.06
            plan.accounts.append(self._account(party, products, churn=churn, lines=lines))
            if role is None and rng.random() < 0.02:
                # A former customer: account closed, nothing billed or provisioned now.
                acct = plan.accounts[0]
                acct.status = "C"
                acct.closed = self._days_ago(200, 400)
                if acct.closed <= acct.opened:
                    acct.closed = acct.opened + dt.timedelta(days=30)
                for sub in acct.subs:
                    sub.status, sub.end = "CAN", sub.end or acct.closed
                for line in lines:
                    if line.status == "IS":
                        line.status, line.deactivated = "DISC", acct.closed + dt.timedelta(days=1)
            return plan

        if role in ("failed_autopay", "autopay_recovered", "autopay_case", "autopay_manual"):
            mode = {"failed_autopay": "failing", "autopay_recovered": "recovered",
                    "autopay_case": "case", "autopay_manual": "manual_switch"}[role]
            acct = self._account(party, self._products(party.business), min_age=250, autopay=role != "autopay_manual",
                                 mode=mode, lines=lines)
            plan.accounts.append(acct)
            failures = (3, 2, 1) if mode != "manual_switch" else (4, 3, 2)
            first = self.cycles[failures[0]][2]
            if role == "failed_autopay":
                plan.cases_before = first
                codes = acct.codes = self._failure_codes(acct.method)
                self._finding(
                    "failed_autopay", "billing", "account", acct.no, cid,
                    f"auto-pay ({acct.method}) failed 3 times since {first.date().isoformat()} "
                    f"({', '.join(codes)}); 3 invoices overdue; no customer contact recorded",
                )
            else:
                if role in ("autopay_case", "autopay_manual"):
                    opened = self.cycles[failures[1]][2] + dt.timedelta(days=2, hours=self._int(0, 8))
                    status = "Working" if role == "autopay_case" else "Closed"
                    plan.extra_cases.append((opened, "Auto-pay failed", status))
                self._near(role, "billing", "account", acct.no, cid)
            return plan

        if role == "duplicate_active_line":
            product = self._pick(D.INTERNET_PRODUCTS)
            old_home = self._moved_from(party)
            acct = self._account(party, [], min_age=400)
            sub = self._sub(product, acct.opened + dt.timedelta(days=self._int(0, 10)))
            acct.subs.append(sub)
            plan.accounts.append(acct)
            moved = self._days_ago(60, 200)
            old_line = self._line(product, old_home, sub.start + dt.timedelta(days=1))
            lines.extend([old_line, self._line(product, party.home, moved)])
            self._finding("duplicate_active_line", "inventory", "service_line", old_line.line_id, cid,
                          f"moved on {moved.isoformat()}: a new {product} line at the new address, "
                          "the old line still active at the old address")
            return plan

        if role in ("moved", "payment_misapplied", "two_accounts"):
            product = self._pick(D.INTERNET_PRODUCTS)
            new_opened = self.cycles[3][0] - dt.timedelta(days=self._int(1, 20))
            if role == "moved":
                old_address = self._moved_from(party)
                old = self._account(party, [product], min_age=500, address=old_address, autopay=True,
                                    lines=lines)
                old_line = lines[-1]
            else:
                old = self._account(party, ["monitoring"], min_age=500, autopay=True, lines=lines)
            new = self._account(party, [], opened=new_opened, autopay=role == "two_accounts",
                                mode="ok" if role == "two_accounts" else "unpaid")
            sub = self._sub(product, new_opened)
            new.subs.append(sub)
            lines.append(self._line(product, party.home, new_opened + dt.timedelta(days=self._int(1, 5))))
            plan.accounts.extend([old, new])
            if role == "two_accounts":
                self._near("two_accounts", "billing", "account", new.no, cid)
                return plan
            self._finding("payment_misapplied", "billing", "account", new.no, cid,
                          f"current account opened {new_opened.isoformat()} has 3 overdue invoices while "
                          f"auto-pay keeps charging the other account {old.no}")
            if role == "moved":
                self._finding("duplicate_active_line", "inventory", "service_line", old_line.line_id, cid,
                              f"moved on {new_opened.isoformat()}: a new {product} line at the new address, "
                              "the old line still active at the old address (joint with payment_misapplied)")
            return plan

        if role in ("billed_not_provisioned", "billed_recent"):
            acct = self._account(party, self._products(party.business), max_age=1500, lines=lines)
            plan.accounts.append(acct)
            present = {s.product for s in acct.subs}
            product = next(p for p in ("monitoring", "fiber_300", "fiber_1g") if p not in present)
            if role == "billed_recent":
                sub = self._sub(product, self.today)
                lines.append(self._line(product, acct.address, None, "PEND"))
                acct.subs.append(sub)
                self._near("billed_recent", "billing", "subscription", sub.sub_id, cid)
                return plan
            start = max(acct.opened, self._days_ago(40, 400))
            sub = self._sub(product, start)
            acct.subs.append(sub)
            if rng.random() < 0.5:
                lines.append(self._line(product, acct.address, None, "PEND"))
                how = "the line is still pending"
            else:
                how = "no line was ever provisioned"
            self._finding("billed_not_provisioned", "billing", "subscription", sub.sub_id, cid,
                          f"{product} billed since {start.isoformat()}; {how}")
            return plan

        if role in ("provisioned_not_billed", "provisioned_recent"):
            acct = self._account(party, self._products(party.business), max_age=1500, lines=lines)
            plan.accounts.append(acct)
            present = {s.product for s in acct.subs}
            product = "monitoring" if "monitoring" not in present else next(
                p for p in ("fiber_300", "fiber_1g", "dsl_50") if p not in present
            )
            if role == "provisioned_recent":
                line = self._line(product, acct.address, self.today)
                acct.subs.append(self._sub(product, self.today + dt.timedelta(days=1), "PND"))
                lines.append(line)
                self._near("provisioned_recent", "inventory", "service_line", line.line_id, cid)
                return plan
            activated = max(acct.opened, self._days_ago(60, 500)) + dt.timedelta(days=1)
            line = self._line(product, acct.address, activated)
            lines.append(line)
            if rng.random() < 0.5:
                ended = self._days_ago(30, max(31, (self.today - activated).days - 10))
                acct.subs.append(self._sub(product, activated - dt.timedelta(days=1), "CAN", ended))
                how = f"subscription cancelled on {ended.isoformat()}"
            else:
                how = "never billed"
            self._finding("provisioned_not_billed", "inventory", "service_line", line.line_id, cid,
                          f"{product} line active since {activated.isoformat()}; {how}")
            return plan

        if role in ("monitoring_gap", "offline_short", "offline_alerted", "offline_unmonitored"):
            monitored = role != "offline_unmonitored"
            products = self._products(party.business, internet=not monitored or None, monitoring=monitored)
            acct = self._account(party, products, max_age=2000, lines=lines)
            plan.accounts.append(acct)
            wanted = "monitoring" if monitored else products[0]
            line = next(ln for ln in lines if ln.product == wanted and ln.status == "IS")
            if role == "monitoring_gap":
                line.offline_for = dt.timedelta(days=self._int(4, 20), seconds=self._int(0, 86_399))
                if rng.random() < 0.3:
                    # An alert from an earlier outage: sent before the device went quiet.
                    line.alerts.append(self.as_of - line.offline_for - dt.timedelta(days=self._int(20, 90)))
                days = line.offline_for.days
                self._finding("monitoring_gap", "telemetry", "device_status", line.device, cid,
                              f"monitoring hub offline for {days} days; no alert sent since")
                return plan
            if role == "offline_short":
                line.offline_for = dt.timedelta(hours=10, seconds=self._int(-1200, 1200))
            elif role == "offline_alerted":
                line.offline_for = dt.timedelta(hours=100, seconds=self._int(-1800, 1800))
                line.alerts.append(self.as_of - line.offline_for + dt.timedelta(minutes=self._int(5, 30)))
            else:
                line.offline_for = dt.timedelta(days=self._int(8, 20), seconds=self._int(0, 86_399))
            self._near(role, "telemetry", "device_status", line.device, cid)
            return plan

        if role == "second_home":
            products = self._products(party.business, internet=True, monitoring=False)
            acct = self._account(party, products, min_age=200, lines=lines)
            sub = self._sub("monitoring", self._days_ago(60, 180))
            acct.subs.append(sub)
            plan.accounts.append(acct)
            second = self._address(False)
            line = self._line("monitoring", second, sub.start + dt.timedelta(days=1))
            lines.append(line)
            self._near("second_home", "inventory", "service_line", line.line_id, cid)
            return plan

        raise AssertionError(f"unhandled role {role!r}")  # pragma: no cover

    def _failure_codes(self, method: str) -> list[str]:
        """Return codes of three failed charges: ACH returns or card declines."""
        if method == "ACH":
            return ["R01", "R01", self._pick(("R01", "R02"))]
        return ["CARD_DECLINED", self._pick(("CARD_DECLINED", "CARD_EXPIRED")), "CARD_EXPIRED"]

    # ------------------------------------------------------------------ billing rows

    def _emit_account(self, party: Party, acct: Acct, misspelt: bool) -> None:
        rng = self.rng
        family, given = ascii_fold(party.family).upper(), ascii_fold(party.given).upper()
        if misspelt and not party.business:
            family = misspell(family, rng)
        holder = f"{family}, {given}" + (f" {party.middle}" if party.middle else "")
        business_name = company_billing(party, misspelt, rng) if party.business else None
        email = party.email
        if email is not None:
            if not party.clean and rng.random() < 0.08:
                email = None
            elif rng.random() < 0.3:
                email = email.upper()
        area, exchange, number = party.phone
        phone = f"({area}) {exchange}-{number}" if party.clean or rng.random() < 0.97 else None
        a = acct.address
        self.billing.add(
            "accounts",
            (
                acct.no, "B" if party.business else "P", holder, business_name, email, phone,
                street_words(a, abbreviate=True).upper(), unit_billing(a), a.city.upper(), a.state,
                a.zip, party.birth.isoformat() if party.birth and rng.random() < 0.6 else None,
                acct.status, "Y" if acct.autopay else "N", acct.method if acct.autopay else None,
                acct.opened.isoformat(), acct.closed.isoformat() if acct.closed else None,
            ),
        )
        self._identity("billing", "account", acct.no, party.cid)
        for sub in acct.subs:
            self.billing.add(
                "subscriptions",
                (sub.sub_id, acct.no, sub.plan, sub.status, sub.start.isoformat(),
                 sub.end.isoformat() if sub.end else None, sub.amount),
            )
        self._bill(acct)

    def _bill(self, acct: Acct) -> None:
        """Invoices of the last six cycles and the payments against them.

        ``acct.mode`` says how they were paid: ``ok`` (auto-pay, the odd
        failure retried in time), ``manual``, ``failing`` and ``case`` (the last
        three charges failed), ``recovered`` (three failures, then a retry
        paid them all), ``manual_switch`` (three failures, then manual pay),
        ``unpaid`` (nothing paid).
        """
        rng = self.rng
        invoices: dict[int, tuple[str, float]] = {}
        for k in range(5, -1, -1):
            issue = self.cycles[k][0]
            if issue < acct.opened or (acct.closed is not None and issue >= acct.closed):
                continue
            amount = round(sum(s.amount for s in acct.subs if s.billed_on(issue)), 2)
            if amount:
                invoices[k] = (f"INV-{self._next('invoice'):09d}", amount)
        paid: dict[int, dt.datetime] = {}
        mode = acct.mode
        failing: tuple[int, ...] = {"failing": (3, 2, 1), "case": (3, 2, 1), "recovered": (3, 2, 1),
                   "manual_switch": (4, 3, 2)}.get(mode, ())
        codes = (acct.codes or self._failure_codes(acct.method)) if failing else []
        glitch = self._pick(list(invoices)) if mode == "ok" and invoices and rng.random() < 0.03 else None
        for k in sorted(invoices, reverse=True):
            if k == 0:
                continue  # the newest invoice is not due yet
            invoice_id, amount = invoices[k]
            issue, _due, attempt = self.cycles[k]
            when = attempt + dt.timedelta(minutes=self._int(0, 300), seconds=self._int(0, 59))
            if mode == "unpaid":
                continue
            if mode == "manual" or (mode == "manual_switch" and k < failing[-1]):
                when = dt.datetime.combine(issue, dt.time(self._int(8, 20)), tzinfo=dt.UTC) + dt.timedelta(
                    days=self._int(2, 14), minutes=self._int(0, 59))
                self._payment(acct, amount, when, True, None, self._pick(("CARD", "CHECK", "WEB")), False)
                paid[k] = when
                continue
            if k in failing:
                code = codes[failing.index(k)]
                self._payment(acct, amount, when, False, code, acct.method, True)
                continue
            if k == glitch:
                self._payment(acct, amount, when, False, "R01" if acct.method == "ACH" else "CARD_DECLINED",
                              acct.method, True)
                when += dt.timedelta(days=2)
            self._payment(acct, amount, when, True, None, acct.method, True)
            paid[k] = when
        if mode in ("recovered", "manual_switch"):
            total = round(sum(invoices[k][1] for k in failing if k in invoices), 2)
            last = self.cycles[failing[-1]][2]
            when = last + dt.timedelta(days=5 if mode == "recovered" else 6, hours=self._int(0, 8))
            self._payment(acct, total, when, True, None,
                          acct.method if mode == "recovered" else "WEB", mode == "recovered")
            for k in failing:
                paid[k] = when
        for k in sorted(invoices, reverse=True):
            invoice_id, amount = invoices[k]
            issue, due, _attempt = self.cycles[k]
            status, paid_on = ("P", paid[k].date().isoformat()) if k in paid else ("O", None)
            self.billing.add(
                "invoices",
                (invoice_id, acct.no, amount, issue.isoformat(), due.isoformat(), status, paid_on),
            )

    def _payment(self, acct: Acct, amount: float, when: dt.datetime, ok: bool, code: str | None,
                 channel: str, autopay: bool) -> None:
        result = "APPROVED" if ok else ("RETURNED" if code and code.startswith("R") else "DECLINED")
        self.billing.add(
            "payments",
            (f"PMT-{self._next('payment'):09d}", acct.no, amount, sql_time(when), result, code, channel,
             1 if autopay else 0),
        )

    # ------------------------------------------------------------------ inventory rows

    def _emit_line(self, party: Party, line: Line, typo_ok: bool) -> None:
        rng = self.rng
        given = party.given
        if given in D.INVENTORY_NICKNAMES and rng.random() < 0.1:
            given = D.INVENTORY_NICKNAMES[given]
        family = party.family
        area, exchange, number = party.phone
        phone = f"{area}.{exchange}.{number}" if party.clean or rng.random() < 0.8 else None
        if typo_ok and phone is not None and rng.random() < 0.04:
            family = typo(family, rng)
        subscriber = f"{given} {family}"
        if rng.random() < 0.5:
            subscriber = ascii_fold(subscriber)
        company = None
        if party.company is not None:
            company = " ".join(party.company)
        a = line.address
        unit = None
        if a.unit:
            unit = f"Suite {a.unit}" if a.suite else (f"Apartment {a.unit}" if rng.random() < 0.5 else f"#{a.unit}")
        code = D.PRODUCTS[line.product][1]
        self.inventory.add(
            "service_lines",
            (
                line.line_id, subscriber, company, phone, street_words(a, abbreviate=False), unit,
                a.city, a.state, a.zip, code, line.status,
                us_date(line.activated) if line.activated else None,
                us_date(line.deactivated) if line.deactivated else None,
            ),
        )
        model = {"ONT": "GPON-ONT G-240W", "MDM": "VDSL2 Gateway 5268", "HUB": "SafeHome Hub 3"}[line.device[:3]]
        self.inventory.add("devices", (line.device, line.line_id, model))
        self._identity("inventory", "service_line", line.line_id, party.cid)
        if line.status != "IS":
            return  # a pending or disconnected line's device reports nothing
        if line.offline_for is None:
            seen = self.as_of - dt.timedelta(seconds=self._int(5, 1800))
            state = "UP"
        else:
            seen = self.as_of - line.offline_for
            state = "DOWN"
        firmware = f"{self._int(2, 4)}.{self._int(0, 9)}.{self._int(0, 20)}"
        self.telemetry.add((line.device, state, iso_z(seen), firmware))
        alerts = list(line.alerts)
        if line.offline_for is None and rng.random() < 0.03:
            alerts.append(self.as_of - dt.timedelta(days=self._int(15, 300), minutes=self._int(0, 1439)))
        for sent in alerts:
            self.alerts.add(
                (
                    f"ALR-{self._next('alert'):08d}", line.device,
                    f"{sent.month:02d}/{sent.day:02d}/{sent.year} {sent.hour:02d}:{sent.minute:02d}",
                    "DEVICE_OFFLINE", self._pick(("SMS", "EMAIL", "CALL_CENTER")),
                )
            )

    # ------------------------------------------------------------------ vehicles

    def _vin(self, wmi: str, year: int) -> str:
        descriptor = "".join(self._pick(VIN_CHARS) for _ in range(5))
        # A bijection of the vehicle counter keeps every VIN unique without remembering them.
        serial = (self._next("vin") * 7_654_321 + self.seed) % (33 * 1_000_000)
        return make_vin(wmi, descriptor, D.MODEL_YEARS[year], VIN_CHARS[serial // 1_000_000], serial % 1_000_000)

    def _vehicles(self, party: Party, role: str | None) -> None:
        rng = self.rng
        story_role = role if role in _RECALL_ROLES else None
        count = 2 if story_role == "recall_unknown_vehicle" or rng.random() < 0.2 else 1
        for number in range(count):
            story = story_role if number == count - 1 else None  # the story's vehicle is the last
            wmi, make, models = self._pick(D.MAKES)
            year = self._pick(list(D.MODEL_YEARS))
            vin = self._vin(wmi, year)
            if story_role == "recall_unknown_vehicle":
                at_dealer = story is None  # the dealer knows the owner, not the recalled vehicle
            else:
                at_dealer = story is not None or rng.random() < 0.85
            mistyped = (
                story == "recall_dealer_open"
                or (story == "recall_missing_locally" and rng.random() < 0.35)
                or (story is None and rng.random() < 0.1)
            )
            dealer_vin = mistype_vin(vin, rng) if mistyped else vin
            campaigns = self._campaigns(make, story, quiet=story_role == "recall_unknown_vehicle")
            veh_id = None
            if at_dealer:
                veh_id = self._emit_vehicle(party, dealer_vin, make, self._pick(models), year, typo_ok=role is None)
            for campaign, notice_status, dealer_status, campaign_story in campaigns:
                self._emit_campaign(party, vin, veh_id, campaign, notice_status, dealer_status, campaign_story,
                                    dealer_vin)
            if veh_id is not None:
                for _ in range(self._pick((0, 1, 1, 2, 3))):
                    day = self._days_ago(20, 700)
                    self.dealer.add(
                        "repair_orders",
                        (f"RO{self._next('ro'):07d}", veh_id, day.isoformat(), None, "CLOSED",
                         self._pick(D.REPAIR_DESCRIPTIONS)),
                    )

    def _campaigns(
        self, make: str, story: str | None, quiet: bool
    ) -> list[tuple[tuple[str, str, str, int], str, str | None, str | None]]:
        """Recall campaigns on one vehicle: (campaign, notice status, dealer status or None, story)."""
        rng = self.rng
        available = list(_CAMPAIGNS_BY_MAKE[make])
        rng.shuffle(available)
        out: list[tuple[tuple[str, str, str, int], str, str | None, str | None]] = []
        if story is not None:
            notice, dealer = {
                "recall_missing_locally": ("OPEN", None),  # the dealer never loaded the campaign
                "recall_dealer_open": ("OPEN", "OPEN"),
                "recall_remedied": ("REMEDY_COMPLETE", None),  # fixed elsewhere
                "recall_unknown_vehicle": ("OPEN", None),
            }[story]
            out.append((available.pop(), notice, dealer, story))
        if quiet or story not in (None, "recall_missing_locally") or not available:
            return out
        if story is not None:
            if rng.random() < 0.3:  # an earlier recall the dealer did carry out
                out.append((available.pop(), "REMEDY_COMPLETE", "COMPLETE", None))
        elif rng.random() < 0.25:
            if rng.random() < 0.5:
                out.append((available.pop(), "REMEDY_COMPLETE", "COMPLETE", None))
            else:
                notice = "REMEDY_NOT_AVAILABLE" if rng.random() < 0.15 else "OPEN"
                out.append((available.pop(), notice, "OPEN", None))
        return out

    def _emit_vehicle(self, party: Party, vin: str, make: str, model: str, year: int, typo_ok: bool) -> str:
        rng = self.rng
        veh_id = f"V{self._next('vehicle'):07d}"
        area, exchange, number = party.phone
        phone = None
        if party.clean or rng.random() < 0.9:
            phone = f"{area}-{exchange}-{number}" if rng.random() < 0.6 else f"{area}{exchange}{number}"
        first, last = party.given, party.family
        if typo_ok and phone is not None and rng.random() < 0.05:
            last = typo(last, rng)
        a = party.home
        street = street_words(a, abbreviate=True)
        if a.unit:
            street += f" #{a.unit}" if rng.random() < 0.5 else f" Apt {a.unit}"
        zip_code = f"{a.zip}-{a.plus4}" if rng.random() < 0.3 else a.zip
        email = party.email if rng.random() < 0.5 else None
        self.dealer.add(
            "vehicles",
            (veh_id, vin, make, model, year, ascii_fold(first), ascii_fold(last), phone, email, street, a.city,
             a.state, zip_code),
        )
        self._identity("dealer", "vehicle", veh_id, party.cid)
        return veh_id

    def _emit_campaign(self, party: Party, vin: str, veh_id: str | None, campaign: tuple[str, str, str, int],
                       notice_status: str, dealer_status: str | None, story: str | None, dealer_vin: str) -> None:
        code, _make, component, age = campaign
        notice_date = self.today - dt.timedelta(days=age) + dt.timedelta(days=self._int(0, 10))
        notice_id = f"RN-{self._next('notice'):07d}"
        a = party.home
        address = street_words(a, abbreviate=True).upper() + (f" {unit_billing(a)}" if a.unit else "")
        owner = " ".join(p for p in (party.given, party.middle[:1], party.family) if p)
        self.recalls.add(
            (
                notice_id, code, vin, ascii_fold(owner).upper(), address, a.city.upper(), a.state, a.zip,
                notice_date.strftime("%Y%m%d"), notice_status, component,
            )
        )
        self._identity("recalls", "recall_notice", notice_id, party.cid)
        if veh_id is not None and dealer_status is not None:
            loaded = notice_date + dt.timedelta(days=self._int(0, 20))
            self.dealer.add(
                "vehicle_campaigns",
                (f"VC{self._next('vc'):07d}", veh_id, code, dealer_status, loaded.strftime("%Y/%m/%d")),
            )
        if veh_id is not None and notice_status == "REMEDY_COMPLETE" and dealer_status == "COMPLETE":
            done = min(notice_date + dt.timedelta(days=self._int(10, 60)), self.today - dt.timedelta(days=1))
            self.dealer.add(
                "repair_orders",
                (f"RO{self._next('ro'):07d}", veh_id, done.isoformat(), code, "CLOSED", f"recall {code}: {component}"),
            )
        if story == "recall_missing_locally":
            typed = "" if dealer_vin == vin else f" (dealer has the VIN typed as {dealer_vin})"
            self._finding("recall_missing_locally", "recalls", "recall_notice", notice_id, party.cid,
                          f"campaign {code} open at head office since {notice_date.isoformat()}; "
                          f"the dealer knows the vehicle{typed} but not the recall", detail_key=code)
        elif story is not None:
            self._near(story, "recalls", "recall_notice", notice_id, party.cid, detail_key=code)

    # ------------------------------------------------------------------ CRM

    def _emit_contact(self, party: Party, address: Addr, role: str | None) -> str:
        rng = self.rng
        contact_id = f"0035e{self._next('contact'):010d}"
        given = party.given
        if given in D.CRM_NICKNAMES and (role == "name_nickname" or (role is None and rng.random() < 0.03)):
            given = D.CRM_NICKNAMES[given]
        salutation = suffix = None
        if role == "name_title":
            salutation, suffix = "Dr.", self._pick(("Jr.", "Sr."))
        elif not party.business and rng.random() < 0.2:
            salutation = self._pick(("Ms.", "Mrs.")) if party.given in _FEMALE_GIVEN else "Mr."
        area, exchange, number = party.phone
        phone = f"+1 {area} {exchange} {number}" if party.clean or rng.random() < 0.92 else None
        email = party.email if party.clean or rng.random() < 0.9 else None
        unit = None
        if address.unit:
            unit = f"Suite {address.unit}" if address.suite else f"Apt {address.unit}"
        created = self._days_ago(30, 3000)
        self.contacts.add(
            {
                "Id": contact_id,
                "Salutation": salutation,
                "FirstName": given,
                "LastName": party.family,
                "Suffix": suffix,
                "Account": {"Name": company_crm(party, rng) if party.business else None},
                "Email": email,
                "Phone": phone,
                "MailingAddress": {
                    "street": street_words(address, abbreviate=rng.random() < 0.7, dotted=rng.random() < 0.5),
                    "street2": unit,
                    "city": address.city,
                    "state": address.state,
                    "postalCode": address.zip,
                },
                "Birthdate": party.birth.isoformat() if party.birth and rng.random() < 0.6 else None,
                "CreatedDate": f"{created.isoformat()}T{self._int(8, 18):02d}:{self._int(0, 59):02d}:00Z",
            }
        )
        self._identity("crm", "contact", contact_id, party.cid)
        return contact_id

    def _cases(self, contact_id: str, plan: Telecom) -> None:
        rng = self.rng
        r = rng.random()
        count = 0 if r < 0.65 else 1 if r < 0.9 else 2
        latest = plan.cases_before or self.as_of
        cases = []
        for _ in range(count):
            opened = latest - dt.timedelta(days=self._int(2, 700), minutes=self._int(0, 1439))
            cases.append((opened, self._pick(D.CASE_TOPICS), "Closed"))
        cases.extend(plan.extra_cases)
        for opened, topic, status in sorted(cases):
            closed = None
            if status == "Closed":
                closed = min(opened + dt.timedelta(days=self._int(0, 5), hours=self._int(1, 8)),
                             self.as_of - dt.timedelta(hours=1))
            self.cases.add(
                {
                    "CaseNumber": f"{self._next('case'):08d}",
                    "ContactId": contact_id,
                    "Subject": topic,
                    "Reason": topic.split()[0],
                    "Status": status,
                    "Origin": self._pick(D.CASE_ORIGINS),
                    "CreatedDate": iso_z(opened),
                    "ClosedDate": iso_z(closed) if closed else None,
                }
            )

    def _surveys(self, party: Party, contact_id: str, role: str | None, piggy: str | None) -> None:
        rng = self.rng
        surveys: list[tuple[int, int, dt.datetime, str | None]] = []  # score, scale, when, story
        if rng.random() < 0.15 and role is None:
            scale = 10 if rng.random() < 0.7 else 5
            score = self._int(8, 10) if scale == 10 else self._int(4, 5)
            when = self.as_of - dt.timedelta(days=self._int(1, 300), minutes=self._int(0, 1439))
            surveys.append((score, scale, when, None))
        recent = self.as_of - dt.timedelta(days=self._int(5, 90), minutes=self._int(0, 1439))
        if role == "survey_low_no_finding":
            surveys.append((self._int(1, 3), 10, recent, role))
        if piggy == "low_survey":
            low = (self._int(1, 3), 10) if rng.random() < 0.7 else (1, 5)
            surveys.append((*low, recent, piggy))
        elif piggy == "survey_high_with_finding":
            surveys.append((self._int(9, 10), 10, recent, piggy))
        elif piggy == "survey_low_old":
            old = self.as_of - dt.timedelta(days=self._int(200, 400))
            surveys.append((self._int(1, 3), 10, old, piggy))
        for score, scale, when, story in surveys:
            survey_id = f"SR-{self._next('survey'):07d}"
            self.surveys.add(
                {
                    "ResponseId": survey_id,
                    "ContactId": contact_id,
                    "Score": score,
                    "Scale": scale,
                    "SubmittedAt": iso_z(when),
                    "Topic": self._pick(D.SURVEY_TOPICS),
                }
            )
            if story == "low_survey":
                self._finding("unresolved_low_survey", "crm", "survey", survey_id, party.cid,
                              f"scored {score}/{scale} on {when.date().isoformat()} by a customer with an "
                              "open finding of another kind")
            elif story is not None:
                self._near(story, "crm", "survey", survey_id, party.cid)


def generate(
    directory: str | Path,
    size: int = 1000,
    seed: int = 7,
    as_of: dt.datetime = DEFAULT_AS_OF,
) -> DemoWorld:
    """Write a demo company of ``size`` customers and its ground truth.

    The same ``size``, ``seed`` and ``as_of`` give byte-identical files. The
    world is written customer by customer, so memory does not grow with
    ``size``.

    Args:
        directory: Folder to write into (created if missing); the demo's
            files in it are replaced.
        size: Number of customers (at least 50). From 200 on, every finding
            kind and near miss is injected at least 3 times.
        seed: Seed of the generator.
        as_of: The reference time the world is built around; dates are
            placed relative to it. A naive datetime is taken as UTC.

    Returns:
        The paths, row counts and injected cases.

    Raises:
        ValueError: ``size`` is below 50.
    """
    if size < 50:
        raise ValueError(f"size must be at least 50 customers, got {size}")
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    as_of = as_of.astimezone(dt.UTC)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    return _Generator(directory, size, seed, as_of).run()
