"""The outbox's claim index becomes three partial indexes: pending per channel, leased, attention.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22

The old (state, next_attempt_at) index held every row, sent ones included, and moved each
row's entry on every state change; a lane claiming SMS also walked past every pending
email. Now rows are indexed only while the dispatcher or a person has work with them.
Measured on SQLite with 100,000 emails: claim and settle 22% faster, enqueue a little.
Written out by hand, like 0001: a migration is a snapshot.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

QUEUES = (
    ("ix_outbox_pending", ["channel", "next_attempt_at"], "state = 'pending'"),
    ("ix_outbox_leased", ["lease_expires_at"], "state = 'in_flight'"),
    ("ix_outbox_attention", ["state"], "state IN ('failed', 'unknown')"),
)
OLD = "ix_outbox_state_next_attempt_at"


def upgrade() -> None:
    op.drop_index(OLD, table_name="outbox")
    for name, columns, condition in QUEUES:
        op.create_index(name, "outbox", columns, sqlite_where=sa.text(condition),
                        postgresql_where=sa.text(condition))


def downgrade() -> None:
    for name, _, _ in QUEUES:
        op.drop_index(name, table_name="outbox")
    op.create_index(OLD, "outbox", ["state", "next_attempt_at"])
