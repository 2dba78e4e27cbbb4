"""`orchestrator contacts import FILE.csv --audience A`: validate and import an audience."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import EXIT_PROBLEMS, config_option, json_option, print_json


@click.group("contacts")
def contacts() -> None:
    """Import contacts into audiences."""


@contacts.command("import")
@config_option
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--audience", required=True, help="Audience to add the contacts to.")
@json_option
def import_command(config_path: Path | None, path: Path, audience: str, as_json: bool) -> None:
    """Import a CSV (name, phone, email, timezone, tags): E.164 phones and email addresses
    are validated, bad rows are reported by line number, the rest are imported. Exits 1
    when any row was bad."""
    from orchestrator.audiences import import_contacts
    from orchestrator.cli.db import storage_url
    from orchestrator.models import check_name
    from orchestrator.store.engine import make_engine
    from orchestrator.store.migrate import upgrade

    try:
        check_name(audience)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--audience") from None
    engine = make_engine(storage_url(None, config_path))
    try:
        upgrade(engine)
        report = import_contacts(engine, path, audience)
    finally:
        engine.dispose()
    if as_json:
        print_json({"audience": audience, "rows": report.rows, "created": report.created,
                    "updated": report.updated,
                    "bad": [{"line": b.line, "reason": b.reason} for b in report.bad]})
    else:
        for bad in report.bad:
            click.echo(f"{path}:{bad.line}: {bad.reason}", err=True)
        click.echo(f"{audience}: {report.imported} of {report.rows} row(s) imported "
                   f"({report.created} new, {report.updated} updated), {len(report.bad)} bad")
    if report.bad:
        raise SystemExit(EXIT_PROBLEMS)
