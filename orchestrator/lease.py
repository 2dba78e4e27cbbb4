"""A leader lease in the store with a fencing token, and fenced transactions for its writes.

    try_acquire ──► token (held) ──renew every TTL/3──► token
         ▲               │ cannot renew before TTL − margin (own monotonic clock)
         └── None ◄──────┘ steps down by itself, even with the database unreachable

The token grows by one whenever the lease starts a new tenure (a change of holder, or the
same holder coming back after its lease expired), so one token value always means one
continuous tenure. A leader's timer writes run in `fenced_transaction`, whose first
statement share-locks the lease row and compares the token: a takeover (an UPDATE of that
row) waits for the fenced transaction to end, and a transaction that starts after the
takeover sees the new token and raises StaleLeaseError. A stalled leader cannot hold the
row lock for long: its fenced transactions have an idle-in-transaction timeout.

Times: with no clock given, lease times come from the database server (PostgreSQL's
`statement_timestamp()`), so replicas on hosts with skewed clocks agree on expiry; a
FakeClock makes them deterministic in tests. SQLite is the single-process case: one
replica, and the lease trivially succeeds. The loop that acquires and renews on schedule
is `orchestrator.election.LeaderElector`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    Interval,
    and_,
    case,
    event,
    func,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError

from orchestrator.clock import Clock, SystemClock
from orchestrator.errors import StaleLeaseError
from orchestrator.store.engine import SQLITE_IMMEDIATE, make_engine
from orchestrator.store.schema import leases
from orchestrator.store.sql import dialect_insert
from orchestrator.store.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)

DEFAULT_TTL = timedelta(seconds=15)


def new_holder_id() -> str:
    """A replica id unique to this process: host, pid and a random suffix."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def now_expr(conn: Connection, clock: Clock | None) -> Any:
    """"Now" for a statement: the clock's time, else the database server's on PostgreSQL."""
    if clock is None and conn.dialect.name == "postgresql":
        # statement_timestamp(): constant within one statement, fresh for the next one.
        return func.statement_timestamp(type_=UTCDateTime)
    return literal((clock.now() if clock else utcnow()), UTCDateTime)


def shift(conn: Connection, now: Any, delta: timedelta) -> Any:
    """`now` (from now_expr) moved by `delta`, as an expression of the same kind."""
    if conn.dialect.name == "postgresql":
        return now + literal(delta, Interval())
    return literal(now.value + delta, UTCDateTime)  # a Python time: add in Python


@dataclass(frozen=True)
class LeaseRecord:
    """The lease row as read, with its age measured on the same clock."""

    name: str
    holder: str | None
    token: int
    acquired_at: datetime | None
    renewed_at: datetime | None
    expires_at: datetime | None
    now: datetime

    @property
    def live(self) -> bool:
        return (self.holder is not None and self.expires_at is not None
                and self.expires_at >= self.now)


def read_lease(conn: Connection, name: str, clock: Clock | None = None) -> LeaseRecord | None:
    """The lease called `name` (None when it was never taken)."""
    now = now_expr(conn, clock)
    row = conn.execute(select(leases, now.label("now")).where(leases.c.name == name)).first()
    if row is None:
        return None
    return LeaseRecord(row.name, row.holder, row.token, row.acquired_at, row.renewed_at,
                       row.expires_at, row.now)


