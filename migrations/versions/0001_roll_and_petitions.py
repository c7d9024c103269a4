"""roll and petitions

Revision ID: 0001
Revises:
Create Date: 2026-11-26 01:20:25.627330
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("joined_on", sa.Date(), nullable=True),
        sa.Column("updated_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("member_id"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.create_index("ix_member_email_key", ["email_key"], unique=False)

    op.create_table(
        "petition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("threshold_absolute", sa.Integer(), nullable=True),
        sa.Column(
            "threshold_percent", sa.Numeric(precision=6, scale=3, asdecimal=False), nullable=True
        ),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("eligible_members", sa.Integer(), nullable=True),
        sa.Column("signature_count", sa.Integer(), nullable=False),
        sa.Column("webhook_url", sqlmodel.sql.sqltypes.AutoString(length=2000), nullable=True),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("opened_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closes_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reached_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug", name="uq_petition_slug"),
    )
    op.create_table(
        "roll_import",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("filename", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("sha256", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("started_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("refusal", sa.Text(), nullable=True),
        sa.Column("replace", sa.Boolean(), nullable=False),
        sa.Column("strict", sa.Boolean(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("lapsed", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("household_addresses", sa.Integer(), nullable=False),
        sa.Column("household_members", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "roll_import_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("line", sa.Integer(), nullable=False),
        sa.Column("member_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["import_id"],
            ["roll_import.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("roll_import_note", schema=None) as batch_op:
        batch_op.create_index(
            "ix_roll_import_note_import_line", ["import_id", "line"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("roll_import_note", schema=None) as batch_op:
        batch_op.drop_index("ix_roll_import_note_import_line")

    op.drop_table("roll_import_note")
    op.drop_table("roll_import")
    op.drop_table("petition")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_index("ix_member_email_key")

    op.drop_table("member")
