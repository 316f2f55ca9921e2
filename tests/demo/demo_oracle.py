"""A reference reading of the nine rule kinds, for checking the demo world itself.

It evaluates the contract's semantics in plain Python over the canonical
records (read through the shipped specs and the real adapters), with the
*true* customer of every record as its entity, taken from
``truth/identities.csv``. With perfect matching, the findings of the real
rules must equal these, and these must equal ``truth/findings.csv``: a
disagreement here is a bug in the generator (or in a spec), not in matching.

Names and addresses are compared with deliberately simple normalisers that
know the demo's formats; they are not the library's normalisers.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from reconcile.demo._data import CRM_NICKNAMES, DIRECTIONS, STREET_TYPES
from reconcile.extract import adapter_classes, build_adapter
from reconcile.model import RECORD_TYPES
from reconcile.packs import load_yaml_pack

Subject = tuple[str, str, str, str]  # kind, source, record_type, key

_GRACE = dt.timedelta(hours=24)
_FORMAL = {nick.lower(): formal.lower() for formal, nick in CRM_NICKNAMES.items()}
_TITLES = {"mr", "ms", "mrs", "dr", "jr", "sr"}
_LEGAL = {"inc", "llc", "ltd", "corp", "co"}
_ADDRESS_NOISE = {w.lower() for pair in (*DIRECTIONS, *STREET_TYPES) for w in pair}


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for key, value in override.items():
            out[key] = _merge(base[key], value) if key in base else value
        return out
    return override


def load_tables(config_path: Path) -> dict[str, list[dict[str, Any]]]:
    """Canonical records per record type (each with ``_source`` and ``_key``), via the specs."""
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    tables: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for name, source in raw["sources"].items():
        data = source
        if "spec" in source:
            _, spec = load_yaml_pack("adapters", source["spec"])
            spec.pop("description", None)
            data = _merge(spec, source)
        config = adapter_classes()[data["kind"]].config_model.model_validate(data)
        result = build_adapter(name, config, config_path.parent).extract()
        assert result.health is not None and result.health.healthy, result.health
        assert not result.quarantine, result.quarantine[:3]
        for record_type, rows in result.records.items():
            key_field = RECORD_TYPES[record_type].key_field
            for row in rows:
                tables[record_type].append({**row, "_source": name, "_key": str(row[key_field])})
    return tables


def load_identities(truth_dir: Path) -> dict[tuple[str, str, str], str]:
    with (truth_dir / "identities.csv").open(encoding="utf-8", newline="") as fh:
        return {(r["source"], r["record_type"], r["key"]): r["customer_id"] for r in csv.DictReader(fh)}


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def person_key(name: str) -> tuple[str, str]:
    """(given, family) from "LAST, FIRST M" or "Dr. First Last Jr."; nicknames resolved."""
    text = _ascii(name).lower()
    if "," in text:
        family, _, rest = text.partition(",")
        words = [w for w in re.split(r"[^a-z]+", rest) if w and w not in _TITLES]
        given = words[0] if words else ""
        family = " ".join(w for w in re.split(r"[^a-z]+", family) if w)
    else:
        words = [w for w in re.split(r"[^a-z]+", text) if w and w not in _TITLES]
        given, family = words[0], words[-1]
    return _FORMAL.get(given, given), family


def company_key(name: str) -> str:
    text = _ascii(name).lower().replace("&", " and ").replace("l.l.c.", "llc")
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w]
    while words and words[-1] in _LEGAL:
        words.pop()
    return " ".join(words)


def address_key(record: dict[str, Any]) -> tuple[str, ...]:
    """House number, street name words and 5-digit zip; type, direction and unit ignored."""
    street = (record.get("street") or "").lower().replace(".", "")
    words = street.split()
    kept = [w for w in words[1:] if w not in _ADDRESS_NOISE and not w.startswith(("#", "apt"))]
    return (words[0] if words else "", *kept, str(record.get("postal_code") or "")[:5])


def _vin(text: str) -> str:
    return text.upper().replace("O", "0").replace("I", "1").replace("Q", "0").replace("-", "").replace(" ", "")


def _within_one(a: str, b: str) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b, strict=True)) <= 1


def evaluate(tables: dict[str, list[dict[str, Any]]], identities: dict[tuple[str, str, str], str],
             as_of: dt.datetime) -> set[Subject]:
    """The findings the contract's rules give when matching is perfect."""
    cutoff = as_of - _GRACE

    def entity(record_type: str, row: dict[str, Any]) -> str | None:
        return identities.get((row["_source"], record_type, row["_key"]))

    def by_entity(record_type: str) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in tables.get(record_type, []):
            e = entity(record_type, row)
            if e is not None:
                out[e].append(row)
        return out

    accounts = {(r["_source"], r["account_id"]): r for r in tables.get("account", [])}
    contacts = {(r["_source"], r["contact_id"]): r for r in tables.get("contact", [])}
    lines_by_device = {r["device_id"]: r for r in tables.get("service_line", []) if r.get("device_id")}

    def parent_entity(parents: dict[tuple[str, str], dict[str, Any]], record_type: str, source: str,
                      ref: str) -> str | None:
        parent = parents.get((source, ref))
        return entity(record_type, parent) if parent else None

    acc_e = by_entity("account")
    contact_e = by_entity("contact")
    line_e = by_entity("service_line")
    notice_rows = tables.get("recall_notice", [])
    vehicle_e = by_entity("vehicle")
    subs_e: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("subscription", []):
        e = parent_entity(accounts, "account", row["_source"], row["account_id"])
        if e:
            subs_e[e].append(row)
    invoices_by_acc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("invoice", []):
        invoices_by_acc[row["account_id"]].append(row)
    payments_by_acc: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("payment", []):
        payments_by_acc[row["account_id"]].append(row)
    cases_e: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("case", []):
        e = parent_entity(contacts, "contact", row["_source"], row["contact_id"])
        if e:
            cases_e[e].append(row)
    recalls_by_vehicle: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("dealer_recall", []):
        recalls_by_vehicle[row["vehicle_id"]].append(row)
    alerts_by_device: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("alert", []):
        alerts_by_device[row["device_id"]].append(row)

    found: set[Subject] = set()
    finding_entities: dict[str, set[str]] = defaultdict(set)

    def add(kind: str, e: str, source: str, record_type: str, key: str) -> None:
        found.add((kind, source, record_type, key))
        finding_entities[e].add(kind)

    # 1. failed_autopay
    for e, accs in acc_e.items():
        for acc in accs:
            if acc["status"] != "active" or not acc["autopay"]:
                continue
            attempts = sorted((p for p in payments_by_acc[acc["account_id"]] if p["autopay"]),
                              key=lambda p: p["attempted_at"])
            last = attempts[-3:]
            if len(last) < 3 or any(p["status"] != "failed" for p in last):
                continue
            overdue = [i for i in invoices_by_acc[acc["account_id"]]
                       if i["status"] == "open" and i["due_date"] < cutoff.date()]
            if not overdue:
                continue
            first = last[0]["attempted_at"]
            if any(c["opened_at"] >= first for c in cases_e.get(e, [])):
                continue
            add("failed_autopay", e, acc["_source"], "account", acc["_key"])

    # 2. recall_missing_locally
    for notice in notice_rows:
        if notice["remedy_status"] != "open":
            continue
        e = entity("recall_notice", notice)
        if e is None:
            continue
        matches = [v for v in vehicle_e.get(e, []) if _within_one(_vin(v["vin"]), _vin(notice["vin"]))]
        if not matches:
            continue
        has = any(
            r["campaign"] == notice["campaign"] and r["status"] in ("open", "completed")
            for v in matches for r in recalls_by_vehicle[v["vehicle_id"]]
        )
        if not has:
            add("recall_missing_locally", e, notice["_source"], "recall_notice", notice["_key"])

    # 4. name_mismatch
    for e, contact_rows in contact_e.items():
        for acc in acc_e.get(e, []):
            for contact in contact_rows:
                if contact.get("company") and acc.get("company"):
                    differ = company_key(contact["company"]) != company_key(acc["company"])
                else:
                    differ = person_key(contact["name"]) != person_key(acc["name"])
                if differ:
                    add("name_mismatch", e, acc["_source"], "account", acc["_key"])

    # 5. duplicate_active_line
    for e, lines in line_e.items():
        active = [ln for ln in lines if ln["status"] == "active"]
        by_product: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for ln in active:
            by_product[ln["product"]].append(ln)
        if contact_e.get(e):
            current = address_key(contact_e[e][0])
        else:
            current = address_key(max(acc_e[e], key=lambda a: a["opened_at"]))
        for same in by_product.values():
            if len({address_key(ln) for ln in same}) < 2:
                continue
            older = min(same, key=lambda ln: ln["activated_at"])
            if address_key(older) != current:
                add("duplicate_active_line", e, older["_source"], "service_line", older["_key"])

    # 6. payment_misapplied
    for e, accs in acc_e.items():
        if len(accs) < 2:
            continue
        current = max(accs, key=lambda a: a["opened_at"])
        overdue = any(i["status"] == "open" and i["due_date"] < cutoff.date()
                      for i in invoices_by_acc[current["account_id"]])
        elsewhere = any(
            p["status"] == "succeeded" and p["attempted_at"].date() >= current["opened_at"]
            for a in accs if a is not current for p in payments_by_acc[a["account_id"]]
        )
        if overdue and elsewhere:
            add("payment_misapplied", e, current["_source"], "account", current["_key"])

    # 7 and 8. billed_not_provisioned, provisioned_not_billed
    for e, subs in subs_e.items():
        lines = {ln["product"] for ln in line_e.get(e, []) if ln["status"] == "active"}
        for sub in subs:
            if sub["status"] == "active" and sub["start_date"] < cutoff.date() and sub["product"] not in lines:
                add("billed_not_provisioned", e, sub["_source"], "subscription", sub["_key"])
    for e, lines in line_e.items():
        billed = {s["product"] for s in subs_e.get(e, []) if s["status"] == "active"}
        for ln in lines:
            if (ln["status"] == "active" and ln["activated_at"] and ln["activated_at"] < cutoff.date()
                    and ln["product"] not in billed):
                add("provisioned_not_billed", e, ln["_source"], "service_line", ln["_key"])

    # 9. monitoring_gap
    for device in tables.get("device_status", []):
        line = lines_by_device.get(device["device_id"])
        if line is None or device["last_heartbeat"] is None:
            continue
        if device["last_heartbeat"] >= as_of - dt.timedelta(hours=72):
            continue
        e = entity("service_line", line)
        if not any(s["status"] == "active" and s["product"] == "monitoring" for s in subs_e.get(e or "", [])):
            continue
        if any(a["sent_at"] >= device["last_heartbeat"] for a in alerts_by_device[device["device_id"]]):
            continue
        assert e is not None
        add("monitoring_gap", e, device["_source"], "device_status", device["_key"])

    # 3. unresolved_low_survey (needs the others)
    for survey in tables.get("survey", []):
        e = parent_entity(contacts, "contact", survey["_source"], survey["contact_id"])
        if e is None or survey["score"] / survey["scale_max"] > 0.4:
            continue
        if survey["responded_at"] < as_of - dt.timedelta(days=180):
            continue
        if finding_entities.get(e, set()) - {"unresolved_low_survey"}:
            add("unresolved_low_survey", e, survey["_source"], "survey", survey["_key"])
    return found


