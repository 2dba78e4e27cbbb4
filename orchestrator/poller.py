"""Polls every monitor on its own interval with APScheduler and feeds what it sees to the detector.

Start times are spread over each monitor's interval by a hash of its name, so thousands of
monitors never fire in the same second. By default one AsyncIOScheduler job per second of
an interval starts that second's monitors at their own offsets (one job per monitor costs
about 6% of a core at 5,000 monitors); `job_per_monitor=True` gives each its own job.
Either way a monitor never runs twice at once (`max_instances=1`, or the in-flight set),
a stalled loop catches up with one poll (`coalesce=True`), and each check is its own task
under `asyncio.timeout(timeout + margin)`: a hanging status page costs its own check a
timeout and nothing else. Every failure becomes an `ok=False` observation.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from orchestrator.clock import Clock, SystemClock
from orchestrator.detector import Detector, DetectorState, Step
from orchestrator.monitors.base import Monitor, MonitorConfig, Observation

log = logging.getLogger(__name__)

# Extra time a check gets beyond its own timeout before we stop waiting for it: the monitor
# bounds its fetch itself; this only catches a monitor that fails to.
TIMEOUT_MARGIN_S = 2.0
# How often held-back changes and maintenance windows are re-evaluated without a poll.
TICK_INTERVAL_S = 5.0
# APScheduler's jitter per fire, as a share of the interval (capped), on top of the spread;
# a slot job (one second of monitors) gets up to one second.
JITTER_SHARE, JITTER_MAX_S = 0.1, 5.0
SLOT_JITTER_S = 1.0

StepCallback = Callable[[Step], Awaitable[None] | None]
ObservationHook = Callable[[Observation], None]


@dataclass(frozen=True)
class PollReport:
    """The outcome of `poll_once`: every observation, the canaries, and the detector's view."""

    observations: tuple[Observation, ...]
    state: DetectorState
    steps: tuple[Step, ...] = ()
    canaries: Any = None
    network_problem: bool = False

    @property
    def changes(self):
        return tuple(c for s in self.steps for c in s.changes)


