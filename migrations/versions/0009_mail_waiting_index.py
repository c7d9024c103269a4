"""mail: an index of the mail not sent yet, for the backlog

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 09:00:00.000000
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

WAITING = sa.text("done_at IS NULL")


def upgrade() -> None:
    # Partial: it holds only mail not sent yet, so it stays small however much mail was sent.
    op.create_index(
        "ix_mail_waiting",
        "mail",
        ["done_at", "created_at", "next_attempt_at", "attempts", "petition_id"],
        unique=False,
        postgresql_where=WAITING,
        sqlite_where=WAITING,
    )


def downgrade() -> None:
    op.drop_index("ix_mail_waiting", table_name="mail")
