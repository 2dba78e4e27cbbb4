"""How fast 1, 2 and 3 dispatcher processes drain one PostgreSQL outbox; prints a table.

    .venv/bin/python bench/outbox_replicas.py [--rows 100000] [--channel local|sandbox|both]

`local`: a channel that accepts every message in-process (no HTTP), so the figure is the
outbox itself: claims with FOR UPDATE SKIP LOCKED, lease renewals, batched settlements.
`sandbox`: the real twilio SDK against the Twilio sandbox (one uvicorn process of its own),
which on a small machine is the bottleneck; both are printed when asked for.
`unsettled`: rows still in flight when every dispatcher had gone idle and exited (their
verdicts were lost, e.g. to a deadlock; a later dispatcher reclaims them after the lease).
Each run gets a fresh schema in the `test` database at 127.0.0.1:5432; workers start, import
and connect first, then all begin at one signal and the clock runs until every row is sent.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import ClassVar
from urllib.parse import quote

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

BASE_URL = os.environ.get("ORCHESTRATOR_TEST_POSTGRES",
                          "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class LocalChannel:
    """Accepts every message at once: what the outbox costs when the provider costs nothing."""

    name: ClassVar[str] = "local"

    def __init__(self) -> None:
        from channels.base import Capabilities

        self.capabilities = Capabilities(direct=True, address="phone")
        self.config = None
        self.count = 0

    async def send(self, message):
        from channels.base import Delivery

        self.count += 1
        return Delivery(provider_id=f"L{self.count}")

    async def send_batch(self, messages):
        return [await self.send(m) for m in messages]

    async def aclose(self) -> None:
        pass


# -- worker process -------------------------------------------------------------------


async def work(url: str, channel: str, twilio_url: str | None, ready: Path, go: Path) -> None:
    from orchestrator.delivery import LanePolicy
    from orchestrator.dispatcher import Dispatcher
    from orchestrator.store.engine import make_engine

    engine = make_engine(url, pool_size=10)
    if channel == "local":
        channels = {"sms": LocalChannel()}
    else:
        from tests.outbox.sandboxed import twilio
        channels = {"sms": twilio(twilio_url)}
    dispatcher = Dispatcher(engine, channels, policies={
        "sms": LanePolicy(rate=None, concurrency=32)}, lease=30, poll_interval=0.05)
    with engine.connect():
        pass  # connect before the start signal
    ready.touch()
    while not go.exists():
        await asyncio.sleep(0.005)
    await dispatcher.run_until_idle(horizon=1)
    await dispatcher.aclose()
    engine.dispose()


# -- coordinator ----------------------------------------------------------------------


def fresh_schema() -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    schema = f"bench_{secrets.token_hex(5)}"
    admin = make_url(BASE_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return schema, f"{BASE_URL}?options={quote(f'-csearch_path={schema}')}"


def drop_schema(schema: str) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(BASE_URL).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def enqueue(url: str, rows: int) -> None:
    from orchestrator.outbox import Outbox, OutboxRow
    from orchestrator.store.engine import make_engine
    from orchestrator.store.migrate import upgrade
    from tests.outbox.sandboxed import phone

    engine = make_engine(url)
    upgrade(engine)
    Outbox(engine).enqueue(OutboxRow("sms", phone(i), f"Facebook is down ({i})", f"b:{i}",
                                     urgent=True) for i in range(rows))
    engine.dispose()


def sent(url: str) -> int:
    from sqlalchemy import func, select

    from orchestrator.store.engine import make_engine
    from orchestrator.store.schema import outbox

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).where(outbox.c.state == "sent")).scalar()
    finally:
        engine.dispose()


def run(rows: int, workers: int, channel: str, twilio_url: str | None,
        tmp: Path) -> tuple[float, int]:
    """Seconds for `workers` dispatcher processes to send `rows` rows, and how many they sent."""
    schema, url = fresh_schema()
    try:
        enqueue(url, rows)
        go = tmp / f"go-{schema}"
        procs, ready = [], []
        for i in range(workers):
            flag = tmp / f"ready-{schema}-{i}"
            ready.append(flag)
            args = [sys.executable, __file__, "--worker", url, "--channel", channel,
                    "--ready", str(flag), "--go", str(go)]
            if twilio_url:
                args += ["--twilio", twilio_url]
            procs.append(subprocess.Popen(args, cwd=ROOT))
        while not all(f.exists() for f in ready):
            time.sleep(0.01)
        started = time.perf_counter()
        go.touch()
        # Until every row is sent, or every dispatcher has gone idle and exited (rows it
        # could not settle are then left in flight: counted, not waited for).
        while (done := sent(url)) < rows and any(p.poll() is None for p in procs):
            time.sleep(0.05)
        took = time.perf_counter() - started
        for p in procs:
            p.wait(timeout=60)
        if any(p.returncode for p in procs):
            raise SystemExit("a worker failed")
        return took, done
    finally:
        drop_schema(schema)


def start_sandbox() -> tuple[subprocess.Popen, str]:
    """The sandbox in a process of its own, so it does not share a GIL with anything."""
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "sandbox", "--port", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    for line in proc.stdout:
        if "twilio" in line and "http://" in line:
            url = line[line.index("http://"):].split()[0]
            return proc, url.rstrip("/")
    raise SystemExit("the sandbox did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--channel", choices=["local", "sandbox", "both"], default="both")
    parser.add_argument("--sandbox-rows", type=int, default=20_000,
                        help="rows for the sandbox runs (it is the slow part)")
    parser.add_argument("--worker", metavar="URL")
    parser.add_argument("--ready", type=Path)
    parser.add_argument("--go", type=Path)
    parser.add_argument("--twilio")
    args = parser.parse_args()
    if args.worker:
        asyncio.run(work(args.worker, "local" if args.channel == "local" else "sandbox",
                         args.twilio, args.ready, args.go))
        return
    import tempfile

    kinds = ["local", "sandbox"] if args.channel == "both" else [args.channel]
    print(f"outbox drain on PostgreSQL, {os.cpu_count()} CPUs "
          "(dispatchers: concurrency 32, unthrottled)")
    print(f"{'channel':<8} {'rows':>8} {'dispatchers':>11} {'seconds':>8} "
          f"{'sent/s':>8} {'vs 1':>6} {'unsettled':>9}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            sandbox, twilio_url = start_sandbox() if kind == "sandbox" else (None, None)
            rows = args.rows if kind == "local" else args.sandbox_rows
            try:
                base = None
                for workers in (1, 2, 3):
                    took, done = run(rows, workers, kind, twilio_url, Path(tmp))
                    rate = done / took
                    base = base or rate
                    print(f"{kind:<8} {rows:>8} {workers:>11} {took:>8.2f} {rate:>8.0f} "
                          f"{rate / base:>5.2f}x {rows - done:>9}", flush=True)
            finally:
                if sandbox is not None:
                    sandbox.terminate()
                    sandbox.wait(timeout=10)


if __name__ == "__main__":
    main()
