"""Compares monitor HTTP transports against one local server: httpx, httpx-aiohttp, aiohttp.

Run: .venv/bin/python bench/monitor_transport.py [REQUESTS] [CONCURRENCY]
Each transport goes through orchestrator.monitors.fetch.fetch (what a monitor pays), beside a
bare aiohttp loop as the floor. The server runs in its own process so it does not share the
client's event loop; figures are requests/s and client CPU ms per request.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SMALL = (b'{"page":{"id":"srg2rdv805lz","name":"Bench"},'
         b'"status":{"indicator":"none","description":"All Systems Operational"}}')
# A real summary.json (GitHub's, 2020-04-02) when the shared specs are beside the repo.
_CAPTURE = ROOT.parent / "shared/specs/statuspage/github_summary_major_outage_2020-04-02.json"
SUMMARY = _CAPTURE.read_bytes() if _CAPTURE.exists() else SMALL * 60


def _serve(port: int) -> None:
    from aiohttp import web

    async def status(_request):
        return web.Response(body=SMALL, content_type="application/json")

    async def summary(_request):
        return web.Response(body=SUMMARY, content_type="application/json")

    app = web.Application()
    app.router.add_get("/api/v2/status.json", status)
    app.router.add_get("/api/v2/summary.json", summary)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _wait_up(port: int) -> None:
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("bench server did not start")


async def _drive(call, total: int, concurrency: int) -> tuple[float, float, int]:
    queue = iter(range(total))
    failures = 0

    async def worker():
        nonlocal failures
        for _ in queue:
            if not await call():
                failures += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall0, time.process_time() - cpu0, failures


async def _run(kind: str, url: str, total: int, concurrency: int):
    import aiohttp
    import httpx

    from orchestrator.monitors.fetch import fetch, new_client

    if kind == "bare aiohttp":
        async with aiohttp.ClientSession() as session:
            async def call():
                async with session.get(url) as resp:
                    await resp.read()
                    return resp.status == 200
            return await _drive(call, total, concurrency)
    if kind == "fetch + aiohttp":
        client = new_client()
    elif kind == "fetch + httpx":
        client = httpx.AsyncClient(limits=httpx.Limits(max_connections=256))
    else:
        from httpx_aiohttp import AiohttpTransport
        client = httpx.AsyncClient(transport=AiohttpTransport())
    async with client:
        async def call():
            result = await fetch(client, url, timeout=10, allow_private=True)
            return result.ok and result.status == 200
        return await _drive(call, total, concurrency)


def _report(kind: str, url: str, total: int, concurrency: int) -> None:
    try:
        wall, cpu, failed = asyncio.run(_run(kind, url, total, concurrency))
    except ImportError as exc:
        print(f"{kind:<24}  skipped ({exc.name} not installed)")
        return
    print(f"{kind:<24}{total / wall:>10.0f}{cpu * 1000 / total:>12.3f}{failed:>8}")


def main() -> None:
    total = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    concurrency = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    port = _free_port()
    server = multiprocessing.Process(target=_serve, args=(port,), daemon=True)
    server.start()
    kinds = ["bare aiohttp", "fetch + aiohttp", "fetch + httpx-aiohttp", "fetch + httpx"]
    try:
        asyncio.run(_wait_up(port))
        for name, size in (("status.json", len(SMALL)), ("summary.json", len(SUMMARY))):
            url = f"http://127.0.0.1:{port}/api/v2/{name}"
            print(f"\n{total} GETs of a {size}-byte {name}, {concurrency} at a time")
            print(f"{'transport':<24}{'req/s':>10}{'CPU ms/req':>12}{'failed':>8}")
            for kind in kinds:
                _report(kind, url, total, concurrency)
    finally:
        server.terminate()
        server.join(5)


if __name__ == "__main__":
    main()
