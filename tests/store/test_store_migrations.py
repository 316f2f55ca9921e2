"""Schema migrations: a store of the first release keeps its data through `reconcile db upgrade`."""

from __future__ import annotations

import datetime as dt
import json
from importlib import resources

import pytest
import sqlalchemy as sa
from store_factories import finding, night, record_night

from reconcile.errors import StoreError
from reconcile.findings import FindingStatus
from reconcile.store import SCHEMA_REVISION, SCHEMA_VERSION, Store, _migrate, upgrade_schema
from reconcile.store._schema import metadata
from reconcile.store._store import _create_engine

AS_OF = night(1)


def _engine(db_url: str) -> sa.Engine:
    return _create_engine(sa.make_url(db_url), False)


_JSON = {"timings", "counts", "subject", "records", "detail", "finding", "streams", "raw"}


def _table(name: str, *columns: str) -> sa.TableClause:
    """A table of the first release, as plain columns (JSON ones typed, so every backend takes them)."""
    return sa.table(name, *(sa.column(c, sa.JSON) if c in _JSON else sa.column(c) for c in columns))


def _first_release_rows(conn: sa.Connection) -> str:
    """Rows as the first release wrote them (its tables, by hand); returns the finding's fingerprint."""
    old = finding("AC-1", story="Auto-pay on AC-1 failed; nobody told Zoë.")
    fp = old.fingerprint
    runs = _table("runs", *[
        "status", "as_of", "started_at", "finished_at", "config_digest", "error", "timings", "counts"])
    conn.execute(runs.insert().values(
        status="succeeded", as_of=AS_OF.replace(tzinfo=None), started_at=AS_OF.replace(tzinfo=None),
        finished_at=(AS_OF + dt.timedelta(minutes=2)).replace(tzinfo=None), config_digest="cfg", error=None,
        timings={"extract": 1.5}, counts={"findings": 1, "new": 1},
    ))
    # The first release let the database number runs; the test relies on that being 1.
    assert conn.execute(sa.text("SELECT max(id) FROM runs")).scalar() == 1
    findings = _table("findings", *[
        "fingerprint", "rule_id", "kind", "severity", "owner", "entity_id", "subject", "records", "story",
        "confidence", "detail", "detail_key", "status", "first_seen", "last_seen", "first_run_id",
        "last_run_id", "resolved_at", "times_seen"])
    conn.execute(findings.insert().values(
        fingerprint=fp, rule_id=old.rule_id, kind=old.kind, severity="high", owner="billing", entity_id="E-AC-1",
        subject=old.subject.model_dump(), records=[r.model_dump() for r in old.records], story=old.story, confidence=0.9,
        detail={}, detail_key="", status="new", first_seen=AS_OF.replace(tzinfo=None),
        last_seen=AS_OF.replace(tzinfo=None), first_run_id=1, last_run_id=1, resolved_at=None, times_seen=1,
    ))
    history = _table("finding_history", *[
        "fingerprint", "run_id", "from_status", "to_status", "reason", "at"])
    conn.execute(history.insert().values(
        fingerprint=fp, run_id=1, from_status=None, to_status="new", reason="first seen in run 1",
        at=AS_OF.replace(tzinfo=None),
    ))
    snapshot = old.model_copy(update={"status": FindingStatus.new, "first_seen": AS_OF, "last_seen": AS_OF})
    run_findings = _table("run_findings", *[
        "run_id", "fingerprint", "position", "status", "finding"])
    conn.execute(run_findings.insert().values(
        run_id=1, fingerprint=fp, position=0, status="new",
        finding=snapshot.model_dump(mode="json", exclude={"fingerprint"}),
    ))
    health = _table("source_health", *[
        "run_id", "source", "healthy", "rows_read", "rows_used", "rows_quarantined", "duration_s", "error",
        "streams"])
    conn.execute(health.insert().values(
        run_id=1, source="billing", healthy=True, rows_read=10, rows_used=9, rows_quarantined=1,
        duration_s=0.5, error=None, streams={"account": 9},
    ))
    quarantine = _table("quarantine", *[
        "run_id", "source", "stream", "row_ref", "field", "reason", "raw"])
    conn.execute(quarantine.insert().values(
        run_id=1, source="billing", stream="account", row_ref="line 7", field="opened_at",
        reason="not a date: 'soon'", raw={"opened": "soon"},
    ))
    return fp


