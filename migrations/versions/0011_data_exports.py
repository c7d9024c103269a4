"""data export requests and exports

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 22:55:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "data_export_request",
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
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("data_export_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_data_export_request_due", ["done_at", "next_attempt_at"], unique=False
        )
    op.create_table(
        "data_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("made_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce", name="uq_data_export_nonce"),
    )


def downgrade() -> None:
    op.drop_table("data_export")
    with op.batch_alter_table("data_export_request", schema=None) as batch_op:
        batch_op.drop_index("ix_data_export_request_due")
    op.drop_table("data_export_request")
