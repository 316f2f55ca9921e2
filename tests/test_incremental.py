"""Incremental extraction end to end: cursors, snapshots, deletes, failures, health.

A small company: billing accounts in SQLite (timestamp cursor, soft-delete
flag) and CRM contacts in CSV (integer cursor). The name_mismatch rule needs
both sides, so a finding exists only while the full picture is there.
"""

from __future__ import annotations

import csv
import datetime as dt
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from reconcile.config import load_config
from reconcile.errors import RunError
from reconcile.incremental import CursorConfig, coerce_cursor
from reconcile.pipeline import run
from reconcile.store import Store

AS_OF = dt.datetime(2026, 11, 1, 6, 0, tzinfo=dt.UTC)
EPOCH = "1970-01-01T00:00:00Z"

PEOPLE = [
    # id, billing name, CRM name, email, phone
    ("1", "SMITH, ROBERT", "Bob Smith", "rsmith@example.com", "206-555-0101"),
    ("2", "GARCIA, ANA", "Ana Garcia", "ana.g@example.com", "206-555-0102"),
    ("3", "NGUYEN, LINH", "Linh Tran", "linh.n@example.com", "206-555-0103"),  # mismatch
    ("4", "OKAFOR, CHIDI", "Chidi Okafor", "chidi@example.com", "206-555-0104"),
    ("5", "BERG, ASTRID", "Astrid Lund", "astrid@example.com", "206-555-0105"),  # mismatch
]


class World:
    """The two systems on disk, with helpers to change them between runs."""

    def __init__(self, root: Path, *, key_scan_every: int | None = None) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.db = root / "billing.db"
        self.csv = root / "contacts.csv"
        with sqlite3.connect(self.db) as conn:
            conn.execute(
                "CREATE TABLE accounts (account_no TEXT PRIMARY KEY, holder TEXT, email TEXT, "
                "phone TEXT, updated_at TEXT, is_deleted INTEGER DEFAULT 0)"
            )
            conn.executemany(
                "INSERT INTO accounts VALUES (?, ?, ?, ?, ?, 0)",
                [(f"AC-{pid}", billing, email, phone, EPOCH) for pid, billing, _, email, phone in PEOPLE],
            )
        self.contacts = [
            {"Id": f"C-{pid}", "Name": crm, "Email": email, "Phone": phone, "Version": "0"}
            for pid, _, crm, email, phone in PEOPLE
        ]
        self.write_contacts()
        source_extra: dict[str, Any] = {"key_scan_every": key_scan_every} if key_scan_every else {}
        self.config_path = root / "reconcile.yaml"
        self.config_path.write_text(yaml.safe_dump({
            "as_of": AS_OF.isoformat(),
            "sources": {
                "billing": {
                    "kind": "sql", "url": "sqlite:///billing.db", **source_extra,
                    "streams": {"account": {
                        "table": "accounts",
                        "cursor": {"column": "updated_at", "type": "timestamp"},
                        "deleted": {"column": "is_deleted", "values": ["1"]},
                        "fields": {"account_id": "account_no", "name": "holder", "email": "email",
                                   "phone": "phone"},
                    }},
                },
                "crm": {
                    "kind": "csv", **source_extra,
                    "streams": {"contact": {
                        "path": "contacts.csv",
                        "cursor": {"column": "Version", "type": "integer"},
                        "fields": {"contact_id": "Id", "name": "Name", "email": "Email", "phone": "Phone"},
                    }},
                },
            },
            "rules": [{"id": "names", "kind": "name_mismatch", "owner": "crm", "record_types": ["account"]}],
            "store": {"url": "sqlite:///reconcile.db"},
        }), encoding="utf-8")

    def write_contacts(self) -> None:
        with self.csv.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["Id", "Name", "Email", "Phone", "Version"])
            writer.writeheader()
            writer.writerows(self.contacts)

    def sql(self, statement: str, *params: Any) -> None:
        with sqlite3.connect(self.db) as conn:
            conn.execute(statement, params)

    def config(self) -> Any:
        return load_config(self.config_path)

    def store(self) -> Store:
        return Store(f"sqlite:///{self.root / 'reconcile.db'}")


def mismatched(result: Any) -> set[str]:
    return {f.subject.key for f in result.findings if f.status != "resolved"}


def health(result: Any, source: str) -> Any:
    return next(h for h in result.health if h.source == source)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def full_run_findings(world: World, tmp_path: Path) -> set[str]:
    """What a full run without a store finds on the same data."""
    return mismatched(run(world.config(), persist=False, write_reports=False))


