"""The replica registry (one heartbeating row per running process) and the cluster status query.

Heartbeats are informational: leadership is decided by the lease alone, and outbox rows
of a dead replica are reclaimed through their own leases. The registry answers "who is
running, since when, and is it alive" for `orchestrator status --cluster`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select, update

from orchestrator.clock import Clock
from orchestrator.lease import LeaseRecord, new_holder_id, now_expr, read_lease, shift
from orchestrator.store.engine import SQLITE_IMMEDIATE
from orchestrator.store.schema import leases, outbox, outbox_state, replicas
from orchestrator.store.sql import dialect_insert

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=5)
# A replica silent for this many heartbeats is shown as stale; much later it is forgotten.
STALE_AFTER_BEATS = 3
FORGET_AFTER = timedelta(days=1)


class ReplicaRegistry:
    """This process's row in `replicas`: registered at start, beating, removed at a clean stop."""

    def __init__(self, engine: Engine, replica_id: str | None = None, *,
                 clock: Clock | None = None, hostname: str | None = None,
                 pid: int | None = None) -> None:
        self.engine = engine
        self.id = replica_id or new_holder_id()
        self.hostname = hostname or socket.gethostname()
        self.pid = pid if pid is not None else os.getpid()
        self.clock = clock

    def _begin(self):
        conn = self.engine.connect()
        return conn.execution_options(**{SQLITE_IMMEDIATE: True})

    def register(self) -> None:
        """Insert (or refresh) this replica's row and forget replicas long gone."""
        with self._begin() as conn, conn.begin():
            now = now_expr(conn, self.clock)
            values = {"id": self.id, "hostname": self.hostname, "pid": self.pid,
                      "started_at": now, "heartbeat_at": now}
            conn.execute(dialect_insert(conn, replicas).values(**values).on_conflict_do_update(
                index_elements=["id"], set_={"heartbeat_at": now, "pid": self.pid,
                                             "hostname": self.hostname}))
            conn.execute(delete(replicas).where(replicas.c.heartbeat_at
                                                < shift(conn, now, -FORGET_AFTER)))

    def heartbeat(self) -> None:
        """Refresh this replica's row (re-inserting it if an operator removed it)."""
        with self._begin() as conn, conn.begin():
            now = now_expr(conn, self.clock)
            done = conn.execute(update(replicas).where(replicas.c.id == self.id)
                                .values(heartbeat_at=now)).rowcount
        if not done:
            self.register()

    def deregister(self) -> None:
        with self._begin() as conn, conn.begin():
            conn.execute(delete(replicas).where(replicas.c.id == self.id))

    async def run(self, stop_event: asyncio.Event, interval: timedelta = HEARTBEAT) -> None:
        """Register, beat every `interval` until `stop_event`, then deregister."""
        await asyncio.to_thread(self.register)
        try:
            while not stop_event.is_set():
                try:
                    await asyncio.wait_for(stop_event.wait(), interval.total_seconds())
                except TimeoutError:
                    pass
                if stop_event.is_set():
                    break
                try:
                    await asyncio.to_thread(self.heartbeat)
                except Exception as exc:  # the store is away: the next beat tries again
                    log.warning("replica %s: heartbeat failed: %s", self.id, exc)
        finally:
            try:
                await asyncio.to_thread(self.deregister)
            except Exception as exc:
                log.warning("replica %s: could not deregister: %s", self.id, exc)


@dataclass(frozen=True)
class ReplicaInfo:
    id: str
    hostname: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    heartbeat_age: float      # seconds since the last heartbeat
    alive: bool               # heard from within STALE_AFTER_BEATS heartbeats
    leader: bool              # holds a live lease


@dataclass(frozen=True)
class LeaderInfo:
    lease: str
    holder: str | None
    token: int
    acquired_at: datetime | None
    lease_age: float | None   # seconds since this tenure began
    renewed_age: float | None
    expires_in: float | None  # negative: expired
    live: bool


@dataclass(frozen=True)
class ClusterStatus:
    now: datetime
    replicas: list[ReplicaInfo]
    leaders: list[LeaderInfo]
    queue: dict[str, int]     # outbox rows by state (pending, in_flight, ... ) plus `due`

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return None if earlier is None else round((later - earlier).total_seconds(), 3)


def _leader(record: LeaseRecord) -> LeaderInfo:
    return LeaderInfo(record.name, record.holder, record.token, record.acquired_at,
                      _seconds(record.now, record.acquired_at),
                      _seconds(record.now, record.renewed_at),
                      _seconds(record.expires_at, record.now) if record.expires_at else None,
                      record.live)


def queue_depth(conn, now: Any) -> dict[str, int]:
    """Outbox rows per state, and how many are claimable now (`due`)."""
    counts = {state: 0 for state in ("pending", "in_flight", "unknown", "failed")}
    counts.update(dict(conn.execute(select(outbox.c.state, func.count())
                                    .group_by(outbox.c.state)).all()))
    due = conn.execute(select(func.count()).where(or_(
        and_(outbox_state("pending"),
             or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= now)),
        and_(outbox_state("in_flight"), outbox.c.lease_expires_at < now)))).scalar()
    counts["due"] = int(due or 0)
    return counts


def cluster_status(engine: Engine, *, clock: Clock | None = None,
                   heartbeat: timedelta = HEARTBEAT) -> ClusterStatus:
    """Replicas, leaders and queue depth, all aged against one "now" (the database's)."""
    with engine.connect() as conn:
        now_sql = now_expr(conn, clock)
        now = conn.execute(select(now_sql)).scalar()
        names = conn.execute(select(leases.c.name).order_by(leases.c.name)).scalars().all()
        leaders = [_leader(r) for r in (read_lease(conn, n, clock) for n in names) if r]
        live = {info.holder for info in leaders if info.live}
        stale = heartbeat.total_seconds() * STALE_AFTER_BEATS
        rows = conn.execute(select(replicas).order_by(replicas.c.started_at)).all()
        infos = [ReplicaInfo(r.id, r.hostname, r.pid, r.started_at, r.heartbeat_at,
                             age := _seconds(now, r.heartbeat_at), age <= stale, r.id in live)
                 for r in rows]
        queue = queue_depth(conn, now_sql)
    return ClusterStatus(now, infos, leaders, queue)