def truth_subjects(truth_dir: Path, name: str = "findings.csv") -> set[Subject]:
    with (truth_dir / name).open(encoding="utf-8", newline="") as fh:
        return {(r["kind"], r["source"], r["record_type"], r["key"]) for r in csv.DictReader(fh)}


def describe(subjects: Iterable[Subject]) -> list[str]:
    return sorted(":".join(s) for s in subjects)


_PARENTS = {record_type: model.parent for record_type, model in RECORD_TYPES.items() if model.parent is not None}


def perfect_tables(tables: dict[str, list[dict[str, Any]]],
                   identities: dict[tuple[str, str, str], str]) -> dict[str, Any]:
    """The rule stage's input as the pipeline builds it, with perfect matching.

    One DataFrame per record type with the meta columns; ``_entity`` is the
    true customer of each identity record, and dependents take their parent's
    (same source first, then any source), as the contract says.
    """
    import pandas as pd

    frames: dict[str, pd.DataFrame] = {}
    for record_type, rows in tables.items():
        columns = [*RECORD_TYPES[record_type].model_fields, "_source", "_key"]
        frame = pd.DataFrame.from_records(rows, columns=columns)
        frame["_rid"] = frame["_source"] + ":" + record_type + ":" + frame["_key"]
        frame["_confidence"] = 1.0
        frame["_parent_rid"] = None
        if RECORD_TYPES[record_type].identity:
            frame["_entity"] = [identities.get((s, record_type, k)) for s, k in zip(frame["_source"], frame["_key"], strict=True)]
        frames[record_type] = frame
    for record_type, parent in _PARENTS.items():
        frame = frames.get(record_type)
        parents = frames.get(parent.parent_type)
        if frame is None:
            continue
        same: dict[tuple[str, str], tuple[str, str]] = {}
        anywhere: dict[str, tuple[str, str]] = {}
        if parents is not None:
            for source, ref, rid, entity in zip(parents["_source"], parents[parent.parent_field], parents["_rid"],
                                               parents["_entity"], strict=True):
                same.setdefault((source, str(ref)), (rid, entity))
                anywhere.setdefault(str(ref), (rid, entity))
        found = [same.get((s, str(r))) or anywhere.get(str(r)) or (None, None)
                 for s, r in zip(frame["_source"], frame[parent.field], strict=True)]
        frame["_parent_rid"] = [f[0] for f in found]
        frame["_entity"] = [f[1] for f in found]
    return frames