def test_a_first_release_store_is_upgraded_with_its_data(db_url: str) -> None:
    engine = _engine(db_url)
    assert _migrate.upgrade(engine, "0001") == (None, "0001")
    with engine.begin() as conn:
        fp = _first_release_rows(conn)
    engine.dispose()

    with pytest.raises(StoreError, match=f"schema revision 0001; this reconcile needs {SCHEMA_REVISION}.*reconcile db upgrade"):
        Store(db_url)
    assert upgrade_schema(db_url) == ("0001", SCHEMA_REVISION)
    assert upgrade_schema(db_url) == (SCHEMA_REVISION, SCHEMA_REVISION)  # a second upgrade changes nothing

    with Store(db_url) as store:
        (kept,) = store.open_findings()
        assert kept.fingerprint == fp
        assert kept.story == "Auto-pay on AC-1 failed; nobody told Zoë."
        assert kept.status == FindingStatus.new and kept.first_seen == AS_OF
        assert [h.reason for h in store.finding_history(fp)] == ["first seen in run 1"]
        past = store.run_result(1)
        assert [f.fingerprint for f in past.findings] == [fp]
        assert past.health[0].rows_quarantined == 1 and past.quarantine[0].row == "line 7"
        assert store.run(1).timings == {"extract": 1.5}
        # The upgraded store carries on: the lifecycle, the lock, suppressions, cursors.
        store.suppress(fp, "known: the bank fixes it", "ann")
        run_id, (seen,), _ = record_night(store, 2, [finding("AC-1")])
        assert run_id == 2
        assert seen.status == FindingStatus.open and seen.first_seen == AS_OF
        assert seen.suppression is not None and seen.suppression.author == "ann"
        assert store.lock_holder() is None
        with store.engine.connect() as conn:
            version = conn.execute(sa.text("SELECT value FROM store_meta WHERE "
                                           + ('"key"' if "mysql" not in db_url else "`key`")
                                           + " = 'schema_version'")).scalar()
        assert version == str(SCHEMA_VERSION)


def test_a_store_from_before_the_migrations_is_recognised(db_url: str) -> None:
    """A store written before alembic_version existed is read as 0002 (it has cursors) and upgraded."""
    engine = _engine(db_url)
    _migrate.upgrade(engine, "0002")
    with engine.begin() as conn:
        fp = _first_release_rows(conn)
        conn.execute(sa.text("DROP TABLE alembic_version"))
    with engine.connect() as conn:
        assert _migrate.current_revision(conn) == "0002"
    engine.dispose()
    with pytest.raises(StoreError, match="schema revision 0002"):
        Store(db_url)
    assert upgrade_schema(db_url) == ("0002", SCHEMA_REVISION)
    with Store(db_url) as store:
        assert [f.fingerprint for f in store.open_findings()] == [fp]