def test_first_run_reads_everything_and_stores_the_cursors(world: World) -> None:
    first = run(world.config(), write_reports=False)
    assert mismatched(first) == {"AC-3", "AC-5"}
    store = world.store()
    assert store.cursor("billing", "account") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)  # the epoch is a cursor
    assert store.cursor("crm", "contact") == 0  # and so is 0
    assert set(store.snapshot("billing", "account")) == {f"AC-{p[0]}" for p in PEOPLE}


def test_a_second_run_reads_only_changes_but_rules_see_everything(world: World, tmp_path: Path) -> None:
    run(world.config(), write_reports=False)
    # Billing corrects one name; the CRM renames another contact.
    world.sql("UPDATE accounts SET holder='TRAN, LINH', updated_at='2026-10-31T10:00:00Z' WHERE account_no='AC-3'")
    world.contacts[0]["Name"] = "Roberta Smith"
    world.contacts[0]["Version"] = "7"
    world.write_contacts()
    second = run(world.config(), write_reports=False)
    # The equal-timestamp rows at the old cursor are read again (>=), the rest not.
    assert health(second, "billing").rows_read == 5  # every account still had the epoch: all at the boundary
    assert health(second, "crm").rows_read == 5  # Version 0 rows are at the cursor 0 too
    third = run(world.config(), write_reports=False)
    assert health(third, "billing").rows_read == 1  # only AC-3 is at or after the new cursor
    assert health(third, "crm").rows_read == 1 and health(third, "crm").rows_skipped == 4
    assert health(third, "billing").streams == {"account": 5}
    assert mismatched(third) == {"AC-1", "AC-5"} == full_run_findings(world, tmp_path)
    assert world.store().cursor("crm", "contact") == 7


def test_a_row_with_the_cursor_value_that_arrives_later_is_not_missed(world: World) -> None:
    world.sql("UPDATE accounts SET updated_at='2026-10-30T00:00:00Z'")
    run(world.config(), write_reports=False)
    # A sixth account is written with exactly the stored cursor value, after the run.
    world.sql("INSERT INTO accounts VALUES ('AC-6', 'LUND, ASTRID', 'astrid@example.com', "
              "'206-555-0105', '2026-10-30T00:00:00Z', 0)")
    second = run(world.config(), write_reports=False)
    assert "AC-6" in world.store().snapshot("billing", "account")
    assert "AC-6" not in mismatched(second)  # Astrid Lund is her CRM name
    assert health(second, "billing").streams == {"account": 6}


def test_soft_delete_removes_the_record_and_resolves_its_finding(world: World) -> None:
    run(world.config(), write_reports=False)
    world.sql("UPDATE accounts SET is_deleted=1, updated_at='2026-10-31T00:00:00Z' WHERE account_no='AC-5'")
    second = run(world.config(), write_reports=False)
    assert "AC-5" not in world.store().snapshot("billing", "account")
    assert mismatched(second) == {"AC-3"}
    assert {f.subject.key for f in second.resolved} == {"AC-5"}
    assert health(second, "billing").rows_read == health(second, "billing").rows_used


def test_hard_deletes_are_found_by_the_key_scan_only(tmp_path: Path) -> None:
    without = World(tmp_path / "without")
    run(without.config(), write_reports=False)
    without.sql("DELETE FROM accounts WHERE account_no='AC-3'")
    assert "AC-3" in mismatched(run(without.config(), write_reports=False))  # no scan: still there

    scanned = World(tmp_path / "scanned", key_scan_every=1)
    run(scanned.config(), write_reports=False)
    scanned.sql("DELETE FROM accounts WHERE account_no='AC-3'")
    second = run(scanned.config(), write_reports=False)
    assert "AC-3" not in scanned.store().snapshot("billing", "account")
    assert mismatched(second) == {"AC-5"}


def test_a_failed_run_moves_no_cursor_and_resolves_nothing(world: World) -> None:
    run(world.config(), write_reports=False)
    world.sql("UPDATE accounts SET holder='TRAN, LINH', updated_at='2026-10-31T10:00:00Z' WHERE account_no='AC-3'")
    world.csv.unlink()  # the CRM export is missing tonight
    with pytest.raises(RunError):
        run(world.config(), write_reports=False)
    store = world.store()
    assert store.cursor("billing", "account") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert {f.subject.key for f in store.open_findings()} == {"AC-3", "AC-5"}
    world.write_contacts()
    again = run(world.config(), write_reports=False)
    assert mismatched(again) == {"AC-5"}  # the change was not lost


