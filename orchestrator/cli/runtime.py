"""What the incident commands share: config and playbooks loaded strictly, the store, a runner."""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import EXIT_PROBLEMS, EXIT_USAGE, fail, resolve_config_path


@dataclass
class Loaded:
    config: Any
    playbooks: dict[str, Any]
    config_path: Path


def load(config_path: Path | None) -> Loaded:
    """Config and every playbook, or every problem on stderr and exit 1."""
    from orchestrator.loader import validate_all

    path = resolve_config_path(config_path)
    report = validate_all(path)
    if report.errors or report.config is None:
        for problem in report.errors:
            click.echo(str(problem), err=True)
        fail(f"{len(report.errors)} problem(s) in the config or playbooks: "
             "run `orchestrator validate` for details", EXIT_PROBLEMS)
    return Loaded(report.config, report.playbooks, path)


def playbook(loaded: Loaded, name: str) -> Any:
    from orchestrator.problems import unknown_name

    if name not in loaded.playbooks:
        fail(unknown_name("playbook", name, loaded.playbooks), EXIT_USAGE)
    return loaded.playbooks[name]


def storage(loaded: Loaded) -> str:
    from orchestrator.cli.db import STORAGE_ENV

    return os.environ.get(STORAGE_ENV) or loaded.config.storage


@contextmanager
def engine(loaded: Loaded, *, migrate: bool = True) -> Iterator[Any]:
    """The store's engine (migrated to head first unless `migrate=False`), disposed after."""
    from orchestrator.store.engine import make_engine

    eng = make_engine(storage(loaded))
    try:
        if migrate:
            from orchestrator.store.migrate import upgrade
            upgrade(eng)
        yield eng
    finally:
        eng.dispose()


def existing_engine(loaded: Loaded) -> Any | None:
    """An engine on the store if it exists; None for a SQLite file that is not there yet
    (a read-only command never creates a database just to look at it)."""
    from orchestrator.store.engine import make_engine, normalize_url

    url = normalize_url(storage(loaded))
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        return None
    return make_engine(url)


def runner(loaded: Loaded, eng: Any) -> Any:
    from orchestrator.playbook.runner import Runner

    return Runner.from_config(eng, loaded.config, loaded.playbooks, actor=actor())


def actor(by: str | None = None) -> str:
    """Who is acting, for the audit log: --by, else cli:<login name>."""
    if by:
        return by
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def parse_vars(pairs: tuple[str, ...]) -> dict[str, str]:
    """`--var k=v` pairs; a usage error for one without `=`."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"--var {pair!r}: write it as name=value", EXIT_USAGE)
        out[key.strip()] = value
    return out


def steps_of(eng: Any, run_id: int) -> list[dict[str, Any]]:
    """A run's step rows as plain data, in execution order."""
    from sqlalchemy import select

    from orchestrator.store.schema import step_executions as s

    order = {"on_start": 0, "every": 1, "on_resolve": 2}
    with eng.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(s).where(s.c.run_id == run_id))]
    rows.sort(key=lambda r: (order[r["phase"]], r["iteration"], r["step_index"]))
    return [{k: r[k] for k in ("phase", "iteration", "step_index", "kind", "state", "reason",
                                "started_at", "finished_at")} for r in rows]
