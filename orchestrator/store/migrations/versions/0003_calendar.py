"""Content calendar: a `publishing` claim state and `external_detail` for schedules held elsewhere.

Revision ID: 0003
Revises: 0001
Create Date: 2026-11-22

`publishing` is the publisher's atomic claim (scheduled -> publishing) before it hands a post
to the outbox, so a pause and a publish racing for one row are decided by the database.
`external_detail` keeps what a SendGrid or Twilio schedule needs to be recreated on resume
(recipients, subject). Written out by hand, like 0001: a migration is a snapshot.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0001"
branch_labels = None
depends_on = None

OLD_STATES = ("scheduled", "paused", "published", "skipped", "failed", "held")
NEW_STATES = (*OLD_STATES, "publishing")
CHECK = "ck_scheduled_posts_state"


def _condition(states: tuple[str, ...]) -> str:
    return "state IN (" + ", ".join(f"'{s}'" for s in states) + ")"


def upgrade() -> None:
    # SQLite cannot alter a CHECK constraint: batch mode recreates the table (env.py turns it
    # on for SQLite); on PostgreSQL these are plain ALTER TABLE statements.
    with op.batch_alter_table("scheduled_posts") as batch:
        batch.add_column(sa.Column(
            "external_detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
            nullable=True))
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), _condition(NEW_STATES))


def downgrade() -> None:
    # A claim that never reached the outbox is simply scheduled again.
    op.execute("UPDATE scheduled_posts SET state = 'scheduled' WHERE state = 'publishing'")
    with op.batch_alter_table("scheduled_posts") as batch:
        batch.drop_constraint(op.f(CHECK), type_="check")
        batch.create_check_constraint(op.f(CHECK), _condition(OLD_STATES))
        batch.drop_column("external_detail")
