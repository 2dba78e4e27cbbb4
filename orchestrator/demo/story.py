"""The demo's story: sandboxes and daemon up, Facebook breaks, each stage must happen in time.

Every stage has a deadline; one that passes ends the demo with a non-zero exit and says which
stage did not happen, so the demo doubles as an end-to-end smoke test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.demo import evidence
from orchestrator.demo.clock import ScaledClock
from orchestrator.demo.narration import Narrator
from orchestrator.demo.workspace import (
    SECRETS,
    SPEED,
    Workspace,
    load_audience,
    load_calendar,
    write_workspace,
)
from orchestrator.durations import format_duration

STARTUP_S = 40.0   # the daemon's imports and migrations on a cold machine
STAGE_S = 20.0     # any one stage of the story


class StageFailed(Exception):
    """A stage of the story did not happen within its deadline."""


@dataclass
class DemoResult:
    """What the demo saw; the CLI prints it and the tests assert it."""

    status_url: str
    audience: dict[str, int]
    counts: evidence.Counts = field(default_factory=lambda: evidence.Counts({}, {}))
    facebook_while_down: int = 0
    updates: int = 0
    paused: int = 0
    resumed: int = 0
    held: int = 0
    published_after: int = 0
    incidents: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def story_rows(self) -> list[tuple[str, Any]]:
        rows = [("incidents opened", sum(self.incidents.values())),
                ("incidents resolved", self.incidents.get("resolved", 0)),
                ("scheduled posts paused", self.paused),
                ("posts resumed", self.resumed),
                ("posts held for a person (instagram)", self.held),
                ("updates while down", self.updates),
                ("requests to Facebook while it was down", self.facebook_while_down)]
        return rows + [("resumed posts published on Facebook", self.published_after),
                       ("seconds", f"{self.seconds:.1f}")]


@contextlib.contextmanager
def daemon_log(path: Path) -> Iterator[None]:
    """The daemon's JSON log goes to `path` while the story is told on the terminal."""
    from orchestrator.logs import configure

    root = logging.getLogger()
    level = root.level
    with path.open("a", encoding="utf-8") as stream:
        handler = configure("json", logging.INFO, stream=stream)
        try:
            yield
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


async def run_demo(console: Any = None, *, keep_running: bool = False) -> DemoResult:
    """Tell the whole story in a temp dir; raises StageFailed when a stage is late."""
    narrator = Narrator(console)
    from orchestrator.sandbox import Sandbox

    with tempfile.TemporaryDirectory(prefix="orchestrator-demo-") as tmp:
        async with Sandbox() as sandbox:
            narrator.say(f"provider sandboxes and a Statuspage-format status server on "
                         f"{sandbox.url}")
            folder = Path(tmp)
            with daemon_log(folder / "daemon.log"):
                return await Demo(folder, sandbox, narrator).run(keep_running)


