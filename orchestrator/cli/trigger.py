"""`orchestrator trigger`: open a manual incident and start a playbook for it (or plan it)."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import EXIT_USAGE, config_option, fail, json_option, print_json


@click.command("trigger")
@click.argument("playbook_name", metavar="PLAYBOOK")
@click.option("--platform", default=None, help="The platform the incident is about, if any.")
@click.option("--var", "var_pairs", multiple=True, metavar="K=V",
              help="Set a playbook var (required for vars the playbook declares as null).")
@click.option("--dry-run", is_flag=True, help="Show what would happen (as `plan` does).")
@click.option("--by", default=None, help="Who is triggering (default: cli:<login name>).")
@config_option
@json_option
def trigger(playbook_name: str, platform: str | None, var_pairs: tuple[str, ...],
            dry_run: bool, by: str | None, config_path: Path | None, as_json: bool) -> None:
    """Start PLAYBOOK by hand for an incident of your own."""
    from orchestrator.cli import runtime

    loaded = runtime.load(config_path)
    given = runtime.parse_vars(var_pairs)
    pb = runtime.playbook(loaded, playbook_name)
    if dry_run:
        from orchestrator.cli.plan import show
        show(loaded, playbook_name, platform, given, as_json)
        return
    from orchestrator.playbook.runner import RunnerError

    with runtime.engine(loaded) as eng:
        runner = runtime.runner(loaded, eng)
        try:
            incident_id, run_id = runner.trigger_manual(pb.name, platform, given,
                                                        by=runtime.actor(by))
        except RunnerError as exc:
            fail(str(exc), EXIT_USAGE)
        state = runner.advance(run_id)
        steps = runtime.steps_of(eng, run_id)
    result = {"incident_id": incident_id, "run_id": run_id, "state": state, "steps": steps}
    if as_json:
        print_json(result)
        return
    click.echo(f"incident {incident_id} opened; playbook {pb.name} is run {run_id} ({state})")
    for step in steps:
        click.echo(f"  {step['phase']}[{step['step_index']}] {step['kind']}: {step['state']}"
                   + (f" - {step['reason']}" if step["reason"] else ""))
    if state == "waiting_approval":
        click.echo(f"waiting for approval: orchestrator approve {run_id}")
