"""roll_commitment, committed_member: the eligible roll each petition counts, committed

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 03:40:00.000000

Petitions opened before this revision keep no committed roll (``roll_generation`` empty): their
eligibility stays the live roll's until an organiser commits one (README, "The committed roll").
Nothing is committed here, since a commitment is a signed leaf of the petition's log, appended
under the petition's row lock by the service, not by a migration.
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "roll_commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("root_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("eligible_count", sa.Integer(), nullable=False),
        sa.Column("previous_count", sa.Integer(), nullable=True),
        sa.Column("committed_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("signature", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("leaf_index", sa.Integer(), nullable=False),
        sa.Column("committed_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petition.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("petition_id", "generation", name="uq_roll_commitment_generation"),
    )
    op.create_table(
        "committed_member",
        sa.Column("petition_id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("commitment", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["petition_id"], ["petition.id"]),
        sa.PrimaryKeyConstraint("petition_id", "generation", "commitment"),
    )
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.add_column(sa.Column("roll_generation", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("petition", schema=None) as batch_op:
        batch_op.drop_column("roll_generation")
    op.drop_table("committed_member")
    op.drop_table("roll_commitment")