def test_the_migrations_build_exactly_the_tables_of_a_new_store(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    assert upgrade_schema(db_url) == (None, SCHEMA_REVISION)
    engine = _engine(db_url)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []
        assert _migrate.current_revision(conn) == SCHEMA_REVISION
    engine.dispose()
    with Store(db_url) as store:  # and the store opens it as its own
        record_night(store, 1, [finding("AC-1")])


def test_a_new_store_is_stamped_at_the_head(db_url: str) -> None:
    with Store(db_url) as store, store.engine.connect() as conn:
        assert _migrate.current_revision(conn) == SCHEMA_REVISION
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == SCHEMA_REVISION


def test_a_store_of_an_unknown_revision_is_refused(db_url: str) -> None:
    with Store(db_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(StoreError, match="schema revision 0099, newer than this reconcile understands"):
        Store(db_url)
    with pytest.raises(StoreError, match="newer than this reconcile"):
        upgrade_schema(db_url)


def test_the_migrations_ship_inside_the_package() -> None:
    """They live in reconcile/store/migrations, found through the package (so in the wheel too)."""
    from alembic.script import ScriptDirectory

    folder = resources.files("reconcile.store") / "migrations"
    assert (folder / "env.py").is_file()
    names = sorted(p.name for p in (folder / "versions").iterdir() if p.name.endswith(".py"))
    assert [n[:4] for n in names] == list(_migrate.REVISIONS)
    scripts = ScriptDirectory.from_config(_migrate.alembic_config())
    assert scripts.get_heads() == [SCHEMA_REVISION]
    assert [r.revision for r in reversed(list(scripts.walk_revisions()))] == list(_migrate.REVISIONS)
    assert str(int(SCHEMA_REVISION)) == str(SCHEMA_VERSION)


def _runs_before_0004(conn: sa.Connection) -> dict[int, list[dict[str, object]]]:
    """Three runs as revision 0003 kept them: a whole copy of each finding per run."""
    first = finding("AC-1", story="Auto-pay on AC-1 failed; nobody told Zoë.")
    changed = first.model_copy(update={"story": "Auto-pay on AC-1 failed twice; nobody told Zoë."})
    runs = _table("runs", "status", "as_of", "started_at", "finished_at", "config_digest", "error",
                  "timings", "counts")
    for n in (1, 2, 3):
        when = night(n).replace(tzinfo=None)
        conn.execute(runs.insert().values(status="succeeded", as_of=when, started_at=when, finished_at=when,
                                          config_digest="cfg", error=None, timings={}, counts={}))
    assert conn.execute(sa.text("SELECT max(id) FROM runs")).scalar() == 3
    findings = _table("findings", *[
        "fingerprint", "rule_id", "kind", "severity", "owner", "entity_id", "subject", "records", "story",
        "confidence", "detail", "detail_key", "status", "first_seen", "last_seen", "first_run_id",
        "last_run_id", "resolved_at", "times_seen"])
    conn.execute(findings.insert().values(
        fingerprint=first.fingerprint, rule_id=first.rule_id, kind=first.kind, severity="high", owner="billing",
        entity_id=first.entity_id, subject=first.subject.model_dump(), records=[r.model_dump() for r in first.records],
        story=changed.story, confidence=1.0, detail={}, detail_key="", status="open",
        first_seen=night(1).replace(tzinfo=None), last_seen=night(3).replace(tzinfo=None), first_run_id=1,
        last_run_id=3, resolved_at=None, times_seen=3,
    ))
    copies: dict[int, list[dict[str, object]]] = {}
    run_findings = _table("run_findings", "run_id", "fingerprint", "position", "status", "finding")
    for n, seen, status in ((1, first, FindingStatus.new), (2, first, FindingStatus.open),
                            (3, changed, FindingStatus.open)):
        copy = seen.model_copy(update={"status": status, "first_seen": AS_OF, "last_seen": night(n)})
        dumped = copy.model_dump(mode="json", exclude={"fingerprint"})
        if n == 2:
            dumped["suppression"] = {"fingerprint": first.fingerprint, "reason": "known", "author": "ann",
                                     "created_at": "2026-10-30T09:00:00Z", "until": None}
        conn.execute(run_findings.insert().values(run_id=n, fingerprint=first.fingerprint, position=0,
                                                  status=status.value, finding=dumped))
        copies[n] = [dumped]
    return copies


def test_runs_kept_as_whole_copies_are_split_into_versions(db_url: str) -> None:
    from reconcile.store._schema import finding_versions
    from reconcile.store._tracked import TrackedFinding

    engine = _engine(db_url)
    _migrate.upgrade(engine, "0003")
    with engine.begin() as conn:
        copies = _runs_before_0004(conn)
    engine.dispose()
    assert upgrade_schema(db_url) == ("0003", SCHEMA_REVISION)

    def expected(n: int) -> list[TrackedFinding]:
        return [TrackedFinding.model_validate(c) for c in copies[n]]

    with Store(db_url) as store:
        for n in (1, 2, 3):
            assert store.run_result(n).findings == expected(n)
        assert store.run_result(2).findings[0].suppression is not None
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(finding_versions)).scalar() == 2
        # The next run sees the finding (its row has no content hash yet) and a later one resolves it.
        fp = expected(3)[0].fingerprint
        record_night(store, 4, [finding("AC-1", story="Auto-pay on AC-1 failed twice; nobody told Zoë.")])
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(finding_versions)).scalar() == 2
        _, _, (gone,) = record_night(store, 5, [])
        assert gone.fingerprint == fp and store.run_result(5).resolved == [gone]

    # And back: a downgrade to 0003 puts whole copies back.
    engine = _engine(db_url)
    assert _migrate.downgrade(engine, "0003") == (SCHEMA_REVISION, "0003")
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT run_id, finding FROM run_findings ORDER BY run_id")).all()
    engine.dispose()
    back = {run_id: TrackedFinding.model_validate(json.loads(text) if isinstance(text, str) else text)
            for run_id, text in rows}
    for n in (1, 2, 3):
        assert [back[n]] == expected(n)
    assert back[5].status == FindingStatus.resolved
