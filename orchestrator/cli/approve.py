"""`orchestrator approve`: let a run that waits at an approval step carry on."""

from __future__ import annotations

from pathlib import Path

import click

from orchestrator.cli.common import config_option, fail, json_option, print_json


@click.command("approve")
@click.argument("run_id", type=int, metavar="RUN_ID")
@click.option("--by", default=None, help="Who approves (default: cli:<login name>).")
@config_option
@json_option
def approve(run_id: int, by: str | None, config_path: Path | None, as_json: bool) -> None:
    """Approve RUN_ID's pending approval step; the run continues at once."""
    from orchestrator.cli import runtime
    from orchestrator.playbook.runner import RunnerError

    loaded = runtime.load(config_path)
    with runtime.engine(loaded) as eng:
        try:
            state = runtime.runner(loaded, eng).approve(run_id, runtime.actor(by))
        except RunnerError as exc:
            fail(str(exc))
        steps = runtime.steps_of(eng, run_id)
    if as_json:
        print_json({"run_id": run_id, "state": state, "steps": steps})
    else:
        click.echo(f"run {run_id} approved; now {state}")
