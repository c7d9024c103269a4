"""erasure: requests, links, erased members and the commitments of their signatures

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 03:40:00.000000
"""

import sqlalchemy as sa
import sqlmodel
from alembic import op

import petitions.db.engine

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_request",
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
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.create_index(
            "ix_erasure_request_due", ["done_at", "next_attempt_at"], unique=False
        )
    op.create_table(
        "erasure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("nonce", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email_key", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("made_by", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("created_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nonce", name="uq_erasure_nonce"),
    )
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("erased_at", petitions.db.engine.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("commitment", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True)
        )
    op.create_index(
        "ix_signature_commitment",
        "signature",
        ["petition_id", "commitment"],
        unique=False,
        postgresql_where=sa.text("commitment IS NOT NULL"),
        sqlite_where=sa.text("commitment IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_signature_commitment", table_name="signature")
    with op.batch_alter_table("signature", schema=None) as batch_op:
        batch_op.drop_column("commitment")
    with op.batch_alter_table("member", schema=None) as batch_op:
        batch_op.drop_column("erased_at")
    op.drop_table("erasure")
    with op.batch_alter_table("erasure_request", schema=None) as batch_op:
        batch_op.drop_index("ix_erasure_request_due")
    op.drop_table("erasure_request")
