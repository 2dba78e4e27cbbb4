"""Rich tables for `orchestrator plan`: posts that would pause, deliveries, rendered messages."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table


def render(plan: dict[str, Any]) -> None:
    console = Console()
    head = f"[bold]{plan['playbook']}[/bold]"
    if plan["platform"]:
        head += f" for [bold]{plan['platform']}[/bold] down"
    console.print(f"Plan: {head} (dry run: nothing is sent or changed)")
    console.print(f"Down: {', '.join(plan['down']) or 'none'}    "
                  f"Surviving channels: {', '.join(plan['surviving']) or 'none'}")
    if plan["missing_vars"]:
        console.print("[yellow]Vars not given (shown as <name>): "
                      + ", ".join(plan["missing_vars"]) + "[/yellow]")
    console.print(_posts(plan["posts_to_pause"]))
    console.print(_steps(plan["steps"]))
    console.print(_deliveries(plan["steps"]))
    for message in plan["messages"]:
        title = f"{message['channel']} ({', '.join(message['phases'])})"
        body = (f"Subject: {message['subject']}\n\n" if message["subject"] else "") \
            + message["body"]
        console.print(Panel(body, title=title, title_align="left"))


def _posts(posts: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Posts that would pause ({len(posts)})", title_justify="left")
    for column in ("id", "channel", "publish at", "campaign", "text"):
        table.add_column(column)
    for post in posts:
        text = post["text"] if len(post["text"]) <= 60 else post["text"][:57] + "..."
        table.add_row(str(post["id"]), post["channel"], str(post["publish_at"]),
                      post["campaign"] or "", text)
    return table


def _steps(steps: list[dict[str, Any]]) -> Table:
    table = Table(title="Steps", title_justify="left")
    for column in ("phase", "#", "kind", "would", "detail"):
        table.add_column(column)
    for step in steps:
        detail = step["detail"] or ""
        for skip in step.get("skipped", []):
            detail += f"\n  skipped {skip['channel']}: {skip['reason']}"
        table.add_row(step["phase"], str(step["index"]), step["kind"], step["outcome"], detail)
    return table


def _deliveries(steps: list[dict[str, Any]]) -> Table:
    table = Table(title="Messages per channel and audience", title_justify="left")
    for column in ("phase", "channel", "audience", "members", "suppressed", "quiet hours",
                   "messages"):
        table.add_column(column, justify="right" if column not in ("phase", "channel",
                                                                    "audience") else "left")
    for step in steps:
        for d in step.get("deliveries", []):
            table.add_row(step["phase"], d["channel"], d["audience"] or "(public post)",
                          str(d.get("members", "")), str(d.get("suppressed", "")),
                          str(d.get("deferred_quiet_hours", "")), str(d["messages"]))
    return table
