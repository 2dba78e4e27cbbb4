"""The delivery ledger: rows written before any send, claimed under leases, settled in batches.

    pending ──claim──► in_flight ──► sent | failed | unknown | suppressed
       ▲                  │ transient error, lease released on stop
       └──────────────────┘
    in_flight whose lease expired ──claim──► reconciled (never blindly resent)

Every statement works on SQLite and PostgreSQL. Claims take a batch per query (with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, under SQLite's write lock otherwise) and
settlements are one executemany per batch, so the database is not what limits a fan-out.
Lease times are the database server's on PostgreSQL (replicas' clocks may disagree) unless
a caller passes `now`, as tests with a fake clock do.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    func,
    literal,
    select,
    update,
)

from orchestrator.bulk import CHUNK, driver_rows, insert_ignore_many, matching, settle_many
from orchestrator.claims import Claimed, claim_statements, claimed
from orchestrator.lease import now_expr, shift
from orchestrator.store.engine import SQLITE_IMMEDIATE
from orchestrator.store.schema import audit_log, outbox, outbox_state, suppressions
from orchestrator.store.sql import dialect_insert
from orchestrator.store.types import UTCDateTime, utcnow

log = logging.getLogger(__name__)
# One writer lock per SQLite database in this process, shared by every Outbox on it.
_WRITERS: dict[str, threading.Lock] = {}
RETRYABLE = ("failed", "unknown")
# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# whole, so running it again writes nothing twice.
_RETRY_SQLSTATES = frozenset({"40P01", "40001"})
SETTLE_ATTEMPTS = 5
# Rows per enqueue transaction: about 50 ms of SQLite's write lock (see Outbox.enqueue).
ENQUEUE_COMMIT = 5000


def idempotency_key(run: object, step: object, channel: str, recipient: str | None) -> str:
    """The deterministic key of one message: (run, step, channel, recipient)."""
    return f"{run}:{step}:{channel}:{recipient or '-'}"


@dataclass(frozen=True)
class OutboxRow:
    """One message to enqueue."""

    channel: str
    recipient: str | None
    body: str
    idempotency_key: str
    subject: str | None = None
    payload: dict[str, Any] | None = None   # html, metadata: what Message carries besides body
    urgent: bool = False
    fallback: tuple[str, ...] = ()
    run_id: int | None = None
    step_key: str | None = None
    contact_id: int | None = None
    audience: str | None = None
    max_attempts: int = 5
    next_attempt_at: datetime | None = None


@dataclass(slots=True)
class Settlement:
    """The new state of one claimed row; applied only while the claim's lease token holds."""

    claim: Claimed
    state: str
    provider_id: str | None = None
    error: str | None = None
    next_attempt_at: datetime | None = None
    count_attempt: bool = True
    lease_expires_at: datetime | None = None   # in_flight kept for later reconciliation
    sent_at: datetime | None = None


@dataclass
class SettleExtras:
    """Writes that must commit with a batch of settlements (failover rows, suppressions)."""

    enqueue: list[OutboxRow] = field(default_factory=list)
    suppress: list[tuple[str, str, str]] = field(default_factory=list)  # kind, address, reason


def _row_values(row: OutboxRow, now: datetime, suppressed: str | None) -> tuple[Any, ...]:
    """The row as `insert_ignore_many` takes it: a value per bulk.NAMES entry, in order.
    `suppressed` is why its recipient must not be sent anything, if so."""
    state, error = ("pending", None) if suppressed is None else (
        "suppressed", f"suppressed: {suppressed}")
    return (row.idempotency_key, row.run_id, row.step_key, row.channel, row.recipient,
            row.contact_id, row.audience, row.subject, row.body, row.payload, row.urgent,
            row.max_attempts, row.next_attempt_at, tuple(row.fallback) or None, state,
            error, 0, now, now)


