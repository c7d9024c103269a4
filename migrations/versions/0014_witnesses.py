"""witnesses: submissions of checkpoints, their cosignatures, and petitions that wait for them

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 03:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witness_submission",
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "next_attempt_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False
        ),
        sa.Column("leased_until", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("done_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("witness", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("witness_size", sa.Integer(), nullable=False),
        sa.Column("cosigned_size", sa.Integer(), nullable=False),
        sa.Column("cosigned_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("rejected_answers", sa.Integer(), nullable=False),
        sa.Column("last_rejected_answer", sa.Text(), nullable=True),
        sa.Column(
            "last_rejected_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True
        ),
        sa.ForeignKeyConstraint(["petition_id"], ["petition.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "witness", name="uq_witness_submission"),
    )
    with op.batch_alter_table("witness_submission", schema=None) as batch_op:
        batch_op.create_index(
            "ix_witness_submission_due", ["done_at", "next_attempt_at"], unique=False
        )
    op.create_table(
        "witness_cosignature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("witness", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("signed_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("received_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petition.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "witness", "size", name="uq_witness_cosignature"),
    )
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("witnesses_required", sa.Integer(), server_default="0", nullable=False)
        )
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "awaiting_witnesses", sa.Boolean(), server_default=sa.text("false"), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("webhook_delivery", schema=None) as batch_op:
        batch_op.drop_column("awaiting_witnesses")
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.drop_column("witnesses_required")
    op.drop_table("witness_cosignature")
    with op.batch_alter_table("witness_submission", schema=None) as batch_op:
        batch_op.drop_index("ix_witness_submission_due")
    op.drop_table("witness_submission")
