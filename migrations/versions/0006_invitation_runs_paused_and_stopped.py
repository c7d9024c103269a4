"""invitation runs: paused and stopped

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 04:10:11.527807
"""

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import petitions.db.engine

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invitation_run", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("paused_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("stopped_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("invitation_run", schema=None) as batch_op:
        batch_op.drop_column("stopped_at")
        batch_op.drop_column("paused_at")
