"""Shared pieces of the runner tests: a world of twins, outages driven through IncidentManager."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from orchestrator.clock import FakeClock
from orchestrator.detector import PlatformChange
from orchestrator.incidents import IncidentManager
from orchestrator.outbox import MemoryOutbox
from orchestrator.playbook.ports import MemoryAudiences, MemoryCalendar, MemoryPost
from orchestrator.playbook.runner import Runner
from orchestrator.store.schema import step_executions
from tests.runner.conftest import T0

CONTACTS = {
    "vip": [{"id": 1, "phone": "+15551230001", "email": "ana@example.com"},
            {"id": 2, "phone": "+15551230002", "email": "bo@example.com"}],
    "customers": [{"id": 1, "phone": "+15551230001", "email": "ana@example.com"},
                  {"id": 3, "phone": "+15551230003", "email": "cy@example.com"},
                  {"id": 4, "phone": "+15551230004", "email": "di@example.com"}],
}


def posts() -> list[MemoryPost]:
    return [MemoryPost(i + 1, channel, T0 + timedelta(hours=i + 1))
            for i, channel in enumerate(["facebook-page", "instagram", "x", "facebook-page"])]


@dataclass
class World:
    """A runner with in-memory twins for the outbox, calendar and audiences."""

    engine: Any
    config: Any
    playbooks: dict
    clock: FakeClock
    outbox: MemoryOutbox = field(default_factory=MemoryOutbox)
    calendar: MemoryCalendar = field(default_factory=lambda: MemoryCalendar(posts()))
    audiences: MemoryAudiences = field(default_factory=lambda: MemoryAudiences(CONTACTS))
    runner: Runner | None = None
    manager: IncidentManager | None = None

    def __post_init__(self):
        self.runner = self.new_runner()
        triggers = {n: p.trigger for n, p in self.playbooks.items() if p.trigger}
        self.manager = IncidentManager(self.engine, triggers, clock=self.clock)

    def new_runner(self, **kwargs) -> Runner:
        return Runner(self.engine, self.config, self.playbooks, outbox=self.outbox,
                      calendar=self.calendar, audiences=self.audiences, clock=self.clock,
                      **kwargs)

    def change(self, platform: str, old: str | None, new: str) -> list[Any]:
        """A platform change through the incident manager, its actions handed to the runner."""
        actions = self.manager.handle(PlatformChange(platform, old, new, self.clock.now(),
                                                     f"test: {new}"))
        for action in actions:
            self.runner.handle(action)
        return actions

    def advance(self, delta: timedelta) -> None:
        """Move the clock and let the daemon's two timers fire, as APScheduler would."""
        self.clock.advance(delta)
        for action in self.manager.tick(self.clock.now()):
            self.runner.handle(action)
        self.runner.tick(self.clock.now())

    def rows(self, channel: str | None = None, step: str | None = None) -> list[Any]:
        return [r for r in self.outbox.rows.values()
                if (channel is None or r.channel == channel)
                and (step is None or r.step_key.startswith(step))]


def steps(engine, run_id: int) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(step_executions).where(
            step_executions.c.run_id == run_id).order_by(
            step_executions.c.phase, step_executions.c.iteration, step_executions.c.step_index)))


def step(engine, run_id: int, phase: str, index: int, iteration: int = 0) -> Any:
    return next(s for s in steps(engine, run_id)
                if (s.phase, s.iteration, s.step_index) == (phase, iteration, index))
