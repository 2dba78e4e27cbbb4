"""The migrations build exactly the schema module's tables, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from orchestrator.store import migrate
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import metadata


def test_head_matches_the_schema_module(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_every_table_exists_after_upgrade(engine):
    tables = set(sa.inspect(engine).get_table_names())
    assert tables == set(metadata.tables) | {"alembic_version"}


def test_check_constraints_and_foreign_key_actions_match(engine):
    # compare_metadata ignores CHECK constraints and ON DELETE actions: compare them here.
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        expected_checks = {c.name for c in table.constraints if isinstance(c, sa.CheckConstraint)}
        found_checks = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert found_checks == expected_checks, table.name
        expected_fks = {(fk.name, fk.ondelete) for fk in table.foreign_key_constraints}
        found_fks = {(fk["name"], fk["options"].get("ondelete"))
                     for fk in inspector.get_foreign_keys(table.name)}
        assert found_fks == expected_fks, table.name


def test_current_is_none_then_head(db_url):
    assert migrate.current(db_url) is None
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_upgrade_twice_is_a_no_op(db_url):
    migrate.upgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_replicas_upgrading_at_once_do_not_collide(db_url):
    # Three replica processes starting together: one migrates, the others wait for it (an
    # advisory lock on PostgreSQL, the write lock on SQLite) and then find nothing to do.
    code = "import sys; from orchestrator.store.migrate import upgrade; upgrade(sys.argv[1])"
    procs = [subprocess.Popen([sys.executable, "-c", code, db_url], stderr=subprocess.PIPE,
                              text=True) for _ in range(3)]
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], errors
    assert migrate.current(db_url) == migrate.head()


def test_threads_of_one_process_take_turns(db_url):
    # Alembic's context is process-global; migrate serialises threads instead of corrupting it.
    with ThreadPoolExecutor(max_workers=3) as pool:
        for future in [pool.submit(migrate.upgrade, db_url) for _ in range(3)]:
            future.result()
    assert migrate.current(db_url) == migrate.head()


def test_downgrade_to_base_leaves_no_tables(db_url):
    migrate.upgrade(db_url)
    migrate.downgrade(db_url, "base")
    assert migrate.current(db_url) is None
    eng = make_engine(db_url)
    try:
        # Alembic keeps its (now empty) bookkeeping table; nothing of ours remains.
        assert set(sa.inspect(eng).get_table_names()) <= {"alembic_version"}
    finally:
        eng.dispose()


def test_upgrade_after_downgrade_rebuilds(db_url):
    migrate.upgrade(db_url)
    migrate.downgrade(db_url)
    migrate.upgrade(db_url)
    assert migrate.current(db_url) == migrate.head()


def test_one_head_and_a_linear_history():
    # Two migrations written in parallel against the same parent would make two heads.
    script = migrate.ScriptDirectory.from_config(migrate.alembic_config())
    revisions = list(script.walk_revisions())
    assert revisions[-1].revision == "0001"
    assert script.get_heads() == [migrate.head()]
    assert all(not r.is_merge_point and not r.is_branch_point for r in revisions)
