"""The daemon: one asyncio process that polls, detects, runs playbooks, dispatches and serves HTTP.

    only while this replica leads (LeaderElector over the `timers` lease):
    Poller (APScheduler jobs, one shared HTTP client) ─► Detector ─► on_step
        └► IncidentManager.handle ─► Runner.handle            (store work on a worker thread)
    timers, every `tick` s: IncidentManager.tick (sustained_for), Runner.tick (`every`,
        holds), the calendar publisher (due posts)
    Dispatcher: outbox rows ─► channels (rate limits, retries, failover)
    uvicorn.Server on the same loop: status page, webhooks, ops API, dashboard, /metrics

On PostgreSQL several replicas share the store: every one dispatches and serves HTTP on the
plain engine, and the one holding the lease polls and runs the timers on an engine whose
every transaction is fenced by its token (a StaleLeaseError ends that tenure, never retried).
On SQLite there is one replica, and it leads from the start.

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
from orchestrator.errors import ConfigError, StaleLeaseError
from orchestrator.gctune import tune_for_fan_out
from orchestrator.lease import new_holder_id
from orchestrator.logs import event
from orchestrator.wiring import (
    Parts,
    Setup,
    bind,
    build_parts,
    lease_ttl,
    ledger_counts,
    load_setup,
    restart_only_changes,
    stored_platform_states,
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
        self.replica_id = new_holder_id()
        self.lease: Any = None                  # None on SQLite: one replica, always leading
        self.timers_engine: Any = None
        from orchestrator.web.metrics import Metrics

        self.metrics = Metrics()                # polls and sends, shown at /metrics
        self.leading: int | None = None         # the fencing token of the current tenure
        self._tenure_stop: asyncio.Event | None = None
        self._timers_task: asyncio.Task | None = None

    # -- lifecycle -----------------------------------------------------------------

    async def run(self) -> dict[str, int]:
        """Start everything, wait for `stop()`, stop gracefully; returns the counts logged."""
        setup = await asyncio.to_thread(load_setup, self.config_path, self.env)
        await self._open_store(setup.config)
        self.parts = await self._start_parts(setup)
        cluster, signals = [], []
        try:
            await self._start_http(setup)
            signals = self._install_signals() if self.install_signals else []
            event(log, "service.started", config=str(self.config_path), http=self.http_url,
                  monitors=len(self.parts.poller.configs), playbooks=sorted(setup.playbooks),
                  channels=sorted(self.parts.dispatcher.channels), replica=self.replica_id,
                  election=self.lease is not None)
            cluster = await self._join_cluster()
            self.started.set()
            await self._stop.wait()
        finally:
            for sig in signals:
                asyncio.get_running_loop().remove_signal_handler(sig)
            self.counts = await self._shutdown(cluster)
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
        self.timers_engine = self.engine
        if self.engine.dialect.name == "postgresql":
            from orchestrator.lease import LeaderLease, fenced_engine

            self.lease = LeaderLease(self.engine, "timers", holder=self.replica_id,
                                     ttl=lease_ttl(config))
            self.timers_engine = fenced_engine(self.engine.url, self.lease)

    async def _join_cluster(self) -> list[asyncio.Task]:
        """Heartbeat and stand for election (PostgreSQL); on SQLite, lead at once."""
        if self.lease is None:
            await self._elected(0)
            return []
        from orchestrator.election import LeaderElector
        from orchestrator.replicas import ReplicaRegistry

        registry = ReplicaRegistry(self.engine, self.replica_id)
        elector = LeaderElector(self.lease)
        return [asyncio.create_task(registry.run(self._stop), name="registry"),
                asyncio.create_task(elector.run(self._elected, self._deposed, self._stop),
                                    name="elector")]

    def _install_signals(self) -> list[int]:
        loop = asyncio.get_running_loop()
        handlers = {signal.SIGTERM: self.stop, signal.SIGINT: self.stop,
                    signal.SIGHUP: self.request_reload}
        for sig, handler in handlers.items():
            loop.add_signal_handler(sig, handler)
        return list(handlers)

    async def _shutdown(self, cluster: list[asyncio.Task]) -> dict[str, int]:
        """Stop leading (poller, timers, then the lease), let store work and in-flight sends
        finish, then stop serving."""
        event(log, "service.stopping", drain_timeout=self.drain_timeout)
        self._stop.set()
        # The elector deposes this replica (stopping poller and timers) before it releases
        # the lease, so no timer write can follow the release.
        for outcome in await asyncio.gather(*cluster, return_exceptions=True):
            if isinstance(outcome, BaseException):
                log.error("cluster task failed: %r", outcome)
        await self._deposed()
        async with self._work:  # an incident or run being recorded finishes first
            if self.parts is not None:
                await self._stop_parts(self.parts)
        await self._stop_http()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        counts = {**self.totals, **await asyncio.to_thread(ledger_counts, self.engine)}
        event(log, "service.stopped", **counts)
        if self.timers_engine is not self.engine:
            self.timers_engine.dispose()
        self.engine.dispose()
        return counts

    # -- parts: build, start, stop -------------------------------------------------

    async def _start_parts(self, setup: Setup) -> Parts:
        # Built on the loop: channels may open async clients, which belong to this loop.
        parts = build_parts(setup, self.engine, self.clock, self._on_step,
                            timers_engine=self.timers_engine, owner=self.replica_id,
                            on_observation=self.metrics.observe_poll,
                            on_send=self.metrics.observe_send)
        if self.leading is not None:  # a reload while leading: the new poller takes over
            try:
                await self._take_over(parts)
            except StaleLeaseError as exc:
                self._lost_lead(exc)
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

    # -- leadership ----------------------------------------------------------------

    async def _take_over(self, parts: Parts) -> None:
        """Start `parts`' poller from a fresh detector, the incidents as the store has them."""
        await asyncio.to_thread(parts.incidents.load)
        # Another leader may have moved platforms on since this poller last looked: start
        # from the states it stored, so the next real change is not held back.
        known = await asyncio.to_thread(stored_platform_states, self.engine)
        parts.poller.state = parts.poller.detector.initial(known)
        await parts.poller.start()

    async def _elected(self, token: int) -> None:
        """This replica leads: poll, and tick the timers, until deposed."""
        if self._stop.is_set():
            return
        async with self._work:
            self.leading = token
            event(log, "leader.elected", replica=self.replica_id, token=token)
            try:
                await self._take_over(self.parts)
            except StaleLeaseError as exc:  # the tenure ended before it began
                self._lost_lead(exc)
                return
        self._tenure_stop = stop = asyncio.Event()
        self._timers_task = asyncio.create_task(self._timers(stop), name="timers")

    async def _deposed(self) -> None:
        """Stop polling at once and the timers after their current tick (idempotent)."""
        token, self.leading = self.leading, None
        if self._tenure_stop is not None:
            self._tenure_stop.set()
        if self.parts is not None:
            await self.parts.poller.stop()
        task, self._timers_task = self._timers_task, None
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        if token is not None:
            event(log, "leader.deposed", replica=self.replica_id, token=token)

    def _lost_lead(self, exc: StaleLeaseError) -> None:
        """A fenced write was refused: this tenure is over, whatever the elector believes yet."""
        event(log, "leader.stale", logging.WARNING, replica=self.replica_id,
              token=self.leading, reason=str(exc))
        if self.lease is not None:
            # The elector learns at its next round and tells us (deposed, maybe elected anew).
            self.lease.step_down()
        self._spawn(self._deposed())

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
            if self.leading is None:  # deposed during the swap: the new poller must not run
                await self.parts.poller.stop()
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
                if self.leading is None:  # deposed while this step waited for the lock
                    return
                parts = self.parts
                try:
                    actions = await asyncio.to_thread(parts.incidents.handle, change,
                                                      network_problem=network)
                    await self._act(parts, actions)
                except StaleLeaseError as exc:
                    self._lost_lead(exc)
                    return

    async def _act(self, parts: Parts, actions: list[Any]) -> None:
        for action in actions:
            event(log, "incident." + _action_name(action), incident=action.incident_id,
                  platform=action.platform, playbooks=list(getattr(action, "playbooks", ())))
            runs = await asyncio.to_thread(parts.runner.handle, action)
            if runs:
                event(log, "runner.advanced", incident=action.incident_id, runs=runs)

    async def _timers(self, stop: asyncio.Event) -> None:
        """Tick until this tenure ends (never cancelled mid-tick: store work completes)."""
        while not stop.is_set():
            try:
                await self._tick_once(stop)
            except StaleLeaseError as exc:  # never retried: the tenure is over
                self._lost_lead(exc)
                return
            except Exception:  # noqa: BLE001 - one bad tick must not end the timers
                log.exception("timer tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.tick)

    async def _tick_once(self, stop: asyncio.Event) -> None:
        async with self._work:
            if stop.is_set():
                return
            parts, now = self.parts, self.clock.now()
            network = parts.poller.state.local_network_problem
            actions = await asyncio.to_thread(parts.incidents.tick, now,
                                              network_problem=network)
            await self._act(parts, actions)
            await asyncio.to_thread(parts.runner.tick, now)
            await self._publish_due(parts, now)

    async def _publish_due(self, parts: Parts, now: Any) -> None:
        from orchestrator.publisher import publish_due

        published = await asyncio.to_thread(publish_due, self.timers_engine, parts.setup.config,
                                            now=now)
        if published:
            event(log, "calendar.published", posts=published)

    # -- HTTP ----------------------------------------------------------------------

    async def _start_http(self, setup: Setup) -> None:
        from orchestrator.web.app import create_app, make_server
        from orchestrator.web.state import WebState

        # Polls and sends are counted by the hooks build_parts wires; the store gauges
        # (platform states, incidents, outbox, queue depth) are read at scrape time.
        self.web = WebState(self.engine, setup.config, clock=self.clock, metrics=self.metrics)
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
        self.web.runner = parts.web_runner
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
    service = Service(config_path, **kwargs)
    tune_for_fan_out()
    return asyncio.run(service.run())


