"""`orchestrator plan`: what a playbook would do for an outage now. Reads only; writes nothing."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import EXIT_USAGE, config_option, fail, json_option, print_json

# Phases are shown as if the outage lasted one update interval (or this long without one).
ASSUMED_OUTAGE = timedelta(hours=1)


@click.command("plan")
@click.argument("playbook_name", metavar="PLAYBOOK")
@click.option("--platform", default=None, help="The platform that is down.")
@click.option("--var", "var_pairs", multiple=True, metavar="K=V", help="Set a playbook var.")
@config_option
@json_option
def plan(playbook_name: str, platform: str | None, var_pairs: tuple[str, ...],
         config_path: Path | None, as_json: bool) -> None:
    """Dry run PLAYBOOK: posts that would pause, messages per channel and audience, and each
    rendered message. Sends nothing and changes nothing."""
    from orchestrator.cli import runtime

    loaded = runtime.load(config_path)
    show(loaded, playbook_name, platform, runtime.parse_vars(var_pairs), as_json)


def show(loaded: Any, playbook_name: str, platform: str | None, given: dict[str, str],
         as_json: bool) -> None:
    """Print the plan (shared with `trigger --dry-run`)."""
    from orchestrator.cli import runtime
    from orchestrator.clock import SystemClock

    pb = runtime.playbook(loaded, playbook_name)
    if platform is None and pb.trigger is not None:
        fail(f"say which platform is down: --platform {' | '.join(pb.trigger.platforms)}",
             EXIT_USAGE)
    if platform is not None and platform not in loaded.config.platforms:
        from orchestrator.problems import unknown_name
        fail(unknown_name("platform", platform, loaded.config.platforms), EXIT_USAGE)
    engine = runtime.existing_engine(loaded)
    try:
        data = build_plan(loaded.config, pb, platform=platform, given=given, engine=engine,
                          now=SystemClock().now())
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    finally:
        if engine is not None:
            engine.dispose()
    if as_json:
        print_json(data)
    else:
        from orchestrator.cli.plan_view import render
        render(data)


def build_plan(config: Any, pb: Any, *, platform: str | None, given: dict[str, Any],
               engine: Any, now: datetime) -> dict[str, Any]:
    """The plan as plain data. Reads the store (posts, contacts) when there is one."""
    from orchestrator.playbook import context as ctx
    from orchestrator.playbook.planning import Simulation

    variables = {**{k: (f"<{k}>" if v is None else v) for k, v in pb.vars.items()},
                 **_checked(pb, given)}
    sim = Simulation(config, pb, platform=platform, variables=variables, engine=engine,
                     now=now, outage=pb.every.interval if pb.every else ASSUMED_OUTAGE)
    down = sim.down()
    return {
        "playbook": pb.name, "platform": platform, "at": now,
        "down": sorted(down), "surviving": ctx.surviving_channels(config, down),
        "missing_vars": [k for k, v in pb.vars.items() if v is None and k not in given],
        "posts_to_pause": sim.posts_to_pause(),
        "steps": sim.steps(),
        "messages": sim.messages(),
    }


def _checked(pb: Any, given: dict[str, Any]) -> dict[str, Any]:
    from orchestrator.problems import suggest

    for key in given:
        if key not in pb.vars:
            raise ValueError(f"unknown var {key!r}: the playbook declares "
                             f"{', '.join(pb.vars) or 'none'}.{suggest(key, pb.vars)}"
                             .rstrip("."))
    return dict(given)