class Outbox:
    """The outbox table of one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        self._sqlite_writer = nullcontext() if self.postgres else _WRITERS.setdefault(
            str(engine.url), threading.Lock())

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A connection for one write transaction. On SQLite, writers of this process take
        turns on a lock first: SQLite's own busy handler sleeps in growing steps, which
        turns a few milliseconds of contention into a hundred."""
        with self._sqlite_writer, self.engine.connect() as conn:
            # SQLite: take the write lock before reading, so a claim's SELECT and UPDATE
            # are one.
            yield conn.execution_options(**{SQLITE_IMMEDIATE: True})

    # -- enqueue -------------------------------------------------------------------

    def enqueue(self, rows: Iterable[OutboxRow], *, now: datetime | None = None) -> int:
        """Insert rows whose key is new; return how many were inserted. Suppressed
        recipients are written as `suppressed`, so the ledger says why they got nothing.

        A large fan-out commits every ENQUEUE_COMMIT rows: the dispatcher starts sending
        the first ones while the rest are written, and no writer (a settle, the calendar)
        waits a whole fan-out for the write lock. A crash part way leaves the step undone;
        running it again adds the rest, since the keys of the rows already in are skipped."""
        now = now or utcnow()
        inserted = 0
        batch: list[OutboxRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= ENQUEUE_COMMIT:
                inserted += self._commit_batch(batch, now)
                batch = []
        if batch:
            inserted += self._commit_batch(batch, now)
        return inserted

    def _commit_batch(self, rows: Sequence[OutboxRow], now: datetime) -> int:
        with self._write() as conn, conn.begin():
            return self._insert(conn, rows, now)

    def _insert(self, conn, rows: Sequence[OutboxRow], now: datetime) -> int:
        """Insert `rows` in the caller's transaction, suppressed recipients as such."""
        suppressed = suppressed_addresses(conn, {r.recipient for r in rows if r.recipient})
        return insert_ignore_many(conn, outbox.name, [
            _row_values(r, now, suppressed.get(r.recipient or "")) for r in rows])

    # -- claim ---------------------------------------------------------------------

    def claim(self, owner: str, *, channels: Iterable[str] | None = None, limit: int = 100,
              lease: float = 60.0, now: datetime | None = None,
              start: bool = False) -> list[Claimed]:
        """Lease up to `limit` due rows: expired leases first (to reconcile), then pending.
        `start=True` also records the send as begun (see `mark_started`), for a caller
        that sends what it claims at once and would rather not pay a second write."""
        started_at = time.monotonic()
        token = uuid.uuid4().hex
        names = tuple(channels) if channels is not None else None
        server_time = now is None and self.postgres
        expired, by_ids, pending = claim_statements(self.postgres, names, start, server_time)
        params: dict[str, Any] = {"owner": owner, "token": token}
        if server_time:
            params["lease"] = timedelta(seconds=lease)
        else:
            params["at"] = at = now or utcnow()
            params["expires"] = at + timedelta(seconds=lease)
        with self._write() as conn, conn.begin():
            # Expired leases: their earlier state (was a send begun?) decides what happens
            # next, so read it before taking them over. Rare, so two statements are fine.
            previous = {r.id: ("in_flight", r.sent_at)
                        for r in conn.execute(expired, {**params, "limit": limit})}
            rows = []
            if previous:
                rows = driver_rows(conn, by_ids, {**params, "ids": list(previous)})
            if limit > len(rows):
                # Pending rows: one UPDATE over a sub-select, no ids through Python.
                rows += driver_rows(conn, pending, {**params, "limit": limit - len(rows)})
        rows.sort(key=itemgetter(0))  # by id: batches and lock order are deterministic
        return [claimed(r, token, previous, started_at) for r in rows]

    def renew(self, owner: str, lease: float, now: datetime | None = None) -> int:
        """Extend every unexpired lease `owner` holds by `lease` seconds from now; how many
        rows. A lease that already lapsed stays lapsed: its holder has given the row up.

        On PostgreSQL the renewal never waits for a row lock (SKIP LOCKED), so it cannot
        deadlock with this dispatcher's own settle or mark_started running on another
        connection, which lock the same rows in their own order. A row it skips is either
        being settled (it is about to leave in_flight) or marked as begun (a write of
        milliseconds; the next renewal, a third of a lease later, extends it)."""
        with self._write() as conn, conn.begin():
            at = _now(conn, now)
            mine = (select(outbox.c.id).where(outbox.c.lease_owner == owner,
                                              outbox_state("in_flight"),
                                              outbox.c.lease_expires_at >= at)
                    .order_by(outbox.c.id))
            if self.postgres:
                mine = mine.with_for_update(skip_locked=True)
            return conn.execute(
                update(outbox).where(outbox.c.id.in_(mine.scalar_subquery()))
                .values(lease_expires_at=shift(conn, at, timedelta(seconds=lease)))).rowcount

    def mark_started(self, claims: Sequence[Claimed], now: datetime | None = None) -> None:
        """Record that a send begins, so a crash after this point counts as ambiguous."""
        by_token: dict[str, list[int]] = {}
        for claim in claims:
            by_token.setdefault(claim.token, []).append(claim.id)
        with self._write() as conn, conn.begin():
            at = _now(conn, now)
            for token, ids in by_token.items():
                ids.sort()  # lock in id order, like settle
                for start in range(0, len(ids), CHUNK):
                    conn.execute(update(outbox).where(outbox.c.id.in_(ids[start:start + CHUNK]),
                                                      outbox.c.lease_token == token)
                                 .values(sent_at=at))

    # -- settle --------------------------------------------------------------------

    def settle(self, settlements: Sequence[Settlement], extras: SettleExtras | None = None,
               now: datetime | None = None) -> int:
        """Apply settlements (and their extras) in one transaction; return how many rows
        still held their lease. A row whose lease was taken over is left to its new holder.
        A deadlock rolls the whole transaction back, so it is run again (a few times):
        an outcome is never dropped for losing a lock race."""
        extras = extras or SettleExtras()
        # Rows are written in id order (the groups in the order of their first id), the
        # order every other multi-row writer here uses, and suppressions in address order.
        ordered = sorted(settlements, key=lambda s: s.claim.id)
        suppress = sorted(set(extras.suppress), key=lambda item: (item[1], item[0]))
        for attempt in range(1, SETTLE_ATTEMPTS + 1):
            try:
                return self._settle_once(ordered, suppress, extras.enqueue, now)
            except Exception as exc:  # SQLAlchemy's wrapper, or the driver's own (bulk.py)
                if _sqlstate(exc) not in _RETRY_SQLSTATES or attempt == SETTLE_ATTEMPTS:
                    raise
                log.warning("settling %d rows: SQLSTATE %s; trying again", len(ordered),
                            _sqlstate(exc))
                time.sleep(0.005 * attempt)
        raise AssertionError("unreachable")

    def _settle_once(self, settlements: Sequence[Settlement],
                     suppress: Sequence[tuple[str, str, str]], enqueue: Sequence[OutboxRow],
                     now: datetime | None) -> int:
        applied = 0
        with self._write() as conn, conn.begin():
            at, skew = now, timedelta(0)
            if at is None:
                at = _server_now(conn)
                # The settlements' own times came from this host's clock: move them onto
                # the server's, which the claims compare them with.
                skew = at - utcnow() if self.postgres else skew
            for group in _groups(settlements):
                applied += self._apply(conn, group, at, skew)
            for kind, address, reason in suppress:
                conn.execute(dialect_insert(conn, suppressions)
                             .values(address_kind=kind, address=address, reason=reason,
                                     source="dispatcher", created_at=at)
                             .on_conflict_do_nothing())
            if enqueue:
                self._insert(conn, enqueue, at)
        return applied

    def _apply(self, conn, group: list[Settlement], now: datetime, skew: timedelta) -> int:
        first = group[0]
        # A send that happened (or may have) keeps its time: a crash then reads as ambiguous.
        default_sent = now if first.state in ("sent", "in_flight") else None
        rows = [(s.claim.id, s.provider_id, _moved(s.next_attempt_at, skew),
                 _moved(s.lease_expires_at, skew), _moved(s.sent_at, skew) or default_sent)
                for s in group]
        return settle_many(conn, outbox.name, (first.state, first.error,
                                               int(first.count_attempt), now),
                           first.claim.token, rows)

    def release(self, claims: Sequence[Claimed], now: datetime | None = None) -> int:
        """Hand unsent claims back as pending (a graceful stop), keeping their attempts."""
        return self.settle([Settlement(c, "pending", count_attempt=False,
                                       next_attempt_at=None) for c in claims], now=now)

    # -- reading and operator actions -------------------------------------------------

    def counts(self, channel: str | None = None) -> dict[str, int]:
        query = select(outbox.c.state, func.count()).group_by(outbox.c.state)
        if channel is not None:
            query = query.where(outbox.c.channel == channel)
        with self.engine.connect() as conn:
            return {state: n for state, n in conn.execute(query)}

    def rows(self, state: str | None = None, limit: int | None = 100) -> list[dict[str, Any]]:
        query = select(outbox).order_by(outbox.c.id)
        if state is not None:
            query = query.where(outbox.c.state == state)
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def next_due(self, channels: Iterable[str] | None = None) -> datetime | None:
        """When the earliest waiting row (retry or expired lease) becomes claimable."""
        names = list(channels) if channels is not None else None

        def scoped(query):
            return query if names is None else query.where(outbox.c.channel.in_(names))

        with self.engine.connect() as conn:
            pending = conn.execute(scoped(select(func.min(outbox.c.next_attempt_at))
                                          .where(outbox_state("pending")))).scalar()
            unsettled = conn.execute(scoped(select(func.count()).where(
                outbox_state("pending"), outbox.c.next_attempt_at.is_(None)))).scalar()
            leased = conn.execute(scoped(select(func.min(outbox.c.lease_expires_at))
                                         .where(outbox_state("in_flight")))).scalar()
        if unsettled:
            return utcnow()
        times = [t for t in (pending, leased) if t is not None]
        return min(times) if times else None

    def retry(self, ids: Iterable[int] | None = None, *, states: Sequence[str] = RETRYABLE,
              actor: str = "cli", now: datetime | None = None) -> list[int]:
        """Put failed or unknown rows back to pending with a fresh attempt budget (a
        person's decision, so it is audited); `ids=None` means every row in `states`."""
        now = now or utcnow()
        with self._write() as conn, conn.begin():
            query = select(outbox.c.id).where(outbox_state(*states))
            if ids is not None:
                query = query.where(outbox.c.id.in_(list(ids)))
            chosen = [r.id for r in conn.execute(query)]
            for start in range(0, len(chosen), CHUNK):
                part = chosen[start:start + CHUNK]
                conn.execute(update(outbox).where(outbox.c.id.in_(part)).values(
                    state="pending", attempts=0, next_attempt_at=now, lease_owner=None,
                    lease_token=None, lease_expires_at=None, sent_at=None, updated_at=now))
            if chosen:
                conn.execute(audit_log.insert().values(
                    at=now, actor=actor, action="outbox.retry", subject_type="outbox",
                    subject_id=",".join(map(str, chosen[:50])),
                    detail={"count": len(chosen), "ids": chosen[:1000]}))
        return chosen


def _now(conn: Connection, now: datetime | None) -> Any:
    """"Now" for a lease statement: `now` when given, else the database server's time on
    PostgreSQL (so replicas with skewed clocks agree on expiry), else this host's."""
    return now_expr(conn, None) if now is None else literal(now, UTCDateTime)


def _server_now(conn: Connection) -> datetime:
    if conn.dialect.name == "postgresql":
        return conn.execute(select(func.statement_timestamp(type_=UTCDateTime))).scalar_one()
    return utcnow()


def _moved(value: datetime | None, skew: timedelta) -> datetime | None:
    return None if value is None else value + skew


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None) or exc, "sqlstate", None)


def _groups(settlements: Sequence[Settlement]) -> list[list[Settlement]]:
    """Settlements that write the same state, error and attempt count under one lease."""
    groups: dict[tuple, list[Settlement]] = {}
    for s in settlements:
        key = (s.claim.token, s.state, s.error, s.count_attempt)
        groups.setdefault(key, []).append(s)
    return list(groups.values())


def suppressed_addresses(conn, addresses: set[str]) -> dict[str, str]:
    """Which of `addresses` are suppressed (any kind: phones and emails never collide)."""
    rows = matching(conn, f"SELECT address, reason FROM {suppressions.name} "
                          "WHERE address IN ({})", sorted(addresses))
    return {address: reason or "suppressed" for address, reason in rows}


@dataclass
class MemoryOutbox:
    """The outbox's in-memory twin for tests: rows by idempotency key, repeats ignored, and
    `enqueue` returns how many keys were new, exactly like Outbox.enqueue."""

    rows: dict[str, Any] = field(default_factory=dict)

    def enqueue(self, rows: Iterable[Any], *, now: datetime | None = None) -> int:
        new = 0
        for row in rows:
            if row.idempotency_key not in self.rows:
                self.rows[row.idempotency_key] = row
                new += 1
        return new
