"""`orchestrator validate`: check the config and playbooks, print every problem located."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    config_option,
    json_option,
    print_json,
    resolve_config_path,
)


@click.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@config_option
@json_option
def validate(paths: tuple[Path, ...], config_path: Path | None, as_json: bool) -> None:
    """Check the config and playbooks; print every problem as file:line:col.

    PATHS are playbook files or folders (default: the config's playbooks folder).
    Exits 0 when clean, 1 when problems were found, 2 on usage errors.
    """
    from orchestrator.loader import validate_all

    config_file = resolve_config_path(config_path)
    # The config may be named among PATHS too; it is checked once, as the config.
    playbooks = [p for p in paths if p.resolve() != config_file.resolve()]
    report = validate_all(config_file, playbooks or None)
    errors = len(report.errors)
    warnings = len(report.problems) - errors
    if as_json:
        print_json({"ok": errors == 0, "files": report.files,
                    "problems": [p.as_dict() for p in report.problems]})
    else:
        for problem in report.problems:
            click.echo(str(problem))
        playbooks = len(report.files) - 1
        summary = (f"checked {report.files[0]} and {playbooks} playbook"
                   f"{'s' if playbooks != 1 else ''}: {errors} error{'s' if errors != 1 else ''}, "
                   f"{warnings} warning{'s' if warnings != 1 else ''}")
        click.echo(summary, err=True)
    raise SystemExit(EXIT_PROBLEMS if errors else EXIT_OK)
