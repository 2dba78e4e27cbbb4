"""The demo's voice: one line per thing that happened, then a summary table (rich)."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.table import Table

PROVIDER_LABELS = {"twilio": "Twilio (SMS)", "sendgrid": "SendGrid (email)", "x": "X",
                   "linkedin": "LinkedIn", "mastodon": "Mastodon", "facebook": "Facebook Page"}


class Narrator:
    """Prints the story with the seconds elapsed since it began."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.began = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.began

    def _line(self, mark: str, text: str) -> None:
        self.console.print(f"[dim]{self.elapsed():5.1f}s[/dim] {mark} {text}")

    def say(self, text: str) -> None:
        self._line("[cyan]•[/cyan]", text)

    def done(self, title: str, detail: str = "") -> None:
        self._line("[green]✔[/green]", f"[bold]{title}[/bold]" + (f" — {detail}" if detail else ""))

    def act(self, text: str) -> None:
        self._line("[yellow]⚡[/yellow]", text)

    def fail(self, text: str) -> None:
        self._line("[red]✘[/red]", f"[red]{text}[/red]")

    def banner(self, status_url: str, dashboard_url: str, token: str, log_file: str) -> None:
        self.console.rule("[bold]Outage orchestrator demo[/bold]")
        self.console.print(f"Status page:    [link={status_url}]{status_url}[/link]")
        self.console.print(f"Ops dashboard:  {dashboard_url}  (token: {token})")
        self.console.print(f"Daemon log:     {log_file}")
        self.console.print("Demo time runs 6x faster than the wall clock: "
                           "an update every minute arrives every 10 s.\n")

    def summary(self, result: Any) -> None:
        table = Table(title="Counted at the sandboxes", title_justify="left")
        table.add_column("provider")
        table.add_column("requests", justify="right")
        table.add_column("messages", justify="right")
        for provider, label in PROVIDER_LABELS.items():
            table.add_row(label, str(result.counts.requests.get(provider, 0)),
                          str(result.counts[provider]))
        self.console.print(table)
        story = Table(title="What the daemon did", title_justify="left")
        story.add_column("what")
        story.add_column("count", justify="right")
        for what, count in result.story_rows():
            story.add_row(what, str(count))
        self.console.print(story)
