"""The poller: APScheduler jobs against a real local server, bounded checks, spread start times."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web

from orchestrator.config import PlatformConfig
from orchestrator.detector import Detector
from orchestrator.monitors.base import MonitorConfig, Observation
from orchestrator.monitors.fetch import fetch, new_client
from orchestrator.poller import Poller, slots, spread


class UrlStateMonitor:
    """In-memory twin of a monitor: GETs a URL with the real fetch and reads the body as a state."""

    kind = "twin"

    def __init__(self, config: MonitorConfig, url: str):
        self.config, self.url = config, url

    async def check(self, client) -> Observation:
        result = await fetch(client, self.url, timeout=self.config.timeout.total_seconds(),
                             allow_private=True)
        now = datetime.now(UTC)
        if result.error or result.status != 200:
            return Observation(self.config.name, self.config.platform, now, "unknown", ok=False,
                               reason=result.error or f"HTTP {result.status}",
                               latency_ms=result.latency_ms)
        return Observation(self.config.name, self.config.platform, now,
                           result.body.decode(), latency_ms=result.latency_ms)


class StuckMonitor:
    """A broken monitor that ignores its own timeout: only the poller's bound stops it."""

    kind = "stuck"

    def __init__(self, config: MonitorConfig):
        self.config = config

    async def check(self, client) -> Observation:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


class RaisingMonitor:
    kind = "raising"

    def __init__(self, config: MonitorConfig):
        self.config = config

    async def check(self, client) -> Observation:
        raise RuntimeError("boom")