class LeaderLease:
    """One replica's view of the lease `name`: acquire, renew, release, and whether it leads.

    Whether it leads is decided locally: from the monotonic instant before the last
    successful acquire or renew was sent, plus TTL minus `margin`. The database's expiry
    is TTL after the statement ran, so the local belief always ends first.
    """

    def __init__(self, engine: Engine, name: str = "timers", holder: str | None = None,
                 ttl: timedelta = DEFAULT_TTL, clock: Clock | None = None,
                 margin: timedelta | None = None) -> None:
        if ttl <= timedelta(0):
            raise ValueError("a lease needs a positive TTL")
        self.engine, self.name = engine, name
        self.holder = holder or new_holder_id()
        self.ttl = ttl
        self.margin = margin if margin is not None else ttl / 5
        if not timedelta(0) <= self.margin < ttl:
            raise ValueError("the margin must be at least 0 and less than the TTL")
        self.clock = clock  # None: database time on PostgreSQL (see the module docstring)
        self._mono = clock or SystemClock()
        self._token: int | None = None
        self._deadline = float("-inf")
        # The elector's thread writes (token, deadline); timers read them from others.
        self._state = threading.Lock()

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def token(self) -> int | None:
        """The fencing token while this replica believes it leads, else None."""
        with self._state:
            live = self._token is not None and self._mono.monotonic() < self._deadline
            return self._token if live else None

    def is_leader(self) -> bool:
        return self.token is not None

    def seconds_left(self) -> float:
        """Seconds until this replica steps down unless it renews (0 when not leading)."""
        with self._state:
            if self._token is None:
                return 0.0
            return max(0.0, self._deadline - self._mono.monotonic())

    @contextmanager
    def _statement(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(**{SQLITE_IMMEDIATE: True})
            with conn.begin():
                if self.postgres:
                    # Never queue behind a stalled transaction for longer than a renewal
                    # period: a lock wait becomes "not this round", not a hung elector.
                    ms = int(self.ttl.total_seconds() * 1000 / 3)
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = {ms}")
                    conn.exec_driver_sql(f"SET LOCAL statement_timeout = {ms}")
                yield conn

    def try_acquire(self) -> int | None:
        """Take (or keep) the lease; the fencing token when held, None when another holds it."""
        started = self._mono.monotonic()
        try:
            with self._statement() as conn:
                current = read_lease(conn, self.name, self.clock)
                if current is not None and current.live and current.holder != self.holder:
                    return self._lost()
                token = conn.execute(self._upsert(conn)).scalar()
        except DBAPIError as exc:
            if _lock_timeout(exc):
                log.warning("lease %s: acquiring timed out: %s", self.name, exc.orig)
                return self.token
            raise
        if token is None:
            return self._lost()
        return self._held(token, started)

    def _upsert(self, conn: Connection) -> Any:
        now = now_expr(conn, self.clock)
        expires = shift(conn, now, self.ttl)
        # Same tenure only when this holder's own token is still live; anything else
        # (another holder, an expired lease, a restarted process) starts a new tenure.
        same = and_(leases.c.holder == self.holder, leases.c.token == (self._token or -1),
                    leases.c.expires_at >= now)
        insert = dialect_insert(conn, leases).values(
            name=self.name, holder=self.holder, token=1, acquired_at=now, renewed_at=now,
            expires_at=expires)
        return insert.on_conflict_do_update(
            index_elements=["name"],
            set_={"holder": self.holder,
                  "token": case((same, leases.c.token), else_=leases.c.token + 1),
                  "acquired_at": case((same, leases.c.acquired_at), else_=now),
                  "renewed_at": now, "expires_at": expires},
            where=or_(leases.c.holder == self.holder, leases.c.holder.is_(None),
                      leases.c.expires_at.is_(None), leases.c.expires_at < now),
        ).returning(leases.c.token)

    def renew(self) -> bool:
        """Extend the current tenure; False (and no longer leader) when it is over.

        Database errors propagate: the caller keeps leading until the local deadline.
        """
        if self._token is None:
            return False
        started = self._mono.monotonic()
        try:
            with self._statement() as conn:
                now = now_expr(conn, self.clock)
                token = conn.execute(
                    update(leases)
                    .where(leases.c.name == self.name, leases.c.holder == self.holder,
                           leases.c.token == self._token, leases.c.expires_at >= now)
                    .values(renewed_at=now, expires_at=shift(conn, now, self.ttl))
                    .returning(leases.c.token)).scalar()
        except DBAPIError as exc:
            if _lock_timeout(exc):
                log.warning("lease %s: renewal timed out: %s", self.name, exc.orig)
                return self.is_leader()
            raise
        if token is None:
            self._lost()
            return False
        self._held(token, started)
        return True

    def release(self) -> None:
        """Give the lease up now (graceful stop), so another replica need not wait the TTL."""
        with self._state:
            token, self._token = self._token, None
            self._deadline = float("-inf")
        if token is None:
            return
        with self._statement() as conn:
            conn.execute(update(leases)
                         .where(leases.c.name == self.name, leases.c.holder == self.holder,
                                leases.c.token == token)
                         .values(holder=None, expires_at=now_expr(conn, self.clock)))

    def step_down(self) -> None:
        """Stop believing this replica leads (the database row is left to expire)."""
        with self._state:
            self._token = None
            self._deadline = float("-inf")

    def _held(self, token: int, started: float) -> int:
        if token != self._token:
            log.info("lease %s: %s leads with token %d", self.name, self.holder, token)
        with self._state:
            self._token = token
            self._deadline = started + (self.ttl - self.margin).total_seconds()
        return token

    def _lost(self) -> None:
        self.step_down()
        return None


def _lock_timeout(exc: DBAPIError) -> bool:
    # 55P03 lock_not_available, 57014 query_canceled (statement_timeout).
    return getattr(exc.orig, "sqlstate", None) in ("55P03", "57014")


def fenced(conn: Connection, lease_name: str, token: int) -> None:
    """Refuse this transaction's writes unless `token` is the lease's current token.

    Run it first in the transaction that makes the writes: on PostgreSQL the lease row
    stays share-locked until commit, so no takeover can slip in between check and commit.
    """
    query = select(leases.c.token).where(leases.c.name == lease_name)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(read=True)
    current = conn.execute(query).scalar()
    if current != token:
        raise StaleLeaseError(
            f"lease {lease_name!r}: token {token} is stale (current: {current})")


@contextmanager
def fenced_transaction(engine: Engine, lease: LeaderLease,
                       token: int | None = None) -> Iterator[Connection]:
    """A write transaction that commits only under `token` (default: the lease's own).

    Refused at once (StaleLeaseError) when this replica no longer believes it leads, and
    by the database when the token was superseded.
    """
    if token is None:
        token = lease.token
    if token is None or not lease.is_leader():
        raise StaleLeaseError(f"lease {lease.name!r}: {lease.holder} is not the leader")
    with engine.connect() as conn:
        conn.execution_options(**{SQLITE_IMMEDIATE: True})
        with conn.begin():
            _hold_timeout(conn, lease)
            fenced(conn, lease.name, token)
            yield conn


def _hold_timeout(conn: Connection, lease: LeaderLease) -> None:
    if conn.dialect.name == "postgresql":
        # A leader stopped mid-transaction must not pin the lease row: the server ends its
        # session after a renewal period of idleness.
        ms = max(1, int(lease.ttl.total_seconds() * 1000 / 3))
        conn.exec_driver_sql(f"SET LOCAL idle_in_transaction_session_timeout = {ms}")


def fenced_engine(url: str | URL, lease: LeaderLease, **kwargs: Any) -> Engine:
    """A separate engine on `url` whose every transaction is fenced by `lease`.

    For code that opens its own transactions (IncidentManager, Runner, the calendar
    publisher): hand it this engine instead of the shared one, and each of its transactions
    starts by checking the leader's current token (StaleLeaseError when it is not current),
    without a change to that code. Dispatchers and the web keep the plain engine.
    """
    engine = make_engine(url, **kwargs)

    @event.listens_for(engine, "begin")
    def _fence(conn: Connection) -> None:
        token = lease.token
        if token is None:
            raise StaleLeaseError(f"lease {lease.name!r}: {lease.holder} is not the leader")
        _hold_timeout(conn, lease)
        fenced(conn, lease.name, token)

    return engine


class FencedWriter:
    """The leader's writes for its timers: `with writer.transaction() as conn: ...`."""

    def __init__(self, engine: Engine, lease: LeaderLease) -> None:
        self.engine, self.lease = engine, lease

    @property
    def token(self) -> int | None:
        return self.lease.token

    def transaction(self, token: int | None = None):
        """A fenced write transaction (see `fenced_transaction`)."""
        return fenced_transaction(self.engine, self.lease, token)

