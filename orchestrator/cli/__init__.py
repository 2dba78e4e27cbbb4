"""The `orchestrator` command: a click group whose subcommands load only when they are run."""

from __future__ import annotations

import importlib
import sys

import click

from orchestrator import __version__

# name -> (module, attribute, one-line help). Loading is deferred so `--help` and `validate`
# never import the SDKs, SQL engines or the web stack.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("orchestrator.cli.run", "run",
           "Run the daemon: poll, detect, run playbooks, dispatch, serve HTTP."),
    "validate": ("orchestrator.cli.validate", "validate",
                "Check config and playbooks; print every problem with file:line:col."),
    "check": ("orchestrator.cli.check", "check",
             "Poll every monitor once and print each platform's state."),
    "plan": ("orchestrator.cli.plan", "plan",
            "Dry run a playbook: what would pause, who would hear what. Sends nothing."),
    "trigger": ("orchestrator.cli.trigger", "trigger",
               "Start a playbook by hand for an incident of your own."),
    "incidents": ("orchestrator.cli.incidents", "incidents",
                 "List, show, update and resolve incidents."),
    "approve": ("orchestrator.cli.approve", "approve",
               "Approve a playbook run that is waiting at an approval step."),
    "posts": ("orchestrator.cli.posts", "posts",
             "The content calendar: list, add, import, pause and resume posts."),
    "contacts": ("orchestrator.cli.contacts", "contacts",
                "Import contacts into audiences."),
    "outbox": ("orchestrator.cli.outbox", "outbox",
              "The delivery ledger: list messages and retry failed ones."),
    "db": ("orchestrator.cli.db", "db",
          "Database migrations."),
    "sandbox": ("orchestrator.cli.sandbox", "sandbox",
               "Run the local provider sandboxes on 127.0.0.1."),
    "status": ("orchestrator.cli.status", "status",
              "Show this replica's (or the cluster's) status."),
    "demo": ("orchestrator.cli.demo", "demo",
            "The whole story on this machine: an outage, the playbook, recovery."),
}


# The contracted usage of each command, shown by --help even before the command is built.
USAGE: dict[str, str] = {
    "run": "orchestrator run [-c CONFIG]",
    "check": "orchestrator check [-c CONFIG] [--json]",
    "plan": "orchestrator plan PLAYBOOK --platform P [--json]",
    "trigger": "orchestrator trigger PLAYBOOK [--platform P] [--var k=v ...] [--dry-run]",
    "incidents": "orchestrator incidents [list|show ID|resolve ID|update ID --message M] [--json]",
    "approve": "orchestrator approve RUN_ID",
    "posts": "orchestrator posts [list|add|import FILE|pause|resume] [--json]",
    "contacts": "orchestrator contacts import FILE --audience A",
    "outbox": "orchestrator outbox [list [--state S]|retry ID|--failed] [--json]",
    "db": "orchestrator db [upgrade|current]",
    "sandbox": "orchestrator sandbox [--port N]",
    "status": "orchestrator status [--cluster] [--json]",
    "demo": "orchestrator demo [--keep-running]",
}


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attr, help_text = COMMANDS[name]
        if ctx.resilient_parsing or _listing_only(ctx):
            # `orchestrator --help` needs only the one-line help: don't import anything.
            return click.Command(name, help=help_text, short_help=help_text)
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            # Contracted but not built yet: answer plainly instead of with a traceback.
            from orchestrator.cli.common import not_available
            return not_available(name, help_text, USAGE.get(name, ""))
        return getattr(module, attr)


def _listing_only(ctx: click.Context) -> bool:
    return (ctx.info_name is not None and ctx.invoked_subcommand is None
            and "--help" in sys.argv[1:2])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="orchestrator")
def cli() -> None:
    """Outage communication orchestrator.

    Notices when a platform your brand depends on goes down, pauses the posts aimed at
    it, tells customers over the channels that still work, and says "we're back".
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="orchestrator")
