"""name_report: members' reports that a signature in their name is not theirs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 03:45:00.000000
"""

import sqlalchemy as sa
from alembic import op

import petitions.db.engine

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "name_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("reported_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("notified", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petition.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "leaf_index", name="uq_name_report_petition_leaf"),
    )


def downgrade() -> None:
    op.drop_table("name_report")
