"""The demo world: deterministic, every story injected, truth that names real records."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import sqlite3
from collections import Counter
from pathlib import Path

import phonenumbers
import pytest
from demo_oracle import evaluate, load_identities, load_tables, truth_subjects

from reconcile.demo import KINDS, NEAR_MISSES, DemoWorld, generate, write_config
from reconcile.demo._vin import is_valid_vin

SIZE = 300


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return generate(tmp_path_factory.mktemp("world"), size=SIZE, seed=5)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _hashes(directory: Path) -> dict[str, str]:
    return {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_same_seed_and_size_give_identical_files(tmp_path: Path) -> None:
    first = generate(tmp_path / "a", size=120, seed=3)
    second = generate(tmp_path / "b", size=120, seed=3)
    other = generate(tmp_path / "c", size=120, seed=4)
    hashes = _hashes(first.directory)
    assert len(hashes) == len(first.files) + 5  # the systems and truth/ (findings, near misses, identities, world.json, README)
    assert hashes == _hashes(second.directory)
    different = _hashes(other.directory)
    assert all(different[name] != digest for name, digest in hashes.items() if name not in ("truth/world.json", "truth/README.md"))


def test_regenerating_in_place_replaces_the_files(tmp_path: Path) -> None:
    generate(tmp_path, size=60, seed=1)
    again = generate(tmp_path, size=60, seed=2)
    fresh = generate(tmp_path / "fresh", size=60, seed=2)
    assert _hashes(again.truth_dir) == _hashes(fresh.truth_dir)
    assert again.files["billing"].read_bytes() == fresh.files["billing"].read_bytes()


def test_every_kind_and_near_miss_is_injected_at_least_three_times(world: DemoWorld) -> None:
    findings = Counter(row["kind"] for row in _rows(world.truth_dir / "findings.csv"))
    assert set(findings) == set(KINDS)
    assert min(findings.values()) >= 3, findings
    assert dict(findings) == {k: v for k, v in world.findings.items() if v}
    labels = Counter(row["note"].split(":")[0] for row in _rows(world.truth_dir / "near_misses.csv"))
    assert set(labels) == set(NEAR_MISSES)
    assert min(labels.values()) >= 3, labels
    assert dict(labels) == world.near_misses
    for row in _rows(world.truth_dir / "near_misses.csv"):
        assert row["kind"] == NEAR_MISSES[row["note"].split(":")[0]][0]


def test_injection_rates_at_size_1000(tmp_path: Path) -> None:
    world = generate(tmp_path, size=1000, seed=9)
    for kind, count in world.findings.items():
        assert 10 <= count <= 30, (kind, count)  # 1-3% of the customers
    manifest = json.loads((world.truth_dir / "world.json").read_text(encoding="utf-8"))
    assert manifest["size"] == 1000 and manifest["findings"] == world.findings


def test_findings_and_near_misses_are_distinct_records(world: DemoWorld) -> None:
    findings = truth_subjects(world.truth_dir)
    near = truth_subjects(world.truth_dir, "near_misses.csv")
    assert len(findings) == sum(world.findings.values())  # no subject twice
    assert not {s[1:] for s in findings if s[0] != "unresolved_low_survey"} & {s[1:] for s in near}


def _keys(world: DemoWorld) -> dict[tuple[str, str], set[str]]:
    """Every record key in the written files, by (source, record type)."""

    def sql(name: str, query: str) -> set[str]:
        with sqlite3.connect(world.files[name]) as conn:
            return {str(r[0]) for r in conn.execute(query)}

    def jsonl(name: str, field: str) -> set[str]:
        with world.files[name].open(encoding="utf-8") as fh:
            return {json.loads(line)[field] for line in fh}

    def csv_keys(name: str, field: str) -> set[str]:
        return {row[field] for row in _rows(world.files[name])}

    return {
        ("billing", "account"): sql("billing", "SELECT account_no FROM accounts"),
        ("billing", "subscription"): sql("billing", "SELECT sub_id FROM subscriptions"),
        ("inventory", "service_line"): sql("inventory", "SELECT line_id FROM service_lines"),
        ("dealer", "vehicle"): sql("dealer", "SELECT veh_id FROM vehicles"),
        ("recalls", "recall_notice"): csv_keys("recalls", "NOTICE_ID"),
        ("crm", "contact"): jsonl("crm_contacts", "Id"),
        ("crm", "survey"): jsonl("crm_surveys", "ResponseId"),
        ("telemetry", "device_status"): csv_keys("telemetry", "device_id"),
    }


def test_truth_subjects_exist_in_the_written_data(world: DemoWorld) -> None:
    keys = _keys(world)
    for name in ("findings.csv", "near_misses.csv"):
        for row in _rows(world.truth_dir / name):
            assert row["key"] in keys[(row["source"], row["record_type"])], row
    for row in _rows(world.truth_dir / "findings.csv"):
        if row["kind"] == "recall_missing_locally":
            notices = {r["NOTICE_ID"]: r for r in _rows(world.files["recalls"])}
            assert notices[row["key"]]["CAMPAIGN_NO"] == row["detail_key"]


def test_identities_cover_every_identity_record(world: DemoWorld) -> None:
    keys = _keys(world)
    identities = _rows(world.truth_dir / "identities.csv")
    by_type: dict[tuple[str, str], set[str]] = {}
    for row in identities:
        by_type.setdefault((row["source"], row["record_type"]), set()).add(row["key"])
    identity_types = [k for k in keys if k[1] in {"account", "service_line", "vehicle", "recall_notice", "contact"}]
    assert set(by_type) == set(identity_types)
    for source_type in identity_types:
        assert by_type[source_type] == keys[source_type], source_type
    customers = {row["customer_id"] for row in identities}
    assert len(customers) == SIZE
    # The same customer is seen by several systems.
    systems = Counter(row["customer_id"] for row in identities)
    assert sum(1 for n in systems.values() if n >= 3) > SIZE / 2


def test_head_office_vins_are_valid_and_some_dealer_vins_are_mistyped(tmp_path: Path) -> None:
    world = generate(tmp_path, size=1000, seed=2)
    notices = _rows(world.files["recalls"])
    assert notices and all(len(r["VIN"]) == 17 and is_valid_vin(r["VIN"]) for r in notices)
    with sqlite3.connect(world.files["dealer"]) as conn:
        vins = [r[0] for r in conn.execute("SELECT vin FROM vehicles")]
    assert all(len(v) == 17 for v in vins)
    invalid = [v for v in vins if not is_valid_vin(v)]
    assert 0.03 < len(invalid) / len(vins) < 0.3, len(invalid) / len(vins)
    assert any("O" in v or "I" in v for v in invalid)
    # A typed-in VIN is one character away from the one head office mailed.
    head_office = {r["VIN"] for r in notices}
    near = [v for v in invalid if any(sum(a != b for a, b in zip(v, h, strict=True)) == 1 for h in head_office)]
    assert near


def test_systems_format_the_same_customer_differently(world: DemoWorld) -> None:
    with sqlite3.connect(world.files["billing"]) as conn:
        holder, phone, street = conn.execute(
            "SELECT holder_name, phone_no, addr_line1 FROM accounts WHERE phone_no IS NOT NULL LIMIT 1"
        ).fetchone()
    assert "," in holder and holder == holder.upper()
    assert phone.startswith("(")
    assert street == street.upper()
    with world.files["crm_contacts"].open(encoding="utf-8") as fh:
        contact = json.loads(fh.readline())
    assert contact["LastName"] != contact["LastName"].upper()
    with sqlite3.connect(world.files["inventory"]) as conn:
        products = {r[0] for r in conn.execute("SELECT DISTINCT product_code FROM service_lines")}
    with sqlite3.connect(world.files["billing"]) as conn:
        plans = {r[0] for r in conn.execute("SELECT DISTINCT plan_code FROM subscriptions")}
    assert "MON-HUB" in products and "FTTH-1000" in products and not products & plans
    assert "MON-BASIC" in plans and "INET-1000" in plans


def test_phone_numbers_are_valid_us_numbers(world: DemoWorld) -> None:
    with sqlite3.connect(world.files["billing"]) as conn:
        phones = [r[0] for r in conn.execute("SELECT phone_no FROM accounts WHERE phone_no IS NOT NULL")]
        owners = {}
        customer = {r["key"]: r["customer_id"] for r in _rows(world.truth_dir / "identities.csv")
                    if r["source"] == "billing"}
        for account, phone in conn.execute("SELECT account_no, phone_no FROM accounts WHERE phone_no IS NOT NULL"):
            owners.setdefault(phone, set()).add(customer[account])
    assert phones
    for phone in phones:
        assert phonenumbers.is_valid_number(phonenumbers.parse(phone, "US")), phone
    # No two customers share a phone number: it identifies the customer.
    assert all(len(cids) == 1 for cids in owners.values())


def test_with_perfect_matching_the_contract_rules_find_exactly_the_truth(world: DemoWorld) -> None:
    config = write_config(world.directory, world)
    tables = load_tables(config)
    found = evaluate(tables, load_identities(world.truth_dir), world.as_of)
    assert found == truth_subjects(world.truth_dir)
    assert not found & truth_subjects(world.truth_dir, "near_misses.csv")


def test_another_as_of_moves_the_whole_world(tmp_path: Path) -> None:
    as_of = dt.datetime(2025, 3, 31, 22, 30, tzinfo=dt.UTC)
    world = generate(tmp_path, size=200, seed=8, as_of=as_of)
    assert world.as_of == as_of
    found = evaluate(load_tables(write_config(tmp_path, world)), load_identities(world.truth_dir), as_of)
    assert found == truth_subjects(world.truth_dir)
    # Seen from a year earlier, the overdue invoices and the offline devices are not there yet.
    earlier = evaluate(load_tables(tmp_path / "reconcile.yaml"), load_identities(world.truth_dir),
                       as_of - dt.timedelta(days=365))
    assert len(earlier) < len(found)


def test_size_must_be_at_least_50(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 50"):
        generate(tmp_path, size=49)
    small = generate(tmp_path, size=50, seed=1)
    assert all(n >= 1 for n in small.findings.values())