@dataclass
class Poller:
    """Drives the monitors; holds the detector state, which only it updates."""

    monitors: Mapping[str, Monitor]
    configs: Mapping[str, MonitorConfig]
    detector: Detector
    client: Any = None                     # the shared HTTP client (fetch.new_client())
    canaries: list[Any] = field(default_factory=list)
    canary_interval: timedelta = timedelta(seconds=30)
    on_step: StepCallback | None = None
    # Told of every check's observation (ok or failed), e.g. Metrics.observe_poll.
    on_observation: ObservationHook | None = None
    clock: Clock = field(default_factory=SystemClock)
    state: DetectorState | None = None
    scheduler: Any = None
    # One APScheduler job per monitor costs about 6% of a core at 5,000 monitors on the bench
    # machine; by default monitors share one job per second of their interval instead.
    job_per_monitor: bool = False
    polls: int = 0
    skipped: int = 0                       # fires skipped because the last check still ran
    _owns_client: bool = False
    _stopping: bool = False
    _running: set[str] = field(default_factory=set)
    _tasks: set[asyncio.Task] = field(default_factory=set)
    # Changes reach the callback one step at a time, in the order the detector made them.
    _callback_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        if self.state is None:
            self.state = self.detector.initial()

    @classmethod
    def from_config(cls, config: Any, **kw: Any) -> Poller:
        """A poller for every enabled monitor of `config`, built through the monitor registry."""
        configs = {m.name: m for m in config.monitors if m.enabled}
        kw.setdefault("detector", Detector.from_config(config))
        kw.setdefault("canaries", list(config.canaries))
        return cls(build_monitors(configs.values()), configs, **kw)

    async def _ensure_client(self) -> None:
        if self.client is None:
            from orchestrator.monitors.fetch import new_client
            self.client, self._owns_client = new_client(), True

    async def aclose(self) -> None:
        """Stop the scheduler (if started) and close the client if this poller opened it."""
        await self.stop()
        if self._owns_client and self.client is not None:
            await self.client.close()
            self.client, self._owns_client = None, False

    async def start(self) -> None:
        """Schedule every monitor, the canaries and the detector's tick; returns at once."""
        from apscheduler.schedulers.asyncio import AsyncIOScheduler
        from apscheduler.triggers.interval import IntervalTrigger

        await self._ensure_client()
        self._stopping = False
        self.scheduler = AsyncIOScheduler(timezone="UTC")
        now = self.clock.now()
        if self.job_per_monitor:
            for name, config in self.configs.items():
                seconds = config.interval.total_seconds()
                trigger = IntervalTrigger(
                    seconds=seconds, start_date=now + timedelta(seconds=spread(name, seconds)),
                    jitter=min(seconds * JITTER_SHARE, JITTER_MAX_S), timezone="UTC")
                self._add(self.poll_monitor, trigger, name, args=(name,), grace=seconds)
        else:
            for (seconds, slot), members in slots(self.configs).items():
                trigger = IntervalTrigger(seconds=seconds,
                                          start_date=now + timedelta(seconds=slot),
                                          jitter=min(SLOT_JITTER_S, seconds * JITTER_SHARE),
                                          timezone="UTC")
                self._add(self.fire_slot, trigger, f"slot:{seconds:g}s:{slot}",
                          args=(members,), grace=seconds)
        if self.canaries:
            seconds = self.canary_interval.total_seconds()
            trigger = IntervalTrigger(seconds=seconds, start_date=now, timezone="UTC")
            self._add(self.poll_canaries, trigger, "canaries", grace=seconds)
        self._add(self.tick, IntervalTrigger(seconds=TICK_INTERVAL_S, timezone="UTC"),
                  "detector-tick", grace=TICK_INTERVAL_S)
        self.scheduler.start()

    async def fire_slot(self, members: tuple[tuple[str, float], ...]) -> None:
        """A slot's job: start each member at its own offset within the second, unawaited."""
        loop = asyncio.get_running_loop()
        for name, offset in members:
            loop.call_later(offset, self._launch, name)

    def _launch(self, name: str) -> None:
        # Per-monitor max_instances=1: a check still running (a hanging page) is not doubled,
        # and since each check is its own task it holds up nothing but itself.
        if self._stopping or name in self._running:
            self.skipped += name in self._running
            return
        self._running.add(name)
        task = asyncio.get_running_loop().create_task(self.poll_monitor(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda _t: self._running.discard(name))

    def _add(self, func, trigger, job_id: str, *, args=(), grace: float) -> None:
        self.scheduler.add_job(func, trigger, args=args, id=job_id, name=job_id,
                               max_instances=1, coalesce=True,
                               misfire_grace_time=max(1, int(grace)))

    async def stop(self) -> None:
        """Stop scheduling; checks still in flight are cancelled."""
        self._stopping = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.scheduler = None
        for task in list(self._tasks):
            task.cancel()

    async def check(self, name: str) -> Observation:
        """Run one monitor's check, bounded; any failure becomes an `ok=False` observation."""
        obs = await self._check(name)
        if self.on_observation is not None:
            try:
                self.on_observation(obs)
            except Exception:  # noqa: BLE001 - a metrics bug must not cost the poll
                log.exception("observation hook failed")
        return obs

    async def _check(self, name: str) -> Observation:
        config, monitor = self.configs[name], self.monitors[name]
        limit = config.timeout.total_seconds() + TIMEOUT_MARGIN_S
        started = self.clock.monotonic()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for wraps every check in a task of
            # its own, which at 5,000 monitors is a measurable share of the CPU budget.
            async with asyncio.timeout(limit):
                obs = await monitor.check(self.client)
        except TimeoutError:
            return self._failed(config, f"check did not finish within {limit:g}s", started)
        except Exception as exc:  # noqa: BLE001 - a monitor bug must not stop the scheduler
            log.exception("monitor %s raised instead of returning an observation", name)
            return self._failed(config, f"monitor error: {type(exc).__name__}: {exc}", started)
        self.polls += 1
        return obs

    def _failed(self, config: MonitorConfig, reason: str, started: float) -> Observation:
        self.polls += 1
        elapsed = (self.clock.monotonic() - started) * 1000
        return Observation(config.name, config.platform, self.clock.now(), "unknown", ok=False,
                           reason=reason, latency_ms=elapsed)

    async def poll_monitor(self, name: str) -> None:
        """The scheduler's job for one monitor."""
        try:
            obs = await self.check(name)
        except asyncio.CancelledError:
            if self._stopping:  # shutdown cancels in-flight jobs: not an error worth a trace
                return
            raise
        await self.feed(obs)

    async def poll_canaries(self) -> Any:
        from orchestrator.monitors.canary import check_canaries
        try:
            verdict = await check_canaries(self.client, self.canaries)
        except Exception:  # noqa: BLE001 - treat a broken canary check as no information
            log.exception("canary check raised")
            return None
        await self._apply(self.detector.observe_canaries(self.state, verdict, self.clock.now()))
        return verdict

    async def tick(self) -> None:
        await self._apply(self.detector.tick(self.state, self.clock.now()))

    async def feed(self, obs: Observation) -> Step:
        """Give the detector one observation (polled or pushed) and report what changed."""
        if obs.monitor not in self.configs:
            log.warning("dropping an observation from unknown monitor %r", obs.monitor)
            return Step(self.state)
        step = self.detector.observe(self.state, obs, self.clock.now())
        await self._apply(step)
        return step

    async def _apply(self, step: Step) -> None:
        self.state = step.state
        if self.on_step is None or not (step.changes or step.network):
            return
        try:
            async with self._callback_lock:
                result = self.on_step(step)
                if inspect.isawaitable(result):
                    await result
        except Exception:  # noqa: BLE001 - the callback's failure is its own, not the poll's
            log.exception("platform change callback failed")

    async def poll_once(self) -> PollReport:
        """Poll every monitor and the canaries once, concurrently, and feed the results."""
        await self._ensure_client()
        names = list(self.configs)
        canary_task = (asyncio.ensure_future(self.poll_canaries()) if self.canaries else None)
        observations = await asyncio.gather(*(self.check(n) for n in names))
        steps: list[Step] = []
        verdict = await canary_task if canary_task is not None else None
        for obs in observations:  # canaries first: a dead network must colour every reading
            steps.append(await self.feed(obs))
        return PollReport(tuple(observations), self.state, tuple(steps), verdict,
                          self.state.local_network_problem)


def slots(configs: Mapping[str, MonitorConfig]) -> dict[tuple[float, int], tuple]:
    """Monitors grouped by (interval, whole second of their spread offset), each member with
    the rest of its offset, so one job per second starts them at their own moments."""
    groups: dict[tuple[float, int], list[tuple[str, float]]] = {}
    for name, config in configs.items():
        seconds = config.interval.total_seconds()
        offset = spread(name, seconds)
        groups.setdefault((seconds, int(offset)), []).append((name, offset - int(offset)))
    return {key: tuple(sorted(members, key=lambda m: m[1])) for key, members in groups.items()}


def spread(name: str, interval_s: float) -> float:
    """A stable offset in [0, interval) for a monitor, so start times fan out evenly."""
    return (zlib.crc32(name.encode()) % 10_000) / 10_000 * interval_s


def build_monitors(configs: Iterable[MonitorConfig]) -> dict[str, Monitor]:
    """One monitor object per config, through the registry (`kind` → class)."""
    from orchestrator.monitors.registry import monitor_classes
    classes = monitor_classes()
    return {c.name: classes[c.kind](c) for c in configs}