def _capture_encoding(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The StateChanges each run encodes its snapshots from (Store.encode_snapshots wrapped)."""
    seen: list[Any] = []
    encode = Store.encode_snapshots

    def spy(self: Store, run_id: int, state: Any) -> None:
        encode(self, run_id, state)
        seen.append(state)
        assert not state.frames and state.spill is not None  # the frames are gone before matching

    monkeypatch.setattr(Store, "encode_snapshots", spy)
    return seen


def test_snapshots_are_encoded_before_matching_and_written_by_the_commit(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _capture_encoding(monkeypatch)
    run(world.config(), write_reports=False)
    world.sql("UPDATE accounts SET holder='TRAN, LINH', updated_at='2026-10-31T10:00:00Z' WHERE account_no='AC-3'")
    second = run(world.config(), write_reports=False)
    assert mismatched(second) == {"AC-5"}
    assert [set(state.encoded) for state in seen] == [{("billing", "account"), ("crm", "contact")}] * 2
    assert all(state.spill is None for state in seen)  # deleted once committed
    assert world.store().snapshot("billing", "account")["AC-3"]["name"] == "TRAN, LINH"


def test_a_run_failing_after_its_snapshots_were_encoded_changes_none(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    import reconcile.pipeline

    run(world.config(), write_reports=False)
    before = world.store().snapshot_frame("billing", "account")
    seen = _capture_encoding(monkeypatch)
    world.sql("UPDATE accounts SET holder='TRAN, LINH', updated_at='2026-10-31T10:00:00Z' WHERE account_no='AC-3'")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the evidence broke")

    monkeypatch.setattr(reconcile.pipeline, "attach_match_evidence", broken)
    with pytest.raises(RunError, match="the evidence broke"):
        run(world.config(), write_reports=False)
    assert len(seen) == 1 and seen[0].encoded and seen[0].spill is None
    store = world.store()
    pd.testing.assert_frame_equal(store.snapshot_frame("billing", "account"), before)
    assert store.cursor("billing", "account") == dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert {f.subject.key for f in store.open_findings()} == {"AC-3", "AC-5"}


def test_merging_lets_the_extracts_rows_of_an_incremental_stream_go(world: World) -> None:
    """The merged frame stands for a stream's rows: the extract keeps none of them beside it."""
    from reconcile.incremental import apply_snapshots, plan_cursors
    from reconcile.pipeline import build_tables, extract_sources

    config = world.config()
    plan = plan_cursors(config, None, False)
    extracted = extract_sources(config, plan)
    assert all(result.record_types for result in extracted)
    changes = apply_snapshots(extracted, config, None, plan)
    assert [result.record_types for result in extracted] == [[], []]
    assert {key: len(frame) for key, frame in changes.frames.items()} == {
        ("billing", "account"): 5, ("crm", "contact"): 5}
    tables = build_tables(extracted, changes.frames, release=True)
    assert sorted(tables["account"]["_rid"]) == [f"billing:account:AC-{pid}" for pid, *_ in PEOPLE]
    assert sorted(tables["contact"]["_key"]) == [f"C-{pid}" for pid, *_ in PEOPLE]


def test_full_refresh_ignores_the_cursors(world: World) -> None:
    world.sql("UPDATE accounts SET updated_at='2026-10-0' || substr(account_no, 4) || 'T00:00:00Z'")
    run(world.config(), write_reports=False)
    world.sql("UPDATE accounts SET updated_at='2026-10-31T00:00:00Z' WHERE account_no='AC-1'")
    incremental = run(world.config(), write_reports=False)
    # AC-1 changed; AC-5 holds the old cursor's value and is read again.
    assert health(incremental, "billing").rows_read == 2
    refreshed = run(world.config(), write_reports=False, full_refresh=True)
    assert health(refreshed, "billing").rows_read == 5
    assert mismatched(refreshed) == mismatched(incremental)


def test_a_source_that_shrinks_below_the_fraction_fails_the_run(world: World) -> None:
    run(world.config(), write_reports=False)
    world.contacts = world.contacts[:2]
    world.write_contacts()
    with pytest.raises(RunError, match="min_rows_fraction"):
        run(world.config(), write_reports=False, full_refresh=True)
    assert {f.subject.key for f in world.store().open_findings()} == {"AC-3", "AC-5"}


def test_an_unreadable_cursor_value_is_quarantined_with_its_field(world: World) -> None:
    world.contacts[1]["Version"] = "seven"
    world.write_contacts()
    result = run(world.config(), write_reports=False)
    bad = [q for q in result.quarantine if q.source == "crm"]
    assert [(q.field, "cursor" in q.reason) for q in bad] == [("Version", True)]
    crm = health(result, "crm")
    assert crm.rows_read == crm.rows_used + crm.rows_quarantined == 5


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(max_size=4), max_size=30), st.sets(st.text(max_size=4), max_size=30), st.booleans())
def test_keys_in_a_large_set_are_what_isin_says(keys: list[str], among: set[str], large: bool) -> None:
    from reconcile.incremental import _in

    if large:  # past the size where the set's own lookups are used
        among = among | {f"pad-{i}" for i in range(10_001)}
    series = pd.Series(keys, dtype=object, index=range(100, 100 + len(keys)))
    assert _in(series, among).tolist() == series.isin(among).tolist()


