"""`orchestrator db`: apply the store's migrations and show which revision a database is at."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from orchestrator.cli.common import EXIT_USAGE, config_option, fail, json_option, print_json

STORAGE_ENV = "ORCHESTRATOR_STORAGE"


def url_option(f):
    """`--url`, which wins over the config file's `storage`."""
    return click.option(
        "--url", default=None, metavar="URL",
        help=f"Database URL (default: ${STORAGE_ENV}, else the config's storage, "
             "else sqlite:///./orchestrator.db).",
    )(f)


@click.group("db")
def db() -> None:
    """Database migrations."""


@db.command("upgrade")
@config_option
@url_option
@click.option("--revision", default="head", show_default=True, help="Target revision.")
def upgrade_command(config_path: Path | None, url: str | None, revision: str) -> None:
    """Apply migrations up to --revision; run again, it does nothing."""
    from orchestrator.store import migrate

    target = storage_url(url, config_path)
    with _database_errors(target):
        before = migrate.current(target)
        migrate.upgrade(target, revision)
        after = migrate.current(target)
    where = _redacted(target)
    if before == after:
        click.echo(f"{where}: already at revision {after}")
    else:
        click.echo(f"{where}: upgraded from {before or 'an empty database'} to revision {after}")


@db.command("current")
@config_option
@url_option
@json_option
def current_command(config_path: Path | None, url: str | None, as_json: bool) -> None:
    """Print the revision the database is at and whether it is the newest."""
    from orchestrator.store import migrate

    target = storage_url(url, config_path)
    with _database_errors(target):
        revision = migrate.current(target)
    head = migrate.head()
    if as_json:
        print_json({"url": _redacted(target), "revision": revision, "head": head,
                    "up_to_date": revision == head})
        return
    state = "up to date" if revision == head else f"head is {head}: run `orchestrator db upgrade`"
    click.echo(f"{_redacted(target)}: revision {revision or 'none'} ({state})")


def storage_url(url: str | None, config_path: Path | None) -> str:
    """The database to use: --url, then $ORCHESTRATOR_STORAGE, then the config, then the default."""
    from orchestrator.store.engine import DEFAULT_URL

    if url:
        return url
    if os.environ.get(STORAGE_ENV):
        return os.environ[STORAGE_ENV]
    from_config = _config_storage(config_path)
    return from_config or DEFAULT_URL


def _config_storage(config_path: Path | None) -> str | None:
    from orchestrator.cli.common import DEFAULT_CONFIGS, resolve_config_path
    from orchestrator.errors import ConfigError

    if config_path is None and not any(Path(name).exists() for name in DEFAULT_CONFIGS):
        return None
    path = resolve_config_path(config_path)
    try:
        from orchestrator.config import load_config

        storage = load_config(path).storage
    except ImportError:  # config loading is not built yet: --url and the default still work
        return None
    except ConfigError as exc:
        fail(str(exc))
    if hasattr(storage, "get_secret_value"):  # a URL with a password may be a SecretStr
        storage = storage.get_secret_value()
    return str(storage) if storage else None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparseable URL is reported elsewhere; never echo a password
        return "<invalid URL>"


@contextmanager
def _database_errors(url: str) -> Iterator[None]:
    """Turn URL, driver and file-system errors into one line on stderr and a non-zero exit."""
    from alembic.util import CommandError
    from sqlalchemy.exc import ArgumentError, DBAPIError

    try:
        yield
    except CommandError as exc:  # e.g. an unknown --revision
        fail(_first_line(exc), EXIT_USAGE)
    except ArgumentError as exc:
        fail(f"invalid storage URL {_redacted(url)}: {_first_line(exc)}", EXIT_USAGE)
    except DBAPIError as exc:
        reason = _first_line(exc.orig if exc.orig is not None else exc)
        fail(f"cannot use the database at {_redacted(url)}: {reason}")
    except OSError as exc:  # e.g. the SQLite file's directory cannot be created
        fail(f"cannot use the database at {_redacted(url)}: {exc}")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
