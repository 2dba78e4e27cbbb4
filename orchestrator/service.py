"""The daemon: one asyncio process that polls, detects, runs playbooks, dispatches and serves HTTP.

    Poller (APScheduler jobs, one shared HTTP client) ─► Detector ─► on_step
        └► IncidentManager.handle ─► Runner.handle            (store work on a worker thread)
    timers, every `tick` s: IncidentManager.tick (sustained_for), Runner.tick (`every`,
        holds), the calendar publisher (due posts)
    Dispatcher: outbox rows ─► channels (rate limits, retries, failover)
    uvicorn.Server on the same loop: status page, webhooks, ops API, dashboard, /metrics

Everything built from one validated config is a `Parts` (orchestrator.wiring); SIGHUP
validates the file again and, only when it is clean, swaps the Parts (a bad file keeps the
old ones and logs every problem). SIGTERM/SIGINT stop polling, let in-flight sends finish
up to `drain_timeout`, leave the rest pending, and log the counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import ConfigError
from orchestrator.logs import event
from orchestrator.wiring import (
    Parts,
    Setup,
    bind,
    build_parts,
    ledger_counts,
    load_setup,
    restart_only_changes,
)

log = logging.getLogger("orchestrator.service")

TICK_S = 1.0          # how often sustained triggers, `every` cadences and due posts are checked
DRAIN_S = 10.0        # how long in-flight sends may take to finish on stop or reload
STARTUP_S = 10.0      # how long the HTTP server may take to start


class Service:
    """The daemon. `await run()` returns the final counts once `stop()` is called."""

    def __init__(self, config_path: Path, *, env: Mapping[str, str] | None = None,
                 clock: Clock | None = None, drain_timeout: float = DRAIN_S,
                 tick: float = TICK_S, install_signals: bool = True):
        self.config_path, self.env = Path(config_path), env
        self.clock = clock or SystemClock()
        self.drain_timeout, self.tick, self.install_signals = drain_timeout, tick, install_signals
        self.engine: Any = None
        self.parts: Parts | None = None
        self.web: Any = None
        self.server: Any = None
        self._serving: asyncio.Task | None = None
        self.counts: dict[str, int] = {}
        self.http_url: str | None = None
        self.started = asyncio.Event()
        self.totals: Counter[str] = Counter()   # dispatcher counts over every reload
        self.reloads = 0
        self._stop = asyncio.Event()
        self._work = asyncio.Lock()             # store work of incidents and runner, one at a time
        self._tasks: set[asyncio.Task] = set()

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> dict[str, int]:
        """Start everything, wait for `stop()`, stop gracefully; returns the counts logged."""
        setup = await asyncio.to_thread(load_setup, self.config_path, self.env)
        await self._open_store(setup.config)
        self.parts = await self._start_parts(setup)
        timers, signals = None, []
        try:
            await self._start_http(setup)
            signals = self._install_signals() if self.install_signals else []
            timers = asyncio.create_task(self._timers(), name="timers")
            event(log, "service.started", config=str(self.config_path), http=self.http_url,
                  monitors=len(self.parts.poller.configs), playbooks=sorted(setup.playbooks),
                  channels=sorted(self.parts.dispatcher.channels))
            self.started.set()
            await self._stop.wait()
        finally:
            for sig in signals:
                asyncio.get_running_loop().remove_signal_handler(sig)
            self.counts = await self._shutdown(timers)
        return self.counts

    def stop(self) -> None:
        """Ask the service to stop (idempotent; safe from a signal handler)."""
        self._stop.set()

    def request_reload(self) -> None:
        """Reload the config in the background (what SIGHUP does)."""
        self._spawn(self.reload())

    async def _open_store(self, config: Any) -> None:
        from orchestrator.store.engine import make_engine
        from orchestrator.store.migrate import upgrade

        self.engine = make_engine(config.storage)
        await asyncio.to_thread(upgrade, self.engine)

    def _install_signals(self) -> list[int]:
        loop = asyncio.get_running_loop()
        handlers = {signal.SIGTERM: self.stop, signal.SIGINT: self.stop,
                    signal.SIGHUP: self.request_reload}
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        return list(handlers)

    async def _shutdown(self, timers: asyncio.Task | None) -> dict[str, int]:
        """Stop polling, let store work and in-flight sends finish, then stop serving."""
        event(log, "service.stopping", drain_timeout=self.drain_timeout)
        self._stop.set()
        if self.parts is not None:
            await self.parts.poller.aclose()
        if timers is not None:
            await timers
        async with self._work:  # an incident or run being recorded finishes first
            if self.parts is not None:
                await self._stop_parts(self.parts)
        await self._stop_http()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        counts = {**self.totals, **await asyncio.to_thread(ledger_counts, self.engine)}
        event(log, "service.stopped", **counts)
        self.engine.dispose()
        return counts

    # -- parts: build, start, stop -------------------------------------------------

    async def _start_parts(self, setup: Setup) -> Parts:
        # Built on the loop: channels may open async clients, which belong to this loop.
        parts = build_parts(setup, self.engine, self.clock, self._on_step)
        await asyncio.to_thread(parts.incidents.load)
        await parts.poller.start()
        parts.dispatch_task = asyncio.create_task(
            parts.dispatcher.run(parts.dispatch_stop, self.drain_timeout), name="dispatcher")
        return parts

    async def _stop_parts(self, parts: Parts) -> None:
        """Stop polling first, then let the dispatcher finish what is in flight."""
        await parts.poller.aclose()
        parts.dispatch_stop.set()
        if parts.dispatch_task is not None:
            try:
                stats = await parts.dispatch_task
                self.totals.update({k: v for k, v in dataclasses.asdict(stats).items() if v})
            except Exception:  # noqa: BLE001 - the counts are lost, the stop goes on
                log.exception("dispatcher failed")
        await parts.dispatcher.aclose()

    # -- reload --------------------------------------------------------------------

    async def reload(self) -> bool:
        """Validate the config file again; apply it only when it is clean."""
        try:
            setup = await asyncio.to_thread(load_setup, self.config_path, self.env)
        except ConfigError as exc:
            for problem in exc.problems:
                event(log, "reload.problem", logging.ERROR, problem=str(problem))
            event(log, "reload.rejected", logging.ERROR, problems=len(exc.problems),
                  reason="the new config has problems; the running config stays")
            return False
        old = self.parts.setup.config
        for key in restart_only_changes(old, setup.config):
            event(log, "reload.needs_restart", logging.WARNING, key=key,
                  reason=f"{key} changed: it takes effect at the next restart")
        async with self._work:
            await self._stop_parts(self.parts)
            self.parts = await self._start_parts(setup)
            self._point_web(self.parts)
        self.reloads += 1
        event(log, "reload.applied", playbooks=sorted(setup.playbooks),
              monitors=len(self.parts.poller.configs))
        return True

    # -- detection to action -------------------------------------------------------

    async def _on_step(self, step: Any) -> None:
        """The poller's callback: a platform changed (or our network did)."""
        if step.network is not None:
            level = logging.ERROR if step.network.problem else logging.WARNING
            event(log, "network.problem" if step.network.problem else "network.recovered",
                  level, reason=step.network.reason)
        network = step.state.local_network_problem
        for change in step.changes:
            event(log, "platform.changed", platform=change.platform, old=change.old,
                  new=change.new, reason=change.reason)
            async with self._work:
                parts = self.parts
                actions = await asyncio.to_thread(parts.incidents.handle, change,
                                                  network_problem=network)
                await self._act(parts, actions)

    async def _act(self, parts: Parts, actions: list[Any]) -> None:
        for action in actions:
            event(log, "incident." + _action_name(action), incident=action.incident_id,
                  platform=action.platform, playbooks=list(getattr(action, "playbooks", ())))
            runs = await asyncio.to_thread(parts.runner.handle, action)
            if runs:
                event(log, "runner.advanced", incident=action.incident_id, runs=runs)

    async def _timers(self) -> None:
        """Tick until the service stops (never cancelled mid-tick: store work completes)."""
        while not self._stop.is_set():
            try:
                await self._tick_once()
            except Exception:  # noqa: BLE001 - one bad tick must not end the timers
                log.exception("timer tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.tick)

    async def _tick_once(self) -> None:
        async with self._work:
            parts, now = self.parts, self.clock.now()
            network = parts.poller.state.local_network_problem
            actions = await asyncio.to_thread(parts.incidents.tick, now,
                                              network_problem=network)
            await self._act(parts, actions)
            await asyncio.to_thread(parts.runner.tick, now)
            await self._publish_due(parts, now)

    async def _publish_due(self, parts: Parts, now: Any) -> None:
        from orchestrator.publisher import publish_due

        published = await asyncio.to_thread(publish_due, self.engine, parts.setup.config,
                                            now=now)
        if published:
            event(log, "calendar.published", posts=published)

    # -- HTTP ----------------------------------------------------------------------

    async def _start_http(self, setup: Setup) -> None:
        from orchestrator.web.app import create_app, make_server
        from orchestrator.web.state import WebState

        # TODO(metrics): the poll and send counters (Metrics.observe_poll/observe_send) need an
        # observation hook on the Poller and a send hook on the Dispatcher; the store gauges
        # (platform states, incidents, outbox, queue depth) are read at scrape time already.
        self.web = WebState(self.engine, setup.config, clock=self.clock)
        self._point_web(self.parts)
        sock = bind(setup.config.http.listen)
        host, port = sock.getsockname()[:2]
        self.http_url = f"http://{host if ':' not in host else f'[{host}]'}:{port}"
        # The socket is bound here so that port 0 works and the URL is known before serving.
        self.server = make_server(create_app(self.web), setup.config.http.listen)
        self._serving = serving = asyncio.create_task(self.server.serve(sockets=[sock]))
        for _ in range(int(STARTUP_S / 0.01)):
            if self.server.started or serving.done():
                break
            await asyncio.sleep(0.01)
        if not self.server.started:
            sock.close()
            raise RuntimeError(f"the HTTP server on {self.http_url} did not start")

    def _point_web(self, parts: Parts) -> None:
        """Make the web app use `parts` (after start and after each reload)."""
        self.web.config = parts.setup.config
        self.web.runner = parts.runner
        self.web.calendar = parts.calendar
        self.web.push_monitors = [m for m in parts.poller.monitors.values()
                                  if getattr(m, "kind", None) == "push"]
        self.web.on_push = self._on_push

    async def _on_push(self, observation: Any) -> None:
        await self.parts.poller.feed(observation)

    async def _stop_http(self) -> None:
        if self.server is None or self._serving is None:
            return
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self._serving, timeout=STARTUP_S)
        except TimeoutError:
            log.warning("the HTTP server did not stop in time")

    def _spawn(self, coroutine) -> asyncio.Task:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


def _action_name(action: Any) -> str:
    names: dict[str, str] = {"IncidentOpened": "opened", "TriggerMatched": "trigger_matched",
                             "IncidentUpdated": "updated", "IncidentResolved": "resolved"}
    return names.get(type(action).__name__, type(action).__name__)


def run_forever(config_path: Path, **kwargs: Any) -> dict[str, int]:
    """`asyncio.run` the service until a signal stops it (what `orchestrator run` does)."""
    return asyncio.run(Service(config_path, **kwargs).run())