@pytest.fixture
async def status_server():
    """A local server: /state/<name> answers the state set in `states`, /hang never answers."""
    states: dict[str, str] = {}
    hits: Counter[str] = Counter()

    async def state(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        hits[name] += 1
        return web.Response(text=states.get(name, "operational"))

    async def hang(request: web.Request) -> web.Response:
        hits["hang"] += 1
        await asyncio.sleep(60)
        return web.Response(text="operational")

    app = web.Application()
    app.router.add_get("/state/{name}", state)
    app.router.add_get("/hang", hang)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", states, hits
    await runner.cleanup()


def config(name: str, platform: str, interval: float = 1.0, timeout: float = 0.5,
           **kw) -> MonitorConfig:
    return MonitorConfig(name=name, platform=platform, kind="twin",
                         interval=timedelta(seconds=interval), timeout=timedelta(seconds=timeout),
                         **kw)


def make_poller(configs, monitors, client, **kw) -> Poller:
    platforms = {c.platform: PlatformConfig(hold=timedelta(0)) for c in configs}
    kw.setdefault("detector", Detector(platforms, configs))
    return Poller(monitors, {c.name: c for c in configs}, client=client, **kw)


async def test_poll_once_checks_everything_concurrently_and_bounds_each(status_server):
    base, states, _ = status_server
    states["x"] = "major_outage"
    configs = [config("fb", "facebook", timeout=0.3), config("xs", "x"),
               config("stuck", "stuck"), config("raise", "boom"), config("slow", "slow",
                                                                          timeout=0.3)]
    async with new_client() as client:
        monitors = {"fb": UrlStateMonitor(configs[0], f"{base}/state/fb"),
                    "xs": UrlStateMonitor(configs[1], f"{base}/state/x"),
                    "stuck": StuckMonitor(configs[2]), "raise": RaisingMonitor(configs[3]),
                    "slow": UrlStateMonitor(configs[4], f"{base}/hang")}
        poller = make_poller(configs, monitors, client,
                             detector=Detector({}, configs, one_shot=True))
        loop = asyncio.get_running_loop()
        started = loop.time()
        report = await poller.poll_once()
        elapsed = loop.time() - started
    by_name = {o.monitor: o for o in report.observations}
    assert by_name["fb"].ok and by_name["fb"].state == "operational"
    assert by_name["xs"].state == "major_outage"
    assert by_name["slow"].ok is False and by_name["slow"].reason == "timed out after 0.3s"
    assert by_name["stuck"].reason == "check did not finish within 2.5s"
    assert by_name["raise"].reason == "monitor error: RuntimeError: boom"
    # Everything ran at once: the stuck check's bound, not the sum of the waits.
    assert elapsed < 3.5
    assert {p: t.state for p, t in report.state.platforms.items()} == {
        "facebook": "operational", "x": "major_outage", "stuck": "unknown", "boom": "unknown",
        "slow": "unknown"}


@pytest.mark.slow
@pytest.mark.parametrize("job_per_monitor", [pytest.param(False, id="slot-jobs"),
                                             pytest.param(True, id="job-per-monitor")])
async def test_scheduler_polls_each_monitor_and_a_hanging_page_delays_nobody(status_server,
                                                                             job_per_monitor):
    base, states, hits = status_server
    configs = [config("fb", "facebook", failure_threshold=1, success_threshold=1),
               config("ig", "instagram"),
               config("slow", "slow", timeout=0.5)]
    steps = []
    async with new_client() as client:
        monitors = {"fb": UrlStateMonitor(configs[0], f"{base}/state/fb"),
                    "ig": UrlStateMonitor(configs[1], f"{base}/state/ig"),
                    "slow": UrlStateMonitor(configs[2], f"{base}/hang")}
        poller = make_poller(configs, monitors, client, on_step=steps.append,
                             job_per_monitor=job_per_monitor)
        await poller.start()
        try:
            await asyncio.sleep(3.0)
            states["fb"] = "major_outage"
            await asyncio.sleep(2.2)
        finally:
            await poller.stop()
    assert hits["fb"] >= 3 and hits["ig"] >= 3, hits  # once a second, undisturbed by /hang
    assert 2 <= hits["hang"] <= 6                 # max_instances=1: never two at once
    changes = [(c.platform, c.new) for s in steps for c in s.changes]
    assert ("facebook", "operational") in changes and ("facebook", "major_outage") in changes
    assert poller.state.platforms["instagram"].state == "operational"


async def test_callback_failure_is_contained(status_server):
    base, _, _ = status_server
    configs = [config("fb", "facebook", failure_threshold=1, success_threshold=1)]

    async def broken(step):
        raise RuntimeError("callback bug")

    async with new_client() as client:
        poller = make_poller(configs, {"fb": UrlStateMonitor(configs[0], f"{base}/state/fb")},
                             client, on_step=broken)
        report = await poller.poll_once()
    assert report.state.platforms["facebook"].state == "operational"


async def test_pushed_observation_for_unknown_monitor_is_dropped():
    configs = [config("fb", "facebook")]
    poller = make_poller(configs, {}, client=None)
    obs = Observation("nope", "facebook", datetime.now(UTC), "major_outage")
    step = await poller.feed(obs)
    assert step.changes == () and poller.state.platforms["facebook"].state is None


def test_spread_fans_five_thousand_monitors_over_the_interval():
    per_second = Counter(int(spread(f"monitor-{i}", 30.0)) for i in range(5000))
    assert set(per_second) == set(range(30))
    assert max(per_second.values()) < 5000 / 30 * 1.3
    assert spread("fb", 30.0) == spread("fb", 30.0)


def test_slots_group_monitors_by_interval_and_second_keeping_their_offsets():
    configs = {c.name: c for c in (config(f"m{i}", "p", interval=30, timeout=5)
                                   for i in range(300))}
    configs["fast"] = config("fast", "p", interval=2, timeout=1)
    groups = slots(configs)
    assert {key[0] for key in groups} == {30.0, 2.0}
    members = [m for key, ms in groups.items() if key[0] == 30.0 for m in ms]
    assert len(members) == 300 and all(0 <= offset < 1 for _, offset in members)
    for (interval, second), ms in groups.items():
        for name, offset in ms:
            assert second + offset == pytest.approx(spread(name, interval))
