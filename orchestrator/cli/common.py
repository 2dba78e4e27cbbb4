"""Options and helpers every subcommand shares: the config path, --json, one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

DEFAULT_CONFIGS = ("config.yaml", "config.example.yaml")

# Exit codes shared by every command.
EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_NOT_OPERATIONAL = 0, 1, 2, 3


def config_option(f):
    """`-c/--config PATH`, defaulting to config.yaml then config.example.yaml."""
    return click.option(
        "-c", "--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
        default=None, help="Configuration file (default: config.yaml, else config.example.yaml).",
    )(f)


def json_option(f):
    """`--json` for read commands."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


def resolve_config_path(path: Path | None) -> Path:
    """The config file to use, or a usage error naming what was looked for."""
    if path is not None:
        if not path.exists():
            raise click.UsageError(f"config file not found: {path}")
        return path
    for name in DEFAULT_CONFIGS:
        candidate = Path(name)
        if candidate.exists():
            return candidate
    raise click.UsageError("no config file: looked for " + " and ".join(DEFAULT_CONFIGS)
                           + " in the current directory (use -c PATH)")


def fail(message: str, code: int = EXIT_PROBLEMS) -> None:
    """Print a one-line error to stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def not_available(name: str, help_text: str, usage: str):
    """A contracted command that is not built yet: its --help shows the contract, running it
    says so plainly and exits 2."""

    @click.command(name, help=f"{help_text}\n\nUsage when built: {usage}\n\nNot available yet.",
                   context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
    @config_option
    def command(config_path):
        fail(f"'orchestrator {name}' is not available yet in this version", EXIT_USAGE)

    return command
