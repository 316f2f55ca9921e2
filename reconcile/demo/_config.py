"""Write the demo world's ``reconcile.yaml``: the template for a user's own systems."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

from reconcile.demo._generate import FILES, DemoWorld
from reconcile.demo._nights import CURSOR_COLUMN
from reconcile.packs import load_yaml_pack

__all__ = ["CONFIG_NAME", "SOURCES", "write_config"]

CONFIG_NAME = "reconcile.yaml"

# Source name -> (adapter kind, spec, {record type: export name} for file
# sources, or the export name of a database), with the comment shown above it.
SOURCES: dict[str, tuple[str, str, str | dict[str, str], str]] = {
    "billing": (
        "sql", "demo-billing", "billing",
        "Billing: accounts with their auto-pay mandate, subscriptions, invoices\n"
        "and payment attempts with result and return code. Any SQLAlchemy URL\n"
        "works (postgresql+psycopg://..., mysql+pymysql://...); a relative SQLite\n"
        "path is relative to this file.",
    ),
    "inventory": (
        "sql", "demo-inventory", "inventory",
        "Service inventory: lines at their install addresses, with device ids.\n"
        "It shares no key with billing; matching links them by name, phone and\n"
        "address.",
    ),
    "recalls": (
        "csv", "demo-recalls", {"recall_notice": "recalls"},
        "Head-office recall notices: campaign, VIN, owner, remedy status.",
    ),
    "dealer": (
        "sql", "demo-dealer", "dealer",
        "The dealer's service system: vehicles and owners (VINs typed in by\n"
        "hand), recall campaigns per vehicle, repair orders.",
    ),
    "crm": (
        "jsonl", "demo-crm",
        {"contact": "crm_contacts", "case": "crm_cases", "survey": "crm_surveys"},
        "CRM: contacts as the customers gave them, cases, survey responses.",
    ),
    "telemetry": (
        "csv", "demo-telemetry", {"device_status": "telemetry"},
        "Device telemetry: status and last heartbeat per device.",
    ),
    "alerts": (
        "csv", "demo-alerts", {"alert": "alerts"},
        "Alerts sent about devices.",
    ),
}

_HEADER = """\
# reconcile.yaml - the demo company's configuration, and a template for yours.
#
# A run reads every source below, maps its rows onto canonical record types
# (account, service_line, contact, recall_notice...), links the records that
# describe the same customer across systems, evaluates the rule packs and
# remembers the findings in the store, so the next run can say which are new,
# still open or resolved. Relative paths are relative to this file.
#
#   reconcile run -c {name}
#
# Written for a demo world of {size} customers (seed {seed}); the ground
# truth (expected findings, near misses, who is who) is in truth/.
version: 1

# The run's reference time: rules measure ages, overdue invoices and offline
# devices against it. Fixed here so the demo finds the same things every day;
# leave it out for nightly runs and each run uses the time it starts.
as_of: {as_of}

# One entry per system. `kind` is the adapter (sql, csv, jsonl). `spec` names
# a declarative mapping shipped in the package's adapters/ folder (e.g.
# adapters/demo-billing.yaml): which table, query or file holds each record
# type, and which column holds each canonical field, with its code tables
# (plan code INET-1000 -> product fiber_1g) and date formats. What you write
# here is merged over the spec, field by field. For your own system, write the
# mapping out in full instead of `spec`, e.g.:
#
#   billing:
#     kind: sql
#     url: postgresql+psycopg://reconcile@db.internal/billing
#     streams:
#       account:                       # canonical record type
#         table: accounts              # or query: "SELECT ..."
#         fields:                      # canonical field: source column or mapping
#           account_id: account_no
#           name: holder_name
#           autopay: {{column: autopay_flag, transform: bool}}
#           opened_at: {{column: opened, transform: date, format: "%Y-%m-%d"}}
#           status: {{column: status, map: {{A: active, C: closed}}}}
sources:
"""

_FOOTER = """\

