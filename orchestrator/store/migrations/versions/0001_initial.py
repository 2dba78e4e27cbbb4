"""Initial schema: detection state, incidents, runs, outbox, calendar, audiences, audit, leases.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Written out by hand rather than importing orchestrator.store.schema: a migration is a
snapshot and must not change when the schema module does. Constraint names are wrapped in
op.f() so the metadata's naming convention does not rename them a second time.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TABLES = (
    "platform_states", "monitor_states", "incidents", "incident_events", "playbook_runs",
    "step_executions", "contacts", "audience_members", "suppressions", "outbox",
    "scheduled_posts", "audit_log", "leases", "replicas",
)


def _ts(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _json(name: str) -> sa.Column:
    return sa.Column(name, sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=True)


def _str(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.String(), nullable=nullable)


def _text(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=nullable)


def _int(name: str, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.Integer(), nullable=nullable)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _pk(table: str, *columns: str) -> sa.PrimaryKeyConstraint:
    return sa.PrimaryKeyConstraint(*columns, name=op.f(f"pk_{table}"))


def _one_of(table: str, column: str, *values: str) -> sa.CheckConstraint:
    allowed = ", ".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} IN ({allowed})", name=op.f(f"ck_{table}_{column}"))


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _index(table: str, *columns: str) -> sa.Index:
    return sa.Index(op.f(f"ix_{table}_{'_'.join(columns)}"), *columns)


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def upgrade() -> None:
    op.create_table(
        "platform_states",
        _str("platform", False), _str("state", False), _ts("since", False),
        _ts("updated_at", False), _text("reason"), _json("detail"),
        _pk("platform_states", "platform"),
    )
    op.create_table(
        "monitor_states",
        _str("monitor", False), _str("platform", False), _str("state", False),
        _int("consecutive_failures", False), _int("consecutive_successes", False),
        _ts("last_observed_at"), _int("last_latency_ms"), _text("last_reason"),
        _str("etag"), _str("last_modified"), _json("detail"),
        _pk("monitor_states", "monitor"),
        _index("monitor_states", "platform"),
    )
    op.create_table(
        "incidents",
        _id(), _str("key", False), _str("kind", False), _str("platform"),
        _text("title", False), _str("state", False), _str("platform_state"),
        _ts("started_at", False), _ts("resolved_at"), _str("created_by"), _json("detail"),
        _pk("incidents", "id"),
        _unique("incidents", "key"),
        _one_of("incidents", "kind", "platform", "manual"),
        _one_of("incidents", "state", "open", "resolved"),
        _index("incidents", "state", "platform"),
    )
    op.create_table(
        "incident_events",
        _id(), _int("incident_id", False), _ts("at", False), _str("kind", False),
        _text("message"), sa.Column("public", sa.Boolean(), nullable=False), _str("actor"),
        _json("detail"),
        _pk("incident_events", "id"),
        _fk("incident_events", "incident_id", "incidents", "CASCADE"),
        _index("incident_events", "incident_id", "at"),
    )
    op.create_table(
        "playbook_runs",
        _id(), _int("incident_id", False), _str("playbook", False), _str("state", False),
        _ts("started_at", False), _ts("finished_at"), _json("vars"),
        _int("update_count", False), _ts("next_update_at"),
        _pk("playbook_runs", "id"),
        _fk("playbook_runs", "incident_id", "incidents", "CASCADE"),
        _unique("playbook_runs", "incident_id", "playbook"),
        _one_of("playbook_runs", "state",
                "running", "waiting_approval", "completed", "aborted", "failed"),
        _index("playbook_runs", "state", "next_update_at"),
    )
    op.create_table(
        "step_executions",
        _id(), _int("run_id", False), _str("phase", False), _int("iteration", False),
        _int("step_index", False), _str("kind", False), _str("state", False),
        _ts("started_at"), _ts("finished_at"), _text("reason"), _json("detail"),
        _pk("step_executions", "id"),
        _fk("step_executions", "run_id", "playbook_runs", "CASCADE"),
        _unique("step_executions", "run_id", "phase", "iteration", "step_index"),
        _one_of("step_executions", "phase", "on_start", "every", "on_resolve"),
        _one_of("step_executions", "state",
                "pending", "running", "done", "failed", "skipped", "waiting"),
    )
    op.create_table(
        "contacts",
        _id(), _str("name"), _str("phone"), _str("email"), _str("timezone"),
        _json("tags"), _json("attributes"), _ts("created_at", False),
        _pk("contacts", "id"),
        _index("contacts", "phone"),
        _index("contacts", "email"),
    )
    op.create_table(
        "audience_members",
        _str("audience", False), _int("contact_id", False),
        _pk("audience_members", "audience", "contact_id"),
        _fk("audience_members", "contact_id", "contacts", "CASCADE"),
        _index("audience_members", "contact_id"),
    )
    op.create_table(
        "suppressions",
        _str("address_kind", False), _str("address", False), _str("reason"), _str("source"),
        _ts("created_at", False),
        _pk("suppressions", "address_kind", "address"),
        _one_of("suppressions", "address_kind", "sms", "email"),
    )
    op.create_table(
        "outbox",
        _id(), _str("idempotency_key", False), _int("run_id"), _str("step_key"),
        _str("channel", False), _str("recipient"), _int("contact_id"), _str("audience"),
        _text("subject"), _text("body"), _json("payload"),
        sa.Column("urgent", sa.Boolean(), nullable=False), _str("state", False),
        _int("attempts", False), _int("max_attempts", False), _ts("next_attempt_at"),
        _str("lease_owner"), _str("lease_token"), _ts("lease_expires_at"),
        _str("provider_id"), _text("last_error"), _ts("created_at", False),
        _ts("updated_at", False), _ts("sent_at"), _json("fallback"),
        _pk("outbox", "id"),
        _unique("outbox", "idempotency_key"),
        _fk("outbox", "run_id", "playbook_runs", "SET NULL"),
        _fk("outbox", "contact_id", "contacts", "SET NULL"),
        _one_of("outbox", "state",
                "pending", "in_flight", "sent", "failed", "unknown", "suppressed"),
        _index("outbox", "run_id"),
        _index("outbox", "state", "next_attempt_at"),
    )
    op.create_table(
        "scheduled_posts",
        _id(), _str("channel", False), _text("text", False), _str("media_url"),
        _str("campaign"), _json("tags"), _ts("publish_at", False), _ts("original_publish_at"),
        _str("state", False), _ts("paused_at"), _str("paused_by"), _text("pause_reason"),
        _int("pause_run_id"), _str("external_kind"), _str("external_ref"),
        _str("provider_id"), _ts("published_at"), _text("last_error"),
        _ts("created_at", False), _ts("updated_at", False),
        _pk("scheduled_posts", "id"),
        _fk("scheduled_posts", "pause_run_id", "playbook_runs", "SET NULL"),
        _one_of("scheduled_posts", "state",
                "scheduled", "paused", "published", "skipped", "failed", "held"),
        _index("scheduled_posts", "pause_run_id"),
        _index("scheduled_posts", "state", "publish_at"),
    )
    op.create_table(
        "audit_log",
        _id(), _ts("at", False), _str("actor", False), _str("action", False),
        _str("subject_type"), _str("subject_id"), _json("detail"),
        _pk("audit_log", "id"),
        _index("audit_log", "at"),
        _index("audit_log", "subject_type", "subject_id"),
    )
    op.create_table(
        "leases",
        _str("name", False), _str("holder"), sa.Column("token", sa.BigInteger(), nullable=False),
        _ts("acquired_at"), _ts("renewed_at"), _ts("expires_at"),
        _pk("leases", "name"),
    )
    op.create_table(
        "replicas",
        _str("id", False), _str("hostname", False), _int("pid", False),
        _ts("started_at", False), _ts("heartbeat_at", False),
        _pk("replicas", "id"),
    )


def downgrade() -> None:
    # Children before parents, so foreign keys never point at a dropped table.
    for table in reversed(TABLES):
        op.drop_table(table)
