"""`orchestrator db upgrade|current` through click, against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from orchestrator.cli import cli
from orchestrator.store import migrate
from orchestrator.store.engine import make_engine
from orchestrator.store.schema import metadata


def _run(*args: str, env: dict | None = None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_creates_the_tables_and_is_idempotent(db_url):
    first = _run("db", "upgrade", "--url", db_url)
    assert first.exit_code == 0, first.output
    assert f"upgraded from an empty database to revision {migrate.head()}" in first.output
    assert _tables(db_url) == set(metadata.tables) | {"alembic_version"}

    second = _run("db", "upgrade", "--url", db_url)
    assert second.exit_code == 0, second.output
    assert f"already at revision {migrate.head()}" in second.output


def test_current_reports_none_then_head(db_url):
    before = _run("db", "current", "--url", db_url)
    assert before.exit_code == 0 and f"revision none (head is {migrate.head()}" in before.output
    _run("db", "upgrade", "--url", db_url)
    after = _run("db", "current", "--url", db_url, "--json")
    assert after.exit_code == 0
    assert f'"revision": "{migrate.head()}"' in after.output
    assert '"up_to_date": true' in after.output


def test_url_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    result = _run("db", "upgrade", env={"ORCHESTRATOR_STORAGE": url})
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-env.db").exists()


def test_default_url_is_orchestrator_db_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHESTRATOR_STORAGE", raising=False)
    result = _run("db", "upgrade")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "orchestrator.db").exists()


def test_unreachable_database_is_one_line_and_non_zero():
    # Port 1 refuses at once; the password must not be echoed back.
    result = CliRunner().invoke(
        cli, ["db", "upgrade", "--url", "postgresql://postgres:hunter2@127.0.0.1:1/test"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot use the database at ")
    assert "hunter2" not in result.output and "***" in lines[0]


def test_invalid_url_is_a_usage_error():
    result = CliRunner().invoke(cli, ["db", "upgrade", "--url", "mysql+nodriver://x/y"])
    assert result.exit_code == 2
    assert result.output.startswith("error: invalid storage URL")
    assert len(result.output.strip().splitlines()) == 1


def test_url_comes_from_the_config_file(tmp_path, monkeypatch):
    pytest.importorskip("orchestrator.loader", reason="config loading lands with the foundation")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ORCHESTRATOR_STORAGE", raising=False)
    config = tmp_path / "config.yaml"
    config.write_text(f"storage: sqlite:///{tmp_path / 'from-config.db'}\n", encoding="utf-8")
    result = _run("db", "upgrade", "-c", str(config))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "from-config.db").exists()
    assert not (tmp_path / "orchestrator.db").exists()


def test_unknown_revision_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(
        cli, ["db", "upgrade", "--url", f"sqlite:///{tmp_path / 'x.db'}", "--revision", "9999"])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and "9999" in result.output