# Normalisation before matching: phone numbers written without a country code
# are read as numbers of this region.
normalise:
  default_region: US

# Record linkage across systems uses its defaults here (deterministic keys
# first, then probabilistic matching on names, phones, emails, addresses and
# VINs); add a `matching:` section to tune it (see docs/configuration.md).

# The rule packs shipped with reconcile, by name. Each rule has an owner (the
# team that receives its findings) and a severity.
rule_packs: [telecom, payments, automotive, crm]

# Change a pack's rule by id (any parameter, severity, owner, enabled), or add
# a rule of a known kind with a new id, e.g.:
#
# rules:
#   - id: monitoring_gap
#     offline_hours: 48
#     owner: monitoring-centre
#   - id: duplicate_active_line
#     enabled: false

# Where findings are remembered across runs (any SQLAlchemy URL).
store:
  url: sqlite:///reconcile.db

# Reports written after each run, relative to this file.
reports:
  dir: reports
  formats: [json, html]
"""


# Streams read by a query select the change-tracking column too.
_INCREMENTAL_QUERIES: dict[str, dict[str, str]] = {
    "inventory": {
        "service_line": (
            "SELECT l.line_id, l.subscriber, l.company_name, l.contact_phone, l.install_street, "
            "l.install_unit, l.install_city, l.install_state, l.install_zip, l.product_code, "
            "l.line_status, l.activated_on, l.deactivated_on, d.device_serial, l.updated_at "
            "FROM service_lines AS l LEFT JOIN devices AS d ON d.line_id = l.line_id ORDER BY l.line_id"
        ),
    },
}


def _relative(path: Path, directory: Path) -> str:
    try:
        return Path(os.path.relpath(path.resolve(), directory.resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return path.resolve().as_posix()


def _iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_config(directory: str | Path, world: DemoWorld, incremental: bool = False) -> Path:
    """Write ``reconcile.yaml`` wiring the demo world's systems; return its path.

    The world's files are referred to relative to ``directory`` (normally the
    world's own folder, where the shipped specs' file names already point).

    Args:
        directory: Folder of the configuration file.
        world: What :func:`~reconcile.demo.generate` returned.
        incremental: Read every stream incrementally from its ``updated_at``
            column (the world must have been given one by
            :func:`~reconcile.demo.track_changes`), with a key scan each run
            for deleted rows.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        _HEADER.format(
            name=CONFIG_NAME, size=f"{world.size:,}", seed=world.seed, as_of=_iso(world.as_of)
        ).rstrip("\n")
    ]
    for number, (name, (kind, spec, exports, comment)) in enumerate(SOURCES.items()):
        if number:
            lines.append("")
        lines.extend(f"  # {text}" for text in comment.splitlines())
        lines.append(f"  {name}:")
        lines.append(f"    kind: {kind}")
        lines.append(f"    spec: {spec}")
        overrides: dict[str, dict[str, Any]] = {}
        if isinstance(exports, str):
            lines.append(f"    url: sqlite:///{_relative(world.files[exports], directory)}")
        else:
            for record_type, export in exports.items():
                relative = _relative(world.files[export], directory)
                if relative != FILES[export]:
                    # The spec names the files as the demo writes them; point at where they are.
                    overrides[record_type] = {"path": relative}
        if incremental:
            lines.append("    key_scan_every: 1")
            for record_type in load_yaml_pack("adapters", spec)[1]["streams"]:
                overrides.setdefault(record_type, {})["cursor"] = {"column": CURSOR_COLUMN}
            if name in _INCREMENTAL_QUERIES:
                for record_type, query in _INCREMENTAL_QUERIES[name].items():
                    overrides[record_type]["query"] = query
        if overrides:
            lines.append("    streams:")
            for record_type, override in overrides.items():
                lines.append(f"      {record_type}: {json.dumps(override)}")
    lines.append(_FOOTER)
    path = directory / CONFIG_NAME
    path.write_text("\n".join(lines), encoding="utf-8")
    return path
