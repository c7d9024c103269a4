"""sign-in requests

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 05:16:38.895634
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sign_in_request",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("next_page", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sign_in_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sign_in_request_due", ["done_at", "next_attempt_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("sign_in_request", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_request_due")

    op.drop_table("sign_in_request")