class _Text(str):
    """Text that is not exactly a str: coerce_cursor reads it the general way."""


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.datetimes(timezones=st.none() | st.just(dt.UTC) | st.timezones()).map(lambda d: d.isoformat()),
        st.datetimes().map(lambda d: " " + d.isoformat(timespec="seconds") + "Z "),
    ),
)
def test_timestamp_text_is_read_as_the_general_way_reads_it(text: str) -> None:
    cursor = CursorConfig(column="updated_at")

    def read(value: str) -> Any:
        try:
            return coerce_cursor(value, cursor)
        except (TypeError, ValueError, OverflowError) as exc:
            return type(exc), str(exc)

    assert read(text) == read(_Text(text))


def _merged_contacts() -> pd.DataFrame:
    """A merged contact snapshot: two unchanged rows with kept ``_n_*`` columns, one changed row without."""
    from reconcile.incremental import NORMALISED_OK
    from reconcile.normalise import NORMALISED_COLUMNS

    frame = pd.DataFrame({"contact_id": ["a", "b", "c"], "full_name": ["Ann Lee", "Bo Ma", "Cy Yu"]})
    for column in NORMALISED_COLUMNS:
        frame[column] = pd.Series(["kept-a", "kept-b", None], dtype=object)
    frame[NORMALISED_OK] = pd.Series([True, True, None], dtype=object)
    return frame


def _contact_table(keys: list[str]) -> pd.DataFrame:
    from reconcile.normalise import NORMALISED_COLUMNS

    table = pd.DataFrame({"_source": "crm", "_key": keys, "contact_id": keys})
    for column in NORMALISED_COLUMNS:
        table[column] = [f"fresh-{k}" for k in keys]
    return table


@pytest.mark.parametrize("keys", [["b", "a", "c"], ["a", "b"], ["a", "b", "c", "d"]])
def test_a_snapshot_the_tables_do_not_hold_row_for_row_keeps_no_normalised_columns(keys: list[str]) -> None:
    """Else the changed row's missing columns would be kept under the tag, and taken as normalised next run."""
    from reconcile.pipeline import _keep_normalised

    frames = {("crm", "contact"): _merged_contacts()}
    _keep_normalised({"contact": _contact_table(keys)}, frames)
    kept = frames[("crm", "contact")]
    assert [c for c in kept.columns if c.startswith("_n_")] == []
    assert kept["contact_id"].tolist() == ["a", "b", "c"]


def test_a_snapshot_held_row_for_row_keeps_the_runs_normalised_columns() -> None:
    from reconcile.normalise import NORMALISED_COLUMNS
    from reconcile.pipeline import _keep_normalised

    frames = {("crm", "contact"): _merged_contacts()}
    _keep_normalised({"contact": _contact_table(["a", "b", "c"])}, frames)
    kept = frames[("crm", "contact")]
    assert "_n_ok" not in kept.columns
    for column in NORMALISED_COLUMNS:
        assert kept[column].tolist() == ["fresh-a", "fresh-b", "fresh-c"]


def test_a_snapshot_beside_another_sources_rows_keeps_its_own_rows_normalised_columns() -> None:
    from reconcile.normalise import NORMALISED_COLUMNS
    from reconcile.pipeline import _keep_normalised

    table = _contact_table(["x", "a", "b", "y", "c"])
    table["_source"] = ["other", "crm", "crm", "other", "crm"]
    frames = {("crm", "contact"): _merged_contacts()}
    merged = frames[("crm", "contact")]
    _keep_normalised({"contact": table}, frames)
    kept = frames[("crm", "contact")]
    assert "_n_ok" not in kept.columns and "_n_ok" in merged.columns  # the merged frame is left as it was
    for column in NORMALISED_COLUMNS:
        assert kept[column].tolist() == ["fresh-a", "fresh-b", "fresh-c"]
    kept.loc[0, "_n_given"] = "changed"
    assert table["_n_given"].tolist()[1] == "fresh-a"  # the kept columns are copies, not the table's


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "_n_ok", "_n_given", "zz"]), unique=True), st.booleans())
def test_a_frame_without_some_columns_is_what_drop_gives_and_the_frame_stays(drop: list[str], one_block: bool) -> None:
    from reconcile.pipeline import _without

    data = {"a": [1, 2], "b": ["x", None], "_n_ok": [True, None], "_n_given": ["g", "h"]}
    frame = pd.DataFrame(data) if one_block else pd.DataFrame({k: pd.Series(v, dtype=object) for k, v in data.items()})
    before = frame.copy()
    got = _without(frame, drop)
    pd.testing.assert_frame_equal(got, frame.drop(columns=[c for c in drop if c in frame.columns]))
    pd.testing.assert_frame_equal(frame, before)
