"""`orchestrator demo`: the whole outage story on this machine, no credentials, no internet."""

from __future__ import annotations

import asyncio

import click


@click.command("demo")
@click.option("--keep-running", is_flag=True,
              help="Leave the daemon, status page and sandboxes up until Ctrl-C.")
def demo(keep_running: bool) -> None:
    """The whole story on this machine: an outage, the playbook, recovery.

    Starts the provider sandboxes and a Statuspage-format status server, runs the daemon on
    SQLite pointed at them, breaks Facebook, and narrates what happens. Exits 0 after the
    summary (within about a minute), or non-zero naming the stage that did not happen.
    """
    from rich.console import Console

    from orchestrator.demo.story import StageFailed, run_demo

    console = Console(highlight=False)
    try:
        asyncio.run(run_demo(console, keep_running=keep_running))
    except StageFailed as exc:
        console.print(f"[red]✘ demo failed: {exc}[/red]")
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        console.print("stopped")