class Demo:
    def __init__(self, folder: Path, sandbox: Any, narrator: Narrator) -> None:
        self.folder, self.sandbox, self.narrator = folder, sandbox, narrator
        self.clock = ScaledClock(SPEED)
        self.workspace: Workspace = write_workspace(folder, sandbox.url)
        self.engine: Any = None
        self.config: Any = None
        self.task: asyncio.Task | None = None

    async def run(self, keep_running: bool) -> DemoResult:
        from orchestrator.service import Service
        from orchestrator.store.engine import make_engine
        from orchestrator.store.migrate import upgrade

        self.engine = make_engine(f"sqlite:///{self.folder}/demo.db")
        service = Service(self.workspace.config, env={**os.environ, **SECRETS},
                          clock=self.clock, install_signals=keep_running)
        try:
            await asyncio.to_thread(upgrade, self.engine)
            audience = await asyncio.to_thread(load_audience, self.engine, self.folder)
            self.narrator.say(f"audience loaded: {audience['customers']} customers, "
                              f"{audience['vip']} of them VIPs who get SMS")
            self.task = asyncio.create_task(service.run())
            await self.stage("Daemon running", self._started(service), STARTUP_S)
            self.clock.accelerate()
            self.config = service.parts.setup.config
            self.narrator.banner(self.workspace.status_url, self.workspace.status_url + "ops",
                                 SECRETS["DEMO_API_TOKEN"], str(self.folder / "daemon.log"))
            result = DemoResult(self.workspace.status_url, audience)
            await self.tell(result)
            result.seconds = self.narrator.elapsed()
            self.narrator.summary(result)
            if keep_running:
                self.narrator.say("everything stays up for exploring: press Ctrl-C to stop")
                await self.task
            return result
        finally:
            service.stop()
            if self.task is not None:
                await asyncio.wait({self.task}, timeout=30)
            self.engine.dispose()

    # -- the stages ---------------------------------------------------------------

    async def stage(self, title: str, check: Callable[[], Awaitable[Any]],
                    deadline: float = STAGE_S) -> Any:
        """Poll `check` until it returns something truthy; StageFailed after `deadline` s."""
        began = time.monotonic()
        while True:
            if self.task is not None and self.task.done():
                error = self.task.exception() if not self.task.cancelled() else None
                raise StageFailed(f"{title}: the daemon stopped ({error!r})")
            value = await check()
            if value:
                self.narrator.done(title, value if isinstance(value, str) else "")
                return value
            if time.monotonic() - began > deadline:
                raise StageFailed(f"{title}: did not happen within {deadline:g} s")
            await asyncio.sleep(0.2)

    def _started(self, service: Any) -> Callable[[], Awaitable[Any]]:
        async def check():
            return service.started.is_set() and f"HTTP on {service.http_url}"
        return check

    def _db(self, function: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return asyncio.to_thread(function, self.engine, *args)

    def _platform(self, name: str, state: str) -> Callable[[], Awaitable[Any]]:
        async def check():
            row = await self._db(evidence.platform, name)
            return row is not None and row.state == state and f"{name} is {state}: {row.reason}"
        return check

    def _incident(self, state: str) -> Callable[[], Awaitable[Any]]:
        async def check():
            row = await self._db(evidence.incident_of, "facebook")
            return row is not None and row.state == state and f"incident #{row.id} " + (
                f"{row.title}" if state == "open" else
                f"resolved after {format_duration(row.resolved_at - row.started_at)} "
                "of demo time")
        return check

    def _told(self, want: dict[str, int]) -> Callable[[], Awaitable[Any]]:
        async def check():
            counts = evidence.count_sandbox(self.sandbox)
            if all(counts[p] >= n for p, n in want.items()):
                return ", ".join(f"{counts[p]} {p}" for p in want)
            return None
        return check

    def _posts(self, predicate: Callable[[dict], Any]) -> Callable[[], Awaitable[Any]]:
        async def check():
            return predicate(await self._db(evidence.posts_by_state))
        return check

    async def tell(self, result: DemoResult) -> None:
        """The outage, from the first poll to "we're back"."""
        await self.stage("Baseline", self._platform("facebook", "operational"))
        await self._break_facebook(result)
        await self._recover_facebook(result)
        result.incidents = await self._db(evidence.incident_states)

    async def _break_facebook(self, result: DemoResult) -> None:
        posts = await self._db(load_calendar, self.config, self.clock.now())
        self.narrator.say(f"content calendar loaded: {posts} posts, some due on Facebook and "
                          "Instagram in the next minute of demo time")
        self.sandbox.statuspage.set_component("Facebook Pages", "major_outage", page="meta")
        self.narrator.act("the status server now says [bold]Facebook Pages: major_outage[/bold]")
        await self.stage("Outage detected", self._platform("facebook", "major_outage"))
        await self.stage("Incident opened", self._incident("open"))
        paused = await self.stage("Posts paused", self._posts(
            lambda by: evidence.summarize_posts(by, "paused") if any(
                s == "paused" for _, s in by) else None))
        result.paused = sum(int(part.split()[0]) for part in paused.split(", "))
        audience = result.audience
        await self.stage("Customers told", self._told(
            {"twilio": audience["vip"], "sendgrid": audience["customers"], "x": 1,
             "linkedin": 1, "mastodon": 1}))
        await self.stage("Update posted", self._told({"x": 2, "linkedin": 2, "mastodon": 2}))
        result.updates = await self._db(evidence.updates_sent)
        result.facebook_while_down = evidence.count_sandbox(self.sandbox)["facebook"]

    async def _recover_facebook(self, result: DemoResult) -> None:
        self.sandbox.statuspage.set_component("Facebook Pages", "operational", page="meta")
        self.narrator.act("the status server now says [bold]Facebook Pages: operational[/bold]")
        await self.stage("Recovery detected", self._incident("resolved"))
        by_state = await self.stage("Posts resumed", self._posts(
            lambda by: by if not any(s == "paused" for _, s in by) else None))
        result.held = sum(n for (_, s), n in by_state.items() if s == "held")
        result.resumed = result.paused - result.held
        self.narrator.say("missed Facebook posts publish now; Instagram's wait for a person "
                          f"(held: {evidence.summarize_posts(by_state, 'held')})")
        await self.stage("We're back", self._told(
            {"x": 3, "linkedin": 3, "mastodon": 3, "facebook": 1,
             "sendgrid": 2 * result.audience["customers"]}))
        await self.stage("Resumed posts published", self._told({"facebook": 3}))
        result.published_after = evidence.count_sandbox(self.sandbox)["facebook"] - 1
        result.counts = evidence.count_sandbox(self.sandbox)
        result.updates = await self._db(evidence.updates_sent)
