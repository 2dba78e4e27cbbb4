"""LeaderElector with real time and short TTLs: one leader, hand-over on stop, step-down when the
database goes silent."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy.engine import make_url

from orchestrator.election import LeaderElector
from orchestrator.lease import LeaderLease
from orchestrator.store.engine import make_engine
from tests.replicas.proxy import FreezableProxy

TTL = timedelta(seconds=0.9)


class Watcher:
    """Records what an elector told the daemon, with monotonic times."""

    def __init__(self) -> None:
        self.log: list[tuple[str, int | None, float]] = []

    def elected(self, token: int) -> None:
        self.log.append(("elected", token, time.monotonic()))

    async def deposed(self) -> None:
        self.log.append(("deposed", None, time.monotonic()))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.log]


async def until(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def start(engine, holder: str):
    lease = LeaderLease(engine, holder=holder, ttl=TTL)
    elector, watcher, stop = LeaderElector(lease), Watcher(), asyncio.Event()
    task = asyncio.create_task(elector.run(watcher.elected, watcher.deposed, stop))
    return elector, watcher, stop, task


@pytest.mark.postgres
async def test_one_leader_and_hand_over_on_a_clean_stop(pg_engine):
    a = start(pg_engine, "a")
    await until(lambda: a[1].kinds() == ["elected"], 5)
    b = start(pg_engine, "b")
    await asyncio.sleep(TTL.total_seconds() * 2)  # several renewals: a keeps it, b waits
    assert a[1].kinds() == ["elected"] and b[1].kinds() == []
    a[2].set()
    await a[3]
    assert a[1].kinds() == ["elected", "deposed"]
    stopped = time.monotonic()
    await until(lambda: b[1].kinds() == ["elected"], 5)
    # Released, not expired: b takes over at its next attempt, well before a TTL.
    assert b[1].log[0][2] - stopped < TTL.total_seconds()
    assert b[1].log[0][1] == a[1].log[0][1] + 1
    b[2].set()
    await b[3]


async def test_sqlite_single_replica_leads_at_once(tmp_path):
    from orchestrator.store.migrate import upgrade

    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    upgrade(engine)
    try:
        elector, watcher, stop, task = start(engine, "only")
        await until(lambda: watcher.kinds() == ["elected"], 5)
        assert elector.lease.is_leader()
        stop.set()
        await task
        assert watcher.kinds() == ["elected", "deposed"]
    finally:
        engine.dispose()


@pytest.mark.postgres
async def test_leader_steps_down_by_itself_when_the_database_goes_silent(postgres_url_factory):
    from orchestrator.store.migrate import upgrade

    url = make_url(postgres_url_factory())
    direct = make_engine(url)
    upgrade(direct)
    proxy = FreezableProxy((url.host, url.port))
    behind = make_engine(url.set(port=proxy.port))
    try:
        a = start(behind, "a")
        await until(lambda: a[1].kinds() == ["elected"], 5)
        b = start(direct, "b")
        proxy.freeze()  # renewals now hang: no error, no answer
        frozen = time.monotonic()
        await until(lambda: a[1].kinds() == ["elected", "deposed"], 5)
        stepped = a[1].log[1][2] - frozen
        # It stops believing it leads before the database's TTL runs out, on its own clock.
        assert stepped <= (TTL - a[0].lease.margin).total_seconds() + 0.1
        assert not a[0].lease.is_leader()
        await until(lambda: b[1].kinds() == ["elected"], 5)
        assert b[1].log[0][2] > a[1].log[1][2]  # never two leaders at once
        assert b[1].log[0][1] == a[1].log[0][1] + 1
        for _, _, stop, _ in (a, b):
            stop.set()
        await asyncio.gather(a[3], b[3])
    finally:
        proxy.close()
        behind.dispose()
        direct.dispose()
