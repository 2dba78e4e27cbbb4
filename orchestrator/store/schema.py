"""The store's tables, in SQLAlchemy Core: the one source the migrations are checked against."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    literal_column,
    text,
)
from sqlalchemy.sql.elements import ColumnElement

from orchestrator.store.types import JSONDocument, UTCDateTime, utcnow

__all__ = ["metadata", "UTCDateTime", "JSONDocument", "utcnow"]

# Explicit constraint names, so a later migration can drop or alter a constraint by name on
# both databases (SQLite batch mode needs names to recreate a table faithfully).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Lifecycle states are closed sets enforced by CHECK constraints: a typo in code fails at the
# write, not weeks later in a report. Platform and monitor states are not constrained here,
# the detector owns that vocabulary.
INCIDENT_KINDS = ("platform", "manual")
INCIDENT_STATES = ("open", "resolved")
RUN_STATES = ("running", "waiting_approval", "completed", "aborted", "failed")
PHASES = ("on_start", "every", "on_resolve")
STEP_STATES = ("pending", "running", "done", "failed", "skipped", "waiting")
OUTBOX_STATES = ("pending", "in_flight", "sent", "failed", "unknown", "suppressed")
# `publishing`: claimed by the publisher, on its way into the outbox (migration 0003).
POST_STATES = ("scheduled", "paused", "published", "skipped", "failed", "held", "publishing")
ADDRESS_KINDS = ("sms", "email")


def _one_of(column: str, values: tuple[str, ...], name: str | None = None) -> CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=name or column)


def _created() -> Column:
    return Column("created_at", UTCDateTime, nullable=False, default=utcnow)


def _updated() -> Column:
    return Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow)


def _detail() -> Column:
    # Free-form context that nothing queries by; structure lives in real columns.
    return Column("detail", JSONDocument, nullable=True)


# --- Detection: the latest known state of each platform and monitor (one row each). ---

platform_states = Table(
    "platform_states", metadata,
    Column("platform", String, primary_key=True),
    Column("state", String, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
    Column("reason", Text),
    _detail(),
)

monitor_states = Table(
    "monitor_states", metadata,
    Column("monitor", String, primary_key=True),
    Column("platform", String, nullable=False, index=True),
    Column("state", String, nullable=False),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("consecutive_successes", Integer, nullable=False, default=0),
    Column("last_observed_at", UTCDateTime),
    Column("last_latency_ms", Integer),
    Column("last_reason", Text),
    # Conditional GET validators, so a restart does not refetch every status page in full.
    Column("etag", String),
    Column("last_modified", String),
    _detail(),
)

# --- Incidents and their public/private timeline. ---

incidents = Table(
    "incidents", metadata,
    Column("id", Integer, primary_key=True),
    # Idempotency key of one episode ("facebook:2026-11-22T13:00:00Z", "manual:<uuid>"): a
    # repeated poll or a second replica inserting the same episode hits this constraint.
    Column("key", String, nullable=False, unique=True),
    Column("kind", String, nullable=False),
    Column("platform", String),
    Column("title", Text, nullable=False),
    Column("state", String, nullable=False, default="open"),
    Column("platform_state", String),
    Column("started_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("created_by", String),
    _detail(),
    _one_of("kind", INCIDENT_KINDS),
    _one_of("state", INCIDENT_STATES),
    Index(None, "state", "platform"),
)

incident_events = Table(
    "incident_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("at", UTCDateTime, nullable=False, default=utcnow),
    Column("kind", String, nullable=False),
    Column("message", Text),
    # Public events appear on the status page; the rest is the operators' record.
    Column("public", Boolean, nullable=False, default=False),
    Column("actor", String),
    _detail(),
    Index(None, "incident_id", "at"),
)

# --- Playbook runs: one per (incident, playbook), one row per executed step. ---

playbook_runs = Table(
    "playbook_runs", metadata,
    Column("id", Integer, primary_key=True),
    Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
    Column("playbook", String, nullable=False),
    Column("state", String, nullable=False, default="running"),
    Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    Column("finished_at", UTCDateTime),
    Column("vars", JSONDocument),
    Column("update_count", Integer, nullable=False, default=0),
    # When the `every` phase is due next; persisted so the cadence survives restarts.
    Column("next_update_at", UTCDateTime),
    # A playbook never runs twice for one incident, even when two replicas race.
    UniqueConstraint("incident_id", "playbook"),
    _one_of("state", RUN_STATES),
    Index(None, "state", "next_update_at"),
)

step_executions = Table(
    "step_executions", metadata,
    Column("id", Integer, primary_key=True),
    Column("run_id", Integer, ForeignKey("playbook_runs.id", ondelete="CASCADE"), nullable=False),
    Column("phase", String, nullable=False),
    # 0 for on_start/on_resolve; the update number for `every`.
    Column("iteration", Integer, nullable=False, default=0),
    Column("step_index", Integer, nullable=False),
    Column("kind", String, nullable=False),
    Column("state", String, nullable=False, default="pending"),
    Column("started_at", UTCDateTime),
    Column("finished_at", UTCDateTime),
    Column("reason", Text),
    _detail(),
    # A resumed run finds the step it already did instead of doing it again.
    UniqueConstraint("run_id", "phase", "iteration", "step_index"),
    _one_of("phase", PHASES),
    _one_of("state", STEP_STATES),
)

# --- Contacts, audiences and suppressions (defined before the outbox that references them). ---

contacts = Table(
    "contacts", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String),
    # Not unique: two people may share a support line; imports deduplicate on their own.
    Column("phone", String, index=True),
    Column("email", String, index=True),
    Column("timezone", String),
    Column("tags", JSONDocument),
    Column("attributes", JSONDocument),
    _created(),
)

audience_members = Table(
    "audience_members", metadata,
    Column("audience", String, primary_key=True),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="CASCADE"),
           primary_key=True, index=True),
)

suppressions = Table(
    "suppressions", metadata,
    # The pair is the key (a unique constraint, and the table's identity).
    Column("address_kind", String, primary_key=True),
    Column("address", String, primary_key=True),
    Column("reason", String),
    Column("source", String),
    _created(),
    _one_of("address_kind", ADDRESS_KINDS),
)

# --- Delivery ledger: every message is a row before it is sent. ---

# (name, columns, condition) of the outbox's partial indexes; see `outbox` below.
OUTBOX_QUEUES = (
    ("pending", ("channel", "next_attempt_at"), "state = 'pending'"),
    ("leased", ("lease_expires_at",), "state = 'in_flight'"),
    ("attention", ("state",), "state IN ('failed', 'unknown')"),
)


outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    # (run, step, channel, recipient): enqueuing the same message twice is a no-op.
    Column("idempotency_key", String, nullable=False, unique=True),
    # The ledger outlives runs and contacts: deleting them leaves the sent record.
    Column("run_id", Integer, ForeignKey("playbook_runs.id", ondelete="SET NULL"), index=True),
    Column("step_key", String),
    Column("channel", String, nullable=False),
    Column("recipient", String),
    Column("contact_id", Integer, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("audience", String),
    Column("subject", Text),
    Column("body", Text),
    Column("payload", JSONDocument),
    Column("urgent", Boolean, nullable=False, default=False),
    Column("state", String, nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("max_attempts", Integer, nullable=False, default=5),
    Column("next_attempt_at", UTCDateTime),
    # A claim is a lease: whoever holds an unexpired token may send; an expired one is reclaimed.
    Column("lease_owner", String),
    Column("lease_token", String),
    Column("lease_expires_at", UTCDateTime),
    Column("provider_id", String),
    Column("last_error", Text),
    _created(),
    _updated(),
    Column("sent_at", UTCDateTime),
    # Channels still to try, in order, when this one cannot deliver.
    Column("fallback", JSONDocument),
    _one_of("state", OUTBOX_STATES),
    # The dispatcher's queues as partial indexes (migration 0004): rows waiting per channel,
    # leases to watch, rows that need a person. Sent rows, nearly all of a grown table, are
    # in none of them, so a state change costs one small index write and the indexes stay
    # the size of the work left. Queries must name the state literally (`outbox_state`).
    *(Index(f"ix_outbox_{name}", *columns, sqlite_where=text(condition),
            postgresql_where=text(condition))
      for name, columns, condition in OUTBOX_QUEUES),
)

# --- Content calendar. ---

scheduled_posts = Table(
    "scheduled_posts", metadata,
    Column("id", Integer, primary_key=True),
    Column("channel", String, nullable=False),
    Column("text", Text, nullable=False),
    Column("media_url", String),
    Column("campaign", String),
    Column("tags", JSONDocument),
    Column("publish_at", UTCDateTime, nullable=False),
    # Kept apart from publish_at so `next_slot` can shift posts and still show the plan.
    Column("original_publish_at", UTCDateTime),
    Column("state", String, nullable=False, default="scheduled"),
    Column("paused_at", UTCDateTime),
    Column("paused_by", String),
    Column("pause_reason", Text),
    # Which run paused it: resume finds its posts from this even after a crash.
    Column("pause_run_id", Integer, ForeignKey("playbook_runs.id", ondelete="SET NULL"),
           index=True),
    # Posts mirrored from schedulers elsewhere (SendGrid batch, Twilio message, Hootsuite).
    Column("external_kind", String),
    Column("external_ref", String),
    # What recreating the external schedule needs (recipients, subject), migration 0003.
    Column("external_detail", JSONDocument),
    Column("provider_id", String),
    Column("published_at", UTCDateTime),
    Column("last_error", Text),
    _created(),
    _updated(),
    _one_of("state", POST_STATES),
    Index(None, "state", "publish_at"),
)

# --- Audit and cluster coordination. ---

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False, default=utcnow, index=True),
    Column("actor", String, nullable=False),
    Column("action", String, nullable=False),
    Column("subject_type", String),
    Column("subject_id", String),
    _detail(),
    Index(None, "subject_type", "subject_id"),
)

leases = Table(
    "leases", metadata,
    Column("name", String, primary_key=True),
    Column("holder", String),
    # Fencing token: grows by one at each change of holder; writes carrying an older one lose.
    Column("token", BigInteger, nullable=False, default=0),
    Column("acquired_at", UTCDateTime),
    Column("renewed_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
)

replicas = Table(
    "replicas", metadata,
    Column("id", String, primary_key=True),
    Column("hostname", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False, default=utcnow),
    Column("heartbeat_at", UTCDateTime, nullable=False, default=utcnow),
)


def outbox_state(*states: str) -> ColumnElement[bool]:
    """`outbox.state` is one of `states`, written as SQL literals: a partial index is used
    only when the planner can see that the query implies its condition, and a bound
    parameter hides the value from SQLite's planner and from PostgreSQL's generic plans."""
    unknown = set(states) - set(OUTBOX_STATES)
    if unknown or not states:
        raise ValueError(f"not outbox states: {sorted(unknown) or states}")
    values = [literal_column(f"'{state}'") for state in states]
    column = outbox.c.state
    return column == values[0] if len(values) == 1 else column.in_(values)
