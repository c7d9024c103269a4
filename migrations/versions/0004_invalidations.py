"""invalidations

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 02:36:17.700693
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "invalidation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("decided_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["petition_id"],
            ["petition.id"],
        ),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["signature.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("signature_id", name="uq_invalidation_signature"),
    )
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "invalidated_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("invalidated_at")

    op.drop_table("invalidation")
