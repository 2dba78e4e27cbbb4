"""5,000 Statuspage monitors at 30 s through the real poller on a local server: CPU, RSS, rate.

Run: .venv/bin/python bench/monitors_load.py [--duration 120] [--monitors 5000] [--quick]

Phase 1 (load): the APScheduler-driven Poller with real StatuspageMonitors (summary.json with
a component filter, conditional GET as real pages answer it) and the detector, for
`--duration` seconds. Printed: polls, failed polls, the share of one core (process CPU time /
wall time) and peak RSS, against the targets (< 15 % of a core, < 150 MB).
Phase 2 (throughput, same run, same server): `Poller.poll_once()` over every monitor
against a bare aiohttp loop fetching the same URLs with the same concurrency, in polls/s.
The server is a separate process, so its CPU is not counted against the poller.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import multiprocessing
import resource
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CAPTURE = (Path(__file__).resolve().parent.parent / "orchestrator" / "sandbox" / "captures"
           / "github_summary_operational_2019-12-30.json")
CONCURRENCY = 256  # fetch.new_client()'s connection limit: the bare loop gets the same
TARGET_CPU, TARGET_RSS_MB = 0.15, 150


def _serve(port_queue: multiprocessing.Queue) -> None:
    """A Statuspage-like server: one summary.json per page path, with ETag and 304."""
    from aiohttp import web

    body = CAPTURE.read_bytes()
    etag = '"' + hashlib.sha1(body).hexdigest() + '"'

    async def summary(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    async def main() -> None:
        app = web.Application()
        app.router.add_get("/{page}/api/v2/summary.json", summary)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock, backlog=4096)
        await site.start()
        port_queue.put(sock.getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


def build_config(base: str, monitors: int, interval: float):
    """A Config with `monitors` statuspage monitors over monitors/5 platforms."""
    from orchestrator.config import Config, PlatformConfig

    platforms = {f"p{i // 5}": PlatformConfig() for i in range(monitors)}
    monitor_list = [{"name": f"m{i}", "platform": f"p{i // 5}", "kind": "statuspage",
                     "url": f"{base}/page{i}/api/v2/summary.json", "components": ["API Requests"],
                     "interval": timedelta(seconds=interval)} for i in range(monitors)]
    return Config(platforms=platforms, monitors=monitor_list)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def load_phase(config, duration: float, job_per_monitor: bool = False) -> dict:
    from orchestrator.poller import Poller

    poller = Poller.from_config(config, job_per_monitor=job_per_monitor)
    failures: list[str] = []

    def on_step(step) -> None:  # platform changes are expected once at start: all operational
        failures.extend(c.new for c in step.changes if c.new != "operational")

    poller.on_step = on_step
    await poller.start()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    await asyncio.sleep(duration)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    polls = poller.polls
    failed = sum(1 for t in poller.state.monitors.values()
                 if t.last is not None and not t.last.ok)
    known = sum(1 for t in poller.state.platforms.values() if t.state == "operational")
    await poller.stop()
    result = {"polls": polls, "skipped": poller.skipped, "wall": wall, "cpu": cpu,
              "failed_last": failed,
              "operational_platforms": known, "non_operational_changes": len(failures),
              "rss": peak_rss_mb()}
    await poller.aclose()
    return result


async def throughput_phase(config, rounds: int) -> tuple[float, float]:
    """(poller polls/s, bare aiohttp requests/s) over the same URLs and concurrency."""
    import aiohttp

    from orchestrator.poller import Poller

    poller = Poller.from_config(config)
    await poller.poll_once()  # warm the connection pool
    started = time.perf_counter()
    for _ in range(rounds):
        await poller.poll_once()
    ours = rounds * len(config.monitors) / (time.perf_counter() - started)
    await poller.aclose()

    urls = [m.url for m in config.monitors]
    etags: dict[str, str] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY)) as s:
        async def get(url: str) -> None:
            # The same exchange the monitors make: a conditional GET once the ETag is known.
            headers = {"If-None-Match": etags[url]} if url in etags else {}
            async with s.get(url, headers=headers) as resp:
                await resp.read()
                etags[url] = resp.headers.get("ETag", "")

        await asyncio.gather(*(get(u) for u in urls))
        started = time.perf_counter()
        for _ in range(rounds):
            await asyncio.gather(*(get(u) for u in urls))
        bare = rounds * len(urls) / (time.perf_counter() - started)
    return ours, bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="load phase, seconds")
    parser.add_argument("--monitors", type=int, default=5000)
    parser.add_argument("--interval", type=float, default=30.0, help="poll interval, seconds")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds")
    parser.add_argument("--quick", action="store_true", help="smoke run: 10 s, 1 round")
    parser.add_argument("--job-per-monitor", action="store_true",
                        help="one APScheduler job per monitor instead of one per second")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 10.0, 1

    ctx = multiprocessing.get_context("spawn")
    ports = ctx.Queue()
    server = ctx.Process(target=_serve, args=(ports,), daemon=True)
    server.start()
    try:
        base = f"http://127.0.0.1:{ports.get(timeout=30)}"
        config = build_config(base, args.monitors, args.interval)
        mode = "one job per monitor" if args.job_per_monitor else "one job per second-slot"
        print(f"{args.monitors} monitors every {args.interval:g}s over "
              f"{len(config.platforms)} platforms, {args.duration:g}s against {base} ({mode})")
        load = asyncio.run(load_phase(config, args.duration, args.job_per_monitor))
        report_load(load, args)
        ours, bare = asyncio.run(throughput_phase(config, args.rounds))
        print(f"throughput: poller {ours:,.0f} polls/s | bare aiohttp loop {bare:,.0f} req/s "
              f"| ratio {ours / bare:.2f} (concurrency {CONCURRENCY}, same server)")
    finally:
        server.terminate()
        server.join(5)


def report_load(load: dict, args) -> None:
    share = load["cpu"] / load["wall"]
    expected = args.monitors * load["wall"] / args.interval
    print(f"polls: {load['polls']:,} in {load['wall']:.1f}s ({load['polls'] / load['wall']:.0f}/s;"
          f" schedule implies about {expected:,.0f}); skipped (still running): {load['skipped']}; "
          f"failed at last poll: {load['failed_last']}; "
          f"operational platforms: {load['operational_platforms']}; "
          f"non-operational changes: {load['non_operational_changes']}")
    print(f"cpu: {share:.1%} of one core (target < {TARGET_CPU:.0%})  "
          f"{'OK' if share < TARGET_CPU else 'OVER'}")
    print(f"peak RSS: {load['rss']:.0f} MB (target < {TARGET_RSS_MB} MB)  "
          f"{'OK' if load['rss'] < TARGET_RSS_MB else 'OVER'}")


if __name__ == "__main__":
    main()
