"""`orchestrator run`: the daemon, until SIGTERM or SIGINT; SIGHUP reloads the config."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import EXIT_PROBLEMS, config_option, fail, resolve_config_path


@click.command("run")
@config_option
@click.option("--log-format", type=click.Choice(["json", "console"]), default="console",
              show_default=True, help="Structured logs as JSON lines or readable console lines.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
def run(config_path: Path | None, log_format: str, log_level: str) -> None:
    """Run the daemon: poll, detect, run playbooks, dispatch, serve HTTP.

    Applies database migrations first. SIGTERM or SIGINT stops it gracefully (in-flight
    sends finish for up to 10 s, the rest stay pending); SIGHUP reloads the config after
    validating it, and keeps the running one if the new file has problems.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from orchestrator.errors import ConfigError
    from orchestrator.logs import configure
    from orchestrator.service import run_forever

    path = resolve_config_path(config_path)
    configure(log_format, log_level.upper())
    try:
        run_forever(path)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        click.echo(f"error: {len(exc.problems)} problem(s) in {path} or its playbooks: "
                   "not started", err=True)
        raise SystemExit(EXIT_PROBLEMS) from None
    except OSError as exc:  # most often: the HTTP port is taken
        fail(f"cannot start: {exc}", EXIT_PROBLEMS)
    except SQLAlchemyError as exc:
        fail(f"cannot open the store: {type(exc).__name__}: {str(exc).splitlines()[0]}",
             EXIT_PROBLEMS)
